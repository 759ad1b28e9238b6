//! The agent's counters about its own sending, reported with every request it makes.

use dozor_metrics::catalogue::agent;
use dozor_metrics::sample::{Recorder, ScopeBatch};
use std::collections::BTreeMap;

/// Cumulative export counters.
#[derive(Default)]
pub struct ExportStats {
    points: BTreeMap<&'static str, u64>,
    requests: BTreeMap<(String, &'static str), u64>,
}

impl ExportStats {
    /// Adds `n` points to `outcome` (sent, failed, dropped).
    pub fn count_points(&mut self, outcome: &'static str, n: u64) {
        *self.points.entry(outcome).or_default() += n;
    }

    /// Counts one request to `endpoint` with `outcome` (sent, refused, unreachable).
    pub fn count_request(&mut self, endpoint: &str, outcome: &'static str) {
        *self
            .requests
            .entry((endpoint.to_string(), outcome))
            .or_default() += 1;
    }

    /// The counters as a `dozor.agent` scope batch.
    pub fn batch(&self) -> ScopeBatch {
        let mut rec = Recorder::new();
        for (outcome, n) in &self.points {
            rec.record(&agent::EXPORT_POINTS, *n as f64, &[outcome]);
        }
        for ((endpoint, outcome), n) in &self.requests {
            rec.record(&agent::EXPORT_REQUESTS, *n as f64, &[endpoint, outcome]);
        }
        ScopeBatch {
            scope: "dozor.agent".into(),
            time_unix_nano: crate::scheduler::now_nanos(),
            samples: rec.take(),
        }
    }
}
