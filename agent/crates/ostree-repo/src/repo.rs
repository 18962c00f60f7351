//! The on-disk repository: layout, config, refs, reading objects, the repo
//! lock, and write transactions (ostree-format.md §1).
//!
//! Writes go to `tmp/staging-<bootid>-XXXXXX/` (locked with
//! `…-lock`), then [`Transaction::commit`] syncs the filesystem once and
//! renames every staged object into `objects/`, as libostree does: a crash
//! leaves either nothing or complete objects visible, and the same boot
//! resumes the staging directory.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use uptree_sys::lock::{LockKind, OfdLock};
use uptree_sys::xattr;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::keyfile::KeyFile;
use crate::object::{Checksum, Commit, DirMeta, DirTree, FileMeta, ObjectType, S_IFLNK, S_IFMT};

/// Largest metadata object we read (libostree's `OSTREE_MAX_METADATA_SIZE`).
pub const MAX_METADATA_SIZE: u64 = 128 * 1024 * 1024;

/// Largest repository `config` read (ostree's are a few hundred bytes).
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Repository modes (`core.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoMode {
    Bare,
    BareUser,
    BareUserOnly,
    Archive,
}

impl RepoMode {
    /// Accepts what ostree accepts; `archive` and `archive-z2` are synonyms.
    pub fn parse(s: &str) -> Option<RepoMode> {
        Some(match s {
            "bare" => RepoMode::Bare,
            "bare-user" => RepoMode::BareUser,
            "bare-user-only" => RepoMode::BareUserOnly,
            "archive" | "archive-z2" => RepoMode::Archive,
            _ => return None,
        })
    }

    /// The spelling `ostree init` writes into `config`.
    pub fn config_name(self) -> &'static str {
        match self {
            RepoMode::Bare => "bare",
            RepoMode::BareUser => "bare-user",
            RepoMode::BareUserOnly => "bare-user-only",
            RepoMode::Archive => "archive-z2",
        }
    }

    pub fn is_bare(self) -> bool {
        self != RepoMode::Archive
    }
}

/// Free space policy (`core.min-free-space-size` / `-percent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinFreeSpace {
    Megabytes(u64),
    Percent(u32),
}

impl MinFreeSpace {
    fn describe(self, requested: u64) -> String {
        let tail = if requested > 0 { format!("would be exceeded, at least {requested} bytes requested") } else { "would be exceeded".to_string() };
        match self {
            MinFreeSpace::Megabytes(mb) => format!("min-free-space-size {mb}MB {tail}"),
            MinFreeSpace::Percent(p) => format!("min-free-space-percent '{p}%' {tail}"),
        }
    }
}

/// How a ref argument was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefName {
    pub remote: Option<String>,
    pub name: String,
}

impl RefName {
    /// Parse `[REMOTE:]REF`.
    pub fn parse(s: &str) -> Result<RefName> {
        let (remote, name) = match s.split_once(':') {
            Some((r, n)) => {
                crate::object::validate_remote_name(r)?;
                (Some(r.to_string()), n)
            }
            None => (None, s),
        };
        crate::object::validate_ref_name(name)?;
        Ok(RefName { remote, name: name.to_string() })
    }

    fn rel_path(&self) -> PathBuf {
        match &self.remote {
            Some(r) => Path::new("refs/remotes").join(r).join(&self.name),
            None => Path::new("refs/heads").join(&self.name),
        }
    }
}

impl std::fmt::Display for RefName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.remote {
            Some(r) => write!(f, "{r}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// How many `core.parent` links a repository may chain through.
const MAX_PARENT_DEPTH: usize = 8;

/// An open repository.
#[derive(Debug)]
pub struct Repo {
    path: PathBuf,
    mode: RepoMode,
    config: KeyFile,
    fsync: bool,
    zlib_level: u32,
    lock_timeout: Option<Duration>,
    min_free: MinFreeSpace,
    disable_xattrs: bool,
    /// Set when opened as a sysroot's repository (`admin`): libostree then
    /// counts it as the system repository of that sysroot.
    sysroot: Option<PathBuf>,
    /// `core.parent`: objects missing here are read from there (ostree's
    /// parent repositories; writes and listings stay in this one).
    parent: Option<Box<Repo>>,
}

/// Content of a file object as read back.
pub enum Content {
    /// A regular file's bytes (verified against the declared size for archive
    /// objects), with that size.
    Regular(Box<dyn Read + Send>, u64),
    Symlink,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Regular(_, n) => write!(f, "Regular({n} bytes)"),
            Content::Symlink => f.write_str("Symlink"),
        }
    }
}

fn object_rel(csum: &Checksum, ty: ObjectType, mode: RepoMode) -> String {
    let hex = csum.to_hex();
    let z = if ty == ObjectType::File && mode == RepoMode::Archive { "z" } else { "" };
    format!("objects/{}/{}.{}{}", &hex[..2], &hex[2..], ty.extension(), z)
}

impl Repo {
    /// `ostree init --mode=MODE`: create the layout and `config`. An existing
    /// repository of the same mode is left as it is.
    pub fn init(path: &Path, mode: RepoMode) -> Result<Repo> {
        let config_path = path.join("config");
        if config_path.exists() {
            let repo = Repo::open(path)?;
            if repo.mode != mode {
                return Err(Error::Conflict(format!("{} is already a {} repository", path.display(), repo.mode.config_name())));
            }
            return Ok(repo);
        }
        fs::create_dir_all(path).at(path)?;
        for d in ["objects", "tmp", "tmp/cache", "extensions", "state", "refs", "refs/heads", "refs/mirrors", "refs/remotes"] {
            let p = path.join(d);
            match fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        let mut kf = KeyFile::new();
        kf.set("core", "repo_version", "1");
        kf.set("core", "mode", mode.config_name());
        fsutil::atomic_write(&config_path, kf.to_string().as_bytes(), 0o644, true)?;
        Repo::open(path)
    }

    /// Open an existing repository and read its `config`.
    pub fn open(path: &Path) -> Result<Repo> {
        Self::open_chain(path, 0)
    }

    fn open_chain(path: &Path, depth: usize) -> Result<Repo> {
        let config_path = path.join("config");
        // Bounded, regular file, not through a symlink: the repository may
        // be on a USB stick anyone can write.
        let text = fsutil::read_regular(&config_path, MAX_CONFIG_SIZE)
            .and_then(|b| String::from_utf8(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")))
            .map_err(|e| Error::io(&config_path, e).context(format!("opening repository {}", path.display())))?;
        let config = KeyFile::parse(&text).map_err(|e| Error::Config { path: config_path.clone(), what: e.to_string() })?;
        let cfg_err = |what: String| Error::Config { path: config_path.clone(), what };
        if config.get("core", "repo_version").as_deref() != Some("1") {
            return Err(cfg_err("core.repo_version must be 1".into()));
        }
        if config.get_bool("core", "archive").map_err(&cfg_err)? == Some(true) {
            return Err(cfg_err("the pre-2013 'archive=true' format is not supported".into()));
        }
        let mode_s = config.get("core", "mode").unwrap_or_else(|| "bare".into());
        let mode = RepoMode::parse(&mode_s).ok_or_else(|| cfg_err(format!("unsupported mode {mode_s:?}")))?;
        let fsync = config.get_bool("core", "fsync").map_err(&cfg_err)?.unwrap_or(true);
        let disable_xattrs = config.get_bool("core", "disable-xattrs").map_err(&cfg_err)?.unwrap_or(false);
        let zlib_level = match config.get("archive", "zlib-level") {
            Some(v) => v.trim().parse::<u32>().map_err(|_| cfg_err(format!("archive.zlib-level {v:?} is not a number")))?.clamp(1, 9),
            None => 6,
        };
        let lock_timeout = match config.get("core", "lock-timeout-secs") {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(n) => Some(Duration::from_secs(n as u64)),
                Err(_) => return Err(cfg_err(format!("core.lock-timeout-secs {v:?} is not a number"))),
            },
            None => Some(Duration::from_secs(300)),
        };
        let min_free = Self::parse_min_free(&config).map_err(cfg_err)?;
        // ostree_repo_open recreates a deleted tmp/ in a writable repository;
        // a read-only one (a stick, a mirror) opens as it is.
        let tmp = path.join("tmp");
        if let Err(e) = fs::create_dir(&tmp) {
            if !matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) {
                return Err(Error::io(&tmp, e));
            }
        }
        let parent = match config.get("core", "parent") {
            // A cycle of parents would never end.
            Some(_) if depth >= MAX_PARENT_DEPTH => return Err(cfg_err(format!("more than {MAX_PARENT_DEPTH} parent repositories"))),
            Some(p) => Some(Box::new(Self::open_chain(Path::new(p.trim()), depth + 1).map_err(|e| e.context(format!("parent of {}", path.display())))?)),
            None => None,
        };
        Ok(Repo { path: path.to_path_buf(), mode, config, fsync, zlib_level, lock_timeout, min_free, disable_xattrs, sysroot: None, parent })
    }

    fn parse_min_free(config: &KeyFile) -> std::result::Result<MinFreeSpace, String> {
        if let Some(s) = config.get("core", "min-free-space-size") {
            let s = s.trim();
            let (num, unit) = s
                .strip_suffix('B')
                .and_then(|r| r.split_at_checked(r.len().checked_sub(1)?))
                .ok_or_else(|| format!("invalid min-free-space-size {s:?}: use e.g. '123MB', '123GB' or '123TB'"))?;
            let shift = match unit {
                "M" => 0,
                "G" => 10,
                "T" => 20,
                _ => return Err(format!("invalid min-free-space-size {s:?}: use e.g. '123MB', '123GB' or '123TB'")),
            };
            let n: u64 = num.parse().map_err(|_| format!("invalid min-free-space-size {s:?}"))?;
            let mb = n.checked_shl(shift).filter(|v| v >> shift == n).ok_or_else(|| format!("min-free-space-size {s:?} is too large"))?;
            if mb > 0 {
                return Ok(MinFreeSpace::Megabytes(mb));
            }
        }
        if let Some(p) = config.get("core", "min-free-space-percent") {
            let n: u32 = p.trim().parse().map_err(|_| format!("invalid min-free-space-percent {p:?}"))?;
            if n > 99 {
                return Err(format!("invalid min-free-space-percent {p:?}"));
            }
            return Ok(MinFreeSpace::Percent(n));
        }
        Ok(if config.get("core", "min-free-space-size").is_some() { MinFreeSpace::Megabytes(0) } else { MinFreeSpace::Percent(3) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Mark this as the repository of the sysroot at `sysroot`, as libostree
    /// does for a repository it reaches through its sysroot.
    pub fn in_sysroot(mut self, sysroot: &Path) -> Repo {
        self.sysroot = Some(sysroot.to_path_buf());
        self
    }

    /// The sysroot this repository was opened through, if any.
    pub fn sysroot(&self) -> Option<&Path> {
        self.sysroot.as_deref()
    }

    pub fn mode(&self) -> RepoMode {
        self.mode
    }

    pub fn config(&self) -> &KeyFile {
        &self.config
    }

    pub fn fsync_enabled(&self) -> bool {
        self.fsync
    }

    pub fn disable_xattrs(&self) -> bool {
        self.disable_xattrs
    }

    /// Disable fsync for this handle (`--fsync=false`).
    pub fn set_fsync(&mut self, on: bool) {
        self.fsync = on;
    }

    /// Rewrite `config` atomically with `f` applied.
    pub fn update_config(&mut self, f: impl FnOnce(&mut KeyFile)) -> Result<()> {
        let mut kf = self.config.clone();
        f(&mut kf);
        fsutil::atomic_write(&self.path.join("config"), kf.to_string().as_bytes(), 0o644, true)?;
        self.config = kf;
        Ok(())
    }

    /// Relative loose path of an object, e.g. `objects/ab/cd….filez`.
    pub fn object_rel_path(&self, csum: &Checksum, ty: ObjectType) -> String {
        object_rel(csum, ty, self.mode)
    }

    pub fn object_path(&self, csum: &Checksum, ty: ObjectType) -> PathBuf {
        self.path.join(self.object_rel_path(csum, ty))
    }

    pub fn has_object(&self, csum: &Checksum, ty: ObjectType) -> bool {
        fs::symlink_metadata(self.object_path(csum, ty)).is_ok() || self.parent.as_ref().is_some_and(|p| p.has_object(csum, ty))
    }

    /// Take the repository lock (`.lock`, OFD, as libostree).
    pub fn lock(&self, kind: LockKind) -> Result<OfdLock> {
        let p = self.path.join(".lock");
        OfdLock::acquire(&p, kind, self.lock_timeout).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                Error::Locked { path: self.path.clone() }
            } else {
                Error::io(p, e)
            }
        })
    }

    /// Bytes of a metadata object (no verification; see `fsck`).
    pub fn read_metadata(&self, ty: ObjectType, csum: &Checksum) -> Result<Vec<u8>> {
        let p = self.object_path(csum, ty);
        let f = match uptree_sys::fs::open_regular(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return match &self.parent {
                    Some(parent) => parent.read_metadata(ty, csum),
                    None => Err(Error::MissingObject(*csum, ty)),
                }
            }
            Err(e) => return Err(Error::io(&p, e)),
        };
        let mut buf = Vec::new();
        f.take(MAX_METADATA_SIZE + 1).read_to_end(&mut buf).at(&p)?;
        if buf.len() as u64 > MAX_METADATA_SIZE {
            return Err(Error::Corrupt(format!("{csum}.{ty} is larger than {MAX_METADATA_SIZE} bytes")));
        }
        Ok(buf)
    }

