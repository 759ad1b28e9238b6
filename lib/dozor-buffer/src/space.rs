//! Free space on a file system, so that a disk filling up is seen before it is full.

use std::path::Path;

/// Bytes an unprivileged writer may still use on the file system holding `path`
/// (`statvfs(2)`: `f_bavail × f_frsize`); `None` when it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_directory_has_some_and_a_missing_one_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::free_bytes(dir.path()).is_some_and(|b| b > 0));
        assert_eq!(super::free_bytes(&dir.path().join("nope")), None);
    }
}
