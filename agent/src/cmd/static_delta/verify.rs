//! `static-delta verify DELTA`: every part against its superblock checksum.

use ostree_repo::Repo;

use crate::Result;

pub fn run(repo: &Repo, delta: &str) -> Result<i32> {
    let name = super::parse_name(delta)?;
    uptree_delta::manage::verify(repo, &name)?;
    Ok(0)
}
