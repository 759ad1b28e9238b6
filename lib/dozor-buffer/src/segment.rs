//! Segment files: naming, listing and the streaming start-up scan.
//!
//! A segment is named after the sequence number of its first record, zero-padded to 20 digits
//! (`00000000000000000042.wal`), so lexical and numeric order agree and the order of segments
//! is recoverable from the directory listing alone.

use std::fs::{self, File, OpenOptions};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::frame::{self, Frame, HEADER_LEN};

/// Extension of segment files.
const EXT: &str = "wal";

/// What the buffer keeps in memory per segment: a few integers, whatever the backlog size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Sequence number of the first record (also the file name).
    pub first_seq: u64,
    /// Number of valid records.
    pub records: u64,
    /// Bytes of valid records, headers included (the file length after recovery).
    pub bytes: u64,
    /// Sum of the weights of the valid records.
    pub weight: u64,
}

impl Meta {
    /// One past the sequence number of the last valid record.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.records
    }

    /// Payload bytes (all records, headers excluded).
    pub fn payload_bytes(&self) -> u64 {
        self.bytes - self.records * HEADER_LEN
    }
}

/// The file name of the segment starting at `first_seq`.
pub(crate) fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{EXT}")
}

/// The first sequence number encoded in a segment file name, or `None` for any other file.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXT)?.strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// First sequence numbers of all segment files in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>, Error> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("listing", dir))? {
        let entry = entry.map_err(Error::io("listing", dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The outcome of scanning one segment at start-up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The valid prefix of the file.
    pub meta: Meta,
    /// Length of the file before recovery.
    pub file_len: u64,
    /// Whether the scan stopped at a bad record that was followed by more bytes (corruption)
    /// rather than at a torn or unsynced last write.
    pub corrupt: bool,
    /// Whole, checksum-valid records after the corrupt one (lost with it), and their weight.
    pub cut: (u64, u64),
}

/// Reads the segment at `path` record by record (payloads are checksummed in chunks and never
/// held whole) and reports its valid prefix.
pub(crate) fn scan(path: &Path, first_seq: u64) -> Result<Scan, Error> {
    let file = File::open(path).map_err(Error::io("opening segment", path))?;
    let file_len = file
        .metadata()
        .map_err(Error::io("reading metadata of segment", path))?
        .len();
    let mut reader = BufReader::new(file);
    let mut meta = Meta {
        first_seq,
        records: 0,
        bytes: 0,
        weight: 0,
    };
    loop {
        let remaining = file_len - meta.bytes;
        match frame::skip(&mut reader, remaining).map_err(Error::io("reading segment", path))? {
            Frame::Valid(h) => {
                meta.records += 1;
                meta.bytes += HEADER_LEN + u64::from(h.len);
                meta.weight += u64::from(h.weight);
            }
            Frame::End | Frame::Torn => {
                return Ok(Scan {
                    meta,
                    file_len,
                    corrupt: false,
                    cut: (0, 0),
                });
            }
            Frame::Mismatch { len } => {
                // A whole frame with a bad checksum is a torn write only if it is the last
                // thing in the file; anything after it means the bytes changed at rest.
                let frame_end = meta.bytes + HEADER_LEN + u64::from(len);
                let mut cut = (0, 0);
                let mut offset = frame_end;
                // Count the intact records lost with the bad one, so their weight is reported.
                while let Frame::Valid(h) = frame::skip(&mut reader, file_len - offset)
                    .map_err(Error::io("reading segment", path))?
                {
                    offset += HEADER_LEN + u64::from(h.len);
                    cut.0 += 1;
                    cut.1 += u64::from(h.weight);
                }
                return Ok(Scan {
                    meta,
                    file_len,
                    corrupt: frame_end < file_len,
                    cut,
                });
            }
        }
    }
}

/// Cuts the segment at `path` to `len` bytes and makes that durable.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<(), Error> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io("opening segment", path))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(Error::io("truncating segment", path))
}

/// Path of the segment starting at `first_seq` in `dir`.
pub(crate) fn path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(file_name(first_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(file_name(42), "00000000000000000042.wal");
        assert_eq!(parse_name("00000000000000000042.wal"), Some(42));
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn other_files_are_not_segments() {
        for name in [
            "ack",
            "ack.tmp",
            "42.wal",
            "0000000000000000004x.wal",
            "00000000000000000042.wal.tmp",
            "99999999999999999999.wal",
        ] {
            assert_eq!(parse_name(name), None, "{name}");
        }
    }
}
