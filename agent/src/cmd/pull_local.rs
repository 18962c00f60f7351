//! `pull-local`.

use ostree_repo::Repo;

use super::pull::{options, print_report};
use crate::cli::PullLocalOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &PullLocalOpts) -> Result<i32> {
    let mut opts = options(&o.net);
    opts.commit_metadata_only = o.commit_metadata_only;
    opts.depth = o.depth;
    opts.untrusted = o.untrusted;
    opts.local_remote_name = o.remote.clone();
    opts.disable_verify_bindings = o.disable_verify_bindings;
    opts.gpg_verify = o.gpg_verify.is_some();
    opts.gpg_verify_summary = o.gpg_verify_summary.is_some();
    opts.allow_downgrade = o.allow_downgrade;
    if o.require_static_deltas {
        opts.static_deltas = uptree_pull::delta::DeltaPolicy::Require;
    }
    opts.bareuseronly_files = o.bareuseronly_files;
    let r = uptree_pull::pull_local(repo, &o.src, &o.refs, &opts)?;
    print_report(&r)?;
    Ok(0)
}
