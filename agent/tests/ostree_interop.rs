//! uptree against the real `ostree` (Debian's 2022.7): same commit
//! checksums, each tool's fsck accepts the other's repositories, the same
//! checkouts, the same inspection output, the same pruning.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const COMMIT_ARGS: &[&str] = &[
    "-b",
    "os/main",
    "-s",
    "Subject line",
    "-m",
    "Body\nwith two lines",
    "--add-metadata-string=version=1.0",
    "--add-metadata-string",
    "ostree.source-title=rich tree",
    "--timestamp=2024-05-06 07:08:09",
];

fn commit_args_with(tree: &Path) -> Vec<String> {
    let mut v: Vec<String> = COMMIT_ARGS.iter().map(|s| s.to_string()).collect();
    v.push(tree.display().to_string());
    v
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn same_commit_as_ostree(mode: &str) {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    // ostree leaves out extended attributes whose value is empty (libglnx
    // skips zero-length values when reading them): a file with only such
    // an attribute, one with it beside a set one, a directory with one.
    build_tree(
        &tree,
        "f empty-xattr 644 a
         x empty-xattr user.empty
         f mixed-xattrs 644 b
         x mixed-xattrs user.empty
         x mixed-xattrs user.set yes
         d empty-xattr-dir 755
         x empty-xattr-dir user.empty",
    );
    assert_eq!(
        uptree_sys::xattr::get(uptree_sys::xattr::Target::Path(&tree.join("empty-xattr")), b"user.empty").expect("getxattr"),
        Some(Vec::new()),
        "the fixture needs a file system with user xattrs (set UPTREE_TEST_TMP)"
    );
    let (orepo, urepo) = init_both(t.path(), mode);
    assert_eq!(fs::read(orepo.join("config")).expect("config"), fs::read(urepo.join("config")).expect("config"), "init writes ostree's config bytes");
    let args = commit_args_with(&tree);
    let (o, u) = commit_both(&orepo, &urepo, &as_strs(&args), &[]);
    assert_eq!(o, u, "commit checksum differs from ostree's ({mode})");
    // A second commit on the branch gets the first as parent, in both.
    fs::write(tree.join("usr/bin/new"), "v2\n").expect("write");
    let (o2, u2) = commit_both(&orepo, &urepo, &as_strs(&args), &[]);
    assert_eq!(o2, u2, "second commit differs ({mode})");
    assert_eq!(up(os_args![repo_arg(&urepo), "rev-parse", "os/main^"]), u);
    // Each tool's fsck accepts the other's repository.
    ostree(os_args![repo_arg(&urepo), "fsck"]);
    up(os_args![repo_arg(&orepo), "fsck"]);
    up(os_args![repo_arg(&urepo), "fsck"]);
}

#[test]
fn commit_matches_ostree_archive() {
    same_commit_as_ostree("archive");
}

#[test]
fn commit_matches_ostree_bare_user() {
    same_commit_as_ostree("bare-user");
}

#[test]
fn commit_matches_ostree_bare() {
    if !is_root() {
        panic!("bare repositories need root (chown); run the tests as root as CI does");
    }
    same_commit_as_ostree("bare");
}

#[test]
fn source_date_epoch_and_owner_overrides_match_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree_s = tree.display().to_string();
    let env = [("SOURCE_DATE_EPOCH", "1700000000")];
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "a", "-s", "epoch", &tree_s], &env);
    assert_eq!(o, u);
    assert!(up(os_args![repo_arg(&urepo), "show", "a"]).contains("Date:  2023-11-14 22:13:20 +0000"));
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "b", "--owner-uid=0", "--owner-gid=0", "--no-xattrs", &tree_s], &env);
    assert_eq!(o, u, "--owner-uid/--owner-gid/--no-xattrs");
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "c", "--canonical-permissions", "--bind-ref=z/other", "--bind-ref=a/first", &tree_s], &env);
    assert_eq!(o, u, "--canonical-permissions and --bind-ref");
    let (o, u) = commit_both(&orepo, &urepo, &["--orphan", "--no-bindings", "--parent=none", &tree_s], &env);
    assert_eq!(o, u, "--orphan --no-bindings");
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "a", "--skip-if-unchanged", &tree_s], &env);
    assert_eq!(o, u, "--skip-if-unchanged");
}

