//! `static-delta list`: one name per line, as ostree prints them.

use ostree_repo::Repo;

use crate::cmd::out;
use crate::Result;

pub fn run(repo: &Repo) -> Result<i32> {
    let deltas = uptree_delta::manage::list(repo)?;
    if deltas.is_empty() {
        out("(No static deltas)\n")?;
        return Ok(0);
    }
    let s: String = deltas.iter().map(|(n, _)| format!("{n}\n")).collect();
    out(&s)?;
    Ok(0)
}
