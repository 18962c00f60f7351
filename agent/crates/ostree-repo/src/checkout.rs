//! `checkout`: materialise a commit (or a subpath of it) in a directory.
//!
//! Hardlinks from bare repos (and from bare-user repos in user mode), copies
//! otherwise, as libostree decides. Every entry is created relative to a
//! directory fd opened with `O_NOFOLLOW`, and names come from validated
//! dirtrees, so nothing in the tree — `..` names, symlinks pointing out —
//! can make checkout write outside the destination.
//!
//! Directories are created `0700` and get their final owner, mode and mtime
//! after their contents, bottom-up; file work runs on worker threads.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, mkdirat, Mode};
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, UnlinkatFlags};
use uptree_sys::xattr;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::object::{Checksum, ContentHasher, DirMeta, FileMeta, ObjectType};
use crate::repo::{Content, Repo, RepoMode};

/// Checkout behaviour.
#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// `-U`: do not chown, do not set xattrs, drop setuid/setgid.
    pub user_mode: bool,
    /// `--union`: replace existing files, merge into existing directories.
    pub union: bool,
    /// `--union-add`: keep existing files, add missing ones.
    pub union_add: bool,
    /// `--allow-noent`: a missing `subpath` checks out nothing, without error.
    pub allow_noent: bool,
    /// `-M`, `--bareuseronly-dirs`: directories lose mode bits outside
    /// 0775 (setuid, world-writable…).
    pub bareuseronly_dirs: bool,
    /// `--union-identical`: keep existing files identical to the commit's
    /// (same inode, or same content and metadata), fail on any other.
    pub union_identical: bool,
    /// `--force-copy`: never hardlink.
    pub force_copy: bool,
    /// `--require-hardlinks`: fail rather than copy regular files.
    pub require_hardlinks: bool,
    /// `--subpath`: check out only this path of the commit.
    pub subpath: Option<String>,
    /// `syncfs` the destination when done.
    pub fsync: bool,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// `--process-passthrough-whiteouts`: a file `.ostree-wh.NAME` becomes
    /// an overlayfs whiteout `NAME` (a char device 0:0 with the file's
    /// mode and owner), as libostree does for deployments.
    pub process_passthrough_whiteouts: bool,
    /// `--skip-list`: paths of files in the commit ("/a/b") not checked
    /// out. Directories are checked out even when listed, as by ostree
    /// 2022.7 (its checkout filter never sees them).
    pub skip_list: Option<std::collections::BTreeSet<String>>,
    /// A user-mode checkout from an archive repository keeps an uncompressed
    /// copy of each regular file in `uncompressed-objects-cache/` and
    /// hardlinks it, as ostree does (`--disable-cache` turns this off).
    pub uncompressed_cache: bool,
}

/// The name prefix of an overlayfs whiteout stored as a plain file.
const OVERLAYFS_WHITEOUT_PREFIX: &str = ".ostree-wh.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overwrite {
    None,
    Replace,
    Keep,
    Identical,
}

struct Job {
    dir: Arc<OwnedFd>,
    dir_path: Arc<PathBuf>,
    name: String,
    csum: Checksum,
}

struct Ctx<'a> {
    repo: &'a Repo,
    opts: &'a CheckoutOptions,
    overwrite: Overwrite,
    can_hardlink: bool,
}

/// Statistics of one checkout.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckoutStats {
    pub files: u64,
    pub hardlinked: u64,
    pub dirs: u64,
}

