//! The sender of one endpoint: reads the outbox in order, sends its samples in requests, and
//! acknowledges outbox records only once every sample in them is settled: accepted (2xx) or
//! refused for good (counted by reason, never retried).
//!
//! A window of records (up to `batch.max_samples` samples, or whatever arrived within
//! `batch.flush_interval`) is split by the age of each sample when the window is sent: live
//! samples (younger than `backlog_after`) go in requests of their own, after the backlog,
//! whose samples are grouped by time band (`backlog_band`, oldest first). Prometheus refuses
//! a whole request for one sample it will not take (FACTS: 400 "out of bounds" / "out of
//! order", 500 "too old sample"), so a request refused for good is split by time into an older
//! and a newer half, each sent again, down to samples of one timestamp; a "too old" refusal
//! of the newer half settles the older half as too old without sending it (the receiver's
//! bound is a time). Transport errors, 429 and other 5xx are retried with exponential backoff
//! and jitter (a 429 or 503 `Retry-After` is honoured), forever: the outbox holds the samples.
//! Stopping in the middle leaves the window in the outbox: it is sent again after a restart.

use super::client::{Answer, Client};
use super::encode;
use super::outbox::{Outbox, OutboxError};
use super::proto::TimeSeries;
use crate::config::remote_write::RemoteWrite;
use crate::telemetry::remote_write::{
    EndpointStats, Failure, Lost, RequestDone, SamplesDropped, SamplesFailed,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tracing::error;

/// The sending task of one endpoint.
#[derive(Debug)]
pub struct Sender {
    outbox: Arc<Outbox>,
    client: Client,
    stats: Arc<EndpointStats>,
    config: RemoteWrite,
    /// When the oldest record of the window in flight was appended, Unix ns (0: none).
    oldest: AtomicU64,
}

/// The records of one window.
#[derive(Debug, Default)]
struct Window {
    /// The last record's position, to acknowledge.
    last: Option<u64>,
    series: Vec<TimeSeries>,
    samples: u64,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn ts(s: &TimeSeries) -> i64 {
    s.samples.first().map_or(0, |s| s.timestamp)
}

fn count(series: &[TimeSeries]) -> u64 {
    series.iter().map(|s| s.samples.len() as u64).sum()
}

impl Sender {
    /// A sender for `outbox`.
    pub fn new(
        outbox: Arc<Outbox>,
        client: Client,
        stats: Arc<EndpointStats>,
        config: RemoteWrite,
    ) -> Self {
        Sender {
            outbox,
            client,
            stats,
            config,
            oldest: AtomicU64::new(0),
        }
    }

    /// Sends until `stop` resolves.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            self.gauges();
            let window = tokio::select! {
                _ = &mut stop => return,
                w = self.gather() => w,
            };
            self.gauges();
            tokio::select! {
                _ = &mut stop => return,
                _ = self.settle(window.series) => {}
            }
            if let Some(last) = window.last
                && let Err(e) = self.outbox.ack(last)
            {
                // The records stay and are sent again: duplicates, not loss.
                error!(endpoint = %self.stats.endpoint, error = %e, "Acknowledging the remote_write outbox failed.");
            }
            self.oldest.store(0, Ordering::Relaxed);
        }
    }

    fn gauges(&self) {
        let (pending, bytes) = self.outbox.usage();
        let oldest = self.oldest.load(Ordering::Relaxed);
        let age_ms = match oldest {
            0 => 0,
            t => now_ns().saturating_sub(t) / 1_000_000,
        };
        self.stats.outbox(pending, bytes, age_ms);
    }

    /// Reads records until the window holds `max_samples`, or `flush_interval` passed since
    /// its first record.
    async fn gather(&self) -> Window {
        let batch = &self.config.batch;
        let mut window = Window::default();
        let mut deadline: Option<Instant> = None;
        loop {
            match self.outbox.read_next() {
                Ok(Some(entry)) => {
                    window.last = Some(entry.position);
                    match encode::decode(&entry.body) {
                        Ok(series) => {
                            if window.series.is_empty() {
                                self.oldest.store(entry.received, Ordering::Relaxed);
                            }
                            window.samples += count(&series);
                            window.series.extend(series);
                        }
                        Err(e) => {
                            error!(endpoint = %self.stats.endpoint, record = entry.position, error = %e, "Unreadable remote_write outbox record.");
                            self.lost(Lost::Corrupt, entry.samples);
                        }
                    }
                    deadline.get_or_insert_with(|| Instant::now() + batch.flush_interval.0);
                    if window.samples >= batch.max_samples as u64 {
                        return window;
                    }
                }
                Ok(None) => {
                    let wait = match deadline {
                        Some(d) if Instant::now() >= d => return window,
                        Some(d) => d - Instant::now(),
                        None => batch.flush_interval.0.max(Duration::from_millis(100)),
                    };
                    let _ = tokio::time::timeout(wait, self.outbox.appended.notified()).await;
                    if deadline.is_none() {
                        self.gauges();
                    }
                }
                Err(OutboxError::Malformed(position)) => {
                    window.last = Some(position);
                    self.lost(Lost::Corrupt, 0);
                }
                Err(OutboxError::Buffer(dozor_buffer::Error::Corrupt { .. })) => {
                    // The rest of that segment is skipped by the next read; its samples are
                    // unknown.
                    self.lost(Lost::Corrupt, 0);
                }
                Err(e) => {
                    error!(endpoint = %self.stats.endpoint, error = %e, "Reading the remote_write outbox failed; retrying.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if window.last.is_some() {
                        return window;
                    }
                }
            }
        }
    }

    fn lost(&self, reason: Lost, samples: u64) {
        SamplesDropped { reason, samples }.emit(&self.stats);
    }

    /// Sends every sample of a window until each is settled: backlog bands oldest first,
    /// then live samples.
    async fn settle(&self, series: Vec<TimeSeries>) {
        let now_ms = (now_ns() / 1_000_000) as i64;
        let groups = split_by_age(
            series,
            now_ms,
            self.config.backlog_after.0.as_millis() as i64,
            self.config.backlog_band.0.as_millis() as i64,
        );
        let max = self.config.batch.max_samples.max(1);
        for group in groups {
            let mut rest = group;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(max));
                self.deliver(rest).await;
                rest = tail;
            }
        }
    }

    /// Sends `part` (sorted by time) until settled. Returns the reason the samples of its
    /// oldest timestamp were refused for, if they were.
    fn deliver(
        &self,
        part: Vec<TimeSeries>,
    ) -> Pin<Box<dyn Future<Output = Option<Failure>> + Send + '_>> {
        Box::pin(async move {
            let (reason, error) = self.send(&part).await.err()?;
            match halves(part) {
                Err(part) => {
                    let samples = count(&part);
                    SamplesFailed {
                        reason,
                        samples,
                        error: &error,
                    }
                    .emit(&self.stats);
                    Some(reason)
                }
                Ok((older, newer)) if reason == Failure::TooOld => {
                    if self.deliver(newer).await == Some(Failure::TooOld) {
                        let samples = count(&older);
                        SamplesFailed {
                            reason,
                            samples,
                            error: "older than samples refused as too old",
                        }
                        .emit(&self.stats);
                        Some(reason)
                    } else {
                        self.deliver(older).await
                    }
                }
                Ok((older, newer)) => {
                    let first = self.deliver(older).await;
                    self.deliver(newer).await;
                    first
                }
            }
        })
    }

    /// Sends one request until it is accepted or refused for good.
    async fn send(&self, part: &[TimeSeries]) -> Result<(), (Failure, String)> {
        let body = encode::encode(part);
        let samples = count(part);
        let mut attempt = 0u32;
        loop {
            let (status, wait, error) = match self.client.write(body.clone()).await {
                Answer::Transport(e) => (None, None, e),
                Answer::Response {
                    status,
                    body,
                    retry_after,
                } => {
                    let text = String::from_utf8_lossy(&body[..body.len().min(512)])
                        .trim()
                        .to_string();
                    match classify(status, &text) {
                        Class::Accepted => {
                            RequestDone {
                                status: Some(status),
                                samples,
                                error: "",
                                retry: false,
                            }
                            .emit(&self.stats);
                            return Ok(());
                        }
                        Class::Refused(reason) => {
                            RequestDone {
                                status: Some(status),
                                samples,
                                error: &text,
                                retry: false,
                            }
                            .emit(&self.stats);
                            return Err((reason, text));
                        }
                        Class::Retry => {
                            let honoured = matches!(status, 429 | 503).then_some(retry_after);
                            (Some(status), honoured.flatten(), text)
                        }
                    }
                }
            };
            RequestDone {
                status,
                samples,
                error: &error,
                retry: true,
            }
            .emit(&self.stats);
            let r = &self.config.retry;
            let wait = wait
                .map(|w| w.min(r.max_backoff.0))
                .unwrap_or_else(|| backoff(r.initial_backoff.0, r.max_backoff.0, attempt));
            attempt = attempt.saturating_add(1);
            self.gauges();
            tokio::time::sleep(wait).await;
        }
    }
}

