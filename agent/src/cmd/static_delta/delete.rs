//! `static-delta delete DELTA`.

use ostree_repo::Repo;

use crate::Result;

pub fn run(repo: &Repo, delta: &str) -> Result<i32> {
    let name = super::parse_name(delta)?;
    uptree_delta::manage::delete(repo, &name)?;
    Ok(0)
}
