//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while opening, appending to, reading or acknowledging a buffer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed; `path` is the file or directory it was applied to.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "writing segment".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The buffer holds `used` bytes and the record needs `needed` more, which would exceed
    /// `max` ([`crate::Full::Reject`]). Nothing was written; the caller should pause and retry
    /// after acknowledging records.
    #[error("buffer full: {used} bytes used, {needed} more needed, limit {max}")]
    Full {
        /// Bytes the new record would occupy on disk (header included).
        needed: u64,
        /// Bytes currently occupied by segment files.
        used: u64,
        /// [`crate::Options::max_bytes`].
        max: u64,
    },
    /// The file system holding the buffer is full ([`crate::Full::Reject`], or
    /// [`crate::Full::DropOldest`] with nothing left of its own to delete): nothing was
    /// written. Under `Reject` the caller should pause and retry, as for [`Error::Full`].
    #[error("no space left on the file system of {}: {needed} bytes needed", path.display())]
    NoSpace {
        /// The segment being written.
        path: PathBuf,
        /// Bytes the new record would occupy on disk (header included).
        needed: u64,
        /// What [`crate::Full::DropOldest`] dropped trying to make room: lost all the same.
        dropped: crate::Dropped,
    },
    /// The record can never fit: its framed size exceeds [`crate::Options::max_bytes`] or its
    /// payload exceeds `u32::MAX` bytes. Nothing was written.
    #[error("record of {len} payload bytes can never fit in a buffer of {max} bytes")]
    TooLarge {
        /// Payload length in bytes.
        len: usize,
        /// [`crate::Options::max_bytes`].
        max: u64,
    },
    /// A record that was valid when the buffer was opened failed its length or checksum check
    /// while being read back (the file changed underneath). The reader has skipped the rest of
    /// that segment; the next read continues with the following one.
    #[error("corrupt record in {} at byte {offset}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record's header in that file.
        offset: u64,
    },
}

impl Error {
    /// True when the disk (not the buffer's bound) is full.
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
