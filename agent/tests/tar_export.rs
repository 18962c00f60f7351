//! `export` (feature `tar`) and `diff` against the real ostree: the same
//! members, modes, owners, times and symlink targets as ostree's export of
//! the same commit, the same commit when the export is imported again, and
//! the same `diff` lines.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `tar tv` of an archive, exact owners and times.
fn members(tar: &Path) -> String {
    ok("tar", os_args!["--numeric-owner", "--full-time", "-tvf", tar.display().to_string()], &[])
}

fn extract(tar: &Path, dest: &Path) {
    fs::create_dir_all(dest).expect("mkdir");
    ok("tar", os_args!["--numeric-owner", "-C", dest.display().to_string(), "-xf", tar.display().to_string()], &[]);
}

/// A commit by the real ostree of the rich fixture plus a member name past
/// tar's 100-byte field (GNU long names).
fn ostree_commit(t: &Path) -> std::path::PathBuf {
    let tree = t.join("tree");
    rich_tree(&tree);
    let deep = tree.join("long-".repeat(12)).join("name-".repeat(12));
    fs::create_dir_all(deep.parent().expect("parent")).expect("mkdir");
    fs::write(&deep, "far down\n").expect("write");
    std::os::unix::fs::symlink("x".repeat(150), tree.join("long-target")).expect("symlink");
    let repo = t.join("repo");
    ostree(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&repo), "commit", "-b", "os", "--timestamp=2024-05-06 07:08:09", tree.display().to_string()]);
    repo
}

