//! `commit`: turn directories, tarballs and existing commits into objects.
//!
//! Layers (`--tree=dir=…`, `--tree=tar=…`, `--tree=ref=…`) are applied in
//! order onto a mutable tree ([`MTree`]) with ostree's semantics: later
//! layers replace files, merge directories, and set directory metadata; a
//! file may not replace a directory or the reverse. A ref layer is kept as
//! its existing dirtree checksums and only expanded where a later layer
//! writes into it, so layering packages onto a big base does not re-hash it.
//!
//! Directory walking happens on the calling thread; hashing, compression and
//! object writing run on a pool of worker threads (one per core).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};
use uptree_sys::xattr;

use crate::archive;
use crate::error::{Error, IoContext, Result};
use crate::gvariant::{build, Value};
use crate::object::{Checksum, Commit, DirMeta, DirTree, FileMeta, ObjectType, Xattrs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::repo::{read_xattrs, Content, ContentSource, RefName, Repo, RepoMode, Transaction};

/// Changes applied to every entry (ostree's commit modifier and filter).
#[derive(Debug, Clone, Default)]
pub struct Modifier {
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// Do not record extended attributes.
    pub no_xattrs: bool,
    /// uid/gid 0 and no setuid/setgid/sticky/o+w (bare-user-only style).
    pub canonical_permissions: bool,
    /// Per-path mode changes (`--statoverride`), matched on dir and tar layers.
    pub statoverride: Option<Arc<StatOverride>>,
    /// `--skip-list`: paths in the commit ("/a/b") left out, with
    /// everything below them.
    pub skip_list: Option<Arc<std::collections::BTreeSet<String>>>,
    /// `--mode-ro-executables`: files with an execute bit lose their
    /// write bits.
    pub ro_executables: bool,
    /// `--consume`: the source files may become the objects (bare-user-only
    /// links them in); changes nothing about the entries.
    pub consume: bool,
    /// `-I`, `--devino-canonical`: a file hardlinked from an object of this
    /// repository is that object, modifiers or not (changes nothing else).
    pub devino_canonical: bool,
}

/// One `--statoverride` line: `MODE PATH` ORs MODE into the permissions,
/// `=MODE PATH` replaces them (the file type stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeOverride {
    Add(u32),
    Set(u32),
}

/// ostree's statoverride file: lines `MODE /path` or `=MODE /path`, MODE in
/// decimal as ostree reads it (2048 is setuid). Every path must match an entry.
#[derive(Debug, Default)]
pub struct StatOverride {
    entries: HashMap<String, ModeOverride>,
    matched: Mutex<std::collections::HashSet<String>>,
}

impl StatOverride {
    pub fn parse(text: &str) -> Result<StatOverride> {
        let mut entries = HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (mode, path) = line.split_once(' ').ok_or_else(|| Error::Invalid("Malformed statoverride file (no space found)".into()))?;
            let (set, digits) = match mode.strip_prefix('=') {
                Some(d) => (true, d),
                None => (false, mode),
            };
            let m: u32 = digits.parse().map_err(|_| Error::Invalid(format!("Malformed statoverride file (invalid mode '{mode}')")))?;
            entries.insert(path.to_string(), if set { ModeOverride::Set(m) } else { ModeOverride::Add(m) });
        }
        Ok(StatOverride { entries, matched: Default::default() })
    }

    /// Applies the entry for `path` (relative to the commit root, with a leading '/').
    fn apply(&self, path: &str, mode: &mut u32) {
        let Some(o) = self.entries.get(path) else { return };
        match *o {
            ModeOverride::Add(m) => *mode |= m,
            ModeOverride::Set(m) => *mode = (*mode & S_IFMT) | m,
        }
        self.matched.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_string());
    }

    /// Entries no committed path matched, sorted.
    pub fn unmatched(&self) -> Vec<String> {
        let matched = self.matched.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = self.entries.keys().filter(|k| !matched.contains(*k)).cloned().collect();
        v.sort();
        v
    }
}

impl Modifier {
    /// True if entries can change; a ref layer is then rewritten, not reused.
    pub fn is_active(&self) -> bool {
        self.owner_uid.is_some()
            || self.owner_gid.is_some()
            || self.no_xattrs
            || self.canonical_permissions
            || self.ro_executables
            || self.statoverride.is_some()
            || self.skip_list.is_some()
    }

    /// `--skip-list`: leave `path` (with its leading '/') out of the commit.
    fn skips(&self, path: &str) -> bool {
        self.skip_list.as_ref().is_some_and(|s| s.contains(path))
    }

    fn apply_path(&self, path: &str, mode: &mut u32) {
        if let Some(so) = &self.statoverride {
            so.apply(path, mode);
        }
    }

    fn apply(&self, uid: &mut u32, gid: &mut u32, mode: &mut u32, xattrs: &mut Xattrs) {
        if let Some(u) = self.owner_uid {
            *uid = u;
        }
        if let Some(g) = self.owner_gid {
            *gid = g;
        }
        if self.canonical_permissions {
            match *mode & S_IFMT {
                S_IFREG => *mode &= S_IFREG | 0o755,
                S_IFDIR => *mode &= S_IFDIR | 0o755,
                _ => {}
            }
            *uid = 0;
            *gid = 0;
        }
        if self.ro_executables && *mode & S_IFMT == S_IFREG && *mode & 0o111 != 0 {
            *mode &= !0o222;
        }
        if self.no_xattrs || self.canonical_permissions {
            xattrs.clear();
        }
    }
}

/// `--tar-pathname-filter=REGEX,REPLACEMENT` (feature `tar`, for the regex
/// engine): the first match of REGEX in a tar entry's path (and in a
/// hardlink's target), taken after leading `/` and `./` are stripped, is
/// replaced by REPLACEMENT as is, as ostree's handle_translate_pathname does.
#[derive(Debug, Clone)]
pub struct PathnameFilter {
    #[cfg(feature = "tar")]
    re: regex::Regex,
    #[cfg(feature = "tar")]
    replacement: String,
}

impl PathnameFilter {
    pub fn parse(spec: &str) -> Result<PathnameFilter> {
        let (re, replacement) = spec.split_once(',').ok_or_else(|| Error::Invalid("Missing ',' in --tar-pathname-filter".into()))?;
        #[cfg(feature = "tar")]
        {
            let re = regex::Regex::new(re).map_err(|e| Error::Invalid(format!("--tar-pathname-filter: {e}")))?;
            Ok(PathnameFilter { re, replacement: replacement.to_string() })
        }
        #[cfg(not(feature = "tar"))]
        {
            let _ = (re, replacement);
            Err(Error::Invalid("--tar-pathname-filter needs uptree built with the `tar` feature".into()))
        }
    }

    #[cfg(feature = "tar")]
    fn apply(&self, path: String) -> String {
        match self.re.find(&path) {
            Some(m) => format!("{}{}{}", &path[..m.start()], self.replacement, &path[m.end()..]),
            None => path,
        }
    }

    #[cfg(not(feature = "tar"))]
    fn apply(&self, path: String) -> String {
        path
    }
}

/// Options for building a tree.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    pub modifier: Modifier,
    /// Reuse checksums of files hardlinked from this repo's objects.
    pub link_checkout_speedup: bool,
    /// Create missing parent directories of tar entries.
    pub tar_autocreate_parents: bool,
    /// `--tar-pathname-filter`: rename tar entries.
    pub tar_pathname_filter: Option<PathnameFilter>,
    /// Worker threads (0 = one per core).
    pub threads: usize,
}

/// One `--tree=` layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    Dir(PathBuf),
    /// A tar file (plain or gzip); `-` reads standard input.
    Tar(PathBuf),
    Ref(String),
}

