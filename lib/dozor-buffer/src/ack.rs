//! The acknowledgement file: where delivery resumes after a restart.
//!
//! `ack` holds 12 bytes: `[next_unacked: u64 LE][crc32 of those 8 bytes: u32 LE]`, the sequence
//! number of the first record not yet acknowledged. It is replaced atomically: written to
//! `ack.tmp`, fsynced, renamed over `ack`, and the directory fsynced, so after any crash the
//! file holds either the old or the new position, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

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

/// Atomically replaces the acknowledgement file in `dir`; with `durable`, the new position
/// survives a power loss once this returns.
pub(crate) fn write(dir: &Path, next_unacked: u64, durable: bool) -> Result<(), Error> {
    let tmp = dir.join(TMP);
    let mut file = File::create(&tmp).map_err(Error::io("creating", &tmp))?;
    file.write_all(&encode(next_unacked))
        .and_then(|()| if durable { file.sync_all() } else { Ok(()) })
        .map_err(Error::io("writing", &tmp))?;
    drop(file);
    let path = dir.join(FILE);
    fs::rename(&tmp, &path).map_err(Error::io("renaming to", &path))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
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
        write(dir.path(), 42, true).unwrap();
        write(dir.path(), 43, false).unwrap();
        fs::write(dir.path().join(TMP), b"half").unwrap();
        assert_eq!(read(dir.path()).unwrap(), Stored::Position(43));
        assert!(!dir.path().join(TMP).exists());
    }
}
