//! The FAT layout, for boards whose U-Boot only reads FAT (ostree cannot
//! do this: it needs symlinks in `/boot`).
//!
//! ```text
//! boot/ (vfat)
//!   loader.0/uEnv.txt                 slot 0: CRC'd, sequence-numbered (see uenv::slot)
//!   loader.0/entries/ostree-N-OS.conf BLS entries, for uptree's own reading
//!   loader.0/ostree/OS-BOOTCSUM/      copies of every kernel slot 0's entries use
//!   loader.1/…                        slot 1, the same
//! ```
//!
//! Each slot is self-contained and a switch only ever writes inside the
//! slot that is not live: (1) remove its `uEnv.txt` (it is now invalid),
//! (2) empty it, copy the kernels and write the entries, (3) sync both
//! filesystems, (4) write its `uEnv.txt` with a sequence number one above
//! the live slot's, in place, fsynced. The boot script picks the valid slot
//! with the highest sequence; until step 4 completes that is the old one,
//! after it the new one. Directory `loader.B` itself is never removed, so
//! the root directory of the partition is not rewritten after the first
//! deploy. After the switch, clean-up invalidates the old slot first,
//! because the deployments it names are about to be deleted.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::{full_sync, Backend};
use crate::bls::BootEntry;
use crate::dfs;
use crate::error::{Error, Result};
use crate::uenv::{self, slot};

#[derive(Debug)]
pub struct Fat;

impl Fat {
    fn read_slot(root: &Path, b: u32) -> Result<Option<slot::Slot>> {
        let p = root.join(format!("boot/loader.{b}/uEnv.txt"));
        match fs::read(&p) {
            Ok(bytes) => {
                let s = slot::decode(&bytes).filter(|s| s.bootversion == b);
                if s.is_none() {
                    log::warn!("{}: not a valid slot (interrupted write?); ignored", p.display());
                }
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Both slots, as the boot script sees them.
    pub fn slots(root: &Path) -> Result<[Option<slot::Slot>; 2]> {
        Ok([Self::read_slot(root, 0)?, Self::read_slot(root, 1)?])
    }
}

/// The sequence after `seq`. Saturating instead would write a slot that
/// ties with (and loses to) the live one: the switch would silently not happen.
fn next_seq(seq: u32) -> Option<u32> {
    seq.checked_add(1).filter(|n| *n <= slot::MAX_SEQ)
}

impl Backend for Fat {
    fn name(&self) -> &'static str {
        "fat"
    }

    fn live(&self, root: &Path) -> Result<Option<u32>> {
        let s = Self::slots(root)?;
        Ok(slot::pick([s[0].as_ref(), s[1].as_ref()]).map(|s| s.bootversion))
    }

    fn kernel_dir(&self, b: u32, osname: &str, bootcsum: &str) -> String {
        format!("loader.{b}/ostree/{osname}-{bootcsum}")
    }

    fn begin(&self, root: &Path, b: u32) -> Result<()> {
        let dir = root.join(format!("boot/loader.{b}"));
        let uenv = dir.join("uEnv.txt");
        if fs::symlink_metadata(&uenv).is_ok() {
            dfs::remove(&uenv)?;
            ostree_repo::fsutil::fsync_dir(&dir)?;
        }
        dfs::remove(&dir.join("entries"))?;
        dfs::remove(&dir.join("ostree"))?;
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            // Leftovers of an interrupted switch (temp files).
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                dfs::remove(&e.path())?;
            }
        }
        dfs::create_dir_all(&dir.join("entries"))
    }

    fn commit(&self, root: &Path, b: u32, entries: &[BootEntry], appended: Option<&str>) -> Result<()> {
        let s = Self::slots(root)?;
        let seq = match slot::pick([s[0].as_ref(), s[1].as_ref()]) {
            None => 1,
            Some(live) => next_seq(live.seq).ok_or_else(|| {
                Error::Invalid(format!(
                    "boot/loader.{}/uEnv.txt: slot sequence {} is at its maximum ({}); no newer slot can win",
                    live.bootversion,
                    live.seq,
                    slot::MAX_SEQ
                ))
            })?,
        };
        let text = uenv::generate(entries, appended, "").map_err(Error::Invalid)?;
        if let Some(line) = slot::reserved_line(&text) {
            return Err(Error::Invalid(format!("uEnv.txt line {line:?} sets a variable the FAT boot script reserves for the slot header")));
        }
        full_sync(root)?;
        // The single atomic step: the slot becomes valid when its last byte is on disk.
        dfs::write_in_place(&root.join(format!("boot/loader.{b}/uEnv.txt")), &slot::encode(seq, b, &text))?;
        full_sync(root)
    }

    fn cleanup(&self, root: &Path, live: u32, _used: &HashSet<String>) -> Result<()> {
        let old = root.join(format!("boot/loader.{}", 1 - live));
        if !old.is_dir() {
            return Ok(());
        }
        let uenv = old.join("uEnv.txt");
        if fs::symlink_metadata(&uenv).is_ok() {
            dfs::remove(&uenv)?;
            ostree_repo::fsutil::fsync_dir(&old)?;
        }
        dfs::remove(&old.join("entries"))?;
        dfs::remove(&old.join("ostree"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_slot_at_the_maximum_sequence_is_an_error_not_a_silent_tie() {
        assert_eq!(next_seq(1), Some(2));
        assert_eq!(next_seq(slot::MAX_SEQ - 1), Some(slot::MAX_SEQ));
        assert_eq!(next_seq(slot::MAX_SEQ), None);
        assert_eq!(next_seq(u32::MAX), None);
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path();
        fs::create_dir_all(root.join("boot/loader.0")).expect("mkdir");
        fs::create_dir_all(root.join("boot/loader.1/entries")).expect("mkdir");
        fs::write(root.join("boot/loader.0/uEnv.txt"), slot::encode(u32::MAX, 0, "kernel_image=/x\n")).expect("w");
        let e = BootEntry::parse("linux /loader.1/ostree/os-c/vmlinuz\noptions ostree=/ostree/boot.1/os/c/0\n");
        let err = Fat.commit(root, 1, &[e], None).expect_err("refused");
        assert!(err.to_string().contains("at its maximum"), "{err}");
        assert!(!root.join("boot/loader.1/uEnv.txt").exists(), "no slot written");
    }

    #[test]
    fn fuzz_appended_uenv_setting_a_slot_variable_is_refused() {
        // A deployment's usr/lib/ostree-boot/uEnv.txt is appended to the
        // slot body; one that sets uptree_seq would outvote the slot header
        // in the boot script (see uenv::slot::reserved_line).
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        fs::create_dir_all(root.join("boot/loader.0")).expect("mkdir");
        Fat.begin(root, 0).expect("begin");
        let entry = BootEntry::parse("linux /loader.0/ostree/os-c/vmlinuz\noptions root=/dev/vda2\n");
        let err = Fat.commit(root, 0, std::slice::from_ref(&entry), Some("uptree_seq=4000000000\n")).expect_err("must be refused");
        assert!(err.to_string().contains("uptree_seq=4000000000"), "{err}");
        assert!(!root.join("boot/loader.0/uEnv.txt").exists(), "nothing written");
        Fat.commit(root, 0, &[entry], Some("bootcmd_extra=echo hi\n")).expect("an ordinary uEnv.txt is fine");
        assert_eq!(Fat::slots(root).expect("slots")[0].as_ref().map(|s| s.seq), Some(1));
    }
}
