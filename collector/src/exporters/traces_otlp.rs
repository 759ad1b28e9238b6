//! Forwarding received traces, unchanged, to a tracing backend over OTLP/HTTP (protobuf)
//! (`spans.forward`, `docs/spans.md`).
//!
//! The receivers hand each accepted request's protobuf to [`Forwarder::push`], which never
//! waits: the request joins a queue bounded in bytes, or is dropped and counted
//! (`queue_full`). [`Forwarder::run`] sends the queue one request at a time, retrying a
//! transport error, 429 or 5xx up to `max_attempts` in all, and counts every span by outcome
//! (`dozor.collector.forwarded.spans`). Requests still queued at shutdown are counted as
//! dropped (`shutdown`): forwarding is best effort, the RED metrics are the collector's record.

use crate::config::spans::Forward;
use crate::telemetry::Telemetry;
use crate::telemetry::spans::ForwardOutcome;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Why the forwarder could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A header name or value is invalid (validated with the configuration first).
    #[error("spans.forward.headers.{0}: invalid header")]
    Header(String),
    /// reqwest could not build its client.
    #[error("spans.forward: building the HTTP client: {0}")]
    Client(reqwest::Error),
}

#[derive(Debug, Default)]
struct Queue {
    requests: VecDeque<(Bytes, u64)>,
    bytes: u64,
}

/// The queue and the client.
#[derive(Debug)]
pub struct Forwarder {
    queue: Mutex<Queue>,
    ready: Notify,
    max_bytes: u64,
    max_attempts: u32,
    endpoint: String,
    http: reqwest::Client,
    telemetry: Arc<Telemetry>,
}

impl Forwarder {
    /// A forwarder for `config`; the caller spawns [`Forwarder::run`].
    pub fn new(config: &Forward, telemetry: Arc<Telemetry>) -> Result<Forwarder, ForwardError> {
        // One crypto provider for rustls in this process (the receivers use ring too).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.headers {
            let bad = || ForwardError::Header(name.clone());
            let mut value = http::HeaderValue::from_str(value).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?,
                value,
            );
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout.0)
            .build()
            .map_err(ForwardError::Client)?;
        Ok(Forwarder {
            queue: Mutex::default(),
            ready: Notify::new(),
            max_bytes: config.queue_max_bytes,
            max_attempts: config.max_attempts.max(1),
            endpoint: config.endpoint.clone(),
            http,
            telemetry,
        })
    }

    /// Queues one request's protobuf holding `spans` spans, or drops it when the queue has
    /// no room. Never waits.
    pub fn push(&self, body: &[u8], spans: u64) {
        let len = body.len() as u64;
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.bytes.saturating_add(len) > self.max_bytes {
                drop(q);
                let error = format!("queue full ({} bytes)", self.max_bytes);
                self.telemetry
                    .spans
                    .forwarded(ForwardOutcome::QueueFull, spans, &error);
                return;
            }
            q.bytes += len;
            q.requests.push_back((Bytes::copy_from_slice(body), spans));
        }
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<(Bytes, u64)> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let (body, spans) = q.requests.pop_front()?;
        q.bytes -= body.len() as u64;
        Some((body, spans))
    }

    /// Sends queued requests until `stop` resolves; what is left then is counted as dropped.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let next = self.pop();
            let Some((body, spans)) = next else {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = self.ready.notified() => continue,
                }
            };
            tokio::select! {
                _ = &mut stop => {
                    self.telemetry.spans.forwarded(ForwardOutcome::Shutdown, spans, "stopping");
                    break;
                }
                (outcome, error) = self.send(body) => {
                    self.telemetry.spans.forwarded(outcome, spans, &error);
                }
            }
        }
        self.drop_queued();
    }

    /// Counts every request still queued as dropped at shutdown (also those the receivers
    /// queued while they finished after [`Forwarder::run`] stopped).
    pub fn drop_queued(&self) {
        while let Some((_, spans)) = self.pop() {
            self.telemetry
                .spans
                .forwarded(ForwardOutcome::Shutdown, spans, "stopping");
        }
    }

    /// One request, with its retries.
    async fn send(&self, body: Bytes) -> (ForwardOutcome, String) {
        let mut error = String::new();
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1).min(5))).await;
            }
            match self
                .http
                .post(&self.endpoint)
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return (ForwardOutcome::Sent, String::new()),
                Ok(r) => {
                    let status = r.status();
                    error = format!("{} answered {status}", self.endpoint);
                    if status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS {
                        return (ForwardOutcome::Rejected, error);
                    }
                }
                // reqwest's error names the URL, never the headers.
                Err(e) => error = e.to_string(),
            }
        }
        (ForwardOutcome::Failed, error)
    }
}
