//! `diff` against the real `ostree diff` on the same repository: revisions
//! and directories, owner overrides, type changes (basic-test.sh).

mod common;

use std::fs;

use common::*;

/// ostree lists a directory on disk in readdir order; compare line sets.
fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn diff_as_ostree() {
    let t = scratch();
    let repo = t.path().join("repo");
    ostree(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    let tree = t.path().join("tree");
    build_tree(&tree, "f a/5 644 five\nf a/keep 644 keep\nf b 644 old\nf four 644 file\nl ln b");
    let r = repo_arg(&repo);
    ostree(os_args![r, "commit", "-b", "test2", tree.display().to_string()]);
    fs::remove_file(tree.join("a/5")).expect("rm");
    fs::write(tree.join("b"), "new").expect("write");
    build_tree(&tree.join("yet"), "f another/tree/green 644 g\nf message 644 m");
    ostree(os_args![r, "commit", "-b", "test2", tree.display().to_string()]);

    for args in [&["test2^", "test2"][..], &["test2"], &["test2", "test2^"]] {
        let head = [r.as_str(), "diff"];
        let a: Vec<&std::ffi::OsStr> = head.iter().chain(args).map(std::ffi::OsStr::new).collect();
        let (o, u) = (ostree(&a), up(&a));
        assert_eq!(u, o, "diff {args:?}");
    }
    assert!(up(os_args![r, "diff", "test2^", "test2"]).contains("A    /yet/another/tree/green"));

    let co = t.path().join("co");
    ostree(os_args![r, "checkout", "test2", co.display().to_string()]);
    fs::write(co.join("oh-look-a-file"), "afile").expect("write");
    fs::remove_file(co.join("four")).expect("rm");
    build_tree(&co.join("four"), "f other 644 ");
    let dir = format!("{}/", co.display());
    let uid = (nix::unistd::geteuid().as_raw() + 1).to_string();
    for extra in [&[][..], &["--owner-uid=0", &format!("--owner-uid={uid}")], &["--owner-gid=7"], &["--no-xattrs"]] {
        let head = [r.as_str(), "diff"];
        let a: Vec<&std::ffi::OsStr> =
            head.iter().copied().chain(extra.iter().map(|s| s.as_ref())).chain(["test2", dir.as_str()]).map(std::ffi::OsStr::new).collect();
        let (o, u) = (ostree(&a), up(&a));
        assert_eq!(lines(&u), lines(&o), "diff {extra:?}");
        assert!(u.contains("M    /four") && u.contains("A    oh-look-a-file"), "{u}");
    }
    let st = [r.as_str(), "diff", "--stats", "test2^", "test2"].map(std::ffi::OsStr::new);
    assert_eq!(up(&st), ostree(&st));
}