/// Check out `commit` into `dest`.
pub fn checkout(repo: &Repo, commit: &Checksum, dest: &Path, opts: &CheckoutOptions) -> Result<CheckoutStats> {
    if repo.is_partial(commit) {
        return Err(Error::Invalid(format!("commit {commit} is partial (an interrupted pull); pull it again before checking it out")));
    }
    let c = repo.load_commit(commit)?;
    let overwrite = match (opts.union, opts.union_add, opts.union_identical) {
        (true, true, _) => return Err(Error::Invalid("--union and --union-add are mutually exclusive".into())),
        (true, _, true) | (_, true, true) => return Err(Error::Invalid("--union-identical excludes --union and --union-add".into())),
        (false, false, true) if !opts.require_hardlinks => return Err(Error::Invalid("--union-identical requires --require-hardlinks".into())),
        (false, false, true) => Overwrite::Identical,
        (true, false, false) => Overwrite::Replace,
        (false, true, false) => Overwrite::Keep,
        _ => Overwrite::None,
    };
    let can_hardlink = !opts.force_copy
        && match repo.mode() {
            RepoMode::Bare => !opts.user_mode,
            RepoMode::BareUser | RepoMode::BareUserOnly => opts.user_mode,
            RepoMode::Archive => false,
        };
    if opts.require_hardlinks && !can_hardlink {
        return Err(Error::Invalid(match repo.mode() {
            RepoMode::Archive => "an archive repository cannot hardlink".to_string(),
            RepoMode::Bare => "Bare repository mode cannot hardlink in user checkout mode".to_string(),
            _ => "User repository mode requires user checkout mode to hardlink".to_string(),
        }));
    }
    let ctx = Ctx { repo, opts, overwrite, can_hardlink };

    // Resolve --subpath to a dirtree or a single file.
    let (mut tree, mut meta) = (c.root_tree, c.root_meta);
    let mut single_file: Option<(Checksum, String)> = None;
    if let Some(sub) = &opts.subpath {
        let comps: Vec<&str> = sub.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        for (i, comp) in comps.iter().enumerate() {
            let dt = repo.load_dirtree(&tree)?;
            if let Some((_, t, m)) = dt.dirs.iter().find(|(n, _, _)| n == comp) {
                (tree, meta) = (*t, *m);
            } else if let (Some((_, f)), true) = (dt.files.iter().find(|(n, _)| n == comp), i + 1 == comps.len()) {
                single_file = Some((*f, comp.to_string()));
            } else if opts.allow_noent {
                return Ok(CheckoutStats::default());
            } else {
                return Err(Error::Invalid(format!("No such file or directory: {sub}")));
            }
        }
    }

    if let Some((f, name)) = single_file {
        // As ostree: a file subpath lands in DEST (made, private, if
        // missing) under its own name.
        match std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(dest, e)),
        }
        let dir = open_dir_follow(dest)?;
        let job = Job { dir: Arc::new(dir), dir_path: Arc::new(dest.to_path_buf()), name, csum: f };
        let mut stats = CheckoutStats::default();
        checkout_file(&ctx, &job, &mut stats)?;
        return Ok(stats);
    }

    let dest_parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dest_name = dest.file_name().ok_or_else(|| Error::Invalid(format!("invalid destination {}", dest.display())))?;
    let parent_fd = open_dir_follow(dest_parent)?;

    let n = if opts.threads > 0 { opts.threads } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8) };
    // Whole directories' files go to workers as one batch: a hand-off per
    // file costs more than the hardlink itself.
    let (tx, rx) = mpsc::sync_channel::<Vec<Job>>(n * 4);
    let rx = Arc::new(Mutex::new(rx));
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    let stats = Mutex::new(CheckoutStats::default());
    let mut finalize: Vec<(OwnedFd, PathBuf, DirMeta, bool)> = Vec::new();
    let walked = std::thread::scope(|s| {
        for _ in 0..n {
            let rx = Arc::clone(&rx);
            let (ctx, first_err, stats) = (&ctx, &first_err, &stats);
            s.spawn(move || {
                let mut local = CheckoutStats::default();
                loop {
                    let jobs = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => break,
                    };
                    let Ok(jobs) = jobs else { break };
                    if first_err.lock().is_ok_and(|e| e.is_some()) {
                        continue; // drain quickly after a failure
                    }
                    for job in jobs {
                        if let Err(e) = checkout_file(ctx, &job, &mut local) {
                            let e = e.context(format!("checking out {}", job.dir_path.join(&job.name).display()));
                            if let Ok(mut slot) = first_err.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
                if let Ok(mut s) = stats.lock() {
                    s.files += local.files;
                    s.hardlinked += local.hardlinked;
                }
            });
        }
        let r = walk(&ctx, &parent_fd, dest_parent, &dest_name.to_string_lossy(), "", &tree, &meta, &tx, &mut finalize);
        drop(tx);
        r
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    walked?;
    // Directory metadata last, deepest first, so read-only dirs can be filled.
    let dirs = finalize.len() as u64;
    for (fd, path, m, created) in finalize.into_iter().rev() {
        if created {
            apply_dir_meta(&ctx, &fd, &path, &m)?;
        }
    }
    if opts.fsync {
        let d = File::open(dest).at(dest)?;
        nix::unistd::syncfs(&d).at(dest)?;
    }
    let mut st = stats.into_inner().unwrap_or_default();
    st.dirs = dirs;
    Ok(st)
}

fn open_dir_follow(p: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).at(p)
}

fn open_dir_nofollow(parent: &OwnedFd, name: &str, full: &Path) -> Result<OwnedFd> {
    match nix::fcntl::openat(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
            Err(Error::Conflict(format!("{}: exists and is not a directory (refusing to follow a symlink out of the checkout)", full.display())))
        }
        Err(e) => Err(Error::io(full, e.into())),
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    ctx: &Ctx<'_>,
    parent: &OwnedFd,
    parent_path: &Path,
    name: &str,
    rel: &str,
    tree: &Checksum,
    meta: &Checksum,
    tx: &mpsc::SyncSender<Vec<Job>>,
    finalize: &mut Vec<(OwnedFd, PathBuf, DirMeta, bool)>,
) -> Result<()> {
    let path = parent_path.join(name);
    let dm = ctx.repo.load_dirmeta(meta)?;
    let dt = ctx.repo.load_dirtree(tree)?;
    let created = match mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
        Ok(()) => true,
        Err(Errno::EEXIST) if ctx.overwrite != Overwrite::None => false,
        Err(e) => return Err(Error::io(&path, e.into())),
    };
    let fd = open_dir_nofollow(parent, name, &path)?;
    if created && !ctx.opts.user_mode && !dm.xattrs.is_empty() {
        for (n, v) in &dm.xattrs {
            xattr::set(xattr::Target::Fd(fd.as_fd()), n, v).at(&path)?;
        }
    }
    let dir = Arc::new(fd.try_clone().at(&path)?);
    let dir_path = Arc::new(path.clone());
    let skipped = |n: &str| ctx.opts.skip_list.as_ref().is_some_and(|l| l.contains(&format!("{rel}/{n}")));
    let files: Vec<&(String, Checksum)> = dt.files.iter().filter(|(n, _)| !skipped(n)).collect();
    for chunk in files.chunks(256) {
        let jobs = chunk.iter().map(|(fname, csum)| Job { dir: Arc::clone(&dir), dir_path: Arc::clone(&dir_path), name: fname.clone(), csum: *csum }).collect();
        tx.send(jobs).map_err(|_| Error::Invalid("checkout workers exited".into()))?;
    }
    finalize.push((fd, path.clone(), dm, created));
    for (dname, t, m) in &dt.dirs {
        walk(ctx, &dir, &path, dname, &format!("{rel}/{dname}"), t, m, tx, finalize)?;
    }
    Ok(())
}

fn apply_dir_meta(ctx: &Ctx<'_>, fd: &OwnedFd, path: &Path, m: &DirMeta) -> Result<()> {
    let mut mode = m.mode & 0o7777;
    if ctx.repo.mode() == RepoMode::BareUserOnly || ctx.opts.bareuseronly_dirs {
        mode &= 0o775;
    }
    fchmod(fd, Mode::from_bits_truncate(mode)).at(path)?;
    if !ctx.opts.user_mode {
        fchown(fd, Some(m.uid.into()), Some(m.gid.into())).at(path)?;
    }
    if !ctx.opts.force_copy {
        // Constant mtime for every checkout (OSTREE_TIMESTAMP).
        let zero = nix::sys::time::TimeSpec::new(0, 0);
        nix::sys::stat::futimens(fd, &nix::sys::time::TimeSpec::UTIME_OMIT, &zero).at(path)?;
    }
    Ok(())
}

/// Make room for `name` according to the overwrite policy. Returns false if
/// the existing entry must be kept (`--union-add`).
fn prepare_slot(ctx: &Ctx<'_>, dir: &OwnedFd, name: &str, full: &Path) -> Result<bool> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(true),
        Err(e) => Err(Error::io(full, e.into())),
        Ok(st) => match ctx.overwrite {
            // An identical entry was kept before we get here.
            Overwrite::None | Overwrite::Identical => Err(Error::io(full, io::Error::from_raw_os_error(libc_eexist()))),
            Overwrite::Keep => Ok(false),
            Overwrite::Replace => {
                if st.st_mode & crate::object::S_IFMT == crate::object::S_IFDIR {
                    return Err(Error::Conflict(format!("{}: cannot replace a directory with a file", full.display())));
                }
                Ok(true)
            }
        },
    }
}

