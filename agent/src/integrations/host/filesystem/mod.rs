//! File system space and inodes per mount, from the mount table `/proc/self/mounts` (or
//! `/proc/mounts`) and `statvfs(2)` on each mount point under the root prefix
//! (`system.filesystem.usage`, `system.filesystem.limit`, `system.filesystem.utilization`,
//! `system.filesystem.inodes.usage`).
//!
//! Mounts are filtered by `filesystem.exclude_mount_points` and `filesystem.exclude_fs_types`;
//! the same device on the same mount point is reported once. A mount that cannot be statted
//! (gone, permission denied) is skipped, not an error.

mod mounts;

use super::{IntegrationError, Paths, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;
pub use mounts::{Exclude, Mount};
use std::path::Path;

/// The `statvfs(2)` fields used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsStat {
    /// Fragment size, the unit of the block counts.
    pub frsize: u64,
    /// Blocks in total.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Inodes in total.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
}

/// Space and inodes of one file system, computed as the catalogue declares.
#[derive(Debug, PartialEq)]
pub struct Usage {
    /// (`system.filesystem.state`, bytes): used, free, reserved.
    pub bytes: [(&'static str, u64); 3],
    /// Size in bytes.
    pub limit: u64,
    /// used / (used + free), as df computes Use%; `None` for an empty file system.
    pub utilization: Option<f64>,
    /// (`system.filesystem.state`, inodes): used, free.
    pub inodes: [(&'static str, u64); 2],
}

/// Computes usage from `statvfs` fields.
pub fn usage(s: &FsStat) -> Usage {
    let used = s.blocks.saturating_sub(s.bfree) * s.frsize;
    let free = s.bavail * s.frsize;
    let reserved = s.bfree.saturating_sub(s.bavail) * s.frsize;
    Usage {
        bytes: [("used", used), ("free", free), ("reserved", reserved)],
        limit: s.blocks * s.frsize,
        utilization: (used + free > 0).then(|| used as f64 / (used + free) as f64),
        inodes: [("used", s.files.saturating_sub(s.ffree)), ("free", s.ffree)],
    }
}

/// `statvfs(2)`, the one unsafe call of this module.
#[allow(unsafe_code)]
// The field types are u64 on 64-bit targets but narrower on some 32-bit ones.
#[allow(clippy::useless_conversion)]
pub fn statvfs(path: &Path) -> std::io::Result<FsStat> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `buf` points to
    // writable memory the size of `struct statvfs`.
    if unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the whole struct.
    let s = unsafe { buf.assume_init() };
    Ok(FsStat {
        frsize: u64::from(s.f_frsize),
        blocks: u64::from(s.f_blocks),
        bfree: u64::from(s.f_bfree),
        bavail: u64::from(s.f_bavail),
        files: u64::from(s.f_files),
        ffree: u64::from(s.f_ffree),
    })
}

fn record(recorder: &mut Recorder, m: &Mount, u: &Usage) {
    let attrs = [m.device.as_str(), &m.mount_point, &m.fs_type];
    for (state, bytes) in u.bytes {
        let a = [attrs[0], attrs[1], attrs[2], state];
        recorder.record(&host::FILESYSTEM_USAGE, bytes as f64, &a);
    }
    recorder.record(&host::FILESYSTEM_LIMIT, u.limit as f64, &attrs);
    if let Some(fraction) = u.utilization {
        recorder.record(&host::FILESYSTEM_UTILIZATION, fraction, &attrs);
    }
    for (state, inodes) in u.inodes {
        let a = [attrs[0], attrs[1], attrs[2], state];
        recorder.record(&host::FILESYSTEM_INODES_USAGE, inodes as f64, &a);
    }
}

/// Reads the mount table and stats each selected mount under `paths.rootfs`.
pub fn collect(
    recorder: &mut Recorder,
    paths: &Paths,
    exclude: &Exclude,
) -> Result<(), IntegrationError> {
    let mut path = paths.procfs.join("self/mounts");
    let mut text = read_optional(&path)?;
    if text.is_none() {
        path = paths.procfs.join("mounts");
        text = read_optional(&path)?;
    }
    let Some(text) = text else { return Ok(()) };
    let table = mounts::parse_mounts(&text).map_err(|e| parse_error(&path, e))?;
    for m in mounts::select(table, exclude) {
        let at = paths.rootfs.join(m.mount_point.trim_start_matches('/'));
        match statvfs(&at) {
            Ok(s) => record(recorder, &m, &usage(&s)),
            Err(e) => tracing::debug!(path = %at.display(), error = %e, "Mount skipped."),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_usage_as_df_does() {
        let s = |blocks, bfree, bavail, files, ffree| FsStat {
            frsize: 4096,
            blocks,
            bfree,
            bavail,
            files,
            ffree,
        };
        let cases = [
            (
                s(1000, 300, 250, 64, 60),
                Usage {
                    bytes: [
                        ("used", 700 * 4096),
                        ("free", 250 * 4096),
                        ("reserved", 50 * 4096),
                    ],
                    limit: 1000 * 4096,
                    utilization: Some(700.0 / 950.0),
                    inodes: [("used", 4), ("free", 60)],
                },
            ),
            (
                // Empty pseudo file systems report zeros: no utilization rather than NaN.
                s(0, 0, 0, 0, 0),
                Usage {
                    bytes: [("used", 0), ("free", 0), ("reserved", 0)],
                    limit: 0,
                    utilization: None,
                    inodes: [("used", 0), ("free", 0)],
                },
            ),
        ];
        for (stat, want) in cases {
            assert_eq!(usage(&stat), want, "{stat:?}");
        }
    }

    #[test]
    fn statvfs_of_a_missing_path_is_an_error() {
        assert!(statvfs(Path::new("/nonexistent/dozor")).is_err());
    }

    /// Accuracy against the real kernel: the size and free space the integration records for
    /// `/` must match `stat -f /` (coreutils, its own statfs call) within 1%.
    #[test]
    fn agrees_with_stat_f_on_the_real_root() {
        let out = std::process::Command::new("stat")
            .args(["-f", "-c", "%S %b %a", "/"])
            .output()
            .expect("coreutils stat runs");
        let text = String::from_utf8(out.stdout).unwrap();
        let n: Vec<f64> = text
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        let (size, avail) = (n[0] * n[1], n[0] * n[2]);
        let mut r = Recorder::new();
        collect(&mut r, &Paths::default(), &Exclude::default()).unwrap();
        let root = |name: &str, state: Option<&str>| {
            r.samples()
                .iter()
                .find(|s| {
                    s.metric.name == name
                        && s.attributes[1].1 == "/"
                        && state.is_none_or(|st| s.attributes[3].1 == st)
                })
                .unwrap_or_else(|| panic!("no {name} for /"))
                .value
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b;
        assert!(close(root("system.filesystem.limit", None), size));
        assert!(close(root("system.filesystem.usage", Some("free")), avail));
    }
}
