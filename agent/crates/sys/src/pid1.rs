//! What a PID 1 needs besides mounts: the console on fds 0–2, kernel
//! modules (`finit_module`), the monotonic clock the kernel log uses,
//! a shell started in another root, a `sync` that cannot hang PID 1, and
//! `reboot`.

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// `CLOCK_MONOTONIC`: at boot this is the time since the kernel started,
/// the same base as the `[    1.234567]` stamps of the kernel log.
#[allow(unsafe_code)] // opt-in: clock_gettime writes into a local timespec
pub fn monotonic() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec owned by this frame;
    // CLOCK_MONOTONIC always exists on Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Whether fd 1 is open. The kernel opens `/dev/console` as fds 0–2 for
/// init only if the initramfs contains that node.
#[allow(unsafe_code)] // opt-in: fcntl(F_GETFD) on a plain integer fd
pub fn stdout_is_open() -> bool {
    // SAFETY: F_GETFD only queries the descriptor table; an unused fd
    // number yields EBADF, nothing is dereferenced.
    unsafe { libc::fcntl(1, libc::F_GETFD) >= 0 }
}

/// Open `console` (normally `/dev/console`) and make it fds 0, 1 and 2.
pub fn attach_console(console: &Path) -> io::Result<()> {
    let f = OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY).open(console)?;
    nix::unistd::dup2_stdin(&f).map_err(io::Error::from)?;
    nix::unistd::dup2_stdout(&f).map_err(io::Error::from)?;
    nix::unistd::dup2_stderr(&f).map_err(io::Error::from)?;
    Ok(())
}

/// `finit_module` flag: the file is compressed (xz/zstd/gzip); the
/// kernel decompresses it if built with `CONFIG_MODULE_DECOMPRESS`.
pub const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// Load a kernel module from an open file with `params` (`key=value …`).
/// An already loaded module gives `ErrorKind::AlreadyExists` (EEXIST).
#[allow(unsafe_code)] // opt-in: raw finit_module syscall (libc has no wrapper)
pub fn finit_module(file: &File, params: &str, flags: u32) -> io::Result<()> {
    let params = std::ffi::CString::new(params).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "module parameters contain NUL"))?;
    // SAFETY: the fd is open for the duration of the call (borrowed from
    // `file`), `params` is a NUL-terminated string that outlives the call,
    // and the kernel only reads from it.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), flags as libc::c_uint) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Flush all filesystems, waiting at most `timeout`: `Ok(true)` if the
/// flush finished. On wedged storage (a card that stopped answering, a
/// hung USB disk) sync(2) blocks in the kernel for ever, and PID 1 must
/// still get to its reboot; so the sync runs in a forked child, which is
/// left behind if it does not finish (the machine restarts next).
pub fn sync_within(timeout: Duration) -> io::Result<bool> {
    Ok(in_child_within(timeout, sync_now)?.is_none())
}

fn sync_now() {
    nix::unistd::sync();
}

/// Run `work` in a forked child and wait up to `timeout` for it to end.
/// `None`: it ended; `Some(pid)`: it is still running.
///
/// `work` runs in the child of a fork, so it may only make
/// async-signal-safe calls (no allocation, no locks): callers are this
/// module's own functions.
#[allow(unsafe_code)] // opt-in: fork, and one plain function in the child
fn in_child_within(timeout: Duration, work: fn()) -> io::Result<Option<nix::unistd::Pid>> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    // SAFETY: the child calls only `work` (async-signal-safe by the
    // contract above, so forking even a multi-threaded process is sound)
    // and _exit, never returning into the caller's Rust code.
    let child = match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            work();
            // SAFETY: leave without running atexit handlers or destructors.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    let start = monotonic();
    let mut pause = Duration::from_millis(1);
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(None),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
        if monotonic().saturating_sub(start) >= timeout {
            return Ok(Some(child));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Restart the machine now (`reboot(RB_AUTOBOOT)`), without syncing
/// first (see [`sync_within`]). Returns only if the kernel refused (no
/// `CAP_SYS_BOOT`, a seccomp filter). In a PID namespace other than the
/// initial one, the kernel instead kills that namespace's init, whose
/// parent sees it die of `SIGHUP` (reboot(2), "PID namespaces").
#[allow(unsafe_code)] // opt-in: reboot(2) takes no pointers
pub fn restart() -> io::Error {
    // SAFETY: reboot(RB_AUTOBOOT) takes a plain integer; on success it
    // does not return.
    let r = unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    if r < 0 {
        io::Error::last_os_error()
    } else {
        io::Error::other("reboot(2) returned")
    }
}

/// Replace this process with `path`: `argv` in full (its first element
/// is argv[0]), the current environment. Returns only on failure.
pub fn exec(path: &Path, argv: &[OsString]) -> io::Error {
    let nul = |_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains NUL");
    let cpath = match CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(e) => return nul(e),
    };
    let args: Result<Vec<CString>, _> = argv.iter().map(|a| CString::new(a.as_bytes())).collect();
    match args {
        Ok(args) => match nix::unistd::execv(&cpath, &args) {
            Ok(never) => match never {},
            Err(e) => io::Error::from(e),
        },
        Err(e) => nul(e),
    }
}