fn libc_eexist() -> i32 {
    Errno::EEXIST as i32
}

/// An overlayfs whiteout `target` for the marker file `job`.
fn checkout_whiteout(ctx: &Ctx<'_>, job: &Job, target: &str, meta: &FileMeta, stats: &mut CheckoutStats) -> Result<()> {
    let full = job.dir_path.join(target);
    if target.is_empty() {
        return Err(Error::Invalid(format!("Invalid empty overlayfs whiteout '{}'", job.dir_path.join(&job.name).display())));
    }
    crate::object::validate_filename(target)?;
    if !prepare_slot(ctx, &job.dir, target, &full)? {
        return Ok(());
    }
    if ctx.overwrite == Overwrite::Replace {
        match unlinkat(&*job.dir, target, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::io(&full, e.into())),
        }
    }
    let perm = Mode::from_bits_truncate(meta.mode & 0o7777);
    nix::sys::stat::mknodat(&*job.dir, target, nix::sys::stat::SFlag::S_IFCHR, perm, 0).at(&full)?;
    if !ctx.opts.user_mode {
        for (n, v) in &meta.xattrs {
            xattr::set(xattr::Target::Path(&full), n, v).at(&full)?;
        }
        fchownat(&*job.dir, target, Some(meta.uid.into()), Some(meta.gid.into()), AtFlags::AT_SYMLINK_NOFOLLOW).at(&full)?;
        // Not limited by the umask, as mknod's mode is.
        nix::sys::stat::fchmodat(&*job.dir, target, perm, nix::sys::stat::FchmodatFlags::FollowSymlink).at(&full)?;
    }
    stats.files += 1;
    Ok(())
}

