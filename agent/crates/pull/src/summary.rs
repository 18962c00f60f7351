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
    let Some(signed) = fetch_bytes(repo, remote_name, net, false)? else { return Ok(None) };
    Ok(Some(Summary::from_bytes(&signed.summary).map_err(|e| Error::from(e).context(format!("decoding the summary of {remote_name}")))?))
}

/// A summary's exact bytes and its `summary.sig`, verified as a pull
/// verifies them.
#[derive(Debug, Clone)]
pub struct SignedSummary {
    pub summary: Vec<u8>,
    /// `None` if the remote has no `summary.sig`.
    pub sig: Option<Vec<u8>>,
}

/// `remote summary`: the summary's bytes and its signatures (fetched
/// whether or not the policy asks for them, to show them), the summary
/// verified as for [`fetch`]; `Ok(None)` if the remote has none.
pub fn fetch_signed(repo: &Repo, remote_name: &str, net: &NetOptions) -> Result<Option<SignedSummary>> {
    fetch_bytes(repo, remote_name, net, true)
}

fn fetch_bytes(repo: &Repo, remote_name: &str, net: &NetOptions, always_sig: bool) -> Result<Option<SignedSummary>> {
    let r = remote::get(repo, remote_name)?;
    let t = transport::open(repo, &r, net)?;
    let policy = Policy::for_remote(repo, &r)?;
    let ctx = |e: Error| e.context(format!("fetching the summary of {remote_name} ({})", t.describe()));
    let Some(summary) = t.get_file("summary", MAX_SUMMARY_SIZE).map_err(ctx)? else {
        return if policy.summary_required() { Err(policy.missing_summary()) } else { Ok(None) };
    };
    // sign-verify-summary holds here as for pull: verified before decoding.
    let sig = if policy.summary_required() || always_sig { t.get_file("summary.sig", MAX_SUMMARY_SIZE).map_err(ctx)? } else { None };
    policy.verify_summary(&summary, sig.as_deref())?;
    Ok(Some(SignedSummary { summary, sig }))
}
