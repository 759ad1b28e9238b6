//! The outbox: accepted OTLP logs requests on disk (`lib/dozor-buffer`) until every document
//! made from them is settled in Elasticsearch.
//!
//! A record is appended before the sender of the request is answered, so an OK means the logs
//! are on the collector's disk; the sender acknowledges records in order once all of their
//! documents are indexed, duplicates or rejected. The buffer refuses records when full
//! ([`Full::Reject`]): the receivers then refuse the request with a retryable status and the
//! agent keeps the logs. Records are written with one `write` (no fsync per record; the
//! segment is synced at most once a second), so they survive the death of the collector
//! process, not a power loss within that second.
//!
//! Record payload (the buffer frames and checksums it; its weight is the number of log records):
//!
//! ```text
//! [version = 1: u8][agent length: u8][agent][stream: 16 bytes][seq: u64 LE]
//! [received, Unix ns: u64 LE][ExportLogsServiceRequest protobuf]
//! ```
//!
//! `agent`, `stream` and `seq` are the request's delivery headers; a request without them gets
//! agent `-`, a stream made from the time it was received and seq 0, unique per collector.

use dozor_buffer::{Buffer, Error, Full, Options, SyncPolicy};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Who sent a batch of log records: the key their document ids are derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `dozor-agent` (or the token's agent), `-` when untracked.
    pub agent: String,
    /// `dozor-stream`, 16 hex digits.
    pub stream: String,
    /// `dozor-seq`.
    pub seq: u64,
    /// When the collector received it, Unix nanoseconds.
    pub received: u64,
}

/// One record read back.
#[derive(Debug)]
pub struct Entry {
    /// The buffer's sequence number (for acknowledging).
    pub position: u64,
    /// Whose records.
    pub origin: Origin,
    /// The request, protobuf-encoded as it was received.
    pub request: Vec<u8>,
}