/// What an answer means for the samples of the request.
#[derive(Debug, PartialEq)]
enum Class {
    /// 2xx.
    Accepted,
    /// Refused for good.
    Refused(Failure),
    /// Send again later.
    Retry,
}

/// Classifies an answer by status and the receiver's words (Prometheus 2.x remote write
/// handler: `storage.ErrOutOfBounds`, `ErrOutOfOrderSample` and
/// `ErrDuplicateSampleForTimestamp` are 400, `ErrTooOldSample` is 500).
fn classify(status: u16, text: &str) -> Class {
    let text = text.to_ascii_lowercase();
    match status {
        200..=299 => Class::Accepted,
        500 if text.contains("too old sample") => Class::Refused(Failure::TooOld),
        429 => Class::Retry,
        400 if text.contains("out of bounds") || text.contains("too old") => {
            Class::Refused(Failure::TooOld)
        }
        400 if text.contains("out of order") || text.contains("duplicate sample") => {
            Class::Refused(Failure::OutOfOrder)
        }
        500..=599 => Class::Retry,
        _ => Class::Refused(Failure::Rejected),
    }
}

/// Exponential backoff with full jitter: a random wait up to `initial * 2^attempt`, at most
/// `max`, and at least a tenth of it.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let cap = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.1 + 0.9 * f64::from(nanos % 1000) / 1000.0;
    cap.mul_f64(fraction)
}

