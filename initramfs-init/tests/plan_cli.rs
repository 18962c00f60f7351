//! The real binary's dry run (`uptree-init --plan SYSROOT CMDLINE`) on
//! sysroot fixtures: what PID 1 would mount, and what it refuses.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

const C: &str = "0c1f3e2a0c1f3e2a0c1f3e2a0c1f3e2a0c1f3e2a0c1f3e2a0c1f3e2a0c1f3e2a";

/// Build a tree from lines: `d PATH`, `f PATH MODE CONTENT…`, `l PATH TARGET`.
fn fixture(root: &Path, spec: &str) {
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut w = line.splitn(4, ' ');
        let (kind, path) = (w.next().unwrap_or(""), root.join(w.next().expect("path")));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("parent");
        }
        match kind {
            "d" => fs::create_dir_all(&path).expect("mkdir"),
            "f" => {
                let mode = u32::from_str_radix(w.next().expect("mode"), 8).expect("octal mode");
                fs::write(&path, w.next().unwrap_or("")).expect("write");
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            }
            "l" => symlink(w.next().expect("target"), &path).expect("symlink"),
            other => panic!("fixture: unknown kind {other:?}"),
        }
    }
}

fn sysroot() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tmp");
    let d = format!("ostree/deploy/os/deploy/{C}.0");
    fixture(
        t.path(),
        &format!(
            "d ostree/repo
             f ostree/repo/config 644 [core]
             d ostree/deploy/os/var
             l ostree/boot.0 boot.0.1
             l ostree/boot.0.1/os/bc/0 ../../../deploy/os/deploy/{C}.0
             l ostree/boot.0.1/os/bc/1 ../../../../../../..
             l ostree/boot.0.1/os/bc/2 ../../../deploy/os/deploy/{C}.1
             d ostree/deploy/os/deploy/{C}.1/usr
             d ostree/deploy/os/deploy/{C}.1/var
             d ostree/deploy/os/deploy/{C}.1/sysroot
             l boot/loader loader.0
             d boot/loader.0
             f {d}/usr/sbin/init 755 #!/bin/sh
             l {d}/sbin usr/sbin
             d {d}/etc
             d {d}/var
             d {d}/boot
             d {d}/sysroot
             d {d}/dev
             d {d}/proc
             d {d}/sys
             d {d}/run"
        ),
    );
    t
}

fn plan(sysroot: &Path, cmdline: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_uptree-init")).arg("--plan").arg(sysroot).arg(cmdline).output().expect("run uptree-init");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn plans_the_deployment_named_by_ostree() {
    let t = sysroot();
    let (code, out) = plan(t.path(), "console=ttyAMA0 root=PARTLABEL=rootfs rw rootwait ostree=/ostree/boot.0/os/bc/0");
    assert_eq!(code, 0, "{out}");
    let d = format!("/sysroot/ostree/deploy/os/deploy/{C}.0");
    for want in [
        "root: PARTLABEL=rootfs (waited for up to 60 s, mounted rw)".to_string(),
        format!("deployment: /ostree/deploy/os/deploy/{C}.0"),
        "  mount devtmpfs devtmpfs on /dev (rw,nosuid,mode=0755)".into(),
        format!("  bind {d} on /sysroot.tmp"),
        "  bind /sysroot/boot on /sysroot.tmp/boot".into(),
        "  remount /sysroot.tmp/usr read-only".into(),
        "  bind /sysroot/ostree/deploy/os/var on /sysroot.tmp/var".into(),
        "  write /run/ostree-booted (136 bytes)".into(),
        "  move /sysroot to /sysroot.tmp/sysroot".into(),
        "  switch root to /sysroot.tmp".into(),
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in:\n{out}");
    }
    let init = format!("init: /sbin/init ({}/ostree/deploy/os/deploy/{C}.0/usr/sbin/init)", t.path().display());
    assert!(out.lines().any(|l| l == init), "missing {init:?} in:\n{out}");
}

#[test]
fn refuses_escapes_missing_links_and_incomplete_deployments() {
    let t = sysroot();
    let (code, out) = plan(t.path(), "root=/dev/vda ostree=/ostree/boot.0/os/bc/1");
    assert_eq!(code, 1);
    assert!(out.contains("FAILED: ostree=/ostree/boot.0/os/bc/1: /ostree/boot.0.1/os/bc/1 -> ../../../../../../.. leads outside the sysroot"), "{out}");
    let (code, out) = plan(t.path(), "root=/dev/vda ostree=/ostree/boot.0/os/bc/5");
    assert_eq!(code, 1);
    assert!(out.contains("/ostree/boot.0.1/os/bc/5 does not exist in the sysroot"), "{out}");
    // Deployment .1 has no /sbin/init and no stateroot problems: the init is reported.
    let (code, out) = plan(t.path(), "root=/dev/vda ostree=/ostree/boot.0/os/bc/2");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("FAILED: init /sbin/init of deployment /ostree/deploy/os/deploy/{C}.1: /sbin does not exist")), "{out}");
}

#[test]
fn usage_and_plain_roots() {
    let out = Command::new(env!("CARGO_BIN_EXE_uptree-init")).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: uptree-init --plan"));
    let t = sysroot();
    let (code, out) = plan(t.path(), "root=LABEL=x ro");
    assert_eq!(code, 0);
    assert!(out.contains("root: LABEL=x (waited for up to 10 s, mounted ro)"), "{out}");
    assert!(out.contains("  switch root to /sysroot"), "{out}");
}
