//! `init`.

use std::path::Path;

use ostree_repo::{Error, Repo, RepoMode};

use crate::cli::InitOpts;
use crate::Result;

pub fn run(path: &Path, o: &InitOpts) -> Result<i32> {
    let mode = RepoMode::parse(&o.mode).ok_or_else(|| Error::Invalid(format!("Invalid mode '{}' (archive, bare, bare-user, bare-user-only)", o.mode)))?;
    let mut repo = Repo::init(path, mode)?;
    if let Some(cid) = &o.collection_id {
        repo.update_config(|kf| kf.set("core", "collection-id", cid))?;
    }
    Ok(0)
}