/// `commit --bootable` records the kernel found under usr/lib/modules the way
/// ostree does (libtest.sh's OS trees and `admin-test.sh` read these keys),
/// and refuses trees with no kernel or more than one.
#[test]
fn bootable_commit_metadata_as_ostree_reads_it() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(
        &tree,
        "f usr/lib/modules/3.6.0/vmlinuz 644 a kernel
         f usr/lib/modules/3.6.0/initramfs.img 644 an initramfs
         d usr/lib/modules/no-kernel-here 755",
    );
    let (_, urepo) = init_both(t.path(), "archive");
    let tree_s = tree.display().to_string();
    up(os_args![repo_arg(&urepo), "commit", "--bootable", "-b", "os", "--add-metadata-string=version=1", &tree_s]);
    let key = |k: &str| ostree(os_args![repo_arg(&urepo), format!("--print-metadata-key={k}"), "show", "os"]);
    assert_eq!(key("ostree.linux"), "'3.6.0'");
    assert_eq!(key("ostree.bootable"), "true");
    assert_eq!(key("version"), "'1'");
    ostree(os_args![repo_arg(&urepo), "fsck"]);

    build_tree(&tree, "f usr/lib/modules/4.0/vmlinuz 644 another kernel");
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "--bootable", "-b", "two", &tree_s]);
    assert!(err.contains("Multiple kernels found in /usr/lib/modules"), "{err}");
    let bare = t.path().join("bare");
    build_tree(&bare, "d usr/lib/modules/none 755");
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "--bootable", "-b", "none", bare.display().to_string()]);
    assert!(err.contains("No kernel found in /usr/lib/modules"), "{err}");
    assert_eq!(up(os_args![repo_arg(&urepo), "refs"]), "os", "a refused commit moves no ref");
}

#[test]
fn tar_layers_match_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let tar = t.path().join("tree.tar");
    let tgz = t.path().join("tree.tar.gz");
    ok("tar", os_args!["--xattrs", "--xattrs-include=user.*", "--numeric-owner", "-C", tree.display().to_string(), "-cf", tar.display().to_string(), "."], &[]);
    fs::write(&tgz, std::process::Command::new("gzip").arg("-c").arg(&tar).output().expect("gzip").stdout).expect("write tgz");
    for mode in ["archive", "bare-user"] {
        let (orepo, urepo) = init_both(t.path(), mode);
        for (i, input) in [&tar, &tgz].into_iter().enumerate() {
            let layer = format!("--tree=tar={}", input.display());
            let branch = format!("tar{i}");
            let (o, u) = commit_both(&orepo, &urepo, &["-b", &branch, "--timestamp=2024-01-01", &layer], &[]);
            assert_eq!(o, u, "tar layer {} ({mode})", input.display());
        }
        up(os_args![repo_arg(&urepo), "fsck"]);
        ostree(os_args![repo_arg(&urepo), "fsck"]);
    }
    // A tar without parent entries: refused unless --tar-autocreate-parents.
    let sparse = t.path().join("sparse.tar");
    ok("tar", os_args!["--numeric-owner", "-C", tree.display().to_string(), "-cf", sparse.display().to_string(), "usr/bin/tool", "deep/level0/level1"], &[]);
    let fresh = t.path().join("fresh");
    fs::create_dir(&fresh).expect("mkdir");
    let (orepo, urepo) = init_both(&fresh, "archive");
    let layer = format!("--tree=tar={}", sparse.display());
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "-b", "s", &layer]);
    assert!(err.contains("tar-autocreate-parents"), "{err}");
    assert!(up(os_args![repo_arg(&urepo), "refs"]).is_empty(), "no ref after a failed commit");
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "s", "--timestamp=2024-01-01", "--tar-autocreate-parents", &layer], &[]);
    assert_eq!(o, u, "--tar-autocreate-parents");
}

#[test]
fn layering_does_not_rehash_the_base() {
    let t = scratch();
    let base = t.path().join("base");
    rich_tree(&base);
    let pkgs = t.path().join("pkgs");
    build_tree(
        &pkgs,
        r"
        d . 755
        d usr 755
        d usr/bin 755
        f usr/bin/newtool 755 #!/bin/sh\necho new\n
        f usr/bin/tool 4755 package replaces a base file
        d opt 755
        d opt/vendor 700
        f opt/vendor/blob 600 vendor data
        ",
    );
    for mode in ["archive", "bare-user"] {
        let (orepo, urepo) = init_both(t.path(), mode);
        let base_s = base.display().to_string();
        let (o, u) = commit_both(&orepo, &urepo, &["-b", "base", "--timestamp=2024-01-01", &base_s], &[]);
        assert_eq!(o, u);
        let dir_layer = format!("--tree=dir={}", pkgs.display());
        let args = ["-b", "layered", "--timestamp=2024-01-02", "--tree=ref=base", dir_layer.as_str()];
        let (o, u) = commit_both(&orepo, &urepo, &args, &[]);
        assert_eq!(o, u, "base + package layer ({mode})");

        // Sabotage everything of the base a later layer does not touch: its
        // big files and the deep subtree's dirtree. Re-hashing the base would
        // now fail or change the result; reusing its checksums cannot.
        let ls = up(os_args![repo_arg(&urepo), "ls", "-R", "-C", "base"]);
        for line in ls.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let path = *f.last().expect("path");
            if path.ends_with("/usr/lib/big-random.bin") || path.ends_with("/usr/lib/big-text.txt") {
                let p = find_object(&urepo, f[4], if mode == "archive" { "filez" } else { "file" });
                fs::write(&p, b"garbage").expect("sabotage");
            }
            if path == "/deep" {
                fs::write(find_object(&urepo, f[4], "dirtree"), b"garbage").expect("sabotage");
            }
        }
        up(os_args![repo_arg(&urepo), "commit", "-b", "layered2", "--timestamp=2024-01-02", "--tree=ref=base", &dir_layer]);
        assert_eq!(root_of(&urepo, "layered2"), root_of(&urepo, "layered"), "layering must reuse the base's checksums without reading them ({mode})");
        // And fsck does notice the sabotage.
        let err = up_fails(os_args![repo_arg(&urepo), "fsck"]);
        assert!(err.contains("big") || err.contains("dirtree") || err.contains("filez") || err.contains("file"), "{err}");
    }
}

