//! The two sending lanes over the buffer, and failover across endpoints.
//!
//! - The live lane sends each fresh batch once, as soon as it is appended (handed over in
//!   memory, no disk read). If no endpoint takes it, it gives the batch back to the buffer.
//! - The replay lane reads the buffer in seq order, skipping what the live lane holds, and
//!   sends each batch until it is taken (backoff with full jitter, the collector's
//!   `retry-after` honoured), paced to `replay_rate` points per second, so that a backlog
//!   left by an outage drains at a bounded rate while fresh data keeps going first.
//!
//! Each signal (metrics, logs) has its own lanes, over its own buffer. The logs outbox is
//! appended to from the integrations' threads and uses the replay lane only.
//!
//! Acknowledgements complete out of order; the buffer's position moves over the settled
//! prefix ([`super::window`]).
//!
//! Each request tells its endpoint which batches other endpoints acknowledged meanwhile
//! ([`super::handover`]), so that a failback is not counted as a gap.
//!
//! Every request's outcome and breaker state is published on the admin board.

use super::breaker::Breaker;
use super::handover::Handover;
use super::retry::{Backoff, Failure};
use super::stats::ExportStats;
use super::transport::{Body, Transport};
use super::wal::Wal;
use crate::admin::Board;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{error, warn};

/// A fresh batch for the live lane.
pub struct Fresh {
    /// Its seq in the buffer.
    pub seq: u64,
    /// Its data points.
    pub points: u32,
    /// The encoded request.
    pub payload: Vec<u8>,
}

/// What the lanes share.
pub struct Lanes {
    /// The buffer.
    pub wal: Arc<Wal>,
    /// Clients per endpoint.
    pub transport: Transport,
    /// One breaker per endpoint, in config order.
    pub breakers: Mutex<Vec<Breaker>>,
    /// Self-metrics.
    pub stats: Arc<Mutex<ExportStats>>,
    /// Backoff settings (initial, max).
    pub backoff: (Duration, Duration),
    /// Replay pace, points (log records) per second.
    pub replay_rate: u32,
    /// Set to the deadline once shutdown has begun.
    pub shutdown: watch::Receiver<Option<Instant>>,
    /// Last time each endpoint's failure was logged (one line per endpoint per interval).
    logged: Mutex<Vec<Option<(Instant, u64)>>>,
    /// Signalled when the live lane delivers: a collector is back, so the replay lane cuts
    /// short a backoff that no `retry-after` asked for.
    recovered: tokio::sync::Notify,
    /// Where each request's outcome is published for `dozor-agent status`.
    board: Arc<Board>,
    /// Which endpoint acknowledged what (`dozor-elsewhere`).
    handover: Handover,
}

/// How long a repeated failure of one endpoint stays quiet in the log.
const LOG_EVERY: Duration = Duration::from_secs(30);

