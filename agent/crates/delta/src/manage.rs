//! The deltas of a repository: list, delete, and the `delta-indexes/`
//! files (`a{sv}` per target commit) that ostree clients consult when the
//! summary does not list deltas.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use ostree_repo::object::Checksum;
use ostree_repo::summary::{checksum_to_mbase64, mbase64_to_checksum};
use ostree_repo::{fsutil, Repo};

use crate::apply::read_superblock;
use crate::error::{Error, Result};
use crate::format::{self, DeltaName, Superblock};

/// Every delta in `deltas/` with the SHA-256 of its superblock, by name.
pub fn list(repo: &Repo) -> Result<Vec<(DeltaName, Checksum)>> {
    let mut out = Vec::new();
    for (name, digest) in ostree_repo::summary::static_deltas(repo)? {
        out.push((DeltaName::parse(&name)?, digest));
    }
    Ok(out)
}

/// The directory of `name`, which must exist.
pub fn dir(repo: &Repo, name: &DeltaName) -> Result<PathBuf> {
    let d = repo.path().join(name.path());
    if !d.join("superblock").is_file() {
        return Err(Error::NotFound { delta: name.to_string() });
    }
    Ok(d)
}

/// Load a delta's superblock.
pub fn load(repo: &Repo, name: &DeltaName) -> Result<Superblock> {
    Ok(read_superblock(&dir(repo, name)?)?.0)
}

/// Remove a delta directory (superblock first, so a half-deleted delta is
/// never listed), and its entry in the index.
pub fn delete(repo: &Repo, name: &DeltaName) -> Result<()> {
    let d = dir(repo, name)?;
    let sb = d.join("superblock");
    fs::remove_file(&sb).map_err(|e| Error::io(&sb, e))?;
    fsutil::remove_tree(&d)?;
    reindex(repo, Some(&name.to))
}

fn index_path(repo: &Repo, to: &Checksum) -> PathBuf {
    let b = checksum_to_mbase64(to);
    repo.path().join("delta-indexes").join(&b[..2]).join(format!("{}.index", &b[2..]))
}

/// Rewrite the index files (all, or the one for `to`), as ostree's
/// `static-delta reindex` and `summary -u` do; indexes of commits that no
/// longer have deltas are removed.
pub fn reindex(repo: &Repo, only: Option<&Checksum>) -> Result<()> {
    let mut by_target: BTreeMap<Checksum, Vec<(String, Checksum)>> = BTreeMap::new();
    for (name, digest) in list(repo)? {
        by_target.entry(name.to).or_default().push((name.to_string(), digest));
    }
    for (to, deltas) in &by_target {
        if only.is_some_and(|o| o != to) {
            continue;
        }
        let p = index_path(repo, to);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fsutil::atomic_write(&p, &format::index_bytes(deltas), 0o644, repo.fsync_enabled())?;
    }
    for to in indexes(repo)? {
        if only.is_some_and(|o| *o != to) || by_target.contains_key(&to) {
            continue;
        }
        let p = index_path(repo, &to);
        fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// Target commits that have an index file.
pub fn indexes(repo: &Repo) -> Result<Vec<Checksum>> {
    let root = repo.path().join("delta-indexes");
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(&root) else { return Ok(out) };
    for prefix in rd.flatten() {
        let p = prefix.file_name().to_string_lossy().into_owned();
        let Ok(inner) = fs::read_dir(prefix.path()) else { continue };
        for f in inner.flatten() {
            let n = f.file_name().to_string_lossy().into_owned();
            if let Some(rest) = n.strip_suffix(".index") {
                if let Some(c) = mbase64_to_checksum(&format!("{p}{rest}")) {
                    out.push(c);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What `static-delta show` prints of one part's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSummary {
    pub modes: usize,
    pub xattrs: usize,
    pub blob_size: usize,
    pub ops_size: usize,
    /// Per operation, as [`format::count_ops`] orders them.
    pub op_counts: [u32; 7],
}

/// Read, verify and decode part `idx` of a delta (from its file, or from
/// the superblock when inline) and count what it holds. Its size is not
/// taken from the header, which a misread byte order garbles.
pub fn part_summary(repo: &Repo, name: &DeltaName, sb: &Superblock, idx: usize) -> Result<PartSummary> {
    let header = sb.parts.get(idx).ok_or_else(|| Error::Part { part: idx, what: "no such part".into() })?;
    let bytes = match sb.inline_part(idx) {
        Some(b) => b.to_vec(),
        None => {
            let p = dir(repo, name)?.join(idx.to_string());
            let f = fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, format::MAX_PART_SIZE), &mut bytes).map_err(|e| Error::io(&p, e))?;
            bytes
        }
    };
    format::verify_part(idx, header, &bytes)?;
    let payload_bytes = format::decompress_part(idx, &bytes, format::MAX_PART_SIZE)?;
    let payload = format::Payload::parse(idx, &payload_bytes)?;
    Ok(PartSummary {
        modes: payload.modes.len(),
        xattrs: payload.xattrs.len(),
        blob_size: payload.blob.len(),
        ops_size: payload.ops.len(),
        op_counts: format::count_ops(idx, &header.objects, payload.ops)?,
    })
}

/// Check every part of a delta against the checksum in its superblock.
pub fn verify(repo: &Repo, name: &DeltaName) -> Result<()> {
    let d = dir(repo, name)?;
    let sb = load(repo, name)?;
    for (idx, h) in sb.parts.iter().enumerate() {
        let bytes = match sb.inline_part(idx) {
            Some(b) => b.to_vec(),
            None => {
                let p = d.join(idx.to_string());
                fs::read(&p).map_err(|e| Error::io(&p, e))?
            }
        };
        format::verify_part(idx, h, &bytes)?;
    }
    Ok(())
}

/// Prune's share of the deltas (ostree's `prune_static_deltas`): with
/// `to`, every delta to that commit goes (`prune --static-deltas-only
/// --delete-commit`); without, every delta whose target commit is no
/// longer in the repository. Returns how many were deleted.
pub fn prune(repo: &Repo, to: Option<&Checksum>) -> Result<usize> {
    let mut n = 0;
    for (name, _) in list(repo)? {
        let gone = match to {
            Some(t) => name.to == *t,
            None => !repo.has_object(&name.to, ostree_repo::ObjectType::Commit),
        };
        if gone {
            delete(repo, &name)?;
            n += 1;
        }
    }
    Ok(n)
}
