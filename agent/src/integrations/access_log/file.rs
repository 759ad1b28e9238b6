//! One open log file: its identity (device, inode, a hash of its first bytes) and read
//! position, and the checks that tell whether it is still the file a position belongs to.

use super::position::{FINGERPRINT_BYTES, Position, fnv1a};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// A file being read.
pub struct Open {
    /// The open file.
    pub file: File,
    /// Its identity and how far it was read.
    pub pos: Position,
    /// Collections that found this rotated file at its end.
    pub idle: u32,
}

impl Open {
    /// Opens `path`; `None` when there is no such file.
    pub fn at(path: &Path) -> io::Result<Option<Open>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let m = file.metadata()?;
        let pos = Position {
            dev: m.dev(),
            ino: m.ino(),
            ..Position::default()
        };
        let mut open = Open { file, pos, idle: 0 };
        open.same_start()?;
        Ok(Some(open))
    }

    /// Its size now.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// FNV-1a of its first `len` bytes.
    pub fn hash(&self, len: u64) -> io::Result<u64> {
        let mut b = vec![0; len as usize];
        self.file.read_exact_at(&mut b, 0)?;
        Ok(fnv1a(&b))
    }

    /// True when the file still starts with the fingerprinted bytes; extends the fingerprint
    /// while it covers fewer than [`FINGERPRINT_BYTES`].
    pub fn same_start(&mut self) -> io::Result<bool> {
        let size = self.size()?;
        if size < self.pos.fp_len
            || (self.pos.fp_len > 0 && self.hash(self.pos.fp_len)? != self.pos.fp_hash)
        {
            return Ok(false);
        }
        let want = size.min(FINGERPRINT_BYTES);
        if want > self.pos.fp_len {
            self.pos.fp_hash = self.hash(want)?;
            self.pos.fp_len = want;
        }
        Ok(true)
    }

    /// Whether this file starts with the bytes `saved` fingerprinted and reaches its offset:
    /// the copy that copytruncate left.
    pub fn copy_of(&mut self, saved: &Position) -> io::Result<bool> {
        let size = self.size()?;
        if saved.offset == 0 || size < saved.offset.max(saved.fp_len) {
            return Ok(false);
        }
        if self.hash(saved.fp_len)? != saved.fp_hash {
            return Ok(false);
        }
        self.pos.offset = saved.offset;
        self.pos.skipping = saved.skipping;
        Ok(true)
    }

    /// Takes over a saved position when it is this file's.
    pub fn resume(&mut self, saved: &Position) -> io::Result<bool> {
        let mine = Position {
            offset: saved.offset,
            skipping: saved.skipping,
            ..self.pos
        };
        if (saved.dev, saved.ino) != (mine.dev, mine.ino) {
            return Ok(false);
        }
        self.pos = *saved;
        if self.same_start()? {
            return Ok(true);
        }
        self.pos = Position {
            offset: 0,
            skipping: false,
            ..mine
        };
        Ok(false)
    }
}
