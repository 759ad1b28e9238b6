//! Configuration and the plain values the buffer hands back.

use std::time::Duration;

/// How a [`crate::Buffer`] is sized and how hard it tries to reach the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A segment is closed and a new one started before a record would take it past this many
    /// bytes (a record larger than this gets a segment of its own). Smaller segments free disk
    /// space sooner after acknowledgement and make [`Full::DropOldest`] drop fewer records.
    pub segment_bytes: u64,
    /// Upper bound on the bytes of all segment files together, record headers included.
    pub max_bytes: u64,
    /// What [`crate::Buffer::append`] does when a record would exceed `max_bytes`.
    pub full: Full,
    /// When appended records and acknowledgements are fsynced.
    pub sync: SyncPolicy,
}

impl Default for Options {
    /// 8 MiB segments, 256 MiB in total, drop oldest when full, fsync at most once a second.
    fn default() -> Self {
        Self {
            segment_bytes: 8 << 20,
            max_bytes: 256 << 20,
            full: Full::DropOldest,
            sync: SyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}

/// The policy when the buffer has reached [`Options::max_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Delete whole segments, oldest first, until the new record fits; the records lost are
    /// reported exactly in [`Appended::dropped`].
    DropOldest,
    /// Refuse the record with [`crate::Error::Full`] and keep everything.
    Reject,
}

/// When data is forced to stable storage. Every policy survives the death of the *process* at
/// any instant: appends and acknowledgements are single `write` calls into the page cache. The
/// policies differ in what survives a *power loss or kernel crash*:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` the segment after every append, the directory after every new segment, and
    /// the acknowledgement file and directory after every acknowledgement: once `append` or
    /// `ack` returns, it survives power loss.
    Always,
    /// Like [`SyncPolicy::Always`] for new segments, but appended records are synced only by
    /// the first append at least this long after the previous sync (and by
    /// [`crate::Buffer::sync`]), and the acknowledgement file only by `Buffer::sync` and the
    /// kernel's own writeback: power loss loses at most about this much of recent appends, and
    /// may take back recent acknowledgements (those records are then delivered again).
    Interval(Duration),
    /// Never fsync. Power loss may lose any records not yet written back by the kernel, and may
    /// resurrect acknowledged ones; nothing is ever misread, since every record is checksummed.
    Never,
}

/// What [`crate::Buffer::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The sequence number given to the record.
    pub seq: u64,
    /// Unacknowledged records deleted to make room ([`Full::DropOldest`]); zero otherwise.
    pub dropped: Dropped,
}

/// Exact count of unacknowledged records deleted before delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Number of records.
    pub records: u64,
    /// Sum of their payload lengths (headers excluded).
    pub bytes: u64,
    /// Sum of their weights, as given to [`crate::Buffer::append`].
    pub weight: u64,
    /// The dropped records are exactly the records that existed with a sequence number in
    /// `first_seq..end_seq` (both zero when nothing was dropped).
    pub first_seq: u64,
    /// One past the last dropped sequence number.
    pub end_seq: u64,
}

impl Dropped {
    /// Both drops as one: they are contiguous runs of the oldest records, so the union is one
    /// run.
    pub fn merge(self, other: Dropped) -> Dropped {
        match (self.records, other.records) {
            (0, _) => other,
            (_, 0) => self,
            _ => Dropped {
                records: self.records + other.records,
                bytes: self.bytes + other.bytes,
                weight: self.weight + other.weight,
                first_seq: self.first_seq.min(other.first_seq),
                end_seq: self.end_seq.max(other.end_seq),
            },
        }
    }
}

/// One record read back from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number, as returned by [`crate::Buffer::append`].
    pub seq: u64,
    /// Its weight, exactly as appended.
    pub weight: u32,
    /// The payload, exactly as appended.
    pub payload: Vec<u8>,
}

/// What [`crate::Buffer::open`] had to repair. All zero after a clean shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut off the ends of segment files: torn or unsynced last writes, and everything
    /// from a corrupt record to the end of its segment.
    pub truncated_bytes: u64,
    /// Records that failed their checksum or length check while followed by more data (damage
    /// at rest, not an interrupted write). Records after one in the same segment are lost too
    /// and are included in `truncated_bytes` and `cut_records`.
    pub corrupt_records: u64,
    /// Whole, checksum-valid records cut off with the corrupt record before them. Records
    /// whose bytes were never written (a crash or power loss) cannot be counted.
    pub cut_records: u64,
    /// Sum of the weights of `cut_records`. The weight of a torn or corrupt record itself is
    /// unknown (its header is not trustworthy) and is not included.
    pub cut_weight: u64,
    /// The acknowledgement file was unreadable, so delivery restarts at the oldest record kept
    /// (redelivery, never loss).
    pub ack_reset: bool,
}

/// What [`crate::Buffer::pending`] reports: the unacknowledged backlog, from memory only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Sequence numbers not yet acknowledged that have a record (exact).
    pub records: u64,
    /// Sum of the weights of the segments holding those records: exact unless the oldest
    /// segment is partly acknowledged, then too high by the weight of its acknowledged part.
    pub weight_upper: u64,
    /// The oldest segment with an unacknowledged record (its creation time bounds the age of
    /// the oldest pending record from above).
    pub oldest_segment: Option<std::path::PathBuf>,
}