impl Layer {
    /// Parse `dir=PATH`, `tar=FILE`, `ref=REV`.
    pub fn parse(spec: &str) -> Result<Layer> {
        let (kind, val) = spec.split_once('=').ok_or_else(|| Error::Invalid(format!("Missing type in tree specification '{spec}'")))?;
        Ok(match kind {
            "dir" => Layer::Dir(val.into()),
            "tar" => Layer::Tar(val.into()),
            "ref" => Layer::Ref(val.to_string()),
            _ => return Err(Error::Invalid(format!("Invalid tree type specification '{kind}'"))),
        })
    }
}

/// A file of the tree being built: known (from an existing tree; boxed,
/// as it is the rare case) or computed by a worker into a result slot.
/// 16 bytes per entry, which matters with 100k files.
#[derive(Debug, Clone)]
enum FileSlot {
    Done(Box<Checksum>),
    Pending(u32),
}

/// Worker results, in fixed-size chunks so growing never copies (or
/// doubles the peak of) what is already there.
#[derive(Debug, Default)]
struct Slots {
    chunks: Vec<Vec<Option<Checksum>>>,
    len: u32,
}

const SLOT_CHUNK: usize = 8192;

impl Slots {
    fn alloc(&mut self) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == SLOT_CHUNK) {
            self.chunks.push(Vec::with_capacity(SLOT_CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(None);
        }
        self.len += 1;
        self.len - 1
    }

    fn set(&mut self, i: usize, v: Checksum) {
        if let Some(slot) = self.chunks.get_mut(i / SLOT_CHUNK).and_then(|c| c.get_mut(i % SLOT_CHUNK)) {
            *slot = Some(v);
        }
    }

    fn get(&self, i: u32) -> Option<Checksum> {
        let i = i as usize;
        self.chunks.get(i / SLOT_CHUNK).and_then(|c| c.get(i % SLOT_CHUNK)).copied().flatten()
    }
}

/// A directory being assembled.
#[derive(Debug, Default)]
pub struct MTree {
    meta: Option<Checksum>,
    files: BTreeMap<String, FileSlot>,
    dirs: BTreeMap<String, MTree>,
    /// Unexpanded contents: this directory is exactly that dirtree.
    lazy: Option<Checksum>,
}

impl MTree {
    fn is_empty(&self) -> bool {
        self.meta.is_none() && self.files.is_empty() && self.dirs.is_empty() && self.lazy.is_none()
    }

    fn expand(&mut self, repo: &Repo) -> Result<()> {
        if let Some(tree) = self.lazy.take() {
            let dt = repo.load_dirtree(&tree)?;
            for (n, c) in dt.files {
                self.files.insert(n, FileSlot::Done(Box::new(c)));
            }
            for (n, t, m) in dt.dirs {
                self.dirs.insert(n, MTree { meta: Some(m), lazy: Some(t), ..MTree::default() });
            }
        }
        Ok(())
    }

    fn ensure_dir(&mut self, repo: &Repo, name: &str) -> Result<&mut MTree> {
        crate::object::validate_filename(name)?;
        self.expand(repo)?;
        if self.files.contains_key(name) {
            return Err(Error::Conflict(format!("Can't replace file with directory: {name}")));
        }
        Ok(self.dirs.entry(name.to_string()).or_default())
    }

    fn replace_file(&mut self, repo: &Repo, name: &str, slot: FileSlot) -> Result<()> {
        crate::object::validate_filename(name)?;
        self.expand(repo)?;
        if self.dirs.contains_key(name) {
            return Err(Error::Conflict(format!("Can't replace directory with file: {name}")));
        }
        self.files.insert(name.to_string(), slot);
        Ok(())
    }

    fn set_meta(&mut self, m: Checksum) {
        self.meta = Some(m);
    }

    fn walk_mut(&mut self, repo: &Repo, components: &[&str]) -> Result<&mut MTree> {
        let mut cur = self;
        for c in components {
            cur.expand(repo)?;
            cur = cur.dirs.get_mut(*c).ok_or_else(|| Error::Invalid(format!("No such file or directory: {c}")))?;
        }
        Ok(cur)
    }

    fn lookup_file(&self, name: &str) -> Option<FileSlot> {
        self.files.get(name).cloned()
    }
}

enum Job {
    /// A regular file or symlink under a directory fd.
    Path { dir: Arc<OwnedFd>, dir_path: Arc<PathBuf>, rel_dir: Arc<String>, name: std::ffi::OsString, slot: u32, is_link: bool },
    /// A file whose metadata and bytes are already known (tar entries).
    Data { meta: FileMeta, data: Vec<u8>, slot: u32, path: String },
}

type DevIno = HashMap<(u64, u64), Checksum>;

type JobResult = (u32, Result<Checksum>);

/// Builds a root tree from layers inside a transaction.
pub struct TreeBuilder<'t, 'r> {
    txn: &'t Transaction<'r>,
    opts: TreeOptions,
    root: MTree,
    results: Slots,
    devino: Option<Arc<DevIno>>,
    dirmeta_cache: HashMap<DirMeta, Checksum>,
}

impl std::fmt::Debug for TreeBuilder<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeBuilder").field("opts", &self.opts).finish()
    }
}

/// Jobs go to workers in batches and results come back in batches: one
/// channel hand-off per file made thread wake-ups the bottleneck.
const BATCH: usize = 64;

struct Pool {
    tx: Option<mpsc::SyncSender<Vec<Job>>>,
    results: mpsc::Receiver<Vec<JobResult>>,
    batch: Vec<Job>,
    pending: usize,
}

impl<'t, 'r> TreeBuilder<'t, 'r> {
    pub fn new(txn: &'t Transaction<'r>, opts: TreeOptions) -> Result<Self> {
        let mut opts = opts;
        if txn.repo().mode() == RepoMode::BareUserOnly {
            opts.modifier.canonical_permissions = true;
        }
        if txn.repo().disable_xattrs() {
            opts.modifier.no_xattrs = true;
        }
        let devino = if opts.link_checkout_speedup && txn.repo().mode().is_bare() { Some(Arc::new(scan_devino(txn.repo())?)) } else { None };
        Ok(TreeBuilder { txn, opts, root: MTree::default(), results: Slots::default(), devino, dirmeta_cache: HashMap::new() })
    }

