//! `rev-parse`.

use ostree_repo::{Error, ObjectType, Repo};

use super::out;
use crate::cli::RevParseOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &RevParseOpts) -> Result<i32> {
    let commit = match &o.rev {
        Some(rev) => repo.resolve_rev(rev)?,
        None => match repo.list_objects(Some(ObjectType::Commit))?.as_slice() {
            [(c, _)] => *c,
            [] => return Err(Error::Invalid("No commit objects found".into()).into()),
            _ => return Err(Error::Invalid("Multiple commit objects found".into()).into()),
        },
    };
    out(&format!("{commit}\n"))?;
    Ok(0)
}
