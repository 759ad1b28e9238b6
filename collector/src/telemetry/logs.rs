//! The collector's counters about OTLP logs and the Elasticsearch exporter, and the events that
//! count and log them (one type per event, as in [`super::events`]).

use super::log_every::LogEvery;
use super::{REFUSALS, Receiver, Refusal, Telemetry, family, row};
use dozor_metrics::MetricDef;
use dozor_metrics::catalogue::collector as catalogue;
use dozor_metrics::exposition::{Family, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{error, warn};

const RECEIVERS: usize = Receiver::ALL.len();

/// What became of a document in Elasticsearch, the `outcome` of
/// `dozor.collector.elasticsearch.documents`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentOutcome {
    /// 2xx: indexed.
    Indexed,
    /// 409 under `create`: a document with its `_id` was already there (a redelivery).
    Duplicate,
    /// Another 4xx (a mapping error): Elasticsearch will never take it; not retried.
    Rejected,
}

impl DocumentOutcome {
    /// Every outcome, in label order.
    pub const ALL: [DocumentOutcome; 3] = [Self::Indexed, Self::Duplicate, Self::Rejected];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Indexed => "indexed",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }
}

/// The `reason` of a rejected document: Elasticsearch's `error.type`, from a bounded list.
pub const REJECT_REASONS: [&str; 8] = [
    "mapper_parsing_exception",
    "document_parsing_exception",
    "strict_dynamic_mapping_exception",
    "illegal_argument_exception",
    "index_not_found_exception",
    "security_exception",
    "invalid_index_name_exception",
    "other",
];

/// The label value for an Elasticsearch error type: itself when listed, else `other`.
pub fn reject_reason(error_type: &str) -> &'static str {
    REJECT_REASONS
        .iter()
        .find(|r| **r == error_type)
        .copied()
        .unwrap_or("other")
}

/// How a bulk request ended, the `outcome` of `dozor.collector.elasticsearch.bulk.requests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkOutcome {
    /// 200, every item indexed or a duplicate.
    Ok,
    /// 200, some items rejected or to be retried.
    ItemErrors,
    /// Another HTTP status for the whole request (retried).
    HttpError,
    /// No answer: connection refused, reset, TLS, timeout (retried, on the next endpoint).
    TransportError,
}

impl BulkOutcome {
    /// Every outcome, in label order.
    pub const ALL: [BulkOutcome; 4] = [
        Self::Ok,
        Self::ItemErrors,
        Self::HttpError,
        Self::TransportError,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ItemErrors => "item_errors",
            Self::HttpError => "http_error",
            Self::TransportError => "transport_error",
        }
    }
}

/// The logs and exporter counters, part of [`Telemetry`].
#[derive(Debug, Default)]
pub struct LogsTelemetry {
    received: [AtomicU64; RECEIVERS],
    refused: [[AtomicU64; REFUSALS]; RECEIVERS],
    documents: [AtomicU64; DocumentOutcome::ALL.len()],
    rejected: [AtomicU64; REJECT_REASONS.len()],
    retried: AtomicU64,
    bulk: [AtomicU64; BulkOutcome::ALL.len()],
    outbox_batches: AtomicU64,
    outbox_bytes: AtomicU64,
    outbox_dropped: AtomicU64,
    rejected_log: [LogEvery; REJECT_REASONS.len()],
    bulk_log: [LogEvery; BulkOutcome::ALL.len()],
}

impl LogsTelemetry {
    /// Documents so far with this outcome.
    pub fn documents(&self, outcome: DocumentOutcome) -> u64 {
        self.documents[outcome as usize].load(Ordering::Relaxed)
    }

    /// Documents sent again so far.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// Bulk requests so far that ended with `outcome`.
    pub fn bulk(&self, outcome: BulkOutcome) -> u64 {
        self.bulk[outcome as usize].load(Ordering::Relaxed)
    }

    /// The outbox gauges: batches and bytes waiting.
    pub fn outbox_usage(&self) -> (u64, u64) {
        (
            self.outbox_batches.load(Ordering::Relaxed),
            self.outbox_bytes.load(Ordering::Relaxed),
        )
    }

