//! Two `uptree admin` processes at once on one sysroot (loop-mounted, as
//! a board's would be). Whatever the interleaving, the result must be what
//! running them one after the other gives: the same deployments, boot
//! entries, bootversion and `uEnv.txt`, checked against a second sysroot
//! where the same verbs ran in sequence. Also the failpoint environment
//! interface the QEMU power-cut lane drives (`UPTREE_FAILPOINT`).

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{Fault, TestServer};
use common::*;
use uptree_sys::lock::{LockKind, OfdLock};

fn sysroot_arg(p: &Path) -> String {
    format!("--sysroot={}", p.display())
}

/// A bootable test OS; `files` extra files make its checkout take a while.
fn os_tree(root: &Path, gen: u32, files: usize) {
    let mut spec = format!(
        r#"
f usr/lib/os-release 644 NAME="Test OS"\nID=testos\nPRETTY_NAME="Test OS"\n
f usr/lib/modules/5.10.0-test/vmlinuz 644 kernel{gen}\n
f usr/lib/modules/5.10.0-test/initramfs.img 644 initrd{gen}\n
f usr/lib/modules/5.10.0-test/devicetree 644 dtb{gen}\n
f usr/lib/ostree-boot/uEnv.txt 644 bootcmd_extra=echo {gen}\n
f usr/etc/hostname 644 board{gen}\n
f usr/bin/hello 755 #!/bin/sh\necho hello {gen}\n
d var 755
"#
    );
    for i in 0..files {
        spec.push_str(&format!("f usr/share/bulk/{}/{i} 644 {gen} {i}\n", i % 64));
    }
    build_tree(root, &spec);
}

fn commit(tool: fn(&[&std::ffi::OsStr]) -> String, repo: &Path, branch: &str, tree: &Path, version: &str, ts: &str) -> String {
    tool(os_args![
        repo_arg(repo),
        "commit",
        "-b",
        branch,
        "-s",
        format!("release {version}"),
        format!("--timestamp={ts}"),
        format!("--add-metadata-string=version={version}"),
        tree.as_os_str()
    ])
    .trim()
    .to_string()
}

fn admin(root: &Path, args: &[&str]) -> Vec<String> {
    let mut v = vec!["admin".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v.push(sysroot_arg(root));
    v
}

fn up_admin(root: &Path, args: &[&str]) -> String {
    let a = admin(root, args);
    up(&a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>())
}

fn spawn_admin(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    let mut c = Command::new(uptree_bin());
    c.args(admin(root, args)).env("LC_ALL", "C.UTF-8").env("TZ", "UTC").stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.spawn().expect("spawn uptree")
}

/// Wait for `c`, which must succeed; its stdout and stderr.
fn finish(mut c: Child, what: &str) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    c.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
    c.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    let st = c.wait().expect("wait");
    assert!(st.success(), "{what} failed ({st}):\nstdout:\n{out}\nstderr:\n{err}");
    (out, err)
}

/// A sysroot of its own (loop-mounted ext4) with stateroot `testos`.
fn sysroot(dir: &Path, name: &str) -> (LoopFs, PathBuf) {
    let fs_ = LoopFs::new(dir, name, 160, "ext4");
    let root = fs_.mnt.join("sysroot");
    fs::create_dir_all(&root).expect("mkdir");
    up(os_args!["admin", "init-fs", root.as_os_str()]);
    up(os_args!["admin", "os-init", "testos", sysroot_arg(&root)]);
    (fs_, root)
}

/// Everything a board boots from and a later `admin` verb reads, to compare
/// two sysroots (not the repo: a racing upgrade pulled more into it).
fn state(root: &Path) -> (Vec<String>, Vec<(String, String)>, serde_json::Value) {
    let tree = listing(root, &["ostree/repo", "ostree/lock", "ostree/uptree"]);
    let mut boot = Vec::new();
    let loader = root.join("boot/loader");
    for rel in ["uEnv.txt"]
        .into_iter()
        .map(String::from)
        .chain(fs::read_dir(loader.join("entries")).into_iter().flatten().flatten().map(|e| format!("entries/{}", e.file_name().to_string_lossy())))
    {
        boot.push((rel.clone(), fs::read_to_string(loader.join(&rel)).unwrap_or_else(|e| format!("<{e}>"))));
    }
    boot.sort();
    let st: serde_json::Value = serde_json::from_str(&up_admin(root, &["status", "--json"])).expect("status json");
    let deployments: Vec<serde_json::Value> =
        st["deployments"].as_array().expect("deployments").iter().map(|d| serde_json::json!([d["checksum"], d["deployserial"], d["refspec"]])).collect();
    (tree, boot, serde_json::json!({ "bootversion": st["bootversion"], "subbootversion": st["subbootversion"], "deployments": deployments }))
}