#[test]
fn link_checkout_speedup_matches_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let tree_s = tree.display().to_string();
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "base", "--timestamp=2024-01-01", &tree_s], &[]);
    assert_eq!(o, u);
    // Check out with hardlinks, then change the checkout the way a build
    // server does: new files, a replaced file (hardlink broken).
    let (oco, uco) = (t.path().join("co-ostree"), t.path().join("co-uptree"));
    ostree(os_args![repo_arg(&orepo), "checkout", "-U", "base", oco.display().to_string()]);
    up(os_args![repo_arg(&urepo), "checkout", "-U", "base", uco.display().to_string()]);
    for co in [&oco, &uco] {
        fs::write(co.join("usr/bin/added"), "added\n").expect("add");
        fs::remove_file(co.join("etc-conf")).expect("unlink");
        fs::write(co.join("etc-conf"), "replaced\n").expect("replace");
    }
    let ob = ostree(os_args![repo_arg(&orepo), "commit", "-b", "next", "--timestamp=2024-01-02", "--link-checkout-speedup", oco.display().to_string()]);
    let ub = up(os_args![repo_arg(&urepo), "commit", "-b", "next", "--timestamp=2024-01-02", "--link-checkout-speedup", uco.display().to_string()]);
    assert_eq!(ob, ub, "commit of a hardlinked checkout");
    // The speedup really reuses checksums by (device, inode): modify a
    // hardlinked file in place (which corrupts the object it shares) and the
    // old checksum is still used, as ostree does; without it, it is re-read.
    for co in [&oco, &uco] {
        fs::OpenOptions::new()
            .append(true)
            .open(co.join("usr/share/many/entry-0001"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"in place\n"))
            .expect("append");
    }
    let ob2 = ostree(os_args![repo_arg(&orepo), "commit", "-b", "next2", "--timestamp=2024-01-02", "--link-checkout-speedup", oco.display().to_string()]);
    let ub2 = up(os_args![repo_arg(&urepo), "commit", "-b", "next2", "--timestamp=2024-01-02", "--link-checkout-speedup", uco.display().to_string()]);
    assert_eq!(ob2, ub2);
    assert_eq!(root_of(&urepo, "next2"), root_of(&urepo, "next"), "a devino hit reuses the recorded checksum");
    up(os_args![repo_arg(&urepo), "commit", "-b", "next3", "--timestamp=2024-01-02", uco.display().to_string()]);
    assert_ne!(root_of(&urepo, "next3"), root_of(&urepo, "next2"), "without --link-checkout-speedup the content is re-hashed");
}

fn checkout_same_as_ostree(mode: &str, user: bool) {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let orepo = t.path().join("repo");
    ostree(os_args![repo_arg(&orepo), "init", format!("--mode={mode}")]);
    ostree(os_args![repo_arg(&orepo), "commit", "-b", "os", "--timestamp=2024-01-01", tree.display().to_string()]);
    let (oco, uco) = (t.path().join("co-ostree"), t.path().join("co-uptree"));
    let flag = if user { "-U" } else { "--union-add" }; // --union-add on a fresh dest == plain checkout
    ostree(os_args![repo_arg(&orepo), "checkout", flag, "os", oco.display().to_string()]);
    up(os_args![repo_arg(&orepo), "checkout", flag, "os", uco.display().to_string()]);
    let full = !user && is_root();
    assert_same_tree(&snapshot(&oco, full, full), &snapshot(&uco, full, full), &format!("checkout from {mode} repo (user mode: {user})"));
    // The source tree itself comes back (modulo what -U drops).
    if full {
        let mut src = snapshot(&tree, true, true);
        // A checkout carries no hardlinks between tree entries, but contents are equal.
        src.values_mut().for_each(|s| s.xattrs.retain(|(n, _)| !n.starts_with("security.")));
        assert_same_tree(&src, &snapshot(&uco, true, true), "checkout equals the committed tree");
    }
}