    /// Bytes of a metadata object, checked against its name: bit rot in a
    /// commit or tree is an error, never a silently different tree.
    pub fn read_metadata_verified(&self, ty: ObjectType, csum: &Checksum) -> Result<Vec<u8>> {
        let data = self.read_metadata(ty, csum)?;
        let actual = Checksum::of(&data);
        if actual != *csum {
            return Err(Error::ChecksumMismatch { checksum: *csum, kind: ty, actual });
        }
        Ok(data)
    }

    pub fn load_commit(&self, csum: &Checksum) -> Result<Commit> {
        Commit::from_bytes(&self.read_metadata_verified(ObjectType::Commit, csum)?).map_err(|e| e.context(format!("commit {csum}")))
    }

    pub fn load_dirtree(&self, csum: &Checksum) -> Result<DirTree> {
        DirTree::from_bytes(&self.read_metadata_verified(ObjectType::DirTree, csum)?).map_err(|e| e.context(format!("dirtree {csum}")))
    }

    pub fn load_dirmeta(&self, csum: &Checksum) -> Result<DirMeta> {
        DirMeta::from_bytes(&self.read_metadata_verified(ObjectType::DirMeta, csum)?).map_err(|e| e.context(format!("dirmeta {csum}")))
    }

    /// True if `state/<commit>.commitpartial` exists.
    pub fn is_partial(&self, commit: &Checksum) -> bool {
        self.path.join(format!("state/{commit}.commitpartial")).exists()
    }

    /// Mark a commit partial (durably, before its objects arrive).
    pub fn mark_partial(&self, commit: &Checksum) -> Result<()> {
        self.write_partial_marker(commit, b"")
    }

    /// Mark a commit partial because fsck found it damaged: the marker says
    /// "f", as ostree's (OSTREE_REPO_COMMIT_STATE_FSCK_PARTIAL), so fsck
    /// keeps failing until a pull repairs it.
    pub fn mark_fsck_partial(&self, commit: &Checksum) -> Result<()> {
        self.write_partial_marker(commit, b"f")
    }

    /// True if [`Repo::mark_fsck_partial`] (or ostree's fsck) marked it.
    pub fn is_fsck_partial(&self, commit: &Checksum) -> bool {
        fs::read(self.path.join(format!("state/{commit}.commitpartial"))).is_ok_and(|b| b.first() == Some(&b'f'))
    }

    fn write_partial_marker(&self, commit: &Checksum, content: &[u8]) -> Result<()> {
        let state = self.path.join("state");
        fs::create_dir_all(&state).at(&state)?;
        fsutil::atomic_write(&state.join(format!("{commit}.commitpartial")), content, 0o644, self.fsync)
    }

