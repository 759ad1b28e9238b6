//! Delivery that loses nothing (issue #3): scope batches from the scheduler are merged into
//! OTLP requests, written to the durable on-disk buffer, and sent to the first collector
//! endpoint that takes them, at least once.
//!
//! - The batcher ([`Batcher`]) merges batches until `max_batch_points` or `flush_interval`
//!   after the first one arrived, encodes the request and appends it to the buffer with its
//!   point count (the record's weight) — the protobuf bytes, uncompressed: gRPC compresses
//!   per message itself and the pass-through codec hands tonic the stored bytes, so one stored
//!   form serves both protocols and survives a change of `protocol` or `gzip` across restarts.
//!   When the buffer is full it drops the oldest segments (counted exactly) or pauses.
//! - Two lanes send ([`lanes`]): fresh batches at once, the backlog in order at a bounded rate.
//! - Every request carries the stream identity and its seq (`docs/adr/0005-delivery-protocol.md`).
//! - Log records take the same path from their own buffer, the logs outbox ([`logs`]), which
//!   integrations append to directly; its replay lane sends them to the logs endpoint.
//! - What `dozor-agent status` shows is published on the admin board: each request's outcome
//!   by the lanes, the buffers and counters once a second by [`publish`].

mod breaker;
pub mod config;
mod counts;
mod handover;
mod lanes;
pub mod logs;
mod progress;
mod retry;
pub mod secrets;
pub mod signal;
mod stats;
pub mod transport;
mod wal;
mod window;

use crate::admin::Board;
use crate::admin::status::BufferStatus;
use anyhow::Context;
use config::{OtlpConfig, SyncMode, WhenFull};
use dozor_buffer::{Full, Options, SyncPolicy};
use dozor_metrics::sample::{ScopeBatch, count_points, to_request};
use lanes::{Fresh, Lanes};
use prost::Message;
use signal::Signal;
use stats::ExportStats;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};
use transport::Transport;
use wal::Wal;

/// Batches waiting for the live lane; beyond this the replay lane takes them from disk.
const LIVE_QUEUE: usize = 4;

/// Merges batches into requests, buffers them on disk and sends them.
pub struct Exporter {
    config: OtlpConfig,
    resource: Vec<(String, String)>,
    start_time: u64,
    wal: Arc<Wal>,
    lanes: Arc<Lanes>,
    stats: Arc<Mutex<ExportStats>>,
    logs: Arc<logs::Outbox>,
    logs_lanes: Arc<Lanes>,
    shutdown: watch::Sender<Option<Instant>>,
    board: Arc<Board>,
}

/// The buffer options for the configuration.
pub fn buffer_options(config: &OtlpConfig) -> Options {
    let b = &config.buffer;
    options(b.segment_bytes, b.max_bytes, b.when_full, b.sync)
}

/// Buffer options from the configured sizes and policies (the metrics buffer's or the logs
/// outbox's).
fn options(segment_bytes: u64, max_bytes: u64, when_full: WhenFull, sync: SyncMode) -> Options {
    Options {
        segment_bytes,
        max_bytes,
        full: match when_full {
            WhenFull::DropOldest => Full::DropOldest,
            WhenFull::Pause => Full::Reject,
        },
        sync: match sync {
            SyncMode::Never => SyncPolicy::Never,
            SyncMode::Interval => SyncPolicy::Interval(Duration::from_secs(1)),
            SyncMode::Always => SyncPolicy::Always,
        },
    }
}

impl Exporter {
    /// An exporter for the given config and resource identity: opens (and locks) the buffer,
    /// reads the token and TLS files, and builds the clients, for metrics and for the logs
    /// already opened in `logs` ([`logs::Outbox::open`]).
    pub fn new(
        config: OtlpConfig,
        resource: Vec<(String, String)>,
        start_time: u64,
        logs: Arc<logs::Outbox>,
        board: Arc<Board>,
    ) -> anyhow::Result<Self> {
        let dir = config.buffer.resolved_path();
        let wal = Arc::new(Wal::open(&dir, buffer_options(&config))?);
        let token = secrets::token(&config.auth)?;
        let tls = secrets::tls(&config.tls)?;
        let agent = resource
            .iter()
            .find(|(k, _)| k == "service.instance.id")
            .map(|(_, v)| agent_header(v))
            .unwrap_or_else(|| "unknown".into());
        let (shutdown, shutdown_rx) = watch::channel(None);
        let lanes = |wal: Arc<Wal>, signal, stats| -> anyhow::Result<Arc<Lanes>> {
            let sender = transport::Sender {
                agent: agent.clone(),
                stream: wal.stream().to_string(),
                token: token.clone(),
            };
            let transport = Transport::new(&config, &tls, sender, signal)
                .context("setting up the collector clients")?;
            Ok(Arc::new(Lanes::new(
                wal,
                transport,
                (
                    config.circuit_breaker.failures,
                    config.circuit_breaker.cooldown.0,
                ),
                stats,
                (config.retry.initial_backoff.0, config.retry.max_backoff.0),
                config.replay_rate,
                shutdown_rx.clone(),
                board.clone(),
            )))
        };
        let counts = counts::Counts::open(&dir);
        let stats = Arc::new(Mutex::new(ExportStats::new(Signal::Metrics, counts)));
        let metrics_lanes = lanes(wal.clone(), Signal::Metrics, stats.clone())?;
        let logs_lanes = lanes(logs.wal(), Signal::Logs, logs.stats())?;
        Ok(Exporter {
            config,
            resource,
            start_time,
            wal,
            lanes: metrics_lanes,
            stats,
            logs,
            logs_lanes,
            shutdown,
            board,
        })
    }

