//! `static-delta indexes`: the commits that have a delta index.

use ostree_repo::Repo;

use crate::cmd::out;
use crate::Result;

pub fn run(repo: &Repo) -> Result<i32> {
    let idx = uptree_delta::manage::indexes(repo)?;
    if idx.is_empty() {
        out("(No static deltas indexes)\n")?;
        return Ok(0);
    }
    let s: String = idx.iter().map(|c| format!("{c}\n")).collect();
    out(&s)?;
    Ok(0)
}
