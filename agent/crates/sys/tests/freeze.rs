//! Freeze/thaw on a real loop-mounted ext4 (needs root, as CI runs): the
//! filesystem is writable afterwards, and stays writable when the process
//! dies while it is frozen (the watchdog thaws it). A missing tool or loop
//! device fails the tests: they never skip.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
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
        assert!(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img).status().expect("mkfs.ext4 (e2fsprogs) must be installed").success());
        let mounted = Command::new("mount").arg("-o").arg("loop").arg(&img).arg(&mnt).status().expect("mount (util-linux) must be installed");
        assert!(mounted.success(), "mount -o loop failed (root and a loop device are needed)");
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

/// The child's part of the test below, chosen by this variable (its value
/// is the mount point): freeze, then get killed while frozen.
const CHILD_ROLE: &str = "UPTREE_TEST_DIE_FROZEN";
const TEST_NAME: &str = "a_process_killed_while_frozen_does_not_leave_it_frozen";

#[test]
fn a_process_killed_while_frozen_does_not_leave_it_frozen() {
    if let Some(mnt) = std::env::var_os(CHILD_ROLE) {
        let d = fs::File::open(mnt).expect("open");
        let r = uptree_sys::fs::frozen_section(d.as_fd(), uptree_sys::fs::WATCHDOG_TIMEOUT, || {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        });
        panic!("still alive after SIGKILL inside the frozen section: {r:?}");
    }
    let fs_ = LoopExt4::new();
    let status = Command::new(std::env::current_exe().expect("self"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, &fs_.mnt)
        .status()
        .expect("child");
    assert_eq!(status.signal(), Some(nix::sys::signal::Signal::SIGKILL as i32), "the child must die inside the frozen section: {status:?}");
    let ok = writable(&fs_.mnt);
    if !ok {
        // Thaw by hand, or unmounting it would hang the test run.
        let _ = Command::new("fsfreeze").arg("-u").arg(&fs_.mnt).status();
    }
    assert!(ok, "the filesystem stayed frozen after its freezer died");
}

/// A freezer that is alive but stuck inside the frozen section: the
/// watchdog thaws after its timeout, so writes go through again.
#[test]
fn a_freezer_stuck_while_frozen_is_thawed_after_the_timeout() {
    let fs_ = LoopExt4::new();
    let d = fs::File::open(&fs_.mnt).expect("open");
    let mut thawed_inside = false;
    let r = uptree_sys::fs::frozen_section(d.as_fd(), Duration::from_secs(1), || thawed_inside = writable(&fs_.mnt));
    if !thawed_inside {
        let _ = Command::new("fsfreeze").arg("-u").arg(&fs_.mnt).status();
    }
    assert!(thawed_inside, "the filesystem stayed frozen past the watchdog's timeout");
    r.expect("freeze, then the watchdog's thaw");
    assert!(writable(&fs_.mnt));
}

/// `OSTREE_SYSROOT_DEBUG=test-fifreeze`'s self-test: the watchdog times
/// out, thaws (nothing is frozen) and exits cleanly.
#[test]
fn the_watchdog_selftest_times_out_and_exits_cleanly() {
    let dir = tempfile::tempdir_in("/var/tmp").expect("tmp");
    let d = fs::File::open(dir.path()).expect("open");
    let start = std::time::Instant::now();
    uptree_sys::fs::watchdog_selftest(d.as_fd()).expect("selftest");
    assert!(start.elapsed() >= Duration::from_millis(900), "returned before the watchdog's 1 s timeout");
}