    /// Clear the partial mark once every object of the commit is durable.
    pub fn clear_partial(&self, commit: &Checksum) -> Result<()> {
        let p = self.path.join(format!("state/{commit}.commitpartial"));
        match fs::remove_file(&p) {
            Ok(()) => {
                if self.fsync {
                    fsutil::fsync_dir(&self.path.join("state"))?;
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Fail if the filesystem is already below min-free-space: a pull or
    /// commit does not start then.
    pub fn check_free_space(&self) -> Result<()> {
        if self.space_budget()? == 0 {
            return Err(Error::Invalid(self.min_free.describe(0)));
        }
        Ok(())
    }

    /// Metadata and size of a content object without reading its data.
    pub fn load_file_info(&self, csum: &Checksum) -> Result<(FileMeta, u64)> {
        self.load_file_inner(csum, false).map(|(m, n, _)| (m, n))
    }

    /// Metadata and data of a content object.
    pub fn load_file(&self, csum: &Checksum) -> Result<(FileMeta, Content)> {
        let (m, _, c) = self.load_file_inner(csum, true)?;
        Ok((m, c.unwrap_or(Content::Symlink)))
    }

    fn load_file_inner(&self, csum: &Checksum, want_data: bool) -> Result<(FileMeta, u64, Option<Content>)> {
        let p = self.object_path(csum, ObjectType::File);
        if let Some(parent) = &self.parent {
            if fs::symlink_metadata(&p).is_err() {
                return parent.load_file_inner(csum, want_data);
            }
        }
        self.load_file_at(&p, csum, want_data)
    }

    /// Read content object `csum` stored (in this repository's mode) at `p`.
    fn load_file_at(&self, p: &Path, csum: &Checksum, want_data: bool) -> Result<(FileMeta, u64, Option<Content>)> {
        let p = p.to_path_buf();
        let missing = |e: io::Error| if e.kind() == io::ErrorKind::NotFound { Error::MissingObject(*csum, ObjectType::File) } else { Error::io(&p, e) };
        let ctx = |e: Error| e.context(format!("content object {csum}"));
        match self.mode {
            RepoMode::Archive => {
                let f = uptree_sys::fs::open_regular(&p).map_err(missing)?;
                let mut r = BufReader::with_capacity(64 * 1024, f);
                let (meta, size) = read_filez_header(&mut r).map_err(ctx)?;
                if meta.is_symlink() {
                    return Ok((meta, 0, Some(Content::Symlink)));
                }
                let content = want_data.then(|| Content::Regular(Box::new(ExactInflate::new(r, size, *csum)), size));
                Ok((meta, size, content))
            }
            RepoMode::BareUser => {
                let f = uptree_sys::fs::open_regular(&p).map_err(missing)?;
                let raw = xattr::get(xattr::Target::Fd(f.as_fd()), b"user.ostreemeta")
                    .at(&p)?
                    .ok_or_else(|| ctx(Error::Corrupt("bare-user object without user.ostreemeta".into())))?;
                let mut meta = FileMeta::from_bareuser_bytes(&raw).map_err(ctx)?;
                let size = f.metadata().at(&p)?.len();
                if meta.mode & S_IFMT == S_IFLNK {
                    let mut target = Vec::new();
                    (&f).take(4097).read_to_end(&mut target).at(&p)?;
                    match target.split_last() {
                        Some((0, t)) => {
                            meta.symlink_target = String::from_utf8(t.to_vec()).map_err(|_| ctx(Error::Corrupt("symlink target is not UTF-8".into())))?
                        }
                        _ => return Err(ctx(Error::Corrupt("bare-user symlink object is not NUL-terminated".into()))),
                    }
                    meta.validate().map_err(ctx)?;
                    return Ok((meta, 0, Some(Content::Symlink)));
                }
                meta.validate().map_err(ctx)?;
                Ok((meta, size, want_data.then(|| Content::Regular(Box::new(f), size))))
            }
            RepoMode::Bare | RepoMode::BareUserOnly => {
                let st = fs::symlink_metadata(&p).map_err(missing)?;
                let xattrs = if self.mode == RepoMode::Bare && !self.disable_xattrs { read_xattrs(xattr::Target::Path(&p)).at(&p)? } else { Vec::new() };
                let (uid, gid) = if self.mode == RepoMode::Bare { (st.uid(), st.gid()) } else { (0, 0) };
                if st.file_type().is_symlink() {
                    let t = fs::read_link(&p).at(&p)?;
                    let target = t.to_str().ok_or_else(|| ctx(Error::Corrupt("symlink target is not UTF-8".into())))?.to_string();
                    return Ok((FileMeta { uid, gid, mode: S_IFLNK | 0o777, symlink_target: target, xattrs }, 0, Some(Content::Symlink)));
                }
                let meta = FileMeta { uid, gid, mode: st.mode(), symlink_target: String::new(), xattrs };
                meta.validate().map_err(ctx)?;
                let content = if want_data { Some(Content::Regular(Box::new(uptree_sys::fs::open_regular(&p).at(&p)?), st.len())) } else { None };
                Ok((meta, st.len(), content))
            }
        }
    }

    // ---- refs ----

    /// All refs: local ones by name, remote ones as `remote:name`, sorted.
    pub fn list_refs(&self) -> Result<BTreeMap<String, Checksum>> {
        let mut out = BTreeMap::new();
        self.collect_refs(&self.path.join("refs/heads"), "", None, &mut out)?;
        let remotes = self.path.join("refs/remotes");
        if let Ok(rd) = fs::read_dir(&remotes) {
            for e in rd {
                let e = e.at(&remotes)?;
                if e.file_type().at(&e.path())?.is_dir() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    self.collect_refs(&e.path(), "", Some(&name), &mut out)?;
                }
            }
        }
        Ok(out)
    }

    /// ostree lists refs by opening `refs/heads` and `refs/remotes`, so
    /// `refs` fails on a repository missing either (ostree's words);
    /// uptree's own listing tolerates it.
    pub fn check_refs_layout(&self) -> Result<()> {
        for d in ["refs/heads", "refs/remotes"] {
            let p = self.path.join(d);
            match fs::metadata(&p) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::Invalid(format!("Listing refs: opendir({d}): No such file or directory")));
                }
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        Ok(())
    }

    fn collect_refs(&self, dir: &Path, prefix: &str, remote: Option<&str>, out: &mut BTreeMap<String, Checksum>) -> Result<()> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        for e in rd {
            let e = e.at(dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // temporary files of an atomic write
            }
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let ft = e.file_type().at(&e.path())?;
            if ft.is_dir() {
                self.collect_refs(&e.path(), &rel, remote, out)?;
            } else if ft.is_symlink() {
                // An alias (`refs --alias`): local refs only, never followed out of refs/heads.
                if remote.is_none() {
                    let target = self.alias_target(&rel)?;
                    if let Some(c) = self.read_ref(&RefName::parse(&target)?)? {
                        out.insert(rel, c);
                    }
                }
            } else {
                let text = fs::read_to_string(e.path()).at(&e.path())?;
                let csum = text.trim().parse::<Checksum>().map_err(|err| err.context(format!("ref {rel}")))?;
                let key = match remote {
                    Some(r) => format!("{r}:{rel}"),
                    None => rel,
                };
                out.insert(key, csum);
            }
        }
        Ok(())
    }

    /// Read one ref; `None` if it does not exist.
    pub fn read_ref(&self, r: &RefName) -> Result<Option<Checksum>> {
        let p = self.path.join(r.rel_path());
        if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            if r.remote.is_some() {
                return Err(Error::Corrupt(format!("ref {r} is a symlink (only local refs may be aliases)")));
            }
            let target = RefName::parse(&self.alias_target(&r.name)?)?;
            if fs::symlink_metadata(self.path.join(target.rel_path())).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Corrupt(format!("alias {r} points at another alias, {target}")));
            }
            return self.read_ref(&target);
        }
        match fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t.trim().parse::<Checksum>().map_err(|e| e.context(format!("ref {r}")))?)),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory) => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Resolve a revision: a 64-hex checksum, `[remote:]ref`, each optionally
    /// followed by `^` (parent) any number of times.
    pub fn resolve_rev(&self, rev: &str) -> Result<Checksum> {
        if let Some(base) = rev.strip_suffix('^') {
            let c = self.resolve_rev(base)?;
            return self.load_commit(&c)?.parent.ok_or_else(|| Error::Invalid(format!("commit {c} has no parent")));
        }
        if Checksum::is_valid_hex(rev) {
            return rev.parse();
        }
        // As ostree: a hex prefix names the one commit object it starts, before any ref.
        if !rev.is_empty() && rev.len() < 64 && rev.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            let found: Vec<Checksum> =
                self.list_objects(Some(ObjectType::Commit))?.into_iter().map(|(c, _)| c).filter(|c| c.to_string().starts_with(rev)).collect();
            match found[..] {
                [c] => return Ok(c),
                [] => {}
                _ => return Err(Error::Invalid(format!("Refspec {rev} not unique"))),
            }
        }
        let r = RefName::parse(rev)?;
        if let Some(c) = self.read_ref(&r)? {
            return Ok(c);
        }
        // ostree falls back to refs/remotes/<rev>: "origin/main" names origin:main.
        if let (None, Some((remote, name))) = (&r.remote, r.name.split_once('/')) {
            if let Some(c) = self.read_ref(&RefName { remote: Some(remote.to_string()), name: name.to_string() })? {
                return Ok(c);
            }
        }
        // Like ostree: an unqualified name may also be a remote ref if unique.
        if r.remote.is_none() {
            let matches: Vec<Checksum> =
                self.list_refs()?.into_iter().filter(|(k, _)| k.split_once(':').is_some_and(|(_, n)| n == r.name)).map(|(_, c)| c).collect();
            if let [c] = matches[..] {
                return Ok(c);
            }
        }
        Err(Error::RefNotFound(rev.to_string()))
    }

    /// Point `r` at `target` (or delete it with `None`), atomically.
    pub fn set_ref(&self, r: &RefName, target: Option<&Checksum>) -> Result<()> {
        self.write_ref(r, target)?;
        crate::summary::refs_changed(self, false)
    }

    /// The ref an alias in refs/heads names: its symlink resolved inside
    /// refs/heads (ostree writes `../../x/y`), never outside it.
    fn alias_target(&self, alias: &str) -> Result<String> {
        let p = self.path.join("refs/heads").join(alias);
        let link = fs::read_link(&p).at(&p)?;
        let bad = || Error::Corrupt(format!("alias {alias}: symlink {} leaves refs/heads", link.display()));
        let mut parts: Vec<String> = alias.split('/').map(str::to_string).collect();
        parts.pop();
        for c in link.components() {
            match c {
                std::path::Component::ParentDir => {
                    parts.pop().ok_or_else(bad)?;
                }
                std::path::Component::Normal(n) => parts.push(n.to_str().ok_or_else(bad)?.to_string()),
                std::path::Component::CurDir => {}
                _ => return Err(bad()),
            }
        }
        let target = parts.join("/");
        crate::object::validate_ref_name(&target)?;
        Ok(target)
    }

    /// Local aliases (`refs --alias`): alias name -> the ref it names.
    pub fn list_aliases(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let dir = self.path.join("refs/heads").join(&prefix);
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&dir, e)),
            };
            for e in rd {
                let e = e.at(&dir)?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
                let ft = e.file_type().at(&e.path())?;
                if ft.is_dir() {
                    stack.push(rel);
                } else if ft.is_symlink() {
                    let target = self.alias_target(&rel)?;
                    out.insert(rel, target);
                }
            }
        }
        Ok(out)
    }

    /// Make `alias` a symlink to the local ref `target`, replacing an older alias.
    pub fn set_alias_ref(&self, alias: &RefName, target: &RefName) -> Result<()> {
        if alias.remote.is_some() || target.remote.is_some() {
            return Err(Error::Invalid(format!("Cannot create alias to remote ref: {}", if alias.remote.is_some() { alias } else { target })));
        }
        if self.read_ref(target)?.is_none() {
            return Err(Error::Invalid(format!("Cannot create alias to non-existent ref: {target}")));
        }
        let p = self.path.join(alias.rel_path());
        let dir = p.parent().unwrap_or(&self.path).to_path_buf();
        fsutil::create_dir_all_durable(&dir, self.fsync)?;
        let up = "../".repeat(alias.name.matches('/').count());
        let tmp = dir.join(fsutil::tmp_name("alias"));
        std::os::unix::fs::symlink(format!("{up}{}", target.name), &tmp).at(&tmp)?;
        if let Err(e) = fs::rename(&tmp, &p) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&p, e));
        }
        if self.fsync {
            fsutil::fsync_dir(&dir)?;
        }
        crate::summary::refs_changed(self, false)
    }

    /// Every ref that has a collection ID, as (collection ID, ref): local
    /// refs under the repository's `core.collection-id`, mirrored refs
    /// (refs/mirrors/ID/…), and remote refs of remotes with a `collection-id`.
    pub fn list_collection_refs(&self) -> Result<BTreeMap<(String, String), Checksum>> {
        let mut out = BTreeMap::new();
        let own = self.config.get("core", "collection-id");
        let remote_ids: BTreeMap<String, String> =
            crate::remote::list(self)?.into_iter().filter_map(|r| r.get("collection-id").map(|c| (r.name.clone(), c.to_string()))).collect();
        for (name, c) in self.list_refs()? {
            match name.split_once(':') {
                Some((remote, r)) => {
                    if let Some(cid) = remote_ids.get(remote) {
                        out.insert((cid.clone(), r.to_string()), c);
                    }
                }
                None => {
                    if let Some(cid) = &own {
                        out.insert((cid.clone(), name), c);
                    }
                }
            }
        }
        out.extend(self.list_mirror_refs()?);
        Ok(out)
    }

    /// Mirrored refs of other collections (refs/mirrors/COLLECTION/REF).
    pub fn list_mirror_refs(&self) -> Result<BTreeMap<(String, String), Checksum>> {
        let mut out = BTreeMap::new();
        let mirrors = self.path.join("refs/mirrors");
        if let Ok(rd) = fs::read_dir(&mirrors) {
            for e in rd {
                let e = e.at(&mirrors)?;
                let cid = e.file_name().to_string_lossy().into_owned();
                if e.file_type().at(&e.path())?.is_dir() && crate::object::validate_collection_id(&cid).is_ok() {
                    let mut refs = BTreeMap::new();
                    self.collect_refs(&e.path(), "", Some("mirror"), &mut refs)?;
                    for (k, c) in refs {
                        let r = k.strip_prefix("mirror:").unwrap_or(&k).to_string();
                        out.insert((cid.clone(), r), c);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Point the ref (COLLECTION, NAME) at `target` (or delete it): under
    /// refs/heads for the repository's own collection ID, else under
    /// refs/mirrors/COLLECTION, as ostree does.
    pub fn set_collection_ref(&self, collection_id: &str, name: &str, target: Option<&Checksum>) -> Result<()> {
        crate::object::validate_collection_id(collection_id)?;
        if self.config.get("core", "collection-id").as_deref() == Some(collection_id) {
            return self.set_ref(&RefName::parse(name)?, target);
        }
        crate::object::validate_ref_name(name)?;
        let stop = self.path.join("refs/mirrors").join(collection_id);
        let p = stop.join(name);
        match target {
            Some(c) => {
                fsutil::create_dir_all_durable(p.parent().unwrap_or(&stop), self.fsync)?;
                fsutil::atomic_write(&p, format!("{c}\n").as_bytes(), 0o644, self.fsync)?;
            }
            None => {
                let shown = format!("({collection_id}, {name})");
                self.remove_ref_file(&shown, &p, &self.path.join("refs/mirrors"))?;
            }
        }
        crate::summary::refs_changed(self, false)
    }

    /// [`Repo::set_ref`] for `commit`, which also honours core.commit-update-summary.
    pub fn set_ref_by_commit(&self, r: &RefName, target: &Checksum) -> Result<()> {
        self.write_ref(r, Some(target))?;
        crate::summary::refs_changed(self, true)
    }

    fn write_ref(&self, r: &RefName, target: Option<&Checksum>) -> Result<()> {
        let p = self.path.join(r.rel_path());
        match target {
            Some(c) => {
                let dir = p.parent().unwrap_or(&self.path);
                fsutil::create_dir_all_durable(dir, self.fsync)?;
                fsutil::atomic_write(&p, format!("{c}\n").as_bytes(), 0o644, self.fsync)
            }
            None if r.remote.is_none() && !fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) => {
                if let Some((alias, _)) = self.list_aliases()?.into_iter().find(|(_, t)| *t == r.name) {
                    return Err(Error::Conflict(format!("Ref '{r}' has an active alias: '{alias}'")));
                }
                self.remove_ref_file(r, &p, &self.path.join("refs/heads"))
            }
            None => {
                let stop = self.path.join(if r.remote.is_some() { "refs/remotes" } else { "refs/heads" });
                self.remove_ref_file(r, &p, &stop)
            }
        }
    }

    /// Remove a ref file and the directories it leaves empty below `stop`.
    fn remove_ref_file(&self, r: &impl std::fmt::Display, p: &Path, stop: &Path) -> Result<()> {
        match fs::remove_file(p) {
            Ok(()) => {
                if self.fsync {
                    fsutil::fsync_dir(p.parent().unwrap_or(&self.path))?;
                }
                // Remove now-empty parent directories below `stop`.
                let mut d = p.parent().map(Path::to_path_buf);
                let mut removed_any = false;
                while let Some(dir) = d {
                    if dir == stop || !dir.starts_with(stop) || fs::remove_dir(&dir).is_err() {
                        // The last directory that changed: the one an entry left.
                        if removed_any && self.fsync {
                            fsutil::fsync_dir(&dir)?;
                        }
                        break;
                    }
                    removed_any = true;
                    d = dir.parent().map(Path::to_path_buf);
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::RefNotFound(r.to_string())),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// All loose objects of a type (or all types), by walking `objects/`.
    pub fn list_objects(&self, filter: Option<ObjectType>) -> Result<Vec<(Checksum, ObjectType)>> {
        let objdir = self.path.join("objects");
        let mut out = Vec::new();
        let rd = match fs::read_dir(&objdir) {
            Ok(rd) => rd,
            Err(e) => return Err(Error::io(&objdir, e)),
        };
        for e in rd {
            let e = e.at(&objdir)?;
            let prefix = e.file_name();
            let Some(prefix) = prefix.to_str().filter(|p| p.len() == 2) else { continue };
            let sub = e.path();
            for f in fs::read_dir(&sub).at(&sub)? {
                let f = f.at(&sub)?;
                let name = f.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some((rest, ext)) = name.split_once('.') else { continue };
                let Some(ty) = ObjectType::from_extension(ext) else { continue };
                if filter.is_some_and(|t| t != ty) {
                    continue;
                }
                if let Ok(c) = format!("{prefix}{rest}").parse::<Checksum>() {
                    out.push((c, ty));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Delete one loose object (prune). Caller holds the exclusive lock.
    pub fn delete_object(&self, csum: &Checksum, ty: ObjectType) -> Result<u64> {
        let p = self.object_path(csum, ty);
        let size = fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&p) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Start a write transaction (shared repo lock + a staging directory).
    pub fn begin(&self) -> Result<Transaction<'_>> {
        Transaction::new(self)
    }

    /// Bytes to keep free on the repo's filesystem, and the free bytes now.
    fn space_budget(&self) -> Result<u64> {
        let st = nix::sys::statvfs::statvfs(&self.path).at(&self.path)?;
        let frsize = st.fragment_size() as u64;
        let reserved = match self.min_free {
            MinFreeSpace::Megabytes(mb) => mb.saturating_mul(1 << 20),
            MinFreeSpace::Percent(p) => ((frsize as f64) * (st.blocks() as f64) * (f64::from(p) / 100.0)) as u64,
        };
        let free_blocks = if nix::unistd::geteuid().is_root() { st.blocks_free() } else { st.blocks_available() } as u64;
        Ok((free_blocks.saturating_mul(frsize)).saturating_sub(reserved))
    }
}

/// Read the extended attributes of a path (not followed) or fd, sorted.
/// Attributes whose value is empty are left out, as ostree (libglnx's
/// `glnx_fd_get_all_xattrs`) leaves them out: recording them would give a
/// tree a different checksum than ostree gives it.
pub fn read_xattrs(target: xattr::Target<'_>) -> io::Result<crate::object::Xattrs> {
    let mut out = Vec::new();
    for name in xattr::list(target)? {
        if let Some(v) = xattr::get(target, &name)? {
            if !v.is_empty() {
                out.push((name, v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Parse the header of a `.filez` stream, leaving the reader at the body.
pub fn read_filez_header<R: Read>(r: &mut R) -> Result<(FileMeta, u64)> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(|_| Error::Corrupt("truncated content object header".into()))?;
    let len = u32::from_be_bytes([pre[0], pre[1], pre[2], pre[3]]) as usize;
    if len > crate::object::MAX_CONTENT_HEADER {
        return Err(Error::Corrupt(format!("content header of {len} bytes is too large")));
    }
    let mut buf = Vec::with_capacity(8 + len);
    buf.extend_from_slice(&pre);
    buf.resize(8 + len, 0);
    r.read_exact(&mut buf[8..]).map_err(|_| Error::Corrupt("truncated content object header".into()))?;
    let (meta, size, _) = FileMeta::parse_filez_header(&buf)?;
    if meta.is_symlink() && size != 0 {
        return Err(Error::Corrupt("symlink object with a non-zero size".into()));
    }
    Ok((meta, size))
}

/// Raw-inflates an archive body and insists on exactly `size` bytes: a body
/// that is short, longer, or trailed by garbage is an error, never a panic or
/// an unbounded allocation.
pub struct ExactInflate<R: Read> {
    // bufread, over a buffer we own: the bytes after the deflate stream
    // stay visible in it (flate2::read's internal buffer hid them).
    inner: flate2::bufread::DeflateDecoder<BufReader<R>>,
    remaining: u64,
    checksum: Checksum,
    finished: bool,
}

impl<R: Read> std::fmt::Debug for ExactInflate<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactInflate").field("remaining", &self.remaining).field("checksum", &self.checksum).finish()
    }
}

impl<R: Read> ExactInflate<R> {
    pub fn new(r: R, size: u64, checksum: Checksum) -> Self {
        ExactInflate { inner: flate2::bufread::DeflateDecoder::new(BufReader::with_capacity(32 * 1024, r)), remaining: size, checksum, finished: false }
    }

    fn err(&self, what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("content object {}: {what}", self.checksum))
    }
}

impl<R: Read> Read for ExactInflate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            if !self.finished {
                self.finished = true;
                let mut probe = [0u8; 1];
                let extra = self.inner.read(&mut probe).map_err(|e| self.err(&format!("invalid compressed data: {e}")))?;
                if extra != 0 {
                    return Err(self.err("inflates to more than its declared size"));
                }
                // Anything after the deflate stream is garbage too.
                if !self.inner.get_mut().fill_buf()?.is_empty() {
                    return Err(self.err("trailing data after the compressed body"));
                }
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want]).map_err(|e| self.err(&format!("invalid compressed data: {e}")))?;
        if n == 0 {
            return Err(self.err(&format!("truncated: {} bytes missing", self.remaining)));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A write transaction. Objects become visible in `objects/` only at
/// [`Transaction::commit`]. Dropping without committing keeps the staging
/// directory so a later transaction in the same boot resumes it.
pub struct Transaction<'r> {
    repo: &'r Repo,
    staging: PathBuf,
    staging_lock_path: PathBuf,
    _staging_lock: OfdLock,
    _repo_lock: OfdLock,
    resumed: bool,
    /// 8-byte keys of objects staged by this transaction: a hint, checked
    /// against the file system on a hit, so it can stay small (a full
    /// checksum per object doubled peak memory on 100k-file commits).
    written: Mutex<HashSet<u64>>,
    made_dirs: [AtomicU64; 4],
    /// Bytes that may still be written before min-free-space is reached.
    budget: AtomicU64,
    /// Refuse regular files with modes outside 0775 (`--bareuseronly-files`).
    bareuseronly_files: bool,
    pub stats: TxnStats,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("staging", &self.staging).field("resumed", &self.resumed).finish()
    }
}

/// Counters of a transaction.
#[derive(Debug, Default)]
pub struct TxnStats {
    /// Metadata objects stored or found already there (`commit --table-output`).
    pub metadata_total: AtomicU64,
    pub metadata_written: AtomicU64,
    /// Files committed, new or not.
    pub content_total: AtomicU64,
    pub content_written: AtomicU64,
    pub content_bytes_written: AtomicU64,
    pub devino_hits: AtomicU64,
}

/// Where the data of a content object comes from.
pub enum ContentSource<'a> {
    /// All bytes in memory.
    Bytes(&'a [u8]),
    /// An open regular file of `size` bytes, positioned at 0 (read twice if
    /// the object is new: once to hash, once to store).
    File(&'a mut File, u64),
}

impl std::fmt::Debug for ContentSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentSource::Bytes(b) => write!(f, "Bytes({})", b.len()),
            ContentSource::File(_, n) => write!(f, "File({n})"),
        }
    }
}

const STREAM_CHUNK: usize = 256 * 1024;
const IN_MEMORY_MAX: u64 = 1024 * 1024;

impl<'r> Transaction<'r> {
    fn new(repo: &'r Repo) -> Result<Transaction<'r>> {
        let repo_lock = repo.lock(LockKind::Shared)?;
        let tmp = repo.path.join("tmp");
        fs::create_dir_all(&tmp).at(&tmp)?;
        let prefix = format!("staging-{}-", fsutil::boot_id());
        // Resume a staging dir of this boot that nobody holds.
        let mut found = None;
        for e in fs::read_dir(&tmp).at(&tmp)? {
            let e = e.at(&tmp)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || name.ends_with("-lock") || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let lock_path = tmp.join(format!("{name}-lock"));
            if let Ok(l) = OfdLock::acquire(&lock_path, LockKind::Exclusive, Some(Duration::ZERO)) {
                if e.path().is_dir() {
                    found = Some((e.path(), lock_path, l));
                    break;
                }
            }
        }
        let resumed = found.is_some();
        let (staging, staging_lock_path, staging_lock) = match found {
            Some(f) => f,
            None => loop {
                let name = format!("{prefix}{}", fsutil::random_token(6));
                let dir = tmp.join(&name);
                match fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(Error::io(&dir, e)),
                }
                let lock_path = tmp.join(format!("{name}-lock"));
                match OfdLock::acquire(&lock_path, LockKind::Exclusive, Some(Duration::ZERO)) {
                    Ok(l) => break (dir, lock_path, l),
                    Err(_) => continue, // raced with another process resuming it
                }
            },
        };
        if resumed {
            log::debug!("resuming staging directory {}", staging.display());
            // Drop half-written temporaries of the interrupted transaction,
            // and anything but directories at the top (only `xx/` fan-out
            // directories belong there; a file named `xx` would make every
            // later write to it fail, and the staging dir be resumed forever).
            for e in fs::read_dir(&staging).at(&staging)? {
                let e = e.at(&staging)?;
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = fs::remove_file(e.path());
                } else {
                    for t in fs::read_dir(e.path()).at(&e.path())?.flatten() {
                        if t.file_name().as_bytes().starts_with(b".tmp-") {
                            let _ = fs::remove_file(t.path());
                        }
                    }
                }
            }
        }
        let budget = repo.space_budget()?;
        Ok(Transaction {
            repo,
            staging,
            staging_lock_path,
            _staging_lock: staging_lock,
            _repo_lock: repo_lock,
            resumed,
            written: Mutex::new(HashSet::new()),
            made_dirs: Default::default(),
            budget: AtomicU64::new(budget),
            bareuseronly_files: false,
            stats: TxnStats::default(),
        })
    }

    /// From now on refuse content whose regular files have mode bits
    /// outside 0775 (setuid, world-writable…), as ostree's
    /// `--bareuseronly-files` does: what a bare-user-only repository could
    /// hold, checked before anything is stored.
    pub fn set_bareuseronly_files(&mut self, on: bool) {
        self.bareuseronly_files = on;
    }

    /// The `--bareuseronly-files` check for one object about to be stored
    /// (always on in a bare-user-only repository);
    /// callers that store `.filez` bytes as they are call it with the
    /// header they parsed.
    pub fn check_content_mode(&self, csum: &Checksum, meta: &FileMeta) -> Result<()> {
        let bits = meta.mode & !S_IFMT & !0o775;
        // A bare-user-only repository cannot hold such a file at all (ostree
        // refuses it there with the same words).
        if (self.bareuseronly_files || self.repo.mode == RepoMode::BareUserOnly) && meta.is_regular() && bits != 0 {
            return Err(Error::UnsafeMode { checksum: *csum, mode: meta.mode, bits });
        }
        Ok(())
    }

    pub fn repo(&self) -> &'r Repo {
        self.repo
    }

    /// True if this transaction resumed an interrupted one's staging dir.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    fn staged_rel(&self, csum: &Checksum, ty: ObjectType) -> PathBuf {
        let rel = object_rel(csum, ty, self.repo.mode);
        self.staging.join(&rel["objects/".len()..])
    }

    fn written_key(csum: &Checksum, ty: ObjectType) -> u64 {
        let mut k = [0u8; 8];
        k.copy_from_slice(&csum.0[..8]);
        u64::from_le_bytes(k) ^ (ty as u64)
    }

    fn staged(&self, csum: &Checksum, ty: ObjectType) -> bool {
        fs::symlink_metadata(self.staged_rel(csum, ty)).is_ok()
    }

    /// Present in the repo, staged, or written earlier in this transaction.
    pub fn has_object(&self, csum: &Checksum, ty: ObjectType) -> bool {
        let hinted = self.written.lock().is_ok_and(|w| w.contains(&Self::written_key(csum, ty)));
        if hinted && self.staged(csum, ty) {
            return true;
        }
        if self.repo.has_object(csum, ty) {
            return true;
        }
        self.resumed && !hinted && self.staged(csum, ty)
    }

    /// Whether to write an object: not if it is already present. Two
    /// workers racing on identical content may both write it; the second
    /// rename replaces the first with the same bytes, which is harmless.
    fn claim(&self, csum: &Checksum, ty: ObjectType) -> bool {
        if self.has_object(csum, ty) {
            return false;
        }
        if let Ok(mut w) = self.written.lock() {
            w.insert(Self::written_key(csum, ty));
        }
        true
    }

    fn unclaim(&self, csum: &Checksum, ty: ObjectType) {
        if let Ok(mut w) = self.written.lock() {
            w.remove(&Self::written_key(csum, ty));
        }
    }

    fn ensure_staging_subdir(&self, csum: &Checksum) -> Result<()> {
        let b = usize::from(csum.0[0]);
        let (word, bit) = (b / 64, 1u64 << (b % 64));
        if self.made_dirs[word].load(Ordering::Relaxed) & bit != 0 {
            return Ok(());
        }
        let dir = self.staging.join(&csum.to_hex()[..2]);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
        self.made_dirs[word].fetch_or(bit, Ordering::Relaxed);
        Ok(())
    }

    /// A temp file beside where `csum` will be staged: the fan-out
    /// directories stay small and the final rename stays in one directory.
    fn tmp_file(&self, csum: &Checksum) -> Result<(File, PathBuf)> {
        self.ensure_staging_subdir(csum)?;
        let p = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("obj"));
        let f = OpenOptions::new().write(true).create_new(true).mode(0o644).custom_flags(libc_o_cloexec()).open(&p).at(&p)?;
        Ok((f, p))
    }

    fn publish(&self, tmp: &Path, csum: &Checksum, ty: ObjectType) -> Result<()> {
        self.ensure_staging_subdir(csum)?;
        let dest = self.staged_rel(csum, ty);
        fs::rename(tmp, &dest).at(&dest)
    }

    fn reserve(&self, bytes: u64) -> Result<()> {
        // `bytes` comes from an object's header: a size near 2^64 is a
        // hostile object, not an arithmetic overflow.
        let blocks = bytes.div_ceil(4096).max(1).checked_mul(4096).ok_or_else(|| Error::Corrupt(format!("declared size of {bytes} bytes is impossible")))?;
        let mut cur = self.budget.load(Ordering::Relaxed);
        loop {
            if cur < blocks {
                return Err(Error::Invalid(self.repo.min_free.describe(bytes)));
            }
            match self.budget.compare_exchange_weak(cur, cur - blocks, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(v) => cur = v,
            }
        }
    }

    /// Store a metadata object; returns its checksum.
    pub fn write_metadata(&self, ty: ObjectType, data: &[u8]) -> Result<Checksum> {
        let csum = Checksum::of(data);
        self.write_metadata_trusted(ty, &csum, data)?;
        Ok(csum)
    }

    /// Store content object `csum` as a hardlink to `src`, the same object
    /// in a repository of this mode on this filesystem (ostree's local
    /// pulls link them). With `verify` (an untrusted source) the linked
    /// file is re-hashed, and linked only if nobody but us can change it
    /// afterwards: a regular file owned by our user and not group or world
    /// writable, or a symlink. False if it cannot be linked: copy it instead.
    pub fn link_content(&self, csum: &Checksum, src: &Path, verify: bool) -> Result<bool> {
        if !self.repo.mode.is_bare() {
            return Ok(false);
        }
        if !self.claim(csum, ObjectType::File) {
            return Ok(true);
        }
        self.ensure_staging_subdir(csum)?;
        let tmp = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("link"));
        let r = (|| -> Result<bool> {
            if fs::hard_link(src, &tmp).is_err() {
                return Ok(false);
            }
            if verify {
                let st = fs::symlink_metadata(&tmp).at(&tmp)?;
                let private =
                    st.file_type().is_symlink() || (st.file_type().is_file() && st.uid() == nix::unistd::geteuid().as_raw() && st.mode() & 0o022 == 0);
                if !private {
                    return Ok(false);
                }
                let (meta, _, content) = self.repo.load_file_at(&tmp, csum, true)?;
                let mut h = crate::object::ContentHasher::new(&meta);
                if let Some(Content::Regular(mut r, _)) = content {
                    let mut chunk = vec![0u8; STREAM_CHUNK];
                    loop {
                        let n = r.read(&mut chunk).at(&tmp)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&chunk[..n]);
                    }
                }
                let actual = h.finish();
                if actual != *csum {
                    return Err(Error::ChecksumMismatch { checksum: *csum, kind: ObjectType::File, actual });
                }
            }
            self.publish(&tmp, csum, ObjectType::File)?;
            Ok(true)
        })();
        if !matches!(r, Ok(true)) {
            let _ = fs::remove_file(&tmp);
            self.unclaim(csum, ObjectType::File);
        }
        r
    }

    /// Store metadata object `csum` as a hardlink to `src`, the same object
    /// in a trusted repository on this filesystem (metadata is stored alike
    /// in every mode). False if it cannot be linked: write it instead.
    pub fn link_metadata(&self, ty: ObjectType, csum: &Checksum, src: &Path) -> Result<bool> {
        if !self.claim(csum, ty) {
            return Ok(true);
        }
        self.ensure_staging_subdir(csum)?;
        let tmp = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("link"));
        let linked = fs::hard_link(src, &tmp).is_ok() && fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_file());
        if !linked {
            let _ = fs::remove_file(&tmp);
            self.unclaim(csum, ty);
            return Ok(false);
        }
        self.publish(&tmp, csum, ty).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
            self.unclaim(csum, ty);
        })?;
        self.stats.metadata_written.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Store a metadata object whose checksum the caller has computed.
    pub fn write_metadata_trusted(&self, ty: ObjectType, csum: &Checksum, data: &[u8]) -> Result<()> {
        self.stats.metadata_total.fetch_add(1, Ordering::Relaxed);
        if !self.claim(csum, ty) {
            return Ok(());
        }
        let r = (|| {
            let (mut f, tmp) = self.tmp_file(csum)?;
            f.write_all(data).at(&tmp)?;
            drop(f);
            self.publish(&tmp, csum, ty)
        })();
        match r {
            Ok(()) => {
                self.stats.metadata_written.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.unclaim(csum, ty);
                Err(e)
            }
        }
    }

    /// Hash and (if new) store a content object. `buf` is scratch space the
    /// caller reuses across calls.
    pub fn write_content(&self, meta: &FileMeta, src: ContentSource<'_>, buf: &mut Vec<u8>) -> Result<Checksum> {
        meta.validate()?;
        if self.repo.mode == RepoMode::BareUserOnly && meta.mode & !(S_IFMT | 0o775) != 0 && meta.is_regular() {
            return Err(Error::Invalid(format!("invalid mode {:o} for a bare-user-only repository (bits outside 0775)", meta.mode)));
        }
        let csum = match &src {
            ContentSource::Bytes(b) => crate::object::content_checksum(meta, b),
            ContentSource::File(_, _) => Checksum([0; 32]),
        };
        match src {
            ContentSource::Bytes(b) => {
                if !self.claim(&csum, ObjectType::File) {
                    return Ok(csum);
                }
                self.store_content(meta, &csum, &mut io::Cursor::new(b), b.len() as u64, None).inspect_err(|_| self.unclaim(&csum, ObjectType::File))?;
                Ok(csum)
            }
            ContentSource::File(f, size) => {
                // Small files: one read into memory, hash, store from memory.
                // (Above 1 MiB the second read comes from the page cache;
                // keeping buffers small keeps peak RSS below ostree's.)
                if size <= IN_MEMORY_MAX {
                    buf.clear();
                    f.take(size + 1).read_to_end(buf).map_err(|e| Error::io("<source file>", e))?;
                    if buf.len() as u64 != size {
                        return Err(Error::Invalid(format!("file changed size while being committed ({size} -> {} bytes)", buf.len())));
                    }
                    let data = std::mem::take(buf);
                    let r = self.write_content(meta, ContentSource::Bytes(&data), &mut Vec::new());
                    *buf = data;
                    return r;
                }
                // Large files: hash pass, then a store pass that re-verifies.
                let mut h = crate::object::ContentHasher::new(meta);
                buf.resize(STREAM_CHUNK, 0);
                let mut total = 0u64;
                loop {
                    let n = f.read(buf).map_err(|e| Error::io("<source file>", e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    total += n as u64;
                }
                if total != size {
                    return Err(Error::Invalid(format!("file changed size while being committed ({size} -> {total} bytes)")));
                }
                let csum = h.finish();
                if !self.claim(&csum, ObjectType::File) {
                    return Ok(csum);
                }
                io::Seek::rewind(f).map_err(|e| Error::io("<source file>", e))?;
                self.store_content(meta, &csum, f, size, Some(csum)).inspect_err(|_| self.unclaim(&csum, ObjectType::File))?;
                Ok(csum)
            }
        }
    }

    /// Store a content object whose checksum is already known to be `csum`
    /// (pull verifies while inflating and passes `verify`).
    pub fn write_content_trusted(&self, meta: &FileMeta, csum: &Checksum, data: &mut dyn Read, size: u64, verify: bool) -> Result<()> {
        self.check_content_mode(csum, meta)?;
        if !self.claim(csum, ObjectType::File) {
            return Ok(());
        }
        self.store_content(meta, csum, data, size, verify.then_some(*csum)).inspect_err(|_| self.unclaim(csum, ObjectType::File))
    }

    fn store_content(&self, meta: &FileMeta, csum: &Checksum, data: &mut dyn Read, size: u64, verify: Option<Checksum>) -> Result<()> {
        let mode = self.repo.mode;
        self.reserve(size)?;
        let mut hasher = verify.map(|_| crate::object::ContentHasher::new(meta));
        let is_link = meta.is_symlink();
        if is_link && mode.is_bare() && mode != RepoMode::BareUser {
            // Real symlink objects (bare, bare-user-only).
            self.ensure_staging_subdir(csum)?;
            let tmp = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("lnk"));
            std::os::unix::fs::symlink(&meta.symlink_target, &tmp).at(&tmp)?;
            let r = (|| {
                if mode == RepoMode::Bare {
                    nix::unistd::fchownat(nix::fcntl::AT_FDCWD, &tmp, Some(meta.uid.into()), Some(meta.gid.into()), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                        .at(&tmp)?;
                    for (n, v) in &meta.xattrs {
                        xattr::set(xattr::Target::Path(&tmp), n, v).at(&tmp)?;
                    }
                }
                self.publish(&tmp, csum, ObjectType::File)
            })();
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            return r.map(|()| self.count_content(0));
        }
        let (f, tmp) = self.tmp_file(csum)?;
        let r = (|| -> Result<()> {
            // Buffers sized to the object: most are small, and a 256 KiB buffer per
            // object showed up in peak memory.
            let cap = usize::try_from(size).unwrap_or(STREAM_CHUNK).saturating_add(4096).min(STREAM_CHUNK);
            let mut w = io::BufWriter::with_capacity(cap, &f);
            let mut copied = 0u64;
            let mut pump = |w: &mut dyn Write, data: &mut dyn Read, hasher: &mut Option<crate::object::ContentHasher>| -> Result<()> {
                let mut chunk = vec![0u8; fsutil::buffer_len(size, STREAM_CHUNK)];
                loop {
                    // A failing source is bad data, not a problem with our temp file.
                    let n = data.read(&mut chunk).map_err(|e| Error::Corrupt(format!("content object {csum}: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    copied += n as u64;
                    if copied > size {
                        return Err(Error::Corrupt(format!("content object {csum} is longer than its declared {size} bytes")));
                    }
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk[..n]);
                    }
                    w.write_all(&chunk[..n]).at(&tmp)?;
                }
                Ok(())
            };
            match mode {
                RepoMode::Archive => {
                    w.write_all(&meta.filez_prefix(if is_link { 0 } else { size })).at(&tmp)?;
                    if !is_link {
                        let mut enc = flate2::write::DeflateEncoder::new(&mut w, flate2::Compression::new(self.repo.zlib_level));
                        pump(&mut enc, data, &mut hasher)?;
                        enc.finish().at(&tmp)?;
                    }
                }
                RepoMode::BareUser if is_link => {
                    w.write_all(meta.symlink_target.as_bytes()).at(&tmp)?;
                    w.write_all(&[0]).at(&tmp)?;
                }
                _ => pump(&mut w, data, &mut hasher)?,
            }
            w.flush().at(&tmp)?;
            drop(w);
            if !is_link && copied != size {
                return Err(Error::Corrupt(format!("content object {csum}: got {copied} of {size} bytes")));
            }
            if let (Some(h), Some(expected)) = (hasher, verify) {
                let actual = h.finish();
                if actual != expected {
                    return Err(Error::ChecksumMismatch { checksum: expected, kind: ObjectType::File, actual });
                }
            }
            let fd = f.as_fd();
            match mode {
                RepoMode::Archive => {}
                RepoMode::BareUser => {
                    xattr::set(xattr::Target::Fd(fd), b"user.ostreemeta", &meta.bareuser_bytes()).at(&tmp)?;
                    let phys = if is_link { 0o644 } else { (meta.mode & 0o775) | 0o400 };
                    f.set_permissions(fs::Permissions::from_mode(phys)).at(&tmp)?;
                }
                RepoMode::Bare => {
                    nix::unistd::fchown(fd, Some(meta.uid.into()), Some(meta.gid.into())).at(&tmp)?;
                    f.set_permissions(fs::Permissions::from_mode(meta.mode & 0o7777)).at(&tmp)?;
                    for (n, v) in &meta.xattrs {
                        xattr::set(xattr::Target::Fd(fd), n, v).at(&tmp)?;
                    }
                }
                RepoMode::BareUserOnly => f.set_permissions(fs::Permissions::from_mode(meta.mode & 0o7777)).at(&tmp)?,
            }
            if mode.is_bare() {
                // ostree stamps bare objects with mtime 0 (OSTREE_TIMESTAMP).
                let zero = nix::sys::time::TimeSpec::new(0, 0);
                nix::sys::stat::futimens(fd, &nix::sys::time::TimeSpec::UTIME_OMIT, &zero).at(&tmp)?;
            }
            drop(f);
            self.publish(&tmp, csum, ObjectType::File)
        })();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r.map(|()| self.count_content(size))
    }

    /// `commit --consume` into a bare-user-only repository: the source file
    /// itself becomes the object (hardlinked into staging, as ostree renames
    /// it), when its stored form would be the file as it is: regular, owner
    /// 0, no xattrs. Its mode and mtime are set as an object's and its data
    /// fsynced before it is linked; the caller deletes the source only after
    /// the transaction is committed. `None`: not adoptable here (another
    /// mode, another filesystem, the file swapped), so write it normally.
    pub fn adopt_content(&self, meta: &FileMeta, file: &File, path: &Path, size: u64) -> Result<Option<Checksum>> {
        if self.repo.mode != RepoMode::BareUserOnly || !meta.is_regular() || meta.uid != 0 || meta.gid != 0 || !meta.xattrs.is_empty() {
            return Ok(None);
        }
        meta.validate()?;
        let mut h = crate::object::ContentHasher::new(meta);
        let mut chunk = vec![0u8; fsutil::buffer_len(size, STREAM_CHUNK)];
        let mut total = 0u64;
        loop {
            let n = std::os::unix::fs::FileExt::read_at(file, &mut chunk, total).at(path)?;
            if n == 0 {
                break;
            }
            h.update(&chunk[..n]);
            total += n as u64;
        }
        if total != size {
            return Err(Error::Invalid(format!("file changed size while being committed ({size} -> {total} bytes)")));
        }
        let csum = h.finish();
        if !self.claim(&csum, ObjectType::File) {
            return Ok(Some(csum));
        }
        let r = (|| -> Result<bool> {
            file.set_permissions(fs::Permissions::from_mode(meta.mode & 0o7777)).at(path)?;
            let zero = nix::sys::time::TimeSpec::new(0, 0);
            nix::sys::stat::futimens(file.as_fd(), &nix::sys::time::TimeSpec::UTIME_OMIT, &zero).at(path)?;
            if self.repo.fsync {
                file.sync_all().at(path)?;
            }
            self.ensure_staging_subdir(&csum)?;
            let tmp = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("adopt"));
            if fs::hard_link(path, &tmp).is_err() {
                return Ok(false);
            }
            // The path may name another file by now: only the inode that
            // was hashed may become the object.
            let (linked, ours) = (fs::symlink_metadata(&tmp).at(&tmp)?, file.metadata().at(path)?);
            if (linked.dev(), linked.ino()) != (ours.dev(), ours.ino()) {
                let _ = fs::remove_file(&tmp);
                return Ok(false);
            }
            self.publish(&tmp, &csum, ObjectType::File).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
            Ok(true)
        })();
        match r {
            Ok(true) => {
                self.count_content(size);
                Ok(Some(csum))
            }
            Ok(false) => {
                self.unclaim(&csum, ObjectType::File);
                Ok(None)
            }
            Err(e) => {
                self.unclaim(&csum, ObjectType::File);
                Err(e)
            }
        }
    }

    fn count_content(&self, size: u64) {
        self.stats.content_written.fetch_add(1, Ordering::Relaxed);
        self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
    }

    /// Make everything staged so far durable and visible without ending the
    /// transaction: syncfs, then rename each staged object into `objects/`
    /// and fsync the directories. A long pull calls this now and then, so a
    /// power cut loses at most the objects since the last checkpoint.
    pub fn checkpoint(&self) -> Result<()> {
        let repo = self.repo;
        // Snapshot what is staged *before* syncing: objects published while
        // we sync stay in staging until the next checkpoint, so nothing
        // reaches objects/ unsynced.
        let mut staged: Vec<(std::ffi::OsString, Vec<std::ffi::OsString>)> = Vec::new();
        for e in fs::read_dir(&self.staging).at(&self.staging)? {
            let e = e.at(&self.staging)?;
            let name = e.file_name();
            if name.len() != 2 || !e.file_type().at(&e.path())?.is_dir() {
                continue;
            }
            let mut objs = Vec::new();
            for o in fs::read_dir(e.path()).at(&e.path())? {
                let oname = o.at(&e.path())?.file_name();
                if !oname.as_bytes().starts_with(b".") {
                    objs.push(oname);
                }
            }
            if !objs.is_empty() {
                staged.push((name, objs));
            }
        }
        if staged.is_empty() {
            return Ok(());
        }
        if repo.fsync {
            let d = File::open(&self.staging).at(&self.staging)?;
            nix::unistd::syncfs(&d).at(&self.staging)?;
        }
        let objects = repo.path.join("objects");
        let mut touched = Vec::new();
        for (dir, objs) in staged {
            let dest_dir = objects.join(&dir);
            match fs::create_dir(&dest_dir) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(Error::io(&dest_dir, err)),
            }
            for o in objs {
                let dest = dest_dir.join(&o);
                fs::rename(self.staging.join(&dir).join(&o), &dest).at(&dest)?;
                // A commit written again (pulled back) is no longer deleted:
                // its tombstone goes, as in ostree.
                if let Some(stem) = o.as_bytes().strip_suffix(b".commit") {
                    let mut tomb = stem.to_vec();
                    tomb.extend_from_slice(b".tombstone-commit");
                    let tomb = dest_dir.join(std::ffi::OsStr::from_bytes(&tomb));
                    match fs::remove_file(&tomb) {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        Err(err) => return Err(Error::io(&tomb, err)),
                    }
                }
            }
            touched.push(dest_dir);
        }
        if repo.fsync {
            for d in &touched {
                fsutil::fsync_dir(d)?;
            }
            fsutil::fsync_dir(&objects)?;
        }
        Ok(())
    }

    /// Make everything staged durable and visible, and end the transaction.
    pub fn commit(self) -> Result<()> {
        // As a crash just before the commit: everything stays staged, for
        // the same boot to resume.
        if test_error_requested("pre-commit") {
            return Err(Error::Invalid("OSTREE_REPO_TEST_ERROR_PRE_COMMIT".into()));
        }
        self.checkpoint()?;
        fsutil::remove_tree(&self.staging)?;
        let _ = fs::remove_file(&self.staging_lock_path);
        cleanup_stale_staging(self.repo);
        Ok(())
    }

    /// Store an archive repo's `.filez` exactly as received; the caller has
    /// verified it (inflated and hashed) already. With `take`, `src` is
    /// renamed in (same filesystem); otherwise it is hardlinked, or copied.
    pub fn import_filez(&self, csum: &Checksum, src: &Path, take: bool) -> Result<()> {
        if self.repo.mode != RepoMode::Archive {
            return Err(Error::Invalid("raw .filez objects can only be stored in archive repositories".into()));
        }
        if !self.claim(csum, ObjectType::File) {
            return Ok(());
        }
        let size = fs::metadata(src).at(src)?.len();
        let r = self.reserve(size).and_then(|()| {
            self.ensure_staging_subdir(csum)?;
            let tmp = self.staging.join(&csum.to_hex()[..2]).join(fsutil::tmp_name("filez"));
            let placed = if take { fs::rename(src, &tmp).is_ok() } else { fs::hard_link(src, &tmp).is_ok() };
            if !placed {
                fs::copy(src, &tmp).at(&tmp)?;
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).at(&tmp)?;
            }
            self.publish(&tmp, csum, ObjectType::File)
        });
        match r {
            Ok(()) => {
                self.count_content(size);
                Ok(())
            }
            Err(e) => {
                self.unclaim(csum, ObjectType::File);
                Err(e)
            }
        }
    }

    /// Same as [`Transaction::write_filez_raw`] for bytes in memory.
    pub fn write_filez_bytes(&self, csum: &Checksum, bytes: &[u8]) -> Result<()> {
        if self.repo.mode != RepoMode::Archive {
            return Err(Error::Invalid("raw .filez objects can only be stored in archive repositories".into()));
        }
        if !self.claim(csum, ObjectType::File) {
            return Ok(());
        }
        let r = self.reserve(bytes.len() as u64).and_then(|()| {
            let (mut f, tmp) = self.tmp_file(csum)?;
            f.write_all(bytes).at(&tmp)?;
            drop(f);
            self.publish(&tmp, csum, ObjectType::File)
        });
        match r {
            Ok(()) => {
                self.count_content(bytes.len() as u64);
                Ok(())
            }
            Err(e) => {
                self.unclaim(csum, ObjectType::File);
                Err(e)
            }
        }
    }

    /// (stored, unpacked) bytes of an object staged in this transaction or
    /// already in the repository: for ostree.sizes, in an archive repo,
    /// where a `.filez` is compressed and metadata is stored as is.
    pub fn object_sizes(&self, csum: &Checksum, ty: ObjectType) -> Result<(u64, u64)> {
        let staged = self.staged_rel(csum, ty);
        let p = if self.staged(csum, ty) { staged } else { self.repo.object_path(csum, ty) };
        let f = uptree_sys::fs::open_regular(&p).map_err(|e| Error::io(&p, e))?;
        let stored = f.metadata().map_err(|e| Error::io(&p, e))?.len();
        if ty != ObjectType::File || self.repo.mode != RepoMode::Archive {
            return Ok((stored, stored));
        }
        let (meta, size) = read_filez_header(&mut BufReader::new(f)).map_err(|e| e.context(format!("content object {csum}")))?;
        // ostree records the lstat size: a symlink's is its target's length.
        let unpacked = if meta.is_symlink() { meta.symlink_target.len() as u64 } else { size };
        Ok((stored, unpacked))
    }

    /// Bytes of a metadata object that is staged in this transaction or
    /// already in the repository, checked against its name.
    pub fn load_metadata(&self, ty: ObjectType, csum: &Checksum) -> Result<Vec<u8>> {
        match fs::read(self.staged_rel(csum, ty)) {
            Ok(data) => {
                let actual = Checksum::of(&data);
                if actual != *csum {
                    return Err(Error::ChecksumMismatch { checksum: *csum, kind: ty, actual });
                }
                Ok(data)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.repo.read_metadata_verified(ty, csum),
            Err(e) => Err(Error::io(self.staged_rel(csum, ty), e)),
        }
    }

    /// Bytes that may still be written before min-free-space is reached.
    pub fn space_left(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Fail now if fewer than `bytes` may be written (min-free-space).
    pub fn ensure_space(&self, bytes: u64) -> Result<()> {
        if self.space_left() < bytes {
            return Err(Error::Invalid(self.repo.min_free.describe(bytes)));
        }
        Ok(())
    }

    /// Throw away everything staged.
    pub fn abort(self) -> Result<()> {
        fsutil::remove_tree(&self.staging)?;
        let _ = fs::remove_file(&self.staging_lock_path);
        Ok(())
    }
}

impl Drop for Transaction<'_> {
    /// An unfinished transaction keeps what it staged for the next one to
    /// resume; one that staged nothing (a pull refused while checking its
    /// commit) has nothing to resume, so its empty directory and lock file
    /// go: bad input leaves nothing behind. `remove_dir` only removes an
    /// empty directory; after commit or abort there is none left to remove.
    fn drop(&mut self) {
        if fs::remove_dir(&self.staging).is_ok() {
            let _ = fs::remove_file(&self.staging_lock_path);
        }
    }
}

