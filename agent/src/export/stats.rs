//! The agent's counters and gauges about its own delivery, reported with every request.

use super::breaker::State;
use super::wal::Backlog;
use dozor_metrics::catalogue::agent;
use dozor_metrics::sample::{Recorder, ScopeBatch};
use std::collections::BTreeMap;

/// Cumulative export counters and the latest gauges.
#[derive(Default)]
pub struct ExportStats {
    points: BTreeMap<&'static str, u64>,
    requests: BTreeMap<(String, &'static str), u64>,
    retries: BTreeMap<&'static str, u64>,
    breakers: BTreeMap<String, f64>,
    paused: bool,
}

impl ExportStats {
    /// Adds `n` points to `outcome` (sent, dropped, rejected).
    pub fn count_points(&mut self, outcome: &'static str, n: u64) {
        *self.points.entry(outcome).or_default() += n;
    }

    /// Counts one request to `endpoint` with `outcome`.
    pub fn count_request(&mut self, endpoint: &str, outcome: &'static str) {
        *self
            .requests
            .entry((endpoint.to_string(), outcome))
            .or_default() += 1;
    }

    /// Counts one retry on `lane` (live, replay).
    pub fn count_retry(&mut self, lane: &'static str) {
        *self.retries.entry(lane).or_default() += 1;
    }

    /// Sets the breaker state of `endpoint`.
    pub fn breaker(&mut self, endpoint: &str, state: State) {
        self.breakers.insert(endpoint.to_string(), state.gauge());
    }

    /// Sets whether collection is paused.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// The counters and gauges as a `dozor.agent` scope batch.
    pub fn batch(&self, backlog: &Backlog) -> ScopeBatch {
        let mut rec = Recorder::new();
        for outcome in ["sent", "dropped", "rejected"] {
            let n = self.points.get(outcome).copied().unwrap_or(0);
            rec.record(&agent::EXPORT_POINTS, n as f64, &[outcome]);
        }
        for ((endpoint, outcome), n) in &self.requests {
            rec.record(&agent::EXPORT_REQUESTS, *n as f64, &[endpoint, outcome]);
        }
        for (lane, n) in &self.retries {
            rec.record(&agent::EXPORT_RETRIES, *n as f64, &[lane]);
        }
        for (endpoint, state) in &self.breakers {
            rec.record(&agent::EXPORT_CIRCUIT_BREAKER_STATE, *state, &[endpoint]);
        }
        rec.record(&agent::BUFFER_USAGE, backlog.bytes as f64, &[]);
        rec.record(&agent::BUFFER_PENDING_RECORDS, backlog.records as f64, &[]);
        rec.record(&agent::BUFFER_PENDING_POINTS, backlog.points as f64, &[]);
        let age = backlog.oldest_age.map_or(0.0, |a| a.as_secs_f64());
        rec.record(&agent::BUFFER_OLDEST_AGE, age, &[]);
        rec.record(
            &agent::COLLECTION_PAUSED,
            if self.paused { 1.0 } else { 0.0 },
            &[],
        );
        ScopeBatch {
            scope: "dozor.agent".into(),
            time_unix_nano: crate::scheduler::now_nanos(),
            samples: rec.take(),
        }
    }
}
