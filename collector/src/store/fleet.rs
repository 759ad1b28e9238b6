//! The fleet view: every agent heard from within `agent_ttl`, and when it was last heard from.
//!
//! Kept much longer than series (24 hours by default), so that an "agent silent" alert can
//! still see an agent whose series have long gone stale.

use crate::telemetry::AgentRow;
use dozor_metrics::translate::Identity;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, info};

/// Known agents, keyed by `service.instance.id` (or `host.name` when there is no instance id).
#[derive(Debug)]
pub struct Fleet {
    agents: Mutex<HashMap<String, Agent>>,
    ttl: Duration,
}

#[derive(Debug)]
struct Agent {
    host_name: String,
    site: String,
    role: String,
    last_seen: SystemTime,
    /// Expiry uses the monotonic clock, so a wall-clock step cannot forget the fleet.
    last_seen_mono: Instant,
}

impl Fleet {
    /// An empty fleet whose agents are forgotten after `ttl` of silence.
    pub fn new(ttl: Duration) -> Self {
        Fleet {
            agents: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Records that a resource sent an accepted request now. Resources that name no agent
    /// (neither `service.instance.id` nor `host.name`) are not part of the fleet.
    pub fn observe(&self, identity: &Identity) {
        let attr = |k: &str| identity.attributes.get(k).cloned().unwrap_or_default();
        let Some(key) = identity
            .instance
            .clone()
            .or_else(|| identity.attributes.get("host.name").cloned())
        else {
            return;
        };
        let agent = Agent {
            host_name: attr("host.name"),
            site: attr("site"),
            role: attr("role"),
            last_seen: SystemTime::now(),
            last_seen_mono: Instant::now(),
        };
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        if agents.insert(key.clone(), agent).is_none() {
            debug!(agent = %key, "Agent joined the fleet.");
        }
    }

    /// Forgets agents silent for longer than `agent_ttl`.
    pub fn expire(&self) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents.retain(|key, a| {
            let keep = a.last_seen_mono.elapsed() < self.ttl;
            if !keep {
                info!(agent = %key, silent_for = ?self.ttl, "Agent forgotten.");
            }
            keep
        });
    }

    /// Every known agent, sorted by key.
    pub fn rows(&self) -> Vec<AgentRow> {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<AgentRow> = agents
            .iter()
            .map(|(key, a)| AgentRow {
                agent: key.clone(),
                host_name: a.host_name.clone(),
                site: a.site.clone(),
                role: a.role.clone(),
                last_seen: a
                    .last_seen
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64(),
            })
            .collect();
        rows.sort_by(|a, b| a.agent.cmp(&b.agent));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(attrs: &[(&str, &str)]) -> Identity {
        let attributes: std::collections::BTreeMap<_, _> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Identity {
            job: None,
            instance: attributes.get("service.instance.id").cloned(),
            attributes,
        }
    }

    #[test]
    fn keyed_by_instance_then_host_and_expired() {
        let fleet = Fleet::new(Duration::from_millis(50));
        fleet.observe(&identity(&[
            ("service.instance.id", "a1"),
            ("host.name", "h1"),
            ("site", "s1"),
        ]));
        fleet.observe(&identity(&[("host.name", "h2"), ("role", "db")]));
        fleet.observe(&identity(&[("site", "nobody")]));
        let rows = fleet.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].agent.as_str(),
                rows[0].host_name.as_str(),
                rows[0].site.as_str()
            ),
            ("a1", "h1", "s1")
        );
        assert_eq!(
            (rows[1].agent.as_str(), rows[1].role.as_str()),
            ("h2", "db")
        );
        assert!(rows[0].last_seen > 1.7e9);
        std::thread::sleep(Duration::from_millis(60));
        fleet.expire();
        assert!(fleet.rows().is_empty());
    }
}