/// `--union-identical`: whether the existing `full` is the commit's file
/// already: the object's own inode, the same symlink target, or a regular
/// file that would get the same checksum (its xattrs aside, as ostree).
fn is_identical(ctx: &Ctx<'_>, job: &Job, meta: &FileMeta, full: &Path) -> Result<bool> {
    let st = match nix::sys::stat::fstatat(&*job.dir, job.name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(Error::io(full, e.into())),
    };
    let fmt = st.st_mode & crate::object::S_IFMT;
    if meta.is_symlink() {
        if fmt != crate::object::S_IFLNK {
            return Ok(false);
        }
        let target = nix::fcntl::readlinkat(&*job.dir, job.name.as_str()).at(full)?;
        return Ok(target.as_encoded_bytes() == meta.symlink_target.as_bytes());
    }
    if fmt != crate::object::S_IFREG {
        return Ok(false);
    }
    let obj = ctx.repo.object_path(&job.csum, ObjectType::File);
    if let Ok(o) = std::fs::symlink_metadata(&obj) {
        // st_ino is 32-bit in 32-bit glibc's struct stat.
        #[allow(clippy::useless_conversion)]
        if (o.dev(), o.ino()) == (st.st_dev, u64::from(st.st_ino)) {
            return Ok(true);
        }
    }
    if !meta.xattrs.is_empty() {
        return Ok(false);
    }
    Ok(crate::commit::checksum_path_as(full, true, Some(meta.uid), Some(meta.gid))? == job.csum)
}

