//! The `rabbitmq` integration: queue depth, consumers, message counters, oldest-message age
//! and dead-letter queues, exchange traffic and node health of each configured broker.
//!
//! One integration runs per instance. Every interval it reads depth and consumers of every
//! queue from the `rabbitmq_prometheus` plugin ([`detailed`]: the cheapest per-queue read), and
//! node health from the management API (`/api/nodes`, `/api/overview`); every
//! `stats_interval` (60 s by default) the management API's per-queue counters, consumer
//! utilisation, head-message timestamps and dead-letter wiring, and per-exchange traffic
//! ([`management`]), paginated with `columns=`. ADR 0009 says why; the figures are in
//! `docs/benchmarks-rabbitmq.md`. A failing source does not stop the others; a failed stats
//! read is retried on the next collection.

pub mod config;
mod detailed;
mod http;
mod management;
mod select;

#[cfg(test)]
mod tests;

pub use config::{Config, InstanceConfig};

use super::filter::Filter;
use super::{Integration, IntegrationError, Sources};
use dozor_metrics::catalogue::rabbitmq as m;
use dozor_metrics::sample::Recorder;
use http::{Api, Http};
use management::{ExchangeStats, Key, QueueStats};
use select::Select;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// `s` percent-encoded for a URL path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One queue as reported: the plugin's figures and the last management read.
#[derive(Clone, Debug, Default)]
struct Row {
    depth: Option<detailed::Depth>,
    stats: Option<QueueStats>,
    dead_letter: bool,
}

/// Merges `b` into the overflow row `a`: sums, and the oldest head timestamp.
fn fold(a: &mut Row, b: &Row) {
    if let Some(d) = b.depth {
        let x = a.depth.get_or_insert_default();
        x.ready += d.ready;
        x.unacked += d.unacked;
        x.consumers += d.consumers;
    }
    if let Some(s) = &b.stats {
        let x = a.stats.get_or_insert_default();
        x.published += s.published;
        x.delivered += s.delivered;
        x.acked += s.acked;
        x.redelivered += s.redelivered;
        x.head_timestamp = match (x.head_timestamp, s.head_timestamp) {
            (Some(p), Some(q)) => Some(p.min(q)),
            (p, q) => p.or(q),
        };
    }
}

/// The integration for one instance.
pub struct Rabbitmq {
    /// `rabbitmq/<instance>`.
    name: String,
    instance: String,
    management_url: String,
    prometheus_url: String,
    vhosts: Vec<String>,
    queues: Select,
    exchanges: Select,
    stats_interval: Duration,
    http: Http,
    /// When the management API's stats were last read whole.
    last_stats: Option<Instant>,
    queue_stats: BTreeMap<Key, QueueStats>,
    dead_letter: BTreeSet<Key>,
    exchange_stats: BTreeMap<Key, ExchangeStats>,
}

impl Rabbitmq {
    /// The integration for `config`, which `validate` accepted.
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Result<Rabbitmq, String> {
        Ok(Rabbitmq {
            name: format!("rabbitmq/{}", config.name),
            instance: config.name.clone(),
            management_url: config.management_url.clone(),
            prometheus_url: config.prometheus_url.clone(),
            vhosts: config.vhosts.clone(),
            queues: Select {
                filter: Filter::new(&config.include, &config.exclude),
                max: config.max_series,
            },
            exchanges: Select {
                filter: Filter::default(),
                max: config.max_exchanges,
            },
            stats_interval: config.stats_interval.0,
            http: Http::new(
                &config.name,
                &config.username,
                &config.password.0,
                timeout.mul_f64(0.8),
            )?,
            last_stats: None,
            queue_stats: BTreeMap::new(),
            dead_letter: BTreeSet::new(),
            exchange_stats: BTreeMap::new(),
        })
    }

    fn get(&self, api: Api, path: &str) -> Result<Vec<u8>, IntegrationError> {
        let base = match api {
            Api::Management => &self.management_url,
            Api::Prometheus => &self.prometheus_url,
        };
        self.http.get(api, base, path)
    }

    fn parse_error(&self, what: &str, e: String) -> IntegrationError {
        IntegrationError::new(
            "parse",
            format!(
                "instance {}: unexpected answer from {what}: {e}",
                self.instance
            ),
        )
    }

    /// The vhosts to ask the management API about one by one (`None`: all at once).
    fn scopes(&self) -> Vec<Option<String>> {
        if self.vhosts.is_empty() {
            vec![None]
        } else {
            self.vhosts.iter().cloned().map(Some).collect()
        }
    }

