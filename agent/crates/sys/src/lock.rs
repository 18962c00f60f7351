//! OFD (open file description) locks, compatible with libostree's repo lock:
//! a whole-file `F_RDLCK` (shared) or `F_WRLCK` (exclusive) on `REPO/.lock`.
//! The lock belongs to the open file, so dropping the guard releases it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct OfdLock {
    file: File,
    kind: LockKind,
}

fn flock_for(kind: Option<LockKind>) -> libc::flock {
    let l_type = match kind {
        Some(LockKind::Shared) => libc::F_RDLCK,
        Some(LockKind::Exclusive) => libc::F_WRLCK,
        None => libc::F_UNLCK,
    };
    libc::flock { l_type: l_type as libc::c_short, l_whence: libc::SEEK_SET as libc::c_short, l_start: 0, l_len: 0, l_pid: 0 }
}

fn try_lock(file: &File, kind: LockKind) -> io::Result<bool> {
    let fl = flock_for(Some(kind));
    match fcntl(file, FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) | Err(Errno::EACCES) => Ok(false),
        Err(e) => Err(io::Error::from(e)),
    }
}

impl OfdLock {
    /// Take `kind` on `path` (created if missing), waiting at most `timeout`
    /// (`None` waits forever). Returns `ErrorKind::WouldBlock` on timeout.
    pub fn acquire(path: &Path, kind: LockKind, timeout: Option<Duration>) -> io::Result<OfdLock> {
        let file = OpenOptions::new().read(true).write(true).create(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(path)?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if try_lock(&file, kind)? {
                return Ok(OfdLock { file, kind });
            }
            if let Some(t) = timeout {
                if start.elapsed() >= t {
                    return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{} is locked by another process", path.display())));
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// Whether the locked file still has a name. libostree unlinks
    /// `ostree/lock` when it releases it, so a lock won on the file a
    /// waiter opened before that locks nothing: the next locker creates
    /// and locks a new file (libglnx's `glnx_make_lock_file` checks this too).
    pub fn is_linked(&self) -> io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        Ok(self.file.metadata()?.nlink() > 0)
    }

    /// Change the lock type in place (shared <-> exclusive) without a gap.
    pub fn convert(&mut self, kind: LockKind, timeout: Option<Duration>) -> io::Result<()> {
        let start = Instant::now();
        loop {
            if try_lock(&self.file, kind)? {
                self.kind = kind;
                return Ok(());
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock held by another process"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OfdLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the
        // release immediate even if the fd was duplicated somewhere.
        let _ = fcntl(&self.file, FcntlArg::F_OFD_SETLK(&flock_for(None)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_shared_until_dropped() {
        let path = std::env::temp_dir().join(format!("uptree-lock-{}", std::process::id()));
        let a = OfdLock::acquire(&path, LockKind::Shared, Some(Duration::ZERO)).expect("shared");
        let b = OfdLock::acquire(&path, LockKind::Shared, Some(Duration::ZERO)).expect("second shared");
        let err = OfdLock::acquire(&path, LockKind::Exclusive, Some(Duration::from_millis(30))).expect_err("must block");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        drop(b);
        let _c = OfdLock::acquire(&path, LockKind::Exclusive, Some(Duration::ZERO)).expect("exclusive after release");
        std::fs::remove_file(&path).expect("cleanup");
    }
}
