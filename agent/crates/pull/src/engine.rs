//! The pull: resolve refs, fetch and verify commits, walk their trees with
//! parallel workers, and move refs only when every object is durable.
//!
//! Order of durability: `state/<commit>.commitpartial` is written before the
//! commit object; objects are staged and periodically checkpointed into
//! `objects/` (syncfs, then rename), so an interrupted pull — a killed
//! process or a pulled plug — keeps what it fetched and a re-run fetches
//! only what is missing; the ref moves and the partial mark goes last.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ostree_repo::fsutil::{format_size, format_size_glib};
use ostree_repo::gvariant::Value;
use ostree_repo::keyfile::KeyFile;
use ostree_repo::object::{vardict_type, Checksum, Commit, DirTree, ObjectType};
use ostree_repo::remote::{self, Remote};
use ostree_repo::repo::{RepoMode, Transaction};
use ostree_repo::summary::{Summary, MAX_SUMMARY_SIZE};
use ostree_repo::{RefName, Repo};
use uptree_sys::lock::LockKind;

use crate::error::{Downgrade, Error, Result};
use crate::progress::{self, Progress, Snapshot};
use crate::sign::MAX_DETACHED_SIZE;
use crate::transport::{self, local::Local, NetOptions, Stats, Transport};
use crate::trust::Policy;

/// Options of one pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Fetch only commit objects (they stay partial).
    pub commit_metadata_only: bool,
    /// Parents to fetch as well; -1 = all.
    pub depth: i64,
    /// Write refs under `refs/heads` (and the summary when pulling all refs).
    pub mirror: bool,
    /// Parallel fetches (0 = default).
    pub workers: usize,
    pub net: NetOptions,
    /// Retries per object after a transient failure (reset by progress).
    pub retries: u32,
    pub progress: progress::Mode,
    pub disable_verify_bindings: bool,
    /// `pull-local --untrusted`: re-hash objects from a local repository.
    pub untrusted: bool,
    /// For `pull-local`: write refs as `refs/remotes/NAME/…`. Such refs are
    /// what deployments come from, so NAME's trust policy applies (when it
    /// is configured) and every object is re-hashed, as for `pull`.
    pub local_remote_name: Option<String>,
    /// `pull-local --gpg-verify` / `--gpg-verify-summary` (with a remote).
    pub gpg_verify: bool,
    pub gpg_verify_summary: bool,
    /// `--timestamp-check`: a ref never moves to an older commit. On by
    /// default for sources whose commits must be signed.
    pub timestamp_check: bool,
    /// `--timestamp-check-from-rev`: no fetched commit may be older than
    /// this revision (`admin upgrade` passes the booted commit).
    pub timestamp_check_from_rev: Option<String>,
    /// Lift the default timestamp check of signed sources.
    pub allow_downgrade: bool,
    /// Move staged objects into `objects/` at least this often.
    pub checkpoint_interval: Duration,
    /// Set (by a SIGTERM handler) to stop at the next object boundary:
    /// objects in flight finish, the rest is left for the next pull.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Hears the counters while objects are fetched.
    pub on_progress: Option<progress::Hook>,
    /// `--disable-static-deltas` / `--require-static-deltas`.
    pub static_deltas: crate::delta::DeltaPolicy,
    /// `--bareuseronly-files`: refuse regular files with modes outside 0775.
    pub bareuseronly_files: bool,
    /// `--dry-run`: report what a static delta would fetch, change nothing.
    pub dry_run: bool,
    /// `pull --url`: fetch from here instead of the remote's `url`.
    pub url: Option<String>,
    /// `--localcache-repo`: repositories on this machine to take objects
    /// from when they have them (re-hashed like any source).
    pub localcache: Vec<std::path::PathBuf>,
    /// `--subpath`: fetch only these paths of the tree (and the directories
    /// leading to them); the commit stays partial.
    pub subpaths: Vec<String>,
    /// `--cache-dir`: where signed summaries are cached (`summaries/`)
    /// instead of the repo's `tmp/cache`.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The collection the pulled refs belong to when the source does not
    /// say (a repository on a stick): their commits must be bound to it,
    /// and a mirror pull files them under refs/mirrors/ID.
    pub collection_id: Option<String>,
}

/// Largest metadata object a pull accepts: ostree's default
/// `max-metadata-size` for pulls (its readers allow more, pulls do not).
pub const MAX_PULLED_METADATA: u64 = 10 * 1024 * 1024;

/// Default parallel fetches, by measurement (agent/benches/pull-bench.sh,
/// minbase full pull over HTTPS): on loopback 2..16 workers all take
/// 0.9-1.0 s and each adds ~0.8 MiB; with 40 ms round trip the pull is
/// latency-bound (2: 119 s, 4: 60 s, 6: 40 s, 8: 30 s, 12: 20 s; ostree
/// 31 s). 8 matches ostree on slow links and keeps peak RSS at about a
/// fifth of ostree's; `--jobs` raises it for long-latency links.
pub const DEFAULT_WORKERS: usize = 8;

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            commit_metadata_only: false,
            depth: 0,
            mirror: false,
            workers: 0,
            net: NetOptions::default(),
            retries: 5,
            progress: progress::Mode::Quiet,
            disable_verify_bindings: false,
            untrusted: false,
            local_remote_name: None,
            gpg_verify: false,
            gpg_verify_summary: false,
            timestamp_check: false,
            timestamp_check_from_rev: None,
            allow_downgrade: false,
            checkpoint_interval: Duration::from_secs(5),
            cancel: None,
            on_progress: None,
            static_deltas: crate::delta::DeltaPolicy::default(),
            bareuseronly_files: false,
            dry_run: false,
            url: None,
            localcache: Vec::new(),
            subpaths: Vec::new(),
            cache_dir: None,
            collection_id: None,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone, Default)]
pub struct PullReport {
    /// Refs written (as shown to users) and their commits.
    pub refs: Vec<(String, Checksum)>,
    pub metadata_fetched: u64,
    pub content_fetched: u64,
    pub bytes_transferred: u64,
    pub bytes_resumed: u64,
    /// Uncompressed bytes of content objects stored.
    pub content_bytes_written: u64,
    /// Objects taken from `--localcache-repo` repositories.
    pub metadata_local: u64,
    pub content_local: u64,
    /// `--dry-run`: what the static deltas would fetch (nothing was).
    pub dry_run: Option<crate::delta::DeltaPlan>,
    /// The source is a repository on this machine (objects imported, not fetched).
    pub local: bool,
    pub elapsed: Duration,
}

