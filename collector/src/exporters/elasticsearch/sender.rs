//! The sender: reads the outbox in order, posts `_bulk` requests, settles every document, and
//! acknowledges outbox records only once all of their documents are settled.
//!
//! A window of records (up to `max_batch_records` documents or `max_batch_bytes`, or whatever
//! arrived within `flush_interval`) is sent until each of its documents is indexed (2xx), a
//! duplicate (409) or rejected (another 4xx, counted and logged with Elasticsearch's reason,
//! never retried); documents whose item failed with 429 or 5xx, and all documents of a request
//! that failed as a whole, are sent again after a backoff. Then the window is acknowledged.
//! Stopping in the middle leaves the window in the outbox: it is sent again after the restart,
//! and what was already indexed comes back as 409 duplicates.

use super::bulk::{self, Item};
use super::client::{Answer, Client};
use super::document;
use super::outbox::{Outbox, OutboxError};
use crate::config::elasticsearch::Elasticsearch;
use crate::telemetry::Telemetry;
use crate::telemetry::logs::{
    BulkDone, BulkOutcome, DocumentRejected, DocumentsRetried, DocumentsSettled, OutboxDropped,
};
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::error;

/// One document waiting for its bulk item.
#[derive(Debug)]
struct Doc {
    id: String,
    /// Its action and source lines.
    lines: Vec<u8>,
}

/// The documents of one outbox record.
#[derive(Debug)]
struct Pending {
    position: u64,
    docs: Vec<Doc>,
}

/// The sending task's state.
#[derive(Debug)]
pub struct Sender {
    outbox: Arc<Outbox>,
    client: Client,
    telemetry: Arc<Telemetry>,
    config: Elasticsearch,
}

impl Sender {
    /// A sender for `outbox`.
    pub fn new(
        outbox: Arc<Outbox>,
        client: Client,
        telemetry: Arc<Telemetry>,
        config: Elasticsearch,
    ) -> Self {
        Sender {
            outbox,
            client,
            telemetry,
            config,
        }
    }