    fn repo(&self) -> &'r Repo {
        self.txn.repo()
    }

    fn threads(&self) -> usize {
        if self.opts.threads > 0 {
            self.opts.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8)
        }
    }

    fn write_dirmeta(&mut self, meta: DirMeta) -> Result<Checksum> {
        if let Some(c) = self.dirmeta_cache.get(&meta) {
            // Counted as ostree counts it: once per directory.
            self.txn.stats.metadata_total.fetch_add(1, Ordering::Relaxed);
            return Ok(*c);
        }
        let c = self.txn.write_metadata(ObjectType::DirMeta, &meta.to_bytes())?;
        self.dirmeta_cache.insert(meta, c);
        Ok(c)
    }

    fn new_slot(&mut self) -> u32 {
        self.results.alloc()
    }

    /// Apply one layer.
    pub fn add(&mut self, layer: &Layer) -> Result<()> {
        match layer {
            Layer::Ref(rev) => self.add_ref(rev).map_err(|e| e.context(format!("layer ref={rev}"))),
            Layer::Dir(path) => self.with_pool(|b, pool| b.add_dir(path, pool)).map_err(|e| e.context(format!("layer dir={}", path.display()))),
            Layer::Tar(path) => self.with_pool(|b, pool| b.add_tar(path, pool)).map_err(|e| e.context(format!("layer tar={}", path.display()))),
        }
    }

    fn with_pool(&mut self, f: impl FnOnce(&mut Self, &mut Pool) -> Result<()>) -> Result<()> {
        let n = self.threads();
        let (job_tx, job_rx) = mpsc::sync_channel::<Vec<Job>>(n * 4);
        let (res_tx, res_rx) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let txn = self.txn;
        let modifier = self.opts.modifier.clone();
        let devino = self.devino.clone();
        std::thread::scope(|s| {
            for _ in 0..n {
                let job_rx = Arc::clone(&job_rx);
                let res_tx = res_tx.clone();
                let modifier = modifier.clone();
                let devino = devino.clone();
                s.spawn(move || {
                    let mut buf = Vec::new();
                    loop {
                        let jobs = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(jobs) = jobs else { return };
                        let results: Vec<_> = jobs.into_iter().map(|job| process_job(txn, &modifier, devino.as_deref(), job, &mut buf)).collect();
                        if res_tx.send(results).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(res_tx);
            let mut pool = Pool { tx: Some(job_tx), results: res_rx, batch: Vec::with_capacity(BATCH), pending: 0 };
            let walked = f(self, &mut pool).and_then(|()| self.flush(&mut pool));
            // Close the queue, then collect every outstanding result.
            pool.tx = None;
            let mut first_err = walked.err();
            while pool.pending > 0 {
                match pool.results.recv() {
                    Ok(batch) => {
                        for (slot, r) in batch {
                            pool.pending -= 1;
                            match r {
                                Ok(c) => self.results.set(slot as usize, c),
                                Err(e) => {
                                    first_err.get_or_insert(e);
                                }
                            }
                        }
                    }
                    Err(_) => break,
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    fn submit(&mut self, pool: &mut Pool, job: Job) -> Result<()> {
        pool.batch.push(job);
        pool.pending += 1;
        if pool.batch.len() >= BATCH {
            self.flush(pool)?;
        }
        Ok(())
    }

    /// Hand the current batch to the workers; collect finished results.
    fn flush(&mut self, pool: &mut Pool) -> Result<()> {
        while let Ok(batch) = pool.results.try_recv() {
            for (slot, r) in batch {
                pool.pending -= 1;
                self.results.set(slot as usize, r?);
            }
        }
        if pool.batch.is_empty() {
            return Ok(());
        }
        let jobs = std::mem::replace(&mut pool.batch, Vec::with_capacity(BATCH));
        let tx = pool.tx.as_ref().ok_or_else(|| Error::Invalid("worker pool closed".into()))?;
        tx.send(jobs).map_err(|_| Error::Invalid("worker threads exited".into()))?;
        Ok(())
    }

    // ---- dir layer ----

    fn add_dir(&mut self, path: &Path, pool: &mut Pool) -> Result<()> {
        // The root may be given through a symlink; everything below is not followed.
        let root_fd = open_dir(path, true)?;
        let mut root = std::mem::take(&mut self.root);
        let r = self.walk_dir(&mut root, path, "", root_fd, pool);
        self.root = root;
        r
    }

    /// `rel` is the directory's path in the commit: "" for the root, else "/a/b".
    fn walk_dir(&mut self, node: &mut MTree, path: &Path, rel: &str, fd: OwnedFd, pool: &mut Pool) -> Result<()> {
        let st = nix::sys::stat::fstat(&fd).at(path)?;
        let mut xattrs = if self.opts.modifier.no_xattrs { Vec::new() } else { read_xattrs(xattr::Target::Fd(fd.as_fd())).at(path)? };
        let (mut uid, mut gid, mut mode) = (st.st_uid, st.st_gid, st.st_mode);
        self.opts.modifier.apply_path(if rel.is_empty() { "/" } else { rel }, &mut mode);
        self.opts.modifier.apply(&mut uid, &mut gid, &mut mode, &mut xattrs);
        let meta = self.write_dirmeta(DirMeta { uid, gid, mode, xattrs })?;
        node.set_meta(meta);
        let dir = Arc::new(fd);
        let dir_path = Arc::new(path.to_path_buf());
        let rel_dir = Arc::new(rel.to_string());
        let mut subdirs = Vec::new();
        for e in fs::read_dir(path).at(path)? {
            let e = e.at(path)?;
            let name_os = e.file_name();
            // ostree's words: scripts grep "Invalid UTF-8 in filename".
            let name = name_os.to_str().ok_or_else(|| Error::Invalid(format!("Invalid UTF-8 in filename {}", e.path().display())))?.to_string();
            if self.opts.modifier.skips(&format!("{rel}/{name}")) {
                continue;
            }
            let mut ft = e.file_type().at(&e.path())?;
            if !(ft.is_dir() || ft.is_file() || ft.is_symlink()) {
                // d_type may be DT_UNKNOWN on some filesystems; std falls back
                // to lstat, so what remains is a device, FIFO or socket.
                ft = fs::symlink_metadata(e.path()).at(&e.path())?.file_type();
            }
            if ft.is_dir() {
                subdirs.push(name);
            } else if ft.is_file() || ft.is_symlink() {
                let slot = self.new_slot();
                node.replace_file(self.repo(), &name, FileSlot::Pending(slot))?;
                self.submit(
                    pool,
                    Job::Path {
                        dir: Arc::clone(&dir),
                        dir_path: Arc::clone(&dir_path),
                        rel_dir: Arc::clone(&rel_dir),
                        name: name_os,
                        slot,
                        is_link: ft.is_symlink(),
                    },
                )?;
            } else {
                return Err(Error::Unsupported {
                    path: e.path(),
                    what: "not a regular file, symlink or directory (device nodes, FIFOs and sockets cannot be committed)".into(),
                });
            }
        }
        // The repository's own scratch directory (when committing a tree
        // that holds the repository, as `commit -b x` in it does) changes
        // under the walk: this commit's objects pass through it.
        let scratch = fs::metadata(self.repo().path().join("tmp")).ok().map(|m| (m.dev(), m.ino()));
        for name in subdirs {
            let child_path = path.join(&name);
            let child_fd = open_dir_at(&dir, &name, &child_path)?;
            let cst = nix::sys::stat::fstat(&child_fd).at(&child_path)?;
            // st_ino is 32-bit in 32-bit glibc's struct stat.
            #[allow(clippy::useless_conversion)]
            let here = (cst.st_dev, u64::from(cst.st_ino));
            if scratch == Some(here) {
                continue;
            }
            let child = node.ensure_dir(self.repo(), &name)?;
            self.walk_dir(child, &child_path, &format!("{rel}/{name}"), child_fd, pool)?;
        }
        Ok(())
    }

    // ---- ref layer ----

    /// `commit --base=REV`: start from REV's tree as it is; unlike a ref
    /// layer the modifier does not apply to it (ostree fills the tree
    /// straight from the dirtree).
    pub fn add_base(&mut self, rev: &str) -> Result<()> {
        let repo = self.repo();
        let commit = repo.resolve_rev(rev).and_then(|c| repo.load_commit(&c)).map_err(|e| e.context(format!("base {rev}")))?;
        let mut root = std::mem::take(&mut self.root);
        let r = merge_tree(repo, &mut root, commit.root_tree, commit.root_meta);
        self.root = r.map(|()| root)?;
        Ok(())
    }

    fn add_ref(&mut self, rev: &str) -> Result<()> {
        let repo = self.repo();
        let csum = repo.resolve_rev(rev)?;
        let commit = repo.load_commit(&csum)?;
        let mut root = std::mem::take(&mut self.root);
        let r = if self.opts.modifier.is_active() {
            self.rewrite_tree(&mut root, &commit.root_tree, &commit.root_meta)
        } else {
            merge_tree(repo, &mut root, commit.root_tree, commit.root_meta)
        };
        self.root = r.map(|()| root)?;
        Ok(())
    }

    /// A ref layer under an active modifier: every entry is rewritten.
    fn rewrite_tree(&mut self, node: &mut MTree, tree: &Checksum, meta: &Checksum) -> Result<()> {
        let repo = self.repo();
        let mut dm = repo.load_dirmeta(meta)?;
        self.opts.modifier.apply(&mut dm.uid, &mut dm.gid, &mut dm.mode, &mut dm.xattrs);
        let m = self.write_dirmeta(dm)?;
        node.set_meta(m);
        let dt = repo.load_dirtree(tree)?;
        let mut buf = Vec::new();
        for (name, c) in dt.files {
            let (mut fm, content) = repo.load_file(&c)?;
            let orig = fm.clone();
            self.opts.modifier.apply(&mut fm.uid, &mut fm.gid, &mut fm.mode, &mut fm.xattrs);
            let new = if fm == orig {
                c
            } else {
                match content {
                    Content::Symlink => self.txn.write_content(&fm, ContentSource::Bytes(&[]), &mut buf)?,
                    Content::Regular(mut r, _) => {
                        let mut data = Vec::new();
                        r.read_to_end(&mut data).map_err(|e| Error::io(repo.object_path(&c, ObjectType::File), e))?;
                        self.txn.write_content(&fm, ContentSource::Bytes(&data), &mut buf)?
                    }
                }
            };
            node.replace_file(repo, &name, FileSlot::Done(Box::new(new)))?;
        }
        for (name, t, m) in dt.dirs {
            let child = node.ensure_dir(repo, &name)?;
            self.rewrite_tree(child, &t, &m)?;
        }
        Ok(())
    }

    // ---- tar layer ----

    fn add_tar(&mut self, path: &Path, pool: &mut Pool) -> Result<()> {
        let input: Box<dyn Read> = if path == Path::new("-") { Box::new(io::stdin().lock()) } else { Box::new(File::open(path).at(path)?) };
        let mut input = io::BufReader::with_capacity(256 * 1024, input);
        let magic = io::BufRead::fill_buf(&mut input).at(path)?;
        let mut reader: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) { Box::new(flate2::read::MultiGzDecoder::new(input)) } else { Box::new(input) };
        // Like libarchive, tell tar from cpio by the (decompressed) magic.
        let mut head = [0u8; 6];
        let got = read_up_to(&mut reader, &mut head).at(path)?;
        let reader: Box<dyn Read> = Box::new(io::Cursor::new(head[..got].to_vec()).chain(reader));
        let mut root = std::mem::take(&mut self.root);
        let r = if archive::is_cpio_newc(&head[..got]) {
            self.import_members(&mut root, &mut archive::CpioMembers::new(reader), path, pool)
        } else {
            let mut ar = tar::Archive::new(reader);
            archive::TarMembers::new(&mut ar).and_then(|mut m| self.import_members(&mut root, &mut m, path, pool))
        };
        self.root = root;
        r
    }

    fn import_members(&mut self, root: &mut MTree, members: &mut dyn archive::Members, tar_path: &Path, pool: &mut Pool) -> Result<()> {
        let repo = self.repo();
        let bad = |what: String| Error::Invalid(format!("{}: {what}", tar_path.display()));
        // target path -> [(parent components, name, size)]
        let mut deferred: BTreeMap<String, Vec<(Vec<String>, String, u64)>> = BTreeMap::new();
        let mut imported_any_root = false;
        while let Some(m) = members.next_member().map_err(|e| e.context(tar_path.display().to_string()))? {
            let raw_path = m.path;
            let rel = tar_relative(&raw_path).map_err(|e| bad(format!("entry {raw_path:?}: {e}")))?;
            let rename = |p: String| match &self.opts.tar_pathname_filter {
                Some(f) => f.apply(p),
                None => p,
            };
            // ostree matches the filter before a directory's trailing '/' goes
            // ("^usr/bin/" renames the usr/bin/ entry itself).
            let rel =
                if raw_path.ends_with('/') && !rel.is_empty() && self.opts.tar_pathname_filter.is_some() { rename(format!("{rel}/")) } else { rename(rel) };
            let components: Vec<String> = split_validate(&rel).map_err(|e| bad(format!("entry {raw_path:?}: {e}")))?;
            let (mut uid, mut gid, perm) = (m.uid, m.gid, m.perm);
            let hardlink = if let archive::Kind::Hardlink(t) = &m.kind {
                Some(split_validate(&rename(tar_relative(t).map_err(|e| bad(e.to_string()))?)).map_err(|e| bad(e.to_string()))?.join("/"))
            } else {
                None
            };
            let mut mode = match &m.kind {
                archive::Kind::Dir => S_IFDIR | perm,
                archive::Kind::Symlink(_) => S_IFLNK | perm,
                archive::Kind::Regular | archive::Kind::Hardlink(_) => S_IFREG | perm,
                archive::Kind::Other(what) => {
                    return Err(Error::Unsupported {
                        path: PathBuf::from(&raw_path),
                        what: format!("{what} (device nodes, FIFOs and sockets cannot be committed)"),
                    })
                }
            };
            let rel = components.join("/");
            let commit_path = format!("/{rel}");
            if !rel.is_empty() && self.opts.modifier.skips(&commit_path) {
                continue;
            }
            let mut xattrs = if self.opts.modifier.no_xattrs { Vec::new() } else { m.xattrs };
            self.opts.modifier.apply_path(&commit_path, &mut mode);
            self.opts.modifier.apply(&mut uid, &mut gid, &mut mode, &mut xattrs);
            let (parent_components, name) = match components.split_last() {
                Some((n, p)) => (p.to_vec(), n.clone()),
                None => (Vec::new(), String::new()),
            };
            // Find (or create) the parent directory.
            let parent = match walk_or_create(repo, root, &parent_components, self.opts.tar_autocreate_parents, uid, gid, &mut |m| self.dirmeta_cache_write(m))
            {
                Ok(p) => p,
                Err(e) => return Err(bad(format!("entry {raw_path:?}: {e}"))),
            };
            if mode & S_IFMT == S_IFDIR {
                let meta = self.write_dirmeta(DirMeta { uid, gid, mode, xattrs })?;
                let dir = if name.is_empty() {
                    imported_any_root = true;
                    parent
                } else {
                    parent.ensure_dir(repo, &name)?
                };
                dir.set_meta(meta);
                continue;
            }
            if name.is_empty() {
                return Err(bad(format!("entry {raw_path:?}: the root must be a directory")));
            }
            let size = m.data.len() as u64;
            if hardlink.is_some() && size == 0 {
                // Resolved after the whole archive, like libostree.
                if let Some(t) = hardlink {
                    deferred.entry(t).or_default().push((parent_components, name, 0));
                }
                continue;
            }
            let target = if let archive::Kind::Symlink(t) = m.kind { t } else { String::new() };
            let meta = FileMeta { uid, gid, mode, symlink_target: target, xattrs };
            meta.validate().map_err(|e| bad(format!("entry {raw_path:?}: {e}")))?;
            let slot = self.new_slot();
            parent.replace_file(repo, &name, FileSlot::Pending(slot))?;
            let data = m.data;
            if let Some(t) = hardlink {
                deferred.entry(t).or_default().push((parent_components, name, size));
            }
            self.submit(pool, Job::Data { meta, data, slot, path: raw_path })?;
        }
        if !deferred.is_empty() {
            self.resolve_deferred_hardlinks(root, deferred, pool)?;
        }
        if self.opts.tar_autocreate_parents && root.meta.is_none() && !imported_any_root {
            let (mut uid, mut gid, mut mode, mut x) = (0, 0, S_IFDIR | 0o755, Vec::new());
            self.opts.modifier.apply(&mut uid, &mut gid, &mut mode, &mut x);
            let m = self.write_dirmeta(DirMeta { uid, gid, mode, xattrs: x })?;
            root.set_meta(m);
        }
        Ok(())
    }

    fn dirmeta_cache_write(&mut self, m: DirMeta) -> Result<Checksum> {
        self.write_dirmeta(m)
    }

    fn resolve_deferred_hardlinks(&mut self, root: &mut MTree, deferred: BTreeMap<String, Vec<(Vec<String>, String, u64)>>, pool: &mut Pool) -> Result<()> {
        let repo = self.repo();
        // Payload checksums must be known: wait for the workers.
        self.drain(pool)?;
        for (target, links) in deferred {
            let comps: Vec<&str> = target.split('/').collect();
            let Some((tname, tparent)) = comps.split_last() else { continue };
            // A link that carried data (cpio style) defines the target's content.
            if let Some((p, n, _)) = links.iter().find(|(_, _, size)| *size > 0) {
                let pc: Vec<&str> = p.iter().map(String::as_str).collect();
                let slot = root.walk_mut(repo, &pc)?.lookup_file(n).ok_or_else(|| Error::Invalid(format!("hardlink {n} vanished")))?;
                root.walk_mut(repo, tparent)?.replace_file(repo, tname, slot)?;
            }
            let parent = root.walk_mut(repo, tparent).map_err(|e| e.context(format!("hardlink target {target}")))?;
            if parent.dirs.contains_key(*tname) {
                return Err(Error::Invalid(format!("Expected hardlink file target at \"{target}\" but found a directory")));
            }
            let slot = parent.lookup_file(tname).ok_or_else(|| Error::Invalid(format!("hardlink target {target} not found in archive")))?;
            for (p, n, _) in links {
                let pc: Vec<&str> = p.iter().map(String::as_str).collect();
                root.walk_mut(repo, &pc)?.replace_file(repo, &n, slot.clone())?;
            }
        }
        Ok(())
    }

    fn drain(&mut self, pool: &mut Pool) -> Result<()> {
        self.flush(pool)?;
        while pool.pending > 0 {
            let batch = pool.results.recv().map_err(|_| Error::Invalid("worker threads exited".into()))?;
            for (slot, r) in batch {
                pool.pending -= 1;
                self.results.set(slot as usize, r?);
            }
        }
        Ok(())
    }

    /// The kernel release for `commit --bootable`: the one directory under
    /// usr/lib/modules holding a `vmlinuz` (ostree's
    /// `ostree_commit_metadata_for_bootable`, same errors).
    pub fn linux_release(&mut self) -> Result<String> {
        let repo = self.txn.repo();
        let mut modules = &mut self.root;
        for c in ["usr", "lib", "modules"] {
            modules.expand(repo)?;
            modules = modules.dirs.get_mut(c).ok_or_else(|| Error::Invalid("Opening usr/lib/modules: No such file or directory".into()))?;
        }
        modules.expand(repo)?;
        let mut release = None;
        for (name, dir) in &mut modules.dirs {
            dir.expand(repo)?;
            if dir.files.contains_key("vmlinuz") || dir.dirs.contains_key("vmlinuz") {
                if release.is_some() {
                    return Err(Error::Invalid("Multiple kernels found in /usr/lib/modules".into()));
                }
                release = Some(name.clone());
            }
        }
        release.ok_or_else(|| Error::Invalid("No kernel found in /usr/lib/modules".into()))
    }

    /// Write all dirtrees; returns (root dirtree, root dirmeta).
    pub fn finish(self) -> Result<(Checksum, Checksum)> {
        let TreeBuilder { txn, root, results, .. } = self;
        write_mtree(txn, &root, &results, "/")
    }
}

/// Fill `node` from an existing tree without modifiers (ostree's
/// `write_directory_to_mtree` with a repo file): empty nodes become lazy.
fn merge_tree(repo: &Repo, node: &mut MTree, tree: Checksum, meta: Checksum) -> Result<()> {
    if node.is_empty() {
        node.lazy = Some(tree);
        node.meta = Some(meta);
        return Ok(());
    }
    node.set_meta(meta);
    let dt = repo.load_dirtree(&tree)?;
    for (name, c) in dt.files {
        node.replace_file(repo, &name, FileSlot::Done(Box::new(c)))?;
    }
    for (name, t, m) in dt.dirs {
        let child = node.ensure_dir(repo, &name)?;
        merge_tree(repo, child, t, m)?;
    }
    Ok(())
}

fn walk_or_create<'a>(
    repo: &Repo,
    root: &'a mut MTree,
    components: &[String],
    autocreate: bool,
    uid: u32,
    gid: u32,
    write_meta: &mut dyn FnMut(DirMeta) -> Result<Checksum>,
) -> Result<&'a mut MTree> {
    let mut missing = None;
    {
        let mut cur = &mut *root;
        for c in components {
            cur.expand(repo)?;
            if cur.files.contains_key(c.as_str()) {
                return Err(Error::Invalid(format!("parent {c} is not a directory")));
            }
            match cur.dirs.get_mut(c.as_str()) {
                Some(d) => cur = d,
                None => {
                    missing = Some(c.clone());
                    break;
                }
            }
        }
    }
    let Some(missing) = missing else {
        return root.walk_mut(repo, &components.iter().map(String::as_str).collect::<Vec<_>>());
    };
    if !autocreate {
        return Err(Error::Invalid(format!("parent directory {missing} does not exist (use --tar-autocreate-parents)")));
    }
    // Like libostree: the root and every parent get default metadata owned
    // by the entry's owner, whether they existed or not.
    let m = write_meta(DirMeta { uid, gid, mode: S_IFDIR | 0o755, xattrs: Vec::new() })?;
    let mut cur = root;
    cur.set_meta(m);
    for c in components {
        cur = cur.ensure_dir(repo, c)?;
        cur.set_meta(m);
    }
    Ok(cur)
}

/// Fill `buf` as far as `r` goes (a short archive is not an error here).
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// libostree's `path_relative`: strip leading `/`, `/../`, `./`.
fn tar_relative(src: &str) -> std::result::Result<String, &'static str> {
    let mut s = src;
    while let Some(rest) = s.strip_prefix('/') {
        s = rest;
        if let Some(r) = s.strip_prefix("../") {
            s = &s[s.len() - r.len() - 1..];
        }
    }
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    if s == "." {
        s = "";
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// `ot_util_path_split_validate`: drop `.` and empty components, refuse `..`.
fn split_validate(path: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("Invalid uplink '..' in path {path}")),
            c => {
                crate::object::validate_filename(c).map_err(|e| e.to_string())?;
                out.push(c.to_string());
            }
        }
    }
    Ok(out)
}

fn open_dir(path: &Path, follow: bool) -> Result<OwnedFd> {
    let mut flags = libc_flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
    if !follow {
        flags |= OFlag::O_NOFOLLOW.bits();
    }
    let f = fs::OpenOptions::new().read(true).custom_flags(flags).open(path).at(path)?;
    Ok(OwnedFd::from(f))
}

fn libc_flags(f: OFlag) -> i32 {
    f.bits()
}

fn open_dir_at(parent: &OwnedFd, name: &str, full: &Path) -> Result<OwnedFd> {
    nix::fcntl::openat(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()).at(full)
}

fn process_job(txn: &Transaction<'_>, modifier: &Modifier, devino: Option<&DevIno>, job: Job, buf: &mut Vec<u8>) -> JobResult {
    txn.stats.content_total.fetch_add(1, Ordering::Relaxed);
    match job {
        Job::Data { meta, data, slot, path } => {
            let r = txn.write_content(&meta, ContentSource::Bytes(&data), buf).map_err(|e| e.context(format!("tar entry {path}")));
            (slot, r)
        }
        Job::Path { dir, dir_path, rel_dir, name, slot, is_link } => {
            let full = dir_path.join(&name);
            let rel = format!("{rel_dir}/{}", name.to_string_lossy());
            let r = process_path(txn, modifier, devino, &dir, &name, &full, &rel, is_link, buf).map_err(|e| e.context(format!("{}", full.display())));
            (slot, r)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn process_path(
    txn: &Transaction<'_>,
    modifier: &Modifier,
    devino: Option<&DevIno>,
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    full: &Path,
    rel: &str,
    is_link: bool,
    buf: &mut Vec<u8>,
) -> Result<Checksum> {
    let repo = txn.repo();
    if is_link {
        let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).at(full)?;
        if st.st_mode & S_IFMT != S_IFLNK {
            return Err(Error::Invalid("changed type while being committed".into()));
        }
        // st_ino is 32-bit in 32-bit glibc's struct stat.
        #[allow(clippy::useless_conversion)]
        let key = (st.st_dev, u64::from(st.st_ino));
        if let Some(c) = devino.and_then(|d| d.get(&key)) {
            if !modifier.is_active() || modifier.devino_canonical {
                txn.stats.devino_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(*c);
            }
        }
        let target = nix::fcntl::readlinkat(dir, name).at(full)?;
        let target = target.into_string().map_err(|_| Error::Invalid("symlink target is not valid UTF-8".into()))?;
        let mut xattrs = if modifier.no_xattrs { Vec::new() } else { read_xattrs(xattr::Target::Path(full)).at(full)? };
        let (mut uid, mut gid, mut mode) = (st.st_uid, st.st_gid, st.st_mode);
        modifier.apply_path(rel, &mut mode);
        modifier.apply(&mut uid, &mut gid, &mut mode, &mut xattrs);
        let meta = FileMeta { uid, gid, mode, symlink_target: target, xattrs };
        return txn.write_content(&meta, ContentSource::Bytes(&[]), buf);
    }
    let fd = nix::fcntl::openat(dir, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()).at(full)?;
    let mut file = File::from(fd);
    let st = file.metadata().at(full)?;
    if !st.file_type().is_file() {
        return Err(Error::Invalid("changed type while being committed".into()));
    }
    if let Some(c) = devino.and_then(|d| d.get(&(st.dev(), st.ino()))) {
        if !modifier.is_active() || modifier.devino_canonical {
            txn.stats.devino_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(*c);
        }
    }
    let mut xattrs = if modifier.no_xattrs { Vec::new() } else { read_xattrs(xattr::Target::Fd(file.as_fd())).at(full)? };
    let (mut uid, mut gid, mut mode) = (st.uid(), st.gid(), st.mode());
    if repo.mode() == RepoMode::BareUser && devino.is_some_and(|d| d.contains_key(&(st.dev(), st.ino()))) {
        // A hardlink into a bare-user repo carries the real metadata in user.ostreemeta.
        if let Some(raw) = xattr::get(xattr::Target::Fd(file.as_fd()), b"user.ostreemeta").at(full)? {
            let m = FileMeta::from_bareuser_bytes(&raw)?;
            (uid, gid, mode, xattrs) = (m.uid, m.gid, m.mode, m.xattrs);
        }
    }
    modifier.apply_path(rel, &mut mode);
    modifier.apply(&mut uid, &mut gid, &mut mode, &mut xattrs);
    let meta = FileMeta { uid, gid, mode, symlink_target: String::new(), xattrs };
    if modifier.consume {
        if let Some(c) = txn.adopt_content(&meta, &file, full, st.len())? {
            return Ok(c);
        }
    }
    txn.write_content(&meta, ContentSource::File(&mut file, st.len()), buf)
}

/// (device, inode) → checksum of every loose `.file` object, from `readdir`
/// alone (one `stat` per fan-out directory for the device).
fn scan_devino(repo: &Repo) -> Result<DevIno> {
    let mut map = HashMap::new();
    let objdir = repo.path().join("objects");
    for e in fs::read_dir(&objdir).at(&objdir)? {
        let e = e.at(&objdir)?;
        let prefix = e.file_name();
        if prefix.len() != 2 {
            continue;
        }
        let sub = e.path();
        let dev = fs::metadata(&sub).at(&sub)?.dev();
        for f in fs::read_dir(&sub).at(&sub)? {
            let f = f.at(&sub)?;
            let name = f.file_name();
            let Some(stem) = name.as_bytes().strip_suffix(b".file") else { continue };
            let Ok(hex) = std::str::from_utf8(stem) else { continue };
            if let Ok(c) = format!("{}{hex}", prefix.to_string_lossy()).parse::<Checksum>() {
                map.insert((dev, std::os::unix::fs::DirEntryExt::ino(&f)), c);
            }
        }
    }
    Ok(map)
}

fn write_mtree(txn: &Transaction<'_>, node: &MTree, results: &Slots, path: &str) -> Result<(Checksum, Checksum)> {
    let meta = node.meta.ok_or_else(|| Error::Invalid(format!("Can't commit an empty tree (no metadata for {path})")))?;
    if let Some(t) = node.lazy {
        return Ok((t, meta));
    }
    let mut dt = DirTree::default();
    for (name, slot) in &node.files {
        let c = match slot {
            FileSlot::Done(c) => **c,
            FileSlot::Pending(i) => results.get(*i).ok_or_else(|| Error::Invalid(format!("no checksum computed for {path}{name}")))?,
        };
        dt.files.push((name.clone(), c));
    }
    for (name, child) in &node.dirs {
        let (t, m) = write_mtree(txn, child, results, &format!("{path}{name}/"))?;
        dt.dirs.push((name.clone(), t, m));
    }
    Ok((txn.write_metadata(ObjectType::DirTree, &dt.to_bytes())?, meta))
}

/// Everything `ostree commit` puts into the commit object.
#[derive(Debug, Clone, Default)]
pub struct CommitSpec {
    pub branch: Option<String>,
    pub subject: String,
    pub body: String,
    /// `--add-metadata-string` pairs in command-line order.
    pub metadata_strings: Vec<(String, String)>,
    /// `--add-metadata` pairs (values from GVariant text), after the strings.
    pub metadata_values: Vec<(String, Value)>,
    /// `--keep-metadata`: keys copied from the parent commit, after those.
    pub keep_metadata: Vec<String>,
    /// Explicit parent; `None` with `parent_none == false` means "the branch's current commit".
    pub parent: Option<Checksum>,
    pub parent_none: bool,
    pub orphan: bool,
    pub no_bindings: bool,
    pub bind_refs: Vec<String>,
    /// Seconds since the epoch; `None` = `SOURCE_DATE_EPOCH` or now.
    pub timestamp: Option<u64>,
    /// Write nothing if the tree is the parent's.
    pub skip_if_unchanged: bool,
    /// `--bootable`: add `ostree.bootable` and `ostree.linux`; fail without a kernel.
    pub bootable: bool,
    /// `--generate-sizes`: add `ostree.sizes` (archive repositories only).
    pub generate_sizes: bool,
    /// `--base`: the layers go on top of this commit's tree.
    pub base: Option<String>,
}

/// Timestamp as ostree picks it: explicit, else `SOURCE_DATE_EPOCH`, else now.
pub fn default_timestamp() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => {
            let digits: String = v.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '+').collect();
            // ostree's words (g_ascii_strtoull's ERANGE) for a number too large.
            digits.parse::<i64>().map(|n| n as u64).map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    Error::Invalid("Parsing SOURCE_DATE_EPOCH: Numerical result out of range".into())
                }
                _ => Error::Invalid(format!("Failed to convert SOURCE_DATE_EPOCH {v:?}")),
            })
        }
        Err(_) => Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
    }
}

