//! Whether a directory can take files: its volume's state from `statvfs`,
//! and the directory's own permission, for the black box to say why its
//! captures cannot be written before one is tried.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Fewer free bytes than this, and the volume counts as full.
pub(crate) const FULL_BELOW: u64 = 1 << 20;

/// Why files cannot be written in `dir` now, if they cannot: missing,
/// on a read-only volume, on a full one, or not writable by the process;
/// as an error of the kind a write would fail with.
pub(crate) fn write_problem(dir: &Path) -> Option<std::io::Error> {
    use std::io::{Error, ErrorKind};
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return Some(Error::new(
            ErrorKind::InvalidInput,
            "its path holds a NUL byte",
        ));
    };
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` has room for the
    // structure the call fills in; it is read only when the call succeeds.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        let error = Error::last_os_error();
        return Some(Error::new(
            error.kind(),
            format!("it cannot be read: {error}"),
        ));
    }
    // SAFETY: the call succeeded and filled it.
    let stat = unsafe { stat.assume_init() };
    if stat.f_flag & libc::ST_RDONLY != 0 {
        return Some(Error::new(
            ErrorKind::ReadOnlyFilesystem,
            "it is on a read-only file system",
        ));
    }
    // The fields are narrower than u64 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize));
    if free < FULL_BELOW {
        return Some(Error::new(
            ErrorKind::StorageFull,
            format!("its volume is full ({free} bytes free)"),
        ));
    }
    // SAFETY: `path` is NUL-terminated; the call only checks permissions.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        let error = Error::last_os_error();
        return Some(Error::new(
            error.kind(),
            format!("the process may not write in it: {error}"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_directory_has_no_problem_and_a_missing_one_has() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_problem(dir.path()).is_none());
        let missing = write_problem(&dir.path().join("missing")).unwrap();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("cannot be read"), "{missing}");
    }
}
