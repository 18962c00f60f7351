//! `static-delta generate [--from=REV|--empty] --to=REV [options]`.

use ostree_repo::Repo;

use crate::cli::GenerateOpts;
use crate::Result;

pub fn run(_repo: &Repo, _o: &GenerateOpts) -> Result<i32> {
    Err("static-delta generate: not built into this binary".into())
}