    /// Sends until `stop` resolves.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            self.gauges();
            let window = tokio::select! {
                _ = &mut stop => return,
                w = self.gather() => w,
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = self.settle(&window) => {}
            }
            if let Some(last) = window.last()
                && let Err(e) = self.outbox.ack(last.position)
            {
                // The records stay and are sent again: duplicates, not loss.
                error!(error = %e, "Acknowledging the logs outbox failed.");
            }
        }
    }

    fn gauges(&self) {
        let (batches, bytes) = self.outbox.usage();
        self.telemetry.logs.outbox(batches, bytes);
    }

    /// Reads records until the window is full, or `flush_interval` passed since its first.
    async fn gather(&self) -> Vec<Pending> {
        let (max_docs, max_bytes) = (self.config.max_batch_records, self.config.max_batch_bytes);
        let mut window: Vec<Pending> = Vec::new();
        let (mut docs, mut bytes) = (0, 0);
        let mut deadline: Option<Instant> = None;
        loop {
            match self.outbox.read_next() {
                Ok(Some(entry)) => {
                    let pending = match ExportLogsServiceRequest::decode(entry.request.as_slice()) {
                        Ok(request) => self.pending(entry.position, &entry.origin, &request),
                        Err(e) => {
                            let error = format!("record {}: {e}", entry.position);
                            OutboxDropped {
                                batches: 1,
                                error: &error,
                            }
                            .emit(&self.telemetry);
                            Pending {
                                position: entry.position,
                                docs: Vec::new(),
                            }
                        }
                    };
                    docs += pending.docs.len();
                    bytes += pending.docs.iter().map(|d| d.lines.len()).sum::<usize>();
                    window.push(pending);
                    deadline.get_or_insert_with(|| Instant::now() + self.config.flush_interval.0);
                    if docs >= max_docs || bytes >= max_bytes {
                        return window;
                    }
                }
                Ok(None) => {
                    let wait = match deadline {
                        Some(d) if Instant::now() >= d => return window,
                        Some(d) => d - Instant::now(),
                        None => self.config.flush_interval.0.max(Duration::from_millis(100)),
                    };
                    let _ = tokio::time::timeout(wait, self.outbox.appended.notified()).await;
                    if deadline.is_none() {
                        self.gauges();
                    }
                }
                Err(OutboxError::Malformed(position)) => {
                    let error = format!("record {position}: malformed header");
                    OutboxDropped {
                        batches: 1,
                        error: &error,
                    }
                    .emit(&self.telemetry);
                    window.push(Pending {
                        position,
                        docs: Vec::new(),
                    });
                }
                Err(OutboxError::Buffer(dozor_buffer::Error::Corrupt { .. })) => {
                    // The rest of that segment is skipped by the next read.
                    OutboxDropped {
                        batches: 1,
                        error: "corrupt record",
                    }
                    .emit(&self.telemetry);
                }
                Err(e) => {
                    error!(error = %e, "Reading the logs outbox failed; retrying.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if !window.is_empty() {
                        return window;
                    }
                }
            }
        }
    }

    fn pending(
        &self,
        position: u64,
        origin: &super::outbox::Origin,
        request: &ExportLogsServiceRequest,
    ) -> Pending {
        let index = &self.config.index;
        let docs = document::documents(origin, request, &self.config.document_id_attribute, index)
            .into_iter()
            .map(|d| {
                let mut lines = Vec::new();
                bulk::append(&mut lines, index, &d);
                Doc { id: d.id, lines }
            })
            .collect();
        Pending { position, docs }
    }

    /// Sends the window's documents until every one is settled.
    async fn settle(&mut self, window: &[Pending]) {
        let docs: Vec<&Doc> = window.iter().flat_map(|p| &p.docs).collect();
        let mut settled = vec![false; docs.len()];
        let mut attempt = 0u32;
        loop {
            let open: Vec<usize> = (0..docs.len()).filter(|i| !settled[*i]).collect();
            if open.is_empty() {
                return;
            }
            let mut retry = false;
            for chunk in self.chunks(&open, &docs) {
                retry |= self.send(&chunk, &docs, &mut settled).await;
            }
            if retry {
                tokio::time::sleep(self.backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
            } else {
                attempt = 0;
            }
        }
    }

    /// `open` split into requests of at most `max_batch_records` documents and
    /// `max_batch_bytes` (a larger single document goes alone).
    fn chunks(&self, open: &[usize], docs: &[&Doc]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut bytes = 0;
        for &i in open {
            let len = docs[i].lines.len();
            match out.last_mut() {
                Some(c)
                    if c.len() < self.config.max_batch_records
                        && bytes + len <= self.config.max_batch_bytes =>
                {
                    c.push(i);
                    bytes += len;
                }
                _ => {
                    out.push(vec![i]);
                    bytes = len;
                }
            }
        }
        out
    }

    /// Sends one request; marks what it settled. True when something must be sent again.
    async fn send(&mut self, chunk: &[usize], docs: &[&Doc], settled: &mut [bool]) -> bool {
        let body: Vec<u8> = chunk
            .iter()
            .flat_map(|&i| docs[i].lines.iter().copied())
            .collect();
        let endpoint = self.client.endpoint().to_string();
        let failed = |outcome, error: &str, t: &Telemetry| {
            BulkDone {
                outcome,
                endpoint: &endpoint,
                error,
            }
            .emit(t);
            DocumentsRetried {
                count: chunk.len() as u64,
            }
            .emit(t);
            true
        };
        let (status, body) = match self.client.bulk(body).await {
            Answer::Transport(e) => {
                return failed(BulkOutcome::TransportError, &e, &self.telemetry);
            }
            Answer::Response { status, body } => (status, body),
        };
        if status != 200 {
            let error = format!("HTTP {status}: {}", bulk::error_summary(&body));
            return failed(BulkOutcome::HttpError, &error, &self.telemetry);
        }
        let items = match bulk::parse_response(&body, chunk.len()) {
            Ok(items) => items,
            Err(e) => return failed(BulkOutcome::HttpError, &e, &self.telemetry),
        };
        let (mut indexed, mut duplicate, mut retried) = (0, 0, 0);
        let mut first_retry = None;
        for (&i, item) in chunk.iter().zip(&items) {
            match item {
                Item::Indexed => indexed += 1,
                Item::Duplicate => duplicate += 1,
                Item::Retry { status } => {
                    retried += 1;
                    first_retry.get_or_insert(*status);
                    continue;
                }
                Item::Rejected {
                    status,
                    error_type,
                    reason,
                } => DocumentRejected {
                    error_type,
                    reason,
                    id: &docs[i].id,
                    status: *status,
                }
                .emit(&self.telemetry),
            }
            settled[i] = true;
        }
        DocumentsSettled { indexed, duplicate }.emit(&self.telemetry);
        let all_ok = (indexed + duplicate) as usize == chunk.len();
        let error = match first_retry {
            Some(s) => format!("{retried} items failed with status {s} or similar"),
            None => "some items rejected".to_string(),
        };
        BulkDone {
            outcome: if all_ok {
                BulkOutcome::Ok
            } else {
                BulkOutcome::ItemErrors
            },
            endpoint: &endpoint,
            error: &error,
        }
        .emit(&self.telemetry);
        if retried > 0 {
            DocumentsRetried { count: retried }.emit(&self.telemetry);
        }
        retried > 0
    }

    /// Exponential backoff with full jitter: a random wait up to
    /// `initial_backoff * 2^attempt`, at most `max_backoff`, and at least a tenth of it.
    fn backoff(&self, attempt: u32) -> Duration {
        let r = &self.config.retry;
        let cap = r
            .initial_backoff
            .0
            .saturating_mul(1u32 << attempt.min(20))
            .min(r.max_backoff.0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let fraction = 0.1 + 0.9 * f64::from(nanos % 1000) / 1000.0;
        cap.mul_f64(fraction)
    }
}
