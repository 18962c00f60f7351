//! `diff`.

use ostree_repo::diff::{self, DiffOptions, Tree};
use ostree_repo::{Error, Repo};

use super::out;
use crate::cli::DiffOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &DiffOpts) -> Result<i32> {
    // One argument: that revision against its parent, as ostree.
    let (from, to) = match &o.to {
        Some(to) => (o.from.clone(), to.clone()),
        None => (format!("{}^", o.from), o.from.clone()),
    };
    let mut s = String::new();
    if o.stats {
        let (a, b) = (repo.resolve_rev(&from)?, repo.resolve_rev(&to)?);
        let st = diff::stats(repo, &a, &b)?;
        s.push_str(&format!(
            "[A] Object Count: {}\n[B] Object Count: {}\nCommon Object Count: {}\nCommon Object Size: {}\n",
            st.a_objects,
            st.b_objects,
            st.common_objects,
            ostree_repo::fsutil::format_size_glib(st.common_size)
        ));
    }
    if o.fs_diff || !o.stats {
        let (a, b) = (Tree::parse(repo, &from)?, Tree::parse(repo, &to)?);
        let opts = DiffOptions { ignore_xattrs: o.no_xattrs, owner_uid: o.owner_uid, owner_gid: o.owner_gid };
        s.push_str(&diff::diff(repo, &a, &b, &opts).map_err(|e: Error| e.context(format!("comparing {from} with {to}")))?.to_text(&a, &b));
    }
    out(&s)?;
    Ok(0)
}
