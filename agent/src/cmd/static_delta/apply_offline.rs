//! `static-delta apply-offline PATH [KEY…]`: the superblock's signature
//! checked first where keys are given or `core.sign-verify-deltas` asks,
//! every part verified before it runs, every object before it is
//! committed; a failure leaves the repository as it was.

use ostree_repo::Repo;
use uptree_pull::sign::SignType;

use crate::cli::ApplyOfflineOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &ApplyOfflineOpts) -> Result<i32> {
    let keys = crate::cmd::sign::keys_with_file(&o.keys, o.keys_file.as_deref())?;
    let required = repo.config().get_bool("core", "sign-verify-deltas")?.unwrap_or(false);
    let has_keys = !keys.is_empty() || o.keys_dir.is_some();
    if required && !has_keys {
        // ostree's wording.
        return Err("Key is mandatory to check delta signature".into());
    }
    let (bytes, dir) = uptree_delta::apply::read_superblock_file(&o.path)?;
    if has_keys {
        let verifier = SignType::from_name(&o.sign_type)?.verifier(&keys, o.keys_dir.as_deref())?;
        uptree_pull::delta::verify_signed(&o.path.display(), &bytes, verifier.as_ref())?;
    }
    uptree_delta::apply::apply_offline_superblock(repo, &bytes, &dir).map_err(|e| format!("applying delta {}: {e}", o.path.display()))?;
    Ok(0)
}
