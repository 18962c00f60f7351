//! Opening a path inside a directory tree as if that directory were `/`.
//!
//! A deployment is an untrusted tree: its symlinks mean what they mean
//! once it is booted, where `/` is the deployment. Resolved from the host,
//! `usr/lib/ostree-boot/uEnv.txt -> /etc/shadow` reads the host's file, and
//! `../../..` climbs out. Here an absolute link restarts at the tree's root
//! and `..` stops there, so nothing outside the tree is ever reached.
//!
//! `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` does that in
//! the kernel (Linux 5.6+). Older kernels (board BSPs) get [`Resolver::Walk`]:
//! the same rules, one component at a time with `O_NOFOLLOW`, links read
//! with `readlinkat` and followed at most [`MAX_HOPS`] times. Unlike the
//! kernel the walk is not atomic against concurrent renames in the tree;
//! deployments are not changed while they are deployed.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};

/// Symlinks followed while resolving one path before `ELOOP` (the
/// kernel's own limit, `MAXSYMLINKS`).
pub const MAX_HOPS: usize = 40;

/// How paths are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2(2)`; [`Resolver::Walk`] where the kernel lacks it (`ENOSYS`,
    /// or `EPERM` from a seccomp filter that predates it).
    #[default]
    Auto,
    /// Component by component in user space (what kernels before 5.6 get).
    Walk,
}

impl Resolver {
    /// [`Resolver::Auto`]; debug builds honour `UPTREE_RESOLVE=walk`, so the
    /// tests run the whole binary on the path old kernels take.
    pub fn from_env() -> Resolver {
        if cfg!(debug_assertions) && std::env::var_os("UPTREE_RESOLVE").is_some_and(|v| v == "walk") {
            return Resolver::Walk;
        }
        Resolver::Auto
    }
}

/// Open `path` below `root` with `flags` (`O_CLOEXEC` and, without
/// `O_PATH`, `O_NOCTTY` are added), resolving symlinks and `..` inside
/// `root`. `follow_last`: a symlink as the last component is followed
/// (inside `root`), else the open fails with `ELOOP`. Magic links
/// (`/proc/self/fd/N`) are never followed.
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlag, follow_last: bool, resolver: Resolver) -> io::Result<OwnedFd> {
    let mut flags = flags | OFlag::O_CLOEXEC;
    // openat2 refuses (EINVAL) what open(2) ignores with O_PATH.
    if !flags.contains(OFlag::O_PATH) {
        flags |= OFlag::O_NOCTTY;
    }
    if !follow_last {
        flags |= OFlag::O_NOFOLLOW;
    }
    if resolver == Resolver::Auto {
        let how = OpenHow::new().flags(flags).resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // EAGAIN: a rename raced the kernel's `..` check; it asks for a retry.
        for _ in 0..16 {
            match nix::fcntl::openat2(root, path, how) {
                Err(Errno::EAGAIN) => continue,
                Err(Errno::ENOSYS) | Err(Errno::EPERM) => break,
                r => return r.map_err(io::Error::from),
            }
        }
    }
    walk(root, path, flags)
}

fn components(p: &OsStr) -> impl Iterator<Item = OsString> + '_ {
    p.as_bytes().split(|b| *b == b'/').filter(|c| !c.is_empty()).map(|c| OsStr::from_bytes(c).to_os_string())
}

