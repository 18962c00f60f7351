//! A remote's summary alone, verified as a pull verifies it: for `remote
//! refs` and for the agent's "anything new?" check, which must not pull
//! when nothing changed.

use ostree_repo::remote;
use ostree_repo::summary::{Summary, MAX_SUMMARY_SIZE};
use ostree_repo::Repo;

use crate::error::{Error, Result};
use crate::transport::{self, NetOptions};
use crate::trust::Policy;

/// Fetch and verify `remote_name`'s summary; `Ok(None)` if it has none
/// (and its policy does not require one).
pub fn fetch(repo: &Repo, remote_name: &str, net: &NetOptions) -> Result<Option<Summary>> {
    let r = remote::get(repo, remote_name)?;
    let t = transport::open(repo, &r, net)?;
    let policy = Policy::for_remote(repo, &r)?;
    let ctx = |e: Error| e.context(format!("fetching the summary of {remote_name} ({})", t.describe()));
    let Some(bytes) = t.get_file("summary", MAX_SUMMARY_SIZE).map_err(ctx)? else {
        return if policy.summary_required() { Err(policy.missing_summary()) } else { Ok(None) };
    };
    // sign-verify-summary holds here as for pull: verified before decoding.
    let sig = if policy.summary_required() { t.get_file("summary.sig", MAX_SUMMARY_SIZE).map_err(ctx)? } else { None };
    policy.verify_summary(&bytes, sig.as_deref())?;
    Ok(Some(Summary::from_bytes(&bytes).map_err(|e| ctx(e.into()))?))
}
