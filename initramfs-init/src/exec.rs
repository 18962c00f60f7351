//! Carrying out a [`Step`]: the only place the plan touches the system
//! (through `uptree_sys`).
//!
//! ## Why MS_MOVE + chroot, not pivot_root
//!
//! The initramfs is the kernel's initial `rootfs`, the root of the mount
//! tree itself; `pivot_root(2)` returns `EINVAL` for it because the old
//! root cannot be detached and put somewhere else. So this does what
//! util-linux `switch_root` and systemd do: delete the initramfs contents
//! (they would otherwise pin RAM forever), `mount --move` the new root
//! onto `/`, `chroot(".")`. ostree-prepare-root uses `pivot_root` only in
//! its no-initramfs mode, where `/` is a real filesystem.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use uptree_sys::switchroot::{self, MsFlags};

use crate::cleanup::{self, Removed};
use crate::plan::{Flags, Step};

fn ms_flags(f: Flags) -> MsFlags {
    let mut m = MsFlags::MS_SILENT;
    for (on, flag) in [(f.readonly, MsFlags::MS_RDONLY), (f.nosuid, MsFlags::MS_NOSUID), (f.nodev, MsFlags::MS_NODEV), (f.noexec, MsFlags::MS_NOEXEC)] {
        if on {
            m |= flag;
        }
    }
    m
}

/// Mount a filesystem with the plan's flags (also used for the root).
pub fn mount(source: &str, target: &Path, fstype: &str, flags: Flags, data: Option<&str>) -> io::Result<()> {
    switchroot::mount(Some(source), target, Some(fstype), ms_flags(flags), data)
}

/// What a step reports beyond success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The initramfs was emptied during a switch (or left alone, with why).
    Switched {
        removed: Option<Removed>,
        note: Option<String>,
    },
}

/// Carry out one step.
pub fn run(step: &Step) -> io::Result<Outcome> {
    match step {
        Step::Mkdir { path, mode } => match fs::DirBuilder::new().mode(*mode).create(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            r => r,
        }?,
        Step::Mount { source, target, fstype, flags, data } => mount(source, target, fstype, *flags, data.as_deref())?,
        Step::Bind { source, target } => switchroot::bind(source, target, false)?,
        Step::RemountBind { target, readonly } => switchroot::remount_bind(target, *readonly)?,
        Step::Propagation { target, kind, recursive } => switchroot::set_propagation(target, *kind, *recursive)?,
        Step::Move { source, target } => switchroot::move_mount(source, target)?,
        Step::Detach { target } => switchroot::detach(target)?,
        Step::WriteFile { path, contents, mode } => {
            let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(*mode).open(path)?;
            f.write_all(contents)?;
        }
        Step::SwitchRoot { new_root } => return switch_root(new_root),
    }
    Ok(Outcome::Done)
}

fn switch_root(new_root: &Path) -> io::Result<Outcome> {
    std::env::set_current_dir(new_root)?;
    // Only ever delete a RAM filesystem that is our own root, as PID 1:
    // never a disk because someone ran this binary in the wrong place.
    let root_meta = fs::metadata("/")?;
    let (removed, note) = if std::process::id() != 1 {
        (None, Some("not PID 1: initramfs left in place".to_string()))
    } else if !switchroot::is_ram_filesystem(Path::new("/"))? {
        (None, Some("/ is not ramfs/tmpfs: left in place".to_string()))
    } else if fs::metadata(".")?.dev() == root_meta.dev() {
        (None, Some("new root is on the initramfs device: left in place".to_string()))
    } else {
        (Some(cleanup::remove_contents(Path::new("/"), root_meta.dev())), None)
    };
    switchroot::move_mount(Path::new("."), Path::new("/"))?;
    switchroot::chroot(Path::new("."))?;
    Ok(Outcome::Switched { removed, note })
}
