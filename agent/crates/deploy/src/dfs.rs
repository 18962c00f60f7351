//! The durable file operations of a boot switch. Each is one step of
//! [`failpoint`](crate::failpoint), so tests can cut the power at every one.

use std::fs;
#[cfg(feature = "failpoints")]
use std::io::Read;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use crate::error::{At, Error, Result};
use crate::failpoint::{self, Cut};

/// Write `data` to `path` through a temp file: temp, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    match failpoint::write_step(format_args!("write {}", path.display()))? {
        Cut::No => {}
        #[cfg(feature = "failpoints")]
        Cut::Torn => {
            let tmp = path.with_file_name(ostree_repo::fsutil::tmp_name("torn"));
            fs::write(&tmp, &data[..data.len() / 2]).at(&tmp)?;
            return Err(Error::PowerCut(format!("write (torn) {}", path.display())));
        }
    }
    ostree_repo::fsutil::atomic_write(path, data, 0o644, true).map_err(Error::from)
}

/// Create `path` (which must not exist) and write `data` into it in place,
/// then fsync it and its directory. A torn write leaves a prefix.
pub(crate) fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    let cut = failpoint::write_step(format_args!("write in place {}", path.display()))?;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path).at(path)?;
    match cut {
        Cut::No => {}
        #[cfg(feature = "failpoints")]
        Cut::Torn => {
            f.write_all(&data[..data.len() / 2]).at(path)?;
            return Err(Error::PowerCut(format!("write in place (torn) {}", path.display())));
        }
    }
    f.write_all(data).at(path)?;
    f.sync_all().at(path)?;
    fsync_parent(path)
}

/// Copy the already opened (and checked) file `from` to `dst` through a
/// temp file (fsynced, renamed, directory fsynced); existing destinations
/// are kept. `src` names `from` in errors (of a torn write's read).
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub(crate) fn copy_file(mut from: fs::File, src: &Path, dst: &Path, try_hardlink: bool) -> Result<()> {
    if fs::symlink_metadata(dst).is_ok() {
        return Ok(());
    }
    let cut = failpoint::write_step(format_args!("copy {}", dst.display()))?;
    // Linking the open file itself (AT_EMPTY_PATH), not its path: the path
    // is inside an untrusted tree. Needs CAP_DAC_READ_SEARCH, else a copy.
    if try_hardlink && cut == Cut::No && nix::unistd::linkat(from.as_fd(), "", nix::fcntl::AT_FDCWD, dst, nix::fcntl::AtFlags::AT_EMPTY_PATH).is_ok() {
        return fsync_parent(dst);
    }
    let tmp = dst.with_file_name(ostree_repo::fsutil::tmp_name("copy"));
    match cut {
        Cut::No => {}
        #[cfg(feature = "failpoints")]
        Cut::Torn => {
            let mut data = Vec::new();
            from.read_to_end(&mut data).at(src)?;
            fs::write(&tmp, &data[..data.len() / 2]).at(&tmp)?;
            return Err(Error::PowerCut(format!("copy (torn) {}", dst.display())));
        }
    }
    // Content only: FAT has no modes to copy (chmod fails there).
    let mut to = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).at(&tmp)?;
    std::io::copy(&mut from, &mut to).at(&tmp)?;
    to.sync_all().at(&tmp)?;
    fs::rename(&tmp, dst).at(dst)?;
    fsync_parent(dst)
}

pub(crate) fn create_dir_all(p: &Path) -> Result<()> {
    if p.is_dir() {
        return Ok(());
    }
    failpoint::step(format_args!("mkdir {}", p.display()))?;
    fs::create_dir_all(p).at(p)
}

/// Remove a file or tree if it exists.
pub(crate) fn remove(p: &Path) -> Result<()> {
    let Ok(m) = fs::symlink_metadata(p) else { return Ok(()) };
    failpoint::step(format_args!("remove {}", p.display()))?;
    if m.is_dir() {
        fs::remove_dir_all(p).at(p)
    } else {
        fs::remove_file(p).at(p)
    }
}

pub(crate) fn symlink(target: &str, link: &Path) -> Result<()> {
    failpoint::step(format_args!("symlink {}", link.display()))?;
    std::os::unix::fs::symlink(target, link).at(link)
}

/// Point `link` at `target` atomically (new link, rename over, fsync the directory).
pub(crate) fn symlink_replace(target: &str, link: &Path) -> Result<()> {
    let tmp = link.with_file_name(ostree_repo::fsutil::tmp_name("link"));
    std::os::unix::fs::symlink(target, &tmp).at(&tmp)?;
    rename(&tmp, link)?;
    // The `ostree/boot.B` swap without a bootloader swap is made by this
    // rename alone: it must be on disk before the command reports success.
    fsync_parent(link)
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    failpoint::step(format_args!("rename {}", to.display()))?;
    fs::rename(from, to).at(to)
}

pub(crate) fn fsync_parent(p: &Path) -> Result<()> {
    match p.parent() {
        Some(d) => ostree_repo::fsutil::fsync_dir(d).map_err(Error::from),
        None => Ok(()),
    }
}