#[test]
fn export_matches_ostree() {
    let t = scratch();
    let repo = ostree_commit(t.path());
    for (i, extra) in [&[][..], &["--subpath=usr", "--prefix=p/"][..], &["--prefix=pre"][..], &["--no-xattrs"][..]].into_iter().enumerate() {
        let (o, u) = (t.path().join(format!("o{i}.tar")), t.path().join(format!("u{i}.tar")));
        let args = |out: &Path| {
            let mut a = vec![repo_arg(&repo), "export".into(), "os".into()];
            a.extend(extra.iter().map(|s| s.to_string()));
            a.extend(["-o".into(), out.display().to_string()]);
            a
        };
        let oa = args(&o);
        ostree(&oa.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
        let ua = args(&u);
        up(&ua.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
        let (lo, lu) = (members(&o), members(&u));
        assert!(lu.contains("2024-05-06 07:08:09"), "commit time on members:\n{lu}");
        assert_eq!(lo, lu, "export {extra:?}: member list");
        // Same bytes in every member (tar x restores what tv shows).
        let (xo, xu) = (t.path().join(format!("xo{i}")), t.path().join(format!("xu{i}")));
        extract(&o, &xo);
        extract(&u, &xu);
        assert_same_tree(&snapshot(&xo, true, false), &snapshot(&xu, true, false), &format!("export {extra:?}: extracted"));
    }
}

#[test]
fn export_then_import_is_the_same_commit() {
    let t = scratch();
    let repo = ostree_commit(t.path());
    let (o, u) = (t.path().join("o.tar"), t.path().join("u.tar"));
    ostree(os_args![repo_arg(&repo), "export", "os", "-o", o.display().to_string()]);
    up(os_args![repo_arg(&repo), "export", "os", "-o", u.display().to_string()]);
    // ostree's import of uptree's export: the commit uptree makes of it.
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let (a, b) = commit_both(&orepo, &urepo, &["-b", "os", "--timestamp=2024-01-01", &format!("--tree=tar={}", u.display())], &[]);
    assert_eq!(a, b, "commit --tree=tar= of uptree's export");
    // ostree's export imported by ostree is uptree's export imported by uptree.
    ostree(os_args![repo_arg(&repo), "commit", "-b", "o", format!("--tree=tar={}", o.display())]);
    up(os_args![repo_arg(&repo), "commit", "-b", "u", format!("--tree=tar={}", u.display())]);
    assert_eq!(root_of(&repo, "o"), root_of(&repo, "u"));
    // GNU tar keeps no xattrs: the round trip differs from the original only there.
    assert_eq!(up(os_args![repo_arg(&repo), "diff", "--no-xattrs", "os", "u"]), ostree(os_args![repo_arg(&repo), "diff", "--no-xattrs", "os", "u"]));
}

#[test]
fn export_to_a_file_is_atomic() {
    let t = scratch();
    let repo = ostree_commit(t.path());
    let out = t.path().join("out.tar");
    fs::write(&out, "previous").expect("write");
    let err = up_fails(os_args![repo_arg(&repo), "export", "os", "--subpath=/usr/bin/tool", "-o", out.display().to_string()]);
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(fs::read(&out).expect("read"), b"previous", "a failed export leaves the old file");
    let left: Vec<_> =
        fs::read_dir(t.path()).expect("ls").filter_map(|e| e.ok()).map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".tmp")).collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn diff_matches_ostree() {
    let t = scratch();
    let repo = ostree_commit(t.path());
    let co = t.path().join("co");
    ostree(os_args![repo_arg(&repo), "checkout", "os", co.display().to_string()]);
    let dir = format!("{}", co.display());
    assert_eq!(up(os_args![repo_arg(&repo), "diff", "os", &dir]), "", "a fresh checkout");
    // Local files taken as another owner's: every entry differs, as in ostree.
    let owned = up(os_args![repo_arg(&repo), "diff", "--owner-uid=4242", "os", &dir]);
    assert_eq!(owned, ostree(os_args![repo_arg(&repo), "diff", "--owner-uid=4242", "os", &dir]));
    assert!(owned.contains("M    /usr/bin/tool"), "{owned}");
    fs::set_permissions(co.join("srv"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    fs::write(co.join("usr/bin/tool"), "changed").expect("write");
    fs::remove_file(co.join("usr/lib/f2")).expect("rm");
    fs::remove_dir_all(co.join("日本語")).expect("rm");
    fs::create_dir_all(co.join("new/sub")).expect("mkdir");
    fs::write(co.join("new/sub/file"), "n").expect("write");
    fs::remove_file(co.join("usr/lib64")).expect("rm");
    fs::write(co.join("usr/lib64"), "now a file").expect("write");
    for args in [
        vec!["os".to_string(), dir.clone()],
        vec![dir.clone(), "os".into()],
        vec!["--no-xattrs".into(), "os".into(), dir.clone()],
        vec!["--owner-uid=4242".into(), "--owner-gid=7".into(), "os".into(), dir.clone()],
    ] {
        let mut a = vec![repo_arg(&repo), "diff".into()];
        a.extend(args.iter().cloned());
        let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
        let (o, u) = (ostree(&a), up(&a));
        assert!(o.contains("M    /usr/bin/tool") || o.contains("M    usr/bin/tool"), "{o}");
        // Local directories are listed in readdir order by ostree, by name here.
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&o), sorted(&u), "diff {args:?}");
    }
}

/// `--version` says `libarchive` (ostree's feature name) in a `tar` build:
/// ostree's test-export and test-libarchive skip without it.
#[test]
fn version_lists_libarchive() {
    let v = up(os_args!["--version"]);
    assert!(v.lines().any(|l| l == "  - libarchive"), "{v}");
}

/// `--tar-pathname-filter=REGEX,REPLACEMENT` (the regex needs `tar`):
/// entries and hardlink targets renamed as ostree renames them, same commit.
#[test]
fn tar_pathname_filter_matches_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(
        &tree,
        r"
        d . 755
        d usr 755
        d usr/bin 755
        f usr/bin/foo 755 contents
        h usr/bin/bar usr/bin/foo
        d usr/local 755
        d usr/local/bin 755
        h usr/local/bin/baz usr/bin/foo
        l usr/bin/sl foo
        d usr/lib 755
        f usr/lib/libfoo.so 644 a library
        ",
    );
    let tar = t.path().join("tree.tar.gz");
    ok("tar", os_args!["--numeric-owner", "-C", tree.display().to_string(), "-czf", tar.display().to_string(), "."], &[]);
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let layer = format!("--tree=tar={}", tar.display());
    for filter in ["^nosuchfile/,nootherfile/", "^,foo/", "^usr/bin/,usr/sbin/", "/bin/,/sbin/"] {
        let f = format!("--tar-pathname-filter={filter}");
        let (o, u) = commit_both(&orepo, &urepo, &["-b", "t", "--timestamp=2024-01-01", "--tar-autocreate-parents", &f, &layer], &[]);
        assert_eq!(o, u, "{filter}");
    }
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "-b", "t", "--tar-pathname-filter=no-comma", &layer]);
    assert!(err.contains("Missing ','"), "{err}");
}