impl PullReport {
    /// The line ostree prints when a pull ends, in libostree's spelling
    /// (scripts grep it): "3 metadata, 1 content objects fetched; 541 B
    /// transferred in 0 seconds; 3 bytes content written", or "…
    /// imported; …" from a repository on this machine. uptree adds
    /// "(N resumed)" after the transfer when a download was continued.
    pub fn status_line(&self) -> String {
        if let Some(p) = &self.dry_run {
            // ostree's dry-run line: nothing is fetched yet.
            return format!(
                "Delta update: 0/{} parts, {}/{}, {} total uncompressed",
                p.parts,
                format_size_glib(0),
                format_size_glib(p.size),
                format_size_glib(p.uncompressed_size)
            );
        }
        let written = format_size_glib(self.content_bytes_written);
        if self.local {
            return format!("{} metadata, {} content objects imported; {written} content written", self.metadata_fetched, self.content_fetched);
        }
        // libostree's own unit rule for this figure: bytes below 1 KiB, else whole KiB.
        let transferred =
            if self.bytes_transferred < 1024 { format!("{} B", self.bytes_transferred) } else { format!("{} KiB", self.bytes_transferred / 1024) };
        let resumed = if self.bytes_resumed > 0 { format!(" ({} resumed)", format_size(self.bytes_resumed)) } else { String::new() };
        let local = if self.metadata_local > 0 || self.content_local > 0 {
            format!(" ({} meta, {} content local)", self.metadata_local, self.content_local)
        } else {
            String::new()
        };
        format!(
            "{} metadata, {} content objects fetched{local}; {transferred} transferred{resumed} in {} seconds; {written} content written",
            self.metadata_fetched,
            self.content_fetched,
            self.elapsed.as_secs()
        )
    }
}

/// `pull REMOTE[:REF] [REF…]`.
pub fn pull(repo: &Repo, remote_name: &str, refs: &[String], opts: &PullOptions) -> Result<PullReport> {
    let mut remote = remote::get(repo, remote_name)?;
    if let Some(b) = remote.get("custom-backend") {
        return Err(Error::Config(format!("Cannot fetch via libostree - remote '{remote_name}' uses custom backend '{b}'")));
    }
    // A remote shipped disabled says why (a subscription, …) in this key.
    if let Some(why) = remote.get("unconfigured-state") {
        return Err(Error::Config(format!("remote unconfigured-state: {why}")));
    }
    if let Some(u) = &opts.url {
        remote.set_override("url", u);
    }
    let mut opts = opts.clone();
    if opts.workers == 0 {
        opts.workers = DEFAULT_WORKERS;
    }
    opts.net.connections = opts.workers;
    let policy = Policy::for_remote(repo, &remote)?;
    let transport = transport::open(repo, &remote, &opts.net)?;
    run(repo, Some(&remote), &policy, transport.as_ref(), refs, &opts).map_err(|e| e.context(format!("pulling from {remote_name} ({})", transport.describe())))
}

/// `pull-local SRC [REF…]`: from a repository of any mode on this machine.
///
/// ostree 2022.7 never checks signatures here (only GPG, on request) and
/// trusts the source's objects unless `--untrusted`. With `--remote=NAME`
/// the refs written are ones `admin upgrade --deploy-only` and `admin
/// deploy NAME:REF` take, so uptree is stricter: NAME's policy applies
/// as it would to `pull NAME` (signatures, downgrade refusal) and every
/// object is re-hashed.
///
/// No `refs` means every ref of `src`. A branch `src` lacks is refused
/// up front, in ostree's words; a checksum or `REF@COMMIT` goes to the
/// pull as it is.
pub fn pull_local(repo: &Repo, src: &Path, refs: &[String], opts: &PullOptions) -> Result<PullReport> {
    let (mut policy, trusted) = match &opts.local_remote_name {
        Some(name) => {
            ostree_repo::object::validate_remote_name(name)?;
            let policy = match remote::list(repo)?.iter().find(|r| r.name == *name) {
                Some(r) => Policy::for_remote(repo, r)?,
                // Nothing configured to trust, and nothing to pull from later either.
                None => Policy { remote: Some(name.clone()), ..Policy::unverified() },
            };
            (policy, false)
        }
        None if opts.gpg_verify || opts.gpg_verify_summary => {
            return Err(Error::Config("--gpg-verify and --gpg-verify-summary need --remote (the remote's keys)".into()));
        }
        None => (Policy::unverified(), !opts.untrusted),
    };
    if let (Some(name), true) = (&opts.local_remote_name, opts.gpg_verify || opts.gpg_verify_summary) {
        let r = remote::list(repo)?.into_iter().find(|r| r.name == *name);
        let keys = crate::trust::GpgCheck::for_remote(repo, name, r.as_ref())?;
        if opts.gpg_verify && policy.gpg.is_none() {
            policy.gpg = Some(keys.clone());
        }
        if opts.gpg_verify_summary && policy.summary_gpg.is_none() {
            policy.summary_gpg = Some(keys);
        }
    }
    let transport = Local::open(src, trusted)?;
    let refs = transport.pull_local_refs(refs)?;
    local_with(repo, src, &transport, &refs, opts, &policy)
}

/// `pull-local` held to `policy` whatever the remote's config says (a USB
/// stick: signatures required by default). Refs are written as
/// `refs/remotes/<policy.remote>/…`; every object is re-hashed.
pub fn pull_local_with_policy(repo: &Repo, src: &Path, refs: &[String], opts: &PullOptions, policy: &Policy) -> Result<PullReport> {
    local_with(repo, src, &Local::open(src, false)?, refs, opts, policy)
}

fn local_with(repo: &Repo, src: &Path, transport: &Local, refs: &[String], opts: &PullOptions, policy: &Policy) -> Result<PullReport> {
    let mut opts = opts.clone();
    if opts.workers == 0 {
        opts.workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8);
    }
    run(repo, None, policy, transport, refs, &opts).map_err(|e| e.context(format!("pulling from {}", src.display())))
}

struct Target {
    ref_name: Option<String>,
    commit: Checksum,
    max_size: u64,
}

fn hex_or_none(s: &str) -> Option<Checksum> {
    Checksum::is_valid_hex(s).then(|| s.parse().ok()).flatten()
}

/// `REF@COMMIT`: pull COMMIT and point REF at it, without asking the
/// remote what REF names (ostree's override syntax).
fn split_override(w: &str) -> Option<(&str, Checksum)> {
    let (name, rev) = w.rsplit_once('@')?;
    Some((name, hex_or_none(rev)?))
}

