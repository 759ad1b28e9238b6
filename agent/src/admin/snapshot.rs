//! The board the subsystems publish their state on, and from which `/v1/status` is read.
//!
//! The scheduler publishes each run as it starts and ends, the exporter each request's outcome
//! and, once a second, its buffers and counters. Every method holds one mutex for a few field
//! updates and never waits on anything else, so publishing never slows a subsystem, and a
//! subsystem that hangs (an integration stuck in a query, an exporter stuck on a disk) leaves
//! its last state here for `/v1/status` to show, never a status request waiting on it.

use super::attention;
use super::status::{
    BufferStatus, Counters, EndpointStatus, IntegrationStatus, SourceStatus, Status,
};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long after the last drop the buffer still counts as dropping.
const RECENT_DROPS: Duration = Duration::from_secs(600);

/// Shared state of the running agent.
pub struct Board {
    started: Instant,
    config_file: Option<String>,
    resource: BTreeMap<String, String>,
    integrations: Mutex<Vec<Run>>,
    export: Mutex<Export>,
}

/// One integration's runs.
struct Run {
    status: IntegrationStatus,
    /// Set while a run is under way (including one past its timeout).
    running_since: Option<(Instant, u64)>,
}

#[derive(Default)]
struct Export {
    buffers: BTreeMap<String, BufferStatus>,
    endpoints: Vec<EndpointStatus>,
    /// Lifetime totals per signal.
    totals: BTreeMap<String, Totals>,
    /// Items dropped per signal when first published, and when the count last grew.
    drops: BTreeMap<String, (u64, Option<Instant>)>,
}

/// What the exporter publishes about one signal once a second.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Items (points, log records) the collector took.
    pub sent: u64,
    /// Items dropped from the full buffer or on a failed write.
    pub dropped: u64,
    /// Items the collector refused permanently.
    pub rejected: u64,
    /// Retries, both lanes.
    pub retries: u64,
}

