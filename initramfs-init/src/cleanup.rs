//! Emptying the initramfs before leaving it (what `switch_root` does):
//! its files live in RAM for as long as anything can reach them, and
//! after the switch nothing can, so they would be lost memory.
//!
//! Deletes everything under a directory that is on the same device as
//! that directory, never crossing into another mount (the new root is
//! mounted inside the initramfs while this runs) and never following
//! symlinks. Takes a root directory, so tests run in a temp dir.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What was removed and what could not be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub entries: u64,
    pub bytes: u64,
    pub failures: u64,
}

/// Remove the contents of `dir` that live on device `dev` (not `dir` itself).
pub fn remove_contents(dir: &Path, dev: u64) -> Removed {
    let mut r = Removed::default();
    walk(dir, dev, &mut r);
    r
}

fn walk(dir: &Path, dev: u64, r: &mut Removed) {
    let Ok(rd) = fs::read_dir(dir) else {
        r.failures += 1;
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        let Ok(m) = fs::symlink_metadata(&path) else {
            r.failures += 1;
            continue;
        };
        if m.dev() != dev {
            continue; // a mount point: someone else's filesystem
        }
        let res = if m.is_dir() {
            walk(&path, dev, r);
            fs::remove_dir(&path)
        } else {
            fs::remove_file(&path)
        };
        match res {
            Ok(()) => {
                r.entries += 1;
                if m.is_file() {
                    r.bytes += m.len();
                }
            }
            Err(_) => r.failures += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_everything_on_the_device_without_following_links() {
        let outside = tempfile::tempdir().expect("tmp");
        fs::write(outside.path().join("keep"), b"precious").expect("write");
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        fs::create_dir_all(r.join("lib/modules/6.1/kernel")).expect("mkdir");
        fs::write(r.join("lib/modules/6.1/kernel/a.ko"), vec![0u8; 1000]).expect("write");
        fs::write(r.join("init"), vec![0u8; 24]).expect("write");
        symlink(outside.path(), r.join("escape")).expect("ln");
        symlink(outside.path().join("keep"), r.join("lib/keep-link")).expect("ln");
        let dev = fs::metadata(r).expect("stat").dev();
        let removed = remove_contents(r, dev);
        assert_eq!(removed, Removed { entries: 8, bytes: 1024, failures: 0 });
        assert_eq!(fs::read_dir(r).expect("read").count(), 0);
        assert!(r.exists(), "the directory itself stays");
        assert_eq!(fs::read(outside.path().join("keep")).expect("still there"), b"precious");
    }

    #[test]
    fn other_devices_are_left_alone() {
        let t = tempfile::tempdir().expect("tmp");
        fs::write(t.path().join("f"), b"x").expect("write");
        // Pretend the directory is on another device: nothing is touched.
        let dev = fs::metadata(t.path()).expect("stat").dev();
        assert_eq!(remove_contents(t.path(), dev.wrapping_add(1)), Removed::default());
        assert!(t.path().join("f").exists());
    }
}
