//! `prune`: delete objects no longer reachable.
//!
//! With `refs_only`, the roots are the refs (local, remote, and the
//! `ostree/B/S/N` refs that keep deployments alive), followed `depth`
//! parents deep (-1 = all). With `keep_younger_than`, each ref keeps its
//! own commit and then its ancestors for as long as they are at least that
//! recent (ostree's semantics; `depth` is then unused). Without
//! `refs_only` every commit is a root and only orphaned trees and files go.
//! Runs under the exclusive repo lock, so no transaction is mid-flight.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::object::{Checksum, ObjectType};
use crate::repo::Repo;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub refs_only: bool,
    /// Parents to keep behind each ref; -1 keeps all.
    pub depth: i64,
    /// Keep history only back to this time (implies `refs_only`).
    pub keep_younger_than: Option<u64>,
    /// Only report.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions { refs_only: false, depth: -1, keep_younger_than: None, dry_run: false }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PruneStats {
    pub total: usize,
    pub deleted: usize,
    pub freed: u64,
}

/// Add a commit's tree closure to `keep`. Missing objects are tolerated
/// (partial commits).
pub fn mark_commit(repo: &Repo, commit: &Checksum, keep: &mut HashSet<(Checksum, ObjectType)>) -> Result<()> {
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

/// The commits refs point at: local, remote, and mirrored collection refs.
fn ref_roots(repo: &Repo) -> Result<Vec<Checksum>> {
    let mut v: Vec<Checksum> = repo.list_refs()?.into_values().collect();
    v.extend(repo.list_mirror_refs()?.into_values());
    Ok(v)
}

/// `prune --delete-commit`: delete one commit object (and its detached
/// metadata), refusing while any ref points at it, as ostree does.
pub fn delete_commit(repo: &Repo, commit: &Checksum) -> Result<()> {
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    let named = repo.list_refs()?.into_iter().chain(repo.list_mirror_refs()?.into_iter().map(|((c, r), sum)| (format!("({c}, {r})"), sum)));
    if let Some((name, _)) = named.into_iter().find(|(_, c)| c == commit) {
        return Err(Error::Conflict(format!("Commit '{commit}' is referenced by '{name}'")));
    }
    repo.delete_object(commit, ObjectType::Commit)?;
    if repo.has_object(commit, ObjectType::CommitMeta) {
        repo.delete_object(commit, ObjectType::CommitMeta)?;
    }
    Ok(())
}

pub fn prune(repo: &Repo, opts: &PruneOptions) -> Result<PruneStats> {
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    let all = repo.list_objects(None)?;
    let mut keep = HashSet::new();
    let commits: Vec<Checksum> = all.iter().filter(|(_, t)| *t == ObjectType::Commit).map(|(c, _)| *c).collect();
    if let Some(limit) = opts.keep_younger_than {
        for c in ref_roots(repo)? {
            mark_commit(repo, &c, &mut keep)?;
            let mut cur = Some(c);
            while let Some(id) = cur {
                match repo.load_commit(&id) {
                    Ok(cm) if cm.timestamp >= limit => {
                        mark_commit(repo, &id, &mut keep)?;
                        cur = cm.parent;
                    }
                    _ => break,
                }
            }
        }
    } else if opts.refs_only {
        let mut roots: Vec<(Checksum, i64)> = ref_roots(repo)?.into_iter().map(|c| (c, opts.depth)).collect();
        let mut visited = HashSet::new();
        while let Some((c, depth)) = roots.pop() {
            if !visited.insert((c, depth)) {
                continue;
            }
            mark_commit(repo, &c, &mut keep)?;
            if depth != 0 {
                if let Ok(Some(p)) = repo.load_commit(&c).map(|cm| cm.parent) {
                    roots.push((p, if depth > 0 { depth - 1 } else { -1 }));
                }
            }
        }
    } else {
        for c in &commits {
            let mut cur = Some(*c);
            let mut depth = opts.depth;
            while let Some(id) = cur {
                mark_commit(repo, &id, &mut keep)?;
                if depth == 0 {
                    break;
                }
                depth = if depth > 0 { depth - 1 } else { -1 };
                cur = repo.load_commit(&id).ok().and_then(|cm| cm.parent);
            }
        }
    }
    let mut stats = PruneStats { total: all.len(), ..PruneStats::default() };
    for (c, t) in &all {
        if keep.contains(&(*c, *t)) || *t == ObjectType::TombstoneCommit {
            continue;
        }
        stats.deleted += 1;
        if opts.dry_run {
            stats.freed += std::fs::symlink_metadata(repo.object_path(c, *t)).map(|m| m.len()).unwrap_or(0);
        } else {
            stats.freed += repo.delete_object(c, *t)?;
            if *t == ObjectType::Commit {
                let _ = std::fs::remove_file(repo.path().join(format!("state/{c}.commitpartial")));
            }
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
