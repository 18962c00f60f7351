//! Smaller pieces of basic-test.sh, each checked against the real `ostree`
//! on the same input: commit modifiers (--mode-ro-executables,
//! --skip-list), invalid file names, `cat` through symlinks, `checkout
//! --subpath` of a file and `--skip-list`, `refs` without refs/remotes, `init` with extra
//! arguments.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::*;

/// Run the same arguments with both tools on their own repository.
fn both(orepo: &std::path::Path, urepo: &std::path::Path, args: &[&str]) -> (String, String) {
    let (ro, ru) = (repo_arg(orepo), repo_arg(urepo));
    let oa: Vec<&std::ffi::OsStr> = std::iter::once(ro.as_str()).chain(args.iter().copied()).map(std::ffi::OsStr::new).collect();
    let ua: Vec<&std::ffi::OsStr> = std::iter::once(ru.as_str()).chain(args.iter().copied()).map(std::ffi::OsStr::new).collect();
    (ostree(&oa), up(&ua))
}

#[test]
fn commit_modifiers_as_ostree() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree = t.path().join("tree");
    build_tree(&tree, "f user-wx 755 a\nf group-wx 575 b\nf both-wx 775 c\nf ugox 555 d\nf user-writable 644 e\nf a/nested/3 644 three\nf a/nested/4 644 four");
    let dir = format!("--tree=dir={}", tree.display());
    let (o, u) = both(&orepo, &urepo, &["commit", "-b", "rox", "--timestamp=2020-01-01", "--mode-ro-executables", &dir]);
    assert_eq!(u, o, "--mode-ro-executables");
    let ls = up(os_args![repo_arg(&urepo), "ls", "rox"]);
    assert!(ls.lines().any(|l| l.starts_with("-00555 ") && l.ends_with("/both-wx")), "{ls}");
    assert!(ls.lines().any(|l| l.starts_with("-00644 ") && l.ends_with("/user-writable")), "{ls}");

    let skip = t.path().join("skip.txt");
    fs::write(&skip, "/a/nested/3\n").expect("write");
    let skip_arg = format!("--skip-list={}", skip.display());
    let (o, u) = both(&orepo, &urepo, &["commit", "-b", "skip", "--timestamp=2020-01-01", &skip_arg, &dir]);
    assert_eq!(u, o, "--skip-list");
    assert!(!up(os_args![repo_arg(&urepo), "ls", "-R", "skip"]).contains("/a/nested/3"));

    let bad = t.path().join("bad");
    fs::create_dir(&bad).expect("mkdir");
    fs::write(bad.join(std::ffi::OsStr::from_bytes(b"\x80")), "x").expect("write");
    let err = up_fails(os_args![repo_arg(&urepo), "commit", "-b", "bad", format!("--tree=dir={}", bad.display())]);
    assert!(err.contains("Invalid UTF-8 in filename"), "{err}");
}

use std::os::unix::ffi::OsStrExt;

#[test]
fn cat_checkout_refs_init_as_ostree() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree = t.path().join("tree");
    build_tree(&tree, "f baz/cow 644 moo\nf baz/saucer 644 alien\nd four 755");
    symlink("four", tree.join("four-link")).expect("symlink");
    symlink("baz/cow", tree.join("cow-link")).expect("symlink");
    symlink("cow-link", tree.join("cow-link-link")).expect("symlink");
    symlink("../baz/./cow", tree.join("four/up")).expect("symlink");
    let dir = format!("--tree=dir={}", tree.display());
    both(&orepo, &urepo, &["commit", "-b", "t", "--timestamp=2020-01-01", &dir]);
    for p in ["/cow-link", "/cow-link-link", "/baz/cow"] {
        let (o, u) = both(&orepo, &urepo, &["cat", "t", p]);
        assert_eq!((u.as_str(), o.as_str()), ("moo", "moo"), "cat {p}");
    }
    // ostree does not resolve ".." in a link ("No such file or directory:
    // /four/.."); uptree does, without leaving the commit.
    assert_eq!(up(os_args![repo_arg(&urepo), "cat", "t", "/four/up"]), "moo");
    for p in ["/", "/baz", "/four-link"] {
        let err = up_fails(os_args![repo_arg(&urepo), "cat", "t", p]);
        assert!(err.contains("open directory"), "cat {p}: {err}");
    }

    for (tool, repo) in [("ostree", &orepo), ("uptree", &urepo)] {
        let run = |args: &[&std::ffi::OsStr]| if tool == "ostree" { ostree(args) } else { up(args) };
        let dest = t.path().join(format!("{tool}-sub"));
        run(os_args![repo_arg(repo), "checkout", "--subpath", "/baz/saucer", "t", dest.display().to_string()]);
        assert_eq!(fs::read_to_string(dest.join("saucer")).expect("saucer"), "alien", "{tool}");
        let here = t.path().join(format!("{tool}-here"));
        fs::create_dir(&here).expect("mkdir");
        let out = std::process::Command::new(if tool == "ostree" { "ostree" } else { uptree_bin() })
            .args([repo_arg(repo).as_str(), "checkout", "--subpath", "/baz/saucer", "t", "."])
            .current_dir(&here)
            .output()
            .expect("run");
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(fs::read_to_string(here.join("saucer")).expect("saucer"), "alien", "{tool}");
    }

    let skip = t.path().join("skip.txt");
    fs::write(&skip, "/baz/saucer\n/four\n").expect("write");
    for (tool, repo) in [("ostree", &orepo), ("uptree", &urepo)] {
        let run = |args: &[&std::ffi::OsStr]| if tool == "ostree" { ostree(args) } else { up(args) };
        let dest = t.path().join(format!("{tool}-skip"));
        run(os_args![repo_arg(repo), "checkout", "--skip-list", skip.display().to_string(), "t", dest.display().to_string()]);
        // ostree checks out a listed directory all the same.
        assert!(!dest.join("baz/saucer").exists() && dest.join("four/up").exists(), "{tool}");
        assert!(dest.join("baz/cow").is_file(), "{tool}");
    }

    fs::rename(urepo.join("refs/remotes"), urepo.join("refs/remotes.orig")).expect("mv");
    let err = up_fails(os_args![repo_arg(&urepo), "refs", "--list"]);
    assert!(err.contains("Listing refs: opendir(refs/remotes): No such file or directory"), "{err}");
    fs::rename(urepo.join("refs/remotes.orig"), urepo.join("refs/remotes")).expect("mv");
    up(os_args![repo_arg(&urepo), "refs", "--list"]);

    let extra = t.path().join("extra");
    up(os_args![repo_arg(&extra), "init", "init", "--mode=archive"]);
    assert_eq!(up(os_args![repo_arg(&extra), "config", "get", "core.mode"]), "archive-z2");
}

