//! Boot layouts: how a bootversion's files are laid out on the boot
//! filesystem and how one is made live. Selected by `[uptree] boot-layout`
//! in the sysroot repo's config (`ostree` or `fat`), else by the boot
//! filesystem: vfat gets [`fat::Fat`], anything else [`ostree::Ostree`].

pub mod fat;
pub mod ostree;

use std::collections::HashSet;
use std::fmt::Debug;
use std::path::Path;

use ostree_repo::keyfile::KeyFile;

use crate::bls::BootEntry;
use crate::error::{Error, Result};

/// One boot layout.
pub trait Backend: Debug + Send + Sync {
    /// `ostree` or `fat`, as in the config key.
    fn name(&self) -> &'static str;
    /// A boot loader configuration is written, switched atomically with
    /// the bootversion (`sysroot.bootloader=none`: only the BLS entries).
    /// ostree words a finished switch by it: "Transaction complete", else
    /// "Bootloader updated".
    fn writes_bootloader_config(&self) -> bool {
        true
    }
    /// The live bootversion, `None` before the first deploy.
    fn live(&self, root: &Path) -> Result<Option<u32>>;
    /// Where the kernels of bootversion `b` go, relative to the boot
    /// filesystem (`boot/` of the sysroot), without a leading slash.
    fn kernel_dir(&self, b: u32, osname: &str, bootcsum: &str) -> String;
    /// Make bootversion `b` (not live) empty and ready to be written.
    fn begin(&self, root: &Path, b: u32) -> Result<()>;
    /// Write `b`'s bootloader configuration from its sorted entries and
    /// make `b` live: the single atomic step. `appended` is the default
    /// deployment's `usr/lib/ostree-boot/uEnv.txt`.
    fn commit(&self, root: &Path, b: u32, entries: &[BootEntry], appended: Option<&str>) -> Result<()>;
    /// After a switch to `live`: remove the other bootversion's files and
    /// kernel directories no entry uses (`used`, as from [`Backend::kernel_dir`]).
    fn cleanup(&self, root: &Path, live: u32, used: &HashSet<String>) -> Result<()>;
}

/// Pick the backend for a sysroot.
pub fn detect(root: &Path, repo_config: &KeyFile) -> Result<Box<dyn Backend>> {
    let uboot = match repo_config.get("sysroot", "bootloader").as_deref() {
        None | Some("auto") | Some("uboot") => true,
        Some("none") => false,
        Some(other) => return Err(Error::Invalid(format!("sysroot.bootloader={other} is not supported by uptree (uboot, auto or none)"))),
    };
    match repo_config.get("uptree", "boot-layout").as_deref() {
        Some("ostree") => Ok(Box::new(ostree::Ostree { uboot })),
        Some("fat") => Ok(Box::new(fat::Fat)),
        Some(other) => Err(Error::Invalid(format!("uptree.boot-layout={other}: expected 'ostree' or 'fat'"))),
        None if is_vfat(&root.join("boot")) => Ok(Box::new(fat::Fat)),
        None => Ok(Box::new(ostree::Ostree { uboot })),
    }
}

fn is_vfat(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::MSDOS_SUPER_MAGIC)
}

/// syncfs the sysroot's filesystem, and the boot filesystem if it is another.
///
/// `OSTREE_SYSROOT_DEBUG=test-fifreeze` (libostree's test of its freeze
/// watchdog, which ostree's own test suite runs): after the sync, the
/// watchdog runs to its timeout with nothing frozen, and the deployment
/// fails here, before the switch.
pub(crate) fn full_sync(root: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;

    use crate::error::At;
    let r = std::fs::File::open(root).at(root)?;
    nix::unistd::syncfs(&r).at(root)?;
    let boot = root.join("boot");
    if let Ok(b) = std::fs::File::open(&boot) {
        if b.metadata().at(&boot)?.dev() != r.metadata().at(root)?.dev() {
            nix::unistd::syncfs(&b).at(&boot)?;
        }
    }
    if crate::deploy::debug_flag("test-fifreeze") {
        use std::os::fd::AsFd;
        uptree_sys::fs::watchdog_selftest(r.as_fd()).map_err(|e| crate::Error::Invalid(format!("During fsfreeze-thaw: test-fifreeze: {e}")))?;
        return Err(crate::Error::Invalid("During fsfreeze-thaw: aborting due to test-fifreeze".into()));
    }
    Ok(())
}