/// The series of a window grouped for sending, each group sorted by time: backlog (older than
/// `after_ms` at `now_ms`) by band of `band_ms` (aligned to the epoch), oldest first, then
/// the live samples.
fn split_by_age(
    mut series: Vec<TimeSeries>,
    now_ms: i64,
    after_ms: i64,
    band_ms: i64,
) -> Vec<Vec<TimeSeries>> {
    // Stable: samples of one series at one timestamp keep the order they were received in.
    series.sort_by_key(ts);
    let live_from = now_ms.saturating_sub(after_ms);
    let mut groups: Vec<Vec<TimeSeries>> = Vec::new();
    let mut key = None;
    for s in series {
        let t = ts(&s);
        let k = if t >= live_from {
            i64::MAX
        } else {
            t.div_euclid(band_ms.max(1))
        };
        if key != Some(k) {
            groups.push(Vec::new());
            key = Some(k);
        }
        if let Some(g) = groups.last_mut() {
            g.push(s);
        }
    }
    groups
}

/// `part` (sorted by time) cut at a timestamp boundary near its middle into older and newer
/// halves; `Err(part)` when all its samples share one timestamp.
fn halves(
    mut part: Vec<TimeSeries>,
) -> Result<(Vec<TimeSeries>, Vec<TimeSeries>), Vec<TimeSeries>> {
    let (Some(first), Some(last)) = (part.first(), part.last()) else {
        return Err(part);
    };
    if ts(first) == ts(last) {
        return Err(part);
    }
    let middle = ts(&part[part.len() / 2]);
    let mut cut = part.partition_point(|s| ts(s) < middle);
    if cut == 0 {
        cut = part.partition_point(|s| ts(s) <= middle);
    }
    let newer = part.split_off(cut);
    Ok((part, newer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::remote_write::proto::Sample;

    fn at(t: i64) -> TimeSeries {
        TimeSeries {
            labels: Vec::new(),
            samples: vec![Sample {
                value: t as f64,
                timestamp: t,
            }],
        }
    }

    fn times(g: &[TimeSeries]) -> Vec<i64> {
        g.iter().map(ts).collect()
    }

    #[test]
    fn live_goes_apart_and_backlog_by_band() {
        let series = [1_000_500, 65, 1_000_000, 5, 70, 125, 999_000]
            .map(at)
            .to_vec();
        let groups = split_by_age(series, 1_000_600, 1_000, 60);
        let got: Vec<Vec<i64>> = groups.iter().map(|g| times(g)).collect();
        assert_eq!(
            got,
            [
                vec![5],
                vec![65, 70],
                vec![125],
                vec![999_000],
                vec![1_000_000, 1_000_500]
            ]
        );
    }

    #[test]
    fn halves_cut_between_timestamps() {
        let (older, newer) = halves([1, 1, 1, 2].map(at).to_vec()).unwrap();
        assert_eq!((times(&older), times(&newer)), (vec![1, 1, 1], vec![2]));
        let (older, newer) = halves([1, 2, 2, 2].map(at).to_vec()).unwrap();
        assert_eq!((times(&older), times(&newer)), (vec![1], vec![2, 2, 2]));
        assert!(halves([3, 3].map(at).to_vec()).is_err());
    }

    #[test]
    fn prometheus_refusals_are_classified() {
        let c = |s, t| classify(s, t);
        assert_eq!(c(204, ""), Class::Accepted);
        assert_eq!(c(500, "too old sample"), Class::Refused(Failure::TooOld));
        assert_eq!(c(500, "TSDB not ready"), Class::Retry);
        assert_eq!(c(503, ""), Class::Retry);
        assert_eq!(c(429, ""), Class::Retry);
        assert_eq!(c(400, "out of bounds"), Class::Refused(Failure::TooOld));
        assert_eq!(
            c(400, "out of order sample"),
            Class::Refused(Failure::OutOfOrder)
        );
        assert_eq!(
            c(400, "duplicate sample for timestamp"),
            Class::Refused(Failure::OutOfOrder)
        );
        assert_eq!(c(401, "Unauthorized"), Class::Refused(Failure::Rejected));
        assert_eq!(c(400, "bad snappy"), Class::Refused(Failure::Rejected));
    }
}
