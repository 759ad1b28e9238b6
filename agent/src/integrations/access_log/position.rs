//! The read position of one access log across restarts,
//! `<state_dir>/access_log/<instance>.position.json`: which file (device, inode and a hash of
//! its first bytes, so a new file that reuses the inode is told apart) and how far it was read,
//! for the file the path names and for a rotated one still being finished. Written after every
//! collection through a temporary file and a rename, so a crash leaves the old or the new
//! position, never a torn one.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Version of the file format; a file of another version is ignored (a fresh start).
pub const VERSION: u32 = 1;

/// Bytes of a file's start hashed into its fingerprint.
pub const FINGERPRINT_BYTES: u64 = 256;

/// Where one file was read up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// `st_dev` of the file.
    pub dev: u64,
    /// `st_ino` of the file.
    pub ino: u64,
    /// How many of its first bytes are hashed (fewer than [`FINGERPRINT_BYTES`] while the file
    /// is shorter).
    pub fp_len: u64,
    /// FNV-1a of those bytes.
    pub fp_hash: u64,
    /// Bytes consumed: the start of the first line not read yet.
    pub offset: u64,
    /// Inside a line longer than the limit, already counted, skipped up to its newline.
    pub skipping: bool,
}

/// What is saved for one instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The file the path named when saved.
    pub current: Option<Position>,
    /// A renamed file not yet read to its end.
    pub rotated: Option<Position>,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    path: PathBuf,
    #[serde(flatten)]
    saved: Saved,
}

/// FNV-1a, 64 bits: stable across builds, unlike std's hasher.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The position file of `instance` under the agent's state directory.
pub fn path(state_dir: &Path, instance: &str) -> PathBuf {
    state_dir
        .join("access_log")
        .join(format!("{instance}.position.json"))
}

/// The saved position of the log at `log`; `None` when nothing was saved for that log (no
/// file, another version, or another log path).
pub fn load(file: &Path, log: &Path) -> io::Result<Option<Saved>> {
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let f: File = serde_json::from_slice(&text).map_err(io::Error::other)?;
    Ok((f.version == VERSION && f.path == log).then_some(f.saved))
}

/// Writes the position atomically: a temporary file in the same directory, synced, renamed.
pub fn save(file: &Path, log: &Path, saved: &Saved) -> io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let bytes = serde_json::to_vec(&File {
        version: VERSION,
        path: log.to_owned(),
        saved: saved.clone(),
    })
    .map_err(io::Error::other)?;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_for_the_same_log_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "web");
        let log = Path::new("/var/log/nginx/access.log");
        assert_eq!(load(&p, log).unwrap(), None);
        let saved = Saved {
            current: Some(Position {
                dev: 1,
                ino: 2,
                fp_len: 256,
                fp_hash: 3,
                offset: 4,
                skipping: true,
            }),
            rotated: None,
        };
        save(&p, log, &saved).unwrap();
        assert_eq!(load(&p, log).unwrap(), Some(saved));
        assert_eq!(load(&p, Path::new("/other.log")).unwrap(), None);
        assert!(!p.with_extension("json.tmp").exists());
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