/// Result of [`commit`].
#[derive(Debug, Clone)]
pub struct CommitResult {
    pub checksum: Checksum,
    /// `skip_if_unchanged` found the parent's tree: `checksum` is the parent.
    pub skipped: bool,
    pub metadata_total: u64,
    pub content_total: u64,
    pub content_written: u64,
    pub content_bytes_written: u64,
    pub metadata_written: u64,
    pub devino_hits: u64,
}

/// `ostree commit`: build the tree from `layers`, write the commit, move the
/// branch. The ref moves only after every object is durable.
pub fn commit(repo: &Repo, spec: &CommitSpec, layers: &[Layer], opts: TreeOptions) -> Result<CommitResult> {
    if spec.branch.is_none() && !spec.orphan {
        return Err(Error::Invalid("A branch must be specified with --branch, or use --orphan".into()));
    }
    let branch = spec.branch.as_deref().map(RefName::parse).transpose()?;
    let parent = if spec.parent_none {
        None
    } else if let Some(p) = spec.parent {
        Some(p)
    } else if let (Some(b), false) = (&branch, spec.orphan) {
        repo.read_ref(b)?
    } else {
        None
    };
    let timestamp = match spec.timestamp {
        Some(t) => t,
        None => default_timestamp()?,
    };
    let txn = repo.begin()?;
    // A failed commit throws its staged objects away: nothing half-written
    // stays behind (a pull, unlike a commit, keeps them to resume).
    let built = build_commit(&txn, repo, spec, layers, opts, parent, timestamp);
    let result = match built {
        Ok(r) => r,
        Err(e) => {
            if let Err(abort_err) = txn.abort() {
                log::warn!("cleaning up after a failed commit: {abort_err}");
            }
            return Err(e);
        }
    };
    txn.commit()?;
    if result.skipped {
        return Ok(result);
    }
    if let (Some(b), false) = (&branch, spec.orphan) {
        repo.set_ref_by_commit(b, &result.checksum)?;
    }
    Ok(result)
}

