//! The outbox of one endpoint: accepted samples on disk (`lib/dozor-buffer`) until the
//! endpoint took them or refused them for good.
//!
//! A record is appended before the sender of the request is answered, so an OK means the
//! samples are on the collector's disk; the sender acknowledges records in order once every
//! sample in them is settled. Records are written with one `write` (no fsync per record; the
//! segment is synced at most once a second), so they survive the death of the collector
//! process, not a power loss within that second. When full, the oldest segments are dropped
//! to make room ([`Full::DropOldest`]) and the samples lost are reported: an endpoint that is
//! away for long must not make the collector refuse the agents.
//!
//! Record payload (the buffer frames and checksums it; its weight is the number of samples):
//!
//! ```text
//! [version = 1: u8][received, Unix ns: u64 LE][snappy WriteRequest, as sent on the wire]
//! ```

use dozor_buffer::{Buffer, Error, Full, Options, SyncPolicy};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// One record read back.
#[derive(Debug)]
pub struct Entry {
    /// The buffer's sequence number (for acknowledging).
    pub position: u64,
    /// When it was appended, Unix nanoseconds.
    pub received: u64,
    /// Samples in it.
    pub samples: u64,
    /// The snappy-compressed `WriteRequest`.
    pub body: Vec<u8>,
}

/// Why a record could not be appended or read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The buffer failed (disk error, corruption).
    #[error("outbox: {0}")]
    Buffer(#[from] Error),
    /// A record's header is malformed (it was checksummed: a version this build cannot read).
    #[error("outbox record {0}: malformed header")]
    Malformed(u64),
}

/// The shared outbox: receivers append, the sender reads and acknowledges.
#[derive(Debug)]
pub struct Outbox {
    buffer: Mutex<Buffer>,
    /// (position, samples) of the records read and not yet acknowledged: the sender holds
    /// them, so dropping their segment loses nothing. Changed only under the buffer's lock.
    in_flight: Mutex<Vec<(u64, u64)>>,
    /// Woken on every append.
    pub appended: Notify,
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`, bounded to `max_bytes`. Returns it with the
    /// samples recovery had to cut (corrupt records).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Outbox, u64), OutboxError> {
        let options = Options {
            segment_bytes: (max_bytes / 16).clamp(1 << 16, 8 << 20),
            max_bytes,
            full: Full::DropOldest,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
        };
        let buffer = Buffer::open(dir, options)?;
        let lost = buffer.recovery().cut_weight;
        Ok((
            Outbox {
                buffer: Mutex::new(buffer),
                in_flight: Mutex::new(Vec::new()),
                appended: Notify::new(),
            },
            lost,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Vec<(u64, u64)>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one body of `samples` samples received at `received` (Unix ns). Returns the
    /// samples of older records dropped to make room (records the sender already holds are
    /// not lost, and not counted).
    pub fn append(&self, received: u64, body: &[u8], samples: u64) -> Result<u64, OutboxError> {
        let mut payload = Vec::with_capacity(9 + body.len());
        payload.push(1);
        payload.extend_from_slice(&received.to_le_bytes());
        payload.extend_from_slice(body);
        let weight = u32::try_from(samples).unwrap_or(u32::MAX);
        let mut buffer = self.lock();
        let dropped = buffer.append(&payload, weight)?.dropped;
        let held: u64 = self
            .in_flight()
            .iter()
            .filter(|(p, _)| (dropped.first_seq..dropped.end_seq).contains(p))
            .map(|(_, n)| n)
            .sum();
        drop(buffer);
        self.appended.notify_one();
        Ok(dropped.weight.saturating_sub(held))
    }

    /// The next record not yet read, if any.
    pub fn read_next(&self) -> Result<Option<Entry>, OutboxError> {
        let mut buffer = self.lock();
        let Some(record) = buffer.read_next()? else {
            return Ok(None);
        };
        self.in_flight()
            .push((record.seq, u64::from(record.weight)));
        drop(buffer);
        let p = &record.payload;
        if p.len() < 9 || p[0] != 1 {
            return Err(OutboxError::Malformed(record.seq));
        }
        let received = u64::from_le_bytes(p[1..9].try_into().unwrap_or_default());
        Ok(Some(Entry {
            position: record.seq,
            received,
            samples: u64::from(record.weight),
            body: p[9..].to_vec(),
        }))
    }

    /// Forgets every record up to and including `position`.
    pub fn ack(&self, position: u64) -> Result<(), OutboxError> {
        let mut buffer = self.lock();
        buffer.ack(position)?;
        self.in_flight().retain(|(p, _)| *p > position);
        Ok(())
    }

    /// Samples not yet acknowledged (exact unless the oldest segment is partly acknowledged:
    /// then too high by that part), and bytes on disk.
    pub fn usage(&self) -> (u64, u64) {
        let b = self.lock();
        let pending = b.pending();
        let samples = if pending.records == 0 {
            0
        } else {
            pending.weight_upper
        };
        (samples, b.used_bytes())
    }

    /// Syncs appended records to disk (at shutdown).
    pub fn sync(&self) -> Result<(), OutboxError> {
        Ok(self.lock().sync()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_drops_the_oldest_and_says_how_many_samples() {
        let dir = tempfile::tempdir().unwrap();
        let (outbox, lost) = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(lost, 0);
        let body = vec![7u8; 100 << 10];
        let mut dropped = 0;
        for i in 0..30 {
            dropped += outbox.append(i, &body, 10).unwrap();
        }
        assert!(dropped > 0 && dropped % 10 == 0, "{dropped}");
        let (pending, bytes) = outbox.usage();
        assert!(bytes <= 1 << 20, "{bytes}");
        let mut read = 0;
        let mut first = None;
        while let Some(e) = outbox.read_next().unwrap() {
            first.get_or_insert(e.received);
            assert_eq!((e.samples, e.body.len()), (10, body.len()));
            read += e.samples;
            outbox.ack(e.position).unwrap();
        }
        assert_eq!(read + dropped, 300);
        assert!(pending >= read, "{pending} {read}");
        assert_eq!(first, Some(dropped / 10));
        assert_eq!(outbox.usage().0, 0);
    }
}
