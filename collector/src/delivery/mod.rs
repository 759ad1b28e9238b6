//! Delivery tracking (issue #3): which batches of each agent's stream arrived, which arrived
//! twice, and which never will.
//!
//! dozor-agent numbers its batches (`dozor-seq`) per stream (`dozor-stream`) and says which is
//! the oldest it may still send (`dozor-oldest`); `docs/adr/0005-delivery-protocol.md` is the contract. For each
//! (agent, stream) the collector keeps a [`tracker::Stream`]: a floor plus the received runs
//! above it. A batch already received (or below the floor) is a duplicate: answered OK, not
//! stored, counted. When `dozor-oldest` passes the floor, every sequence number below it that
//! never arrived is a gap: counted per agent and logged once with the missing range. The first
//! request of an unknown stream sets its floor; a new stream is never a gap by itself.
//!
//! An agent with several endpoints fails over between collectors. When it sends to this one it
//! lists, in `dozor-elsewhere` ([`parse_elsewhere`]), the sequence ranges other collectors
//! acknowledged since this one last acknowledged anything of the stream: they are settled as
//! received elsewhere (counted once per sequence number, not missing), so a failback is no gap.
//!
//! A stream's decision and store happen under that stream's own lock, so a redelivery that
//! arrives while the original is still being stored (the agent timed out) waits and is then
//! recognised as a duplicate: a batch is stored once.
//!
//! # Ledger file (`delivery.ledger_path`)
//!
//! Text, one event a line, fields separated by one space, every line ending in `\n`:
//!
//! ```text
//! A <agent> <stream> <seq> <points>   a batch was accepted (points: data points decoded from it)
//! F <agent> <stream> <floor>          the floor moved to <floor> (also written for a new stream)
//! R <agent> <stream> <first> <last>   a received run above the floor (compacted files), or a
//!                                     run received elsewhere (`dozor-elsewhere`)
//! ```
//!
//! `<agent>` is printable ASCII without spaces (at most 128 bytes), `<stream>` 16 lowercase hex
//! digits, numbers decimal `u64`. Lines are written with a plain `write` (no fsync) after the
//! batch was stored and before the response is sent: they survive the death of the collector
//! process (SIGKILL included), not a crash of the machine. Floor moves that follow from
//! received batches alone (1, 2, 3 received: floor 4) are not written; replay derives them.
//!
//! When the file grows past `delivery.ledger_max_bytes` it is rewritten atomically (a `.tmp`
//! file renamed over it) as one `F` line per stream followed by its `R` lines. On start the
//! collector replays the file (a last line without its newline was cut short: it is ignored and
//! cut off; any other bad line is logged with file and line number, counted, and skipped) and
//! appends to it; it compacts it then only if it is already over the limit, so until the file
//! outgrows `ledger_max_bytes` its `A` lines are a complete record of every accepted batch.
//! Streams not heard from for `store.agent_ttl` are forgotten, in memory and (by an immediate
//! compaction) in the file.

pub mod ledger;
pub mod tracker;

use crate::telemetry::log_every::LogEvery;
use ledger::{LedgerError, LedgerFile};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};
use tracker::{Missing, Stream};

/// An agent's stream: the key of the sequence state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The agent's name (or the name its token maps to).
    pub agent: String,
    /// The stream id.
    pub stream: String,
}

impl StreamKey {
    /// A key from its parts (not validated: see [`valid_agent`] and [`valid_stream`]).
    pub fn new(agent: &str, stream: &str) -> Self {
        StreamKey {
            agent: agent.to_string(),
            stream: stream.to_string(),
        }
    }
}

