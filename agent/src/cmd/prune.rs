//! `prune`.

use ostree_repo::prune::{self, PruneOptions};
use ostree_repo::{datetime, Error, Repo};

use super::out;
use crate::cli::PruneOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &PruneOpts) -> Result<i32> {
    let now = ostree_repo::commit::default_timestamp()?;
    let keep = match &o.keep_younger_than {
        Some(d) => Some(datetime::parse(d, now).ok_or_else(|| Error::Invalid(format!("Could not parse '{d}'")))?),
        None => None,
    };
    if let Some(c) = &o.delete_commit {
        prune::delete_commit(repo, &repo.resolve_rev(c)?)?;
    }
    let st = prune::prune(repo, &PruneOptions { refs_only: o.refs_only, depth: o.depth, keep_younger_than: keep, dry_run: o.no_prune })?;
    let freed = ostree_repo::fsutil::format_size(st.freed);
    if st.deleted == 0 {
        out(&format!("Total objects: {}\nNo unreachable objects\n", st.total))?;
    } else if o.no_prune {
        out(&format!("Total objects: {}\nWould delete: {} objects, freeing {freed}\n", st.total, st.deleted))?;
    } else {
        out(&format!("Total objects: {}\nDeleted {} objects, {freed} freed\n", st.total, st.deleted))?;
    }
    Ok(0)
}
