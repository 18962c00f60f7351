//! `static-delta apply-offline PATH`: every part verified before it runs,
//! every object before it is committed; a failure leaves the repository
//! as it was.

use ostree_repo::Repo;

use crate::cli::ApplyOfflineOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &ApplyOfflineOpts) -> Result<i32> {
    uptree_delta::apply::apply_offline(repo, &o.path).map_err(|e| format!("applying delta {}: {e}", o.path.display()))?;
    Ok(0)
}
