//! `diff`.

use std::path::PathBuf;

use ostree_repo::diff::{diff, DiffOptions, Tree};
use ostree_repo::{Error, Repo};

use super::out;
use crate::cli::DiffOpts;
use crate::Result;

/// As ostree: an argument starting with `/` or `./` is a directory.
fn tree_arg(repo: &Repo, arg: &str) -> Result<Tree> {
    if arg.starts_with('/') || arg.starts_with("./") {
        return Ok(Tree::Dir(PathBuf::from(arg)));
    }
    Ok(Tree::Commit(repo.resolve_rev(arg)?))
}

pub fn run(repo: &Repo, o: &DiffOpts) -> Result<i32> {
    let (a, b) = match &o.b {
        Some(b) => (tree_arg(repo, &o.a)?, tree_arg(repo, b)?),
        None => {
            let Tree::Commit(c) = tree_arg(repo, &o.a)? else {
                return Err(Error::Invalid(format!("{}: a directory needs a second tree to compare with", o.a)).into());
            };
            let parent = repo.load_commit(&c)?.parent.ok_or_else(|| Error::Invalid(format!("Commit {c} has no parent")))?;
            (Tree::Commit(parent), Tree::Commit(c))
        }
    };
    let d = diff(repo, &a, &b, DiffOptions { ignore_xattrs: o.no_xattrs, owner_uid: o.owner_uid, owner_gid: o.owner_gid })?;
    let mut s = String::new();
    for (tag, paths) in [('M', &d.modified), ('D', &d.removed), ('A', &d.added)] {
        for p in paths {
            s.push_str(&format!("{tag}    {p}\n"));
        }
    }
    out(&s)?;
    Ok(0)
}