/// The remote summary as fetched, with its signature file if any.
pub(crate) type RawSummary = (Vec<u8>, Option<Vec<u8>>);

fn resolve_targets(
    repo: &Repo,
    net: &Stats,
    transport: &dyn Transport,
    remote: Option<&Remote>,
    policy: &Policy,
    refs: &[String],
    opts: &PullOptions,
) -> Result<(Vec<Target>, Option<RawSummary>)> {
    let mut wanted: Vec<String> = refs.to_vec();
    if wanted.is_empty() {
        if let Some(r) = remote {
            wanted = r.branches();
        }
    }
    // Required deltas are found through the summary's list, whatever the targets.
    let need_summary = wanted.is_empty()
        || opts.static_deltas == crate::delta::DeltaPolicy::Require
        || wanted.iter().any(|w| hex_or_none(w).is_none() && split_override(w).is_none());
    let mut summary_raw = None;
    let mut summary = None;
    if need_summary {
        if let Some((bytes, sig)) = fetch_summary(repo, net, opts.retries, transport, remote, policy, opts.cache_dir.as_deref())? {
            summary = Some(Summary::from_bytes(&bytes).map_err(|e| Error::from(e).context("decoding the remote summary"))?);
            summary_raw = Some((bytes, sig));
        }
    }
    if wanted.is_empty() {
        match (&summary, opts.mirror) {
            (Some(s), true) => wanted = s.refs.iter().map(|r| r.name.clone()).collect(),
            _ => return Err(Error::Config("No refs specified (give REF arguments, or configure the remote's branches)".into())),
        }
    }
    let mut targets = Vec::new();
    for w in wanted {
        if let Some(c) = hex_or_none(&w) {
            targets.push(Target { ref_name: None, commit: c, max_size: MAX_PULLED_METADATA });
            continue;
        }
        if let Some((name, c)) = split_override(&w) {
            ostree_repo::object::validate_ref_name(name)?;
            targets.push(Target { ref_name: Some(name.to_string()), commit: c, max_size: MAX_PULLED_METADATA });
            continue;
        }
        ostree_repo::object::validate_ref_name(&w)?;
        if let Some(s) = &summary {
            let r = s.lookup(&w).ok_or_else(|| Error::Config(format!("No such branch '{w}' in repository summary")))?;
            targets.push(Target { ref_name: Some(w), commit: r.checksum, max_size: r.commit_size.clamp(1, MAX_PULLED_METADATA) });
            continue;
        }
        let text = transport.get_file(&format!("refs/heads/{w}"), 256)?.ok_or_else(|| {
            // ostree's error names the HTTP status; scripts look for it.
            let missing = if transport.is_local() { format!("no refs/heads/{w}") } else { format!("refs/heads/{w}: HTTP 404") };
            Error::Config(format!("ref {w} not found on the remote (no summary, and {missing})"))
        })?;
        let c = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| hex_or_none(t.trim()))
            .ok_or_else(|| Error::Verify { object: format!("refs/heads/{w}"), what: "is not a checksum".into() })?;
        targets.push(Target { ref_name: Some(w), commit: c, max_size: MAX_PULLED_METADATA });
    }
    Ok((targets, summary_raw))
}

/// The remote's summary and `summary.sig`, raw and verified (nothing is
/// decoded before), or `None` if it has none and the policy allows that.
/// `summary.sig` is asked first, as ostree does: a network remote's
/// summary is fetched again only when its signature changed, else it
/// comes from the cache (verified again: a cache written by something
/// else is replaced, not obeyed).
pub(crate) fn fetch_summary(
    repo: &Repo,
    net: &Stats,
    retries: u32,
    transport: &dyn Transport,
    remote: Option<&Remote>,
    policy: &Policy,
    cache_dir: Option<&Path>,
) -> Result<Option<RawSummary>> {
    if let Some(d) = cache_dir {
        // As ostree, which opens it: a cache directory is not made up.
        std::fs::read_dir(d).map_err(|e| ostree_repo::Error::io(d, e))?;
    }
    let get = |rel: &str| with_retries(net, retries, rel, || transport.get_file(rel, MAX_SUMMARY_SIZE));
    let sig = get("summary.sig")?;
    let cache = summary_cache(repo, remote, cache_dir);
    let cached = match (&cache, &sig) {
        (Some(c), Some(sig)) => c.load_if_same_sig(sig),
        _ => None,
    };
    if let Some(b) = cached {
        if policy.verify_summary(&b, sig.as_deref()).is_ok() {
            return Ok(Some((b, sig)));
        } else if ostree_repo::test_error_requested("invalid-cache") {
            return Err(Error::InvalidSummaryCache { remote: remote.map(|r| r.name.clone()).unwrap_or_default() });
        }
        log::warn!("the cached summary does not match its signature; fetching it again");
    }
    let Some(bytes) = get("summary")? else {
        return if policy.summary_required() { Err(policy.missing_summary()) } else { Ok(None) };
    };
    policy.verify_summary(&bytes, sig.as_deref())?;
    if let (Some(c), Some(s)) = (&cache, &sig) {
        c.store(&bytes, s)?;
    }
    Ok(Some((bytes, sig)))
}

/// ostree's summary cache: `summaries/NAME` and `NAME.sig` under
/// `--cache-dir` or the repo's `tmp/cache`, for network remotes only.
struct SummaryCache {
    summary: std::path::PathBuf,
    sig: std::path::PathBuf,
    fsync: bool,
}

fn summary_cache(repo: &Repo, remote: Option<&Remote>, cache_dir: Option<&Path>) -> Option<SummaryCache> {
    let r = remote?;
    if !r.get("url").is_some_and(|u| u.starts_with("http")) {
        return None;
    }
    let dir = cache_dir.map_or_else(|| repo.path().join("tmp/cache"), Path::to_path_buf).join("summaries");
    Some(SummaryCache { summary: dir.join(&r.name), sig: dir.join(format!("{}.sig", r.name)), fsync: repo.fsync_enabled() })
}

