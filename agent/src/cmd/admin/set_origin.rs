//! `admin set-origin REMOTENAME URL [BRANCH]`: add the remote unless it
//! exists (with `--set` options), then make the deployment (`--index`,
//! else the booted one) follow `REMOTENAME:BRANCH`, BRANCH defaulting to
//! the ref it follows now. As ostree.

use std::path::Path;

use ostree_repo::{remote, Repo};
use uptree_deploy::ops;
use uptree_deploy::sysroot::Sysroot;

use crate::cli::SetOriginOpts;
use crate::Result;

pub fn run(root: &Path, o: &SetOriginOpts) -> Result<i32> {
    let mut s = Sysroot::lock(root)?.load()?;
    let index = match (o.index, s.booted) {
        (Some(i), _) => i,
        (None, Some(b)) => b,
        (None, None) => return Err("Not currently booted into an OSTree system".into()),
    };
    let current = s.deployments.get(index).ok_or_else(|| format!("Out of range deployment index {index}, expected < {}", s.deployments.len()))?;
    let refspec = current.refspec().ok_or("the deployment's origin has no refspec")?;
    let branch = match &o.branch {
        Some(b) => b.clone(),
        None => refspec.split_once(':').map_or(refspec.as_str(), |(_, r)| r).to_string(),
    };
    let options = o.set.iter().map(|kv| remote::parse_set(kv)).collect::<std::result::Result<Vec<_>, _>>()?;
    let mut repo = Repo::open(&s.path.join("ostree/repo"))?;
    let dir = remote::sysroot_remotes_dir(&repo, &s.path)?;
    remote::add_to(&mut repo, dir, &o.remote, Some(&o.url), &options, remote::IfExists::Keep)?;
    ops::set_origin(&mut s, index, &format!("{}:{branch}", o.remote))?;
    Ok(0)
}
