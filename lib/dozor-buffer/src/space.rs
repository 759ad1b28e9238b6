//! Free space on a file system, so that a disk filling up is seen before it is full.

use std::path::Path;

/// Bytes an unprivileged writer may still use on the file system holding `path`
/// (`statvfs(2)`: `f_bavail × f_frsize`); `None` when it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path, and `st` is read only after statvfs succeeded,
    // which has written it.
    #[allow(unsafe_code)]
    let st = unsafe {
        if libc::statvfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
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