impl SummaryCache {
    fn load_if_same_sig(&self, sig: &[u8]) -> Option<Vec<u8>> {
        let read = |p: &Path| {
            let mut out = Vec::new();
            std::fs::File::open(p).and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_SUMMARY_SIZE), &mut out)).ok().map(|_| out)
        };
        (read(&self.sig)? == sig).then(|| read(&self.summary)).flatten()
    }

    fn store(&self, summary: &[u8], sig: &[u8]) -> Result<()> {
        if let Some(d) = self.summary.parent() {
            std::fs::create_dir_all(d).map_err(|e| ostree_repo::Error::io(d, e))?;
        }
        ostree_repo::fsutil::atomic_write(&self.summary, summary, 0o644, self.fsync)?;
        ostree_repo::fsutil::atomic_write(&self.sig, sig, 0o644, self.fsync)?;
        Ok(())
    }
}

/// An HTTP remote's `config`: it must be an archive (file:// reads any
/// mode). Returns its `core.tombstone-commits`: whether a commit missing
/// there was deleted on purpose and left a tombstone, as ostree reads it.
fn check_remote_config(net: &Stats, retries: u32, transport: &dyn Transport, remote: Option<&Remote>) -> Result<bool> {
    if !remote.and_then(|r| r.get("url")).is_some_and(|u| u.starts_with("http")) {
        return Ok(false);
    }
    let Some(bytes) = with_retries(net, retries, "config", || transport.get_file("config", 64 * 1024))? else { return Ok(false) };
    let text = String::from_utf8_lossy(&bytes);
    let kf = KeyFile::parse(&text).map_err(|e| Error::Config(format!("remote config: {e}")))?;
    let mode = kf.get("core", "mode").unwrap_or_else(|| "bare".into());
    if RepoMode::parse(&mode) != Some(RepoMode::Archive) {
        return Err(Error::Config(format!("Can't pull from archives with mode \"{mode}\"")));
    }
    kf.get_bool("core", "tombstone-commits").map(|b| b.unwrap_or(false)).map_err(|e| Error::Config(format!("remote config: {e}")))
}

/// Largest tombstone read: ostree's is an `a{sv}` of one 65-byte string.
const MAX_TOMBSTONE_SIZE: u64 = 4096;

/// A parent commit the remote lacks, on a remote with tombstones: ostree
/// requires its tombstone (the commit was deleted on purpose) and fails
/// the pull otherwise; the tombstone is checked, not stored.
fn require_tombstone(walk: &Walk<'_, '_>, c: &Checksum) -> Result<()> {
    let rel = walk.txn.repo().object_rel_path(c, ObjectType::TombstoneCommit);
    let bytes = walk.with_retries(&format!("{c}.tombstone-commit"), || walk.transport.get_metadata(c, ObjectType::TombstoneCommit, MAX_TOMBSTONE_SIZE))?;
    walk.stats.metadata_fetched.fetch_add(1, Ordering::Relaxed);
    match bytes {
        Some(b) => {
            walk.stats.add_bytes(b.len() as u64);
            Ok(())
        }
        None => Err(Error::NotFound { url: format!("{}/{rel}", walk.transport.describe()) }),
    }
}

/// A queued object to fetch or scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Item {
    Tree(Checksum),
    Meta(Checksum),
    Content(Checksum),
}

#[derive(Default)]
struct Queue {
    meta: VecDeque<Item>,
    content: VecDeque<Item>,
    active: usize,
    seen: HashSet<Item>,
    error: Option<Error>,
    requested: u64,
    done: u64,
}