fn walk(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let follow_last = !flags.contains(OFlag::O_NOFOLLOW);
    // Directories opened below root; `..` pops, and at root it stays put.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut pending: Vec<OsString> = components(path.as_os_str()).collect();
    pending.reverse();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        let last = pending.is_empty();
        let cur = stack.last().map_or(root, |d| d.as_fd());
        if c == "." {
            if last {
                return nix::fcntl::openat(cur, ".", flags, Mode::empty()).map_err(io::Error::from);
            }
            continue;
        }
        if c == ".." {
            stack.pop();
            if last {
                let cur = stack.last().map_or(root, |d| d.as_fd());
                return nix::fcntl::openat(cur, ".", flags, Mode::empty()).map_err(io::Error::from);
            }
            continue;
        }
        let probe = nix::fcntl::openat(cur, c.as_os_str(), OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
        let is_link = SFlag::from_bits_truncate(nix::sys::stat::fstat(&probe)?.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
        if is_link && (!last || follow_last) {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(io::Error::from(Errno::ELOOP));
            }
            let target = nix::fcntl::readlinkat(cur, c.as_os_str())?;
            if target.as_bytes().first() == Some(&b'/') {
                stack.clear();
            }
            let mut parts: Vec<OsString> = components(&target).collect();
            if parts.is_empty() && last {
                // A link to "/" (or "") names the root itself.
                parts.push(".".into());
            }
            pending.extend(parts.into_iter().rev());
            continue;
        }
        if last {
            return nix::fcntl::openat(cur, c.as_os_str(), flags, Mode::empty()).map_err(io::Error::from);
        }
        let dir = nix::fcntl::openat(cur, c.as_os_str(), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
        stack.push(dir);
    }
    // An empty path (or only slashes) names the root.
    nix::fcntl::openat(root, ".", flags, Mode::empty()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;

    fn read(root: &fs::File, p: &str, follow: bool, r: Resolver) -> io::Result<String> {
        let fd = open(root.as_fd(), Path::new(p), OFlag::O_RDONLY, follow, r)?;
        let mut s = String::new();
        fs::File::from(fd).read_to_string(&mut s)?;
        Ok(s)
    }

    /// Both resolvers give the same answers, and none of them leaves the tree.
    #[test]
    fn links_resolve_inside_the_root() {
        let t = tempfile::tempdir().expect("tmp");
        let host = t.path().join("host-secret");
        fs::write(&host, "HOST").expect("w");
        let root = t.path().join("root");
        fs::create_dir_all(root.join("etc")).expect("mkdir");
        fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        fs::write(root.join("usr/lib/os-release"), "INSIDE").expect("w");
        fs::write(root.join("host-secret"), "ROOT-COPY").expect("w");
        symlink("../usr/lib/os-release", root.join("etc/os-release")).expect("ln");
        symlink("/usr/lib/os-release", root.join("etc/abs")).expect("ln");
        symlink(&host, root.join("etc/escape-abs")).expect("ln");
        symlink("../../../../../../host-secret", root.join("etc/escape-dots")).expect("ln");
        symlink(t.path(), root.join("usr/up")).expect("ln");
        symlink("loop2", root.join("loop1")).expect("ln");
        symlink("loop1", root.join("loop2")).expect("ln");
        symlink("/", root.join("slash")).expect("ln");
        let rootf = fs::File::open(&root).expect("open root");
        for r in [Resolver::Auto, Resolver::Walk] {
            assert_eq!(read(&rootf, "etc/os-release", true, r).expect("relative link"), "INSIDE", "{r:?}");
            assert_eq!(read(&rootf, "etc/abs", true, r).expect("absolute link"), "INSIDE", "{r:?}");
            assert_eq!(read(&rootf, "/etc/../usr/lib/os-release", true, r).expect("absolute path"), "INSIDE", "{r:?}");
            // Escapes land on the tree's own root.
            assert_eq!(read(&rootf, "etc/escape-dots", true, r).expect("dots"), "ROOT-COPY", "{r:?}");
            assert_eq!(read(&rootf, "../../host-secret", true, r).expect("dots"), "ROOT-COPY", "{r:?}");
            assert_eq!(read(&rootf, "slash/host-secret", true, r).expect("slash"), "ROOT-COPY", "{r:?}");
            assert_eq!(read(&rootf, "etc/escape-abs", true, r).map_err(|e| e.kind()), Err(io::ErrorKind::NotFound), "{r:?}");
            assert_eq!(read(&rootf, "usr/up/host-secret", true, r).map_err(|e| e.kind()), Err(io::ErrorKind::NotFound), "{r:?}");
            // A link as last component when links are refused; loops.
            assert_eq!(read(&rootf, "etc/os-release", false, r).map_err(|e| e.raw_os_error()), Err(Some(libc::ELOOP)), "{r:?}");
            assert_eq!(read(&rootf, "loop1", true, r).map_err(|e| e.raw_os_error()), Err(Some(libc::ELOOP)), "{r:?}");
            // Links in directory components are followed even with follow_last off.
            assert_eq!(read(&rootf, "slash/usr/lib/os-release", false, r).expect("dir link"), "INSIDE", "{r:?}");
            open(rootf.as_fd(), Path::new("etc/abs"), OFlag::O_PATH, true, r).expect("O_PATH probe");
            let d = open(rootf.as_fd(), Path::new("slash"), OFlag::O_RDONLY | OFlag::O_DIRECTORY, true, r).expect("dir");
            assert_eq!(read(&fs::File::from(d), "usr/lib/os-release", false, r).expect("via root fd"), "INSIDE", "{r:?}");
        }
    }
}
