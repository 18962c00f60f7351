//! Extended attributes. Path variants never follow a final symlink
//! (`l*xattr`), so a symlink's own attributes are read, as ostree does.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where the attributes live: a path (not followed) or an open fd.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn cname(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))
}

fn check(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Returns true for "this filesystem does not do xattrs" errors, which
/// callers treat as "no attributes".
pub fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP))
}

/// Names of all attributes (without trailing NUL), in the order the
/// kernel returns them. Unsupported filesystems yield an empty list.
#[allow(unsafe_code)] // opt-in per function: see SAFETY comments below
pub fn list(target: Target<'_>) -> io::Result<Vec<Vec<u8>>> {
    let path = match target {
        Target::Path(p) => Some(cpath(p)?),
        Target::Fd(_) => None,
    };
    let raw_list = |buf: &mut [u8]| -> io::Result<usize> {
        let (ptr, len) = (buf.as_mut_ptr().cast::<libc::c_char>(), buf.len());
        let ret = match (&path, target) {
            // SAFETY: `p` is a valid NUL-terminated string that outlives the
            // call; `ptr`/`len` describe a writable buffer we own (len 0 with a
            // dangling-but-aligned pointer is the documented size query).
            (Some(p), _) => unsafe { libc::llistxattr(p.as_ptr(), ptr, len) },
            // SAFETY: the fd is borrowed for the duration of the call; the
            // buffer is as above.
            (None, Target::Fd(fd)) => unsafe { libc::flistxattr(fd.as_raw_fd(), ptr, len) },
            (None, Target::Path(_)) => unreachable!("path converted above"),
        };
        check(ret)
    };
    let mut buf = Vec::new();
    loop {
        let size = match raw_list(&mut []) {
            Ok(n) => n,
            Err(e) if is_unsupported(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        buf.resize(size, 0);
        match raw_list(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                break;
            }
            // The list grew between the two calls: ask again.
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(buf.split(|&b| b == 0).filter(|n| !n.is_empty()).map(<[u8]>::to_vec).collect())
}

/// Value of one attribute; `Ok(None)` if it does not exist.
#[allow(unsafe_code)] // opt-in per function: see SAFETY comments below
pub fn get(target: Target<'_>, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let cname = cname(name)?;
    let path = match target {
        Target::Path(p) => Some(cpath(p)?),
        Target::Fd(_) => None,
    };
    let raw_get = |buf: &mut [u8]| -> io::Result<usize> {
        let (ptr, len) = (buf.as_mut_ptr().cast::<libc::c_void>(), buf.len());
        let ret = match (&path, target) {
            // SAFETY: both strings are valid and NUL-terminated for the call;
            // the buffer is owned and writable for `len` bytes.
            (Some(p), _) => unsafe { libc::lgetxattr(p.as_ptr(), cname.as_ptr(), ptr, len) },
            // SAFETY: fd borrowed for the call; name and buffer as above.
            (None, Target::Fd(fd)) => unsafe { libc::fgetxattr(fd.as_raw_fd(), cname.as_ptr(), ptr, len) },
            (None, Target::Path(_)) => unreachable!("path converted above"),
        };
        check(ret)
    };
    let mut buf = vec![0u8; 256];
    loop {
        match raw_get(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            Err(e) if is_unsupported(&e) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {
                let size = raw_get(&mut [])?;
                buf.resize(size.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Set (create or replace) one attribute.
#[allow(unsafe_code)] // opt-in per function: see SAFETY comments below
pub fn set(target: Target<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    let cname = cname(name)?;
    let (ptr, len) = (value.as_ptr().cast::<libc::c_void>(), value.len());
    let ret = match target {
        Target::Path(p) => {
            let p = cpath(p)?;
            // SAFETY: valid NUL-terminated strings; `value` is readable for `len`.
            unsafe { libc::lsetxattr(p.as_ptr(), cname.as_ptr(), ptr, len, 0) }
        }
        // SAFETY: fd borrowed for the call; name/value as above.
        Target::Fd(fd) => unsafe { libc::fsetxattr(fd.as_raw_fd(), cname.as_ptr(), ptr, len, 0) },
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Remove one attribute; a missing attribute is not an error.
#[allow(unsafe_code)] // opt-in per function: see SAFETY comments below
pub fn remove(target: Target<'_>, name: &[u8]) -> io::Result<()> {
    let cname = cname(name)?;
    let ret = match target {
        Target::Path(p) => {
            let p = cpath(p)?;
            // SAFETY: valid NUL-terminated strings for the duration of the call.
            unsafe { libc::lremovexattr(p.as_ptr(), cname.as_ptr()) }
        }
        // SAFETY: fd borrowed for the call.
        Target::Fd(fd) => unsafe { libc::fremovexattr(fd.as_raw_fd(), cname.as_ptr()) },
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODATA) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs where the other tests put their trees (`UPTREE_TEST_TMP`, else
    /// /var/tmp: a disk file system), not in `temp_dir()`, which is often a
    /// tmpfs without user xattrs: a test that skipped itself there could
    /// never fail.
    #[test]
    fn roundtrip_user_xattr() {
        let base = std::env::var_os("UPTREE_TEST_TMP").map_or_else(|| std::path::PathBuf::from("/var/tmp"), std::path::PathBuf::from);
        let tmp = tempfile::Builder::new().prefix("uptree-sys-xattr-").tempdir_in(&base).expect("temp dir");
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").expect("write temp file");
        let t = Target::Path(&file);
        if let Err(e) = set(t, b"user.zeta", b"z") {
            panic!("{}: setting a user xattr failed ({e}); run the tests on a file system with user xattrs (UPTREE_TEST_TMP)", base.display());
        }
        set(t, b"user.alpha", b"").expect("set empty value");
        let mut names = list(t).expect("list");
        names.sort();
        assert_eq!(names, vec![b"user.alpha".to_vec(), b"user.zeta".to_vec()]);
        assert_eq!(get(t, b"user.zeta").expect("get"), Some(b"z".to_vec()));
        assert_eq!(get(t, b"user.alpha").expect("get"), Some(Vec::new()));
        assert_eq!(get(t, b"user.missing").expect("get"), None);
        remove(t, b"user.zeta").expect("remove");
        remove(t, b"user.zeta").expect("remove twice is fine");
        assert_eq!(list(t).expect("list"), vec![b"user.alpha".to_vec()]);
    }
}