/// An agent name as the protocol allows it: 1 to 128 bytes of printable ASCII, no whitespace.
pub fn valid_agent(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// A stream id: 16 lowercase hex digits.
pub fn valid_stream(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The delivery headers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Agent and stream.
    pub key: StreamKey,
    /// `dozor-seq`.
    pub seq: u64,
    /// `dozor-oldest`.
    pub oldest: u64,
    /// `dozor-elsewhere`: runs (first, last) other collectors acknowledged.
    pub elsewhere: Vec<(u64, u64)>,
}

/// Most runs one `dozor-elsewhere` header may list.
pub const MAX_ELSEWHERE_RANGES: usize = 16;

/// Longest `dozor-elsewhere` value accepted: 16 runs of two 20-digit numbers, with separators.
pub const MAX_ELSEWHERE_BYTES: usize = MAX_ELSEWHERE_RANGES * 42;

/// Parses `dozor-elsewhere`: comma-separated runs `first-last` (or one `seq`), decimal `u64`,
/// `first <= last`, at most [`MAX_ELSEWHERE_RANGES`] runs in at most [`MAX_ELSEWHERE_BYTES`].
pub fn parse_elsewhere(value: &str) -> Result<Vec<(u64, u64)>, String> {
    if value.len() > MAX_ELSEWHERE_BYTES {
        return Err(format!(
            "dozor-elsewhere longer than {MAX_ELSEWHERE_BYTES} bytes"
        ));
    }
    let bad =
        || "dozor-elsewhere must be comma-separated first-last runs of decimal u64".to_string();
    let mut out = Vec::new();
    for run in value.split(',') {
        let (a, b) = run.split_once('-').unwrap_or((run, run));
        let num = |x: &str| -> Result<u64, String> {
            match x.bytes().all(|c| c.is_ascii_digit()) {
                true => x.parse().map_err(|_| bad()),
                false => Err(bad()),
            }
        };
        let (first, last) = (num(a)?, num(b)?);
        if first > last {
            return Err("dozor-elsewhere run ends before it starts".into());
        }
        out.push((first, last));
    }
    if out.len() > MAX_ELSEWHERE_RANGES {
        return Err(format!(
            "dozor-elsewhere lists more than {MAX_ELSEWHERE_RANGES} runs"
        ));
    }
    Ok(out)
}

/// A batch the ledger could not record (its disk is full): it must be refused, so that the
/// agent keeps it and sends it again; every batch answered OK is in the ledger.
#[derive(Debug, thiserror::Error)]
#[error("the delivery ledger could not record the batch: {0}")]
pub struct Unrecorded(pub LedgerError);

/// What became of a tracked batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered<R> {
    /// New: stored, with what the store said.
    Stored(R),
    /// Received before: not stored.
    Duplicate,
}

/// One agent's delivery counters, as the telemetry renders them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The agent.
    pub agent: String,
    /// Batches stored.
    pub accepted_batches: u64,
    /// Batches received again and not stored.
    pub duplicate_batches: u64,
    /// Data points in those batches.
    pub duplicate_points: u64,
    /// Batches that will never arrive (gaps).
    pub missing_batches: u64,
    /// Batches the agent said another collector acknowledged (`dozor-elsewhere`), settled
    /// here as received elsewhere rather than missing.
    pub elsewhere_batches: u64,
}

#[derive(Debug)]
struct Tracked {
    stream: Stream,
    last_seen: Instant,
}

#[derive(Debug)]
struct AgentCounts {
    row: DeliveryRow,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    streams: HashMap<StreamKey, Tracked>,
    agents: HashMap<String, AgentCounts>,
    ledger: Option<LedgerFile>,
}

/// Every stream's sequence state, the per-agent counters, and the ledger file.
#[derive(Debug)]
pub struct Delivery {
    inner: Mutex<Inner>,
    /// One lock per stream, held from the duplicate check until the batch is stored and
    /// recorded. Taken before `inner`, never while holding it.
    locks: Mutex<HashMap<StreamKey, Arc<Mutex<()>>>>,
    ttl: Duration,
    /// The ledger's directory, whose free space is reported.
    ledger_dir: Option<std::path::PathBuf>,
    ledger_errors: std::sync::atomic::AtomicU64,
    ledger_log: LogEvery,
}

impl Delivery {
    /// State kept in memory only: lost when the collector stops.
    pub fn in_memory(ttl: Duration) -> Self {
        Delivery {
            inner: Mutex::new(Inner::default()),
            locks: Mutex::new(HashMap::new()),
            ttl,
            ledger_dir: None,
            ledger_errors: Default::default(),
            ledger_log: LogEvery::default(),
        }
    }

