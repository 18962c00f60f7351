//! `prune`: delete objects no longer reachable.
//!
//! With `refs_only`, the roots are the refs (local, remote, and the
//! `ostree/B/S/N` refs that keep deployments alive), followed `depth`
//! parents deep (-1 = all). With `keep_younger_than`, each ref keeps its
//! own commit and then its ancestors for as long as they are at least that
//! recent (ostree's semantics; `depth` is then unused). Without
//! `refs_only` every commit is a root and only orphaned trees and files go.
//! Runs under the exclusive repo lock, so no transaction is mid-flight.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::gvariant::build;
use crate::object::{Checksum, ObjectType};
use crate::repo::Repo;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub refs_only: bool,
    /// Parents to keep behind each ref; -1 keeps all.
    pub depth: i64,
    /// Keep history only back to this time (implies `refs_only`).
    pub keep_younger_than: Option<u64>,
    /// `--retain-branch-depth=REF=N`: a depth per ref that overrides
    /// `depth` and `keep_younger_than` (implies `refs_only`).
    pub branch_depth: BTreeMap<String, i64>,
    /// `--only-branch`: prune only these refs' histories; every other ref
    /// keeps all of its history (implies `refs_only`).
    pub only_branches: Vec<String>,
    /// Only commit objects are candidates (trees and files stay).
    pub commit_only: bool,
    /// Only report.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            refs_only: false,
            depth: -1,
            keep_younger_than: None,
            branch_depth: BTreeMap::new(),
            only_branches: Vec::new(),
            commit_only: false,
            dry_run: false,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PruneStats {
    pub total: usize,
    pub deleted: usize,
    pub freed: u64,
}

type Reachable = HashSet<(Checksum, ObjectType)>;

