//! A USB stick is input anyone can write. Its repository files are opened
//! without following symlinks, as regular files only, with bounded sizes:
//! a stick that points `config` at /dev/zero, puts a FIFO there, or links
//! an object to elsewhere gets a clear error at once and nothing written.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

/// A stick holding an archive repo made by the real ostree, and a device
/// repo with a `file://` remote `usb` for it.
fn stick_and_device(dir: &Path) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    build_tree(&tree, "d . 755\nd usr 755\nf usr/hello 644 hello\\n\nf etc-conf 644 key=value\\n\n");
    let stick = dir.join("stick/ostree_repo");
    fs::create_dir_all(dir.join("stick")).expect("stick");
    ostree(os_args![repo_arg(&stick), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&stick), "commit", "-b", "os/stable", tree.display().to_string()]);
    ostree(os_args![repo_arg(&stick), "summary", "-u"]);
    let repo = dir.join("device");
    up(os_args![repo_arg(&repo), "init", "--mode=bare-user"]);
    up(os_args![repo_arg(&repo), "remote", "add", "--no-gpg-verify", "usb", format!("file://{}", stick.display())]);
    (stick, repo)
}

/// Whether the device repo has content object `c`.
fn find_object_opt(repo: &Path, c: &str) -> bool {
    repo.join(format!("objects/{}/{}.file", &c[..2], &c[2..])).exists()
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    listing(dir, &[])
}

/// The pull fails within 20 s with `expect` in its message; the device
/// repo is fsck-clean and has no ref. A refused source (`config`,
/// `summary`) leaves the repo as it was: the same files, bar the lock and
/// `tmp/`. (A bad object met mid-pull leaves what was verified before it:
/// the commit, marked partial, for the next pull to resume.)
fn refused(repo: &Path, expect: &str, unchanged: bool) {
    let ours = |f: &String| !f.starts_with("f .lock ") && !f.starts_with("d tmp") && !f.starts_with("f tmp/");
    let before: Vec<String> = files(repo).into_iter().filter(ours).collect();
    let err = up_fails_within(os_args![repo_arg(repo), "pull", "usb", "os/stable"], 20);
    assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
    if unchanged {
        let after: Vec<String> = files(repo).into_iter().filter(ours).collect();
        assert_eq!(after, before, "the pull wrote into the device repo");
    }
    up(os_args![repo_arg(repo), "fsck"]);
    assert!(up(os_args![repo_arg(repo), "refs"]).is_empty());
}

#[test]
fn stick_config_symlinked_to_dev_zero() {
    let t = scratch();
    let (stick, repo) = stick_and_device(t.path());
    fs::remove_file(stick.join("config")).expect("rm config");
    std::os::unix::fs::symlink("/dev/zero", stick.join("config")).expect("symlink");
    refused(&repo, "/config: is a symbolic link, not a regular file", true);
}

#[test]
fn stick_config_is_a_fifo() {
    let t = scratch();
    let (stick, repo) = stick_and_device(t.path());
    fs::remove_file(stick.join("config")).expect("rm config");
    ok("mkfifo", os_args![stick.join("config").display().to_string()], &[]);
    refused(&repo, "/config: not a regular file", true);
}

#[test]
fn stick_config_oversized() {
    let t = scratch();
    let (stick, repo) = stick_and_device(t.path());
    let mut text = fs::read_to_string(stick.join("config")).expect("config");
    text.push_str(&"# padding padding padding padding padding padding padding\n".repeat(40_000));
    fs::write(stick.join("config"), text).expect("config");
    refused(&repo, "/config: larger than the 1048576 bytes allowed", true);
}

#[test]
fn stick_object_and_summary_symlinked() {
    let t = scratch();
    let (stick, repo) = stick_and_device(t.path());
    // The object's own bytes, but through a symlink: refused all the same.
    let c = ostree(os_args![repo_arg(&stick), "ls", "-C", "os/stable", "/usr/hello"]).split_whitespace().nth(4).expect("csum").to_string();
    let obj = find_object(&stick, &c, "filez");
    let elsewhere = t.path().join("elsewhere.filez");
    fs::rename(&obj, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &obj).expect("symlink");
    refused(&repo, &format!("{c}.filez: {}: is a symbolic link, not a regular file", obj.display()), false);
    assert!(!find_object_opt(&repo, &c), "the object was stored");
    // A summary that is a symlink to /dev/zero.
    fs::remove_file(stick.join("summary")).expect("rm summary");
    std::os::unix::fs::symlink("/dev/zero", stick.join("summary")).expect("symlink");
    refused(&repo, "/summary: is a symbolic link, not a regular file", true);
}
