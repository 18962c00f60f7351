//! Path resolution confined to a root directory, one component at a time
//! (`openat2(RESOLVE_IN_ROOT)` semantics, done with `lstat`/`readlink` so
//! it also runs on kernels and in tests without openat2).
//!
//! Two policies:
//! - [`Confine::Refuse`] for the `ostree=` boot link: an absolute symlink
//!   target or a `..` above the root is an error. ostree resolves the link
//!   with `realpath()` in the initramfs, where an absolute target would
//!   leave the sysroot; we refuse instead of following.
//! - [`Confine::Clamp`] for paths inside the new root (its `/sbin/init`):
//!   exactly what the kernel will do after `chroot` — absolute targets
//!   start over at the root, `..` at the root stays there.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up (the kernel's limit).
pub const MAX_SYMLINKS: u32 = 40;

/// `ENOTDIR` (Linux): `ErrorKind::NotADirectory` needs Rust 1.83.
const ENOTDIR: i32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confine {
    Refuse,
    Clamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// A component does not exist; `at` is where we were (inside the root).
    NotFound {
        at: String,
    },
    NotADirectory {
        at: String,
    },
    /// An absolute symlink (`link` → `target`) under [`Confine::Refuse`].
    AbsoluteLink {
        link: String,
        target: String,
    },
    /// `..` above the root under [`Confine::Refuse`]; `via` is the last
    /// symlink followed (link, target), if the `..` came from one.
    Escapes {
        via: Option<(String, String)>,
    },
    TooManyLinks,
    Io {
        at: String,
        error: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound { at } => write!(f, "/{at} does not exist"),
            ResolveError::NotADirectory { at } => write!(f, "/{at} is not a directory"),
            ResolveError::AbsoluteLink { link, target } => write!(f, "/{link} is an absolute symlink ({target}), refusing to leave the sysroot"),
            ResolveError::Escapes { via: Some((link, target)) } => write!(f, "/{link} -> {target} leads outside the sysroot"),
            ResolveError::Escapes { via: None } => write!(f, "'..' leads outside the sysroot"),
            ResolveError::TooManyLinks => write!(f, "more than {MAX_SYMLINKS} symlinks"),
            ResolveError::Io { at, error } => write!(f, "/{at}: {error}"),
        }
    }
}

fn join(parts: &[OsString]) -> String {
    let mut p = PathBuf::new();
    for c in parts {
        p.push(c);
    }
    p.to_string_lossy().into_owned()
}

/// Resolve `path` (absolute or relative, taken from `root`) inside
/// `root`. Returns the resolved path relative to `root`, without symlinks
/// (`""` is the root itself). The final component may be anything that
/// exists; every earlier one must be a directory.
pub fn resolve(root: &Path, path: &str, confine: Confine) -> Result<String, ResolveError> {
    let mut todo: VecDeque<OsString> = components(path.as_bytes());
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    let mut last_link: Option<(String, String)> = None;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if done.pop().is_none() && confine == Confine::Refuse {
                return Err(ResolveError::Escapes { via: last_link });
            }
            continue;
        }
        let mut here = done.clone();
        here.push(c.clone());
        let host = root.join(join(&here));
        let meta = match fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ResolveError::NotFound { at: join(&here) }),
            Err(e) if e.raw_os_error() == Some(ENOTDIR) => return Err(ResolveError::NotADirectory { at: join(&done) }),
            Err(e) => return Err(ResolveError::Io { at: join(&here), error: e.to_string() }),
        };
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(ResolveError::TooManyLinks);
            }
            let target = fs::read_link(&host).map_err(|e| ResolveError::Io { at: join(&here), error: e.to_string() })?;
            let tbytes = target.as_os_str().as_bytes();
            last_link = Some((join(&here), target.to_string_lossy().into_owned()));
            if tbytes.first() == Some(&b'/') {
                if confine == Confine::Refuse {
                    return Err(ResolveError::AbsoluteLink { link: join(&here), target: target.to_string_lossy().into_owned() });
                }
                done.clear();
            }
            let mut next = components(tbytes);
            next.extend(todo);
            todo = next;
            continue;
        }
        if !todo.is_empty() && !meta.is_dir() {
            return Err(ResolveError::NotADirectory { at: join(&here) });
        }
        done.push(c);
    }
    Ok(join(&done))
}

