//! ostree's own layout (ostree-format.md §7.7): kernels shared by both
//! bootversions under `boot/ostree/OS-BOOTCSUM/`, entries and `uEnv.txt`
//! in `boot/loader.B/`, and the switch is renaming a new `boot/loader`
//! symlink over the old one. Needs symlinks on the boot filesystem.

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsFd;
use std::path::Path;

use super::{full_sync, Backend};
use crate::bls::BootEntry;
use crate::dfs;
use crate::error::{At, Error, Result};
use crate::{layout, uenv};

/// The ostree layout; `uboot`: write `uEnv.txt` (else only BLS entries).
#[derive(Debug)]
pub struct Ostree {
    pub uboot: bool,
}

impl Backend for Ostree {
    fn name(&self) -> &'static str {
        "ostree"
    }

    fn writes_bootloader_config(&self) -> bool {
        self.uboot
    }

    fn live(&self, root: &Path) -> Result<Option<u32>> {
        let p = root.join("boot/loader");
        match fs::read_link(&p) {
            Ok(t) => match t.to_str() {
                Some("loader.0") => Ok(Some(0)),
                Some("loader.1") => Ok(Some(1)),
                _ => Err(Error::Invalid(format!("{}: unexpected link target {}", p.display(), t.display()))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    fn kernel_dir(&self, _b: u32, osname: &str, bootcsum: &str) -> String {
        layout::boot_csum_dir(osname, bootcsum)
    }

    fn begin(&self, root: &Path, b: u32) -> Result<()> {
        let entries = root.join(format!("boot/loader.{b}/entries"));
        dfs::remove(&entries)?;
        dfs::create_dir_all(&entries)
    }

    fn commit(&self, root: &Path, b: u32, entries: &[BootEntry], appended: Option<&str>) -> Result<()> {
        if self.uboot {
            let text = uenv::generate(entries, appended, "/boot").map_err(Error::Invalid)?;
            dfs::write_atomic(&root.join(format!("boot/loader.{b}/uEnv.txt")), text.as_bytes())?;
        }
        let bootboot = root.join("boot/boot");
        if fs::symlink_metadata(&bootboot).is_err() {
            dfs::symlink(".", &bootboot)?;
        }
        let tmp = root.join("boot/loader.tmp");
        let _ = fs::remove_file(&tmp);
        dfs::symlink(&format!("loader.{b}"), &tmp)?;
        full_sync(root)?;
        freeze_boot_if_own_mount(root)?;
        // The single atomic step.
        dfs::rename(&tmp, &root.join("boot/loader"))?;
        ostree_repo::fsutil::fsync_dir(&root.join("boot"))?;
        freeze_boot_if_own_mount(root)
    }

    fn cleanup(&self, root: &Path, live: u32, used: &HashSet<String>) -> Result<()> {
        dfs::remove(&root.join(format!("boot/loader.{}", 1 - live)))?;
        dfs::remove(&root.join("boot/loader.tmp"))?;
        let dir = root.join("boot/ostree");
        let Ok(rd) = fs::read_dir(&dir) else { return Ok(()) };
        for e in rd {
            let e = e.at(&dir)?;
            let rel = format!("ostree/{}", e.file_name().to_string_lossy());
            if !used.contains(&rel) {
                dfs::remove(&e.path())?;
            }
        }
        Ok(())
    }
}

/// Freeze/thaw `/boot` only when this is the running system's own sysroot
/// and `/boot` is its own mount: a `--sysroot` in a build directory must
/// never freeze the build host's filesystem.
fn freeze_boot_if_own_mount(root: &Path) -> Result<()> {
    if fs::canonicalize(root).ok().as_deref() != Some(Path::new("/")) {
        return Ok(());
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if !mounts.lines().any(|l| l.split_whitespace().nth(4) == Some("/boot")) {
        return Ok(());
    }
    let b = fs::File::open("/boot").at(Path::new("/boot"))?;
    if let Err(e) = uptree_sys::fs::freeze_thaw(b.as_fd()) {
        log::warn!("freeze/thaw of /boot failed (continuing, data is synced): {e}");
    }
    Ok(())
}