/// `ostree.sizes`: for every object of the tree (each once, sorted by
/// checksum), `checksum ‖ varint(stored) ‖ varint(unpacked) ‖ type`, as
/// libostree's add_size_index_to_metadata.
fn sizes_index(txn: &Transaction<'_>, root_tree: &Checksum, root_meta: &Checksum) -> Result<Value> {
    let mut objects = BTreeMap::new();
    let mut trees = vec![*root_tree];
    objects.insert(*root_meta, ObjectType::DirMeta);
    while let Some(t) = trees.pop() {
        if objects.insert(t, ObjectType::DirTree).is_some() {
            continue;
        }
        let dt = DirTree::from_bytes(&txn.load_metadata(ObjectType::DirTree, &t)?)?;
        for (_, c) in &dt.files {
            objects.insert(*c, ObjectType::File);
        }
        for (_, t, m) in &dt.dirs {
            objects.insert(*m, ObjectType::DirMeta);
            trees.push(*t);
        }
    }
    let mut entries = Vec::with_capacity(objects.len());
    for (c, ty) in objects {
        let (stored, unpacked) = txn.object_sizes(&c, ty)?;
        let mut e = c.0.to_vec();
        write_varuint(&mut e, stored);
        write_varuint(&mut e, unpacked);
        e.push(ty as u8);
        entries.push(Value::Bytes(e));
    }
    Ok(Value::Array(crate::gvariant::Type::Array(Box::new(crate::gvariant::Type::Byte)), entries))
}