    /// Runs until `rx` closes; then writes what the batcher holds to the buffer, sends for at
    /// most `shutdown_timeout`, and leaves the rest on disk.
    pub async fn run(self, rx: mpsc::Receiver<Vec<ScopeBatch>>) {
        let (live_tx, live_rx) = mpsc::channel(LIVE_QUEUE);
        let live = tokio::spawn(self.lanes.clone().live(live_rx));
        let replay = tokio::spawn(self.lanes.clone().replay());
        let logs_replay = tokio::spawn(self.logs_lanes.clone().replay());
        let progress = tokio::spawn(progress::replay(self.wal.clone(), self.config.replay_rate));
        let published = tokio::spawn(publish(
            self.board.clone(),
            [
                (Signal::Metrics, self.wal.clone(), self.stats.clone()),
                (Signal::Logs, self.logs.wal(), self.logs.stats()),
            ],
        ));
        let batcher = Batcher {
            flush_interval: self.config.flush_interval.0,
            max_points: self.config.max_batch_points,
            resource: self.resource,
            start_time: self.start_time,
            stats: self.stats.clone(),
            wal: self.wal.clone(),
            logs: self.logs.clone(),
            live: live_tx,
            direct: self.lanes.clone(),
            shutdown: self.shutdown.subscribe(),
        };
        batcher
            .run(rx, &self.shutdown, self.config.shutdown_timeout.0)
            .await;
        let _ = live.await;
        let _ = replay.await;
        let _ = logs_replay.await;
        published.abort();
        progress.abort();
        if let Err(e) = self.wal.sync() {
            error!(error = %e, "Syncing the buffer failed.");
        }
        // The logs outbox is synced by every append.
        let left = self.wal.backlog();
        let logs_left = self.logs.backlog();
        info!(
            backlog_records = left.records,
            backlog_bytes = left.bytes,
            logs_backlog_records = logs_left.records,
            logs_backlog_bytes = logs_left.bytes,
            "Exporter stopped."
        );
    }
}

/// How often the buffers and counters are published on the admin board.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Publishes each signal's buffer and counters on `board` every [`PUBLISH_EVERY`]. Reading the
/// buffer takes its lock for a moment; a buffer stuck on its disk leaves its last state shown.
async fn publish(board: Arc<Board>, signals: [(Signal, Arc<Wal>, Arc<Mutex<ExportStats>>); 2]) {
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        for (signal, wal, stats) in &signals {
            let backlog = wal.backlog();
            let (totals, paused) = stats.lock().unwrap_or_else(|e| e.into_inner()).totals();
            let buffer = BufferStatus {
                records: backlog.records,
                points: backlog.points,
                bytes: backlog.bytes,
                limit_bytes: backlog.limit,
                oldest_age_seconds: backlog.oldest_age.map_or(0.0, |a| a.as_secs_f64()),
                filesystem_free_bytes: backlog.free_bytes,
                paused,
            };
            board.buffer(signal.label(), buffer, totals);
        }
    }
}

/// The `dozor-agent` header value: printable ASCII without whitespace, at most 128 bytes.
fn agent_header(instance: &str) -> String {
    let clean: String = instance
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    clean.chars().take(128).collect()
}

struct Batcher {
    flush_interval: Duration,
    max_points: usize,
    resource: Vec<(String, String)>,
    start_time: u64,
    stats: Arc<Mutex<ExportStats>>,
    wal: Arc<Wal>,
    /// The logs outbox, whose counters travel with the metrics.
    logs: Arc<logs::Outbox>,
    live: mpsc::Sender<Fresh>,
    /// For the agent's own counters when the buffer cannot take them.
    direct: Arc<Lanes>,
    shutdown: watch::Receiver<Option<Instant>>,
}