/// Run `op`, retrying transient failures with backoff. Real progress
/// (a MiB arriving in the failed attempt) resets the count, so a flaky
/// but moving link keeps going; a server dribbling bytes does not, and
/// nothing gets more than `MAX_ATTEMPTS` tries.
pub(crate) fn with_retries<T>(stats: &Stats, retries: u32, what: &str, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    const PROGRESS: u64 = 1024 * 1024;
    const MAX_ATTEMPTS: u32 = 100;
    let mut attempt = 0u32;
    let mut total = 0u32;
    loop {
        let before = stats.bytes.load(Ordering::Relaxed);
        total += 1;
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => {
                if stats.bytes.load(Ordering::Relaxed) >= before + PROGRESS {
                    attempt = 0;
                }
                if total == 1 && retries == 0 {
                    return Err(e);
                }
                if attempt >= retries || total >= MAX_ATTEMPTS {
                    return Err(e.context(format!("{what}: giving up after {total} attempts")));
                }
                let wait = Duration::from_millis((500u64 << attempt.min(6)).min(30_000));
                log::warn!("{what}: {e}; retrying in {:.1} s", wait.as_secs_f64());
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

struct Walk<'a, 'r> {
    txn: &'a Transaction<'r>,
    transport: &'a dyn Transport,
    stats: &'a Stats,
    retries: u32,
    q: Mutex<Queue>,
    cv: Condvar,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
    hook: Option<&'a progress::Hook>,
    /// `--localcache-repo` sources, asked before the transport.
    caches: &'a [Local],
}

/// Store a fetched metadata object: hardlinked from a trusted local source
/// where it can be (as ostree), else written from `data`.
fn store_metadata(txn: &Transaction<'_>, transport: &dyn Transport, kind: ObjectType, csum: &Checksum, data: &[u8]) -> Result<()> {
    if let Some(src) = transport.linkable_metadata(csum, kind) {
        if txn.link_metadata(kind, csum, &src)? {
            return Ok(());
        }
    }
    txn.write_metadata_trusted(kind, csum, data)?;
    Ok(())
}

fn verify_metadata(kind: ObjectType, csum: &Checksum, data: &[u8]) -> Result<()> {
    ostree_repo::fsck::verify_metadata(kind, csum, data).map_err(|e| Error::Verify { object: format!("{csum}.{kind}"), what: e.root().to_string() })
}

impl Walk<'_, '_> {
    fn with_retries<T>(&self, what: &str, op: impl FnMut() -> Result<T>) -> Result<T> {
        with_retries(self.stats, self.retries, what, op)
    }

    /// The directory tree `tree`, fetched if missing.
    fn tree(&self, tree: &Checksum) -> Result<DirTree> {
        let data = if self.txn.has_object(tree, ObjectType::DirTree) {
            self.txn.load_metadata(ObjectType::DirTree, tree)?
        } else {
            self.fetch_meta(tree, ObjectType::DirTree)?
        };
        DirTree::from_bytes(&data).map_err(|e| Error::Verify { object: format!("{tree}.dirtree"), what: e.root().to_string() })
    }

    /// `--subpath`: fetch the directories leading to `path` (trees and
    /// metadata) here, and return what is below it for the workers: its
    /// whole subtree, or the one file it names. A path the commit lacks
    /// fetches nothing more, as in ostree.
    fn subpath_items(&self, root_tree: &Checksum, root_meta: &Checksum, path: &str) -> Result<Vec<Item>> {
        let (mut tree, mut meta) = (*root_tree, *root_meta);
        let mut parts = path.split('/').filter(|c| !c.is_empty()).peekable();
        while let Some(name) = parts.next() {
            if !self.txn.has_object(&meta, ObjectType::DirMeta) {
                self.fetch_meta(&meta, ObjectType::DirMeta)?;
            }
            let dt = self.tree(&tree)?;
            if let Some((_, t, m)) = dt.dirs.iter().find(|(n, _, _)| n == name) {
                (tree, meta) = (*t, *m);
                continue;
            }
            return Ok(match dt.files.iter().find(|(n, _)| n == name) {
                Some((_, f)) if parts.peek().is_none() => vec![Item::Content(*f)],
                _ => Vec::new(),
            });
        }
        Ok(vec![Item::Tree(tree), Item::Meta(meta)])
    }

    /// A metadata object from a `--localcache-repo` that has it, verified.
    fn meta_from_cache(&self, csum: &Checksum, kind: ObjectType, max: u64) -> Result<Option<Vec<u8>>> {
        for c in self.caches {
            if let Some(data) = c.get_metadata(csum, kind, max)? {
                verify_metadata(kind, csum, &data)?;
                self.stats.metadata_local.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// A content object from a `--localcache-repo` that has it (re-hashed
    /// while stored); false if none has it.
    fn content_from_cache(&self, csum: &Checksum) -> Result<bool> {
        for c in self.caches {
            if c.has_content(csum) {
                // The cache's bytes are not network traffic.
                let size = c.fetch_content(self.txn, csum, &Stats::default())?;
                self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
                self.stats.content_local.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fetch_meta(&self, csum: &Checksum, kind: ObjectType) -> Result<Vec<u8>> {
        if let Some(data) = self.meta_from_cache(csum, kind, MAX_PULLED_METADATA)? {
            self.txn.write_metadata_trusted(kind, csum, &data)?;
            return Ok(data);
        }
        let data = self.with_retries(&format!("{csum}.{kind}"), || self.transport.get_metadata(csum, kind, MAX_PULLED_METADATA))?;
        let data = data.ok_or_else(|| Error::NotFound { url: format!("{}/{}", self.transport.describe(), self.txn.repo().object_rel_path(csum, kind)) })?;
        self.stats.add_bytes(data.len() as u64);
        if !self.transport.trusted() {
            verify_metadata(kind, csum, &data)?;
        }
        store_metadata(self.txn, self.transport, kind, csum, &data)?;
        self.stats.metadata_fetched.fetch_add(1, Ordering::Relaxed);
        Ok(data)
    }

    fn push(&self, items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let Ok(mut q) = self.q.lock() else { return };
        for it in items {
            if q.seen.insert(it) {
                q.requested += 1;
                match it {
                    Item::Content(_) => q.content.push_back(it),
                    _ => q.meta.push_back(it),
                }
            }
        }
        drop(q);
        self.cv.notify_all();
    }

    fn process(&self, it: Item) -> Result<()> {
        let txn = self.txn;
        match it {
            Item::Tree(c) => {
                let data = if txn.has_object(&c, ObjectType::DirTree) {
                    txn.load_metadata(ObjectType::DirTree, &c)?
                } else {
                    self.fetch_meta(&c, ObjectType::DirTree)?
                };
                let dt = DirTree::from_bytes(&data).map_err(|e| Error::Verify { object: format!("{c}.dirtree"), what: e.root().to_string() })?;
                let mut next = Vec::new();
                for (_, f) in &dt.files {
                    if !txn.has_object(f, ObjectType::File) {
                        next.push(Item::Content(*f));
                    }
                }
                for (_, t, m) in &dt.dirs {
                    next.push(Item::Tree(*t));
                    if !txn.has_object(m, ObjectType::DirMeta) {
                        next.push(Item::Meta(*m));
                    }
                }
                self.push(next);
            }
            Item::Meta(c) => {
                if !txn.has_object(&c, ObjectType::DirMeta) {
                    self.fetch_meta(&c, ObjectType::DirMeta)?;
                }
            }
            Item::Content(c) => {
                if !txn.has_object(&c, ObjectType::File) && !self.content_from_cache(&c)? {
                    let size = self.with_retries(&format!("{c}.filez"), || self.transport.fetch_content(txn, &c, self.stats))?;
                    self.stats.content_fetched.fetch_add(1, Ordering::Relaxed);
                    self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    fn worker(&self) {
        loop {
            let item = {
                let Ok(mut q) = self.q.lock() else { return };
                loop {
                    if q.error.is_some() {
                        return;
                    }
                    if let Some(it) = q.meta.pop_front().or_else(|| q.content.pop_front()) {
                        q.active += 1;
                        break it;
                    }
                    if q.active == 0 {
                        drop(q);
                        self.cv.notify_all();
                        return;
                    }
                    q = match self.cv.wait(q) {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                }
            };
            let r = self.process(item);
            let Ok(mut q) = self.q.lock() else { return };
            q.active -= 1;
            q.done += 1;
            if let Err(e) = r {
                q.error.get_or_insert(e);
            }
            drop(q);
            self.cv.notify_all();
        }
    }

    fn snapshot(&self) -> Snapshot {
        let (requested, done) = self.q.lock().map(|q| (q.requested, q.done)).unwrap_or_default();
        Snapshot {
            requested,
            done,
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            metadata: self.stats.metadata_fetched.load(Ordering::Relaxed),
            content: self.stats.content_fetched.load(Ordering::Relaxed),
        }
    }

    /// Wait for the workers; checkpoint and draw progress meanwhile.
    fn supervise(&self, progress: &mut Progress, every: Duration) -> Result<()> {
        let mut last_checkpoint = Instant::now();
        let mut checkpointed = 0u64;
        loop {
            let finished = {
                let q = self.q.lock().map_err(|_| Error::Config("worker panicked".into()))?;
                let (mut q, _) = self.cv.wait_timeout(q, Duration::from_millis(200)).map_err(|_| Error::Config("worker panicked".into()))?;
                if self.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                    // Workers take no new object once an error is set.
                    q.error.get_or_insert(Error::Cancelled);
                    self.cv.notify_all();
                }
                q.error.is_some() || (q.active == 0 && q.meta.is_empty() && q.content.is_empty())
            };
            let snap = self.snapshot();
            progress.update(snap);
            if let Some(h) = self.hook {
                (h.0)(snap);
            }
            if finished {
                return Ok(());
            }
            let stored = self.stats.metadata_fetched.load(Ordering::Relaxed) + self.stats.content_fetched.load(Ordering::Relaxed);
            if last_checkpoint.elapsed() >= every && stored > checkpointed {
                self.txn.checkpoint()?;
                checkpointed = stored;
                last_checkpoint = Instant::now();
            }
        }
    }
}

/// Where a pulled ref is written.
fn dest_ref(policy: &Policy, opts: &PullOptions, name: &str) -> RefName {
    RefName { remote: if opts.mirror { None } else { policy.remote.clone() }, name: name.to_string() }
}

/// A commit that a newly fetched one must not be older than.
#[derive(Debug, Clone)]
struct Floor {
    commit: Checksum,
    timestamp: u64,
}

/// ostree's `_ostree_compare_timestamps`: newer or equal timestamps pass,
/// and so does the same commit.
fn check_floor(policy: &Policy, what: &str, floor: &Floor, new: &Checksum, new_timestamp: u64) -> Result<()> {
    if new_timestamp >= floor.timestamp || *new == floor.commit {
        return Ok(());
    }
    Err(Error::Downgrade(Box::new(Downgrade {
        remote: policy.remote.clone(),
        ref_: what.to_string(),
        current: floor.commit,
        current_timestamp: floor.timestamp,
        new: *new,
        new_timestamp,
    })))
}

/// The floors for each target, read before anything is fetched: the ref's
/// current commit (`--timestamp-check`, on by default where signatures
/// are required) and `--timestamp-check-from-rev`.
fn floors(repo: &Repo, policy: &Policy, opts: &PullOptions, targets: &[Target]) -> Result<Vec<Vec<Floor>>> {
    let floor_of = |c: Checksum, why: &str| -> Result<Floor> {
        let commit = repo.load_commit(&c).map_err(|e| Error::from(e).context(format!("reading {c} for {why}")))?;
        Ok(Floor { commit: c, timestamp: commit.timestamp })
    };
    let from_rev = match &opts.timestamp_check_from_rev {
        Some(rev) => Some(floor_of(repo.resolve_rev(rev)?, "timestamp-check-from-rev")?),
        None => None,
    };
    let check_refs = opts.timestamp_check || (policy.requires_signatures() && !opts.allow_downgrade);
    let mut out = Vec::new();
    for t in targets {
        let mut f: Vec<Floor> = from_rev.iter().cloned().collect();
        if let (true, Some(name)) = (check_refs, &t.ref_name) {
            if let Some(current) = repo.read_ref(&dest_ref(policy, opts, name))? {
                f.push(floor_of(current, "timestamp-check")?);
            }
        }
        out.push(f);
    }
    Ok(out)
}

fn run(repo: &Repo, remote: Option<&Remote>, policy: &Policy, transport: &dyn Transport, refs: &[String], opts: &PullOptions) -> Result<PullReport> {
    if opts.static_deltas == crate::delta::DeltaPolicy::Require && repo.mode() == RepoMode::Archive {
        return Err(Error::Config("Can't use static deltas in an archive repo".into()));
    }
    repo.check_free_space()?;
    let stats = Stats::default();
    let remote_tombstones = check_remote_config(&stats, opts.retries, transport, remote)?;
    let (targets, summary_raw) = resolve_targets(repo, &stats, transport, remote, policy, refs, opts)?;
    // ostree 2022.7 reads the remote's config only once it has a summary.
    let remote_tombstones = remote_tombstones && summary_raw.is_some();
    let floors = floors(repo, policy, opts, &targets)?;
    if opts.dry_run {
        return dry_run(repo, policy, transport, &stats, &targets, summary_raw.as_ref().map(|(b, _)| b.as_slice()), opts);
    }
    let mut progress = Progress::new(opts.progress);
    let caches = opts
        .localcache
        .iter()
        .map(|p| Local::open(p, false).map_err(|e| e.context(format!("opening --localcache-repo {}", p.display()))))
        .collect::<Result<Vec<_>>>()?;
    let mut txn = repo.begin()?;
    txn.set_bareuseronly_files(opts.bareuseronly_files);
    let walk = Walk {
        txn: &txn,
        transport,
        stats: &stats,
        retries: opts.retries,
        q: Mutex::new(Queue::default()),
        cv: Condvar::new(),
        cancel: opts.cancel.as_deref(),
        hook: opts.on_progress.as_ref(),
        caches: &caches,
    };

    // ostree binds a remote's refs to its configured collection ID, and a
    // local source's to the source repository's own.
    let collection_id = opts.collection_id.clone().or_else(|| match remote {
        Some(r) => r.get("collection-id").map(str::to_string),
        None => transport.collection_id(),
    });
    // Commits first, on this thread: verify before anything of theirs is stored.
    let mut fetched_commits: Vec<Checksum> = Vec::new();
    for (t, floors) in targets.iter().zip(&floors) {
        let shown = t.ref_name.as_deref().map_or_else(|| t.commit.to_hex(), |n| dest_ref(policy, opts, n).to_string());
        let mut next = Some((t.commit, t.max_size, t.ref_name.clone(), opts.depth, true));
        while let Some((c, max, ref_name, depth, required)) = next.take() {
            // Only the commit asked for is held to the floors, not its parents.
            let check = if required { Some((shown.as_str(), floors.as_slice())) } else { None };
            let bound_to = ref_name.as_deref().filter(|_| !opts.disable_verify_bindings).map(|n| (n, collection_id.as_deref()));
            let commit = match fetch_commit(&walk, policy, &c, max, bound_to, check) {
                Ok(Some(x)) => x,
                // Missing parents are fine (a partial history), unless the
                // remote keeps tombstones and this one has none.
                Ok(None) if !required => {
                    if remote_tombstones {
                        require_tombstone(&walk, &c)?;
                    }
                    break;
                }
                Ok(None) => return Err(Error::NotFound { url: format!("{}/{}", transport.describe(), repo.object_rel_path(&c, ObjectType::Commit)) }),
                Err(e) => return Err(e),
            };
            if !fetched_commits.contains(&c) {
                fetched_commits.push(c);
            }
            if !opts.commit_metadata_only && repo.is_partial(&c) {
                if required && opts.subpaths.is_empty() {
                    // A delta from the commit the ref has now: its parts are
                    // run first, so the walk below fetches only what they lack.
                    let from = ref_name.as_deref().map(|n| repo.read_ref(&dest_ref(policy, opts, n))).transpose()?.flatten();
                    let bytes = txn.load_metadata(ObjectType::Commit, &c)?;
                    let summary = summary_raw.as_ref().map(|(b, _)| b.as_slice());
                    let delta = crate::delta::DeltaSource { transport, stats: &stats, retries: opts.retries, summary, cancel: opts.cancel.as_deref() };
                    crate::delta::before_walk(&txn, &delta, opts.static_deltas, from, &c, &bytes, policy.deltas_ed25519.as_ref())?;
                }
                if opts.subpaths.iter().all(|p| p.trim_matches('/').is_empty()) {
                    walk.push(vec![Item::Tree(commit.root_tree), Item::Meta(commit.root_meta)]);
                } else {
                    for p in &opts.subpaths {
                        let items = walk.subpath_items(&commit.root_tree, &commit.root_meta, p)?;
                        walk.push(items);
                    }
                }
            }
            if depth != 0 {
                if let Some(p) = commit.parent {
                    next = Some((p, MAX_PULLED_METADATA, None, if depth > 0 { depth - 1 } else { -1 }, false));
                }
            }
        }
    }

    // Trees and content, in parallel.
    let walked = std::thread::scope(|s| {
        for _ in 0..opts.workers.max(1) {
            s.spawn(|| walk.worker());
        }
        walk.supervise(&mut progress, opts.checkpoint_interval)
    });
    walked?;
    if let Some(e) = walk.q.lock().ok().and_then(|mut q| q.error.take()) {
        progress.finish(walk.snapshot());
        return Err(e);
    }
    progress.finish(walk.snapshot());

    // Everything is here: make it durable, then clear marks and move refs.
    // The repo lock stays held from the transaction to the last ref: a
    // prune (exclusive) in between would see the new objects unreferenced
    // and delete a commit this pull has just fetched.
    let _lock = repo.lock(LockKind::Shared)?;
    txn.commit()?;
    #[cfg(test)]
    prune_race::after_commit(repo);
    // A subpath pull leaves the rest of the tree for later: still partial.
    if !opts.commit_metadata_only && opts.subpaths.is_empty() {
        for c in &fetched_commits {
            repo.clear_partial(c)?;
        }
    }
    let mut report = PullReport {
        metadata_fetched: stats.metadata_fetched.load(Ordering::Relaxed),
        content_fetched: stats.content_fetched.load(Ordering::Relaxed),
        bytes_transferred: stats.bytes.load(Ordering::Relaxed),
        bytes_resumed: stats.bytes_resumed.load(Ordering::Relaxed),
        content_bytes_written: stats.content_bytes_written.load(Ordering::Relaxed),
        metadata_local: stats.metadata_local.load(Ordering::Relaxed),
        content_local: stats.content_local.load(Ordering::Relaxed),
        dry_run: None,
        local: transport.is_local(),
        elapsed: progress.elapsed(),
        refs: Vec::new(),
    };
    for t in &targets {
        let Some(name) = &t.ref_name else { continue };
        // A mirror keeps another collection's refs apart (refs/mirrors/ID/…), as ostree does.
        if let (true, Some(cid)) = (opts.mirror, &collection_id) {
            repo.set_collection_ref(cid, name, Some(&t.commit))?;
            report.refs.push((format!("({cid}, {name})"), t.commit));
            continue;
        }
        let r = dest_ref(policy, opts, name);
        if repo.read_ref(&r)? != Some(t.commit) {
            repo.set_ref(&r, Some(&t.commit))?;
        }
        report.refs.push((r.to_string(), t.commit));
    }
    if opts.mirror && refs.is_empty() {
        if let Some((bytes, sig)) = summary_raw {
            ostree_repo::fsutil::atomic_write(&repo.path().join("summary"), &bytes, 0o644, repo.fsync_enabled())?;
            if let Some(sig) = sig {
                ostree_repo::fsutil::atomic_write(&repo.path().join("summary.sig"), &sig, 0o644, repo.fsync_enabled())?;
            }
        }
    }
    Ok(report)
}

/// `--dry-run --require-static-deltas`: add up the deltas the targets
/// would come through; nothing is stored and no ref moves.
fn dry_run(
    repo: &Repo,
    policy: &Policy,
    transport: &dyn Transport,
    stats: &Stats,
    targets: &[Target],
    summary: Option<&[u8]>,
    opts: &PullOptions,
) -> Result<PullReport> {
    if opts.static_deltas != crate::delta::DeltaPolicy::Require {
        return Err(Error::Config("--dry-run requires --require-static-deltas".into()));
    }
    let src = crate::delta::DeltaSource { transport, stats, retries: opts.retries, summary, cancel: opts.cancel.as_deref() };
    let mut total = crate::delta::DeltaPlan::default();
    for t in targets {
        let current = t.ref_name.as_deref().map(|n| repo.read_ref(&dest_ref(policy, opts, n))).transpose()?.flatten();
        if current == Some(t.commit) || (repo.has_object(&t.commit, ObjectType::Commit) && !repo.is_partial(&t.commit)) {
            continue;
        }
        let current = current.filter(|c| repo.has_object(c, ObjectType::Commit) && !repo.is_partial(c));
        let from = crate::delta::best_from(repo, &src, current, &t.commit)?;
        let name = uptree_delta::format::DeltaName { from, to: t.commit };
        let p = crate::delta::plan(repo, &src, &name, policy.deltas_ed25519.as_ref())?.ok_or_else(|| {
            Error::Config(format!("Static deltas required, but none found for {} to {}", from.map_or_else(|| "(null)".to_string(), |f| f.to_hex()), t.commit))
        })?;
        total.parts += p.parts;
        total.size = total.size.saturating_add(p.size);
        total.uncompressed_size = total.uncompressed_size.saturating_add(p.uncompressed_size);
    }
    Ok(PullReport { dry_run: Some(total), bytes_transferred: stats.bytes.load(Ordering::Relaxed), ..PullReport::default() })
}

/// Fetch (or load) one commit, verify it, and store it marked partial.
/// `Ok(None)` if the source does not have it.
///
/// Order matters: the commit is hashed and its signature checked over the
/// raw bytes (only the signature list of `.commitmeta` is parsed, bounded)
/// before the commit or the rest of its detached metadata is decoded.
/// `bound_to`: the ref whose binding is checked, with the collection ID of
/// the source (then the commit must be bound to it too). `check`: the ref as
/// shown and the floors its new commit must not be older than.
fn fetch_commit(
    walk: &Walk<'_, '_>,
    policy: &Policy,
    c: &Checksum,
    max: u64,
    bound_to: Option<(&str, Option<&str>)>,
    check: Option<(&str, &[Floor])>,
) -> Result<Option<Commit>> {
    let txn = walk.txn;
    let repo = txn.repo();
    let complete_locally = txn.has_object(c, ObjectType::Commit) && !repo.is_partial(c);
    let detached = if policy.requires_signatures() || !complete_locally {
        let d = walk.with_retries(&format!("{c}.commitmeta"), || walk.transport.get_metadata(c, ObjectType::CommitMeta, MAX_DETACHED_SIZE))?;
        // ostree counts the request as a metadata fetch, found or not.
        walk.stats.metadata_fetched.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = &d {
            walk.stats.add_bytes(b.len() as u64);
        }
        d
    } else {
        None
    };
    let (bytes, fetched) = if txn.has_object(c, ObjectType::Commit) {
        (txn.load_metadata(ObjectType::Commit, c)?, false)
    } else {
        match walk.meta_from_cache(c, ObjectType::Commit, max)? {
            Some(b) => (b, false),
            None => match walk.with_retries(&format!("{c}.commit"), || walk.transport.get_metadata(c, ObjectType::Commit, max))? {
                Some(b) => (b, true),
                None => {
                    // ostree counts the request, found or not.
                    walk.stats.metadata_fetched.fetch_add(1, Ordering::Relaxed);
                    return Ok(None);
                }
            },
        }
    };
    let actual = Checksum::of(&bytes);
    if actual != *c {
        // ostree's words, which scripts grep.
        let what = format!("Corrupted commit object; checksum expected='{c}' actual='{actual}'");
        return Err(Error::Verify { object: format!("{c}.commit"), what });
    }
    policy.verify_commit(c, &bytes, detached.as_deref())?;
    verify_metadata(ObjectType::Commit, c, &bytes)?;
    let commit = Commit::from_bytes(&bytes)?;
    if let Some((what, floors)) = check {
        for f in floors {
            check_floor(policy, what, f, c, commit.timestamp)?;
        }
    }
    if let Some((name, collection_id)) = bound_to {
        ostree_repo::fsck::verify_bindings(&commit, collection_id, Some(name)).map_err(|what| Error::Verify { object: format!("{c}.commit"), what })?;
    }
    let normal =
        |d: &[u8]| Value::from_bytes_normal(d, vardict_type()).map(drop).map_err(|e| Error::Verify { object: format!("{c}.commitmeta"), what: e.to_string() });
    if complete_locally {
        // As ostree: the remote's detached metadata replaces a local copy
        // that differs or is gone (a signature added or removed since).
        if let Some(d) = &detached {
            if std::fs::read(repo.object_path(c, ObjectType::CommitMeta)).ok().as_deref() != Some(d.as_slice()) {
                normal(d)?;
                txn.write_metadata_trusted(ObjectType::CommitMeta, c, d)?;
            }
        }
        return Ok(Some(commit));
    }
    if let Some(d) = &detached {
        normal(d)?;
    }
    // Mark first: a commit object without its tree is never taken as complete.
    repo.mark_partial(c)?;
    if let Some(d) = &detached {
        store_metadata(txn, walk.transport, ObjectType::CommitMeta, c, d)?;
    }
    store_metadata(txn, walk.transport, ObjectType::Commit, c, &bytes)?;
    if fetched {
        walk.stats.add_bytes(bytes.len() as u64);
        walk.stats.metadata_fetched.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Some(commit))
}

#[cfg(test)]
mod prune_race {
    use std::process::Command;
    use std::sync::Mutex;

    use ostree_repo::prune::{prune, PruneOptions};
    use ostree_repo::repo::RepoMode;
    use ostree_repo::Repo;

    use super::{pull_local, PullOptions};

    /// What a prune run between the transaction's commit and the ref move
    /// returned (`None`: no pull got there).
    static PRUNE_AFTER_COMMIT: Mutex<Option<String>> = Mutex::new(None);

    /// Runs where a concurrent `uptree prune` could slip in: after the
    /// objects are in `objects/`, before the ref names them.
    pub(super) fn after_commit(repo: &Repo) {
        let r = prune(repo, &PruneOptions { refs_only: true, ..PruneOptions::default() });
        if let Ok(mut g) = PRUNE_AFTER_COMMIT.lock() {
            *g = Some(match r {
                Ok(stats) => format!("pruned: {stats:?}"),
                Err(e) => e.to_string(),
            });
        }
    }

    fn ostree(args: &[&str]) {
        let out = Command::new("ostree").args(args).output().expect("ostree (the tests install it)");
        assert!(out.status.success(), "ostree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A prune that runs while a pull is between storing its objects and
    /// moving its ref must wait for the repo lock: before, it found the new
    /// commit unreferenced and deleted it, and the ref then named nothing.
    #[test]
    fn prune_cannot_delete_a_commit_being_pulled() {
        let t = tempfile::tempdir().expect("tempdir");
        let (src, tree, dst) = (t.path().join("src"), t.path().join("tree"), t.path().join("dst"));
        std::fs::create_dir_all(tree.join("usr")).expect("mkdir");
        std::fs::write(tree.join("usr/hello"), b"hello").expect("write");
        let (src_s, tree_s) = (src.display().to_string(), tree.display().to_string());
        ostree(&["init", "--mode=archive", &format!("--repo={src_s}")]);
        ostree(&["commit", &format!("--repo={src_s}"), "-b", "os/stable", &format!("--tree=dir={tree_s}")]);
        Repo::init(&dst, RepoMode::BareUserOnly).expect("init");
        // A prune that finds the lock taken fails at once instead of waiting.
        let cfg = dst.join("config");
        let text = std::fs::read_to_string(&cfg).expect("config");
        std::fs::write(&cfg, text.replace("[core]\n", "[core]\nlock-timeout-secs=0\n")).expect("config");
        let repo = Repo::open(&dst).expect("open");
        let report = pull_local(&repo, &src, &["os/stable".into()], &PullOptions::default()).expect("pull");
        let (_, commit) = report.refs[0];
        let seen = PRUNE_AFTER_COMMIT.lock().expect("lock").take().expect("the hook ran");
        assert!(seen.contains("another process holds the repository lock"), "a prune ran between the pull's commit and its ref move: {seen}");
        repo.load_commit(&commit).expect("the pulled commit is still there");
        assert!(!repo.is_partial(&commit));
    }
}
