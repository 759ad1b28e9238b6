//! Reading records back in order, one at a time from disk.
//!
//! The reader keeps one open segment and a position in it; it never holds more than the
//! record being returned, whatever the backlog.

use std::fs::File;
use std::io::BufReader;

use super::Buffer;
use crate::frame::{self, Frame, HEADER_LEN};
use crate::{Error, Record, segment};

/// Where the next [`Buffer::read_next`] continues.
#[derive(Debug)]
pub(super) struct Cursor {
    /// The next sequence number to deliver (records below it are skipped).
    next: u64,
    /// The segment being read, if any.
    open: Option<Open>,
}

/// An open segment and the position of the next record in it.
#[derive(Debug)]
struct Open {
    first_seq: u64,
    reader: BufReader<File>,
    /// Index of the next record within the segment.
    index: u64,
    /// Byte offset of the next record.
    offset: u64,
}

impl Cursor {
    /// A cursor that starts at `next`.
    pub(super) fn new(next: u64) -> Self {
        Self { next, open: None }
    }

    /// Never deliver anything below `next`.
    pub(super) fn skip_to(&mut self, next: u64) {
        self.next = self.next.max(next);
    }

    /// Closes the segment starting at `first_seq` if it is the one being read.
    pub(super) fn forget(&mut self, first_seq: u64) {
        if self.open.as_ref().is_some_and(|o| o.first_seq == first_seq) {
            self.open = None;
        }
    }
}

impl Buffer {
    /// Reads the next record in sequence order, starting after the last acknowledged one, or
    /// `None` when every record written so far has been read. Reading does not acknowledge:
    /// call [`Buffer::ack`] once the records are delivered, or [`Buffer::rewind`] to read the
    /// unacknowledged records again (e.g. after a failed send).
    ///
    /// [`Error::Corrupt`] means a record changed on disk since it was written or scanned; the
    /// rest of that segment is skipped and the next call continues with the following segment.
    pub fn read_next(&mut self) -> Result<Option<Record>, Error> {
        loop {
            let first_seq = match &self.cursor.open {
                Some(open) if self.segments.contains_key(&open.first_seq) => open.first_seq,
                _ => {
                    let next = self.cursor.next;
                    let Some(meta) = self.segments.values().find(|m| m.end_seq() > next) else {
                        self.cursor.open = None;
                        return Ok(None);
                    };
                    let path = segment::path(&self.dir, meta.first_seq);
                    let file = File::open(&path).map_err(Error::io("opening segment", &path))?;
                    self.cursor.open = Some(Open {
                        first_seq: meta.first_seq,
                        reader: BufReader::new(file),
                        index: 0,
                        offset: 0,
                    });
                    meta.first_seq
                }
            };
            let meta = &self.segments[&first_seq];
            let is_last = self.segments.keys().next_back() == Some(&first_seq);
            let Some(open) = self.cursor.open.as_mut() else {
                unreachable!("opened above");
            };
            if open.index >= meta.records {
                if is_last {
                    // Keep the position: appends may extend this segment.
                    return Ok(None);
                }
                self.cursor.next = self.cursor.next.max(meta.end_seq());
                self.cursor.open = None;
                continue;
            }
            let path = segment::path(&self.dir, first_seq);
            let frame = frame::read(&mut open.reader, meta.bytes - open.offset)
                .map_err(Error::io("reading segment", &path))?;
            let Frame::Valid((weight, payload)) = frame else {
                let offset = open.offset;
                self.cursor.next = self.cursor.next.max(meta.end_seq());
                self.cursor.open = None;
                if is_last {
                    // Later appends must not land behind the damage.
                    self.close_active()?;
                }
                return Err(Error::Corrupt { path, offset });
            };
            let seq = first_seq + open.index;
            open.index += 1;
            open.offset += HEADER_LEN + payload.len() as u64;
            if seq < self.cursor.next {
                continue;
            }
            self.cursor.next = seq + 1;
            return Ok(Some(Record {
                seq,
                weight,
                payload,
            }));
        }
    }

    /// Makes the next [`Buffer::read_next`] start again at the first unacknowledged record.
    pub fn rewind(&mut self) {
        self.cursor = Cursor::new(self.next_unacked);
    }
}
