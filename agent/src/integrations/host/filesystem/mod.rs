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

/// The selected mounts, re-read only when the kernel says the mount table changed: reading
/// `/proc/self/mounts` makes the kernel print every mount's options (a tenth of the host
/// integration's kernel time when measured), while the table rarely changes. On the real
/// `/proc` a handle of it is kept open and polled: the kernel flags it (`POLLPRI`) after any
/// mount or unmount in the agent's mount namespace. Other roots (fixture trees) are read on
/// every collection.
pub struct Mounts {
    /// Which mounts are reported.
    pub exclude: Exclude,
    watch: Option<std::fs::File>,
    selected: Option<Vec<mounts::Mount>>,
    reads: u64,
}

impl Mounts {
    /// No table read yet.
    pub fn new(exclude: Exclude) -> Self {
        Mounts {
            exclude,
            watch: None,
            selected: None,
            reads: 0,
        }
    }

    /// How many times the table was read (for tests).
    #[cfg(test)]
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// True unless a kept handle says the table is unchanged since it was last read.
    fn changed(&self) -> bool {
        let Some(file) = &self.watch else { return true };
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: one valid pollfd, a zero timeout; poll(2) only writes `revents`.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        n != 0 || fd.revents != 0
    }

    /// The selected mounts, from the cache when the table has not changed.
    fn current(&mut self, paths: &Paths) -> Result<Option<&[mounts::Mount]>, IntegrationError> {
        if self.selected.is_some() && !self.changed() {
            return Ok(self.selected.as_deref());
        }
        // Watch before reading, so that a change during the read is seen next time.
        self.watch = (paths.procfs == Path::new("/proc"))
            .then(|| std::fs::File::open("/proc/self/mounts").ok())
            .flatten();
        self.reads += 1;
        let mut path = paths.procfs.join("self/mounts");
        let mut text = read_optional(&path)?;
        if text.is_none() {
            path = paths.procfs.join("mounts");
            text = read_optional(&path)?;
        }
        let Some(text) = text else {
            self.selected = None;
            return Ok(None);
        };
        let table = mounts::parse_mounts(&text).map_err(|e| parse_error(&path, e))?;
        self.selected = Some(mounts::select(table, &self.exclude));
        Ok(self.selected.as_deref())
    }
}

/// Stats each selected mount under `paths.rootfs`.
pub fn collect(
    recorder: &mut Recorder,
    paths: &Paths,
    mounts: &mut Mounts,
) -> Result<(), IntegrationError> {
    let Some(selected) = mounts.current(paths)? else {
        return Ok(());
    };
    for m in selected {
        let at = paths.rootfs.join(m.mount_point.trim_start_matches('/'));
        match statvfs(&at) {
            Ok(s) => record(recorder, m, &usage(&s)),
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
        collect(
            &mut r,
            &Paths::default(),
            &mut Mounts::new(Exclude::default()),
        )
        .unwrap();
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

/// On the real /proc the table is read once and again only after a mount or unmount.
#[cfg(test)]
mod watch_tests {
    use super::*;

    #[test]
    fn the_table_is_reread_only_after_a_mount() {
        let mut mounts = Mounts::new(Exclude::default());
        let paths = Paths::default();
        let mut r = Recorder::new();
        collect(&mut r, &paths, &mut mounts).unwrap();
        collect(&mut r, &paths, &mut mounts).unwrap();
        assert_eq!(mounts.reads(), 1, "an unchanged table was read again");
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().to_str().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "dozor-test", target])
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            // Needs root (CAP_SYS_ADMIN); the caching half above still ran.
            eprintln!("skipping the mount half: mount(8) failed here");
            return;
        }
        collect(&mut r, &paths, &mut mounts).unwrap();
        let seen = mounts
            .selected
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m.mount_point == target));
        let _ = std::process::Command::new("umount").arg(target).status();
        assert_eq!(mounts.reads(), 2);
        assert!(seen, "the new mount is not in the re-read table");
        collect(&mut r, &paths, &mut mounts).unwrap();
        assert_eq!(mounts.reads(), 3, "the unmount was not noticed");
    }
}