/// Protobuf-style unsigned varint (libostree's _ostree_write_varuint64).
fn write_varuint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn build_commit(
    txn: &Transaction<'_>,
    repo: &Repo,
    spec: &CommitSpec,
    layers: &[Layer],
    opts: TreeOptions,
    parent: Option<Checksum>,
    timestamp: u64,
) -> Result<CommitResult> {
    let statoverride = opts.modifier.statoverride.clone();
    let mut builder = TreeBuilder::new(txn, opts)?;
    if let Some(b) = &spec.base {
        builder.add_base(b)?;
    }
    let default_layers;
    let layers = if layers.is_empty() {
        default_layers = [Layer::Dir(".".into())];
        &default_layers[..]
    } else {
        layers
    };
    for l in layers {
        builder.add(l)?;
    }
    let linux = if spec.bootable { Some(builder.linux_release()?) } else { None };
    let (root_tree, root_meta) = builder.finish()?;
    if let Some(so) = &statoverride {
        let unmatched = so.unmatched();
        if !unmatched.is_empty() {
            return Err(Error::UnmatchedStatOverride { paths: unmatched });
        }
    }
    if let (true, Some(p)) = (spec.skip_if_unchanged, parent) {
        let pc = repo.load_commit(&p)?;
        if (pc.root_tree, pc.root_meta) == (root_tree, root_meta) {
            let r = CommitResult {
                checksum: p,
                skipped: true,
                metadata_total: 0,
                content_total: 0,
                content_written: 0,
                content_bytes_written: 0,
                metadata_written: 0,
                devino_hits: 0,
            };
            return Ok(r);
        }
    }
    let mut metadata: Vec<(String, Value)> = spec.metadata_strings.iter().map(|(k, v)| (k.clone(), build::s(v.as_str()))).collect();
    metadata.extend(spec.metadata_values.iter().cloned());
    if !spec.keep_metadata.is_empty() {
        let p = parent.ok_or_else(|| Error::Invalid("Either --branch or --parent must be specified when using --keep-metadata".into()))?;
        let pc = repo.load_commit(&p)?;
        for key in &spec.keep_metadata {
            let v = pc.meta(key).ok_or_else(|| Error::Invalid(format!("Missing metadata key '{key}' from commit '{p}'")))?;
            metadata.push((key.clone(), v.clone()));
        }
    }
    if let Some(release) = linux {
        metadata.push(("ostree.bootable".to_string(), Value::Bool(true)));
        metadata.push(("ostree.linux".to_string(), build::s(&release)));
    }
    if !spec.no_bindings {
        let mut refs: Vec<&str> = spec.branch.iter().map(String::as_str).chain(spec.bind_refs.iter().map(String::as_str)).collect();
        refs.sort_unstable();
        metadata.push(("ostree.ref-binding".to_string(), build::strv(&refs)));
        if let Some(cid) = repo.config().get("core", "collection-id") {
            if !metadata.iter().any(|(k, _)| k == "ostree.collection-binding") {
                metadata.push(("ostree.collection-binding".to_string(), build::s(cid)));
            }
        }
    }
    if spec.generate_sizes && repo.mode() == RepoMode::Archive {
        metadata.push(("ostree.sizes".to_string(), sizes_index(txn, &root_tree, &root_meta)?));
    }
    let c = Commit { metadata, parent, subject: spec.subject.clone(), body: spec.body.clone(), timestamp, root_tree, root_meta };
    let checksum = txn.write_metadata(ObjectType::Commit, &c.to_bytes())?;
    let s = &txn.stats;
    let result = CommitResult {
        checksum,
        skipped: false,
        metadata_total: s.metadata_total.load(Ordering::Relaxed),
        content_total: s.content_total.load(Ordering::Relaxed),
        content_written: s.content_written.load(Ordering::Relaxed),
        content_bytes_written: s.content_bytes_written.load(Ordering::Relaxed),
        metadata_written: s.metadata_written.load(Ordering::Relaxed),
        devino_hits: s.devino_hits.load(Ordering::Relaxed),
    };
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_entries_round_trip() {
        for v in [0u64, 1, 127, 128, 144, 300_000, u64::MAX] {
            let mut b = Vec::new();
            write_varuint(&mut b, v);
            let mut r = &b[..];
            assert_eq!(read_varuint(&mut r), Some(v));
            assert!(r.is_empty());
        }
        // libostree's bytes for 144 (a dirtree entry of a real commit).
        let mut b = Vec::new();
        write_varuint(&mut b, 144);
        assert_eq!(b, [0x90, 0x01]);
        let mut r: &[u8] = &[0x80; 11];
        assert_eq!(read_varuint(&mut r), None, "longer than 64 bits");
        let mut e = [3u8; 32].to_vec();
        e.extend_from_slice(&[0x2a, 0x06, 0x01]);
        let mut old = [4u8; 32].to_vec();
        old.extend_from_slice(&[0x05, 0x05]);
        let ay = || crate::gvariant::Type::Array(Box::new(crate::gvariant::Type::Byte));
        let commit = |metadata| Commit {
            metadata,
            parent: None,
            subject: String::new(),
            body: String::new(),
            timestamp: 0,
            root_tree: Checksum([0; 32]),
            root_meta: Checksum([0; 32]),
        };
        let c = commit(vec![("ostree.sizes".into(), Value::Array(ay(), vec![Value::Bytes(e), Value::Bytes(old)]))]);
        let got = object_sizes(&c).expect("parse");
        assert_eq!(got[0], SizeEntry { checksum: Checksum([3; 32]), ty: ObjectType::File, stored: 42, unpacked: 6 });
        assert_eq!(got[1], SizeEntry { checksum: Checksum([4; 32]), ty: ObjectType::File, stored: 5, unpacked: 5 });
        let short = commit(vec![("ostree.sizes".into(), Value::Array(ay(), vec![Value::Bytes(vec![1; 33])]))]);
        assert!(object_sizes(&short).is_err(), "no unpacked size");
        assert!(object_sizes(&commit(Vec::new())).is_err(), "no key");
    }

    #[test]
    fn tar_paths_like_libostree() {
        assert_eq!(tar_relative("./usr/bin/").as_deref(), Ok("usr/bin"));
        assert_eq!(tar_relative("/../../etc/passwd").as_deref(), Ok("etc/passwd"));
        assert_eq!(tar_relative(".").as_deref(), Ok(""));
        assert_eq!(tar_relative("./").as_deref(), Ok(""));
        assert!(split_validate("usr/../../etc").is_err());
        assert_eq!(split_validate("a/./b//c").expect("valid"), vec!["a", "b", "c"]);
    }

    #[test]
    fn layer_specs() {
        assert_eq!(Layer::parse("dir=/x").expect("dir"), Layer::Dir("/x".into()));
        assert_eq!(Layer::parse("ref=os/main").expect("ref"), Layer::Ref("os/main".into()));
        assert!(Layer::parse("zip=x").is_err());
        assert!(Layer::parse("nothing").is_err());
    }
}

