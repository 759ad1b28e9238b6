//! The collector's counters about its remote_write endpoints, one [`EndpointStats`] per
//! endpoint, and the events that count and log them (one type per event, as in
//! [`super::events`]).

use super::log_every::LogEvery;
use super::{family, row};
use dozor_metrics::MetricDef;
use dozor_metrics::catalogue::remote_write as catalogue;
use dozor_metrics::exposition::{Family, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::{error, warn};

/// Why the endpoint refused samples for good, the `reason` of
/// `dozor.collector.remote_write.failed.samples`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Older than the receiver takes (Prometheus 500 "too old sample", 400 "out of bounds").
    TooOld,
    /// Older than the series' newest sample, or another value at the same timestamp.
    OutOfOrder,
    /// Another 4xx but 429.
    Rejected,
}

impl Failure {
    /// Every reason, in label order.
    pub const ALL: [Failure; 3] = [Self::TooOld, Self::OutOfOrder, Self::Rejected];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooOld => "too_old",
            Self::OutOfOrder => "out_of_order",
            Self::Rejected => "rejected",
        }
    }
}

/// Why samples were dropped before sending, the `reason` of
/// `dozor.collector.remote_write.dropped.samples`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The outbox was full: its oldest records made room.
    OutboxFull,
    /// Appending to the outbox failed.
    OutboxError,
    /// Outbox records found corrupt.
    Corrupt,
    /// Delta-temporality points.
    Delta,
}

impl Lost {
    /// Every reason, in label order.
    pub const ALL: [Lost; 4] = [
        Self::OutboxFull,
        Self::OutboxError,
        Self::Corrupt,
        Self::Delta,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutboxFull => "outbox_full",
            Self::OutboxError => "outbox_error",
            Self::Corrupt => "corrupt",
            Self::Delta => "delta",
        }
    }
}

/// The counters of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointStats {
    /// The configured URL, the `endpoint` label.
    pub endpoint: String,
    pending: AtomicU64,
    oldest_ms: AtomicU64,
    outbox_bytes: AtomicU64,
    sent: AtomicU64,
    failed: [AtomicU64; Failure::ALL.len()],
    dropped: [AtomicU64; Lost::ALL.len()],
    requests: Mutex<BTreeMap<String, u64>>,
    failed_log: [LogEvery; Failure::ALL.len()],
    dropped_log: [LogEvery; Lost::ALL.len()],
    retry_log: LogEvery,
}

impl EndpointStats {
    /// Zeroed counters for `endpoint`.
    pub fn new(endpoint: &str) -> Self {
        EndpointStats {
            endpoint: endpoint.to_string(),
            ..Default::default()
        }
    }

    /// Samples accepted by the endpoint so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Samples refused for good so far for `reason`.
    pub fn failed(&self, reason: Failure) -> u64 {
        self.failed[reason as usize].load(Ordering::Relaxed)
    }

    /// Samples dropped so far for `reason`.
    pub fn dropped(&self, reason: Lost) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Samples waiting in the outbox, its bytes on disk, and the age of the oldest pending
    /// record in seconds.
    pub fn pending(&self) -> (u64, u64, f64) {
        (
            self.pending.load(Ordering::Relaxed),
            self.outbox_bytes.load(Ordering::Relaxed),
            self.oldest_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }

    /// Sets the outbox gauges: pending samples, bytes, and the age of the oldest pending
    /// record in milliseconds.
    pub fn outbox(&self, pending: u64, bytes: u64, oldest_ms: u64) {
        self.pending.store(pending, Ordering::Relaxed);
        self.outbox_bytes.store(bytes, Ordering::Relaxed);
        self.oldest_ms.store(oldest_ms, Ordering::Relaxed);
    }
}

/// Every endpoint's counters, part of [`super::Telemetry`].
#[derive(Debug, Default)]
pub struct RemoteWriteTelemetry {
    endpoints: Mutex<Vec<Arc<EndpointStats>>>,
}

impl RemoteWriteTelemetry {
    /// Registers an endpoint (at start) and returns its counters.
    pub fn endpoint(&self, url: &str) -> Arc<EndpointStats> {
        let stats = Arc::new(EndpointStats::new(url));
        self.lock().push(stats.clone());
        stats
    }

