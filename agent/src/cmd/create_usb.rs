//! `create-usb MOUNT-PATH COLLECTION-ID REF…`: ostree's stick layout.

use ostree_repo::Repo;
use uptree_pull::create_usb::create_usb;
use uptree_pull::find;

use super::out;
use crate::cli::CreateUsbOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &CreateUsbOpts) -> Result<i32> {
    let refs = find::parse_pairs(&o.pairs)?;
    let commit = match &o.commit {
        Some(_) if refs.len() > 1 => return Err("The --commit option can only be used when a single COLLECTION-ID REF pair is specified".into()),
        Some(c) => Some(repo.resolve_rev(c)?),
        None => None,
    };
    let now = ostree_repo::commit::default_timestamp()?;
    create_usb(repo, &o.mount, &o.destination_repo, &refs, commit.as_ref(), now)?;
    let n = refs.len();
    // ostree names the source by its absolute path, the rest as given.
    let src = std::path::absolute(repo.path()).unwrap_or_else(|_| repo.path().to_path_buf());
    out(&format!("Copied {n}/{n} refs successfully from ‘{}’ to ‘{}’ repository in ‘{}’.\n", src.display(), o.destination_repo, o.mount.display()))?;
    Ok(0)
}
