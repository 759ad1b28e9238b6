//! Small file systems of a test's own: a `tmpfs` of a given size mounted on a fresh directory
//! (root, or `CAP_SYS_ADMIN`, is needed: the test fails loudly without it), unmounted on drop,
//! and a way to fill it up to the last byte.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted `tmpfs`.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a `tmpfs` of `bytes` (rounded up to pages by the kernel) on a new directory.
    pub fn mount(bytes: u64) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a directory to mount on");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {bytes}-byte tmpfs on {} failed ({}): full-disk tests need root or CAP_SYS_ADMIN",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs { dir }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free, as `statvfs` says.
    pub fn free(&self) -> u64 {
        free_bytes(self.path())
    }

    /// Fills what is left with the file `name` until a write fails with no space; returns its
    /// path (remove or truncate it to give the space back).
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("creating the filler file");
        let chunk = [0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                    // The last page may take less than a chunk.
                    while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
                    break;
                }
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Bytes free on the file system holding `path`.
pub fn free_bytes(path: &Path) -> u64 {
    dozor_buffer::free_bytes(path).unwrap_or(0)
}