#[test]
fn checkout_matches_ostree_archive() {
    checkout_same_as_ostree("archive", false);
}

#[test]
fn checkout_matches_ostree_archive_user_mode() {
    checkout_same_as_ostree("archive", true);
}

#[test]
fn checkout_matches_ostree_bare_user_hardlinks() {
    checkout_same_as_ostree("bare-user", true);
}

#[test]
fn checkout_matches_ostree_bare() {
    checkout_same_as_ostree("bare", false);
}

#[test]
fn hardlink_checkout_shares_inodes_and_subpath_works() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=bare-user"]);
    let c = up(os_args![repo_arg(&repo), "commit", "-b", "os", tree.display().to_string()]);
    let co = t.path().join("co");
    up(os_args![repo_arg(&repo), "checkout", "-U", "--require-hardlinks", "os", co.display().to_string()]);
    use std::os::unix::fs::MetadataExt;
    let obj_line = up(os_args![repo_arg(&repo), "ls", "-C", "os", "/usr/lib/big-text.txt"]);
    let csum = obj_line.split_whitespace().nth(4).expect("checksum column");
    let obj = find_object(&repo, csum, "file");
    assert_eq!(fs::metadata(&obj).expect("obj").ino(), fs::metadata(co.join("usr/lib/big-text.txt")).expect("co").ino(), "hardlinked");
    // Empty files are copies (ostree avoids EMLINK on the shared empty object).
    assert_eq!(fs::metadata(co.join("empty")).expect("empty").nlink(), 1);
    // --subpath
    let sub = t.path().join("sub");
    up(os_args![repo_arg(&repo), "checkout", "-U", "--subpath=/usr/share/many", &c, sub.display().to_string()]);
    assert_eq!(fs::read_dir(&sub).expect("sub").count(), 350);
    // Existing destination without --union is an error, with --union it merges.
    let err = up_fails(os_args![repo_arg(&repo), "checkout", "-U", "os", co.display().to_string()]);
    assert!(err.contains("exists") || err.contains("File exists"), "{err}");
    fs::write(co.join("local-only"), "keep").expect("write");
    up(os_args![repo_arg(&repo), "checkout", "-U", "--union", "os", co.display().to_string()]);
    assert_eq!(fs::read_to_string(co.join("local-only")).expect("kept"), "keep");
}

#[test]
fn inspection_output_matches_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let repo = t.path().join("repo");
    ostree(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    ostree(os_args![
        repo_arg(&repo),
        "commit",
        "-b",
        "os/main",
        "-s",
        "first",
        "--add-metadata-string=version=1",
        "--timestamp=2024-01-01",
        tree.display().to_string()
    ]);
    fs::write(tree.join("usr/bin/new"), "v2\n").expect("write");
    ostree(os_args![
        repo_arg(&repo),
        "commit",
        "-b",
        "os/main",
        "-s",
        "second",
        "-m",
        "line one\nline two",
        "--timestamp=2024-01-02",
        tree.display().to_string()
    ]);
    ostree(os_args![repo_arg(&repo), "refs", "--create=os/stable", "os/main^"]);
    let r = repo_arg(&repo);
    for args in [
        vec!["refs"],
        vec!["refs", "os"],
        vec!["refs", "--list", "os"],
        vec!["rev-parse", "os/main"],
        vec!["rev-parse", "os/main^"],
        vec!["show", "os/main"],
        vec!["show", "os/stable"],
        vec!["show", "--print-metadata-key=version", "os/stable"],
        vec!["show", "--print-metadata-key=ostree.ref-binding", "os/stable"],
        vec!["log", "os/main"],
        vec!["ls", "os/main"],
        vec!["ls", "-R", "os/main"],
        vec!["ls", "-R", "-C", "os/main", "/usr"],
        vec!["ls", "-d", "os/main", "/usr"],
        vec!["cat", "os/main", "/etc-conf"],
        vec!["cat", "os/main", "/grüße.txt"],
    ] {
        let mut a = vec![r.as_str()];
        a.extend(args.iter().copied());
        let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
        let mut o = ostree(&a);
        let mut u = up(&a);
        if args[0] == "refs" {
            // ostree prints refs in hash-table order.
            let sort = |s: &str| {
                let mut l: Vec<&str> = s.lines().collect();
                l.sort_unstable();
                l.join("\n")
            };
            (o, u) = (sort(&o), sort(&u));
        }
        assert_eq!(u, o, "`{}` output differs from ostree's", args.join(" "));
    }
    let err = up_fails(os_args![r, "rev-parse", "os/main^^^"]);
    assert!(err.contains("no parent"), "{err}");
    let err = up_fails(os_args![r, "cat", "os/main", "/nonexistent"]);
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn refs_create_and_delete() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "d . 755\nf a 644 a\n");
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    let c = up(os_args![repo_arg(&repo), "commit", "-b", "x/y", tree.display().to_string()]);
    up(os_args![repo_arg(&repo), "refs", "--create=x/z", "x/y"]);
    assert_eq!(up(os_args![repo_arg(&repo), "refs"]), "x/y\nx/z");
    assert_eq!(ostree(os_args![repo_arg(&repo), "rev-parse", "x/z"]), c);
    up_fails(os_args![repo_arg(&repo), "refs", "--create=x/z", "x/y"]);
    up(os_args![repo_arg(&repo), "refs", "--delete", "x/z"]);
    assert_eq!(ostree(os_args![repo_arg(&repo), "refs"]), "x/y");
    let err = up_fails(os_args![repo_arg(&repo), "refs", "--create=../evil", "x/y"]);
    assert!(err.contains("Invalid ref name"), "{err}");
}