/// `ostree checksum PATH`: the object checksum `path` would get if
/// committed as is — a content checksum for a file or symlink, a dirmeta
/// checksum for a directory. Symlinks are not followed.
pub fn checksum_path(path: &Path, ignore_xattrs: bool) -> Result<Checksum> {
    checksum_path_as(path, ignore_xattrs, None, None)
}

/// [`checksum_path`] as if the file belonged to `uid`/`gid` where given
/// (`diff --owner-uid`, `--owner-gid`).
pub fn checksum_path_as(path: &Path, ignore_xattrs: bool, uid: Option<u32>, gid: Option<u32>) -> Result<Checksum> {
    let st = fs::symlink_metadata(path).at(path)?;
    let (uid, gid) = (uid.unwrap_or(st.uid()), gid.unwrap_or(st.gid()));
    let xattrs = |t: xattr::Target<'_>| -> Result<Xattrs> {
        if ignore_xattrs {
            return Ok(Vec::new());
        }
        crate::object::canonical_xattrs(read_xattrs(t).at(path)?)
    };
    let ft = st.file_type();
    if ft.is_dir() {
        let dm = DirMeta { uid, gid, mode: st.mode(), xattrs: xattrs(xattr::Target::Path(path))? };
        return Ok(Checksum::of(&dm.to_bytes()));
    }
    if ft.is_symlink() {
        let target = fs::read_link(path).at(path)?;
        let target = target.into_os_string().into_string().map_err(|_| Error::Invalid("symlink target is not valid UTF-8".into()))?;
        let meta = FileMeta { uid, gid, mode: st.mode(), symlink_target: target, xattrs: xattrs(xattr::Target::Path(path))? };
        return Ok(crate::object::content_checksum(&meta, &[]));
    }
    if !ft.is_file() {
        return Err(Error::Invalid(format!("{}: not a regular file, symlink or directory", path.display())));
    }
    let mut file = fs::OpenOptions::new().read(true).custom_flags(OFlag::O_NOFOLLOW.bits()).open(path).at(path)?;
    let meta = FileMeta { uid, gid, mode: st.mode(), symlink_target: String::new(), xattrs: xattrs(xattr::Target::Fd(file.as_fd()))? };
    let mut h = crate::object::ContentHasher::new(&meta);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// One entry of a commit's `ostree.sizes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeEntry {
    pub checksum: Checksum,
    pub ty: ObjectType,
    /// Bytes in an archive repository (compressed for a file).
    pub stored: u64,
    pub unpacked: u64,
}