/// Path components, dropping empty ones and `.`; `..` is kept.
fn components(p: &[u8]) -> VecDeque<OsString> {
    Path::new(std::ffi::OsStr::from_bytes(p))
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        let c = "0".repeat(64);
        fs::create_dir_all(r.join(format!("ostree/deploy/os/deploy/{c}.0/usr/sbin"))).expect("mkdir");
        fs::create_dir_all(r.join("ostree/boot.1.1/os/bc")).expect("mkdir");
        symlink("boot.1.1", r.join("ostree/boot.1")).expect("ln");
        symlink(format!("../../../deploy/os/deploy/{c}.0"), r.join("ostree/boot.1.1/os/bc/0")).expect("ln");
        symlink(format!("/ostree/deploy/os/deploy/{c}.0"), r.join("ostree/boot.1.1/os/bc/1")).expect("ln");
        symlink("../../../../../../../..", r.join("ostree/boot.1.1/os/bc/2")).expect("ln");
        symlink("3", r.join("ostree/boot.1.1/os/bc/3")).expect("ln");
        symlink("../../../deploy/os/deploy/missing.0", r.join("ostree/boot.1.1/os/bc/4")).expect("ln");
        fs::write(r.join("ostree/deploy/os/deploy/file"), b"").expect("write");
        symlink("../../../deploy/os/deploy/file/x", r.join("ostree/boot.1.1/os/bc/5")).expect("ln");
        let d = r.join(format!("ostree/deploy/os/deploy/{c}.0"));
        symlink("usr/sbin", d.join("sbin")).expect("ln");
        symlink("/usr/lib/systemd/systemd", d.join("usr/sbin/init")).expect("ln");
        symlink("../../..", d.join("usr/sbin/up")).expect("ln");
        t
    }

    #[test]
    fn boot_link_chain() {
        let t = tree();
        let c = "0".repeat(64);
        assert_eq!(resolve(t.path(), "/ostree/boot.1/os/bc/0", Confine::Refuse), Ok(format!("ostree/deploy/os/deploy/{c}.0")));
        assert_eq!(resolve(t.path(), "ostree//./boot.1/os/bc/0/", Confine::Refuse), Ok(format!("ostree/deploy/os/deploy/{c}.0")));
        assert_eq!(resolve(t.path(), "/", Confine::Refuse), Ok(String::new()));
    }

    #[test]
    fn hostile_links_are_refused() {
        let t = tree();
        let r = t.path();
        assert!(matches!(resolve(r, "/ostree/boot.1/os/bc/1", Confine::Refuse), Err(ResolveError::AbsoluteLink { .. })));
        assert!(matches!(resolve(r, "/ostree/boot.1/os/bc/2", Confine::Refuse), Err(ResolveError::Escapes { .. })));
        assert!(matches!(resolve(r, "/../etc", Confine::Refuse), Err(ResolveError::Escapes { .. })));
        assert_eq!(resolve(r, "/ostree/boot.1/os/bc/3", Confine::Refuse), Err(ResolveError::TooManyLinks));
        assert_eq!(resolve(r, "/ostree/boot.1/os/bc/4", Confine::Refuse), Err(ResolveError::NotFound { at: "ostree/deploy/os/deploy/missing.0".into() }));
        assert_eq!(resolve(r, "/ostree/boot.1/os/bc/9", Confine::Refuse), Err(ResolveError::NotFound { at: "ostree/boot.1.1/os/bc/9".into() }));
        assert!(matches!(resolve(r, "/ostree/boot.1/os/bc/5", Confine::Refuse), Err(ResolveError::NotADirectory { .. })));
        // The escape is refused even though the target would exist on the host.
        let e = resolve(r, "/ostree/boot.1/os/bc/2", Confine::Refuse).expect_err("escape");
        assert_eq!(e.to_string(), "/ostree/boot.1.1/os/bc/2 -> ../../../../../../../.. leads outside the sysroot");
        assert_eq!(resolve(r, "/../etc", Confine::Refuse).expect_err("escape").to_string(), "'..' leads outside the sysroot");
    }

    #[test]
    fn clamped_like_chroot() {
        let t = tree();
        let c = "0".repeat(64);
        let dep = t.path().join(format!("ostree/deploy/os/deploy/{c}.0"));
        // /sbin/init -> usr/sbin/init -> /usr/lib/systemd/systemd (absent).
        assert_eq!(resolve(&dep, "/sbin/init", Confine::Clamp), Err(ResolveError::NotFound { at: "usr/lib".into() }));
        fs::create_dir_all(dep.join("usr/lib/systemd")).expect("mkdir");
        fs::write(dep.join("usr/lib/systemd/systemd"), b"").expect("write");
        assert_eq!(resolve(&dep, "/sbin/init", Confine::Clamp), Ok("usr/lib/systemd/systemd".into()));
        // `..` at the root stays at the root.
        assert_eq!(resolve(&dep, "/usr/sbin/up/../../sbin", Confine::Clamp), Ok("usr/sbin".into()));
        assert!(matches!(resolve(&dep, "/usr/sbin/up/..", Confine::Refuse), Err(ResolveError::Escapes { .. })));
    }
}
