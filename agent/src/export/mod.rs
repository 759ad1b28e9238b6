//! Batching and sending: scope batches from the scheduler are merged into OTLP requests and sent
//! to the first collector endpoint that takes them.
//!
//! The shape leaves room for the durable buffer: [`Exporter::run`] turns batches into encoded
//! requests (`merge`), and [`transport::Transport`] sends one request. An on-disk write-ahead log
//! slots in between the two without changing either.

pub mod transport;

use crate::config::OtlpConfig;
use dozor_metrics::catalogue::agent;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::sample::{Recorder, ScopeBatch, count_points, to_request};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use transport::Transport;

/// Counters the agent reports about its own sending.
#[derive(Default)]
struct ExportStats {
    points: BTreeMap<&'static str, u64>,
    requests: BTreeMap<(String, &'static str), u64>,
}

impl ExportStats {
    fn batch(&self) -> ScopeBatch {
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

/// Merges batches into requests and sends them.
pub struct Exporter {
    config: OtlpConfig,
    resource: Vec<(String, String)>,
    start_time: u64,
    transport: Transport,
    stats: ExportStats,
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
            stats: ExportStats::default(),
        })
    }

    /// Runs until `rx` closes, then flushes what it holds.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<ScopeBatch>>) {
        let mut pending: Vec<ScopeBatch> = Vec::new();
        let mut pending_points = 0usize;
        let mut queue: VecDeque<ExportMetricsServiceRequest> = VecDeque::new();
        let mut flush = tokio::time::interval(self.config.flush_interval.0);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        while open || !pending.is_empty() || !queue.is_empty() {
            tokio::select! {
                received = rx.recv(), if open => match received {
                    Some(batches) => {
                        pending_points += batches.iter().map(|b| b.samples.len()).sum::<usize>();
                        pending.extend(batches);
                        if pending_points < self.config.max_batch_points {
                            continue;
                        }
                    }
                    None => open = false,
                },
                _ = flush.tick() => {}
            }
            if !pending.is_empty() {
                pending.push(self.stats.batch());
                queue.push_back(to_request(&self.resource, &pending, self.start_time));
                pending.clear();
                pending_points = 0;
                while queue.len() > self.config.queue_batches {
                    if let Some(dropped) = queue.pop_front() {
                        let n = count_points(&dropped);
                        *self.stats.points.entry("dropped").or_default() += n;
                        error!(points = n, "Export queue full; oldest batch dropped.");
                    }
                }
            }
            if let Some(request) = queue.pop_front() {
                self.send_with_retries(request).await;
            }
        }
        info!("Exporter stopped.");
    }

    async fn send_with_retries(&mut self, request: ExportMetricsServiceRequest) {
        let points = count_points(&request);
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=self.config.max_attempts {
            for (endpoint, result) in self.transport.send_failover(&request).await {
                let outcome = match &result {
                    Ok(()) => "sent",
                    Err(e) if e.is_refusal() => "refused",
                    Err(_) => "unreachable",
                };
                *self
                    .stats
                    .requests
                    .entry((endpoint.clone(), outcome))
                    .or_default() += 1;
                match result {
                    Ok(()) => {
                        *self.stats.points.entry("sent").or_default() += points;
                        return;
                    }
                    Err(e) => warn!(endpoint = %endpoint, attempt, error = %e, "Export failed."),
                }
            }
            if attempt < self.config.max_attempts {
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        *self.stats.points.entry("failed").or_default() += points;
        error!(
            points,
            attempts = self.config.max_attempts,
            "Export gave up; batch lost."
        );
    }
}

/// Up to 20% random jitter, from the clock's nanoseconds (no RNG dependency needed for this).
fn jitter(d: Duration) -> Duration {
    let nanos = crate::scheduler::now_nanos() % 1000;
    d + d.mul_f64(nanos as f64 / 5000.0)
}
