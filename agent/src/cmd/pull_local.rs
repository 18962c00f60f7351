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
    // As ostree: no REF means every ref of the source repository, and a
    // remote-tracking one (`origin:main`) is refused before anything is
    // copied, in ostree's words (its pull-test.sh pins that error).
    let src_refs = Repo::open(&o.src)?.list_refs()?;
    let refs: Vec<String> = if o.refs.is_empty() { src_refs.keys().cloned().collect() } else { o.refs.clone() };
    if o.refs.is_empty() {
        if let Some(bad) = refs.iter().find(|r| ostree_repo::object::validate_ref_name(r).is_err()) {
            return Err(ostree_repo::Error::Invalid(format!("Invalid ref name {bad}")).into());
        }
    }
    // A branch name the source does not have, in ostree's words (a
    // checksum or REF@COMMIT goes to the pull as it is).
    if let Some(missing) = refs.iter().find(|r| !r.contains('@') && r.parse::<ostree_repo::Checksum>().is_err() && !src_refs.contains_key(r.as_str())) {
        return Err(ostree_repo::Error::Invalid(format!("Refspec '{missing}' not found")).into());
    }
    let r = uptree_pull::pull_local(repo, &o.src, &refs, &opts)?;
    print_report(&r)?;
    Ok(0)
}
