//! The list operations of `admin`: undeploy, set-default, rollback, pin,
//! unlock. Each works on a sysroot read under its lock, computes the new
//! deployment list and hands it to [`write_deployments`], then cleans up
//! (a failed clean-up after the switch is a warning: the switch stands).

use std::fs;
use std::path::Path;

use ostree_repo::keyfile::KeyFile;

use crate::deploy::{cleanup_after_switch, set_immutable, write_deployments};
use crate::dfs;
use crate::error::{At, Error, Result};
use crate::kargs::Kargs;
use crate::sysroot::{Deployment, LockedSysroot, Sysroot};

fn check_index(sysroot: &Sysroot, index: usize) -> Result<()> {
    if index >= sysroot.deployments.len() {
        return Err(Error::Invalid(format!("Out of range deployment index {index}, expected < {}", sysroot.deployments.len())));
    }
    Ok(())
}

/// `admin undeploy N`.
pub fn undeploy(sysroot: &mut LockedSysroot, index: usize) -> Result<Deployment> {
    check_index(sysroot, index)?;
    if sysroot.booted == Some(index) {
        return Err(Error::Invalid(format!("Cannot undeploy currently booted deployment {index}")));
    }
    let mut list = sysroot.deployments.clone();
    let gone = list.remove(index);
    write_deployments(sysroot, list)?;
    cleanup_after_switch(sysroot)?;
    Ok(gone)
}

/// `admin set-default N`: move deployment N to the front.
pub fn set_default(sysroot: &mut LockedSysroot, index: usize) -> Result<()> {
    check_index(sysroot, index)?;
    if index == 0 {
        return Err(Error::Invalid("Deployment 0 is already the default".into()));
    }
    move_to_front(sysroot, index)
}

fn move_to_front(sysroot: &mut LockedSysroot, index: usize) -> Result<()> {
    let mut list = sysroot.deployments.clone();
    let d = list.remove(index);
    list.insert(0, d);
    write_deployments(sysroot, list)?;
    cleanup_after_switch(sysroot)?;
    Ok(())
}

/// `admin instutil set-kargs` and `admin kargs edit-in-place`: each
/// deployment `index` of `changes` boots with its kernel arguments
/// (`ostree=` is set by the write). One new bootversion for all, so the
/// change is atomic and U-Boot's environment stays in step with the
/// entries (ostree's edit-in-place rewrites the live entries instead).
pub fn set_kargs(sysroot: &mut LockedSysroot, changes: &[(usize, Kargs)]) -> Result<()> {
    let mut list = sysroot.deployments.clone();
    for (index, kargs) in changes {
        check_index(sysroot, *index)?;
        list[*index].bootconfig.set("options", &kargs.to_string());
    }
    write_deployments(sysroot, list)?;
    cleanup_after_switch(sysroot)?;
    Ok(())
}

/// `admin rollback`: if a pending deployment would boot next, make the
/// booted one the default again; otherwise make the rollback deployment
/// (the first after the booted one, of the same stateroot) the default.
/// Returns the index (before the change) of the new default.
pub fn rollback(sysroot: &mut LockedSysroot) -> Result<usize> {
    let current = sysroot.booted.unwrap_or(0);
    let osname = sysroot.deployments.get(current).map(|d| d.osname.clone()).ok_or_else(|| Error::Invalid("No deployments".into()))?;
    let target = if current != 0 { current } else { sysroot.rollback(&osname).ok_or_else(|| Error::Invalid("No rollback deployment found".into()))? };
    move_to_front(sysroot, target)?;
    Ok(target)
}

fn write_origin(sysroot: &Sysroot, d: &Deployment, origin: &KeyFile) -> Result<()> {
    dfs::write_atomic(&sysroot.path.join(d.origin_relpath()), origin.to_string().as_bytes())?;
    crate::sysroot::bump_mtime(&sysroot.path)
}

/// `admin set-origin`: deployment `index` follows `refspec` from now on
/// (a fresh origin, as ostree's `origin_new_from_refspec` makes it).
pub fn set_origin(sysroot: &mut LockedSysroot, index: usize, refspec: &str) -> Result<()> {
    check_index(sysroot, index)?;
    let mut origin = KeyFile::new();
    origin.set("origin", "refspec", refspec);
    write_origin(sysroot, &sysroot.deployments[index], &origin)?;
    sysroot.state_mut().deployments[index].origin = Some(origin);
    Ok(())
}

/// `admin pin [--unpin] N`. Returns false when nothing changed.
pub fn pin(sysroot: &mut LockedSysroot, index: usize, pinned: bool) -> Result<bool> {
    check_index(sysroot, index)?;
    let d = &sysroot.deployments[index];
    if d.is_pinned() == pinned {
        return Ok(false);
    }
    let mut origin = d.origin.clone().unwrap_or_default();
    if pinned {
        origin.set_bool("libostree-transient", "pinned", true);
    } else {
        // As ostree: the key goes, the (maybe empty) group stays.
        origin.remove_key("libostree-transient", "pinned");
    }
    write_origin(sysroot, d, &origin)?;
    sysroot.state_mut().deployments[index].origin = Some(origin);
    Ok(true)
}

/// The directories of the `/usr` hotfix overlay, in the deployment root.
pub use crate::layout::{HOTFIX_USR_OVL_UPPER as HOTFIX_UPPER, HOTFIX_USR_OVL_WORK as HOTFIX_WORK};

/// `admin unlock --hotfix`: keep a copy of the deployment as the rollback
/// (so the hotfix can be undone by booting it), then give the deployment a
/// persistent writable overlay on `/usr`, which the init mounts at every
/// boot. Returns the path of the unlocked deployment; mounting the overlay
/// on the running `/usr` is the caller's business.
pub fn unlock_hotfix(sysroot: &mut LockedSysroot, index: usize) -> Result<std::path::PathBuf> {
    check_index(sysroot, index)?;
    let target = sysroot.deployments[index].clone();
    if let Some(u) = target.unlocked() {
        return Err(Error::Invalid(format!("Deployment is already in unlocked state: {u}")));
    }
    // A clean clone of the same commit, right after the unlocked one.
    let opts = crate::deploy::DeployOptions {
        osname: Some(target.osname.clone()),
        retain: true,
        not_as_default: true,
        no_clean: true,
        origin: target.origin.clone(),
        ..Default::default()
    };
    crate::deploy::deploy(sysroot, &target.csum.to_hex(), &opts)?;
    let idx = sysroot.deployments.iter().position(|d| d.same(&target)).ok_or_else(|| Error::Invalid("unlocked deployment vanished".into()))?;
    let d = sysroot.deployments[idx].clone();
    let dpath = sysroot.path.join(d.relpath());
    set_immutable(&dpath, false)?;
    for dir in [HOTFIX_UPPER, HOTFIX_WORK] {
        let p = dpath.join(dir);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::Invalid(format!("{}: not a directory; refusing to use it as the hotfix overlay", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir(&p).at(&p)?,
            Err(e) => return Err(e).at(&p),
        }
    }
    let mut origin = d.origin.clone().unwrap_or_default();
    origin.set("origin", "unlocked", "hotfix");
    write_origin(sysroot, &d, &origin)?;
    set_immutable(&dpath, true)?;
    ostree_repo::fsutil::fsync_dir(&dpath)?;
    sysroot.state_mut().deployments[idx].origin = Some(origin);
    Ok(dpath)
}

/// Whether a deployment directory carries the hotfix overlay.
pub fn has_hotfix(deployment: &Path) -> bool {
    deployment.join(HOTFIX_UPPER).is_dir() && deployment.join(HOTFIX_WORK).is_dir()
}
