//! `static-delta reindex [--to=REV]`: rewrite `delta-indexes/`.

use ostree_repo::Repo;

use crate::Result;

pub fn run(repo: &Repo, to: Option<&str>) -> Result<i32> {
    let to = to.map(|r| repo.resolve_rev(r)).transpose()?;
    uptree_delta::manage::reindex(repo, to.as_ref())?;
    Ok(0)
}
