//! What each sender got past admission and what it was refused, for the admin endpoint's
//! per-agent view (`dozor-collector status` and `top`): data points (and log records) taken
//! from its rate budget, and refusals by reason.
//!
//! Keyed like the rate limits ([`Sender::key`]); a refusal before the token is known (a wrong
//! token) counts against the `dozor-agent` header, else the address. Bounded: at most
//! [`MAX_SENDERS`] senders, those beyond are added up under [`OVERFLOW`]; senders silent for
//! `agent_ttl` are forgotten.

use super::senders::Sender;
use crate::telemetry::Refusal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Most senders tallied one by one.
pub const MAX_SENDERS: usize = 10_000;
/// The key under which senders beyond [`MAX_SENDERS`] are counted.
pub const OVERFLOW: &str = "_overflow";

/// One sender's counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SenderCounts {
    /// Data points and log records admitted past the rate check.
    pub points: u64,
    /// Requests admitted past the rate check.
    pub requests: u64,
    /// Refusals by reason (label value of `dozor.collector.refused.requests`).
    pub refusals: BTreeMap<&'static str, u64>,
    /// Whether it named itself (token, `dozor-agent` header, `service.instance.id`).
    pub named: bool,
    /// When it was last heard from.
    pub last: Option<SystemTime>,
}

#[derive(Debug)]
struct Entry {
    counts: SenderCounts,
    seen: Instant,
}

/// Every sender's counts.
#[derive(Debug, Default)]
pub struct Tally {
    senders: Mutex<HashMap<String, Entry>>,
}

impl Tally {
    fn with(&self, sender: &Sender, f: impl FnOnce(&mut SenderCounts)) {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = sender.key();
        if !senders.contains_key(&key) && senders.len() >= MAX_SENDERS {
            key = OVERFLOW.to_string();
        }
        let e = senders.entry(key).or_insert_with(|| Entry {
            counts: SenderCounts::default(),
            seen: Instant::now(),
        });
        e.seen = Instant::now();
        e.counts.last = Some(SystemTime::now());
        e.counts.named = sender.is_named();
        f(&mut e.counts);
    }

    /// `points` of one request were admitted.
    pub fn admitted(&self, sender: &Sender, points: u64) {
        self.with(sender, |c| {
            c.points += points;
            c.requests += 1;
        });
    }

    /// A request was refused.
    pub fn refused(&self, sender: &Sender, reason: Refusal) {
        self.with(sender, |c| {
            *c.refusals.entry(reason.as_str()).or_default() += 1
        });
    }

    /// Forgets senders silent for `ttl`.
    pub fn expire(&self, ttl: Duration) {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.retain(|_, e| e.seen.elapsed() < ttl);
    }

    /// Every sender's counts, sorted by key.
    pub fn rows(&self) -> Vec<(String, SenderCounts)> {
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = senders
            .iter()
            .map(|(k, e)| (k.clone(), e.counts.clone()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_sender_and_expires() {
        let t = Tally::default();
        let a = Sender::Agent("ws-1".into());
        t.admitted(&a, 10);
        t.admitted(&a, 5);
        t.refused(&a, Refusal::RateLimited);
        t.refused(
            &Sender::Address("192.0.2.1".parse().unwrap()),
            Refusal::Unauthenticated,
        );
        let rows = t.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].0.as_str(), rows[1].1.points, rows[1].1.requests),
            ("ws-1", 15, 2)
        );
        assert_eq!(rows[1].1.refusals.get("rate_limited"), Some(&1));
        assert_eq!(rows[0].1.refusals.get("unauthenticated"), Some(&1));
        assert!(!rows[0].1.named);
        t.expire(Duration::ZERO);
        assert!(t.rows().is_empty());
    }
}
