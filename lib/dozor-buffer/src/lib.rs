//! The agent's durable on-disk write-ahead buffer, between batching and the network.
//!
//! Records (opaque byte strings, each with a caller-given `u32` weight such as its number of
//! data points) are appended to segment files in one directory, read back in order, and
//! deleted once acknowledged. The buffer is bounded in size, survives the death of
//! the process at any instant, and never panics on any file content.
//!
//! ```
//! # fn main() -> Result<(), dozor_buffer::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! use dozor_buffer::{Buffer, Options};
//! let mut buffer = Buffer::open(dir.path(), Options::default())?;
//! let appended = buffer.append(b"batch 1", 1000)?; // 1000 data points
//! let record = buffer.read_next()?.expect("just appended");
//! assert_eq!((record.seq, record.weight, &record.payload[..]), (appended.seq, 1000, &b"batch 1"[..]));
//! buffer.ack(record.seq)?; // delivered: forget it
//! assert_eq!(buffer.read_next()?, None);
//! # Ok(()) }
//! ```
//!
//! # On-disk format
//!
//! The directory holds:
//!
//! - **Segment files** `<first seq>.wal`, the first record's sequence number zero-padded to 20
//!   decimal digits (`00000000000000000042.wal`), so sorting the names sorts the segments. A
//!   segment is a plain concatenation of records, each framed as
//!
//!   ```text
//!   [len: u32 LE][weight: u32 LE][crc32 (IEEE, as zlib) of the 4 weight bytes then the payload: u32 LE][payload: len bytes]
//!   ```
//!
//!   The weight is the caller's (the agent stores the data points of the request), covered by
//!   the checksum so that a dropped or cut record's weight is trustworthy.
//!
//!   Record `i` (from 0) of segment `N.wal` has sequence number `N + i`; sequence numbers are
//!   not stored per record. A new segment is started when a record would take the current
//!   one past [`Options::segment_bytes`], and at the first append after each open. A closed
//!   segment is deleted once all its records are acknowledged; the segment being appended to
//!   is kept until it is full (or the buffer is reopened), so that a sender that keeps up does
//!   not create and delete a file per record.
//! - **`ack`**, 12 bytes: `[first unacknowledged seq: u64 LE][crc32 of those 8 bytes: u32 LE]`,
//!   overwritten in place by one `pwrite` (an `ack.tmp` left by older versions is deleted on
//!   open).
//!
//! Other files in the directory are ignored.
//!
//! # Guarantees
//!
//! - **Order and numbering.** Sequence numbers increase by one per append and continue across
//!   restarts: after open, numbering resumes after the last valid record or the acknowledged
//!   position, whichever is greater. Numbers have gaps where records were dropped or lost to
//!   corruption in an older segment. The one case of reuse: records cut off the end of the
//!   last segment by recovery (torn by a crash, lost to power loss before their sync, or
//!   corrupt) never existed as far as the reopened buffer knows, so their numbers are given to
//!   the next appends. A sequence number identifies a position in this buffer, not a record
//!   across a power loss: do not deduplicate downstream on it alone.
//! - **At least once.** [`Buffer::read_next`] returns, in sequence order, every record that
//!   was appended and not acknowledged, except records reported as dropped
//!   ([`Appended::dropped`]) or as repaired away ([`Buffer::recovery`]). After a restart,
//!   reading starts at the position in the `ack` file; [`Buffer::ack`] rewrites that file
//!   before it returns, so the only records delivered again are those read but not yet
//!   acknowledged, or whose `ack` call failed or was interrupted. An acknowledged record is
//!   never delivered again once `ack` returned, unless power is lost before the position was
//!   synced (at once under [`SyncPolicy::Always`]; otherwise by the kernel's writeback, or by
//!   [`Buffer::sync`], which a planned shutdown calls) or the
//!   `ack` file is damaged ([`Recovery::ack_reset`]).
//! - **No loss on process death.** A record is written with a single `write` before `append`
//!   returns, so killing the process at any instant loses at most the record being appended
//!   (whose `append` never returned). On power loss, what survives depends on [`SyncPolicy`].
//! - **Recovery.** [`Buffer::open`] scans every segment streaming. An incomplete record or a
//!   checksum mismatch at the end of the last segment is an interrupted write and is cut off.
//!   A bad record anywhere else is corruption: the segment is cut at that record (later
//!   records of that segment are lost), counted in [`Recovery::corrupt_records`], and reading
//!   continues with the next segment. Bytes removed are in [`Recovery::truncated_bytes`]; the
//!   intact records cut with a corrupt one, and their weight, in [`Recovery::cut_records`] and
//!   [`Recovery::cut_weight`].
//!   A damaged `ack` file restarts delivery at the oldest record ([`Recovery::ack_reset`]).
//! - **Bounded size.** Segment files never hold more than [`Options::max_bytes`] bytes in total.
//!   When a record does not fit, [`Full::DropOldest`] deletes the oldest segments and reports
//!   exactly how many unacknowledged records and payload bytes were lost
//!   ([`Appended::dropped`]): records, payload bytes and total weight, read from the headers of
//!   the dropped unacknowledged records only (a segment wholly unacknowledged is counted from
//!   its in-memory totals); [`Full::Reject`] returns [`Error::Full`] and writes nothing.
//! - **Memory.** Independent of the backlog: a few integers per segment (first sequence number,
//!   record count, bytes, total weight), plus the record being read.

mod ack;
mod buffer;
mod error;
mod frame;
mod options;
mod segment;
mod space;

pub use buffer::Buffer;
pub use error::Error;
pub use options::{Appended, Dropped, Full, Options, Pending, Record, Recovery, SyncPolicy};
pub use space::free_bytes;
