//! `sign`.

use ostree_repo::object::{Checksum, ObjectType};
use ostree_repo::Repo;
use uptree_pull::sign::{self, SignType};

use super::out;
use crate::cli::SignOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &SignOpts) -> Result<i32> {
    let kind = SignType::from_name(&o.sign_type)?;
    let keys = keys_with_file(&o.keys, o.keys_file.as_deref())?;
    let c = repo.resolve_rev(&o.rev)?;
    if o.verify {
        if keys.is_empty() && o.keys_dir.is_none() {
            return Err("no keys given".into());
        }
        let verifier = kind.verifier(&keys, o.keys_dir.as_deref())?;
        let bytes = repo.read_metadata_verified(ObjectType::Commit, &c)?;
        let detached = std::fs::read(repo.object_path(&c, ObjectType::CommitMeta)).ok();
        // ostree's wording first: scripts grep it.
        let msg = verifier.check(&format!("commit {c}"), &bytes, detached.as_deref()).map_err(|e| format!("No valid signatures found: {e}"))?;
        out(&format!("{msg}\n"))?;
        return Ok(0);
    }
    if keys.is_empty() {
        return Err("no keys given".into());
    }
    sign_commit(repo, &c, kind, &keys)?;
    Ok(0)
}

/// `keys` and the lines of `keys_file`, ostree's `--keys-file`.
pub fn keys_with_file(keys: &[String], keys_file: Option<&std::path::Path>) -> Result<Vec<String>> {
    let mut all = keys.to_vec();
    if let Some(f) = keys_file {
        all.extend(sign::key_lines(f)?);
    }
    Ok(all)
}

/// Add one `kind` signature per secret key to commit `c`'s detached
/// metadata (`sign`, `commit --sign`); what is there already is kept.
pub fn sign_commit(repo: &Repo, c: &Checksum, kind: SignType, secrets: &[String]) -> Result<()> {
    let bytes = repo.read_metadata_verified(ObjectType::Commit, c)?;
    let detached_path = repo.object_path(c, ObjectType::CommitMeta);
    let mut meta = std::fs::read(&detached_path).ok();
    for k in secrets {
        meta = Some(kind.add_signature(meta.as_deref(), &kind.sign(&bytes, k)?)?);
    }
    if let Some(m) = meta {
        if let Some(dir) = detached_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        ostree_repo::fsutil::atomic_write(&detached_path, &m, 0o644, repo.fsync_enabled())?;
    }
    Ok(())
}
