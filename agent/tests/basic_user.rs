//! The user-mode pieces of basic-test.sh (test-basic-user*.sh), each
//! checked against the real `ostree` on the same input: the uncompressed
//! object cache of user-mode checkouts from archive repositories, what a
//! bare-user-only repository refuses and what it hardlinks from a
//! bare-user one, user-mode checkouts staying readable, `commit -I`, empty
//! metadata keys and `OSTREE_REPO_TEST_ERROR=pre-commit`.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

fn object(repo: &Path, csum: &str, ext: &str) -> std::path::PathBuf {
    repo.join(format!("objects/{}/{}.{ext}", &csum[..2], &csum[2..]))
}

/// The checksum of the file at `path` in `rev` (`ls -C`'s last checksum column).
fn file_checksum(repo: &Path, rev: &str, path: &str) -> String {
    let ls = ostree(os_args![repo_arg(repo), "ls", "-C", rev, path]);
    ls.split_whitespace().nth(4).expect("checksum column").to_string()
}

#[test]
fn user_checkouts_of_archive_repos_use_the_uncompressed_cache_as_ostree() {
    let t = scratch();
    let (o, u) = init_both(t.path(), "archive");
    let tree = t.path().join("tree");
    build_tree(&tree, "f a/cow 644 moo\nf unreadable 000 secret");
    for repo in [&o, &u] {
        ostree(os_args![repo_arg(repo), "commit", "-b", "m", "--timestamp=@0", format!("--tree=dir={}", tree.display())]);
    }
    for (repo, prog) in [(&o, "ostree"), (&u, uptree_bin())] {
        let co = t.path().join(format!("co-nocache-{}", repo.file_name().and_then(|n| n.to_str()).expect("name")));
        ok(prog, os_args![repo_arg(repo), "checkout", "-U", "--disable-cache", "m", &co], &[]);
        assert!(!repo.join("uncompressed-objects-cache").exists(), "{prog}: --disable-cache");
        let co = t.path().join(format!("co-{}", repo.file_name().and_then(|n| n.to_str()).expect("name")));
        ok(prog, os_args![repo_arg(repo), "checkout", "-U", "m", &co], &[]);
        let cow = file_checksum(repo, "m", "/a/cow");
        let cached = repo.join(format!("uncompressed-objects-cache/{}/{}.file", &cow[..2], &cow[2..]));
        let (c, f) = (fs::metadata(&cached).expect("cached object"), fs::metadata(co.join("a/cow")).expect("checked out"));
        assert_eq!((c.dev(), c.ino()), (f.dev(), f.ino()), "{prog}: the checkout is a hardlink of the cached copy");
        assert_eq!(fs::read(&cached).expect("read"), b"moo");
        // Mode 0 in the commit: the user still reads what it checked out.
        assert_eq!(fs::metadata(co.join("unreadable")).expect("stat").permissions().mode() & 0o7777, 0o400, "{prog}");
    }
}

#[test]
fn bare_user_only_refuses_setuid_content_and_links_canonical_bare_user_objects_as_ostree() {
    let t = scratch();
    let src = t.path().join("archive");
    ostree(os_args![repo_arg(&src), "init", "--mode=archive"]);
    let files = t.path().join("files");
    build_tree(&files, "f some-setuid 644 a setuid file");
    let so = t.path().join("statoverride");
    fs::write(&so, "2048 /some-setuid\n").expect("write");
    ostree(os_args![repo_arg(&src), "commit", "-b", "suid", format!("--statoverride={}", so.display()), format!("--tree=dir={}", files.display())]);
    for (prog, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let dest = t.path().join(format!("buo-{name}"));
        ok(prog, os_args![repo_arg(&dest), "init", "--mode=bare-user-only"], &[]);
        let err = fails(prog, os_args!["pull-local", repo_arg(&dest), &src], &[]);
        assert!(err.contains("invalid mode 0104644 with bits 04000"), "{prog}: {err}");
        assert!(fails(prog, os_args![repo_arg(&dest), "rev-parse", "suid"], &[]).contains("suid"), "{prog}: nothing pulled");
    }
    // From bare-user, a canonical regular file is hardlinked, a symlink is not.
    let bu = t.path().join("bare-user");
    ostree(os_args![repo_arg(&bu), "init", "--mode=bare-user"]);
    let files = t.path().join("files2");
    build_tree(&files, "f afile 644 afile\nl afile-link afile");
    ostree(os_args![repo_arg(&bu), "commit", "--canonical-permissions", "-b", "tree", format!("--tree=dir={}", files.display())]);
    let (afile, link) = (file_checksum(&bu, "tree", "/afile"), file_checksum(&bu, "tree", "/afile-link"));
    for (prog, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let dest = t.path().join(format!("buo2-{name}"));
        ok(prog, os_args![repo_arg(&dest), "init", "--mode=bare-user-only"], &[]);
        ok(prog, os_args!["pull-local", repo_arg(&dest), &bu], &[]);
        let ino = |r: &Path, c: &str| fs::symlink_metadata(object(r, c, "file")).expect("object").ino();
        assert_eq!(ino(&dest, &afile), ino(&bu, &afile), "{prog}: the regular file is hardlinked");
        assert_ne!(ino(&dest, &link), ino(&bu, &link), "{prog}: a bare-user symlink object is not");
        ostree(os_args!["fsck", repo_arg(&dest)]);
    }
}

