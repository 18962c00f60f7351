//! The real binary as PID 1, failing, must end in a restart — run where a
//! restart is harmless: PID 1 of a new PID namespace (`unshare --pid
//! --fork`), where reboot(2) kills the namespace's init instead of
//! restarting the machine, and its parent sees it die of `SIGHUP`
//! (reboot(2), "PID namespaces"). The init itself never touches the
//! machine-wide knobs (`kernel.panic`, `/proc/sysrq-trigger`) outside the
//! initial PID namespace; `namespace_is_new` checks that the namespace
//! really is another one before anything runs in it.
//!
//! The init runs chrooted into a small tree: its own `/proc` would show
//! the host's kernel command line, which the test does not control, so
//! the failure comes from the tree instead (`/sys` is a file, so the
//! early sysfs mount fails). Needs root, as CI runs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const INITIAL_PID_NS: &str = "pid:[4026531836]";
/// The same number on every Linux architecture.
const SIGHUP: i32 = 1;

/// A root holding the init and the shared libraries it needs (from `ldd`).
fn init_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new().prefix("uptree-init-pid1-").tempdir_in("/var/tmp").expect("tmp");
    let init = env!("CARGO_BIN_EXE_uptree-init");
    let out = Command::new("ldd").arg(init).output().expect("ldd (libc-bin) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        for lib in text.split_whitespace().filter(|w| w.starts_with('/')) {
            let dest = root.path().join(lib.trim_start_matches('/'));
            fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            fs::copy(lib, &dest).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        }
    } else {
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable") || text.contains("not a dynamic executable"), "ldd failed: {out:?}");
    }
    fs::copy(init, root.path().join("init")).expect("copy init");
    fs::create_dir(root.path().join("proc")).expect("mkdir proc");
    fs::write(root.path().join("sys"), b"not a directory\n").expect("sys");
    root
}

/// `unshare --pid --fork --mount [--kill-child] [WRAP…] chroot ROOT /init`:
/// the init is PID 1 of a new PID namespace, with its own mount namespace.
fn in_new_pid_namespace(root: &Path, wrap: &[&str]) -> Command {
    namespace_is_new();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount", "--propagation", "private", "--kill-child", "--"]);
    c.args(wrap).arg("chroot").arg(root).arg("/init");
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Before relying on it: `unshare` really gives a new PID namespace.
fn namespace_is_new() {
    let out = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "readlink", "/proc/self/ns/pid"]).output().expect("unshare (util-linux)");
    assert!(out.status.success(), "unshare --pid failed (root needed): {out:?}");
    let inner = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let outer = fs::read_link("/proc/self/ns/pid").expect("readlink").to_string_lossy().into_owned();
    assert!(inner.starts_with("pid:[") && inner != outer && inner != INITIAL_PID_NS, "not a new PID namespace: {inner} (ours: {outer})");
}

/// Lines of the child's stderr as they come.
fn lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collect lines until one contains `what` (or `limit` passes).
fn until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, what: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while !seen.iter().any(|l| l.contains(what)) {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(l) => seen.push(l),
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn a_failing_init_ends_in_a_reboot() {
    let root = init_root();
    let start = Instant::now();
    let out = in_new_pid_namespace(root.path(), &[]).output().expect("unshare");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(SIGHUP), "the namespace's init must die of reboot(2) (SIGHUP), not exit: {:?}\n{log}", out.status);
    for want in [
        "started as PID 1",
        "FAILED: mount sysfs sysfs on /sys (rw,nosuid,nodev,noexec): Not a directory",
        "rebooting in 3 s so the bootloader counts this failed attempt",
        "leaving kernel.panic and the SysRq trigger alone: in PID namespace pid:[",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }
    assert!(!log.contains("reboot refused"), "{log}");
    assert!(start.elapsed() >= Duration::from_secs(3), "the reboot delay was kept");
}

/// Without `CAP_SYS_BOOT` the kernel refuses reboot(2): the init retries,
/// tries the SysRq trigger (refused here: not the machine's init) and
/// keeps trying; it never exits (an exit of PID 1 panics the kernel, and
/// without `panic=` the board would hang). Before, it exited with 1.
#[test]
fn a_refused_reboot_never_ends_pid1() {
    let root = init_root();
    let mut child = in_new_pid_namespace(root.path(), &["setpriv", "--bounding-set", "-sys_boot", "--"]).spawn().expect("unshare");
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    let got = until(&rx, &mut seen, "SysRq restart failed", Duration::from_secs(60));
    // Still there a while later: retrying, not exited.
    std::thread::sleep(Duration::from_secs(2));
    let status = child.try_wait().expect("wait");
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(l) = rx.try_recv() {
        seen.push(l);
    }
    let log = seen.join("\n");
    assert!(got, "no SysRq attempt:\n{log}");
    assert_eq!(status, None, "PID 1 ended after a refused reboot:\n{log}");
    assert_eq!(log.matches("reboot refused: Operation not permitted").count(), 2, "reboot tried twice before SysRq:\n{log}");
    assert!(log.contains("SysRq restart failed: not used: in PID namespace pid:["), "{log}");
    assert!(log.contains("trying again in 10 s"), "{log}");
}
