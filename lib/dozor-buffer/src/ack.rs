//! The acknowledgement file: where delivery resumes after a restart.
//!
//! `ack` holds 12 bytes: `[next_unacked: u64 LE][crc32 of those 8 bytes: u32 LE]`, the sequence
//! number of the first record not yet acknowledged. The file is kept open and overwritten in
//! place with one 12-byte `pwrite` at offset 0: a single write cannot be torn by the death of
//! the process, and a write of 12 bytes inside one disk sector is not torn by a power loss in
//! practice. If it ever were, the checksum fails, delivery restarts at the oldest record
//! (`Recovery::ack_reset`) and the collector recognises the redelivered batches.
//!
//! Replacing the file by write-tmp-then-rename costs an inode creation and two fsyncs per
//! acknowledgement, which on a 10-second collection interval is most of the agent's I/O. Whether
//! the new position is synced at once is the caller's choice ([`AckFile::write`]); an
//! acknowledgement that a power loss takes back only makes delivered records be delivered again.
//! Older versions left `ack.tmp` beside it; it is removed on open.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Name of the acknowledgement file inside the buffer directory.
pub(crate) const FILE: &str = "ack";
/// Name of the temporary file the next position is written to before the rename.
const TMP: &str = "ack.tmp";

/// What was found in the acknowledgement file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// No file: nothing was ever acknowledged.
    Missing,
    /// The first unacknowledged sequence number.
    Position(u64),
    /// The file has the wrong length or checksum (it cannot be produced by [`write`]).
    Invalid,
}

/// Encodes a position into the file's 12 bytes.
fn encode(next_unacked: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&next_unacked.to_le_bytes());
    let crc = crc32fast::hash(&out[..8]);
    out[8..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the file's bytes.
fn decode(bytes: &[u8]) -> Stored {
    let Ok(bytes) = <[u8; 12]>::try_from(bytes) else {
        return Stored::Invalid;
    };
    let (pos, crc) = bytes.split_at(8);
    if crc32fast::hash(pos).to_le_bytes() != crc {
        return Stored::Invalid;
    }
    let mut le = [0u8; 8];
    le.copy_from_slice(pos);
    Stored::Position(u64::from_le_bytes(le))
}

/// Reads the acknowledgement file in `dir` and removes a leftover temporary file.
pub(crate) fn read(dir: &Path) -> Result<Stored, Error> {
    let tmp = dir.join(TMP);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("removing", tmp)(e)),
    }
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(decode(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Stored::Missing),
        Err(e) => Err(Error::io("reading", path)(e)),
    }
}

/// The acknowledgement file, open for overwriting. Created on the first [`AckFile::write`].
#[derive(Debug)]
pub(crate) struct AckFile {
    path: PathBuf,
    file: Option<File>,
    pub(crate) unsynced: bool,
}

impl AckFile {
    /// The acknowledgement file of the buffer in `dir` (not opened until written).
    pub(crate) fn new(dir: &Path) -> AckFile {
        AckFile {
            path: dir.join(FILE),
            file: None,
            unsynced: false,
        }
    }

    /// Overwrites the position. With `durable` it is on stable storage when this returns;
    /// otherwise at the next [`AckFile::sync`].
    pub(crate) fn write(&mut self, next_unacked: u64, durable: bool) -> Result<(), Error> {
        if self.file.is_none() {
            let existed = self.path.exists();
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.path)
                .map_err(Error::io("opening", &self.path))?;
            self.file = Some(file);
            if let (false, true, Some(dir)) = (existed, durable, self.path.parent()) {
                sync_dir(dir)?;
            }
        }
        let Some(file) = &self.file else {
            return Ok(());
        };
        file.write_all_at(&encode(next_unacked), 0)
            .map_err(Error::io("writing", &self.path))?;
        self.unsynced = true;
        if durable {
            self.sync()?;
        }
        Ok(())
    }

    /// Puts the last written position on stable storage, if it is not already.
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        if let (Some(file), true) = (&self.file, self.unsynced) {
            file.sync_data().map_err(Error::io("syncing", &self.path))?;
        }
        self.unsynced = false;
        Ok(())
    }
}

/// Makes creations, renames and removals of entries in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_bytes() {
        let bytes = encode(0x0102);
        assert_eq!(&bytes[..8], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&bytes), Stored::Position(0x0102));
    }

    #[test]
    fn damaged_files_are_invalid() {
        let good = encode(7);
        assert_eq!(decode(&good[..11]), Stored::Invalid);
        assert_eq!(decode(&[]), Stored::Invalid);
        for i in 0..12 {
            let mut bad = good;
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad), Stored::Invalid, "byte {i}");
        }
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Stored::Missing);
        let mut ack = AckFile::new(dir.path());
        ack.write(42, true).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Stored::Position(42));
        ack.write(43, false).unwrap();
        ack.sync().unwrap();
        fs::write(dir.path().join(TMP), b"half").unwrap();
        assert_eq!(read(dir.path()).unwrap(), Stored::Position(43));
        assert!(!dir.path().join(TMP).exists());
        // A position written by an earlier process is overwritten, not appended to.
        let mut again = AckFile::new(dir.path());
        again.write(7, false).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Stored::Position(7));
        assert_eq!(fs::metadata(dir.path().join(FILE)).unwrap().len(), 12);
    }
}
