//! The agent's use of the on-disk buffer: one directory per agent (locked), the stream id kept
//! beside the segments, and the buffer and the acknowledgement window behind one lock, shared
//! by the batcher (appends) and the two sending lanes (reads and acknowledgements).

use super::window::Window;
use anyhow::{Context, bail};
use dozor_buffer::{Buffer, Error, Options, Record};
use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tracing::{error, info};

/// The lock file that keeps a second agent off the same buffer directory.
const LOCK_FILE: &str = "lock";
/// The stream id file (`docs/adr/0005-delivery-protocol.md`).
const STREAM_FILE: &str = "stream";

/// The buffer, its window and the replay lane's read position.
pub struct Wal {
    inner: Mutex<Inner>,
    dir: std::path::PathBuf,
    /// `when_full: pause`: a full disk pauses collection, as a full buffer does.
    pause: bool,
    /// `max_bytes`, for the limit gauge.
    max_bytes: u64,
    /// Woken by every append and every give-back, for the replay lane.
    pub wake: Notify,
    /// A given-back seq is behind the replay lane's read position: it must start over.
    rewind: AtomicBool,
    stream: String,
    _lock: File,
}

struct Inner {
    buffer: Buffer,
    window: Window,
    /// The seq the replay lane expects to read next (to tell a gap from a skipped record).
    expect: u64,
    /// An acknowledgement that failed (the disk gave out), tried again by every append and
    /// settle until it is written.
    ack_due: Option<u64>,
}

impl Inner {
    /// The window's account of records the buffer dropped: their points (excluding those
    /// delivered or in flight) and their seqs.
    fn dropped(&mut self, d: dozor_buffer::Dropped) -> (u64, Option<(u64, u64)>) {
        if d.records == 0 {
            return (0, None);
        }
        let new_base = self.buffer.next_unacked();
        let points = self
            .window
            .dropped(d.first_seq, d.end_seq, d.weight, new_base);
        (points, Some((d.first_seq, d.end_seq)))
    }

    /// Writes the acknowledgement that is due, if any.
    fn flush_ack(&mut self) -> Result<(), Error> {
        if let Some(up_to) = self.ack_due {
            self.buffer.ack(up_to)?;
            self.ack_due = None;
        }
        Ok(())
    }

    /// Acknowledges the buffer up to `up_to`, now or, should that fail, later.
    fn ack(&mut self, up_to: u64) -> Result<(), Error> {
        self.ack_due = Some(self.ack_due.map_or(up_to, |due| due.max(up_to)));
        self.flush_ack()
    }
}

/// Why a batch could not be appended.
#[derive(Debug)]
pub struct AppendFailed {
    /// The buffer's error.
    pub error: Error,
    /// Points of older batches dropped trying to make room (exact, as [`Appended`]'s).
    pub dropped_points: u64,
    /// Seqs dropped, `first..end`, when any.
    pub dropped_range: Option<(u64, u64)>,
}

impl AppendFailed {
    /// True when collection should pause and try again: the buffer is full under
    /// `when_full: pause`, or its disk is.
    pub fn pauses(&self, wal: &Wal) -> bool {
        match self.error {
            Error::Full { .. } => true,
            Error::NoSpace { .. } => wal.pause,
            _ => false,
        }
    }
}

/// What appending did.
#[derive(Debug)]
pub struct Appended {
    /// The new record's seq.
    pub seq: u64,
    /// Points lost to make room (exact: excludes records delivered or in flight).
    pub dropped_points: u64,
    /// Seqs dropped, `first..end`, when any.
    pub dropped_range: Option<(u64, u64)>,
}

/// The backlog, for gauges.
#[derive(Debug, Default)]
pub struct Backlog {
    /// Bytes of segment files.
    pub bytes: u64,
    /// Records not yet acknowledged.
    pub records: u64,
    /// Points of those records (may include the acknowledged part of the oldest segment).
    pub points: u64,
    /// Age of the oldest segment holding unacknowledged records.
    pub oldest_age: Option<Duration>,
    /// Bytes free on the buffer's file system.
    pub free_bytes: Option<u64>,
    /// The buffer's `max_bytes`.
    pub limit: u64,
}