/// What one finished run produced.
pub struct Finished<'a> {
    /// How long it took.
    pub duration: Duration,
    /// Data points recorded.
    pub points: u64,
    /// Each source read and whether it was read.
    pub sources: Vec<(String, bool)>,
    /// The error class and message, if it failed.
    pub error: Option<(&'a str, String)>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Board {
    /// A board for an agent running with `config_file` and `resource`.
    pub fn new(config_file: Option<String>, resource: &[(String, String)]) -> Board {
        Board {
            started: Instant::now(),
            config_file,
            resource: resource.iter().cloned().collect(),
            integrations: Mutex::new(Vec::new()),
            export: Mutex::new(Export::default()),
        }
    }

    fn runs(&self) -> MutexGuard<'_, Vec<Run>> {
        self.integrations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn export(&self) -> MutexGuard<'_, Export> {
        self.export.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_run(&self, name: &str, f: impl FnOnce(&mut Run)) {
        if let Some(run) = self.runs().iter_mut().find(|r| r.status.name == name) {
            f(run);
        }
    }

    /// Adds an integration before its first run.
    pub fn register(&self, name: &str, interval: Duration, timeout: Duration) {
        self.runs().push(Run {
            status: IntegrationStatus {
                name: name.to_string(),
                result: "pending".into(),
                interval_seconds: interval.as_secs_f64(),
                timeout_seconds: timeout.as_secs_f64(),
                ..IntegrationStatus::default()
            },
            running_since: None,
        });
    }

    /// A run of `name` has started.
    pub fn run_started(&self, name: &str) {
        let now = (Instant::now(), unix_ms());
        self.with_run(name, |r| r.running_since = Some(now));
    }

    /// A run of `name` has ended.
    pub fn run_finished(&self, name: &str, done: Finished<'_>) {
        self.with_run(name, |r| {
            let s = &mut r.status;
            s.last_run = r.running_since.take().map(|(_, ms)| ms).or(Some(unix_ms()));
            s.duration_ms = Some(u64::try_from(done.duration.as_millis()).unwrap_or(u64::MAX));
            s.runs += 1;
            s.points += done.points;
            s.sources = done
                .sources
                .into_iter()
                .map(|(name, ok)| SourceStatus { name, ok })
                .collect();
            match done.error {
                None => {
                    s.result = "ok".into();
                    s.error_type = None;
                    s.error = None;
                    s.fix = None;
                }
                Some((kind, message)) => {
                    s.errors += 1;
                    s.result = "error".into();
                    s.fix = Some(attention::integration_fix(&s.name, kind, &message));
                    s.error_type = Some(kind.to_string());
                    s.error = Some(message);
                }
            }
        });
    }

    /// A run of `name` overran its timeout; it stays `running_since` until it returns.
    pub fn run_timed_out(&self, name: &str) {
        self.with_run(name, |r| {
            r.status.runs += 1;
            r.status.errors += 1;
        });
    }

    /// A run of `name` was skipped: the previous one is still running.
    pub fn run_skipped(&self, name: &str) {
        self.with_run(name, |r| r.status.skipped += 1);
    }

    /// A run that had timed out has returned at last (its result is not reported).
    pub fn run_returned(&self, name: &str) {
        self.with_run(name, |r| r.running_since = None);
    }

    /// The outcome of one request of `signal` to `endpoint`: `Ok`, or the failure's class,
    /// message and retry-after.
    pub fn request(
        &self,
        signal: &str,
        endpoint: &str,
        breaker: &str,
        outcome: Result<(), (&str, String, Option<Duration>)>,
    ) {
        let mut export = self.export();
        let e = endpoint_mut(&mut export.endpoints, signal, endpoint);
        e.breaker = breaker.to_string();
        match outcome {
            Ok(()) => {
                e.connected = Some(true);
                e.last_error_type = None;
                e.last_error = None;
                e.retry_after_seconds = None;
                e.last_success = Some(unix_ms());
                e.requests_sent += 1;
            }
            Err((kind, message, retry_after)) => {
                e.connected = Some(false);
                e.last_error_type = Some(kind.to_string());
                e.last_error = Some(message);
                e.retry_after_seconds = retry_after.map(|d| d.as_secs_f64());
                e.requests_failed += 1;
            }
        }
    }

    /// The breaker state of `endpoint` changed without a request (an open breaker skipped it).
    pub fn breaker(&self, signal: &str, endpoint: &str, breaker: &str) {
        let mut export = self.export();
        endpoint_mut(&mut export.endpoints, signal, endpoint).breaker = breaker.to_string();
    }

    /// The buffer and lifetime totals of `signal`.
    pub fn buffer(&self, signal: &str, buffer: BufferStatus, totals: Totals) {
        let mut export = self.export();
        let drops = export
            .drops
            .entry(signal.to_string())
            .or_insert((totals.dropped, None));
        if totals.dropped > drops.0 {
            *drops = (totals.dropped, Some(Instant::now()));
        }
        export.buffers.insert(signal.to_string(), buffer);
        export.totals.insert(signal.to_string(), totals);
    }

    /// The status document, with its attention list.
    pub fn status(&self) -> Status {
        let now = Instant::now();
        let integrations = self
            .runs()
            .iter()
            .map(|r| {
                let mut s = r.status.clone();
                if let Some((since, ms)) = r.running_since {
                    let elapsed = now.duration_since(since);
                    s.last_run = Some(ms);
                    s.duration_ms = Some(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                    if elapsed.as_secs_f64() > s.timeout_seconds {
                        s.result = "timeout".into();
                        s.error_type = Some("timeout".into());
                        s.error = Some(format!(
                            "run started {} s ago has not returned (timeout {} s); later runs are skipped until it does",
                            elapsed.as_secs(),
                            s.timeout_seconds
                        ));
                        s.fix = Some(attention::integration_fix(&s.name, "timeout", ""));
                    } else {
                        s.result = "running".into();
                    }
                }
                s
            })
            .collect::<Vec<_>>();
        let export = self.export();
        let mut drops = BTreeMap::new();
        let mut counters = Counters::default();
        for (signal, t) in &export.totals {
            let (drop_key, reject_key) = match signal.as_str() {
                "metrics" => ("buffer_full", "rejected"),
                _ => ("logs_buffer_full", "logs_rejected"),
            };
            drops.insert(drop_key.to_string(), t.dropped);
            drops.insert(reject_key.to_string(), t.rejected);
            counters.retries += t.retries;
            if signal == "metrics" {
                counters.points_sent = t.sent;
                counters.points_dropped = t.dropped;
                counters.points_rejected = t.rejected;
            } else {
                counters.log_records_sent = t.sent;
                counters.log_records_dropped = t.dropped;
            }
        }
        for e in &export.endpoints {
            counters.batches_sent += e.requests_sent;
            counters.requests_failed += e.requests_failed;
        }
        for s in &integrations {
            counters.runs += s.runs;
            counters.run_errors += s.errors;
            counters.points_collected += s.points;
        }
        let recent_drops: BTreeMap<String, u64> = export
            .drops
            .iter()
            .filter(|(_, (_, at))| at.is_some_and(|at| now.duration_since(at) < RECENT_DROPS))
            .map(|(signal, (n, _))| (signal.clone(), *n))
            .collect();
        let mut status = Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.started.elapsed().as_secs(),
            config_file: self.config_file.clone(),
            resource: self.resource.clone(),
            integrations,
            buffer: export.buffers.clone(),
            export: export.endpoints.clone(),
            drops,
            counters,
            attention: Vec::new(),
        };
        drop(export);
        status.attention = attention::attention(&status, &recent_drops);
        status
    }
}

fn endpoint_mut<'a>(
    endpoints: &'a mut Vec<EndpointStatus>,
    signal: &str,
    endpoint: &str,
) -> &'a mut EndpointStatus {
    let i = match endpoints
        .iter()
        .position(|e| e.signal == signal && e.endpoint == endpoint)
    {
        Some(i) => i,
        None => {
            endpoints.push(EndpointStatus {
                signal: signal.to_string(),
                endpoint: endpoint.to_string(),
                breaker: "closed".into(),
                ..EndpointStatus::default()
            });
            endpoints.len() - 1
        }
    };
    &mut endpoints[i]
}