#[test]
fn devino_canonical_and_empty_metadata_keys_as_ostree() {
    let t = scratch();
    let (o, u) = init_both(t.path(), "bare-user");
    let tree = t.path().join("tree");
    build_tree(&tree, "f baz/cow 644 moo");
    for (repo, prog) in [(&o, "ostree"), (&u, uptree_bin())] {
        ok(prog, os_args![repo_arg(repo), "commit", "-b", "m", "--timestamp=@0", format!("--tree=dir={}", tree.display())], &[]);
        let co = t.path().join(format!("co-{}", repo.file_name().and_then(|n| n.to_str()).expect("name")));
        ok(prog, os_args![repo_arg(repo), "checkout", "-U", "-H", "m", &co], &[]);
        // -I: a hardlinked object is taken as it is, --owner-uid or not.
        let table = ok(
            prog,
            os_args![
                repo_arg(repo),
                "commit",
                "--timestamp=@0",
                "--owner-uid=4242",
                "-I",
                "-b",
                "devino",
                "--table-output",
                format!("--tree=dir={}", co.display())
            ],
            &[],
        );
        assert!(table.contains("Content Cache Hits: 1"), "{prog}: {table}");
        let ls = ok(prog, os_args![repo_arg(repo), "ls", "devino", "/baz/cow"], &[]);
        assert!(!ls.contains("4242"), "{prog}: {ls}");
        let err = fails(prog, os_args![repo_arg(repo), "commit", "-b", "meta", "--add-metadata-string==FOO", format!("--tree=dir={}", tree.display())], &[]);
        assert!(err.contains("Empty metadata key"), "{prog}: {err}");
    }
    assert_eq!(up(os_args![repo_arg(&u), "rev-parse", "devino"]), ostree(os_args![repo_arg(&o), "rev-parse", "devino"]));
}

/// `OSTREE_REPO_TEST_ERROR=pre-commit`: the commit fails as a crash just
/// before it would, leaving its staging directory (named with the boot id)
/// for the same boot to resume; the next commit succeeds.
#[test]
fn pre_commit_test_error_leaves_the_staging_directory_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f date.txt 644 now");
    const BOOTID: &str = "3072029c-8b10-60d1-d31b-8422eeff9b42";
    for (prog, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let repo = t.path().join(name);
        ok(prog, os_args![repo_arg(&repo), "init", "--mode=archive"], &[]);
        let env = [("OSTREE_REPO_TEST_ERROR", "pre-commit"), ("OSTREE_BOOTID", BOOTID)];
        let err = fails(prog, os_args![repo_arg(&repo), "commit", "-b", "m", format!("--tree=dir={}", tree.display())], &env);
        assert!(err.contains("OSTREE_REPO_TEST_ERROR_PRE_COMMIT"), "{prog}: {err}");
        let staging: Vec<String> = fs::read_dir(repo.join("tmp"))
            .expect("tmp")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("staging-") && !n.ends_with("-lock"))
            .collect();
        assert_eq!(staging.len(), 1, "{prog}: {staging:?}");
        assert!(staging[0].starts_with(&format!("staging-{BOOTID}-")), "{prog}: {staging:?}");
        ok(prog, os_args![repo_arg(&repo), "commit", "-b", "m", format!("--tree=dir={}", tree.display())], &[("OSTREE_BOOTID", BOOTID)]);
    }
}

/// `pull-local SRC` with no refs takes every ref of SRC; a remote-tracking
/// one (`origin:main`) is refused before anything is copied, in ostree's
/// words (pull-test.sh), and naming the branch works.
#[test]
fn pull_local_of_every_ref_refuses_remote_refs_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 a");
    let src = t.path().join("src");
    ostree(os_args![repo_arg(&src), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&src), "commit", "-b", "main", format!("--tree=dir={}", tree.display())]);
    let other = t.path().join("other");
    ostree(os_args![repo_arg(&other), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&other), "commit", "-b", "localbranch", format!("--tree=dir={}", tree.display())]);
    ostree(os_args![repo_arg(&other), "remote", "add", "--set=gpg-verify=false", "origin", format!("file://{}", src.display())]);
    ostree(os_args![repo_arg(&other), "pull", "origin", "main"]);
    for (prog, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let dest = t.path().join(format!("mirror-{name}"));
        ok(prog, os_args![repo_arg(&dest), "init", "--mode=archive"], &[]);
        let err = fails(prog, os_args![repo_arg(&dest), "pull-local", &other], &[]);
        assert!(err.contains("error: Invalid ref name origin:main"), "{prog}: {err}");
        assert!(fails(prog, os_args![repo_arg(&dest), "rev-parse", "localbranch"], &[]).contains("localbranch"), "{prog}: nothing copied");
        ok(prog, os_args![repo_arg(&dest), "pull-local", &other, "localbranch"], &[]);
    }
}