/// While collection is paused, how often the agent's own counters are sent outside the buffer.
const PAUSED_REPORT_EVERY: Duration = Duration::from_secs(5);

impl Batcher {
    async fn run(
        self,
        mut rx: mpsc::Receiver<Vec<ScopeBatch>>,
        shutdown: &watch::Sender<Option<Instant>>,
        shutdown_timeout: Duration,
    ) {
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
            self.flush(&mut pending).await;
            points = 0;
            deadline = None;
        }
        // Collection has stopped: write what is held, then give the lanes their deadline.
        let _ = shutdown.send(Some(Instant::now() + shutdown_timeout));
        self.flush(&mut pending).await;
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, ExportStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The agent's own counters and gauges, as one scope batch.
    fn self_metrics(&self) -> ScopeBatch {
        let logs = self.logs.stats();
        let logs = logs.lock().unwrap_or_else(|e| e.into_inner());
        stats::batch(&[
            (&self.stats(), self.wal.backlog()),
            (&logs, self.logs.backlog()),
        ])
    }

    /// Sends the agent's own counters outside the buffer (which cannot take them), so that
    /// the collector sees what is dropped while it happens.
    fn send_self_metrics_direct(&self) {
        let request = to_request(&self.resource, &[self.self_metrics()], self.start_time);
        let lanes = self.direct.clone();
        tokio::spawn(async move { lanes.send_direct(request.encode_to_vec()).await });
    }

    /// Counts and logs the points of older batches the buffer dropped to make room.
    fn count_dropped(&self, points: u64, range: Option<(u64, u64)>) {
        let Some((first, end)) = range else { return };
        self.stats().count_items("dropped", points);
        warn!(
            target: "dozor_agent::export::ledger",
            stream = %self.wal.stream(),
            first_seq = first,
            last_seq = end - 1,
            points,
            "Buffer full; oldest batches dropped."
        );
    }

    async fn flush(&self, pending: &mut Vec<ScopeBatch>) {
        if pending.is_empty() {
            return;
        }
        pending.push(self.self_metrics());
        let request = to_request(&self.resource, pending, self.start_time);
        pending.clear();
        let points = u32::try_from(count_points(&request)).unwrap_or(u32::MAX);
        let payload = request.encode_to_vec();
        let mut paused: Option<Instant> = None;
        loop {
            let claim = self.live.capacity() > 0;
            let failed = match self.wal.append(&payload, points, claim) {
                Ok(appended) => {
                    if paused.is_some() {
                        self.stats().set_paused(false);
                        info!("Buffer has room again; collection resumes.");
                    }
                    info!(target: "dozor_agent::export::ledger", stream = %self.wal.stream(), seq = appended.seq, points, "Batch appended.");
                    self.count_dropped(appended.dropped_points, appended.dropped_range);
                    if claim {
                        let fresh = Fresh {
                            seq: appended.seq,
                            points,
                            payload,
                        };
                        // Only the batcher sends, and it saw room: this cannot be full.
                        if let Err(e) = self.live.try_send(fresh) {
                            let seq = match e {
                                mpsc::error::TrySendError::Full(f)
                                | mpsc::error::TrySendError::Closed(f) => f.seq,
                            };
                            self.wal.release(seq);
                        }
                    }
                    return;
                }
                Err(failed) => failed,
            };
            self.count_dropped(failed.dropped_points, failed.dropped_range);
            if !failed.pauses(&self.wal) {
                self.stats().count_items("dropped", u64::from(points));
                error!(target: "dozor_agent::export::ledger", points, error = %failed.error, "Writing a batch to the buffer failed; it is dropped.");
                self.send_self_metrics_direct();
                return;
            }
            // Full, or its disk is, under `when_full: pause`: collection waits.
            let now = Instant::now();
            if paused.is_none_or(|since| now.duration_since(since) >= PAUSED_REPORT_EVERY) {
                if paused.is_none() {
                    warn!(points, error = %failed.error, "Buffer full; collection paused until the collector takes the backlog.");
                }
                paused = Some(now);
                self.stats().set_paused(true);
                self.send_self_metrics_direct();
            }
            if self.shutdown.borrow().is_some() {
                self.stats().count_items("dropped", u64::from(points));
                error!(target: "dozor_agent::export::ledger", points, "Buffer full at shutdown; the last batch is dropped.");
                return;
            }
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
