//! Who a request counts against, and which senders are in good standing.
//!
//! Every sender gets a rate limit and a series budget, keyed by the strongest name it has: the
//! agent its token names, else its `dozor-agent` header, else its resource's
//! `service.instance.id` ([`Sender::Agent`], `limits.per_agent`), else its IP address
//! ([`Sender::Address`], `limits.unidentified`).
//!
//! A sender is in good standing once a request of it was stored without going over its series
//! budget or its rate, and stays so until it does go over. Only senders in good standing may use
//! the last `limits.memory.reserved` bytes below the memory threshold: during a flood of new
//! series the flooding senders (over budget) and new ones are refused first, and the agents
//! that were there before keep a share to drain their backlog in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a sender that went over its budget or rate stays out of good standing.
pub const PENALTY: Duration = Duration::from_secs(60);

/// Most senders whose standing is remembered; beyond it new ones are simply not in good
/// standing, so a flood of made-up names cannot grow this map.
pub const MAX_SENDERS: usize = 100_000;

/// What a request counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A name: the token's agent, the `dozor-agent` header or `service.instance.id`.
    Agent(String),
    /// Nothing but the address it connected from.
    Address(IpAddr),
    /// Not even an address (a receiver that does not know it).
    Unknown,
}

impl Sender {
    /// The first of a token's agent, a `dozor-agent` header, a `service.instance.id` and an
    /// address that is there.
    pub fn of(name: Option<&str>, peer: Option<IpAddr>) -> Sender {
        match (name, peer) {
            (Some(n), _) => Sender::Agent(n.to_string()),
            (None, Some(ip)) => Sender::Address(ip),
            (None, None) => Sender::Unknown,
        }
    }

    /// True for a sender that names itself.
    pub fn is_named(&self) -> bool {
        matches!(self, Sender::Agent(_))
    }

    /// The key of its rate bucket, series budget and standing.
    pub fn key(&self) -> String {
        match self {
            Sender::Agent(a) => a.clone(),
            Sender::Address(ip) => ip.to_string(),
            Sender::Unknown => "unknown".into(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    seen: Instant,
    over: Option<Instant>,
}

/// Every sender's standing.
#[derive(Debug, Default)]
pub struct Standing {
    senders: Mutex<HashMap<Sender, Entry>>,
}

impl Standing {
    /// True when `sender` had a request stored and has not gone over a limit within
    /// [`PENALTY`].
    pub fn good(&self, sender: &Sender) -> bool {
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders
            .get(sender)
            .is_some_and(|e| e.over.is_none_or(|t| t.elapsed() >= PENALTY))
    }

    /// A request of `sender` was stored within its limits.
    pub fn stored(&self, sender: &Sender) {
        self.note(sender, None);
    }

    /// `sender` went over its series budget or its rate.
    pub fn over(&self, sender: &Sender) {
        self.note(sender, Some(Instant::now()));
    }

    fn note(&self, sender: &Sender, over: Option<Instant>) {
        let now = Instant::now();
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = senders.get_mut(sender) {
            e.seen = now;
            if over.is_some() {
                e.over = over;
            }
        } else if senders.len() < MAX_SENDERS {
            senders.insert(sender.clone(), Entry { seen: now, over });
        }
    }

    /// Forgets senders silent for `ttl`.
    pub fn expire(&self, ttl: Duration) {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.retain(|_, e| e.seen.elapsed() < ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_name_wins() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(
            Sender::of(Some("ws-1"), Some(ip)),
            Sender::Agent("ws-1".into())
        );
        assert_eq!(Sender::of(None, Some(ip)), Sender::Address(ip));
        assert_eq!(Sender::of(None, None), Sender::Unknown);
        assert_eq!(Sender::of(None, Some(ip)).key(), "10.0.0.7");
    }

    #[test]
    fn standing_is_earned_and_lost() {
        let s = Standing::default();
        let a = Sender::Agent("a".into());
        assert!(!s.good(&a), "a new sender is not in good standing");
        s.stored(&a);
        assert!(s.good(&a));
        s.over(&a);
        assert!(!s.good(&a));
        s.stored(&a);
        assert!(
            !s.good(&a),
            "a stored request does not lift the penalty early"
        );
        s.expire(Duration::ZERO);
        assert!(!s.good(&a));
    }
}