fn assert_same_state(raced: &Path, serial: &Path, what: &str) {
    let (a, b) = (state(raced), state(serial));
    let only = |x: &[String], y: &[String]| x.iter().filter(|l| !y.contains(l)).cloned().collect::<Vec<_>>();
    assert!(a.0 == b.0, "{what}: files differ\nonly raced: {:#?}\nonly serial: {:#?}", only(&a.0, &b.0), only(&b.0, &a.0));
    assert_eq!(a.1, b.1, "{what}: boot configuration differs");
    assert_eq!(a.2, b.2, "{what}: deployments differ");
}

/// `csum` is deployed, in a boot entry, and its kernel is in `uEnv.txt`.
fn assert_deployed(root: &Path, csum: &str, kernel: &str, what: &str) {
    let (_, boot, st) = state(root);
    assert!(st["deployments"].as_array().is_some_and(|d| d.iter().any(|d| d[0] == serde_json::json!(csum))), "{what}: {csum} not deployed: {st:#}");
    let dirs: Vec<String> =
        fs::read_dir(root.join("ostree/deploy/testos/deploy")).expect("deploy dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(dirs.iter().any(|d| d.starts_with(csum) && !d.ends_with(".origin")), "{what}: deployment directory of {csum} gone: {dirs:?}");
    let uenv = &boot.iter().find(|(n, _)| n == "uEnv.txt").expect("uEnv.txt").1;
    let kdir = uenv.lines().filter_map(|l| l.split_once('=')).filter(|(k, _)| k.starts_with("kernel_image")).map(|(_, v)| v.to_string()).collect::<Vec<_>>();
    assert!(
        kdir.iter().any(|k| fs::read_to_string(root.join(k.trim_start_matches('/'))).is_ok_and(|t| t == kernel)),
        "{what}: no uEnv.txt entry boots {csum}'s kernel:\n{uenv}"
    );
}

/// Wait until some process holds the sysroot lock exclusively.
fn wait_locked(root: &Path, child: &mut Child) {
    let start = Instant::now();
    loop {
        match OfdLock::acquire(&root.join("ostree/lock"), LockKind::Shared, Some(Duration::ZERO)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("probing the lock: {e}"),
            Ok(l) => drop(l),
        }
        assert!(child.try_wait().expect("try_wait").is_none(), "the first process ended before it was seen holding the lock");
        assert!(start.elapsed() < Duration::from_secs(30), "nothing took the sysroot lock");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Regression (issue 10): `admin upgrade` pulled from a slow server while
/// `admin deploy v3` ran; the upgrade then switched from its stale
/// snapshot, deleting v3's deployment and boot entries.
#[test]
fn upgrade_pulling_from_a_slow_origin_does_not_lose_a_concurrent_deploy() {
    race_a_slow_upgrade(&["deploy", "--os=testos", "local/v3"], "kernel3\n");
}

/// The same with `admin switch` to another remote ref while the upgrade
/// pulls: under the lock the upgrade finds a new origin, pulls that and
/// decides again, as if it had run after the switch.
#[test]
fn upgrade_pulling_from_a_slow_origin_follows_a_concurrent_switch() {
    race_a_slow_upgrade(&["switch", "--os=testos", "testos/devel"], "kernel4\n");
}

/// v1 deployed from `origin:testos/stable`; the server then publishes v2
/// there. `admin upgrade` pulls v2, stalled by the server, while `other`
/// runs to completion (v3 is on the local ref `local/v3`, v4 on the
/// server's `testos/devel`). The result must equal `other`, then
/// `upgrade`, run on a second sysroot; `kernel` is what `other` deployed.
fn race_a_slow_upgrade(other: &[&str], kernel: &str) {
    let dir = scratch();
    let src = dir.path().join("src");
    ostree(os_args![repo_arg(&src), "init", "--mode=archive"]);
    let tree = |g| {
        let t = dir.path().join(format!("tree{g}"));
        os_tree(&t, g, 0);
        t
    };
    let v1 = commit(ostree, &src, "testos/stable", &tree(1), "1.0", "2024-01-01 00:00:00 +0000");
    let v4 = commit(ostree, &src, "testos/devel", &tree(4), "4.0", "2024-04-01 00:00:00 +0000");
    ostree(os_args![repo_arg(&src), "summary", "-u"]);
    let server = TestServer::origin(src.clone());

    // Two identical sysroots: v1 deployed from origin:testos/stable, v3 on a local ref.
    let (fs_r, raced) = sysroot(dir.path(), "r");
    let (fs_s, serial) = sysroot(dir.path(), "s");
    let mut v3 = String::new();
    for root in [&raced, &serial] {
        let repo = root.join("ostree/repo");
        up(os_args![repo_arg(&repo), "remote", "add", "--no-gpg-verify", "origin", server.url()]);
        up(os_args![repo_arg(&repo), "pull", "origin", "testos/stable"]);
        up_admin(root, &["deploy", "--os=testos", "--karg=root=/dev/vda2", "origin:testos/stable"]);
        v3 = commit(up, &repo, "local/v3", &tree(3), "3.0", "2024-03-01 00:00:00 +0000");
    }
    let v2 = commit(ostree, &src, "testos/stable", &tree(2), "2.0", "2024-02-01 00:00:00 +0000");
    ostree(os_args![repo_arg(&src), "summary", "-u"]);
    let wanted = if other[0] == "switch" { &v4 } else { &v3 };
    assert!(v1 != v2 && v2 != v3 && v3 != v4);

    // One after the other: `other`, then upgrade (from the origin `other` left).
    up_admin(&serial, other);
    let serial_upgrade = up_admin(&serial, &["upgrade", "--os=testos"]);
    assert_deployed(&serial, wanted, kernel, "serial");

    // Raced: the upgrade's pull of v2 stalls on the commit object; `other` meanwhile.
    // 12 s: time for `other` on a loaded machine, short of the 30 s stall timeout.
    let slow = format!("/objects/{}/{}.commit", &v2[..2], &v2[2..]);
    server.add_rule(&slow, Fault::StallAfter(0, Duration::from_secs(12)), 1);
    server.clear_log();
    let mut upgrade = spawn_admin(&raced, &["upgrade", "--os=testos"], &[]);
    let start = Instant::now();
    while !server.seen().iter().any(|p| p.ends_with(&slow)) {
        assert!(upgrade.try_wait().expect("try_wait").is_none(), "upgrade ended before pulling v2");
        assert!(start.elapsed() < Duration::from_secs(30), "upgrade never asked for v2");
        std::thread::sleep(Duration::from_millis(10));
    }
    up_admin(&raced, other);
    assert!(upgrade.try_wait().expect("try_wait").is_none(), "{other:?} did not run while the upgrade was pulling");
    let (raced_upgrade, log) = finish(upgrade, "raced upgrade");

    assert_deployed(&raced, wanted, kernel, "raced");
    assert_same_state(&raced, &serial, &format!("upgrade raced by {other:?}"));
    assert_eq!(raced_upgrade.lines().last(), serial_upgrade.lines().last(), "upgrade's verdict");
    assert_eq!(raced_upgrade.lines().last(), Some("No update available."));
    if other[0] == "switch" {
        assert!(log.contains("the origin changed to origin:testos/devel"), "the upgrade did not notice the new origin:\n{log}");
    }
    drop((fs_r, fs_s));
}

/// Regression (issue 10): `admin cleanup` read the sysroot before taking
/// the lock; started while a deploy held it, it then "cleaned up" the
/// deploy's new bootversion and deployment.
#[test]
fn cleanup_racing_a_deploy_keeps_the_new_deployment() {
    let dir = scratch();
    let (fs_r, raced) = sysroot(dir.path(), "r");
    let (fs_s, serial) = sysroot(dir.path(), "s");
    let mut commits = Vec::new();
    for root in [&raced, &serial] {
        let repo = root.join("ostree/repo");
        let before = std::mem::take(&mut commits);
        for g in 1..=2 {
            let t = dir.path().join(format!("tree{g}"));
            if !t.exists() {
                // Enough files that the deploy holds the lock a while.
                os_tree(&t, g, 3000);
            }
            commits.push(commit(up, &repo, "testos/stable", &t, &format!("{g}.0"), &format!("2024-0{g}-01 00:00:00 +0000")));
        }
        assert!(before.is_empty() || before == commits, "the two sysroots must hold the same commits");
        up_admin(root, &["deploy", "--os=testos", "--karg=root=/dev/vda2", &commits[0]]);
    }
    up_admin(&serial, &["deploy", "--os=testos", &commits[1]]);
    up_admin(&serial, &["cleanup"]);

    for round in 0..2 {
        let mut deploy = spawn_admin(&raced, &["deploy", "--os=testos", &commits[1 - round]], &[]);
        wait_locked(&raced, &mut deploy);
        let cleanup = spawn_admin(&raced, &["cleanup"], &[]);
        finish(deploy, "raced deploy");
        finish(cleanup, "raced cleanup");
        assert_deployed(&raced, &commits[1 - round], &format!("kernel{}\n", 2 - round), &format!("round {round}"));
        if round == 0 {
            assert_same_state(&raced, &serial, "cleanup raced with a deploy");
        }
    }
    drop((fs_r, fs_s));
}

/// The environment interface of the failpoints (test builds only): list
/// the steps, stop at one by number or by name, `exit` and `pause`.
#[test]
fn failpoints_from_the_environment() {
    let dir = scratch();
    let (fs_, root) = sysroot(dir.path(), "f");
    let repo = root.join("ostree/repo");
    // Boot counting on, so the U-Boot environment writes are steps too.
    let (txt, img) = (dir.path().join("env.txt"), dir.path().join("uboot.env"));
    fs::write(&txt, "bootlimit=3\n").expect("env text");
    ok("mkenvimage", os_args!["-s", "0x4000", "-o", img.as_os_str(), txt.as_os_str()], &[]);
    fs::write(root.join("fw_env.config"), format!("{} 0x0 0x4000\n", img.display())).expect("config");
    up(os_args![repo_arg(&repo), "config", "set", "uptree.fw-env-config", "fw_env.config"]);
    let mut commits = Vec::new();
    for g in 1..=2 {
        let t = dir.path().join(format!("tree{g}"));
        os_tree(&t, g, 0);
        commits.push(commit(up, &repo, "testos/stable", &t, &format!("{g}.0"), &format!("2024-0{g}-01 00:00:00 +0000")));
    }
    up_admin(&root, &["deploy", "--os=testos", &commits[0]]);
    let env_get = |k: &str| ok("fw_printenv", os_args!["-c", root.join("fw_env.config").as_os_str(), "-n", k], &[]);
    ok("fw_setenv", os_args!["-c", root.join("fw_env.config").as_os_str(), "upgrade_available", "0"], &[]);

    // The list: numbered, named steps, the environment write among them.
    let c = spawn_admin(&root, &["deploy", "--os=testos", &commits[1]], &[("UPTREE_FAILPOINT_LIST", "1")]);
    let out = c.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let steps: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("uptree-failpoint: step ")).collect();
    assert!(steps.len() > 10, "{err}");
    for (i, s) in steps.iter().enumerate() {
        assert!(s.starts_with(&format!("{} (", i + 1)) && s.ends_with(')'), "step {i}: {s}");
    }
    let n_env = steps.iter().position(|s| s.ends_with(" (uboot-env write)")).expect("uboot-env write step");
    assert!(steps[n_env + 1].ends_with(" (uboot-env written)"), "{err}");
    assert_eq!(env_get("upgrade_available"), "1");
    up_admin(&root, &["undeploy", "0"]);
    ok("fw_setenv", os_args!["-c", root.join("fw_env.config").as_os_str(), "upgrade_available", "0"], &[]);
    let before = state(&root);

    // exit, by name: status 137, nothing after the step happened. (Step
    // numbers depend on the state: the merge reports' directory exists now.)
    let c = spawn_admin(&root, &["deploy", "--os=testos", &commits[1]], &[("UPTREE_FAILPOINT", "uboot-env write:exit")]);
    let out = c.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(137), "{err}");
    let n_env: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("uptree-failpoint: exiting at step ")?.strip_suffix(" (uboot-env write)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exit line: {err}"));
    assert_eq!(env_get("upgrade_available"), "0", "the environment was written past the failpoint");
    let after = state(&root);
    assert_eq!((after.1, after.2), (before.1, before.2), "the switch happened past the failpoint");

    // pause, by number: stops there and stays; killed, the lock is free and
    // the next deploy completes.
    let mut c = spawn_admin(&root, &["deploy", "--os=testos", &commits[1]], &[("UPTREE_FAILPOINT", &format!("{}:pause", n_env + 1))]);
    let mut stderr = c.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains('\n') {
        let n = stderr.read(&mut buf).expect("read stderr");
        assert!(n > 0, "ended without pausing: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&seen).into_owned();
    assert!(line.starts_with(&format!("uptree-failpoint: paused at step {} (uboot-env written)", n_env + 1)), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.try_wait().expect("try_wait").is_none(), "a paused process must stay paused");
    c.kill().expect("kill");
    c.wait().expect("wait");
    assert_eq!(env_get("upgrade_available"), "1");
    up_admin(&root, &["deploy", "--os=testos", &commits[1]]);
    assert_deployed(&root, &commits[1], "kernel2\n", "after the paused deploy was killed");

    // A typo stops the run instead of letting it pass unnoticed.
    let c = spawn_admin(&root, &["deploy", "--os=testos", &commits[0]], &[("UPTREE_FAILPOINT", "uboot-env write:stop")]);
    let out = c.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid UPTREE_FAILPOINT"));
    drop(fs_);
}

/// A clean-up that fails after the switch is live (here an old deployment
/// that cannot be removed) must not report the deploy as failed: the new
/// deployment boots next. It is a warning, logged and in `--json`.
#[test]
fn deploy_succeeds_with_a_warning_when_cleanup_fails_after_the_switch() {
    use std::os::fd::AsFd;
    let dir = scratch();
    let (fs_, root) = sysroot(dir.path(), "c");
    let repo = root.join("ostree/repo");
    // Each commit right before its deploy: a deploy's prune keeps only the ref's head.
    let mut commits = Vec::new();
    for g in 1..=3 {
        let t = dir.path().join(format!("tree{g}"));
        os_tree(&t, g, 0);
        commits.push(commit(up, &repo, "testos/stable", &t, &format!("{g}.0"), &format!("2024-0{g}-01 00:00:00 +0000")));
        if g < 3 {
            up_admin(&root, &["deploy", "--os=testos", &commits[g as usize - 1]]);
        }
    }
    // Deploying v3 drops v1; its directory holds a file nothing may remove.
    let v1 = root.join(format!("ostree/deploy/testos/deploy/{}.0", commits[0]));
    let stuck = v1.join("etc/stuck");
    fs::write(&stuck, "x").expect("write");
    let set = |on: bool| uptree_sys::fs::set_immutable(fs::File::open(&stuck).expect("open").as_fd(), on).expect("chattr");
    set(true);
    let c = spawn_admin(&root, &["deploy", "--os=testos", "--json", &commits[2]], &[]);
    let out = c.wait_with_output().expect("wait");
    set(false);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "a deploy whose switch is live was reported failed:\n{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["checksum"], serde_json::json!(commits[2]), "{v:#}");
    let w = v["warnings"].as_array().expect("warnings");
    assert!(w.len() == 1 && w[0].as_str().is_some_and(|w| w.contains("cleaning up") && w.contains(&commits[0])), "{v:#}");
    assert!(stderr.contains("cleaning up"), "not logged: {stderr}");
    assert_deployed(&root, &commits[2], "kernel3\n", "after a failed clean-up");
    // The next clean-up finishes the job.
    up_admin(&root, &["cleanup"]);
    assert!(!v1.exists(), "the old deployment is still there");
    drop(fs_);
}

/// Wait until process `c` has `path` open.
fn wait_open(c: &mut Child, path: &Path) {
    let start = Instant::now();
    loop {
        let fds = fs::read_dir(format!("/proc/{}/fd", c.id())).expect("/proc/PID/fd");
        if fds.flatten().any(|e| fs::read_link(e.path()).is_ok_and(|t| t == path)) {
            return;
        }
        assert!(c.try_wait().expect("try_wait").is_none(), "it ended without waiting for {}", path.display());
        assert!(start.elapsed() < Duration::from_secs(30), "{} never opened", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// libostree unlinks `ostree/lock` as it releases it. A waiter that opened
/// the old file and then wins its lock holds nothing: the next `ostree
/// admin` locks a new file and runs at the same time. uptree checks for
/// this, as libglnx does, and waits for the new file's lock.
#[test]
fn a_lock_file_its_owner_unlinked_is_not_the_lock() {
    let dir = scratch();
    let (fs_, root) = sysroot(dir.path(), "l");
    let lock = root.join("ostree/lock");
    let held = OfdLock::acquire(&lock, LockKind::Exclusive, Some(Duration::ZERO)).expect("lock");
    let mut c = spawn_admin(&root, &["cleanup"], &[]);
    wait_open(&mut c, &lock);
    // As ostree lets go: unlink, unlock; the next ostree locks a new file.
    fs::remove_file(&lock).expect("unlink");
    let next = OfdLock::acquire(&lock, LockKind::Exclusive, Some(Duration::ZERO)).expect("lock the new file");
    drop(held);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(c.try_wait().expect("try_wait").is_none(), "cleanup ran while another process held the sysroot lock");
    drop(next);
    finish(c, "cleanup");
    drop(fs_);
}
