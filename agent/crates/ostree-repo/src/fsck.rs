//! `fsck`: recompute the checksum of every object reachable from every
//! commit (and check that refs point at commits that exist).
//!
//! Metadata must hash to its name, parse, and be in normal form; content is
//! re-hashed from its stored form (inflating `.filez`, reading
//! `user.ostreemeta` in bare-user). Content verification runs on all cores.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{mpsc, Arc, Mutex};

use crate::error::{Error, Result};
use crate::gvariant::Value;
use crate::object::{self, Checksum, Commit, ContentHasher, DirMeta, DirTree, ObjectType};
use crate::repo::{Content, Repo};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub checksum: Checksum,
    pub kind: ObjectType,
    /// In ostree's words where scripts grep them ("Corrupted file object;
    /// checksum expected=…", "Object missing").
    pub what: String,
    pub missing: bool,
    /// The commits whose trees reach the object (empty: a commit object itself).
    pub commits: Vec<Checksum>,
}

impl std::fmt::Display for Problem {
    /// ostree's lines: "Object missing in commits C: X.file",
    /// "In commits C: fsck content object X: …", "fsck X.commit: …".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let commits = self.commits.iter().map(Checksum::to_hex).collect::<Vec<_>>().join(", ");
        match (self.missing, commits.is_empty()) {
            (true, false) => write!(f, "Object missing in commits {commits}: {}.{}", self.checksum, self.kind),
            (true, true) => write!(f, "Object missing: {}.{}", self.checksum, self.kind),
            (false, false) if self.kind == ObjectType::File => write!(f, "In commits {commits}: fsck content object {}: {}", self.checksum, self.what),
            (false, false) => write!(f, "In commits {commits}: fsck {}.{}: {}", self.checksum, self.kind, self.what),
            (false, true) => write!(f, "fsck {}.{}: {}", self.checksum, self.kind, self.what),
        }
    }
}

/// What fsck looked at and found.
#[derive(Debug, Default)]
pub struct Report {
    pub commits: usize,
    pub partial_commits: usize,
    pub objects_checked: usize,
    pub problems: Vec<Problem>,
    /// Refs that point at missing commits.
    pub bad_refs: Vec<(String, Checksum)>,
    /// Commits whose closure has a problem.
    pub affected_commits: Vec<Checksum>,
    /// Partial commits marked so by an earlier fsck (not by an unfinished pull).
    pub fsck_partial_commits: usize,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.bad_refs.is_empty() && self.fsck_partial_commits == 0
    }
}

/// Verify the checksum of a metadata object's bytes and its structure.
pub fn verify_metadata(kind: ObjectType, csum: &Checksum, data: &[u8]) -> Result<()> {
    let actual = Checksum::of(data);
    if actual != *csum {
        return Err(Error::ChecksumMismatch { checksum: *csum, kind, actual });
    }
    let ty = match kind {
        ObjectType::Commit => {
            Commit::from_bytes(data)?;
            object::commit_type()
        }
        ObjectType::DirTree => {
            DirTree::from_bytes(data)?;
            object::dirtree_type()
        }
        ObjectType::DirMeta => {
            DirMeta::from_bytes(data)?;
            object::dirmeta_type()
        }
        ObjectType::CommitMeta => object::vardict_type(),
        _ => return Ok(()),
    };
    Value::from_bytes_normal(data, ty)?;
    Ok(())
}