/// Why a record could not be appended or read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds `max_bytes` already.
    #[error("the Elasticsearch outbox is full")]
    Full,
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
    last_received: Mutex<u64>,
    /// Woken on every append.
    pub appended: Notify,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`, bounded to `max_bytes`. The number of records
    /// recovery had to cut is in the returned count.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Outbox, u64), OutboxError> {
        let options = Options {
            segment_bytes: (max_bytes / 16).clamp(1 << 16, 8 << 20),
            max_bytes,
            full: Full::Reject,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
        };
        let buffer = Buffer::open(dir, options)?;
        let r = buffer.recovery();
        let lost = r.corrupt_records + r.cut_records;
        Ok((
            Outbox {
                buffer: Mutex::new(buffer),
                last_received: Mutex::new(0),
                appended: Notify::new(),
            },
            lost,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one request of `records` log records. `tracked` is (agent, stream, seq) from the
    /// delivery headers; `agent` alone names an untracked sender.
    pub fn append(
        &self,
        tracked: Option<(&str, &str, u64)>,
        agent: Option<&str>,
        request: &[u8],
        records: u64,
    ) -> Result<(), OutboxError> {
        let received = {
            // Strictly increasing, so that untracked requests never share a stream.
            let mut last = self.last_received.lock().unwrap_or_else(|e| e.into_inner());
            *last = now_ns().max(*last + 1);
            *last
        };
        let origin = match tracked {
            Some((agent, stream, seq)) => Origin {
                agent: agent.to_string(),
                stream: stream.to_string(),
                seq,
                received,
            },
            None => Origin {
                agent: agent.unwrap_or("-").to_string(),
                stream: format!("{received:016x}"),
                seq: 0,
                received,
            },
        };
        let payload = encode(&origin, request);
        let weight = u32::try_from(records).unwrap_or(u32::MAX);
        match self.lock().append(&payload, weight) {
            Ok(_) => {
                self.appended.notify_one();
                Ok(())
            }
            Err(Error::Full { .. }) => Err(OutboxError::Full),
            Err(e) => Err(e.into()),
        }
    }

    /// The next record not yet read, if any.
    pub fn read_next(&self) -> Result<Option<Entry>, OutboxError> {
        let Some(record) = self.lock().read_next()? else {
            return Ok(None);
        };
        let (origin, request) =
            decode(&record.payload).ok_or(OutboxError::Malformed(record.seq))?;
        Ok(Some(Entry {
            position: record.seq,
            origin,
            request: request.to_vec(),
        }))
    }

    /// Forgets every record up to and including `position`.
    pub fn ack(&self, position: u64) -> Result<(), OutboxError> {
        Ok(self.lock().ack(position)?)
    }

    /// Records not yet acknowledged, and bytes on disk.
    pub fn usage(&self) -> (u64, u64) {
        let b = self.lock();
        (b.pending().records, b.used_bytes())
    }

    /// Syncs appended records to disk (at shutdown).
    pub fn sync(&self) -> Result<(), OutboxError> {
        Ok(self.lock().sync()?)
    }
}

/// The record payload of `origin` and `request`.
pub fn encode(origin: &Origin, request: &[u8]) -> Vec<u8> {
    let agent = origin.agent.as_bytes();
    let agent = &agent[..agent.len().min(255)];
    let mut out = Vec::with_capacity(2 + agent.len() + 32 + request.len());
    out.push(1);
    out.push(agent.len() as u8);
    out.extend_from_slice(agent);
    let mut stream = [b'0'; 16];
    let s = origin.stream.as_bytes();
    stream[..s.len().min(16)].copy_from_slice(&s[..s.len().min(16)]);
    out.extend_from_slice(&stream);
    out.extend_from_slice(&origin.seq.to_le_bytes());
    out.extend_from_slice(&origin.received.to_le_bytes());
    out.extend_from_slice(request);
    out
}

/// The origin and request bytes of a record payload; `None` when malformed.
pub fn decode(payload: &[u8]) -> Option<(Origin, &[u8])> {
    let (&version, rest) = payload.split_first()?;
    if version != 1 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let len = len as usize;
    if rest.len() < len + 32 {
        return None;
    }
    let agent = std::str::from_utf8(&rest[..len]).ok()?.to_string();
    let stream = std::str::from_utf8(&rest[len..len + 16]).ok()?.to_string();
    let seq = u64::from_le_bytes(rest[len + 16..len + 24].try_into().ok()?);
    let received = u64::from_le_bytes(rest[len + 24..len + 32].try_into().ok()?);
    Some((
        Origin {
            agent,
            stream,
            seq,
            received,
        },
        &rest[len + 32..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let o = Origin {
            agent: "db-1".into(),
            stream: "00000000000000aa".into(),
            seq: 42,
            received: 7,
        };
        let p = encode(&o, b"proto");
        assert_eq!(decode(&p), Some((o, &b"proto"[..])));
        assert_eq!(decode(&p[..10]), None);
        assert_eq!(decode(&[2, 0]), None);
    }

    #[test]
    fn full_refuses_and_acks_free_room() {
        let dir = tempfile::tempdir().unwrap();
        let (outbox, lost) = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(lost, 0);
        let big = vec![0u8; 100 << 10];
        let mut n = 0;
        while outbox
            .append(Some(("a", "00000000000000aa", n)), None, &big, 1)
            .is_ok()
        {
            n += 1;
        }
        assert!(n >= 8, "{n}");
        assert!(matches!(
            outbox.append(None, Some("x"), &big, 1),
            Err(OutboxError::Full)
        ));
        let first = outbox.read_next().unwrap().unwrap();
        assert_eq!(first.origin.agent, "a");
        assert_eq!(first.origin.seq, 0);
        let mut last = first.position;
        while let Some(e) = outbox.read_next().unwrap() {
            last = e.position;
        }
        outbox.ack(last).unwrap();
        assert_eq!(outbox.usage().0, 0);
        outbox.append(None, Some("x"), &big, 1).unwrap();
        let e = outbox.read_next().unwrap().unwrap();
        assert_eq!((e.origin.agent.as_str(), e.origin.seq), ("x", 0));
        assert_eq!(e.origin.stream.len(), 16);
    }
}
