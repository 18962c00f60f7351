//! Mounts: the `/usr` overlay of `admin unlock`, and (for the initramfs)
//! binds and moves. Thin wrappers over mount(2) through `nix`.

use std::io;
use std::path::Path;

use nix::mount::{mount, MsFlags};

fn to_io(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

/// `mount -t overlay overlay -o lowerdir=L,upperdir=U,workdir=W TARGET`.
pub fn overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    for p in [lower, upper, work] {
        if p.to_string_lossy().contains([',', ':']) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("overlay path {} contains ',' or ':'", p.display())));
        }
    }
    let opts = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(opts.as_str())).map_err(to_io)
}