impl Wal {
    /// Opens the buffer in `dir`, taking its lock, and loads or makes the stream id. Logs one
    /// line with the backlog found and what recovery repaired.
    pub fn open(dir: &Path, options: Options) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating the buffer directory {}", dir.display()))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock =
            File::create(&lock_path).with_context(|| format!("opening {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "the buffer directory {} is in use by another dozor-agent (lock held on {}); \
                 give each agent its own exporters.otlp.buffer.path",
                dir.display(),
                lock_path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        let buffer = Buffer::open(dir, options.clone())
            .with_context(|| format!("opening the buffer in {}", dir.display()))?;
        let recovery = buffer.recovery();
        let stream_path = dir.join(STREAM_FILE);
        let existing = fs::read_to_string(&stream_path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| is_stream_id(s));
        // Records cut off the end give their seqs to the next appends: never reuse a seq
        // within one stream.
        let stream = match existing {
            Some(s) if recovery.truncated_bytes == 0 => s,
            _ => {
                let s = format!("{:016x}", rand::random::<u64>());
                write_atomically(&stream_path, s.as_bytes())?;
                s
            }
        };
        let pending = buffer.pending();
        let age = pending.oldest_segment.as_deref().and_then(segment_age);
        info!(
            path = %dir.display(),
            stream = %stream,
            backlog_records = pending.records,
            backlog_bytes = buffer.used_bytes(),
            backlog_oldest_age_s = age.map(|a| a.as_secs()),
            next_seq = buffer.next_seq(),
            recovery_cut_bytes = recovery.truncated_bytes,
            recovery_cut_records = recovery.cut_records,
            recovery_cut_points = recovery.cut_weight,
            recovery_corrupt_records = recovery.corrupt_records,
            recovery_ack_reset = recovery.ack_reset,
            "Buffer opened."
        );
        if recovery.corrupt_records > 0 {
            error!(
                corrupt_records = recovery.corrupt_records,
                points = recovery.cut_weight,
                "Buffer held corrupt records; they and the records after them in their segment were cut."
            );
        }
        let base = buffer.next_unacked();
        Ok(Wal {
            pause: options.full == dozor_buffer::Full::Reject,
            max_bytes: options.max_bytes,
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                buffer,
                window: Window::new(base),
                expect: base,
                ack_due: None,
            }),
            wake: Notify::new(),
            rewind: AtomicBool::new(false),
            stream,
            _lock: lock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream id.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Appends an encoded request of `points` points; with `claim`, the new record is taken
    /// for the live lane at once (so the replay lane skips it).
    pub fn append(
        &self,
        payload: &[u8],
        points: u32,
        claim: bool,
    ) -> Result<Appended, AppendFailed> {
        let mut inner = self.lock();
        // Free what was delivered first: on a full disk that is the room this append needs.
        let _ = inner.flush_ack();
        let appended = match inner.buffer.append(payload, points) {
            Ok(appended) => appended,
            Err(error) => {
                let dropped = match &error {
                    Error::NoSpace { dropped, .. } => *dropped,
                    _ => dozor_buffer::Dropped::default(),
                };
                let (dropped_points, dropped_range) = inner.dropped(dropped);
                return Err(AppendFailed {
                    error,
                    dropped_points,
                    dropped_range,
                });
            }
        };
        let (dropped_points, dropped_range) = inner.dropped(appended.dropped);
        let out = Appended {
            seq: appended.seq,
            dropped_points,
            dropped_range,
        };
        if claim {
            // The live lane sends it; the replay lane hears of it only if it comes back
            // (`release`), so a sender that keeps up never wakes the replay lane.
            inner.window.claim(appended.seq, points);
        } else {
            drop(inner);
            self.wake.notify_one();
        }
        Ok(out)
    }

    /// The oldest seq that may still be sent (`dozor-oldest`).
    pub fn oldest(&self) -> u64 {
        self.lock().window.oldest()
    }

    /// Whether `seq` was dropped from the buffer while in flight: do not send it again.
    pub fn is_orphan(&self, seq: u64) -> bool {
        self.lock().window.is_orphan(seq)
    }

    /// Marks `seq` delivered or rejected; acknowledges the buffer over the settled prefix.
    /// Returns true when the record had been dropped while in flight.
    pub fn settle(&self, seq: u64) -> Result<bool, Error> {
        let mut inner = self.lock();
        let settled = inner.window.settle(seq);
        match settled.advanced_to {
            Some(next) => inner.ack(next - 1)?,
            None => inner.flush_ack()?,
        }
        Ok(settled.orphan)
    }

    /// Gives `seq` back unsent, for the replay lane. Returns true when the record had been
    /// dropped while in flight (its points are lost).
    pub fn release(&self, seq: u64) -> bool {
        let mut inner = self.lock();
        let orphan = inner.window.release(seq);
        if !orphan && seq < inner.expect {
            self.rewind.store(true, Ordering::Relaxed);
        }
        drop(inner);
        self.wake.notify_one();
        orphan
    }

    /// The next record for the replay lane, in seq order, claimed; `None` when every record
    /// is settled or being sent.
    pub fn replay_next(&self) -> Result<Option<Record>, Error> {
        let mut inner = self.lock();
        if self.rewind.swap(false, Ordering::Relaxed) {
            inner.buffer.rewind();
            inner.expect = inner.window.base();
        }
        loop {
            let record = match inner.buffer.read_next() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(None),
                Err(Error::Corrupt { path, offset }) => {
                    error!(path = %path.display(), offset, "Corrupt record in the buffer; the rest of its segment is lost.");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if record.seq > inner.expect {
                let expect = inner.expect;
                if let Some(next) = inner.window.gap(expect, record.seq) {
                    inner.ack(next - 1)?;
                }
            }
            inner.expect = record.seq + 1;
            if inner.window.claim(record.seq, record.weight) {
                return Ok(Some(record));
            }
        }
    }

    /// True when nothing is left to send: every record settled.
    pub fn is_drained(&self) -> bool {
        let inner = self.lock();
        inner.window.base() >= inner.buffer.next_seq()
    }

    /// The backlog, from memory and one `stat`.
    pub fn backlog(&self) -> Backlog {
        let inner = self.lock();
        let pending = inner.buffer.pending();
        Backlog {
            bytes: inner.buffer.used_bytes(),
            records: pending.records,
            points: pending.weight_upper,
            oldest_age: pending.oldest_segment.as_deref().and_then(segment_age),
            free_bytes: dozor_buffer::free_bytes(&self.dir),
            limit: self.max_bytes,
        }
    }

    /// Forces appended records to disk (before exit).
    pub fn sync(&self) -> Result<(), Error> {
        self.lock().buffer.sync()
    }
}

/// Time since the segment was created (its birth time, or its modification time where the
/// file system has none).
fn segment_age(path: &Path) -> Option<Duration> {
    let meta = fs::metadata(path).ok()?;
    let born = meta.created().or_else(|_| meta.modified()).ok()?;
    SystemTime::now().duration_since(born).ok()
}

fn is_stream_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let first = Wal::open(dir.path(), Options::default()).unwrap();
        let err = Wal::open(dir.path(), Options::default())
            .err()
            .expect("locked")
            .to_string();
        assert!(err.contains("in use by another dozor-agent"), "{err}");
        let stream = first.stream().to_string();
        drop(first);
        let again = Wal::open(dir.path(), Options::default()).unwrap();
        assert_eq!(again.stream(), stream, "the stream id is kept");
        assert!(is_stream_id(&stream));
    }

    #[test]
    fn out_of_order_settles_move_the_persisted_ack_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        for i in 0..5u8 {
            wal.append(&[i], 1, false).unwrap();
        }
        let read: Vec<u64> = std::iter::from_fn(|| wal.replay_next().unwrap())
            .map(|r| r.seq)
            .collect();
        assert_eq!(read, [0, 1, 2, 3, 4]);
        for seq in [3, 1, 0] {
            wal.settle(seq).unwrap();
        }
        assert_eq!(wal.oldest(), 2);
        drop(wal);
        // Reopened: 0 and 1 are acknowledged on disk; 3 (settled above the gap) is sent again.
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        let again: Vec<u64> = std::iter::from_fn(|| wal.replay_next().unwrap())
            .map(|r| r.seq)
            .collect();
        assert_eq!(again, [2, 3, 4]);
    }

    #[test]
    fn replay_reads_in_order_skipping_what_the_live_lane_holds() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), Options::default()).unwrap();
        wal.append(b"a", 1, false).unwrap();
        wal.append(b"b", 2, true).unwrap();
        wal.append(b"c", 3, false).unwrap();
        let seqs: Vec<u64> = std::iter::from_fn(|| wal.replay_next().unwrap())
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [0, 2]);
        assert!(!wal.settle(2).unwrap());
        assert!(!wal.release(1), "the live lane gives 1 back");
        assert_eq!(wal.replay_next().unwrap().map(|r| r.seq), Some(1));
        wal.settle(1).unwrap();
        assert!(!wal.is_drained());
        wal.settle(0).unwrap();
        assert!(wal.is_drained());
        assert_eq!(wal.oldest(), 3);
    }
}