fn objects(repo: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in fs::read_dir(repo.join("objects")).expect("objects") {
        for f in fs::read_dir(d.expect("dir").path()).expect("fanout") {
            let f = f.expect("object");
            v.push(format!(
                "{}/{}",
                f.path().parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                f.file_name().to_string_lossy()
            ));
        }
    }
    v.sort();
    v
}

#[test]
fn prune_refs_only_matches_ostree() {
    let t = scratch();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    rich_tree(&a);
    build_tree(&b, "d . 755\nf only-in-b 644 b\nd sub 755\nf sub/x 644 shared\n");
    build_tree(&c, "d . 755\nf only-in-c 644 c\nf sub-x 644 shared\n");
    let (orepo, urepo) = init_both(t.path(), "archive");
    for repo in [&orepo, &urepo] {
        for (branch, dir, ts) in [("a", &a, "2020-01-01"), ("b", &b, "2024-01-01"), ("c", &c, "2020-06-01")] {
            let ts = format!("--timestamp={ts}");
            ostree(os_args![repo_arg(repo), "commit", "-b", branch, ts, dir.display().to_string()]);
        }
        ostree(os_args![repo_arg(repo), "refs", "--delete", "a"]);
        ostree(os_args![repo_arg(repo), "refs", "--delete", "b"]);
    }
    // Both keep b (young) and c (ref); both drop a.
    ostree(os_args![repo_arg(&orepo), "prune", "--refs-only", "--keep-younger-than=2023-01-01"]);
    let out = up(os_args![repo_arg(&urepo), "prune", "--refs-only", "--keep-younger-than=2023-01-01"]);
    assert!(out.contains("Deleted"), "{out}");
    assert_eq!(objects(&urepo), objects(&orepo), "same objects survive");
    ostree(os_args![repo_arg(&urepo), "fsck"]);
    // Plain --refs-only now drops b as well.
    ostree(os_args![repo_arg(&orepo), "prune", "--refs-only"]);
    up(os_args![repo_arg(&urepo), "prune", "--refs-only"]);
    assert_eq!(objects(&urepo), objects(&orepo));
    assert_eq!(up(os_args![repo_arg(&urepo), "prune", "--refs-only"]).lines().last(), Some("No unreachable objects"));
    up(os_args![repo_arg(&urepo), "fsck"]);
}

