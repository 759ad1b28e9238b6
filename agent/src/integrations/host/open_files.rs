//! Handles of the kernel's files kept open between collections and re-read from offset 0, as
//! netdata's `procfile` does: a procfs, sysfs or cgroupfs file regenerates its text on every
//! read from the start, so reopening it each time only costs path lookups (a fifth of the
//! host integration's kernel time when measured).
//!
//! Only files under `/proc` and `/sys` are kept (fixture trees and other roots are read plainly,
//! since a regular file replaced by a new one would otherwise be read stale). A handle whose
//! read fails (a cgroup that was removed answers ENODEV) is dropped and the path reopened once.
//! At most [`MAX_OPEN`] handles are kept; beyond that files are read without keeping them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The most handles kept open.
pub const MAX_OPEN: usize = 256;

static OPEN: Mutex<Option<HashMap<PathBuf, File>>> = Mutex::new(None);

/// True for paths whose handles may be kept: the kernel's own file systems at their usual
/// mount points.
fn keepable(path: &Path) -> bool {
    path.starts_with("/proc") || path.starts_with("/sys")
}

/// Reads the whole file at `path` into a string, reusing a kept handle when there is one.
pub fn read(path: &Path) -> io::Result<String> {
    if !keepable(path) {
        return std::fs::read_to_string(path);
    }
    let mut guard = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let open = guard.get_or_insert_with(HashMap::new);
    if let Some(file) = open.get(path) {
        match read_from_start(file) {
            Ok(text) => return Ok(text),
            Err(_) => {
                open.remove(path);
            }
        }
    }
    let file = File::open(path)?;
    let text = read_from_start(&file)?;
    if open.len() < MAX_OPEN {
        open.insert(path.to_path_buf(), file);
    }
    Ok(text)
}

/// Reads from offset 0 to the end with `pread`, so the handle's own position does not matter.
fn read_from_start(file: &File) -> io::Result<String> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
}

/// How many handles are kept (for tests).
#[cfg(test)]
pub fn kept() -> usize {
    OPEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, HashMap::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept handle reads what a fresh read reads: the kernel regenerates the text.
    #[test]
    fn a_kept_handle_rereads_fresh_text() {
        let path = Path::new("/proc/self/stat");
        let first = read(path).expect("reading /proc/self/stat");
        assert!(kept() >= 1);
        // Burn some CPU so utime or the scheduler fields move; the pid field stays.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        let again = read(path).expect("re-reading");
        let fresh = std::fs::read_to_string(path).expect("plain read");
        assert_eq!(again.split(' ').next(), first.split(' ').next());
        assert_ne!(again, first, "the kept handle returned the old text");
        // Same fields, allowing the last few to move between the two reads.
        assert_eq!(again.split(' ').count(), fresh.split(' ').count());
    }

    /// A file longer than one read comes back whole: every line complete, the last one too.
    /// (`/proc/self/maps` changes as threads come and go, so its exact content is not compared.)
    #[test]
    fn long_files_are_read_whole() {
        let path = Path::new("/proc/self/maps");
        let _ = read(path).expect("reading maps");
        let again = read(path).expect("re-reading maps through the kept handle");
        assert!(again.len() > 4096, "maps is longer than one read");
        assert!(again.ends_with('\n'), "the last line was cut");
        for line in again.lines() {
            let range = line.split(' ').next().unwrap_or("");
            assert!(
                range.split_once('-').is_some_and(|(a, b)| {
                    u64::from_str_radix(a, 16).is_ok() && u64::from_str_radix(b, 16).is_ok()
                }),
                "not a maps line: {line:?}"
            );
        }
    }

    #[test]
    fn other_roots_are_not_kept_and_missing_files_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stat");
        std::fs::write(&file, "one").unwrap();
        assert_eq!(read(&file).unwrap(), "one");
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, "two").unwrap();
        assert_eq!(read(&file).unwrap(), "two");
        let err = read(Path::new("/proc/no-such-file")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
