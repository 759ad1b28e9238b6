//! The delivery outcome counters of one buffer (`dozor.agent.export.points` or
//! `.log_records` by outcome), kept in a small file beside its segments so that they go on
//! across restarts: the points dropped before a restart are still counted after it, even when
//! they never reached the collector. The file, `counts`, is created with the buffer and then
//! only overwritten in place (one 36-byte `pwrite`, no fsync), so a full disk never stops it:
//! `[start: u64][sent: u64][dropped: u64][rejected: u64][crc32 of the 32 bytes: u32]`, little
//! endian, `start` being when the counters started (Unix nanoseconds). A file that is missing,
//! short or fails its checksum starts the counters anew (logged).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const FILE: &str = "counts";
const LEN: usize = 36;

/// The outcomes, in file order.
pub const OUTCOMES: [&str; 3] = ["sent", "dropped", "rejected"];

/// The counters and the file they are kept in.
#[derive(Debug)]
pub struct Counts {
    path: PathBuf,
    file: Option<File>,
    /// When they started counting, Unix nanoseconds.
    pub start: u64,
    values: [u64; 3],
}

impl Counts {
    /// The counters kept in `dir` (read now; made anew, and the file created, when missing or
    /// unreadable). A file that cannot be created (a disk already full) is tried again by the
    /// next change.
    pub fn open(dir: &Path) -> Counts {
        let path = dir.join(FILE);
        let mut counts = Counts {
            file: None,
            start: dozor_metrics::time::now_nanos(),
            values: [0; 3],
            path,
        };
        match std::fs::read(&counts.path) {
            Ok(bytes) => match decode(&bytes) {
                Some((start, values)) => {
                    counts.start = start;
                    counts.values = values;
                }
                None => tracing::warn!(
                    file = %counts.path.display(),
                    "Delivery counters unreadable; they start again from 0."
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %counts.path.display(), error = %e, "Delivery counters unreadable; they start again from 0.")
            }
        }
        counts.write();
        counts
    }

    /// Counters kept in memory only (tests).
    #[cfg(test)]
    pub fn in_memory() -> Counts {
        Counts {
            path: PathBuf::new(),
            file: None,
            start: dozor_metrics::time::now_nanos(),
            values: [0; 3],
        }
    }

    /// The count of `outcome`.
    pub fn get(&self, outcome: &str) -> u64 {
        OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |i| self.values[i])
    }

    /// Adds `n` to `outcome` and writes the counters back.
    pub fn add(&mut self, outcome: &str, n: u64) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.values[i] += n;
            self.write();
        }
    }

    /// Overwrites the file in place; a failure is left to the next change (the counters in
    /// memory are right, and reach the collector with every request).
    fn write(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        if self.file.is_none() {
            self.file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.path)
                .ok();
        }
        if let Some(file) = &self.file {
            let _ = file.write_all_at(&encode(self.start, &self.values), 0);
        }
    }
}

fn encode(start: u64, values: &[u64; 3]) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(&start.to_le_bytes());
    for (i, v) in values.iter().enumerate() {
        out[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[..32]);
    out[32..].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<(u64, [u64; 3])> {
    let bytes: &[u8; LEN] = bytes.try_into().ok()?;
    if crc32fast::hash(&bytes[..32]).to_le_bytes() != bytes[32..] {
        return None;
    }
    let word =
        |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or_default());
    Some((word(0), [word(1), word(2), word(3)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_go_on_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut counts = Counts::open(dir.path());
        let start = counts.start;
        counts.add("dropped", 7);
        counts.add("sent", 100);
        counts.add("dropped", 1);
        drop(counts);
        let again = Counts::open(dir.path());
        assert_eq!(
            (
                again.get("sent"),
                again.get("dropped"),
                again.get("rejected")
            ),
            (100, 8, 0)
        );
        assert_eq!(again.start, start);
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE)).unwrap().len(),
            LEN as u64
        );
    }

    #[test]
    fn a_damaged_file_starts_anew() {
        let dir = tempfile::tempdir().unwrap();
        let mut counts = Counts::open(dir.path());
        counts.add("sent", 5);
        let mut bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        bytes[10] ^= 1;
        std::fs::write(dir.path().join(FILE), &bytes).unwrap();
        assert_eq!(Counts::open(dir.path()).get("sent"), 0);
        std::fs::write(dir.path().join(FILE), b"short").unwrap();
        assert_eq!(Counts::open(dir.path()).get("sent"), 0);
    }
}