#[test]
fn concurrent_writers_are_safe() {
    let t = scratch();
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    let trees: Vec<_> = (0..4)
        .map(|i| {
            let d = t.path().join(format!("t{i}"));
            rich_tree(&d);
            fs::write(d.join("which"), format!("{i}\n")).expect("write");
            d
        })
        .collect();
    // Four writers at once on overlapping content: two uptree, two ostree.
    let children: Vec<_> = trees
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let prog = if i % 2 == 0 { uptree_bin() } else { "ostree" };
            std::process::Command::new(prog)
                .arg(repo_arg(&repo))
                .args(["commit", "-b", &format!("b{i}"), "--timestamp=2024-01-01"])
                .arg(d)
                .output()
                .expect("spawn")
        })
        .collect();
    for (i, out) in children.iter().enumerate() {
        assert!(out.status.success(), "writer {i} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    up(os_args![repo_arg(&repo), "fsck"]);
    ostree(os_args![repo_arg(&repo), "fsck"]);
    assert_eq!(up(os_args![repo_arg(&repo), "refs"]).lines().count(), 4);
    // The same tree committed by either tool has one checksum.
    up(os_args![repo_arg(&repo), "commit", "-b", "again", "--timestamp=2024-01-01", trees[1].display().to_string()]);
    assert_eq!(root_of(&repo, "again"), root_of(&repo, "b1"));
}

#[test]
fn repo_lock_is_shared_with_ostree_semantics() {
    // A process holding ostree's shared OFD lock on REPO/.lock (as every
    // libostree transaction does) must block prune, which needs it exclusive.
    let t = scratch();
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    fs::write(repo.join("config"), fs::read_to_string(repo.join("config")).expect("config") + "lock-timeout-secs=1\n").expect("config");
    let holder = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import fcntl,struct,time,os\nfd=os.open('{}',os.O_RDWR|os.O_CREAT,0o600)\nfcntl.fcntl(fd,fcntl.F_OFD_SETLK,struct.pack('hhqqi',fcntl.F_RDLCK,0,0,0,0))\nprint('locked',flush=True)\ntime.sleep(4)",
            repo.join(".lock").display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut holder = holder;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().expect("stdout")), &mut line).expect("read");
    assert_eq!(line.trim(), "locked");
    let err = up_fails(os_args![repo_arg(&repo), "prune", "--refs-only"]);
    assert!(err.contains("lock"), "{err}");
    let _ = holder.wait();
    up(os_args![repo_arg(&repo), "prune", "--refs-only"]);
}

/// `rev-parse -S` names the repository's only commit (basic-test.sh uses it
/// after a pull-local), and fails with ostree's words otherwise; a checksum
/// prefix resolves to its commit.
#[test]
fn rev_parse_single_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one");
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (name, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let err = fails(name, os_args![repo_arg(repo), "rev-parse", "-S"], &[]);
        assert!(err.contains("No commit objects found"), "{name}: {err}");
        let first = ok(name, os_args![repo_arg(repo), "commit", "-b", "a", "--timestamp=@1", tree.display().to_string()], &[]);
        assert_eq!(ok(name, os_args![repo_arg(repo), "rev-parse", "--single"], &[]), first, "{name}");
        ok(name, os_args![repo_arg(repo), "commit", "-b", "a", "--timestamp=@2", tree.display().to_string()], &[]);
        let err = fails(name, os_args![repo_arg(repo), "rev-parse", "-S"], &[]);
        assert!(err.contains("Multiple commit objects found"), "{name}: {err}");
        // A hex prefix names the commit it starts (basic-test.sh's "partial").
        assert_eq!(ok(name, os_args![repo_arg(repo), "rev-parse", &first[..6]], &[]), first, "{name}");
    }
}

/// Without --repo, a repository in the current directory is used before
/// $OSTREE_REPO; opening a repository recreates a deleted tmp/ (both as ostree,
/// basic-test.sh "repo-in-cwd" and "tmp").
#[test]
fn repo_in_cwd_and_recreated_tmp() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one");
    let (_, urepo) = init_both(t.path(), "archive");
    let c = up(os_args![repo_arg(&urepo), "commit", "-b", "main", tree.display().to_string()]);
    let out = std::process::Command::new(uptree_bin())
        .args(["rev-parse", "main"])
        .current_dir(&urepo)
        .env("OSTREE_REPO", t.path().join("elsewhere"))
        .output()
        .expect("run uptree");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), c);
    fs::remove_dir_all(urepo.join("tmp")).expect("rm tmp");
    up(os_args![repo_arg(&urepo), "refs"]);
    assert!(urepo.join("tmp").is_dir(), "tmp/ recreated");
}

/// `commit --consume` deletes its source directory after the commit, and
/// `reset` moves an existing ref to any commit present (basic-test.sh's
/// "consume" step), read back by ostree.
#[test]
fn consume_and_reset() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one");
    let (_, urepo) = init_both(t.path(), "archive");
    let first = up(os_args![repo_arg(&urepo), "commit", "-b", "main", tree.display().to_string()]);
    build_tree(&tree, "f b 644 two");
    let second = up(os_args![repo_arg(&urepo), "commit", "--consume", "-b", "main", format!("--tree=dir={}", tree.display())]);
    assert!(!tree.exists(), "--consume removes the committed directory");
    assert_eq!(ostree(os_args![repo_arg(&urepo), "ls", "main", "/b"]).split_whitespace().last(), Some("/b"));
    up(os_args![repo_arg(&urepo), "reset", "main", "main^"]);
    assert_eq!(ostree(os_args![repo_arg(&urepo), "rev-parse", "main"]), first);
    up(os_args![repo_arg(&urepo), "reset", "main", &second]);
    assert_eq!(ostree(os_args![repo_arg(&urepo), "rev-parse", "main"]), second);
    let err = up_fails(os_args![repo_arg(&urepo), "reset", "nosuch", &first]);
    assert!(err.contains("Invalid ref 'nosuch'"), "{err}");
    let missing = "0".repeat(64);
    up_fails(os_args![repo_arg(&urepo), "reset", "main", &missing]);
    assert_eq!(up(os_args![repo_arg(&urepo), "rev-parse", "main"]), second, "a refused reset leaves the ref");
}