    /// Log records received so far by one receiver.
    pub fn received(&self, receiver: Receiver) -> u64 {
        self.received[receiver as usize].load(Ordering::Relaxed)
    }

    /// Sets the outbox gauges.
    pub fn outbox(&self, batches: u64, bytes: u64) {
        self.outbox_batches.store(batches, Ordering::Relaxed);
        self.outbox_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The families, in [`RENDERED`] order.
    pub(super) fn families(&self) -> Vec<Family> {
        let get = |a: &AtomicU64| Value::Number(a.load(Ordering::Relaxed) as f64);
        vec![
            family(&catalogue::RECEIVED_LOG_RECORDS, |s| {
                for r in Receiver::ALL {
                    s.push(row(&[r.as_str()], get(&self.received[r as usize])));
                }
            }),
            family(&catalogue::REFUSED_LOG_RECORDS, |s| {
                for r in Receiver::ALL {
                    for reason in Refusal::ALL {
                        let v = get(&self.refused[r as usize][reason as usize]);
                        s.push(row(&[r.as_str(), reason.as_str()], v));
                    }
                }
            }),
            family(&catalogue::ELASTICSEARCH_DOCUMENTS, |s| {
                for o in DocumentOutcome::ALL {
                    s.push(row(&[o.as_str()], get(&self.documents[o as usize])));
                }
            }),
            family(&catalogue::ELASTICSEARCH_REJECTED_DOCUMENTS, |s| {
                for (i, reason) in REJECT_REASONS.iter().enumerate() {
                    s.push(row(&[reason], get(&self.rejected[i])));
                }
            }),
            family(&catalogue::ELASTICSEARCH_RETRIED_DOCUMENTS, |s| {
                s.push(row(&[], get(&self.retried)))
            }),
            family(&catalogue::ELASTICSEARCH_BULK_REQUESTS, |s| {
                for o in BulkOutcome::ALL {
                    s.push(row(&[o.as_str()], get(&self.bulk[o as usize])));
                }
            }),
            family(&catalogue::OUTBOX_BATCHES, |s| {
                s.push(row(&[], get(&self.outbox_batches)))
            }),
            family(&catalogue::OUTBOX_SIZE, |s| {
                s.push(row(&[], get(&self.outbox_bytes)))
            }),
            family(&catalogue::OUTBOX_DROPPED_BATCHES, |s| {
                s.push(row(&[], get(&self.outbox_dropped)))
            }),
        ]
    }
}

/// The order in which [`LogsTelemetry::families`] builds its families.
pub(super) static RENDERED: [&MetricDef; 9] = [
    catalogue::RECEIVED_LOG_RECORDS.def(),
    catalogue::REFUSED_LOG_RECORDS.def(),
    catalogue::ELASTICSEARCH_DOCUMENTS.def(),
    catalogue::ELASTICSEARCH_REJECTED_DOCUMENTS.def(),
    catalogue::ELASTICSEARCH_RETRIED_DOCUMENTS.def(),
    catalogue::ELASTICSEARCH_BULK_REQUESTS.def(),
    catalogue::OUTBOX_BATCHES.def(),
    catalogue::OUTBOX_SIZE.def(),
    catalogue::OUTBOX_DROPPED_BATCHES.def(),
];

/// A logs request was accepted: its records are in the outbox (or it was a duplicate).
#[derive(Debug)]
pub struct LogsAccepted {
    /// Which receiver.
    pub receiver: Receiver,
    /// Log records appended to the outbox (0 for a duplicate batch).
    pub records: u64,
}

impl LogsAccepted {
    /// Counts the request and its records. Never logged.
    pub fn emit(self, t: &Telemetry) {
        let r = self.receiver as usize;
        t.accepted[r].fetch_add(1, Ordering::Relaxed);
        t.logs.received[r].fetch_add(self.records, Ordering::Relaxed);
    }
}

/// A decoded logs request was refused (the request itself is counted by `RequestRefused`).
#[derive(Debug)]
pub struct LogRecordsRefused {
    /// Which receiver.
    pub receiver: Receiver,
    /// Why.
    pub reason: Refusal,
    /// Log records in it.
    pub records: u64,
}

impl LogRecordsRefused {
    /// Counts the records. The log line is `RequestRefused`'s.
    pub fn emit(self, t: &Telemetry) {
        t.logs.refused[self.receiver as usize][self.reason as usize]
            .fetch_add(self.records, Ordering::Relaxed);
    }
}

/// Documents Elasticsearch took (indexed) or already had (duplicate).
#[derive(Debug)]
pub struct DocumentsSettled {
    /// Indexed now.
    pub indexed: u64,
    /// Already there.
    pub duplicate: u64,
}

impl DocumentsSettled {
    /// Counts them; routine, never logged.
    pub fn emit(self, t: &Telemetry) {
        let d = &t.logs.documents;
        d[DocumentOutcome::Indexed as usize].fetch_add(self.indexed, Ordering::Relaxed);
        d[DocumentOutcome::Duplicate as usize].fetch_add(self.duplicate, Ordering::Relaxed);
    }
}

/// Elasticsearch refused a document for good (a mapping error): it is not retried.
pub struct DocumentRejected<'a> {
    /// Elasticsearch's `error.type`.
    pub error_type: &'a str,
    /// Elasticsearch's `error.reason`.
    pub reason: &'a str,
    /// The document's `_id`.
    pub id: &'a str,
    /// The HTTP status of the item.
    pub status: u16,
}