    /// Every page of `kind` in every scope.
    fn pages(&self, kind: &str, columns: &str) -> Result<Vec<serde_json::Value>, IntegrationError> {
        let mut out = Vec::new();
        for scope in self.scopes() {
            let mut page = 1;
            loop {
                let body = self.get(
                    Api::Management,
                    &management::page_path(kind, scope.as_deref(), page, columns),
                )?;
                let (items, pages) = management::parse_page(&body)
                    .map_err(|e| self.parse_error(&format!("/api/{kind}"), e))?;
                out.extend(items);
                if page >= pages {
                    break;
                }
                page += 1;
            }
        }
        Ok(out)
    }

    /// Reads the management API's queue and exchange stats and dead-letter wiring.
    fn read_stats(&mut self, sources: &mut Sources) {
        let queues = self
            .pages("queues", management::QUEUE_COLUMNS)
            .map(|items| {
                items
                    .iter()
                    .filter_map(management::queue)
                    .collect::<BTreeMap<_, _>>()
            });
        let Some(queues) = sources.keep("api_queues", queues) else {
            return;
        };
        let mut complete = true;
        let mut dead_letter = BTreeSet::new();
        if management::needs_bindings(&queues) {
            let bindings = self
                .scopes()
                .into_iter()
                .try_fold(Vec::new(), |mut all, scope| {
                    let scope = scope.map_or(String::new(), |v| format!("/{}", encode(&v)));
                    let body = self.get(
                        Api::Management,
                        &format!(
                            "/api/bindings{scope}?columns=vhost,source,destination,destination_type"
                        ),
                    )?;
                    all.extend(
                        management::bindings(&body)
                            .map_err(|e| self.parse_error("/api/bindings", e))?,
                    );
                    Ok(all)
                });
            match sources.keep("api_bindings", bindings) {
                Some(b) => dead_letter = management::dead_letter_queues(&queues, &b),
                None => complete = false,
            }
        } else {
            dead_letter = management::dead_letter_queues(&queues, &[]);
        }
        let exchanges = self
            .pages("exchanges", management::EXCHANGE_COLUMNS)
            .map(|items| {
                items
                    .iter()
                    .filter_map(management::exchange)
                    .collect::<BTreeMap<_, _>>()
            });
        match sources.keep("api_exchanges", exchanges) {
            Some(x) => self.exchange_stats = x,
            None => complete = false,
        }
        self.queue_stats = queues;
        self.dead_letter = dead_letter;
        // Anything missing is read again on the next collection.
        if complete {
            self.last_stats = Some(Instant::now());
        }
    }

    /// Node health and totals; whether `/api/nodes` answered.
    fn read_nodes(
        &self,
        rec: &mut Recorder,
        sources: &mut Sources,
    ) -> Result<(), IntegrationError> {
        let inst = self.instance.as_str();
        let nodes = self
            .get(Api::Management, management::NODES)
            .and_then(|b| management::nodes(&b).map_err(|e| self.parse_error("/api/nodes", e)))?;
        for n in &nodes {
            let a = [inst, n.name.as_str()];
            let v = |k: &str| n.values.get(k).copied();
            for (alarm, key) in [("memory", "mem_alarm"), ("disk", "disk_free_alarm")] {
                if let Some(x) = v(key) {
                    rec.record(&m::NODE_ALARM, x, &[inst, &n.name, alarm]);
                }
            }
            for (metric, key) in [
                (&m::NODE_MEMORY_USED, "mem_used"),
                (&m::NODE_MEMORY_LIMIT, "mem_limit"),
                (&m::NODE_DISK_FREE, "disk_free"),
                (&m::NODE_DISK_FREE_LIMIT, "disk_free_limit"),
                (&m::NODE_FD_USED, "fd_used"),
                (&m::NODE_FD_LIMIT, "fd_total"),
                (&m::NODE_SOCKETS_USED, "sockets_used"),
                (&m::NODE_SOCKETS_LIMIT, "sockets_total"),
                (&m::NODE_PROCESSES_USED, "proc_used"),
                (&m::NODE_PROCESSES_LIMIT, "proc_total"),
            ] {
                if let Some(x) = v(key) {
                    rec.record(metric, x, &a);
                }
            }
        }
        let totals = self
            .get(Api::Management, management::OVERVIEW)
            .and_then(|b| management::totals(&b).map_err(|e| self.parse_error("/api/overview", e)));
        if let Some((connections, channels)) = sources.keep("api_overview", totals) {
            rec.record(&m::CONNECTIONS, connections, &[inst]);
            rec.record(&m::CHANNELS, channels, &[inst]);
        }
        Ok(())
    }

