//! `gpg-sign`, and the GPG signing `commit --gpg-sign` and `summary
//! --gpg-sign` share (feature `gpg`).

use std::path::Path;

use ostree_repo::object::ObjectType;
use ostree_repo::Repo;

use super::out;
use crate::cli::GpgSignOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &GpgSignOpts) -> Result<i32> {
    let c = repo.resolve_rev(&o.commit)?;
    let path = repo.object_path(&c, ObjectType::CommitMeta);
    let existing = std::fs::read(&path).ok();
    let meta = if o.delete {
        let (meta, n) = delete(existing.as_deref(), &o.key_ids)?;
        out(&format!("Signatures deleted: {n}\n"))?;
        if n == 0 {
            return Ok(0);
        }
        meta
    } else {
        let bytes = repo.read_metadata_verified(ObjectType::Commit, &c)?;
        sign_into(existing, &bytes, &o.key_ids, o.gpg_homedir.as_deref())?
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    ostree_repo::fsutil::atomic_write(&path, &meta, 0o644, repo.fsync_enabled())?;
    Ok(0)
}

/// `existing` detached metadata with a GPG signature of `data` by each of
/// `key_ids` appended to `ostree.gpgsigs`.
#[cfg(feature = "gpg")]
pub(super) fn sign_into(existing: Option<Vec<u8>>, data: &[u8], key_ids: &[String], homedir: Option<&Path>) -> Result<Vec<u8>> {
    let home = homedir.map_or_else(uptree_pull::gpg::default_homedir, Path::to_path_buf);
    let mut meta = existing;
    for k in key_ids {
        if let Some(m) = &meta {
            if uptree_pull::gpg::signed_already("the commit", m, k)? {
                return Err(format!("Commit is already signed with GPG key {k}").into());
            }
        }
        let sig = uptree_pull::gpg::sign(&home, k, data)?;
        meta = Some(uptree_pull::sign::add_signature_under(meta.as_deref(), uptree_pull::gpg::GPGSIGS_KEY, &sig)?);
    }
    meta.ok_or_else(|| "no GPG key given".into())
}

#[cfg(feature = "gpg")]
fn delete(existing: Option<&[u8]>, key_ids: &[String]) -> Result<(Vec<u8>, usize)> {
    match existing {
        Some(m) => Ok(uptree_pull::gpg::delete_signatures(m, key_ids)?),
        None => Ok((Vec::new(), 0)),
    }
}

#[cfg(not(feature = "gpg"))]
pub(super) fn sign_into(_: Option<Vec<u8>>, _: &[u8], _: &[String], _: Option<&Path>) -> Result<Vec<u8>> {
    Err(DISABLED.into())
}

#[cfg(not(feature = "gpg"))]
fn delete(_: Option<&[u8]>, _: &[String]) -> Result<(Vec<u8>, usize)> {
    Err(DISABLED.into())
}

#[cfg(not(feature = "gpg"))]
const DISABLED: &str = "GPG has been disabled at build time (uptree built without the `gpg` feature)";
