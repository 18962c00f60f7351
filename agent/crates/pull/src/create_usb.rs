//! `create-usb`: ostree's own stick layout. Collection–refs of a local
//! repository are mirrored into an archive repository on a mounted volume
//! (`.ostree/repo` unless told otherwise, with a `.ostree/repos.d/NN-generated`
//! symlink to any other place), which ostree's mount finder then offers.
//! (uptree's own stick format, for `usb-update`, is `uptree_update::usb`.)

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ostree_repo::object::Checksum;
use ostree_repo::repo::RepoMode;
use ostree_repo::Repo;

use crate::engine::{pull_local, PullOptions};
use crate::error::{Error, Result};
use crate::find::CollectionRef;

/// Where ostree's mount finder looks without a symlink.
const WELL_KNOWN: [&str; 2] = ["ostree/repo", ".ostree/repo"];

/// Copy `refs` (with their whole commits, no parents) from `src` into the
/// repository `dest_rel` below `mount`, as refs/mirrors/COLLECTION/REF,
/// and write its summary. Each commit must be bound to its collection–ref,
/// as a pull checks. Returns the destination repository's path.
pub fn create_usb(src: &Repo, mount: &Path, dest_rel: &str, refs: &[CollectionRef], commit: Option<&Checksum>, now: u64) -> Result<PathBuf> {
    let mount_meta = std::fs::metadata(mount).map_err(|e| ostree_repo::Error::io(mount, e))?;
    let dest_path = mount.join(dest_rel);
    let mut dest = Repo::init(&dest_path, RepoMode::Archive)?;
    let dest_meta = std::fs::metadata(&dest_path).map_err(|e| ostree_repo::Error::io(&dest_path, e))?;
    if dest_meta.dev() != mount_meta.dev() {
        return Err(Error::Config("--destination-repo must be a descendent of MOUNT-PATH".into()));
    }
    let src_meta = std::fs::metadata(src.path()).map_err(|e| ostree_repo::Error::io(src.path(), e))?;
    if (src_meta.dev(), src_meta.ino()) == (dest_meta.dev(), dest_meta.ino()) {
        return Err(Error::Config("--destination-repo must not be the source repository".into()));
    }
    let have = src.list_collection_refs()?;
    let mut targets = Vec::new();
    for r in refs {
        let c = match commit {
            Some(c) => *c,
            None => *have
                .get(&(r.collection_id.clone(), r.ref_name.clone()))
                .ok_or_else(|| Error::Config(format!("Refspec ‘{r}’ not found in {}", src.path().display())))?,
        };
        let bound = src.load_commit(&c)?;
        ostree_repo::fsck::verify_bindings(&bound, Some(&r.collection_id), Some(&r.ref_name))
            .map_err(|what| Error::Verify { object: format!("{c}.commit"), what })?;
        targets.push((r, c));
    }
    let checksums: Vec<String> = targets.iter().map(|(_, c)| c.to_hex()).collect();
    pull_local(&dest, src.path(), &checksums, &PullOptions::default())?;
    for (r, c) in &targets {
        dest.set_collection_ref(&r.collection_id, &r.ref_name, Some(c))?;
    }
    // ostree's mount finder reads the summary for the refs' commits.
    ostree_repo::summary::update(&mut dest, now)?;
    if !WELL_KNOWN.contains(&dest_rel.trim_matches('/')) {
        link_in_repos_d(mount, &dest_path, dest_rel)?;
    }
    Ok(dest_path)
}

/// `.ostree/repos.d/NN-generated` → `../../DEST`, unless an entry there
/// already leads to the repository.
fn link_in_repos_d(mount: &Path, dest: &Path, dest_rel: &str) -> Result<()> {
    let dir = mount.join(".ostree/repos.d");
    ostree_repo::fsutil::create_dir_all_durable(&dir, true)?;
    let target = std::fs::metadata(dest).map_err(|e| ostree_repo::Error::io(dest, e))?;
    let rd = std::fs::read_dir(&dir).map_err(|e| ostree_repo::Error::io(&dir, e))?;
    for e in rd {
        let e = e.map_err(|e| ostree_repo::Error::io(&dir, e))?;
        if std::fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == (target.dev(), target.ino())) {
            return Ok(());
        }
    }
    let rel = Path::new("../..").join(dest_rel);
    for i in 0..100 {
        let link = dir.join(format!("{i:02}-generated"));
        match std::os::unix::fs::symlink(&rel, &link) {
            Ok(()) => return ostree_repo::fsutil::fsync_dir(&dir).map_err(Error::from),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ostree_repo::Error::io(&link, e).into()),
        }
    }
    Err(Error::Config("Could not find an unused symlink name for the repository".into()))
}
