//! The buffer itself: opening (recovery), appending, acknowledging and the size bound.

mod drop;
mod read;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::ack::{self, Stored};
use crate::frame::{self, HEADER_LEN};
use crate::segment::{self, Meta};
use crate::{Appended, Dropped, Error, Full, Options, Pending, Recovery, SyncPolicy};

/// A durable, size-bounded, append-only queue of opaque records in a directory.
///
/// Single writer and single reader: one `Buffer` per directory, used from one thread (`&mut`).
/// See the crate documentation for the on-disk format and the guarantees.
#[derive(Debug)]
pub struct Buffer {
    dir: PathBuf,
    options: Options,
    /// Live segments by first sequence number; only a few integers each.
    segments: BTreeMap<u64, Meta>,
    /// The last segment, open for appending; `None` until the next append starts a segment.
    active: Option<File>,
    next_seq: u64,
    next_unacked: u64,
    ack_file: ack::AckFile,
    total_bytes: u64,
    last_sync: Instant,
    unsynced: bool,
    recovery: Recovery,
    cursor: read::Cursor,
}

impl Buffer {
    /// Opens (creating if needed) the buffer in `dir`, repairing what a crash left behind:
    /// torn or corrupt tails are truncated, segments without a valid record or whose records
    /// are all acknowledged are deleted. What was repaired is in [`Buffer::recovery`].
    ///
    /// Start-up memory is independent of the backlog: each segment is scanned streaming and
    /// only its first sequence number, record count and byte count are kept.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(Error::io("creating directory", &dir))?;
        let mut recovery = Recovery::default();
        let next_unacked = match ack::read(&dir)? {
            Stored::Missing => 0,
            Stored::Position(next) => next,
            Stored::Invalid => {
                recovery.ack_reset = true;
                0
            }
        };
        let seqs = segment::list(&dir)?;
        let mut segments = BTreeMap::new();
        let mut removed = false;
        for (i, &first_seq) in seqs.iter().enumerate() {
            let path = segment::path(&dir, first_seq);
            let scan = segment::scan(&path, first_seq)?;
            let bad_bytes = scan.file_len - scan.meta.bytes;
            if bad_bytes > 0 {
                recovery.truncated_bytes += bad_bytes;
                // Only the last segment can end in an interrupted write: the others were
                // complete when their successor was started.
                if scan.corrupt || i + 1 < seqs.len() {
                    recovery.corrupt_records += 1;
                }
                recovery.cut_records += scan.cut.0;
                recovery.cut_weight += scan.cut.1;
            }
            if scan.meta.records == 0 || scan.meta.end_seq() <= next_unacked {
                fs::remove_file(&path).map_err(Error::io("removing segment", &path))?;
                removed = true;
            } else {
                if bad_bytes > 0 {
                    segment::truncate(&path, scan.meta.bytes)?;
                }
                segments.insert(first_seq, scan.meta);
            }
        }
        if removed && options.sync != SyncPolicy::Never {
            ack::sync_dir(&dir)?;
        }
        let next_seq = segments
            .values()
            .next_back()
            .map_or(0, Meta::end_seq)
            .max(next_unacked);
        // The acknowledgement file exists from the start, so that acknowledging (and with it
        // freeing space) never needs space: on a full disk it is overwritten in place. Should
        // it not even be creatable now, the first acknowledgement tries again.
        let mut ack_file = ack::AckFile::new(&dir);
        let _ = ack_file.write(next_unacked, false);
        Ok(Self {
            ack_file,
            dir,
            total_bytes: segments.values().map(|m| m.bytes).sum(),
            segments,
            options,
            active: None,
            next_seq,
            next_unacked,
            last_sync: Instant::now(),
            unsynced: false,
            recovery,
            cursor: read::Cursor::new(next_unacked),
        })
    }

    /// What [`Buffer::open`] repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The sequence number the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The first sequence number not yet acknowledged (delivery resumes here after a restart).
    pub fn next_unacked(&self) -> u64 {
        self.next_unacked
    }

    /// Bytes occupied by segment files, headers included; at most [`Options::max_bytes`]
    /// unless the limit was lowered between runs.
    pub fn used_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// What is waiting for acknowledgement, from in-memory counters only (no I/O).
    pub fn pending(&self) -> Pending {
        let mut pending = Pending::default();
        for meta in self.segments.values() {
            if meta.end_seq() <= self.next_unacked {
                continue;
            }
            pending.records += meta.end_seq() - meta.first_seq.max(self.next_unacked);
            pending.weight_upper += meta.weight;
            if pending.oldest_segment.is_none() {
                pending.oldest_segment = Some(segment::path(&self.dir, meta.first_seq));
            }
        }
        pending
    }

    /// Appends one record of the given `weight` (any caller unit, e.g. data points; stored in
    /// the frame and reported back when the record is dropped) and returns its sequence
    /// number, with the records dropped to make room under [`Full::DropOldest`]. The record is
    /// durable against process death when this returns, and against power loss as
    /// [`SyncPolicy`] says.
    ///
    /// A full file system is handled as the policy says: under [`Full::Reject`] nothing is
    /// written and the error is [`Error::NoSpace`] (pause, as for [`Error::Full`]); under
    /// [`Full::DropOldest`] the oldest segments are dropped, counted as ever, to make room,
    /// and [`Error::NoSpace`] comes only when none of the buffer's own is left to delete.
    pub fn append(&mut self, payload: &[u8], weight: u32) -> Result<Appended, Error> {
        match self.append_once(payload, weight) {
            Err(e) if e.is_disk_full() => self.append_on_full_disk(payload, weight, e),
            other => other,
        }
    }

    fn append_on_full_disk(
        &mut self,
        payload: &[u8],
        weight: u32,
        first: Error,
    ) -> Result<Appended, Error> {
        let needed = HEADER_LEN + payload.len() as u64;
        let path = match first {
            Error::Io { path, .. } => path,
            other => return Err(other),
        };
        let no_space = |path, dropped| Error::NoSpace {
            path,
            needed,
            dropped,
        };
        if self.options.full == Full::Reject {
            return Err(no_space(path, Dropped::default()));
        }
        // Make room as if the buffer's own bound were reached: enough closed segments, oldest
        // first, for the record (the one being appended to stays).
        let closed: u64 = self.segments.values().rev().skip(1).map(|m| m.bytes).sum();
        if closed == 0 {
            return Err(no_space(path, Dropped::default()));
        }
        self.close_active()?;
        let room = self
            .total_bytes
            .saturating_sub(needed.max(self.options.segment_bytes));
        let dropped = self.drop_oldest(room)?;
        match self.append_once(payload, weight) {
            Ok(mut appended) => {
                appended.dropped = appended.dropped.merge(dropped);
                Ok(appended)
            }
            // The drop stands: it is reported with the failure, to be counted.
            Err(e) if e.is_disk_full() => Err(no_space(path, dropped)),
            Err(e) => Err(e),
        }
    }

    fn append_once(&mut self, payload: &[u8], weight: u32) -> Result<Appended, Error> {
        let max = self.options.max_bytes;
        let frame_len = HEADER_LEN + payload.len() as u64;
        if u32::try_from(payload.len()).is_err() || frame_len > max {
            return Err(Error::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let mut dropped = Dropped::default();
        if self.total_bytes + frame_len > max {
            match self.options.full {
                Full::Reject => {
                    return Err(Error::Full {
                        needed: frame_len,
                        used: self.total_bytes,
                        max,
                    });
                }
                Full::DropOldest => dropped = self.drop_oldest(max - frame_len)?,
            }
        }
        let last = self.segments.values().next_back();
        if self.active.is_some()
            && last.is_some_and(|m| m.bytes > 0 && m.bytes + frame_len > self.options.segment_bytes)
        {
            self.close_active()?;
        }
        if self.active.is_none() {
            self.start_segment()?;
        }
        let (Some(file), Some((&first_seq, meta))) =
            (self.active.as_mut(), self.segments.iter_mut().next_back())
        else {
            unreachable!("start_segment opened the last segment");
        };
        if let Err(source) = file.write_all(&frame::encode(payload, weight)) {
            // Never append after a partial frame: it would hide every later record.
            let _ = file.set_len(meta.bytes);
            self.active = None;
            return Err(Error::Io {
                action: "appending to segment",
                path: segment::path(&self.dir, first_seq),
                source,
            });
        }
        meta.records += 1;
        meta.bytes += frame_len;
        meta.weight += u64::from(weight);
        self.total_bytes += frame_len;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unsynced = true;
        match self.options.sync {
            SyncPolicy::Always => self.sync()?,
            SyncPolicy::Interval(every) if self.last_sync.elapsed() >= every => {
                self.sync_segment()?
            }
            SyncPolicy::Interval(_) | SyncPolicy::Never => {}
        }
        Ok(Appended { seq, dropped })
    }

    /// Acknowledges every record with a sequence number up to and including `up_to` (values
    /// at or beyond [`Buffer::next_seq`] acknowledge everything written). The position is
    /// persisted before any segment is deleted; closed segments whose records are all
    /// acknowledged are then deleted. The segment being appended to is kept until it is full,
    /// even when all of it is acknowledged: a sender that keeps up would otherwise create,
    /// sync and delete a segment file for every record. Acknowledging an older position does
    /// nothing.
    pub fn ack(&mut self, up_to: u64) -> Result<(), Error> {
        let next = up_to.saturating_add(1).min(self.next_seq);
        if next <= self.next_unacked {
            return Ok(());
        }
        self.persist_ack(next)?;
        let active = self
            .active
            .as_ref()
            .and_then(|_| self.segments.keys().next_back().copied());
        let done: Vec<u64> = self
            .segments
            .values()
            .take_while(|m| m.end_seq() <= next && Some(m.first_seq) != active)
            .map(|m| m.first_seq)
            .collect();
        self.remove_segments(&done)
    }

    /// Forces appended records to stable storage now, whatever the [`SyncPolicy`]. Call it
    /// before a planned shutdown under [`SyncPolicy::Interval`]; dropping a `Buffer` does not sync.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.sync_segment()?;
        self.ack_file.sync()
    }

    /// Forces appended records to stable storage, but not the acknowledged position: the
    /// periodic sync of [`SyncPolicy::Interval`]. An acknowledgement that a power loss takes
    /// back only means redelivery, so the `ack` file is left to the kernel's writeback (and
    /// [`Buffer::sync`] at shutdown) rather than costing an `fdatasync` per interval.
    fn sync_segment(&mut self) -> Result<(), Error> {
        if let (Some(file), true) = (&self.active, self.unsynced) {
            let first_seq = self
                .segments
                .keys()
                .next_back()
                .copied()
                .unwrap_or_default();
            file.sync_data().map_err(Error::io(
                "syncing segment",
                segment::path(&self.dir, first_seq),
            ))?;
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Records `next` as the first unacknowledged sequence number, in the file first. Under
    /// [`SyncPolicy::Always`] it is synced at once; otherwise by the kernel's writeback or
    /// [`Buffer::sync`]; a position a power loss takes back only means redelivery.
    pub(super) fn persist_ack(&mut self, next: u64) -> Result<(), Error> {
        self.ack_file
            .write(next, self.options.sync == SyncPolicy::Always)?;
        self.next_unacked = next;
        self.cursor.skip_to(next);
        Ok(())
    }

    /// Deletes the given segments (closing the active one if it is among them).
    pub(super) fn remove_segments(&mut self, firsts: &[u64]) -> Result<(), Error> {
        let last = self.segments.keys().next_back().copied();
        for &first in firsts {
            if Some(first) == last {
                self.active = None;
            }
            self.cursor.forget(first);
            let path = segment::path(&self.dir, first);
            fs::remove_file(&path).map_err(Error::io("removing segment", &path))?;
            if let Some(meta) = self.segments.remove(&first) {
                self.total_bytes -= meta.bytes;
            }
        }
        if !firsts.is_empty() && self.options.sync != SyncPolicy::Never {
            ack::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Starts a new, empty segment named after the next sequence number.
    fn start_segment(&mut self) -> Result<(), Error> {
        let path = segment::path(&self.dir, self.next_seq);
        // Truncate: a file of that name can only be a leftover without a valid record.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(Error::io("creating segment", &path))?;
        if self.options.sync != SyncPolicy::Never {
            ack::sync_dir(&self.dir)?;
        }
        self.segments.insert(
            self.next_seq,
            Meta {
                first_seq: self.next_seq,
                records: 0,
                bytes: 0,
                weight: 0,
            },
        );
        self.active = Some(file);
        Ok(())
    }

    /// Closes the active segment, syncing it first unless the policy is [`SyncPolicy::Never`].
    pub(super) fn close_active(&mut self) -> Result<(), Error> {
        if self.options.sync != SyncPolicy::Never {
            self.sync()?;
        }
        self.active = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Under `Interval` the periodic sync covers appended records only; the acknowledged
    /// position waits for `sync` (a power loss taking it back only means redelivery).
    #[test]
    fn the_periodic_sync_leaves_the_ack_file_to_an_explicit_sync() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            sync: SyncPolicy::Interval(Duration::ZERO),
            ..Options::default()
        };
        let mut buffer = Buffer::open(dir.path(), options).unwrap();
        let first = buffer.append(b"one", 1).unwrap().seq;
        buffer.ack(first).unwrap();
        buffer.append(b"two", 1).unwrap();
        assert!(!buffer.unsynced, "the append synced the segment");
        assert!(buffer.ack_file.unsynced, "the append synced the ack file");
        buffer.sync().unwrap();
        assert!(!buffer.ack_file.unsynced);
    }
}
