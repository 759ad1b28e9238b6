//! The agent's counters and gauges about its own delivery, one set per signal (metrics, logs),
//! reported with every metrics request.

use super::breaker::State;
use super::counts::{Counts, OUTCOMES};
use super::signal::Signal;
use super::wal::Backlog;
use dozor_metrics::catalogue::agent;
use dozor_metrics::sample::{Recorder, ScopeBatch};
use std::collections::BTreeMap;

/// Cumulative export counters and the latest gauges of one signal.
pub struct ExportStats {
    signal: Signal,
    /// Data points (metrics) or log records (logs), by outcome, kept beside the buffer.
    items: Counts,
    requests: BTreeMap<(String, &'static str), u64>,
    retries: BTreeMap<&'static str, u64>,
    breakers: BTreeMap<String, f64>,
    paused: bool,
}

impl ExportStats {
    /// The counters of `signal`, the outcome counters those kept in `items`.
    pub fn new(signal: Signal, items: Counts) -> Self {
        ExportStats {
            signal,
            items,
            requests: BTreeMap::new(),
            retries: BTreeMap::new(),
            breakers: BTreeMap::new(),
            paused: false,
        }
    }

    /// Adds `n` to `outcome` (sent, dropped, rejected): data points, or log records for logs
    /// (the buffer record's weight either way).
    pub fn count_items(&mut self, outcome: &'static str, n: u64) {
        self.items.add(outcome, n);
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

    /// Sets whether collection is paused (metrics only).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// The lifetime totals and whether collection is paused, for the admin board.
    pub fn totals(&self) -> (crate::admin::snapshot::Totals, bool) {
        let totals = crate::admin::snapshot::Totals {
            sent: self.items.get("sent"),
            dropped: self.items.get("dropped"),
            rejected: self.items.get("rejected"),
            retries: self.retries.values().sum(),
        };
        (totals, self.paused)
    }

    /// The count of `outcome` so far.
    #[cfg(test)]
    pub fn items(&self, outcome: &str) -> u64 {
        self.items.get(outcome)
    }

    /// Records this signal's counters and gauges, with `backlog` its buffer's.
    pub fn record(&self, rec: &mut Recorder, backlog: &Backlog) {
        let signal = self.signal.label();
        let items = match self.signal {
            Signal::Metrics => &agent::EXPORT_POINTS,
            Signal::Logs => &agent::EXPORT_LOG_RECORDS,
        };
        // Kept across restarts: they count from when the buffer's counters started.
        for outcome in OUTCOMES {
            let n = self.items.get(outcome);
            rec.record_since(items, n as f64, &[outcome], Some(self.items.start));
        }
        for ((endpoint, outcome), n) in &self.requests {
            rec.record(
                &agent::EXPORT_REQUESTS,
                *n as f64,
                &[endpoint, outcome, signal],
            );
        }
        for (lane, n) in &self.retries {
            rec.record(&agent::EXPORT_RETRIES, *n as f64, &[lane, signal]);
        }
        for (endpoint, state) in &self.breakers {
            rec.record(
                &agent::EXPORT_CIRCUIT_BREAKER_STATE,
                *state,
                &[endpoint, signal],
            );
        }
        rec.record(&agent::BUFFER_USAGE, backlog.bytes as f64, &[signal]);
        rec.record(&agent::BUFFER_LIMIT, backlog.limit as f64, &[signal]);
        if let Some(free) = backlog.free_bytes {
            rec.record(&agent::BUFFER_FILESYSTEM_FREE, free as f64, &[signal]);
        }
        rec.record(
            &agent::BUFFER_PENDING_RECORDS,
            backlog.records as f64,
            &[signal],
        );
        let age = backlog.oldest_age.map_or(0.0, |a| a.as_secs_f64());
        rec.record(&agent::BUFFER_OLDEST_AGE, age, &[signal]);
        if self.signal == Signal::Metrics {
            rec.record(&agent::BUFFER_PENDING_POINTS, backlog.points as f64, &[]);
            rec.record(
                &agent::COLLECTION_PAUSED,
                if self.paused { 1.0 } else { 0.0 },
                &[],
            );
        }
    }
}

/// Every signal's counters and gauges as one `dozor.agent` scope batch.
pub fn batch(signals: &[(&ExportStats, Backlog)]) -> ScopeBatch {
    let mut rec = Recorder::new();
    for (stats, backlog) in signals {
        stats.record(&mut rec, backlog);
    }
    ScopeBatch {
        scope: "dozor.agent".into(),
        time_unix_nano: dozor_metrics::time::now_nanos(),
        samples: rec.take(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_reports_under_its_own_label_and_counter() {
        let mut metrics = ExportStats::new(Signal::Metrics, Counts::in_memory());
        metrics.count_items("sent", 10);
        metrics.count_request("http://c:4317", "sent");
        let mut logs = ExportStats::new(Signal::Logs, Counts::in_memory());
        logs.count_items("sent", 3);
        logs.count_items("dropped", 1);
        logs.count_request("http://c:4317", "unreachable");
        logs.count_retry("replay");
        let batch = batch(&[(&metrics, Backlog::default()), (&logs, Backlog::default())]);
        let find = |name: &str, attrs: &[&str]| {
            batch
                .samples
                .iter()
                .find(|s| {
                    s.metric.name == name
                        && s.attributes
                            .iter()
                            .map(|(_, v)| v.as_str())
                            .eq(attrs.iter().copied())
                })
                .map(|s| s.value)
        };
        assert_eq!(find("dozor.agent.export.points", &["sent"]), Some(10.0));
        assert_eq!(find("dozor.agent.export.log_records", &["sent"]), Some(3.0));
        assert_eq!(
            find("dozor.agent.export.log_records", &["dropped"]),
            Some(1.0)
        );
        assert_eq!(
            find(
                "dozor.agent.export.requests",
                &["http://c:4317", "sent", "metrics"]
            ),
            Some(1.0)
        );
        assert_eq!(
            find(
                "dozor.agent.export.requests",
                &["http://c:4317", "unreachable", "logs"]
            ),
            Some(1.0)
        );
        assert_eq!(
            find("dozor.agent.export.retries", &["replay", "logs"]),
            Some(1.0)
        );
        assert_eq!(find("dozor.agent.buffer.usage", &["logs"]), Some(0.0));
        // Pausing and points are the metrics buffer's alone.
        let paused = batch
            .samples
            .iter()
            .filter(|s| s.metric.name == "dozor.agent.collection.paused")
            .count();
        assert_eq!(paused, 1);
    }
}