/// Re-hash a content object from its stored form.
pub fn verify_content(repo: &Repo, csum: &Checksum, buf: &mut [u8]) -> Result<()> {
    let (meta, content) = repo.load_file(csum)?;
    let mut h = ContentHasher::new(&meta);
    if let Content::Regular(mut r, _) = content {
        loop {
            let n = r.read(buf).map_err(|e| Error::Corrupt(e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    let actual = h.finish();
    if actual != *csum {
        return Err(Error::ChecksumMismatch { checksum: *csum, kind: ObjectType::File, actual });
    }
    Ok(())
}

fn problem(csum: Checksum, kind: ObjectType, e: &Error) -> Problem {
    let what = match e.root() {
        Error::ChecksumMismatch { checksum, kind, actual } => format!("Corrupted {kind} object; checksum expected='{checksum}' actual='{actual}'"),
        r => r.to_string(),
    };
    Problem { checksum: csum, kind, what, missing: e.is_not_found(), commits: Vec::new() }
}

/// Check the whole repository. `progress` is called with (done, total)
/// content objects now and then.
pub fn fsck(repo: &Repo, threads: usize, progress: &mut dyn FnMut(usize, usize)) -> Result<Report> {
    let mut report = Report::default();
    for (name, c) in repo.list_refs()? {
        if !repo.has_object(&c, ObjectType::Commit) {
            report.bad_refs.push((name, c));
        }
    }
    for ((cid, name), c) in repo.list_mirror_refs()? {
        if !repo.has_object(&c, ObjectType::Commit) {
            report.bad_refs.push((format!("({cid}, {name})"), c));
        }
    }
    let commits = repo.list_objects(Some(ObjectType::Commit))?;
    let mut seen_meta: HashSet<(Checksum, ObjectType)> = HashSet::new();
    let mut content: Vec<Checksum> = Vec::new();
    let mut seen_content: HashSet<Checksum> = HashSet::new();
    let mut commit_ids = Vec::new();
    for (c, _) in &commits {
        commit_ids.push(*c);
        report.commits += 1;
        let partial = repo.is_partial(c);
        if partial {
            report.partial_commits += 1;
            if repo.is_fsck_partial(c) {
                report.fsck_partial_commits += 1;
            }
        }
        let data = match repo.read_metadata(ObjectType::Commit, c) {
            Ok(d) => d,
            Err(e) => {
                report.problems.push(problem(*c, ObjectType::Commit, &e));
                report.affected_commits.push(*c);
                continue;
            }
        };
        report.objects_checked += 1;
        if let Err(e) = verify_metadata(ObjectType::Commit, c, &data) {
            report.problems.push(problem(*c, ObjectType::Commit, &e));
            report.affected_commits.push(*c);
            continue;
        }
        let commit = Commit::from_bytes(&data)?;
        if repo.has_object(c, ObjectType::CommitMeta) && seen_meta.insert((*c, ObjectType::CommitMeta)) {
            report.objects_checked += 1;
            match repo.read_metadata(ObjectType::CommitMeta, c) {
                // Detached metadata is not content-addressed: only check its form.
                Ok(d) => {
                    if let Err(e) = Value::from_bytes_normal(&d, object::vardict_type()) {
                        report.problems.push(problem(*c, ObjectType::CommitMeta, &e.into()));
                    }
                }
                Err(e) => report.problems.push(problem(*c, ObjectType::CommitMeta, &e)),
            }
        }
        let mut stack = vec![(commit.root_tree, commit.root_meta)];
        while let Some((tree, meta)) = stack.pop() {
            for (csum, kind) in [(meta, ObjectType::DirMeta), (tree, ObjectType::DirTree)] {
                if !seen_meta.insert((csum, kind)) {
                    continue;
                }
                report.objects_checked += 1;
                let data = match repo.read_metadata(kind, &csum) {
                    Ok(d) => d,
                    Err(e) if partial && e.is_not_found() => continue,
                    Err(e) => {
                        report.problems.push(problem(csum, kind, &e));
                        continue;
                    }
                };
                if let Err(e) = verify_metadata(kind, &csum, &data) {
                    report.problems.push(problem(csum, kind, &e));
                    continue;
                }
                if kind == ObjectType::DirTree {
                    let dt = DirTree::from_bytes(&data)?;
                    for (_, f) in &dt.files {
                        if seen_content.insert(*f) {
                            if partial && !repo.has_object(f, ObjectType::File) {
                                continue;
                            }
                            content.push(*f);
                        }
                    }
                    for (_, t, m) in dt.dirs {
                        stack.push((t, m));
                    }
                }
            }
        }
    }

    // Content, in parallel.
    let total = content.len();
    report.objects_checked += total;
    let work = Arc::new(Mutex::new(content.into_iter()));
    let (tx, rx) = mpsc::channel::<Option<Problem>>();
    let n = if threads > 0 { threads } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8) };
    std::thread::scope(|s| {
        for _ in 0..n {
            let work = Arc::clone(&work);
            let tx = tx.clone();
            s.spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let next = work.lock().ok().and_then(|mut w| w.next());
                    let Some(csum) = next else { break };
                    let p = verify_content(repo, &csum, &mut buf).err().map(|e| problem(csum, ObjectType::File, &e));
                    if tx.send(p).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for p in rx {
            done += 1;
            if done % 4096 == 0 || done == total {
                progress(done, total);
            }
            if let Some(p) = p {
                report.problems.push(p);
            }
        }
    });
    attribute_problems(repo, &commit_ids, &mut report);
    report.affected_commits.sort();
    report.affected_commits.dedup();
    report.problems.sort_by_key(|p| (p.checksum, p.kind));
    Ok(report)
}

/// Check a commit's ref and collection bindings against the ref that
/// points at it, in ostree's words (`_ostree_repo_verify_bindings`).
pub fn verify_bindings(commit: &Commit, collection_id: Option<&str>, ref_name: Option<&str>) -> Result<(), String> {
    let Some(Value::Array(_, bound)) = commit.meta("ostree.ref-binding") else {
        return match collection_id {
            None => Ok(()),
            Some(_) => Err("Expected commit metadata to have ref binding information, found none".into()),
        };
    };
    let bound: Vec<&str> = bound.iter().filter_map(Value::as_str).collect();
    if let Some(r) = ref_name {
        if !bound.contains(&r) {
            let list = if bound.is_empty() { "no refs".to_string() } else { bound.iter().map(|b| format!("‘{b}’")).collect::<Vec<_>>().join(", ") };
            return Err(format!("Commit has no requested ref ‘{r}’ in ref binding metadata ({list})"));
        }
    }
    if let Some(cid) = collection_id {
        match commit.meta("ostree.collection-binding").and_then(Value::as_str) {
            None => return Err("Expected commit metadata to have collection ID binding information, found none".into()),
            Some(b) if b != cid => {
                return Err(format!("Commit has collection ID ‘{b}’ in collection binding metadata, while the remote it came from has collection ID ‘{cid}’"))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `fsck --verify-bindings` (`forward`): every ref's commit must be bound to
/// it (and a collection–ref's to its collection); `--verify-back-refs`
/// (`back_refs`): every binding of every commit must name a ref that
/// exists. Returns the problems.
pub fn verify_ref_bindings(repo: &Repo, forward: bool, back_refs: bool) -> Result<Vec<String>> {
    let mut problems: Vec<String> = Vec::new();
    // A local ref of the repository's own collection is checked as a ref
    // and as a collection–ref: report what is wrong once.
    let mut report = |line: String| {
        if !problems.contains(&line) {
            problems.push(line);
        }
    };
    let load = |c: &Checksum| repo.load_commit(c).ok();
    let collection_refs = repo.list_collection_refs()?;
    for (name, c) in repo.list_refs()?.into_iter().filter(|_| forward) {
        let ref_name = name.split_once(':').map_or(name.as_str(), |(_, r)| r);
        if let Some(commit) = load(&c) {
            if let Err(e) = verify_bindings(&commit, None, Some(ref_name)) {
                report(format!("Commit {c}: {e}"));
            }
        }
    }
    for ((cid, name), c) in collection_refs.iter().filter(|_| forward) {
        if let Some(commit) = load(c) {
            if let Err(e) = verify_bindings(&commit, Some(cid), Some(name)) {
                report(format!("Commit {c}: {e}"));
            }
        }
    }
    if back_refs {
        let refs = repo.list_refs()?;
        for (c, _) in repo.list_objects(Some(ObjectType::Commit))? {
            let Some(commit) = load(&c) else { continue };
            let Some(Value::Array(_, bound)) = commit.meta("ostree.ref-binding") else { continue };
            let cid = commit.meta("ostree.collection-binding").and_then(Value::as_str);
            for r in bound.iter().filter_map(Value::as_str) {
                match cid {
                    Some(cid) if !collection_refs.contains_key(&(cid.to_string(), r.to_string())) => {
                        report(format!("Collection–ref ({cid}, {r}) in bindings for commit {c} does not exist"));
                    }
                    None if !refs.contains_key(r) => report(format!("Ref ‘{r}’ in bindings for commit {c} does not exist")),
                    _ => {}
                }
            }
        }
    }
    Ok(problems)
}

/// Name, for each problem object inside trees, every commit that reaches it
/// (the scan visits shared subtrees once, so it cannot tell). Only runs when
/// something is wrong; a memo keeps it one walk over the distinct trees.
fn attribute_problems(repo: &Repo, commits: &[Checksum], report: &mut Report) {
    let bad: HashSet<Checksum> =
        report.problems.iter().filter(|p| p.kind != ObjectType::Commit && p.kind != ObjectType::CommitMeta).map(|p| p.checksum).collect();
    if bad.is_empty() {
        return;
    }
    let mut memo: HashMap<Checksum, Vec<Checksum>> = HashMap::new();
    for c in commits {
        let Ok(commit) = repo.load_commit(c) else { continue };
        let mut hits = reached(repo, commit.root_tree, &bad, &mut memo);
        if bad.contains(&commit.root_meta) {
            hits.push(commit.root_meta);
        }
        if hits.is_empty() {
            continue;
        }
        report.affected_commits.push(*c);
        for p in report.problems.iter_mut().filter(|p| hits.contains(&p.checksum)) {
            p.commits.push(*c);
        }
    }
}

/// The objects of `bad` that `tree` reaches (itself included).
fn reached(repo: &Repo, tree: Checksum, bad: &HashSet<Checksum>, memo: &mut HashMap<Checksum, Vec<Checksum>>) -> Vec<Checksum> {
    if let Some(v) = memo.get(&tree) {
        return v.clone();
    }
    let mut hits = Vec::new();
    if bad.contains(&tree) {
        hits.push(tree);
    } else if let Ok(dt) = repo.load_dirtree(&tree) {
        hits.extend(dt.files.iter().map(|(_, f)| *f).filter(|f| bad.contains(f)));
        for (_, t, m) in &dt.dirs {
            if bad.contains(m) {
                hits.push(*m);
            }
            hits.extend(reached(repo, *t, bad, memo));
        }
        hits.sort();
        hits.dedup();
    }
    memo.insert(tree, hits.clone());
    hits
}

/// `fsck --delete`: remove corrupt objects and mark the commits that needed
/// them partial, so the next pull fetches them again.
pub fn repair(repo: &Repo, report: &Report) -> Result<usize> {
    let _lock = repo.lock(uptree_sys::lock::LockKind::Exclusive)?;
    let mut removed = 0;
    for p in &report.problems {
        if !p.missing && p.kind != ObjectType::Commit {
            repo.delete_object(&p.checksum, p.kind)?;
            removed += 1;
        }
    }
    for c in &report.affected_commits {
        repo.mark_fsck_partial(c)?;
    }
    Ok(removed)
}

/// Commits that reach a missing object: ostree marks them partial even
/// without `--delete` (deleting nothing), so a pull fetches the rest.
pub fn commits_missing_objects(report: &Report) -> Vec<Checksum> {
    let mut v: Vec<Checksum> = report.problems.iter().filter(|p| p.missing).flat_map(|p| p.commits.iter().copied()).collect();
    v.sort();
    v.dedup();
    v
}
