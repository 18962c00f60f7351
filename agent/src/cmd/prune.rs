//! `prune`.

use std::collections::BTreeMap;

use ostree_repo::prune::{self, PruneOptions};
use ostree_repo::{datetime, Error, Repo};

use super::out;
use crate::cli::PruneOpts;
use crate::Result;

pub fn run(mut repo: Repo, o: &PruneOpts) -> Result<i32> {
    let now = ostree_repo::commit::default_timestamp()?;
    let keep = match &o.keep_younger_than {
        Some(d) => Some(datetime::parse(d, now).ok_or_else(|| Error::Invalid(format!("Could not parse '{d}'")))?),
        None => None,
    };
    let mut branch_depth = BTreeMap::new();
    for bd in &o.retain_branch_depth {
        let (branch, depth) = bd.split_once('=').ok_or_else(|| Error::Invalid(format!("Invalid value {bd}, must specify BRANCH=DEPTH")))?;
        let depth: i64 = depth.parse().map_err(|_| Error::Invalid(format!("Invalid depth {depth}")))?;
        branch_depth.insert(branch.to_string(), depth);
    }
    match &o.delete_commit {
        Some(_) if o.no_prune => return Err(Error::Invalid("Cannot specify both --delete-commit and --no-prune".into()).into()),
        Some(c) if o.static_deltas_only => {
            uptree_delta::manage::prune(&repo, Some(&repo.resolve_rev(c)?))?;
        }
        Some(c) => {
            let c = repo.resolve_rev(c)?;
            prune::delete_commit(&mut repo, &c)?;
        }
        None if o.static_deltas_only => {
            return Err(Error::Invalid("--static-deltas-only requires --delete-commit; see https://github.com/ostreedev/ostree/issues/1479".into()).into());
        }
        None => {}
    }
    let opts = PruneOptions {
        refs_only: o.refs_only,
        depth: o.depth,
        keep_younger_than: keep,
        branch_depth,
        only_branches: o.only_branch.clone(),
        commit_only: o.commit_only,
        dry_run: o.no_prune,
    };
    let st = prune::prune(&repo, &opts)?;
    if !o.no_prune {
        uptree_delta::manage::prune(&repo, None)?;
    }
    let freed = ostree_repo::fsutil::format_size_glib(st.freed);
    let mut s = if o.commit_only { format!("Total (commit only) objects: {}\n", st.total) } else { format!("Total objects: {}\n", st.total) };
    if st.deleted == 0 {
        s.push_str("No unreachable objects\n");
    } else if o.no_prune {
        s.push_str(&format!("Would delete: {} objects, freeing {freed}\n", st.deleted));
    } else {
        s.push_str(&format!("Deleted {} objects, {freed} freed\n", st.deleted));
    }
    out(&s)?;
    Ok(0)
}
