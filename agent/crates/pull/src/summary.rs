//! A remote's summary alone, verified as a pull verifies it: for `remote
//! refs` and for the agent's "anything new?" check, which must not pull
//! when nothing changed.

use ostree_repo::remote;
use std::path::Path;

use ostree_repo::summary::Summary;
use ostree_repo::Repo;

use crate::error::{Error, Result};
use crate::transport::{self, NetOptions, Stats};
use crate::trust::Policy;

/// Fetch and verify `remote_name`'s summary; `Ok(None)` if it has none
/// (and its policy does not require one). A network remote's signed
/// summary comes from the repository's cache while its `summary.sig` is
/// unchanged: an "anything new?" check then costs one small request.
pub fn fetch(repo: &Repo, remote_name: &str, net: &NetOptions) -> Result<Option<Summary>> {
    let Some(signed) = fetch_signed(repo, remote_name, net, None)? else { return Ok(None) };
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

/// The summary's bytes and its `summary.sig`, verified as for [`fetch`]
/// (`remote summary` shows the signatures); `Ok(None)` if the remote has
/// none. The cache is `cache_dir` if given (ostree's `--cache-dir`), else
/// the repository's `tmp/cache`.
pub fn fetch_signed(repo: &Repo, remote_name: &str, net: &NetOptions, cache_dir: Option<&Path>) -> Result<Option<SignedSummary>> {
    let r = remote::get(repo, remote_name)?;
    let t = transport::open(repo, &r, net)?;
    let policy = Policy::for_remote(repo, &r)?;
    let stats = Stats::default();
    let fetched = crate::engine::fetch_summary(repo, &stats, 0, t.as_ref(), Some(&r), &policy, cache_dir)
        .map_err(|e| e.context(format!("fetching the summary of {remote_name} ({})", t.describe())))?;
    Ok(fetched.map(|(summary, sig)| SignedSummary { summary, sig }))
}
