//! `uptree usb-update`: a stick's commits must be signed by a trusted key
//! even though the network remote does not require signatures; a signed
//! stick given as a block device (a loop device holding a vfat image) is
//! mounted read-only, deployed from and unmounted; a stick whose
//! repository loses objects part-way (as when pulled out) gives a clear
//! error, leaves the repo consistent and deploys nothing. A stick the real
//! `ostree create-usb` wrote is taken by the origin remote's collection ID,
//! held to the same signatures and to the commit's collection binding, and
//! never through a link leading out of the stick. Refusals are recorded
//! for `admin status --json`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::device::*;
use common::*;
use serde_json::Value;
use uptree_pull::sign;

fn key(seed: u8) -> (String, String) {
    let secret = sign::base64_encode(&[seed; 32]);
    let public = sign::public_of(&secret).expect("public key");
    (secret, public)
}

/// A device on v1 whose origin remote trusts `public` but does not require
/// signatures; v2 is committed to the server (unsigned).
fn device_with_v2(dir: &Path, public: &str) -> (Device, String) {
    let d = Device::new(dir);
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    d.first_deploy(&format!("file://{}", d.server.display()), &[format!("--set=verification-ed25519-key={public}")]);
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    d.config("[agent]\nusb=true\n");
    (d, v2)
}

/// A copy of the server repo at `top/ostree_repo` (as a stick carries it).
fn stick_dir(d: &Device, top: &Path) -> PathBuf {
    let repo = top.join("ostree_repo");
    fs::create_dir_all(top).expect("stick top");
    ok("cp", os_args!["-r", d.server.as_os_str(), repo.as_os_str()], &[]);
    repo
}

fn usb_update(d: &Device, source: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(uptree_bin())
        .arg("usb-update")
        .arg(source)
        .arg(self_arg(&d.root))
        .arg(format!("--config={}", d.dir.join("agent.conf").display()))
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .expect("usb-update")
}

fn origin_ref(d: &Device) -> String {
    up(os_args![repo_arg(&d.repo()), "rev-parse", format!("origin:{REF}")])
}

fn assert_refused(d: &Device, out: &std::process::Output, v1: &str, expect: &str) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(expect) && err.contains("uptree-usb-update result=refused"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(origin_ref(d), v1, "the origin ref did not move");
    up(os_args![repo_arg(&d.repo()), "fsck"]);
    let st = d.status();
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "nothing deployed: {st:#}");
    assert_eq!(st["agent"]["usb"]["result"], "refused", "{st:#}");
    assert!(st["agent"]["usb"]["error"].as_str().is_some_and(|e| e.contains(expect)), "status says why: {st:#}");
    validate(&st, &d.dir).expect("status after a refused stick");
    let text = up(os_args!["admin", "status", self_arg(&d.root)]);
    assert!(text.contains("USB stick ") && text.contains(": refused (") && text.contains(expect), "{text}");
    st
}

