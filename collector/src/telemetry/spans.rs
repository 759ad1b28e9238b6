//! The collector's counters about OTLP traces: spans received, what became of each in the
//! conversion to HTTP RED metrics, and what became of each forwarded one.

use super::log_every::LogEvery;
use super::{Receiver, Telemetry, family, row};
use dozor_metrics::MetricDef;
use dozor_metrics::catalogue::collector as catalogue;
use dozor_metrics::exposition::{Family, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::warn;

const RECEIVERS: usize = Receiver::ALL.len();

/// What a span became, the `result` of `dozor.collector.spans`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanResult {
    /// An HTTP server or client span measured into the RED histograms.
    Recorded,
    /// Neither a `SERVER` nor a `CLIENT` span.
    NotServerOrClient,
    /// No `http.request.method`: not an HTTP span.
    NotHttp,
    /// An HTTP span without a valid status code: never given a made-up one.
    HttpStatusMissing,
    /// An HTTP span with neither a route nor a path.
    HttpTargetMissing,
    /// No start time, or an end before the start.
    BadTiming,
    /// Its service would be one more than `spans.max_services`.
    ServiceLimit,
    /// Its resource's `service.instance.id` is not one the request's token may speak for.
    ForeignIdentity,
}

impl SpanResult {
    /// Every result, in label order.
    pub const ALL: [SpanResult; 8] = [
        Self::Recorded,
        Self::NotServerOrClient,
        Self::NotHttp,
        Self::HttpStatusMissing,
        Self::HttpTargetMissing,
        Self::BadTiming,
        Self::ServiceLimit,
        Self::ForeignIdentity,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::NotServerOrClient => "not_server_or_client",
            Self::NotHttp => "not_http",
            Self::HttpStatusMissing => "http_status_missing",
            Self::HttpTargetMissing => "http_target_missing",
            Self::BadTiming => "bad_timing",
            Self::ServiceLimit => "service_limit",
            Self::ForeignIdentity => "foreign_identity",
        }
    }
}

/// What became of a forwarded span, the `outcome` of `dozor.collector.forwarded.spans`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// The backend answered 2xx.
    Sent,
    /// The forwarding queue was full (`spans.forward.queue_max_bytes`): dropped.
    QueueFull,
    /// The backend refused it for good (a 4xx other than 429): dropped.
    Rejected,
    /// Every attempt failed (transport error, 429, 5xx): dropped.
    Failed,
    /// Still queued when the collector stopped: dropped.
    Shutdown,
}

impl ForwardOutcome {
    /// Every outcome, in label order.
    pub const ALL: [ForwardOutcome; 5] = [
        Self::Sent,
        Self::QueueFull,
        Self::Rejected,
        Self::Failed,
        Self::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::QueueFull => "queue_full",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Shutdown => "shutdown",
        }
    }
}

/// A traces request was accepted: its spans are measured (or it was a duplicate).
#[derive(Debug)]
pub struct SpansAccepted {
    /// Which receiver.
    pub receiver: Receiver,
    /// Spans in it (0 for a duplicate batch).
    pub spans: u64,
}

impl SpansAccepted {
    /// Counts the request and its spans. Never logged.
    pub fn emit(self, t: &Telemetry) {
        let r = self.receiver as usize;
        t.accepted[r].fetch_add(1, Ordering::Relaxed);
        t.spans.received[r].fetch_add(self.spans, Ordering::Relaxed);
    }
}

/// The traces counters, part of [`super::Telemetry`].
#[derive(Debug, Default)]
pub struct SpansTelemetry {
    received: [AtomicU64; RECEIVERS],
    results: [AtomicU64; SpanResult::ALL.len()],
    forwarded: [AtomicU64; ForwardOutcome::ALL.len()],
    forward_log: [LogEvery; ForwardOutcome::ALL.len()],
}

impl SpansTelemetry {
    /// Counts `n` spans with one result. Never logged: the counter says it.
    pub fn result(&self, result: SpanResult, n: u64) {
        self.results[result as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Spans so far with this result.
    pub fn results(&self, result: SpanResult) -> u64 {
        self.results[result as usize].load(Ordering::Relaxed)
    }

    /// Counts forwarded spans by outcome; a drop is logged (WARN) at most once per interval
    /// per outcome, with what went wrong (never the request's headers).
    pub fn forwarded(&self, outcome: ForwardOutcome, spans: u64, error: &str) {
        let o = outcome as usize;
        self.forwarded[o].fetch_add(spans, Ordering::Relaxed);
        if outcome == ForwardOutcome::Sent {
            return;
        }
        if let Some(suppressed) = self.forward_log[o].ready() {
            warn!(
                outcome = outcome.as_str(),
                spans,
                error,
                suppressed,
                "Forwarding spans to the tracing backend failed; they are dropped."
            );
        }
    }

    /// Forwarded spans so far with this outcome.
    pub fn forwarded_count(&self, outcome: ForwardOutcome) -> u64 {
        self.forwarded[outcome as usize].load(Ordering::Relaxed)
    }

    /// The families, in [`RENDERED`] order.
    pub(super) fn families(&self) -> Vec<Family> {
        let get = |a: &AtomicU64| Value::Number(a.load(Ordering::Relaxed) as f64);
        vec![
            family(&catalogue::RECEIVED_SPANS, |s| {
                for r in Receiver::ALL {
                    s.push(row(&[r.as_str()], get(&self.received[r as usize])));
                }
            }),
            family(&catalogue::SPANS, |s| {
                for r in SpanResult::ALL {
                    s.push(row(&[r.as_str()], get(&self.results[r as usize])));
                }
            }),
            family(&catalogue::FORWARDED_SPANS, |s| {
                for o in ForwardOutcome::ALL {
                    s.push(row(&[o.as_str()], get(&self.forwarded[o as usize])));
                }
            }),
        ]
    }
}

/// The order in which [`SpansTelemetry::families`] builds its families.
pub(super) static RENDERED: [&MetricDef; 3] = [
    catalogue::RECEIVED_SPANS.def(),
    catalogue::SPANS.def(),
    catalogue::FORWARDED_SPANS.def(),
];
