//! `fsck`: recompute the checksum of every object reachable from every
//! commit (and check that refs point at commits that exist).
//!
//! Metadata must hash to its name, parse, and be in normal form; content is
//! re-hashed from its stored form (inflating `.filez`, reading
//! `user.ostreemeta` in bare-user). Content verification runs on all cores.

use std::collections::HashSet;
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
    pub what: String,
    /// Commits through which the object was reached (for `--delete`).
    pub missing: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object {}.{}: {}", self.checksum, self.kind, self.what)
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
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.bad_refs.is_empty()
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
    Problem { checksum: csum, kind, what: e.root().to_string(), missing: matches!(e.root(), Error::MissingObject(..)) }
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
    let commits = repo.list_objects(Some(ObjectType::Commit))?;
    let mut seen_meta: HashSet<(Checksum, ObjectType)> = HashSet::new();
    let mut content: Vec<(Checksum, usize)> = Vec::new(); // (object, commit index)
    let mut seen_content: HashSet<Checksum> = HashSet::new();
    let mut commit_ids = Vec::new();
    for (ci, (c, _)) in commits.iter().enumerate() {
        commit_ids.push(*c);
        report.commits += 1;
        let partial = repo.is_partial(c);
        if partial {
            report.partial_commits += 1;
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
        let before = report.problems.len();
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
                            content.push((*f, ci));
                        }
                    }
                    for (_, t, m) in dt.dirs {
                        stack.push((t, m));
                    }
                }
            }
        }
        if report.problems.len() > before {
            report.affected_commits.push(*c);
        }
    }

    // Content, in parallel.
    let total = content.len();
    report.objects_checked += total;
    let work = Arc::new(Mutex::new(content.into_iter()));
    let (tx, rx) = mpsc::channel::<(Checksum, usize, Option<Problem>)>();
    let n = if threads > 0 { threads } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8) };
    std::thread::scope(|s| {
        for _ in 0..n {
            let work = Arc::clone(&work);
            let tx = tx.clone();
            s.spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let next = work.lock().ok().and_then(|mut w| w.next());
                    let Some((csum, ci)) = next else { break };
                    let p = verify_content(repo, &csum, &mut buf).err().map(|e| problem(csum, ObjectType::File, &e));
                    if tx.send((csum, ci, p)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (_, ci, p) in rx {
            done += 1;
            if done % 4096 == 0 || done == total {
                progress(done, total);
            }
            if let Some(p) = p {
                report.problems.push(p);
                report.affected_commits.push(commit_ids[ci]);
            }
        }
    });
    report.affected_commits.sort();
    report.affected_commits.dedup();
    report.problems.sort_by_key(|p| (p.checksum, p.kind));
    Ok(report)
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
        let marker = repo.path().join(format!("state/{c}.commitpartial"));
        std::fs::create_dir_all(repo.path().join("state")).map_err(|e| Error::io(repo.path().join("state"), e))?;
        crate::fsutil::atomic_write(&marker, b"", 0o644, repo.fsync_enabled())?;
    }
    Ok(removed)
}