#[test]
fn unsigned_or_foreign_signed_sticks_are_refused_and_status_says_why() {
    let t = scratch();
    let (_, public) = key(7);
    let (d, v2) = device_with_v2(t.path(), &public);
    let v1 = origin_ref(&d);
    let top = t.path().join("stick");
    let stick = stick_dir(&d, &top);

    // Unsigned: refused although the network remote requires nothing.
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "no ed25519 signatures found");

    // Signed by a key nobody trusts: refused too.
    let (foreign, _) = key(9);
    up(os_args![repo_arg(&stick), "sign", &v2, foreign]);
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "no valid ed25519 signature from a trusted key");

    // Explicitly allowed: taken.
    let out = usb_update(&d, &top, &["--allow-unsigned"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st = d.status();
    assert_eq!(st["deployments"][0]["checksum"], Value::from(v2), "{st:#}");
    assert_eq!(st["agent"]["usb"]["result"], "deployed", "{st:#}");
}

#[test]
fn usb_ref_takes_the_sticks_ref_for_the_same_os_name_when_configured() {
    let t = scratch();
    let (secret, public) = key(7);
    let d = Device::new(t.path());
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    d.first_deploy(&format!("file://{}", d.server.display()), &[format!("--set=verification-ed25519-key={public}")]);
    let v1 = origin_ref(&d);
    // The stick was made for another branch of the same OS: it carries
    // testos/usb (v2, signed) and testos/beta, no testos/stable, and a
    // ref of another OS that must never be taken.
    let tree = os_tree(t.path(), "v2", false);
    let v2 =
        ostree(os_args![repo_arg(&d.server), "commit", "-b", "testos/usb", "-s", "v2", "--timestamp=2024-02-01 00:00:00 +0000", tree.display().to_string()]);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    let top = t.path().join("stick");
    let stick = stick_dir(&d, &top);
    ostree(os_args![repo_arg(&stick), "refs", "--delete", REF]);
    ostree(os_args![repo_arg(&stick), "refs", "--create=testos/beta", &v2]);
    ostree(os_args![repo_arg(&stick), "refs", "--create=otheros/stable", &v1]);
    ostree(os_args![repo_arg(&stick), "summary", "-u"]);

    // Two refs for testos and neither is the origin's: which one is not guessed.
    d.config("[agent]\nusb-ref=stick\n");
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "the stick has several refs for testos (testos/beta, testos/usb); name one with usb-ref=REF");
    ostree(os_args![repo_arg(&stick), "refs", "--delete", "testos/beta"]);
    ostree(os_args![repo_arg(&stick), "summary", "-u"]);

    // The command line overrides the file: the origin's ref is not on the stick.
    let out = usb_update(&d, &top, &["--usb-ref=origin"]);
    assert_refused(&d, &out, &v1, "No such branch 'testos/stable'");

    // usb-ref=stick: testos/usb is taken, and becomes the origin.
    let out = usb_update(&d, &top, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Deployed {v2}.0 from the stick")), "{out:?}");
    let st = d.status();
    assert_eq!(st["deployments"][0]["checksum"], Value::from(v2.clone()), "{st:#}");
    assert_eq!(st["deployments"][0]["refspec"], "origin:testos/usb", "{st:#}");
    assert_eq!(st["deployments"][1]["checksum"], Value::from(v1), "{st:#}");
    assert_eq!(up(os_args![repo_arg(&d.repo()), "rev-parse", "origin:testos/usb"]), v2);
    validate(&st, t.path()).expect("status after a stick of another branch");
    up(os_args![repo_arg(&d.repo()), "fsck"]);

    // The same stick, the ref named explicitly: nothing new.
    let out = usb_update(&d, &top, &["--usb-ref=testos/usb"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("No update on the stick"), "{out:?}");
    assert_eq!(d.status()["deployments"].as_array().map(Vec::len), Some(2));
}

/// Detaches the loop device when dropped.
struct LoopDev(String);

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn mounts_of(dev: &str) -> String {
    fs::read_to_string("/proc/self/mounts").expect("mounts").lines().filter(|l| l.starts_with(&format!("{dev} "))).collect::<Vec<_>>().join("\n")
}

#[test]
fn signed_stick_on_a_block_device_is_mounted_read_only_deployed_and_unmounted() {
    let t = scratch();
    let (secret, public) = key(7);
    let (d, v2) = device_with_v2(t.path(), &public);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    // A stick image holding the signed repo, on a loop device (ext4: this
    // kernel may lack vfat; the mount tries both).
    let dev = stick_on_loop_device(t.path(), &d, 64 << 20);

    let out = usb_update(&d, Path::new(&dev.0), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Deployed {v2}.0 from the stick")), "{out:?}");
    assert_eq!(mounts_of(&dev.0), "", "the stick is unmounted afterwards");
    let st = d.status();
    assert_eq!(st["deployments"][0]["checksum"], Value::from(v2.clone()), "{st:#}");
    assert_eq!(st["agent"]["usb"]["result"], "deployed", "{st:#}");
    assert_eq!(st["agent"]["usb"]["commit"], Value::from(v2.clone()), "{st:#}");
    // Pending for the agent, which reboots into it by its reboot policy.
    assert_eq!(st["agent"]["pending"]["checksum"], Value::from(v2), "{st:#}");
    validate(&st, t.path()).expect("status after a stick");
    up(os_args![repo_arg(&d.repo()), "fsck"]);
    // The same stick again: nothing new.
    let out = usb_update(&d, Path::new(&dev.0), &[]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("No update on the stick"), "{out:?}");
}

#[test]
fn stick_losing_objects_part_way_deploys_nothing_and_keeps_the_repo_consistent() {
    let t = scratch();
    let (secret, public) = key(7);
    let (d, v2) = device_with_v2(t.path(), &public);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    let top = t.path().join("stick");
    let stick = stick_dir(&d, &top);
    // Half the object directories are gone, as when the stick is pulled
    // out part-way through (the commit and its signature are still there).
    let mut dirs: Vec<PathBuf> = fs::read_dir(stick.join("objects")).expect("objects").map(|e| e.expect("entry").path()).collect();
    dirs.sort();
    let keep_commit = |p: &Path| fs::read_dir(p).expect("dir").any(|e| e.expect("e").path().extension().is_some_and(|x| x == "commit" || x == "commitmeta"));
    let mut removed = 0;
    for (i, dir) in dirs.iter().enumerate() {
        if i % 2 == 0 && !keep_commit(dir) {
            fs::remove_dir_all(dir).expect("rm");
            removed += 1;
        }
    }
    assert!(removed > 2, "some objects removed");
    let v1 = origin_ref(&d);
    let out = usb_update(&d, &top, &[]);
    let st = assert_refused(&d, &out, &v1, &format!("pulling from {}", stick.display()));
    assert!(st["agent"]["usb"]["error"].as_str().is_some_and(|e| e.contains("not found") || e.contains("No such file")), "{st:#}");
    // Put the stick back complete: it is taken.
    fs::remove_dir_all(&top).expect("rm stick");
    stick_dir(&d, &top);
    let out = usb_update(&d, &top, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(d.status()["deployments"][0]["checksum"], Value::from(v2));
}

/// Files below `dir`, recursively.
fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|rd| rd.filter_map(Result::ok).map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum()).unwrap_or(0)
}

#[test]
fn stick_pulled_out_mid_read_is_a_clear_error_and_deploys_nothing() {
    let t = scratch();
    let (secret, public) = key(7);
    let d = Device::new(t.path());
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    d.first_deploy(&format!("file://{}", d.server.display()), &[format!("--set=verification-ed25519-key={public}")]);
    d.config("[agent]\n");
    // v2 carries ~60 MiB in many objects, so the pull takes a while.
    let tree = os_tree(t.path(), "v2", true);
    for i in 0..60u64 {
        fs::write(tree.join(format!("usr/share/chunk{i}")), noise(1 << 20, 1000 + i)).expect("chunk");
    }
    let v2 = ostree(os_args![repo_arg(&d.server), "commit", "-b", REF, "-s", "v2", "--timestamp=2024-02-01 00:00:00 +0000", tree.display().to_string()]);
    ostree(os_args![repo_arg(&d.server), "summary", "-u"]);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    assert!(d.server.join(format!("objects/{}/{}.commitmeta", &v2[..2], &v2[2..])).is_file(), "signed");
    let dev = stick_on_loop_device(t.path(), &d, 256 << 20);
    let v1 = origin_ref(&d);

    let mut child = Command::new(uptree_bin())
        .args(["usb-update", &dev.0, &self_arg(&d.root), &format!("--config={}", d.dir.join("agent.conf").display())])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("usb-update");
    // Once objects arrive, the stick goes away: the device shrinks to 1 MiB,
    // so every further read fails as on a pulled-out stick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count_files(&d.repo().join("tmp")) + count_files(&d.repo().join("objects")) < 30 {
        assert!(std::time::Instant::now() < deadline, "the pull never started");
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!("usb-update ended before the stick was pulled out: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    fs::File::options().write(true).open(t.path().join("stick.img")).expect("img").set_len(1 << 20).expect("shrink");
    ok("losetup", os_args!["--set-capacity", &dev.0], &[]);
    let out = child.wait_with_output().expect("usb-update");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the pull cannot have finished: {err}");
    assert!(err.contains("uptree-usb-update result=refused") && err.contains(&format!("pulling from {}", "/run/uptree/usb-")), "{err}");
    // Depending on where the read breaks: EIO, or a short read that the
    // object decoder names as a truncated object.
    assert!(err.contains("Input/output error") || err.contains("truncated"), "the read error is named: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(mounts_of(&dev.0), "", "the stick is unmounted afterwards");
    assert_eq!(origin_ref(&d), v1, "the origin ref did not move");
    up(os_args![repo_arg(&d.repo()), "fsck"]);
    let st = d.status();
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "nothing deployed: {st:#}");
    assert_eq!(st["agent"]["usb"]["result"], "refused", "{st:#}");
    validate(&st, t.path()).expect("status after a pulled-out stick");
}

/// A stick image (`DIR/stick.img`) of `size` bytes holding `d`'s server repo (ext4: this
/// kernel may lack vfat), on a loop device.
fn stick_on_loop_device(dir: &Path, d: &Device, size: u64) -> LoopDev {
    let img = dir.join("stick.img");
    fs::File::create(&img).expect("img").set_len(size).expect("size");
    let dev = LoopDev(ok("losetup", os_args!["--find", "--show", img.as_os_str()], &[]));
    // Through the device: a loop device reused from an earlier image must
    // not show that image's cached blocks.
    ok("mkfs.ext4", os_args!["-q", "-F", &dev.0], &[]);
    let fill = dir.join("fill");
    fs::create_dir_all(&fill).expect("mnt");
    ok("mount", os_args![&dev.0, fill.as_os_str()], &[]);
    stick_dir(d, &fill);
    ok("umount", os_args![fill.as_os_str()], &[]);
    dev
}

/// The origin remote's collection, which `ostree create-usb` sticks are made for.
const COLLECTION: &str = "org.example.Os";

/// A device on v1 whose origin remote has collection ID [`COLLECTION`]
/// and trusts `public`; the server repo binds its commits to it.
fn collection_device(dir: &Path, public: &str) -> (Device, String) {
    let d = Device::new(dir);
    ostree(os_args![repo_arg(&d.server), "config", "set", "core.collection-id", COLLECTION]);
    d.commit("v1", "2024-01-01 00:00:00 +0000", false);
    d.first_deploy(&format!("file://{}", d.server.display()), &[format!("--set=verification-ed25519-key={public}"), format!("--collection-id={COLLECTION}")]);
    d.config("[agent]\nusb=true\n");
    let v1 = origin_ref(&d);
    (d, v1)
}

/// The real `ostree create-usb` writes `REF` of `repo` (of `collection`) to `top`.
fn create_usb(repo: &Path, top: &Path, collection: &str) {
    fs::create_dir_all(top).expect("stick top");
    ostree(os_args![repo_arg(repo), "create-usb", top.as_os_str(), collection, REF]);
    assert!(top.join(format!(".ostree/repo/refs/mirrors/{collection}/{REF}")).is_file(), "ostree's stick layout");
}

#[test]
fn signed_create_usb_stick_for_the_origins_collection_updates_the_device() {
    let t = scratch();
    let (secret, public) = key(7);
    let (d, v1) = collection_device(t.path(), &public);
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    let top = t.path().join("stick");
    create_usb(&d.server, &top, COLLECTION);

    // A remote without a collection ID cannot match the stick's mirrored
    // refs: refused, naming what was looked for.
    let config = d.repo().join("config");
    let text = fs::read_to_string(&config).expect("config");
    fs::write(&config, text.replace(&format!("collection-id={COLLECTION}\n"), "")).expect("config");
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "the origin remote origin has no collection-id, so the stick's refs/mirrors/");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refs/heads"), "{out:?}");
    fs::write(&config, text).expect("config");

    let out = usb_update(&d, &top, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Deployed {v2}.0 from the stick")), "{out:?}");
    let st = d.status();
    assert_eq!(st["deployments"][0]["checksum"], Value::from(v2.clone()), "{st:#}");
    assert_eq!(st["deployments"][0]["refspec"], format!("origin:{REF}"), "{st:#}");
    assert_eq!(st["agent"]["usb"]["result"], "deployed", "{st:#}");
    assert_eq!(origin_ref(&d), v2);
    validate(&st, t.path()).expect("status after a create-usb stick");
    up(os_args![repo_arg(&d.repo()), "fsck"]);

    // usb-ref=stick finds the OS's ref among the mirrored ones: nothing new.
    let out = usb_update(&d, &top, &["--usb-ref=stick"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("No update on the stick"), "{out:?}");
}

#[test]
fn unsigned_create_usb_stick_is_refused() {
    let t = scratch();
    let (_, public) = key(7);
    let (d, v1) = collection_device(t.path(), &public);
    d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    let top = t.path().join("stick");
    create_usb(&d.server, &top, COLLECTION);
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "no ed25519 signatures found");
}

#[test]
fn create_usb_stick_with_a_commit_bound_to_another_collection_is_refused() {
    let t = scratch();
    let (secret, public) = key(7);
    let (d, v1) = collection_device(t.path(), &public);
    // Signed by the trusted key, but made for org.example.Other, and its
    // mirror directory renamed to pass for the origin's collection.
    let other = t.path().join("other");
    ostree(os_args![repo_arg(&other), "init", "--mode=archive", "--collection-id=org.example.Other"]);
    let tree = os_tree(t.path(), "v2", false);
    let v2 = ostree(os_args![repo_arg(&other), "commit", "-b", REF, "-s", "v2", "--timestamp=2024-02-01 00:00:00 +0000", tree.display().to_string()]);
    up(os_args![repo_arg(&other), "sign", &v2, &secret]);
    let top = t.path().join("stick");
    create_usb(&other, &top, "org.example.Other");
    let mirrors = top.join(".ostree/repo/refs/mirrors");
    fs::rename(mirrors.join("org.example.Other"), mirrors.join(COLLECTION)).expect("rename");
    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "Commit has collection ID ‘org.example.Other’ in collection binding metadata");
}

#[test]
fn create_usb_stick_linking_a_repository_outside_the_stick_is_not_followed() {
    let t = scratch();
    let (secret, public) = key(7);
    let (d, v1) = collection_device(t.path(), &public);
    let v2 = d.commit("v2", "2024-02-01 00:00:00 +0000", false);
    up(os_args![repo_arg(&d.server), "sign", &v2, &secret]);
    let top = t.path().join("stick");
    create_usb(&d.server, &top, COLLECTION);
    let parked = t.path().join("parked");
    fs::rename(top.join(".ostree/repo"), &parked).expect("park");
    // A newer commit, signed by the trusted key, outside the stick (on the
    // same file system): the stick's repos.d must not lead there.
    let v3 = d.commit("v3", "2024-03-01 00:00:00 +0000", false);
    up(os_args![repo_arg(&d.server), "sign", &v3, &secret]);
    let outside = t.path().join("outside");
    create_usb(&d.server, &outside, COLLECTION);
    let repos_d = top.join(".ostree/repos.d");
    fs::create_dir_all(&repos_d).expect("repos.d");
    std::os::unix::fs::symlink(outside.join(".ostree/repo"), repos_d.join("00-absolute")).expect("symlink");
    std::os::unix::fs::symlink("../../../outside/.ostree/repo", repos_d.join("01-relative")).expect("symlink");
    assert!(repos_d.join("01-relative/config").is_file(), "the relative link reaches the outside repo");

    let out = usb_update(&d, &top, &[]);
    assert_refused(&d, &out, &v1, "no OSTree repository on the stick");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("00-absolute: it leads out of") && err.contains("01-relative: it leads out of"), "{err}");

    // The stick's own repository is taken, never the linked one.
    fs::rename(&parked, top.join(".ostree/repo")).expect("unpark");
    let out = usb_update(&d, &top, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(d.status()["deployments"][0]["checksum"], Value::from(v2), "the stick's commit, not {v3}");
}