/// `pull-local SRC` without refs takes every branch of SRC, as ostree does
/// (test-local-pull.sh copies whole repositories that way).
#[test]
fn pull_local_without_refs_takes_every_branch() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one");
    let (orepo, urepo) = init_both(t.path(), "archive");
    ostree(os_args![repo_arg(&orepo), "commit", "-b", "a", tree.display().to_string()]);
    ostree(os_args![repo_arg(&orepo), "commit", "-b", "b/c", tree.display().to_string()]);
    up(os_args![repo_arg(&urepo), "pull-local", &orepo]);
    assert_eq!(up(os_args![repo_arg(&urepo), "refs"]), "a\nb/c");
    ostree(os_args![repo_arg(&urepo), "fsck"]);
}

/// `config` refuses extra arguments with ostree's words (test-config.sh).
#[test]
fn config_argument_checks_as_ostree() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (name, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        for args in [&["get", "core.mode", "extra"][..], &["set", "core.lock-timeout-secs", "1", "extra"], &["unset", "core.mode", "extra"]] {
            let mut a = vec![repo_arg(repo), "config".to_string()];
            a.extend(args.iter().map(|s| s.to_string()));
            let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
            let err = fails(name, &a, &[]);
            assert!(err.contains("error: Too many arguments given"), "{name} {args:?}: {err}");
        }
    }
    // ostree needs `config -- set KEY -1` (GOption); uptree also takes it without the `--`.
    up(os_args![repo_arg(&urepo), "config", "set", "core.lock-timeout-secs", "-1"]);
    assert_eq!(ostree(os_args![repo_arg(&urepo), "config", "get", "core.lock-timeout-secs"]), "-1");
}

/// Type, device number, mode and owner of every entry below `root` (char
/// devices cannot be read, so no content).
fn kinds(root: &Path) -> Vec<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut v = Vec::new();
    for e in fs::read_dir(root).expect("read_dir") {
        let p = e.expect("entry").path();
        let m = fs::symlink_metadata(&p).expect("lstat");
        let kind = if m.file_type().is_char_device() {
            "c"
        } else if m.is_dir() {
            "d"
        } else {
            "f"
        };
        v.push(format!("{kind} {} {:o} {}:{} rdev={}", p.file_name().expect("name").to_string_lossy(), m.mode() & 0o7777, m.uid(), m.gid(), m.rdev()));
    }
    v.sort();
    v
}

#[test]
fn passthrough_whiteouts_check_out_as_ostree_does() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(
        &tree,
        "d layer 755
         f layer/keep 644 kept
         f layer/.ostree-wh.gone 400 12:34
         f layer/.ostree-wh.gone2 777",
    );
    let (orepo, urepo) = init_both(t.path(), "bare");
    let tree_s = tree.display().to_string();
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "wh", "--timestamp=2024-01-01", &tree_s], &[]);
    assert_eq!(o, u);
    for opt in [Some("--process-passthrough-whiteouts"), None] {
        let name = if opt.is_some() { "wh" } else { "plain" };
        let (oco, uco) = (t.path().join(format!("o-{name}")), t.path().join(format!("u-{name}")));
        let run = |tool: &str, repo: &Path, dest: &Path| {
            let mut a = vec![repo_arg(repo), "checkout".into()];
            a.extend(opt.map(str::to_string));
            a.extend(["wh".to_string(), dest.display().to_string()]);
            ok(tool, &a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>(), &[]);
        };
        run("ostree", &orepo, &oco);
        run(uptree_bin(), &urepo, &uco);
        let (ko, ku) = (kinds(&oco.join("layer")), kinds(&uco.join("layer")));
        assert_eq!(ku, ko, "checkout {opt:?}");
        let whiteouts = ko.iter().filter(|l| l.starts_with("c ")).count();
        assert_eq!(whiteouts, if opt.is_some() { 2 } else { 0 }, "{ko:#?}");
    }
}