impl Lanes {
    /// Lanes over `wal` with one closed breaker per endpoint.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        wal: Arc<Wal>,
        transport: Transport,
        breaker: (u32, Duration),
        stats: Arc<Mutex<ExportStats>>,
        backoff: (Duration, Duration),
        replay_rate: u32,
        shutdown: watch::Receiver<Option<Instant>>,
        board: Arc<Board>,
    ) -> Self {
        let n = transport.endpoints().len();
        Lanes {
            wal,
            transport,
            breakers: Mutex::new(vec![Breaker::new(breaker.0, breaker.1); n]),
            stats,
            backoff,
            replay_rate,
            shutdown,
            logged: Mutex::new(vec![None; n]),
            recovered: tokio::sync::Notify::new(),
            board,
            handover: Handover::new(n),
        }
    }

    fn stats(&self) -> MutexGuard<'_, ExportStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deadline(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    /// One try across endpoints in config order, skipping those whose breaker is open.
    async fn send_once(&self, body: &Body, seq: u64) -> Result<i64, Failure> {
        let endpoints = self.transport.endpoints();
        let mut last = None;
        for (i, endpoint) in endpoints.iter().enumerate() {
            let allowed = {
                let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
                let allowed = breakers[i].allow(std::time::Instant::now());
                self.stats().breaker(endpoint, breakers[i].state());
                if !allowed {
                    let signal = self.transport.signal().label();
                    self.board
                        .breaker(signal, endpoint, breakers[i].state().label());
                }
                allowed
            };
            if !allowed {
                continue;
            }
            let told = self.handover.header(i);
            let delivery = Some((seq, self.wal.oldest(), told.header.as_str()));
            let result = self.transport.send(i, body, delivery).await;
            if result.is_ok() {
                self.handover.acknowledged(i, seq, &told);
            }
            let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
            match &result {
                Ok(_) | Err(Failure::Permanent { .. }) => breakers[i].success(),
                // Busy but answering, with a time to come back: the backoff honours it; the
                // endpoint is healthy, so the breaker does not count it.
                Err(
                    f @ Failure::Retryable {
                        retry_after: Some(_),
                        ..
                    },
                ) => self.log_failure(i, endpoint, f),
                Err(f) => {
                    if breakers[i].failure(std::time::Instant::now()) {
                        warn!(endpoint = %endpoint, error = %f, "Circuit breaker opened; endpoint skipped for a while.");
                    }
                    self.log_failure(i, endpoint, f);
                }
            }
            let state = breakers[i].state();
            drop(breakers);
            self.board.request(
                self.transport.signal().label(),
                endpoint,
                state.label(),
                match &result {
                    Ok(_) => Ok(()),
                    Err(f) => Err((f.label(), f.to_string(), f.retry_after())),
                },
            );
            let mut stats = self.stats();
            stats.breaker(endpoint, state);
            stats.count_request(
                endpoint,
                match &result {
                    Ok(_) => "sent",
                    Err(f) => f.outcome(),
                },
            );
            drop(stats);
            match result {
                Ok(r) => return Ok(r),
                Err(f @ Failure::Permanent { .. }) => return Err(f),
                Err(f) => last = Some(f),
            }
        }
        Err(last.unwrap_or(Failure::Retryable {
            what: "every endpoint's circuit breaker is open".into(),
            retry_after: None,
        }))
    }

    /// Sends the agent's own counters outside the buffer, to the first endpoint that takes
    /// them, once: for when the buffer cannot take them (its disk is full), so that drops are
    /// seen at the collector while they happen. Nothing is retried: the next flush sends the
    /// counters again, newer.
    pub async fn send_direct(&self, payload: Vec<u8>) {
        let body = self.transport.body(payload);
        for i in 0..self.transport.endpoints().len() {
            if self.transport.send(i, &body, None).await.is_ok() {
                return;
            }
        }
    }

    /// Logs a failure of endpoint `i` at most once per [`LOG_EVERY`], with the count since.
    fn log_failure(&self, i: usize, endpoint: &str, f: &Failure) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (since, quiet) = match logged[i] {
            Some((at, n)) if now.duration_since(at) < LOG_EVERY => {
                logged[i] = Some((at, n + 1));
                return;
            }
            Some((_, n)) => (LOG_EVERY, n),
            None => (Duration::ZERO, 0),
        };
        logged[i] = Some((now, 0));
        match f {
            Failure::Unauthenticated { .. } => {
                error!(endpoint = %endpoint, kind = f.label(), error = %f, suppressed = quiet, "Collector refused the agent's credentials; check exporters.otlp.auth. Data is kept and retried.")
            }
            _ => {
                warn!(endpoint = %endpoint, signal = self.transport.signal().label(), kind = f.label(), error = %f, suppressed = quiet, suppressed_over_s = since.as_secs(), "Export failed; data is kept and retried.")
            }
        }
    }

    /// Records the end of a batch: delivered (`Ok`, with the points the collector said it
    /// did not store) or rejected.
    fn finish(&self, seq: u64, points: u32, result: Result<i64, Failure>) {
        // Dropped from the buffer while in flight or not, the batch has left the agent: its
        // points were excluded from the drop count (see `Window::dropped`).
        if let Err(e) = self.wal.settle(seq) {
            error!(error = %e, "Acknowledging in the buffer failed; the batch may be sent again.");
        }
        let points = u64::from(points);
        let mut stats = self.stats();
        match result {
            Ok(partial) => {
                let rejected = u64::try_from(partial).unwrap_or(0).min(points);
                stats.count_items("sent", points - rejected);
                stats.count_items("rejected", rejected);
            }
            Err(f) => {
                stats.count_items("rejected", points);
                drop(stats);
                error!(signal = self.transport.signal().label(), seq, points, error = %f, "Collector rejected a batch permanently; it is dropped.");
            }
        }
    }

    /// Gives a batch back to the buffer; counts it dropped if the buffer dropped it meanwhile.
    fn give_back(&self, seq: u64, points: u32) {
        if self.wal.release(seq) {
            self.stats().count_items("dropped", u64::from(points));
            warn!(target: "dozor_agent::export::ledger", stream = %self.wal.stream(), first_seq = seq, last_seq = seq, points, "Batch dropped from the full buffer while being sent.");
        }
    }

    /// The live lane: one try per fresh batch; what fails goes to the replay lane.
    pub async fn live(self: Arc<Self>, mut rx: mpsc::Receiver<Fresh>) {
        while let Some(fresh) = rx.recv().await {
            if self.deadline().is_some_and(|d| Instant::now() >= d) {
                self.give_back(fresh.seq, fresh.points);
                continue;
            }
            if self.wal.is_orphan(fresh.seq) {
                self.give_back(fresh.seq, fresh.points);
                continue;
            }
            let body = self.transport.body(fresh.payload);
            let attempt = self.send_once(&body, fresh.seq);
            let result = match self.deadline() {
                Some(d) => tokio::time::timeout_at(d, attempt).await.ok(),
                None => Some(attempt.await),
            };
            match result {
                Some(r @ (Ok(_) | Err(Failure::Permanent { .. }))) => {
                    if r.is_ok() {
                        self.recovered.notify_one();
                    }
                    self.finish(fresh.seq, fresh.points, r);
                }
                _ => {
                    self.stats().count_retry("live");
                    self.give_back(fresh.seq, fresh.points);
                }
            }
        }
    }

    /// The replay lane: the backlog in seq order, each batch until it is taken, paced.
    pub async fn replay(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        let mut next_free = Instant::now();
        loop {
            let record = match self.wal.replay_next() {
                Ok(r) => r,
                Err(e) => {
                    error!(error = %e, "Reading the buffer failed; retrying.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(record) = record else {
                if let Some(deadline) = self.deadline()
                    && (self.wal.is_drained() || Instant::now() >= deadline)
                {
                    return;
                }
                // `notify_one` keeps a permit when nobody waits yet, so a record appended or
                // given back after `replay_next` looked is not missed. While shutting down,
                // look again now and then: the lane ends once the live lane has settled the
                // rest, which does not wake it.
                let stopping = self.deadline().is_some();
                tokio::select! {
                    _ = self.wal.wake.notified() => {}
                    _ = shutdown.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)), if stopping => {}
                }
                continue;
            };
            // Pace: one batch now, the next after its points at `replay_rate`.
            if !self.sleep_until(next_free.max(Instant::now())).await {
                self.give_back(record.seq, record.weight);
                return;
            }
            let cost = Duration::from_secs_f64(
                f64::from(record.weight.max(1)) / f64::from(self.replay_rate.max(1)),
            );
            next_free = next_free.max(Instant::now()) + cost;
            let body = self.transport.body(record.payload);
            let mut backoff = Backoff::new(self.backoff.0, self.backoff.1);
            loop {
                // Dropped from the full buffer while waiting to be retried: the collector has
                // been told it is gone (`dozor-oldest`), so it is not sent again.
                if self.wal.is_orphan(record.seq) {
                    self.give_back(record.seq, record.weight);
                    break;
                }
                let attempt = self.send_once(&body, record.seq);
                let result = match self.deadline() {
                    Some(d) => tokio::time::timeout_at(d, attempt).await.ok(),
                    None => Some(attempt.await),
                };
                match result {
                    Some(r @ (Ok(_) | Err(Failure::Permanent { .. }))) => {
                        self.finish(record.seq, record.weight, r);
                        break;
                    }
                    Some(Err(f)) => {
                        self.stats().count_retry("replay");
                        let delay = backoff.next_delay(f.retry_after());
                        let slept = if f.retry_after().is_some() {
                            self.sleep_until(Instant::now() + delay).await
                        } else {
                            tokio::select! {
                                slept = self.sleep_until(Instant::now() + delay) => slept,
                                _ = self.recovered.notified() => true,
                            }
                        };
                        if !slept {
                            self.give_back(record.seq, record.weight);
                            return;
                        }
                    }
                    None => {
                        self.give_back(record.seq, record.weight);
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps until `at`, or until the shutdown deadline; false when the deadline came first.
    async fn sleep_until(&self, at: Instant) -> bool {
        let mut shutdown = self.shutdown.clone();
        loop {
            match self.deadline() {
                Some(d) if d <= at => {
                    tokio::time::sleep_until(d).await;
                    return false;
                }
                Some(_) => {
                    tokio::time::sleep_until(at).await;
                    return true;
                }
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => return true,
                        changed = shutdown.changed() => if changed.is_err() {
                            tokio::time::sleep_until(at).await;
                            return true;
                        },
                    }
                }
            }
        }
    }
}
