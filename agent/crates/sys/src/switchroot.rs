//! Mount operations of an initramfs that switches to a new root: mounts
//! with explicit flags, binds, read-only remounts, propagation changes,
//! `MS_MOVE`, lazy detach, `chroot`, and the "is this the initramfs?"
//! check that guards deleting the old root. Thin wrappers over mount(2)
//! and friends through `nix`; errors come back as `std::io::Error`.

use std::io;
use std::path::Path;

pub use nix::mount::MsFlags;
use nix::mount::{mount as nix_mount, umount2, MntFlags};

fn to_io(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

/// mount(2) with explicit flags. `source` may be a device, a path or a
/// name (`proc`, `overlay`); `data` is the comma-separated option string.
pub fn mount(source: Option<&str>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> io::Result<()> {
    nix_mount(source, target, fstype, flags, data).map_err(to_io)
}

/// `mount --bind SOURCE TARGET` (`--rbind` if `recursive`).
pub fn bind(source: &Path, target: &Path, recursive: bool) -> io::Result<()> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_SILENT;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    nix_mount(Some(source), target, None::<&str>, flags, None::<&str>).map_err(to_io)
}

/// Change a bind mount's own read-only flag (`mount -o remount,bind,ro`);
/// the filesystem's superblock is left alone, so other mounts of it keep
/// their state.
pub fn remount_bind(target: &Path, readonly: bool) -> io::Result<()> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_SILENT;
    if readonly {
        flags |= MsFlags::MS_RDONLY;
    }
    nix_mount(Some(target), target, None::<&str>, flags, None::<&str>).map_err(to_io)
}

/// Mount propagation type (`mount --make-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Slave,
    Shared,
}

/// `mount --make-{private,slave,shared}` (`--make-r*` if `recursive`).
pub fn set_propagation(target: &Path, kind: Propagation, recursive: bool) -> io::Result<()> {
    let mut flags = match kind {
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Shared => MsFlags::MS_SHARED,
    } | MsFlags::MS_SILENT;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    nix_mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(to_io)
}

/// `mount --move SOURCE TARGET`: the mount (with everything below it)
/// changes place. Fails with `EINVAL` if the source's parent mount is shared.
pub fn move_mount(source: &Path, target: &Path) -> io::Result<()> {
    nix_mount(Some(source), target, None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(to_io)
}

/// `umount -l`: detach now, clean up when no longer busy.
pub fn detach(target: &Path) -> io::Result<()> {
    umount2(target, MntFlags::MNT_DETACH).map_err(to_io)
}

/// chroot(2) to `path` and chdir to the new `/`.
pub fn chroot(path: &Path) -> io::Result<()> {
    nix::unistd::chroot(path).map_err(to_io)?;
    nix::unistd::chdir("/").map_err(to_io)
}

const RAMFS_MAGIC: u64 = 0x8584_58f6;
const TMPFS_MAGIC: u64 = 0x0102_1994;

/// Whether `path` lives on ramfs or tmpfs: what the initramfs root is
/// (`switch_root` refuses to delete anything else).
pub fn is_ram_filesystem(path: &Path) -> io::Result<bool> {
    let st = nix::sys::statfs::statfs(path).map_err(to_io)?;
    // The magic's integer type differs between libcs; compare as u64.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let magic = st.filesystem_type().0 as u64;
    Ok(magic == RAMFS_MAGIC || magic == TMPFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_or_not() {
        // /proc is neither ramfs nor tmpfs; the call itself must work.
        assert!(!is_ram_filesystem(Path::new("/proc")).expect("statfs /proc"));
    }
}