fn libc_o_cloexec() -> i32 {
    nix::fcntl::OFlag::O_CLOEXEC.bits()
}

/// Remove staging directories of earlier boots (they can never be resumed)
/// and ones nobody touched for `tmp-expiry-secs`, if unlocked.
fn cleanup_stale_staging(repo: &Repo) {
    let tmp = repo.path.join("tmp");
    let this_boot = format!("staging-{}-", fsutil::boot_id());
    let expiry = repo.config.get("core", "tmp-expiry-secs").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(86400);
    let Ok(rd) = fs::read_dir(&tmp) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("staging-") || name.ends_with("-lock") {
            continue;
        }
        let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > expiry);
        if name.starts_with(&this_boot) && !old {
            continue;
        }
        let lock_path = tmp.join(format!("{name}-lock"));
        if let Ok(_l) = OfdLock::acquire(&lock_path, LockKind::Exclusive, Some(Duration::ZERO)) {
            let _ = fsutil::remove_tree(&e.path());
            let _ = fs::remove_file(&lock_path);
        }
    }
}

/// libostree's `OSTREE_REPO_TEST_ERROR` (GLib debug keys: `,` `:` `;` or
/// space separated, or `all`): fail at a point that is otherwise reached
/// only by a crash or a silent recovery, so that path can be shown to work.
pub fn test_error_requested(key: &str) -> bool {
    std::env::var("OSTREE_REPO_TEST_ERROR")
        .is_ok_and(|v| v.split([',', ':', ';', ' ', '\t']).any(|k| k.eq_ignore_ascii_case(key) || k.eq_ignore_ascii_case("all")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging_entries(repo: &Repo) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(repo.path().join("tmp"))
            .expect("tmp")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("staging-"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_empty_transaction_leaves_no_staging_but_staged_work_is_kept() {
        let tmp = tempfile::Builder::new().prefix("uptree-repo-").tempdir_in("/var/tmp").expect("tmp");
        let repo = Repo::init(&tmp.path().join("repo"), RepoMode::Archive).expect("init");
        drop(repo.begin().expect("txn"));
        assert_eq!(staging_entries(&repo), Vec::<String>::new());
        let txn = repo.begin().expect("txn");
        let meta = crate::object::FileMeta { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: vec![] };
        txn.write_content(&meta, ContentSource::Bytes(b"kept"), &mut Vec::new()).expect("write");
        drop(txn);
        let kept = staging_entries(&repo);
        assert_eq!(kept.len(), 2, "staging directory and its lock: {kept:?}");
        // The next transaction resumes it, and commit clears it.
        let txn = repo.begin().expect("txn");
        assert!(txn.resumed);
        txn.commit().expect("commit");
        assert_eq!(staging_entries(&repo), Vec::<String>::new());
    }

    /// ostree resolves "origin/main" through refs/remotes/ when no local
    /// branch has that name (pull-test.sh checks out `origin/main`).
    #[test]
    fn remote_ref_by_slash_path() {
        let tmp = tempfile::Builder::new().prefix("uptree-repo-").tempdir_in("/var/tmp").expect("tmp");
        let repo = Repo::init(&tmp.path().join("repo"), RepoMode::Archive).expect("init");
        let (remote, local) = (Checksum::of(b"remote"), Checksum::of(b"local"));
        repo.set_ref(&RefName::parse("origin:main").expect("ref"), Some(&remote)).expect("set");
        assert_eq!(repo.resolve_rev("origin/main").expect("resolves"), remote);
        assert!(repo.resolve_rev("other/main").is_err());
        // A local branch of that name comes first, as in ostree.
        repo.set_ref(&RefName::parse("origin/main").expect("ref"), Some(&local)).expect("set");
        assert_eq!(repo.resolve_rev("origin/main").expect("resolves"), local);
    }
}