    /// The queue and exchange series.
    fn record_entities(
        &self,
        rec: &mut Recorder,
        depth: Option<&BTreeMap<Key, detailed::Depth>>,
        management: bool,
    ) {
        let inst = self.instance.as_str();
        let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
        if let Some(depth) = depth {
            for (k, d) in depth {
                rows.entry(k.clone()).or_default().depth = Some(*d);
            }
        }
        // The stats read last are sent again only while the management API answers: no old
        // counters presented as current while it is down.
        let stats = if management {
            &self.queue_stats
        } else {
            &BTreeMap::new()
        };
        for (k, s) in stats {
            // Without the plugin's list, the management API's; with it, a queue it no longer
            // has was deleted since the stats were read.
            if depth.is_none() || rows.contains_key(k) {
                rows.entry(k.clone()).or_default().stats = Some(s.clone());
            }
        }
        for k in &self.dead_letter {
            if let Some(r) = rows.get_mut(k) {
                r.dead_letter = true;
            }
        }
        let (rows, folded) = self.queues.apply(&rows, |r| r.dead_letter, fold);
        rec.record(&m::OVERFLOW_ENTITIES, folded as f64, &[inst, "queue"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for ((vhost, queue), r) in &rows {
            let a = [inst, vhost.as_str(), queue.as_str()];
            if let Some(d) = r.depth {
                rec.record(&m::MESSAGE_CURRENT, d.ready, &[inst, vhost, queue, "ready"]);
                rec.record(
                    &m::MESSAGE_CURRENT,
                    d.unacked,
                    &[inst, vhost, queue, "unacknowledged"],
                );
                rec.record(&m::CONSUMER_COUNT, d.consumers, &a);
            }
            if let Some(s) = &r.stats {
                rec.record(&m::MESSAGE_PUBLISHED, s.published, &a);
                rec.record(&m::MESSAGE_DELIVERED, s.delivered, &a);
                rec.record(&m::MESSAGE_ACKNOWLEDGED, s.acked, &a);
                rec.record(&m::MESSAGE_REDELIVERED, s.redelivered, &a);
                if let Some(u) = s.utilisation {
                    rec.record(&m::CONSUMER_UTILISATION, u, &a);
                }
                // The timestamp is of the last stats read: while the queue still holds
                // messages, the message it named is the oldest or was settled since.
                let holds = r.depth.is_none_or(|d| d.ready + d.unacked > 0.0);
                if let (Some(t), true) = (s.head_timestamp, holds) {
                    rec.record(&m::OLDEST_MESSAGE_AGE, (now - t).max(0.0), &a);
                }
            }
            if r.dead_letter {
                rec.record(&m::QUEUE_DEAD_LETTER, 1.0, &a);
            }
        }
        let exchange_stats = if management {
            &self.exchange_stats
        } else {
            &BTreeMap::new()
        };
        let (exchanges, folded) = self.exchanges.apply(
            exchange_stats,
            |_| false,
            |a, b| {
                a.publish_in += b.publish_in;
                a.publish_out += b.publish_out;
                a.dropped += b.dropped;
                a.returned += b.returned;
            },
        );
        if !exchange_stats.is_empty() {
            rec.record(&m::OVERFLOW_ENTITIES, folded as f64, &[inst, "exchange"]);
        }
        for ((vhost, name), x) in &exchanges {
            let a = |d| [inst, vhost.as_str(), name.as_str(), d];
            rec.record(&m::EXCHANGE_MESSAGES, x.publish_in, &a("in"));
            rec.record(&m::EXCHANGE_MESSAGES, x.publish_out, &a("out"));
            rec.record(&m::EXCHANGE_UNROUTABLE, x.dropped, &a("dropped"));
            rec.record(&m::EXCHANGE_UNROUTABLE, x.returned, &a("returned"));
        }
    }
}

impl Integration for Rabbitmq {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let mut sources = Sources::new(&self.name);
        let mut depth = self
            .get(Api::Prometheus, &detailed::path(&self.vhosts))
            .and_then(|b| {
                detailed::parse(&String::from_utf8_lossy(&b))
                    .map_err(|e| self.parse_error("/metrics/detailed", e))
            });
        let mut nodes = self.read_nodes(rec, &mut sources);
        // One of the two plugins answering and the other refusing the connection: that one
        // is not enabled.
        match (&mut depth, &mut nodes) {
            (Err(e), Ok(())) | (Ok(_), Err(e)) if e.kind == "connect" => e.kind = "plugin_missing",
            _ => {}
        }
        let management = nodes.is_ok();
        let up = depth.is_ok() && management;
        sources.note("api_nodes", nodes);
        let depth = sources.keep("prometheus_detailed", depth);
        let due = self
            .last_stats
            .is_none_or(|t| t.elapsed() >= self.stats_interval);
        if due && up {
            self.read_stats(&mut sources);
        }
        self.record_entities(rec, depth.as_ref(), management);
        rec.record(&m::UP, if up { 1.0 } else { 0.0 }, &[&self.instance]);
        sources.finish(rec)
    }
}
