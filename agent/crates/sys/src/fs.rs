//! Filesystem ioctls: the immutable attribute (`chattr +i`, which ostree
//! sets on deployment roots) and freeze/thaw (`FIFREEZE`/`FITHAW`, used on
//! a board's own `/boot` mount after writing boot files).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

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

/// How long the watchdog lets a live process keep the filesystem frozen
/// (ostree's 30 s): a freezer stuck inside, not only a dead one, must not
/// hang the board.
pub const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(30);

/// Freeze then thaw the filesystem holding `fd` (flushes its journal so a
/// bootloader reading the raw device, which does not replay it, sees
/// everything).
///
/// A process killed between the two ioctls would leave the filesystem
/// frozen — with the ostree layout in a booted system that is the root
/// filesystem, and the board hangs. So, as ostree does, a forked watchdog
/// holds the read end of a pipe and thaws when it closes (we are done, or
/// dead) or after [`WATCHDOG_TIMEOUT`] (we are stuck). It ignores SIGINT and
/// SIGTERM, so a Ctrl-C or a service stop that reaches both processes does
/// not take the watchdog down with its freezer.
pub fn freeze_thaw(fd: BorrowedFd<'_>) -> io::Result<()> {
    frozen_section(fd, WATCHDOG_TIMEOUT, || ())
}

/// Run `while_frozen` with the filesystem frozen, then thaw (the watchdog
/// thaws if the process dies inside, or after `timeout`). `while_frozen`
/// must not write to that filesystem. The tests use it to die or hang while
/// frozen.
pub fn frozen_section(fd: BorrowedFd<'_>, timeout: Duration, while_frozen: impl FnOnce()) -> io::Result<()> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let watchdog = fork_watchdog(fd, &rd, wr.as_raw_fd(), timeout, false)?;
    drop(rd);
    let mut zero: libc::c_int = 0;
    let frozen = ioctl_int(fd, FIFREEZE, &mut zero);
    let thawed = if frozen.is_ok() {
        while_frozen();
        match ioctl_int(fd, FITHAW, &mut zero) {
            // Not frozen any more: the watchdog's timeout thawed it.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
            r => r,
        }
    } else {
        Ok(())
    };
    drop(wr);
    let _ = nix::sys::wait::waitpid(watchdog, None);
    frozen.and(thawed)
}

/// libostree's `OSTREE_SYSROOT_DEBUG=test-fifreeze`: start the watchdog
/// with a 1 s timeout, freeze nothing, and wait until it has timed out and
/// thawed (it says "fifreeze watchdog was run" on stderr). Ok when the
/// watchdog exited cleanly.
pub fn watchdog_selftest(fd: BorrowedFd<'_>) -> io::Result<()> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let watchdog = fork_watchdog(fd, &rd, wr.as_raw_fd(), Duration::from_secs(1), true)?;
    drop(rd);
    // The write end stays open until the watchdog is gone: it must time out.
    let status = nix::sys::wait::waitpid(watchdog, None).map_err(io::Error::from);
    drop(wr);
    match status? {
        nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(io::Error::other(format!("the watchdog ended with {other:?}"))),
    }
}

#[allow(unsafe_code)] // opt-in: fork, and only async-signal-safe calls in the child
fn fork_watchdog(fd: BorrowedFd<'_>, rd: &std::os::fd::OwnedFd, wr: std::os::fd::RawFd, timeout: Duration, announce: bool) -> io::Result<nix::unistd::Pid> {
    use nix::unistd::{fork, ForkResult};
    let timeout_ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    const RAN: &[u8] = b"fifreeze watchdog was run\n";
    // SAFETY: the child only calls close(2), sigaction (signal), poll(2),
    // read(2), ioctl(2), write(2) and _exit(2), which are async-signal-safe,
    // so forking a multi-threaded process is sound; it allocates nothing
    // and touches no lock.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            // SAFETY: close(2) of our copy of the write end, so the parent's
            // is the only one left.
            unsafe { libc::close(wr) };
            // SAFETY: setting a signal's disposition to SIG_IGN runs no code of ours.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
            let mut pfd = libc::pollfd { fd: rd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let mut b = [0u8; 1];
            loop {
                // SAFETY: poll(2) on one pollfd we own.
                let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                // SAFETY: plain read(2) into a local buffer: 0 (EOF) once the
                // parent's write end closes, because it is done or dead.
                if r > 0 && unsafe { libc::read(rd.as_raw_fd(), b.as_mut_ptr().cast(), 1) } > 0 {
                    continue;
                }
                // Timed out, EOF, or an error: thaw.
                break;
            }
            let mut zero: libc::c_int = 0;
            // SAFETY: as in ioctl_int; EINVAL (not frozen) is expected.
            unsafe { libc::ioctl(fd.as_raw_fd(), FITHAW as _, &mut zero as *mut libc::c_int) };
            if announce {
                // SAFETY: write(2) of a static buffer to stderr.
                unsafe { libc::write(libc::STDERR_FILENO, RAN.as_ptr().cast(), RAN.len()) };
            }
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Open `path` for reading if it is a regular file: a symlink in its last
/// component is not followed and a FIFO does not block the open. For what
/// may be hostile, e.g. a repository on a USB stick, whose `config` can be
/// a symlink to `/dev/zero` or a FIFO nobody writes.
pub fn open_regular(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(io::ErrorKind::InvalidInput, "is a symbolic link, not a regular file")
        } else {
            e
        }
    })?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(f)
}
