//! `sign`.

use ostree_repo::object::ObjectType;
use ostree_repo::Repo;
use uptree_pull::sign;

use super::out;
use crate::cli::SignOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &SignOpts) -> Result<i32> {
    if o.sign_type != "ed25519" {
        return Err(format!("unsupported signature type {:?} (uptree signs ed25519)", o.sign_type).into());
    }
    let mut keys = o.keys.clone();
    if let Some(f) = &o.keys_file {
        keys.extend(std::fs::read_to_string(f)?.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    if keys.is_empty() {
        return Err("no keys given".into());
    }
    let c = repo.resolve_rev(&o.rev)?;
    let bytes = repo.read_metadata_verified(ObjectType::Commit, &c)?;
    let detached_path = repo.object_path(&c, ObjectType::CommitMeta);
    let existing = std::fs::read(&detached_path).ok();
    if o.verify {
        let pubkeys = keys
            .iter()
            .map(|k| {
                sign::base64_decode(k).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).ok_or_else(|| format!("{k:?} is not a base64 ed25519 public key"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        sign::Ed25519Verifier::with_keys(pubkeys).verify(&format!("commit {c}"), &bytes, existing.as_deref())?;
        out(&format!("Commit {c} has a valid ed25519 signature\n"))?;
        return Ok(0);
    }
    let mut meta = existing;
    for k in &keys {
        meta = Some(sign::add_signature(meta.as_deref(), &sign::sign(&bytes, k)?)?);
    }
    if let Some(m) = meta {
        if let Some(dir) = detached_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        ostree_repo::fsutil::atomic_write(&detached_path, &m, 0o644, repo.fsync_enabled())?;
    }
    Ok(0)
}