/// `checkout --union-identical` (needs -H) merges trees that agree and
/// refuses a file that differs; `-M` strips directory modes to 0775; `-z`
/// is accepted. Both tools, same repository (bare-user: -U -H links).
#[test]
fn checkout_union_identical_and_modes_as_ostree() {
    let t = scratch();
    let repo = t.path().join("repo");
    ostree(os_args![repo_arg(&repo), "init", "--mode=bare-user"]);
    let r = repo_arg(&repo);
    for x in 1..=2 {
        let pkg = t.path().join(format!("pkg{x}"));
        build_tree(&pkg, &format!("f usr/bin/pkg{x} 755 binary{x}\nf usr/share/COPYING 644 GPL\nd ww 777\nf empty 644 "));
        symlink("COPYING", pkg.join("usr/share/LICENSE")).expect("symlink");
        ostree(os_args![r, "commit", "-b", format!("pkg{x}"), format!("--tree=dir={}", pkg.display())]);
    }
    let conflict = t.path().join("conflict");
    build_tree(&conflict, "f usr/share/COPYING 644 not the GPL");
    ostree(os_args![r, "commit", "-b", "conflict", format!("--tree=dir={}", conflict.display())]);
    for (tool, program) in [("ostree", "ostree"), ("uptree", uptree_bin())] {
        let run = |args: &[&std::ffi::OsStr]| ok(program, args, &[]);
        let dest = t.path().join(format!("{tool}-union")).display().to_string();
        for x in 1..=2 {
            run(os_args![r, "checkout", "-U", "-H", "-z", "--union-identical", format!("pkg{x}"), dest]);
        }
        assert_eq!(fs::read_to_string(format!("{dest}/usr/bin/pkg2")).expect("pkg2"), "binary2", "{tool}");
        let err = fails(program, os_args![r, "checkout", "-U", "-H", "--union-identical", "conflict", dest], &[]);
        assert!(err.contains("File exists"), "{tool}: {err}");
        let err = fails(program, os_args![r, "checkout", "-U", "--union-identical", "pkg1", format!("{dest}-2")], &[]);
        assert!(err.contains("--union-identical requires --require-hardlinks"), "{tool}: {err}");
        // A copy of the same content counts as identical too.
        let copy = t.path().join(format!("{tool}-copy")).display().to_string();
        run(os_args![r, "checkout", "-U", "--force-copy", "pkg1", copy]);
        run(os_args![r, "checkout", "-U", "-H", "--union-identical", "pkg2", copy]);

        let m = t.path().join(format!("{tool}-m")).display().to_string();
        run(os_args![r, "checkout", "-U", "-H", "-M", "pkg1", m]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(format!("{m}/ww")).expect("ww").permissions().mode() & 0o7777, 0o775, "{tool}");
    }
}

/// `commit --table-output` prints ostree's table; `checkout --allow-noent`
/// of a missing subpath does nothing; a repository with `core.parent`
/// checks out objects it only finds in its parent; `ls` through a file is
/// "Not a directory".
#[test]
fn table_output_noent_parent_checkout_as_ostree() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    let tree = t.path().join("tree");
    build_tree(&tree, "f baz/cow 644 moo\nf baz/saucer 644 alien");
    let dir = format!("--tree=dir={}", tree.display());
    let (o, u) = both(&orepo, &urepo, &["commit", "-b", "t", "--timestamp=2020-01-01", "--table-output", &dir]);
    assert_eq!(u, o, "--table-output, new objects");
    let (o, u) = both(&orepo, &urepo, &["commit", "-b", "t", "--timestamp=2020-01-02", "--table-output", &dir]);
    assert_eq!(u, o, "--table-output, nothing new");
    assert!(u.contains("\nContent Total: 2\nContent Written: 0\n"), "{u}");

    let dest = t.path().join("noent");
    up(os_args![repo_arg(&urepo), "checkout", "--allow-noent", "--subpath", "/enoent", "t", dest.display().to_string()]);
    assert!(!dest.exists());
    let err = up_fails(os_args![repo_arg(&urepo), "ls", "t", "/baz/cow/notadir"]);
    assert!(err.contains("Not a directory"), "{err}");

    let shadow = t.path().join("shadow");
    up(os_args![repo_arg(&shadow), "init"]);
    up(os_args![repo_arg(&shadow), "config", "set", "core.parent", urepo.display().to_string()]);
    let c = up(os_args![repo_arg(&urepo), "rev-parse", "t"]);
    let co = t.path().join("shadow-co");
    up(os_args![repo_arg(&shadow), "checkout", "-U", c, co.display().to_string()]);
    assert_eq!(fs::read_to_string(co.join("baz/saucer")).expect("saucer"), "alien");
}