    /// State replayed from, and recorded in, the ledger at `path`. Bad lines are logged and
    /// counted; an unreadable or unwritable file is an error.
    pub fn with_ledger(path: &Path, max_bytes: u64, ttl: Duration) -> Result<Self, LedgerError> {
        let (file, replayed) = LedgerFile::open(path, max_bytes)?;
        let mut d = Self::in_memory(ttl);
        d.ledger_dir = path.parent().map(|p| match p.as_os_str().is_empty() {
            true => std::path::PathBuf::from("."),
            false => p.to_path_buf(),
        });
        for bad in &replayed.bad {
            d.ledger_failed(&format_args!(
                "{}:{}: {}; line skipped",
                path.display(),
                bad.line,
                bad.error
            ));
        }
        if replayed.partial_tail > 0 {
            warn!(
                file = %path.display(),
                bytes = replayed.partial_tail,
                "Ledger ends in a line cut short; ignored it."
            );
        }
        let now = Instant::now();
        let mut inner = d.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.streams = replayed
            .streams
            .into_iter()
            .map(|(k, stream)| {
                (
                    k,
                    Tracked {
                        stream,
                        last_seen: now,
                    },
                )
            })
            .collect();
        info!(file = %path.display(), streams = inner.streams.len(), "Delivery ledger loaded.");
        inner.ledger = Some(file);
        drop(inner);
        Ok(d)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stream_lock(&self, key: &StreamKey) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(key.clone()).or_default().clone()
    }

    /// Decides whether `batch` is new; if so runs `store` and records the batch, all under the
    /// stream's lock. Gaps that `batch.oldest` reveals are counted and logged. The ledger line
    /// is written before this returns (so before the response is sent); when it cannot be
    /// written the batch is [`Unrecorded`], to be refused so that the agent sends it again.
    pub fn deliver<R>(
        &self,
        batch: &Batch,
        points: u64,
        store: impl FnOnce() -> R,
    ) -> Result<Delivered<R>, Unrecorded> {
        self.try_deliver(batch, points, || Ok::<R, Unrecorded>(store()))
    }

    /// [`Delivery::deliver`] with a `store` that may fail (the logs outbox is full): then
    /// nothing is recorded, not even the stream, so the batch is new again when it is retried.
    pub fn try_deliver<R, E: From<Unrecorded>>(
        &self,
        batch: &Batch,
        points: u64,
        store: impl FnOnce() -> Result<R, E>,
    ) -> Result<Delivered<R>, E> {
        let stream_lock = self.stream_lock(&batch.key);
        let _held = stream_lock.lock().unwrap_or_else(|e| e.into_inner());
        let duplicate = {
            let inner = self.lock();
            inner
                .streams
                .get(&batch.key)
                .is_some_and(|t| t.stream.is_duplicate(batch.seq))
        };
        let result = if duplicate { None } else { Some(store()?) };
        match self.record(batch, points, duplicate) {
            Err(e) if !duplicate => return Err(Unrecorded(e).into()),
            // A duplicate was recorded before: its answer does not depend on this line.
            _ => {}
        }
        Ok(match result {
            Some(r) => Delivered::Stored(r),
            None => Delivered::Duplicate,
        })
    }