#[test]
fn refs_with_a_prefix_list_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f f 644 x");
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree_s = tree.display().to_string();
    let (c, _) = commit_both(&orepo, &urepo, &["-b", "a/b/c", "--timestamp=2024-01-01", &tree_s], &[]);
    for repo in [&orepo, &urepo] {
        for r in ["r1:testos/buildmain/x", "r1:testos2/y", "testos/local"] {
            ostree(os_args![repo_arg(repo), "refs", format!("--create={r}"), &c]);
        }
    }
    // ostree lists refs in hash order.
    let sorted = |t: String| {
        let mut v: Vec<String> = t.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    for prefix in ["r1:testos", "r1:", "a", "a/b", "r1:testos/buildmain", "testos"] {
        let o = sorted(ostree(os_args![repo_arg(&orepo), "refs", prefix]));
        assert_eq!(sorted(up(os_args![repo_arg(&urepo), "refs", prefix])), o, "refs {prefix}");
    }
}

/// `--statoverride` and `--skip-list` apply to tar entries as ostree's
/// commit filter applies them (test-libarchive), and `--skip-list` to
/// directory layers.
#[test]
fn tar_statoverride_and_skip_list_match_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(
        &tree,
        r"
        d . 755
        d usr 755
        d usr/bin 755
        f usr/bin/setuidme 755 setuidme
        f usr/bin/skipme 755 skipme
        f usr/bin/keep 644 keep
        d usr/skipdir 755
        f usr/skipdir/inner 644 inner
        ",
    );
    let tar = t.path().join("tree.tar");
    ok("tar", os_args!["--numeric-owner", "-C", tree.display().to_string(), "-cf", tar.display().to_string(), "."], &[]);
    let so = t.path().join("statoverride.txt");
    fs::write(&so, "2048 /usr/bin/setuidme\n").expect("write");
    let skip = t.path().join("skiplist.txt");
    fs::write(&skip, "/usr/bin/skipme\n/usr/skipdir/inner\n").expect("write");
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let so_arg = format!("--statoverride={}", so.display());
    let skip_arg = format!("--skip-list={}", skip.display());
    for layer in [format!("--tree=tar={}", tar.display()), format!("--tree=dir={}", tree.display())] {
        let (o, u) = commit_both(&orepo, &urepo, &["-b", "t", "--timestamp=2024-01-01", &so_arg, &skip_arg, &layer], &[]);
        assert_eq!(o, u, "{layer}");
        let ls = up(os_args![repo_arg(&urepo), "ls", "-R", "t"]);
        assert!(ls.contains("-04755 ") && !ls.contains("skipme") && !ls.contains("inner"), "{layer}:\n{ls}");
    }
}

/// `--tree=tar=` also reads cpio "newc" archives (libarchive detects the
/// format), hardlinks included: the same commit as ostree's.
#[test]
fn cpio_layer_matches_ostree() {
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
        l usr/bin/sl foo
        d usr/lib 700
        f usr/lib/libfoo.so 644 a library
        h usr/lib/foo-again usr/bin/foo
        ",
    );
    let cpio = t.path().join("tree.cpio");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cd {} && find . | cpio -o -H newc > {}", tree.display(), cpio.display()))
        .output()
        .expect("cpio");
    assert!(out.status.success(), "{out:?}");
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let layer = format!("--tree=tar={}", cpio.display());
    let (o, u) = commit_both(&orepo, &urepo, &["-b", "c", "--timestamp=2024-01-01", &layer], &[]);
    assert_eq!(o, u, "cpio layer");
    let ls = up(os_args![repo_arg(&urepo), "ls", "-R", "-C", "c"]);
    let csum_of = |p: &str| ls.lines().find(|l| l.ends_with(p)).and_then(|l| l.split_whitespace().nth(4)).map(String::from);
    assert_eq!(csum_of("/usr/bin/bar"), csum_of("/usr/bin/foo"), "{ls}");
    assert_eq!(csum_of("/usr/lib/foo-again"), csum_of("/usr/bin/foo"), "{ls}");
    // Cut short: an error, nothing committed.
    let bytes = fs::read(&cpio).expect("read");
    let cut = t.path().join("cut.cpio");
    fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    up_fails(os_args![repo_arg(&urepo), "commit", "-b", "cut", format!("--tree=tar={}", cut.display())]);
    assert_eq!(up(os_args![repo_arg(&urepo), "refs"]), "c", "no ref from a truncated archive");
    // A member named "../x": refused (as ostree refuses it), nothing written outside.
    fs::create_dir(t.path().join("sub")).expect("mkdir");
    fs::write(t.path().join("x"), "outside").expect("write");
    let evil = t.path().join("evil.cpio");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cd {}/sub && echo ../x | cpio -o -H newc > {}", t.path().display(), evil.display()))
        .output()
        .expect("cpio");
    assert!(out.status.success(), "{out:?}");
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "-b", "evil", format!("--tree=tar={}", evil.display())]);
    assert!(err.contains("Invalid uplink '..'"), "{err}");
    assert_eq!(up(os_args![repo_arg(&urepo), "refs"]), "c", "no ref from a hostile archive");
    up(os_args![repo_arg(&urepo), "fsck"]);
}