/// Run `shell` as a login-style interactive shell on the console and
/// wait for it; returns its exit code (128 + signal if killed). With
/// `root`, the child first chroots there, so a shell of another tree (a
/// deployment) finds its own libraries. The child gets its own session
/// with the console as controlling terminal, so Ctrl-C and job control
/// work. (fork + execv rather than `std::process::Command`, which would
/// add ~10 KiB to the static initramfs binary.)
#[allow(unsafe_code)] // opt-in: fork, and libc calls in the forked child
pub fn run_shell(root: Option<&Path>, shell: &Path) -> io::Result<i32> {
    let nul = |_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL");
    let croot = root.map(|r| CString::new(r.as_os_str().as_bytes())).transpose().map_err(nul)?;
    let cshell = CString::new(shell.as_os_str().as_bytes()).map_err(nul)?;
    let arg0 = c"-sh";
    let argv = [arg0.as_ptr(), std::ptr::null()];
    // SAFETY: PID 1 of an initramfs runs a single thread, so the child
    // cannot inherit a lock held by another thread. Everything the child
    // needs (C strings, argv array) was built before the fork; the child
    // only makes async-signal-safe libc calls and leaves with execv or
    // _exit, never returning into Rust code.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => unsafe {
            if let Some(r) = &croot {
                if libc::chroot(r.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    libc::_exit(126);
                }
            }
            // Failures here only cost job control; the shell still runs.
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 1);
            libc::execv(cshell.as_ptr(), argv.as_ptr());
            libc::_exit(127)
        },
        nix::unistd::ForkResult::Parent { child } => loop {
            use nix::sys::wait::{waitpid, WaitStatus};
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_moves_forward() {
        let a = monotonic();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic() > a);
        // The test harness runs with fd 1 open (captured or not).
        assert!(stdout_is_open());
    }

    #[test]
    fn sync_is_bounded() {
        assert!(sync_within(Duration::from_secs(60)).expect("fork"), "an ordinary sync finishes");
        // What a sync on wedged storage looks like to the caller: a child
        // that never ends. The wait gives up after the timeout, not later.
        fn wedged() {
            // SAFETY: pause(2) is async-signal-safe; it blocks until a signal.
            #[allow(unsafe_code)]
            unsafe {
                libc::pause();
            }
        }
        let start = monotonic();
        let left = in_child_within(Duration::from_millis(300), wedged).expect("fork").expect("the child is still blocked");
        let waited = monotonic() - start;
        let _ = nix::sys::signal::kill(left, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(left, None);
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(in_child_within(Duration::from_secs(60), || ()).expect("fork"), None);
    }

    #[test]
    fn finit_module_needs_privilege_or_a_module() {
        // Any file that is not an ELF module is refused (ENOEXEC/EPERM/…):
        // the call must report an error, not succeed or crash.
        let f = File::open("/proc/self/stat").expect("open");
        assert!(finit_module(&f, "", 0).is_err());
    }

    #[test]
    fn shell_exit_codes_and_exec_errors() {
        // A root that does not exist: the child stops at chroot (before it
        // touches the terminal) and reports 126.
        assert_eq!(run_shell(Some(Path::new("/nonexistent-root")), Path::new("/bin/sh")).expect("fork"), 126);
        let e = exec(Path::new("/nonexistent/init"), &[OsString::from("init")]);
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