    /// Records the batch: the ledger line first, then, only once it is written, the stream,
    /// the floor and the counters. A batch whose line cannot be written leaves no trace, so
    /// its retry is new (what the store did with it is idempotent: the same cumulative and
    /// gauge values again, the same Elasticsearch ids).
    fn record(&self, batch: &Batch, points: u64, duplicate: bool) -> Result<(), LedgerError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut lines = String::new();
        let known = inner.streams.get(&batch.key).map(|t| t.stream.floor());
        if known.is_none() {
            ledger::floor(&mut lines, &batch.key, batch.oldest);
        }
        if !duplicate {
            ledger::accepted(&mut lines, &batch.key, batch.seq, points);
        }
        for (first, last) in &batch.elsewhere {
            ledger::range(&mut lines, &batch.key, *first, *last);
        }
        if batch.oldest > known.unwrap_or(batch.oldest) {
            ledger::floor(&mut lines, &batch.key, batch.oldest);
        }
        if let Some(file) = inner.ledger.as_mut()
            && let Err(e) = file.append(&lines)
        {
            self.ledger_failed(&e);
            return Err(e);
        }
        let tracked = inner
            .streams
            .entry(batch.key.clone())
            .or_insert_with(|| Tracked {
                stream: Stream::new(batch.oldest),
                last_seen: now,
            });
        tracked.last_seen = now;
        let mut missing: Vec<Missing> = Vec::new();
        if !duplicate {
            missing.extend(tracked.stream.insert(batch.seq));
        }
        let mut elsewhere = 0;
        for (first, last) in &batch.elsewhere {
            let (new, given_up) = tracked.stream.insert_elsewhere(*first, *last);
            elsewhere += new;
            missing.extend(given_up);
        }
        if batch.oldest > tracked.stream.floor() {
            missing.extend(tracked.stream.advance(batch.oldest));
        }
        let counts = inner
            .agents
            .entry(batch.key.agent.clone())
            .or_insert_with(|| AgentCounts {
                row: DeliveryRow {
                    agent: batch.key.agent.clone(),
                    ..Default::default()
                },
                last_seen: now,
            });
        counts.last_seen = now;
        if duplicate {
            counts.row.duplicate_batches += 1;
            counts.row.duplicate_points += points;
            debug!(agent = %batch.key.agent, stream = %batch.key.stream, seq = batch.seq, "Duplicate batch not stored.");
        } else {
            counts.row.accepted_batches += 1;
        }
        counts.row.elsewhere_batches += elsewhere;
        if elsewhere > 0 {
            debug!(agent = %batch.key.agent, stream = %batch.key.stream, batches = elsewhere, "Batches acknowledged by another collector.");
        }
        for m in &missing {
            counts.row.missing_batches += m.batches();
            // One line per gap: a gap is data lost for good, and is found once.
            error!(
                agent = %batch.key.agent,
                stream = %batch.key.stream,
                first = m.first,
                last = m.last,
                batches = m.batches(),
                "Batches missing: the agent will never send them."
            );
        }
        if let Some(file) = inner.ledger.as_mut()
            && file.needs_compaction()
        {
            // A compaction that fails leaves the appended file as it was: still whole.
            let streams = inner.streams.iter().map(|(k, t)| (k, &t.stream));
            if let Err(e) = file.compact(streams) {
                self.ledger_failed(&e);
            }
        }
        Ok(())
    }

    /// Forgets streams and agent counters silent for longer than `agent_ttl`, and compacts
    /// the ledger when a stream was forgotten.
    pub fn expire(&self) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let before = inner.streams.len();
        inner
            .streams
            .retain(|_, t| t.last_seen.elapsed() < self.ttl);
        inner.agents.retain(|_, a| a.last_seen.elapsed() < self.ttl);
        if inner.streams.len() == before {
            return;
        }
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.retain(|k, l| inner.streams.contains_key(k) || Arc::strong_count(l) > 1);
        drop(locks);
        if let Some(file) = inner.ledger.as_mut()
            && let Err(e) = file.compact(inner.streams.iter().map(|(k, t)| (k, &t.stream)))
        {
            self.ledger_failed(&e);
        }
    }

    /// Closes the ledger at shutdown. Every line was written when its request was answered
    /// and nothing is buffered, so this only releases the file; it is not compacted, so its
    /// `A` lines stay a complete record of what was accepted until it outgrows
    /// `ledger_max_bytes`.
    pub fn close(&self) {
        let mut inner = self.lock();
        if let Some(file) = inner.ledger.take() {
            info!(file = %file.path().display(), "Delivery ledger closed.");
        }
    }

    fn ledger_failed(&self, e: &dyn std::fmt::Display) {
        self.ledger_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(suppressed) = self.ledger_log.ready() {
            error!(error = %e, suppressed, "Delivery ledger error: batches are refused until it can be written again.");
        }
    }

    /// Ledger lines skipped and writes that failed.
    pub fn ledger_errors(&self) -> u64 {
        self.ledger_errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes still free on the ledger's file system; `None` without a ledger.
    pub fn ledger_free_bytes(&self) -> Option<u64> {
        dozor_buffer::free_bytes(self.ledger_dir.as_deref()?)
    }

    /// Every agent's counters, sorted by agent.
    pub fn rows(&self) -> Vec<DeliveryRow> {
        let inner = self.lock();
        let mut rows: Vec<DeliveryRow> = inner.agents.values().map(|a| a.row.clone()).collect();
        rows.sort_by(|a, b| a.agent.cmp(&b.agent));
        rows
    }

    /// The state of one stream, for tests and diagnostics.
    pub fn stream(&self, key: &StreamKey) -> Option<Stream> {
        self.lock().streams.get(key).map(|t| t.stream.clone())
    }
}

#[cfg(test)]
mod tests;