fn checkout_file(ctx: &Ctx<'_>, job: &Job, stats: &mut CheckoutStats) -> Result<()> {
    let full = job.dir_path.join(&job.name);
    crate::object::validate_filename(&job.name)?;
    let repo = ctx.repo;
    let (meta, size) = repo.load_file_info(&job.csum)?;
    if let Some(target) = job.name.strip_prefix(OVERLAYFS_WHITEOUT_PREFIX).filter(|_| ctx.opts.process_passthrough_whiteouts && !meta.is_symlink()) {
        return checkout_whiteout(ctx, job, target, &meta, stats);
    }
    if ctx.overwrite == Overwrite::Identical && is_identical(ctx, job, &meta, &full)? {
        return Ok(());
    }
    if !prepare_slot(ctx, &job.dir, &job.name, &full)? {
        return Ok(());
    }
    let replace = ctx.overwrite == Overwrite::Replace;
    stats.files += 1;
    // Hardlink when the repo's stored form is exactly the checkout's form;
    // empty files are always copied (they would pile up links: EMLINK).
    let zero_sized = meta.is_regular() && size == 0;
    let linkable = ctx.can_hardlink && !(meta.is_symlink() && repo.mode() == RepoMode::BareUser) && !zero_sized;
    if linkable {
        let obj = repo.object_path(&job.csum, ObjectType::File);
        let tmp_name = if replace { fsutil::tmp_name("co") } else { job.name.clone() };
        match linkat(nix::fcntl::AT_FDCWD, &obj, &*job.dir, tmp_name.as_str(), AtFlags::empty()) {
            Ok(()) => {
                if replace {
                    nix::fcntl::renameat(&*job.dir, tmp_name.as_str(), &*job.dir, job.name.as_str()).at(&full)?;
                }
                stats.hardlinked += 1;
                return Ok(());
            }
            // Cross-device, too many links, not permitted, or an object of a
            // parent repository (core.parent): copy instead.
            Err(Errno::EXDEV) | Err(Errno::EMLINK) | Err(Errno::EPERM) | Err(Errno::ENOENT) if !ctx.opts.require_hardlinks => {}
            Err(e) => return Err(Error::io(&full, e.into())),
        }
    }
    if ctx.opts.uncompressed_cache && ctx.opts.user_mode && repo.mode() == RepoMode::Archive && meta.is_regular() && !zero_sized && !ctx.opts.force_copy {
        let cached = cached_uncompressed(ctx, job, &meta)?;
        let tmp_name = if replace { fsutil::tmp_name("co") } else { job.name.clone() };
        linkat(nix::fcntl::AT_FDCWD, &cached, &*job.dir, tmp_name.as_str(), AtFlags::empty()).at(&full)?;
        if replace {
            nix::fcntl::renameat(&*job.dir, tmp_name.as_str(), &*job.dir, job.name.as_str()).at(&full)?;
        }
        stats.hardlinked += 1;
        return Ok(());
    }
    if ctx.opts.require_hardlinks && meta.is_regular() && !zero_sized {
        return Err(Error::Invalid(format!("{}: cannot hardlink and --require-hardlinks is set", full.display())));
    }
    let (meta, content) = repo.load_file(&job.csum)?;
    let name = if replace { fsutil::tmp_name("co") } else { job.name.clone() };
    let r = write_copy(ctx, &job.dir, &name, &full, &meta, content, &job.csum);
    if r.is_err() && replace {
        let _ = unlinkat(&*job.dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    r?;
    if replace {
        nix::fcntl::renameat(&*job.dir, name.as_str(), &*job.dir, job.name.as_str()).at(&full)?;
    }
    Ok(())
}

/// The uncompressed copy of a file object in the repository's
/// `uncompressed-objects-cache/XX/REST.file`, written (re-hashed,
/// fsynced, renamed in) when missing. Its mode is the user-mode checkout's.
fn cached_uncompressed(ctx: &Ctx<'_>, job: &Job, meta: &FileMeta) -> Result<PathBuf> {
    let hex = job.csum.to_hex();
    let dir = ctx.repo.path().join("uncompressed-objects-cache").join(&hex[..2]);
    let path = dir.join(format!("{}.file", &hex[2..]));
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).at(&dir)?;
    let dfd: OwnedFd = nix::fcntl::open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).at(&dir)?;
    let tmp = fsutil::tmp_name("cache");
    let (_, content) = ctx.repo.load_file(&job.csum)?;
    let r = write_copy(ctx, &dfd, &tmp, &path, meta, content, &job.csum).and_then(|()| {
        if ctx.repo.fsync_enabled() {
            File::open(dir.join(&tmp)).and_then(|f| f.sync_all()).at(&path)?;
        }
        nix::fcntl::renameat(&dfd, tmp.as_str(), &dfd, path.file_name().and_then(|n| n.to_str()).unwrap_or_default()).at(&path)?;
        Ok(())
    });
    if r.is_err() {
        let _ = unlinkat(&dfd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    r?;
    Ok(path)
}

/// Copy an object out, re-hashing it on the way: a copy is never made of
/// content that does not match its checksum.
fn write_copy(ctx: &Ctx<'_>, dir: &OwnedFd, name: &str, full: &Path, meta: &FileMeta, content: Content, csum: &Checksum) -> Result<()> {
    let user = ctx.opts.user_mode;
    let mut hasher = ContentHasher::new(meta);
    match content {
        Content::Symlink => {
            let actual = hasher.finish();
            if actual != *csum {
                return Err(Error::ChecksumMismatch { checksum: *csum, kind: ObjectType::File, actual });
            }
            symlinkat(meta.symlink_target.as_str(), dir, name).at(full)?;
            if !user {
                fchownat(dir, name, Some(meta.uid.into()), Some(meta.gid.into()), AtFlags::AT_SYMLINK_NOFOLLOW).at(full)?;
                let p = full.with_file_name(name);
                for (n, v) in &meta.xattrs {
                    xattr::set(xattr::Target::Path(&p), n, v).at(full)?;
                }
            }
            Ok(())
        }
        Content::Regular(mut data, size) => {
            let fd = nix::fcntl::openat(
                dir,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .at(full)?;
            let mut f = File::from(fd);
            let mut copied = 0u64;
            // One byte more than declared, so a longer object shows in one read.
            let mut buf = vec![0u8; fsutil::buffer_len(size.saturating_add(1), 256 * 1024)];
            loop {
                let n = data.read(&mut buf).at(full)?;
                if n == 0 {
                    break;
                }
                copied += n as u64;
                if copied > size {
                    return Err(Error::Corrupt(format!("{}: object is longer than its header's {size} bytes", full.display())));
                }
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n]).at(full)?;
            }
            if copied != size {
                return Err(Error::Corrupt(format!("{}: object has {copied} bytes, header says {size}", full.display())));
            }
            let actual = hasher.finish();
            if actual != *csum {
                return Err(Error::ChecksumMismatch { checksum: *csum, kind: ObjectType::File, actual });
            }
            let mut mode = meta.mode & 0o7777;
            if user {
                // As ostree: the user can always read what it checked out
                // (a file committed with mode 0 comes out 0400).
                mode = (mode & !0o6000) | 0o400;
            } else {
                fchown(&f, Some(meta.uid.into()), Some(meta.gid.into())).at(full)?;
                for (n, v) in &meta.xattrs {
                    xattr::set(xattr::Target::Fd(f.as_fd()), n, v).at(full)?;
                }
            }
            f.set_permissions(std::fs::Permissions::from_mode(mode)).at(full)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::{commit, CommitSpec, Layer, TreeOptions};

    /// A `.filez` whose header declares 2^64 - 1 bytes: checkout used
    /// `size as usize + 1` for its buffer, which overflowed (a panic, so
    /// SIGABRT in release) instead of refusing the object.
    #[test]
    fn declared_size_near_2_pow_64_is_refused() {
        let tmp = tempfile::Builder::new().prefix("uptree-checkout-").tempdir_in("/var/tmp").expect("tmp");
        let tree = tmp.path().join("tree");
        std::fs::create_dir(&tree).expect("mkdir");
        std::fs::write(tree.join("f"), b"hello").expect("write");
        let repo = Repo::init(&tmp.path().join("repo"), RepoMode::Archive).expect("init");
        let spec = CommitSpec { subject: "s".into(), timestamp: Some(0), orphan: true, ..Default::default() };
        let c = commit(&repo, &spec, &[Layer::Dir(tree)], TreeOptions::default()).expect("commit").checksum;
        let root = repo.load_dirtree(&repo.load_commit(&c).expect("commit").root_tree).expect("dirtree");
        let (_, file) = &root.files[0];
        let path = repo.object_path(file, ObjectType::File);
        let data = std::fs::read(&path).expect("object");
        let (meta, _, body) = crate::object::FileMeta::parse_filez_header(&data).expect("header");
        let mut forged = meta.filez_prefix(u64::MAX);
        forged.extend_from_slice(&data[body..]);
        std::fs::write(&path, forged).expect("forge");
        let err = checkout(&repo, &c, &tmp.path().join("out"), &CheckoutOptions { user_mode: true, ..Default::default() }).expect_err("forged size");
        assert!(err.to_string().contains(&file.to_string()), "{err}");
    }
}