impl DocumentRejected<'_> {
    /// Counts it; logs an ERROR (data lost) at most once per interval per reason, with
    /// Elasticsearch's own explanation.
    pub fn emit(self, t: &Telemetry) {
        let label = reject_reason(self.error_type);
        let i = REJECT_REASONS.iter().position(|r| *r == label).unwrap_or(0);
        t.logs.documents[DocumentOutcome::Rejected as usize].fetch_add(1, Ordering::Relaxed);
        t.logs.rejected[i].fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = t.logs.rejected_log[i].ready() {
            error!(
                error_type = self.error_type,
                status = self.status,
                reason = ?self.reason,
                id = self.id,
                suppressed,
                "Elasticsearch rejected a document; it is dropped."
            );
        }
    }
}

/// Documents are sent again: their item or their whole request failed.
#[derive(Debug)]
pub struct DocumentsRetried {
    /// How many.
    pub count: u64,
}

impl DocumentsRetried {
    /// Counts them; the cause is logged by [`BulkDone`].
    pub fn emit(self, t: &Telemetry) {
        t.logs.retried.fetch_add(self.count, Ordering::Relaxed);
    }
}

/// A bulk request ended.
pub struct BulkDone<'a> {
    /// How.
    pub outcome: BulkOutcome,
    /// The endpoint.
    pub endpoint: &'a str,
    /// What went wrong, for failures.
    pub error: &'a str,
}

impl BulkDone<'_> {
    /// Counts it; a failure is logged (WARN: the outbox keeps the documents) at most once per
    /// interval per outcome.
    pub fn emit(self, t: &Telemetry) {
        let o = self.outcome as usize;
        t.logs.bulk[o].fetch_add(1, Ordering::Relaxed);
        if self.outcome == BulkOutcome::Ok {
            return;
        }
        if let Some(suppressed) = t.logs.bulk_log[o].ready() {
            warn!(
                outcome = self.outcome.as_str(),
                endpoint = self.endpoint,
                error = ?self.error,
                suppressed,
                "Elasticsearch bulk request failed; will retry."
            );
        }
    }
}

/// Outbox records were lost: corrupt on disk, or unreadable.
#[derive(Debug)]
pub struct OutboxDropped<'a> {
    /// Outbox records (accepted logs requests).
    pub batches: u64,
    /// What happened.
    pub error: &'a str,
}

impl OutboxDropped<'_> {
    /// Counts them and logs an ERROR: accepted log records were lost.
    pub fn emit(self, t: &Telemetry) {
        if self.batches == 0 {
            return;
        }
        t.logs
            .outbox_dropped
            .fetch_add(self.batches, Ordering::Relaxed);
        error!(
            batches = self.batches,
            error = self.error,
            "Logs outbox records lost."
        );
    }
}
