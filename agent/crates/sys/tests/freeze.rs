//! Freeze/thaw on a real loop-mounted ext4 (needs root, as CI runs): the
//! filesystem is writable afterwards, and stays writable when the process
//! dies while it is frozen (the watchdog thaws it).

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

struct LoopExt4 {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopExt4 {
    fn new() -> LoopExt4 {
        let dir = tempfile::Builder::new().prefix("uptree-sys-freeze-").tempdir_in("/var/tmp").expect("tmp");
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).expect("mkdir");
        fs::File::create(&img).and_then(|f| f.set_len(32 << 20)).expect("image");
        assert!(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img).status().expect("mkfs").success());
        assert!(Command::new("mount").arg("-o").arg("loop").arg(&img).arg(&mnt).status().expect("mount").success());
        LoopExt4 { mnt, _dir: dir }
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

/// A write that completes within a few seconds (a frozen filesystem blocks it).
fn writable(dir: &Path) -> bool {
    let (tx, rx) = mpsc::channel();
    let p = dir.join("probe");
    std::thread::spawn(move || {
        let r = fs::write(&p, b"x").and_then(|()| fs::File::open(&p)?.sync_all());
        let _ = tx.send(r.is_ok());
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
}

#[test]
fn freeze_thaw_leaves_the_filesystem_writable() {
    let fs_ = LoopExt4::new();
    let d = fs::File::open(&fs_.mnt).expect("open");
    uptree_sys::fs::freeze_thaw(d.as_fd()).expect("freeze/thaw");
    assert!(writable(&fs_.mnt));
}

/// Run by the test below in a child process: freeze, then die frozen.
#[test]
fn child_dies_while_frozen() {
    let Ok(mnt) = std::env::var("UPTREE_TEST_DIE_FROZEN") else { return };
    let d = fs::File::open(mnt).expect("open");
    let _ = uptree_sys::fs::frozen_section(d.as_fd(), || std::process::exit(3));
}

#[test]
fn a_process_killed_while_frozen_does_not_leave_it_frozen() {
    let fs_ = LoopExt4::new();
    let status = Command::new(std::env::current_exe().expect("self"))
        .args(["--exact", "child_dies_while_frozen", "--nocapture"])
        .env("UPTREE_TEST_DIE_FROZEN", &fs_.mnt)
        .status()
        .expect("child");
    assert_eq!(status.code(), Some(3), "the child died inside the frozen section");
    let ok = writable(&fs_.mnt);
    if !ok {
        // Thaw by hand, or unmounting it would hang the test run.
        let _ = Command::new("fsfreeze").arg("-u").arg(&fs_.mnt).status();
    }
    assert!(ok, "the filesystem stayed frozen after its freezer died");
}