/// A commit's `ostree.sizes` (ostree_commit_get_object_sizes).
pub fn object_sizes(c: &Commit) -> Result<Vec<SizeEntry>> {
    let v = c.meta("ostree.sizes").ok_or_else(|| Error::Invalid("No metadata key ostree.sizes in commit".into()))?;
    let bad = |why: &str| Error::Invalid(format!("Invalid ostree.sizes metadata: {why}"));
    let Value::Array(_, items) = v.unvariant() else { return Err(bad("not an array of byte arrays")) };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let b = item.as_bytes().ok_or_else(|| bad("not an array of byte arrays"))?;
        let (csum, mut rest) = b.split_at_checked(32).ok_or_else(|| bad("entry shorter than a checksum"))?;
        let checksum = Checksum::from_slice(csum).ok_or_else(|| bad("entry shorter than a checksum"))?;
        let stored = read_varuint(&mut rest).ok_or_else(|| bad("unexpected end of data reading the archived size"))?;
        let unpacked = read_varuint(&mut rest).ok_or_else(|| bad("unexpected end of data reading the unpacked size"))?;
        // Old commits have no type byte: their entries are content objects.
        let ty = match rest.first() {
            None => ObjectType::File,
            Some(t) => ObjectType::from_u8(*t).ok_or_else(|| bad(&format!("unexpected object type {t}")))?,
        };
        out.push(SizeEntry { checksum, ty, stored, unpacked });
    }
    Ok(out)
}

fn read_varuint(data: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        *data = rest;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Totals over a commit's `ostree.sizes`, and what of it `repo` still lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeSummary {
    pub needed_stored: u64,
    pub total_stored: u64,
    pub needed_unpacked: u64,
    pub total_unpacked: u64,
    pub needed_objects: u64,
    pub total_objects: u64,
}

pub fn size_summary(repo: &Repo, c: &Commit) -> Result<SizeSummary> {
    let mut s = SizeSummary::default();
    let overflow = || Error::Invalid("Invalid ostree.sizes metadata: sizes overflow".into());
    for e in object_sizes(c)? {
        s.total_stored = s.total_stored.checked_add(e.stored).ok_or_else(overflow)?;
        s.total_unpacked = s.total_unpacked.checked_add(e.unpacked).ok_or_else(overflow)?;
        s.total_objects += 1;
        if !repo.has_object(&e.checksum, e.ty) {
            s.needed_stored += e.stored;
            s.needed_unpacked += e.unpacked;
            s.needed_objects += 1;
        }
    }
    Ok(s)
}
