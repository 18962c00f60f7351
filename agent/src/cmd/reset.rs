//! `reset`.

use ostree_repo::{Error, RefName, Repo};

use crate::cli::ResetOpts;
use crate::Result;

/// Point an existing ref at another commit, backwards or sideways (ostree
/// needs no ancestry either). Unlike ostree, the commit must be in the
/// repository: a ref to a missing commit would break every later pull and
/// deploy from it.
pub fn run(repo: &Repo, o: &ResetOpts) -> Result<i32> {
    let r = RefName::parse(&o.r#ref)?;
    if repo.read_ref(&r)?.is_none() {
        return Err(Error::Invalid(format!("Invalid ref '{}'", o.r#ref)).into());
    }
    let target = repo.resolve_rev(&o.commit)?;
    repo.load_commit(&target)?;
    repo.set_ref(&r, Some(&target))?;
    Ok(0)
}
