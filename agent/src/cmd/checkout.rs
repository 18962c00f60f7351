//! `checkout`.

use std::path::PathBuf;

use ostree_repo::checkout::{self, CheckoutOptions};
use ostree_repo::{Error, Repo};

use crate::cli::CheckoutOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &CheckoutOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    let dest = match &o.dest {
        Some(d) => d.clone(),
        None => PathBuf::from(o.rev.rsplit(['/', ':']).next().filter(|s| !s.is_empty()).ok_or_else(|| Error::Invalid("give a destination".into()))?),
    };
    let opts = CheckoutOptions {
        user_mode: o.user_mode,
        union: o.union,
        union_add: o.union_add,
        union_identical: o.union_identical,
        bareuseronly_dirs: o.bareuseronly_dirs,
        allow_noent: o.allow_noent,
        force_copy: o.force_copy,
        require_hardlinks: o.require_hardlinks,
        subpath: o.subpath.clone(),
        fsync: o.fsync,
        threads: 0,
        process_passthrough_whiteouts: o.process_passthrough_whiteouts,
        uncompressed_cache: !o.disable_cache,
        // One path per line, as ostree reads --skip-list.
        skip_list: match &o.skip_list {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()),
            None => None,
        },
    };
    let st = checkout::checkout(repo, &csum, &dest, &opts).map_err(|e| e.context(format!("checking out {csum} to {}", dest.display())))?;
    log::info!("{} files ({} hardlinked), {} directories", st.files, st.hardlinked, st.dirs);
    Ok(0)
}
