//! Batching and sending: scope batches from the scheduler are merged into OTLP requests, queued,
//! and sent to the first collector endpoint that takes them.
//!
//! Two tasks, so that a slow or absent collector never blocks collection:
//! - the batcher ([`batch`]) merges batches until `max_batch_points` or `flush_interval` after
//!   the first one arrived (no timer runs while there is nothing to send), and pushes the request
//!   onto a bounded [`queue::Queue`] that drops the oldest request when full, counting its points;
//! - the sender takes requests off the queue and sends them with retries and failover
//!   ([`transport::Transport`]).
//!
//! The durable buffer (issue #3) replaces the in-memory queue; neither task changes.

mod queue;
mod stats;
pub mod transport;

use crate::config::OtlpConfig;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::sample::{ScopeBatch, count_points, to_request};
use queue::Queue;
use stats::ExportStats;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};
use transport::Transport;

/// Merges batches into requests and sends them.
pub struct Exporter {
    config: OtlpConfig,
    resource: Vec<(String, String)>,
    start_time: u64,
    transport: Transport,
    stats: Arc<Mutex<ExportStats>>,
}

impl Exporter {
    /// An exporter for the given config and resource identity.
    pub fn new(
        config: OtlpConfig,
        resource: Vec<(String, String)>,
        start_time: u64,
    ) -> anyhow::Result<Self> {
        let transport = Transport::new(&config)?;
        Ok(Exporter {
            config,
            resource,
            start_time,
            transport,
            stats: Arc::default(),
        })
    }

    /// Runs until `rx` closes, then sends what it holds and returns.
    pub async fn run(self, rx: mpsc::Receiver<Vec<ScopeBatch>>) {
        let queue = Arc::new(Queue::new(self.config.queue_batches));
        let batcher = Batcher {
            flush_interval: self.config.flush_interval.0,
            max_points: self.config.max_batch_points,
            resource: self.resource,
            start_time: self.start_time,
            stats: self.stats.clone(),
            queue: queue.clone(),
        };
        let sender = Sender {
            max_attempts: self.config.max_attempts,
            transport: self.transport,
            stats: self.stats,
        };
        let batching = tokio::spawn(batcher.run(rx));
        sender.run(&queue).await;
        let _ = batching.await;
        info!("Exporter stopped.");
    }
}

struct Batcher {
    flush_interval: Duration,
    max_points: usize,
    resource: Vec<(String, String)>,
    start_time: u64,
    stats: Arc<Mutex<ExportStats>>,
    queue: Arc<Queue>,
}

impl Batcher {
    async fn run(self, mut rx: mpsc::Receiver<Vec<ScopeBatch>>) {
        let mut pending: Vec<ScopeBatch> = Vec::new();
        let mut points = 0usize;
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Some(batches) => {
                        deadline.get_or_insert_with(|| Instant::now() + self.flush_interval);
                        points += batches.iter().map(|b| b.samples.len()).sum::<usize>();
                        pending.extend(batches);
                        if points < self.max_points {
                            continue;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
            }
            self.flush(&mut pending);
            points = 0;
            deadline = None;
        }
        self.flush(&mut pending);
        self.queue.close();
    }

    fn flush(&self, pending: &mut Vec<ScopeBatch>) {
        if pending.is_empty() {
            return;
        }
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(stats.batch());
        let request = to_request(&self.resource, pending, self.start_time);
        pending.clear();
        if let Some(dropped) = self.queue.push(request) {
            let n = count_points(&dropped);
            stats.count_points("dropped", n);
            error!(points = n, "Export queue full; oldest batch dropped.");
        }
    }
}

struct Sender {
    max_attempts: u32,
    transport: Transport,
    stats: Arc<Mutex<ExportStats>>,
}

impl Sender {
    async fn run(mut self, queue: &Queue) {
        while let Some(request) = queue.pop().await {
            self.send_with_retries(request).await;
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, ExportStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send_with_retries(&mut self, request: ExportMetricsServiceRequest) {
        let points = count_points(&request);
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=self.max_attempts {
            for (endpoint, result) in self.transport.send_failover(&request).await {
                let outcome = match &result {
                    Ok(()) => "sent",
                    Err(e) if e.is_refusal() => "refused",
                    Err(_) => "unreachable",
                };
                self.stats().count_request(&endpoint, outcome);
                match result {
                    Ok(()) => {
                        self.stats().count_points("sent", points);
                        return;
                    }
                    Err(e) => warn!(endpoint = %endpoint, attempt, error = %e, "Export failed."),
                }
            }
            if attempt < self.max_attempts {
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        self.stats().count_points("failed", points);
        error!(
            points,
            attempts = self.max_attempts,
            "Export gave up; batch lost."
        );
    }
}

/// Up to 20% random jitter, from the clock's nanoseconds (no RNG dependency needed for this).
fn jitter(d: Duration) -> Duration {
    let nanos = crate::scheduler::now_nanos() % 1000;
    d + d.mul_f64(nanos as f64 / 5000.0)
}
