//! Filesystem ioctls: the immutable attribute (`chattr +i`, which ostree
//! sets on deployment roots) and freeze/thaw (`FIFREEZE`/`FITHAW`, used on
//! a board's own `/boot` mount after writing boot files).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

const FS_IMMUTABLE_FL: libc::c_int = 0x0000_0010;

// _IOR('f', 1, long) / _IOW('f', 2, long): the kernel reads and writes an
// int despite the long in the request code (as e2fsprogs uses them).
const FS_IOC_GETFLAGS: libc::c_ulong = nix::request_code_read!(b'f', 1, std::mem::size_of::<libc::c_long>()) as libc::c_ulong;
const FS_IOC_SETFLAGS: libc::c_ulong = nix::request_code_write!(b'f', 2, std::mem::size_of::<libc::c_long>()) as libc::c_ulong;
const FIFREEZE: libc::c_ulong = nix::request_code_readwrite!(b'X', 119, std::mem::size_of::<libc::c_int>()) as libc::c_ulong;
const FITHAW: libc::c_ulong = nix::request_code_readwrite!(b'X', 120, std::mem::size_of::<libc::c_int>()) as libc::c_ulong;

#[allow(unsafe_code)] // opt-in: ioctl with a pointer to a local int
fn ioctl_int(fd: BorrowedFd<'_>, req: libc::c_ulong, val: &mut libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is a valid open descriptor for the call; `val` points to
    // an int we own, which is what these requests read or write.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, val as *mut libc::c_int) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Set or clear the immutable attribute of an open file or directory.
/// Filesystems without the attribute report `ENOTTY`/`EOPNOTSUPP`.
pub fn set_immutable(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let mut flags: libc::c_int = 0;
    ioctl_int(fd, FS_IOC_GETFLAGS, &mut flags)?;
    let new = if on { flags | FS_IMMUTABLE_FL } else { flags & !FS_IMMUTABLE_FL };
    if new == flags {
        return Ok(());
    }
    let mut new = new;
    ioctl_int(fd, FS_IOC_SETFLAGS, &mut new)
}

/// Whether the immutable attribute is set.
pub fn is_immutable(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut flags: libc::c_int = 0;
    ioctl_int(fd, FS_IOC_GETFLAGS, &mut flags)?;
    Ok(flags & FS_IMMUTABLE_FL != 0)
}

/// True for "this filesystem has no such attribute".
pub fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL))
}

/// Freeze then thaw the filesystem holding `fd` (flushes its journal so a
/// bootloader reading the raw device sees everything).
pub fn freeze_thaw(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut zero: libc::c_int = 0;
    ioctl_int(fd, FIFREEZE, &mut zero)?;
    ioctl_int(fd, FITHAW, &mut zero)
}