    /// Every endpoint's counters, in configuration order.
    pub fn endpoints(&self) -> Vec<Arc<EndpointStats>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<EndpointStats>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The families, in [`RENDERED`] order.
    pub(super) fn families(&self) -> Vec<Family> {
        let endpoints = self.lock().clone();
        let get = |a: &AtomicU64| Value::Number(a.load(Ordering::Relaxed) as f64);
        let each = |def, f: &dyn Fn(&EndpointStats, &mut Vec<_>)| {
            family(def, |s| {
                for e in &endpoints {
                    f(e, s);
                }
            })
        };
        vec![
            each(&catalogue::REMOTE_WRITE_PENDING_SAMPLES, &|e, s| {
                s.push(row(&[&e.endpoint], get(&e.pending)))
            }),
            each(&catalogue::REMOTE_WRITE_OLDEST_PENDING_AGE, &|e, s| {
                let ms = e.oldest_ms.load(Ordering::Relaxed);
                s.push(row(&[&e.endpoint], Value::Number(ms as f64 / 1000.0)))
            }),
            each(&catalogue::REMOTE_WRITE_SENT_SAMPLES, &|e, s| {
                s.push(row(&[&e.endpoint], get(&e.sent)))
            }),
            each(&catalogue::REMOTE_WRITE_FAILED_SAMPLES, &|e, s| {
                for r in Failure::ALL {
                    s.push(row(&[&e.endpoint, r.as_str()], get(&e.failed[r as usize])));
                }
            }),
            each(&catalogue::REMOTE_WRITE_REQUESTS, &|e, s| {
                let requests = e.requests.lock().unwrap_or_else(|p| p.into_inner());
                for (status, n) in requests.iter() {
                    s.push(row(&[&e.endpoint, status], Value::Number(*n as f64)));
                }
            }),
            each(&catalogue::REMOTE_WRITE_OUTBOX_SIZE, &|e, s| {
                s.push(row(&[&e.endpoint], get(&e.outbox_bytes)))
            }),
            each(&catalogue::REMOTE_WRITE_DROPPED_SAMPLES, &|e, s| {
                for r in Lost::ALL {
                    s.push(row(&[&e.endpoint, r.as_str()], get(&e.dropped[r as usize])));
                }
            }),
        ]
    }
}

/// The order in which [`RemoteWriteTelemetry::families`] builds its families.
pub(super) static RENDERED: [&MetricDef; 7] = [
    catalogue::REMOTE_WRITE_PENDING_SAMPLES.def(),
    catalogue::REMOTE_WRITE_OLDEST_PENDING_AGE.def(),
    catalogue::REMOTE_WRITE_SENT_SAMPLES.def(),
    catalogue::REMOTE_WRITE_FAILED_SAMPLES.def(),
    catalogue::REMOTE_WRITE_REQUESTS.def(),
    catalogue::REMOTE_WRITE_OUTBOX_SIZE.def(),
    catalogue::REMOTE_WRITE_DROPPED_SAMPLES.def(),
];

/// A request was answered (or not: `status` is `None` for a transport error).
pub struct RequestDone<'a> {
    /// The HTTP status.
    pub status: Option<u16>,
    /// Samples in it.
    pub samples: u64,
    /// What went wrong, for a retryable failure (the receiver's words, or the transport's).
    pub error: &'a str,
    /// True when it will be sent again.
    pub retry: bool,
}

impl RequestDone<'_> {
    /// Counts it (and its samples when 2xx); a retryable failure is logged (WARN: the outbox
    /// keeps the samples) at most once per interval.
    pub fn emit(self, e: &EndpointStats) {
        let status = self
            .status
            .map_or_else(|| "transport_error".to_string(), |s| s.to_string());
        *e.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status.clone())
            .or_default() += 1;
        if self.status.is_some_and(|s| (200..300).contains(&s)) {
            e.sent.fetch_add(self.samples, Ordering::Relaxed);
        }
        if self.retry
            && let Some(suppressed) = e.retry_log.ready()
        {
            warn!(
                endpoint = %e.endpoint,
                status = %status,
                error = ?self.error,
                suppressed,
                "remote_write request failed; will retry."
            );
        }
    }
}

/// The endpoint refused samples for good.
pub struct SamplesFailed<'a> {
    /// Why.
    pub reason: Failure,
    /// How many.
    pub samples: u64,
    /// The receiver's words.
    pub error: &'a str,
}

impl SamplesFailed<'_> {
    /// Counts them and logs an ERROR (data lost) at most once per interval per reason.
    pub fn emit(self, e: &EndpointStats) {
        let r = self.reason as usize;
        e.failed[r].fetch_add(self.samples, Ordering::Relaxed);
        if let Some(suppressed) = e.failed_log[r].ready() {
            error!(
                endpoint = %e.endpoint,
                reason = self.reason.as_str(),
                samples = self.samples,
                error = ?self.error,
                suppressed,
                "remote_write endpoint refused samples; they are dropped."
            );
        }
    }
}

/// Samples were dropped before sending.
pub struct SamplesDropped {
    /// Why.
    pub reason: Lost,
    /// How many.
    pub samples: u64,
}

impl SamplesDropped {
    /// Counts them; logs an ERROR (data lost) at most once per interval per reason, except
    /// for delta points, which are a property of the sender (logged as a WARN).
    pub fn emit(self, e: &EndpointStats) {
        if self.samples == 0 {
            return;
        }
        let r = self.reason as usize;
        e.dropped[r].fetch_add(self.samples, Ordering::Relaxed);
        if let Some(suppressed) = e.dropped_log[r].ready() {
            if self.reason == Lost::Delta {
                warn!(
                    endpoint = %e.endpoint,
                    points = self.samples,
                    suppressed,
                    "Delta points are not written to remote_write: send cumulative points."
                );
            } else {
                error!(
                    endpoint = %e.endpoint,
                    reason = self.reason.as_str(),
                    samples = self.samples,
                    suppressed,
                    "remote_write samples dropped before sending."
                );
            }
        }
    }
}
