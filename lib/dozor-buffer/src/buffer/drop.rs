//! Making room under [`Full::DropOldest`](crate::Full::DropOldest), counting exactly what is lost.

use std::fs::File;
use std::io::BufReader;

use super::Buffer;
use crate::frame::{self, Frame, HEADER_LEN};
use crate::segment::{self, Meta};
use crate::{Dropped, Error};

impl Buffer {
    /// Deletes whole segments, oldest first, until at most `room` bytes are used; returns the
    /// unacknowledged records that were lost. The dropped records count as acknowledged, so
    /// their sequence numbers are never handed out again.
    pub(super) fn drop_oldest(&mut self, room: u64) -> Result<Dropped, Error> {
        let mut dropped = Dropped::default();
        let mut used = self.total_bytes;
        let mut victims = Vec::new();
        for meta in self.segments.values() {
            if used <= room {
                break;
            }
            used -= meta.bytes;
            victims.push(meta.first_seq);
            let (records, bytes, weight) = if meta.first_seq >= self.next_unacked {
                (meta.records, meta.payload_bytes(), meta.weight)
            } else {
                self.count_unacked(meta)?
            };
            if records > 0 && dropped.records == 0 {
                dropped.first_seq = meta.first_seq.max(self.next_unacked);
            }
            if records > 0 {
                dropped.end_seq = meta.end_seq();
            }
            dropped.records += records;
            dropped.bytes += bytes;
            dropped.weight += weight;
        }
        let next = victims
            .last()
            .and_then(|last| self.segments.range(last + 1..).next())
            .map_or(self.next_seq, |(&first, _)| first);
        if next > self.next_unacked {
            self.persist_ack(next)?;
        }
        self.remove_segments(&victims)?;
        Ok(dropped)
    }

    /// Counts the records of a partly acknowledged segment at or after `next_unacked`, their
    /// payload bytes and their weight, reading headers and checksumming payloads streaming.
    fn count_unacked(&self, meta: &Meta) -> Result<(u64, u64, u64), Error> {
        let path = segment::path(&self.dir, meta.first_seq);
        let file = File::open(&path).map_err(Error::io("opening segment", &path))?;
        let mut reader = BufReader::new(file);
        let (mut offset, mut records, mut bytes, mut weight) = (0, 0, 0, 0);
        for seq in meta.first_seq..meta.end_seq() {
            let frame = frame::skip(&mut reader, meta.bytes - offset)
                .map_err(Error::io("reading segment", &path))?;
            let Frame::Valid(h) = frame else { break };
            offset += HEADER_LEN + u64::from(h.len);
            if seq >= self.next_unacked {
                records += 1;
                bytes += u64::from(h.len);
                weight += u64::from(h.weight);
            }
        }
        Ok((records, bytes, weight))
    }
}