/// Add a commit's tree closure to `keep`. Missing objects are tolerated
/// (partial commits).
pub fn mark_commit(repo: &Repo, commit: &Checksum, keep: &mut Reachable) -> Result<()> {
    keep.insert((*commit, ObjectType::Commit));
    keep.insert((*commit, ObjectType::CommitMeta));
    let c = match repo.load_commit(commit) {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut stack = vec![(c.root_tree, c.root_meta)];
    while let Some((t, m)) = stack.pop() {
        keep.insert((m, ObjectType::DirMeta));
        if !keep.insert((t, ObjectType::DirTree)) {
            continue;
        }
        let dt = match repo.load_dirtree(&t) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        for (_, f) in dt.files {
            keep.insert((f, ObjectType::File));
        }
        stack.extend(dt.dirs.into_iter().map(|(_, t, m)| (t, m)));
    }
    Ok(())
}

/// Mark `commit` and up to `depth` parents (-1: all); the walk ends at
/// the first parent that is missing (pruned before, or never pulled).
fn mark_history(repo: &Repo, commit: &Checksum, depth: i64, commit_only: bool, keep: &mut Reachable) -> Result<()> {
    let mut cur = Some(*commit);
    let mut depth = depth;
    while let Some(id) = cur {
        if commit_only {
            keep.insert((id, ObjectType::Commit));
            keep.insert((id, ObjectType::CommitMeta));
        } else {
            mark_commit(repo, &id, keep)?;
        }
        if depth == 0 {
            break;
        }
        depth = if depth > 0 { depth - 1 } else { -1 };
        cur = match repo.load_commit(&id) {
            Ok(cm) => cm.parent,
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
    }
    Ok(())
}

/// Mark `commit` (a ref's head, always kept) and then its ancestors while
/// they are at least as recent as `limit` (ostree's --keep-younger-than).
fn mark_younger_than(repo: &Repo, commit: &Checksum, limit: u64, commit_only: bool, keep: &mut Reachable) -> Result<()> {
    mark_history(repo, commit, 0, commit_only, keep)?;
    let mut cur = Some(*commit);
    while let Some(id) = cur {
        match repo.load_commit(&id) {
            Ok(cm) if cm.timestamp >= limit => {
                mark_history(repo, &id, 0, commit_only, keep)?;
                cur = cm.parent;
            }
            Ok(_) => break,
            Err(e) if e.is_not_found() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The commits refs point at: local, remote, and mirrored collection refs.
fn ref_roots(repo: &Repo) -> Result<Vec<Checksum>> {
    let mut v: Vec<Checksum> = repo.list_refs()?.into_values().collect();
    v.extend(repo.list_mirror_refs()?.into_values());
    Ok(v)
}

/// Turn on `core.tombstone-commits`: from now on every deleted commit
/// leaves a `.tombstone-commit` object, so pulls know it went on purpose.
pub fn enable_tombstones(repo: &mut Repo) -> Result<()> {
    if repo.config().get_bool("core", "tombstone-commits").ok().flatten() == Some(true) {
        return Ok(());
    }
    repo.update_config(|kf| kf.set_bool("core", "tombstone-commits", true))
}

/// The `.tombstone-commit` object for `commit`: `a{sv}` with `commit` as a
/// NUL-terminated hex bytestring, byte for byte as ostree writes it.
pub fn tombstone_bytes(commit: &Checksum) -> Vec<u8> {
    let mut hex = commit.to_hex().into_bytes();
    hex.push(0);
    build::vardict([("commit".to_string(), build::ay(hex))]).to_bytes()
}

/// Delete a commit object with its detached metadata and partial marker;
/// with `core.tombstone-commits` a tombstone takes its place (written
/// durably before the commit goes). Returns the bytes freed. Caller holds
/// the exclusive lock.
pub fn delete_commit_object(repo: &Repo, commit: &Checksum) -> Result<u64> {
    if repo.config().get_bool("core", "tombstone-commits").ok().flatten() == Some(true) {
        fsutil::atomic_write(&repo.object_path(commit, ObjectType::TombstoneCommit), &tombstone_bytes(commit), 0o644, repo.fsync_enabled())?;
    }
    let mut freed = repo.delete_object(commit, ObjectType::CommitMeta)?;
    freed += repo.delete_object(commit, ObjectType::Commit)?;
    let _ = std::fs::remove_file(repo.path().join(format!("state/{commit}.commitpartial")));
    Ok(freed)
}

/// `prune --delete-commit`: delete one commit object (and its detached
/// metadata), refusing while any ref points at it, as ostree does; it
/// turns tombstones on first, so a later pull does not bring it back.
pub fn delete_commit(repo: &mut Repo, commit: &Checksum) -> Result<()> {
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    let named = repo.list_refs()?.into_iter().chain(repo.list_mirror_refs()?.into_iter().map(|((c, r), sum)| (format!("({c}, {r})"), sum)));
    if let Some((name, _)) = named.into_iter().find(|(_, c)| c == commit) {
        return Err(Error::Conflict(format!("Commit '{commit}' is referenced by '{name}'")));
    }
    enable_tombstones(repo)?;
    if !repo.has_object(commit, ObjectType::Commit) {
        return Err(Error::MissingObject(*commit, ObjectType::Commit));
    }
    delete_commit_object(repo, commit)?;
    Ok(())
}

/// Commits whose parent is missing (history cut by a prune): ostree's
/// `fsck --add-tombstones` replaces each with a tombstone, and prints it.
pub fn commits_with_missing_parent(repo: &Repo) -> Result<Vec<Checksum>> {
    let mut out = Vec::new();
    for (c, _) in repo.list_objects(Some(ObjectType::Commit))? {
        if let Some(p) = repo.load_commit(&c)?.parent {
            if !repo.has_object(&p, ObjectType::Commit) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// `fsck --add-tombstones`: turn tombstones on and delete `commits`.
pub fn add_tombstones(repo: &mut Repo, commits: &[Checksum]) -> Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    enable_tombstones(repo)?;
    for c in commits {
        delete_commit_object(repo, c)?;
    }
    Ok(())
}

/// The reachable set: ostree's plain prune (every commit, or with
/// `refs_only` every ref, `depth` deep) unless a per-branch option asks for
/// its ref-by-ref walk.
fn reachable(repo: &Repo, opts: &PruneOptions) -> Result<Reachable> {
    let mut keep = HashSet::new();
    let per_branch = opts.keep_younger_than.is_some() || !opts.branch_depth.is_empty() || !opts.only_branches.is_empty();
    if per_branch {
        let mut depths = opts.branch_depth.clone();
        let refs = repo.list_refs()?;
        if !opts.only_branches.is_empty() {
            for b in &opts.only_branches {
                repo.resolve_rev(b).map_err(|e| if e.is_not_found() { Error::Invalid(format!("Refspec '{b}' not found")) } else { e })?;
            }
            for r in refs.keys() {
                if !opts.only_branches.contains(r) {
                    depths.entry(r.clone()).or_insert(-1);
                }
            }
        }
        for (r, c) in &refs {
            match (depths.get(r), opts.keep_younger_than) {
                (Some(d), _) => mark_history(repo, c, *d, opts.commit_only, &mut keep)?,
                (None, Some(limit)) => mark_younger_than(repo, c, limit, opts.commit_only, &mut keep)?,
                (None, None) => mark_history(repo, c, opts.depth, opts.commit_only, &mut keep)?,
            }
        }
        // Mirrored collection refs are roots too (ostree forgets them here).
        for c in repo.list_mirror_refs()?.values() {
            mark_history(repo, c, opts.depth, opts.commit_only, &mut keep)?;
        }
    } else if opts.refs_only {
        for c in ref_roots(repo)? {
            mark_history(repo, &c, opts.depth, opts.commit_only, &mut keep)?;
        }
    } else {
        for (c, _) in repo.list_objects(Some(ObjectType::Commit))? {
            mark_history(repo, &c, opts.depth, opts.commit_only, &mut keep)?;
        }
    }
    Ok(keep)
}

pub fn prune(repo: &Repo, opts: &PruneOptions) -> Result<PruneStats> {
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    let keep = reachable(repo, opts)?;
    // Tombstones are never candidates, nor counted (as ostree); commit
    // metadata goes with its commit.
    let candidates: Vec<(Checksum, ObjectType)> = repo
        .list_objects(None)?
        .into_iter()
        .filter(|(_, t)| *t != ObjectType::TombstoneCommit)
        .filter(|(_, t)| !opts.commit_only || *t == ObjectType::Commit)
        .collect();
    let mut stats = PruneStats { total: candidates.len(), ..PruneStats::default() };
    for (c, t) in &candidates {
        if keep.contains(&(*c, *t)) {
            continue;
        }
        stats.deleted += 1;
        if opts.dry_run {
            stats.freed += std::fs::symlink_metadata(repo.object_path(c, *t)).map(|m| m.len()).unwrap_or(0);
        } else if *t == ObjectType::Commit {
            stats.freed += delete_commit_object(repo, c)?;
        } else {
            stats.freed += repo.delete_object(c, *t)?;
        }
    }
    if !opts.dry_run {
        prune_summary_cache(repo)?;
    }
    Ok(stats)
}

/// Summaries cached (`tmp/cache/summaries/NAME` and `NAME.sig`) for
/// remotes that no longer exist go, as ostree's prune removes them.
fn prune_summary_cache(repo: &Repo) -> Result<()> {
    let dir = repo.path().join("tmp/cache/summaries");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
    let remotes: HashSet<String> = crate::remote::list(repo)?.into_iter().map(|r| r.name).collect();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let base = name.strip_suffix(".sig").filter(|b| !b.is_empty()).unwrap_or(&name);
        if !remotes.contains(base) {
            std::fs::remove_file(e.path()).map_err(|err| crate::Error::io(e.path(), err))?;
        }
    }
    Ok(())
}
