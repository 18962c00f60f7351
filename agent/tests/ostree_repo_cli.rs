//! The repository verbs' command-line surface as ostree's own test suite
//! uses it, checked against the real `ostree` on the same input.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

/// `config -- set KEY -1` (test-config.sh): the verb may follow `--`.
#[test]
fn config_verb_after_double_dash() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "archive");
    ostree(os_args![repo_arg(&orepo), "config", "--", "set", "core.lock-timeout-secs", "-1"]);
    up(os_args![repo_arg(&urepo), "config", "--", "set", "core.lock-timeout-secs", "-1"]);
    assert_eq!(fs::read_to_string(orepo.join("config")).expect("config"), fs::read_to_string(urepo.join("config")).expect("config"));
    assert_eq!(up(os_args![repo_arg(&urepo), "config", "--", "get", "core.lock-timeout-secs"]), "-1");
}

/// A missing or unknown (sub)command is reported in ostree's words
/// (test-help.sh, test-cli-extensions.sh), usage included.
#[test]
fn missing_and_unknown_commands_as_ostree() {
    for (args, words) in [
        (&["remote"][..], "No \"remote\" subcommand specified"),
        (&["remote", "frob"], "Unknown \"remote\" subcommand 'frob'"),
        (&["nosuchcommand"], "Unknown command 'nosuchcommand'"),
        (&[], "No command specified"),
    ] {
        let a: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        for program in ["ostree", uptree_bin()] {
            let err = fails(program, &a, &[]);
            assert!(err.contains(words), "{program} {args:?}: {err}");
            assert_eq!(err.lines().filter(|l| l.starts_with("Usage")).count(), 1, "{program} {args:?}: {err}");
        }
    }
    let help = up(os_args!["--help"]);
    assert!(help.contains("\nBuiltin Commands:\n  init "), "{help}");
    assert!(!help.contains("\n  help "), "no `help` verb, as ostree: {help}");
}

/// An unknown command NAME runs `ostree-NAME` from PATH with the remaining
/// arguments (NAME first), as ostree's CLI extensions do.
#[test]
fn cli_extension_from_path() {
    let t = scratch();
    let bin = t.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let ext = bin.join("ostree-hello");
    fs::write(&ext, "#!/bin/sh\necho \"hello $*\"\nexit 3\n").expect("write");
    fs::set_permissions(&ext, fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for program in ["ostree", uptree_bin()] {
        let out = std::process::Command::new(program).args(["hello", "a", "--b"]).env("PATH", &path).output().expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello hello a --b\n", "{program}");
        assert_eq!(out.status.code(), Some(3), "{program}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(st.success());
}

/// The smallest tree to commit: `DIR/tree` holding one file.
fn one_file_tree(dir: &std::path::Path) -> std::path::PathBuf {
    let tree = dir.join("tree");
    build_tree(&tree, "f a 644 one");
    tree
}

fn run_out(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(program).args(args).env("LC_ALL", "C.UTF-8").output().expect("run");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// fsck words corruption as ostree does (test-fsck-delete.sh,
/// test-corruption.sh), marks the commits fsck-partial so it keeps failing
/// until a pull repairs them, and marks commits missing an object partial
/// even without --delete.
#[test]
fn fsck_reports_and_marks_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one\nd sub 755\nf sub/b 644 two");
    let (orepo, _) = init_both(t.path(), "bare-user");
    let rev = ostree(os_args![repo_arg(&orepo), "commit", "-b", "main", "-s", "s", tree.display().to_string()]);
    let file = ostree(os_args![repo_arg(&orepo), "ls", "-C", "main", "/a"]);
    let file = file.split_whitespace().nth(4).expect("checksum column").to_string();
    for program in ["ostree", uptree_bin()] {
        // A corrupt file object, --delete: reported, deleted, commit marked "f".
        let r = t.path().join(format!("corrupt-{}", program.len()));
        copy_dir(&orepo, &r);
        fs::write(find_object(&r, &file, "file"), "whoops\n").expect("corrupt");
        let ra = repo_arg(&r);
        let (ok, stdout, stderr) = run_out(program, &[&ra, "fsck"]);
        assert!(!ok && stdout.starts_with("Validating refs...\n"), "{program}: {stdout}");
        assert!(stderr.starts_with(&format!("error: In commits {rev}: fsck content object {file}: ")), "{program}: {stderr}");
        let (ok, _, stderr) = run_out(program, &[&ra, "fsck", "--delete"]);
        assert!(!ok && stderr.contains(&format!("\nMarking commit as partial: {rev}\n")), "{program}: {stderr}");
        assert_eq!(fs::read(r.join(format!("state/{rev}.commitpartial"))).expect("marker"), b"f", "{program}");
        let (ok, stdout, stderr) = run_out(program, &[&ra, "fsck"]);
        assert!(!ok && stdout.contains("1 partial commits not verified"), "{program}: {stdout}");
        assert!(stderr.contains("error: 1 partial commits from fsck-detected corruption"), "{program}: {stderr}");
        // A missing file object, no --delete: the commit is marked partial anyway.
        let r = t.path().join(format!("missing-{}", program.len()));
        copy_dir(&orepo, &r);
        fs::remove_file(find_object(&r, &file, "file")).expect("rm");
        let (ok, _, stderr) = run_out(program, &[&repo_arg(&r), "fsck", "-q"]);
        assert!(!ok && stderr.contains(&format!("Object missing in commits {rev}: {file}.file")), "{program}: {stderr}");
        assert!(stderr.contains(&format!("Marking commit as partial: {rev}")), "{program}: {stderr}");
        assert!(r.join(format!("state/{rev}.commitpartial")).exists(), "{program}");
    }
}

/// An out-of-range SOURCE_DATE_EPOCH is refused in ostree's words
/// (test-commit-timestamp.sh).
#[test]
fn source_date_epoch_overflow_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (program, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let err = fails(program, os_args![repo_arg(repo), "commit", "-b", "env", tree.display().to_string()], &[("SOURCE_DATE_EPOCH", "12345678901234567890")]);
        assert!(err.contains("Parsing SOURCE_DATE_EPOCH: Numerical result out of range"), "{program}: {err}");
    }
}

/// `summary --view` and `summary --raw` print what ostree prints for the
/// same summary file (test-summary-view.sh).
#[test]
fn summary_view_and_raw_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (orepo, _) = init_both(t.path(), "archive");
    ostree(os_args![repo_arg(&orepo), "commit", "-b", "main", "--add-metadata-string=version=3.2", tree.display().to_string()]);
    ostree(os_args![repo_arg(&orepo), "commit", "-b", "other", "--timestamp=2024-01-02 03:04:05", tree.display().to_string()]);
    ostree(os_args![repo_arg(&orepo), "summary", "-u"]);
    for flag in ["--view", "--raw"] {
        let o = ostree(os_args![repo_arg(&orepo), "summary", flag]);
        let u = up(os_args![repo_arg(&orepo), "summary", flag]);
        assert_eq!(u, o, "summary {flag}");
    }
    assert!(up(os_args![repo_arg(&orepo), "summary", "--view"]).contains("\nLast-Modified (ostree.summary.last-modified): "));
}

/// core.commit-update-summary rewrites the summary on commit only,
/// core.auto-update-summary on every ref change (test-auto-summary.sh);
/// ostree reads the result.
#[test]
fn summary_follows_refs_when_configured() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (_, urepo) = init_both(t.path(), "archive");
    let r = repo_arg(&urepo);
    let dir = tree.display().to_string();
    up(os_args![r, "commit", "-b", "a", dir]);
    assert!(!urepo.join("summary").exists(), "no summary unless configured");
    up(os_args![r, "config", "set", "core.commit-update-summary", "true"]);
    up(os_args![r, "commit", "-b", "b", dir]);
    assert!(ostree(os_args![r, "summary", "--view"]).contains("* b\n"));
    up(os_args![r, "refs", "--delete", "a"]);
    assert!(ostree(os_args![r, "summary", "--view"]).contains("* a\n"), "a ref change alone does not rewrite it");
    up(os_args![r, "config", "set", "core.auto-update-summary", "true"]);
    up(os_args![r, "refs", "--delete", "b"]);
    let view = ostree(os_args![r, "summary", "--view"]);
    assert!(!view.contains("* a\n") && !view.contains("* b\n"), "{view}");
}

/// `refs --alias`: the symlink ostree writes, read by both tools; an
/// aliased ref cannot be deleted; --create needs --force to overwrite;
/// --delete takes several refs (test-refs.sh).
#[test]
fn ref_aliases_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (program, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let r = repo_arg(repo);
        let dir = tree.display().to_string();
        ok(program, os_args![r, "commit", "-b", "os/26/server", "--timestamp=2024-01-01", dir], &[]);
        ok(program, os_args![r, "refs", "-A", "os/26/server", "--create=os/stable/server"], &[]);
        ok(program, os_args![r, "refs", "os/26/server", "--create=other"], &[]);
        let err = fails(program, os_args![r, "refs", "os/26/server", "--create=other"], &[]);
        assert!(err.contains("already exists"), "{program}: {err}");
        ok(program, os_args![r, "refs", "os/26/server", "--create=other", "--force"], &[]);
        let err = fails(program, os_args![r, "refs", "--delete", "os/26/server"], &[]);
        assert!(err.contains("has an active alias: 'os/stable/server'"), "{program}: {err}");
        let err = fails(program, os_args![r, "refs", "-A", "--create=x", "nonexistent"], &[]);
        assert!(err.contains("Cannot create alias to non-existent ref"), "{program}: {err}");
    }
    let link = |repo: &std::path::Path| fs::read_link(repo.join("refs/heads/os/stable/server")).expect("alias symlink");
    assert_eq!(link(&urepo), link(&orepo));
    for repo in [&orepo, &urepo] {
        let r = repo_arg(repo);
        assert_eq!(ostree(os_args![r, "refs", "-A"]), "os/stable/server -> os/26/server");
        assert_eq!(up(os_args![r, "refs", "-A"]), "os/stable/server -> os/26/server");
        assert_eq!(up(os_args![r, "rev-parse", "os/stable/server"]), ostree(os_args![r, "rev-parse", "os/26/server"]));
        up(os_args![r, "refs", "--delete", "os/stable/server", "other"]);
        assert_eq!(ostree(os_args![r, "refs"]), "os/26/server");
    }
}

/// `commit -b x` with no path commits the current directory, which may hold
/// the repository itself (test-refs.sh): its scratch directory changes
/// during the walk and is left out.
#[test]
fn commit_of_a_tree_holding_the_repository() {
    let t = scratch();
    let (_, urepo) = init_both(t.path(), "bare");
    fs::write(t.path().join("file"), "x").expect("write");
    let out = std::process::Command::new(uptree_bin()).current_dir(t.path()).args(["--repo=uptree-bare", "commit", "-b", "here"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ls = up(os_args![repo_arg(&urepo), "ls", "-R", "here"]);
    assert!(ls.contains("/file") && !ls.contains("/uptree-bare/tmp"), "{ls}");
}

/// Remotes of a `core.parent` repository are listed and usable, but add and
/// delete change only the repository itself; `remote add --force` replaces
/// (test-remote-add.sh). The config bytes match ostree's.
#[test]
fn remotes_inherited_from_parent_and_forced_add() {
    let t = scratch();
    fs::create_dir(t.path().join("parent")).expect("mkdir");
    let (oparent, uparent) = init_both(&t.path().join("parent"), "archive");
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (program, repo, parent) in [("ostree", &orepo, &oparent), (uptree_bin(), &urepo, &uparent)] {
        let r = repo_arg(repo);
        ok(program, os_args![r, "config", "set", "core.parent", parent.display().to_string()], &[]);
        ok(program, os_args![repo_arg(parent), "remote", "add", "--no-sign-verify", "parent-remote", "http://p.example.com/r"], &[]);
        ok(program, os_args![r, "remote", "add", "own", "http://o.example.com/r"], &[]);
        assert_eq!(ok(program, os_args![r, "remote", "list"], &[]), "own\nparent-remote", "{program}");
        assert_eq!(ok(program, os_args![r, "remote", "show-url", "parent-remote"], &[]), "http://p.example.com/r", "{program}");
        fails(program, os_args![r, "remote", "delete", "parent-remote"], &[]);
        fails(program, os_args![r, "remote", "add", "--if-not-exists", "--force", "own", "http://x/"], &[]);
        ok(program, os_args![r, "remote", "add", "--force", "own", "http://o2.example.com/r"], &[]);
        assert_eq!(
            ok(program, os_args![r, "remote", "list", "-u"], &[]),
            "own            http://o2.example.com/r\nparent-remote  http://p.example.com/r",
            "{program}"
        );
    }
    assert_eq!(
        fs::read_to_string(orepo.join("config")).expect("config").replace(&oparent.display().to_string(), "P"),
        fs::read_to_string(urepo.join("config")).expect("config").replace(&uparent.display().to_string(), "P")
    );
}

/// `refs --collections` lists, creates (refs/mirrors) and deletes
/// collection–refs as ostree does; `remote add --collection-id` writes
/// ostree's config, taking the ID unchecked as ostree does
/// (test-refs-collections.sh, test-remote-add-collections.sh).
#[test]
fn collection_refs_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let repos = [t.path().join("o"), t.path().join("u")];
    for (program, repo) in [("ostree", &repos[0]), (uptree_bin(), &repos[1])] {
        let r = repo_arg(repo);
        ok(program, os_args![r, "init", "--collection-id=org.example.Own"], &[]);
        ok(program, os_args![r, "commit", "-b", "main", "--timestamp=2024-01-01", tree.display().to_string()], &[]);
        ok(program, os_args![r, "refs", "--collections", "--create=org.example.Other:mirror/x", "main"], &[]);
        // ostree replaces a collection–ref without --force (test-find-remotes.sh).
        ok(program, os_args![r, "refs", "--collections", "--create=org.example.Other:mirror/x", "main"], &[]);
        ok(program, os_args![r, "remote", "add", "--no-sign-verify", "--collection-id=org.example.Remote", "rem", "http://r.example.com/"], &[]);
        // ostree does not check a remote's collection ID (test-remote-add-collections.sh uses "example-id").
        ok(program, os_args![r, "remote", "add", "--no-sign-verify", "--collection-id", "example-id", "unchecked", "http://u.example.com/"], &[]);
        ok(program, os_args![r, "refs", "main", "--create=rem:rref"], &[]);
    }
    for repo in &repos {
        let r = repo_arg(repo);
        let o = ostree(os_args![r, "refs", "--collections"]);
        assert_eq!(o, "(org.example.Own, main)\n(org.example.Other, mirror/x)\n(org.example.Remote, rref)", "ostree on {}", repo.display());
        assert_eq!(up(os_args![r, "refs", "--collections"]), o);
        assert_eq!(up(os_args![r, "refs", "--collections", "org.example.Other"]), "(org.example.Other, mirror/x)");
    }
    assert_eq!(fs::read_to_string(repos[0].join("config")).expect("config"), fs::read_to_string(repos[1].join("config")).expect("config"));
    assert!(repos[1].join("refs/mirrors/org.example.Other/mirror/x").is_file());
    up(os_args![repo_arg(&repos[1]), "refs", "--collections", "--delete", "org.example.Other"]);
    assert!(!repos[1].join("refs/mirrors/org.example.Other").exists());
    assert_eq!(ostree(os_args![repo_arg(&repos[1]), "refs", "--collections"]), "(org.example.Own, main)\n(org.example.Remote, rref)");
}

/// A pull from a source with a collection ID (the remote's `collection-id`,
/// or a local source repository's own) takes a ref's commit only when it is
/// bound to that ref and collection; `--disable-verify-bindings` takes it
/// anyway. ostree (which made the commits) agrees on each case
/// (test-pull-collections.sh).
#[test]
fn pull_verifies_collection_bindings_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let src = t.path().join("src");
    let s = repo_arg(&src);
    ostree(os_args![s, "init", "--mode=archive"]);
    let commit = |branch: &str, extra: &[&str]| {
        let mut a = vec![s.clone(), "commit".into(), "-b".into(), branch.to_string(), tree.display().to_string()];
        a.extend(extra.iter().map(|x| x.to_string()));
        let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
        ostree(&a)
    };
    commit("unbound", &[]);
    let mut config = fs::read_to_string(src.join("config")).expect("config");
    config.push_str("collection-id=org.example.Src\n");
    fs::write(src.join("config"), config).expect("config");
    commit("other", &["--add-metadata-string=ostree.collection-binding=org.example.Other"]);
    let good = commit("good", &[]);
    ostree(os_args![s, "refs", format!("--create=stolen"), good]);
    let url = format!("file://{}", src.display());
    for program in ["ostree", uptree_bin()] {
        for via_remote in [true, false] {
            let dest = t.path().join(format!("dest-{via_remote}-{}", program.len()));
            let d = repo_arg(&dest);
            ok(program, os_args![d, "init", "--mode=archive"], &[]);
            ok(program, os_args![d, "remote", "add", "--no-gpg-verify", "--collection-id=org.example.Src", "src", url], &[]);
            let pull = |branch: &str, disable: bool| {
                let mut a: Vec<String> = vec![d.clone()];
                a.extend(if via_remote { vec!["pull".to_string(), "src".into()] } else { vec!["pull-local".to_string(), src.display().to_string()] });
                a.push(branch.into());
                if disable {
                    a.push("--disable-verify-bindings".into());
                }
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                let (success, _, err) = run_out(program, &a);
                (success, err)
            };
            let what = format!("{program} via_remote={via_remote}");
            let (success, err) = pull("good", false);
            assert!(success, "{what}: {err}");
            for bad in ["unbound", "other", "stolen"] {
                let (success, err) = pull(bad, false);
                assert!(!success, "{what}: {bad} was taken");
                assert!(err.contains("binding"), "{what}: {bad}: {err}");
                assert!(pull(bad, true).0, "{what}: {bad} with --disable-verify-bindings");
            }
        }
    }
}

/// `find-remotes` names the configured remotes serving collection–refs in
/// ostree's words (the same text as ostree on the same repositories), and
/// `--pull --mirror` fetches them into refs/mirrors (test-find-remotes.sh).
#[cfg(feature = "p2p")]
#[test]
fn find_remotes_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let src = t.path().join("src");
    let s = repo_arg(&src);
    ostree(os_args![s, "init", "--mode=archive", "--collection-id=org.example.Apps"]);
    let app1 = ostree(os_args![s, "commit", "-b", "app1", tree.display().to_string()]);
    ostree(os_args![s, "summary", "-u"]);
    let local = t.path().join("local");
    let l = repo_arg(&local);
    ostree(os_args![l, "init"]);
    ostree(os_args![l, "remote", "add", "--no-gpg-verify", "--collection-id=org.example.Apps", "apps", format!("file://{}", src.display())]);
    ostree(os_args![l, "remote", "add", "--no-gpg-verify", "--collection-id=org.example.Other", "other", format!("file://{}", src.display())]);
    let both: &[&std::ffi::OsStr] = os_args![l, "find-remotes", "--finders=config", "org.example.Apps", "app1", "org.example.Apps", "nope"];
    let missing: &[&std::ffi::OsStr] = os_args![l, "find-remotes", "--finders=config", "org.example.Apps", "nope"];
    assert_eq!(up(missing), "No results.");
    for args in [both, &both[..5], missing] {
        let o = ostree(args).replace("    - (org.example.Apps, nope) = (not found)\n", "");
        let u = up(args).replace("    - (org.example.Apps, nope) = (not found)\n", "");
        // ostree lists a result's refs in hash order; the lines are the same.
        assert_eq!(u, o);
    }
    assert!(up(os_args![l, "find-remotes", "--finders=config", "org.example.Apps", "app1"]).contains(&format!("\n    - (org.example.Apps, app1) = {app1}\n")));
    let err = up_fails(os_args![l, "find-remotes", "--finders=config,bogus", "org.example.Apps", "app1"]);
    assert!(err.contains("Unknown or duplicate finder type given in --finders option: ‘bogus’"), "{err}");
    let pulled = up(os_args![l, "find-remotes", "--finders=config", "--pull", "--mirror", "org.example.Apps", "app1"]);
    assert!(pulled.ends_with("1/1 refs were found.\nPulled 1/1 refs successfully."), "{pulled}");
    assert_eq!(fs::read_to_string(local.join("refs/mirrors/org.example.Apps/app1")).expect("mirrored ref"), format!("{app1}\n"));
    assert_eq!(ostree(os_args![l, "refs", "--collections"]), "(org.example.Apps, app1)");
}

/// `create-usb` writes ostree's stick layout: the same files as ostree
/// (archive repository, refs/mirrors, summary, the repos.d symlink for a
/// non-standard place), the same words, and a second run adds refs and no
/// second symlink (test-create-usb.sh).
#[cfg(feature = "p2p")]
#[test]
fn create_usb_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let src = t.path().join("src");
    let s = repo_arg(&src);
    ostree(os_args![s, "init", "--mode=archive", "--collection-id=org.example.C"]);
    // Not "a"/"b": ostree reads hex-looking names as partial checksums.
    for b in ["app1", "app2"] {
        ostree(os_args![s, "commit", "-b", b, tree.display().to_string()]);
    }
    ostree(os_args![s, "commit", "--no-bindings", "-b", "unbound", tree.display().to_string()]);
    let local = t.path().join("local");
    let l = repo_arg(&local);
    ostree(os_args![l, "init"]);
    ostree(os_args![l, "remote", "add", "--no-gpg-verify", "--collection-id=org.example.C", "r", format!("file://{}", src.display())]);
    ostree(os_args![l, "pull", "r", "app1", "app2", "unbound", "--disable-verify-bindings"]);
    let listing = |m: &std::path::Path| {
        let out = std::process::Command::new("find").arg(".").current_dir(m).output().expect("find");
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let mut made = Vec::new();
    for program in ["ostree", uptree_bin()] {
        let m = t.path().join(format!("mount-{}", program.len()));
        fs::create_dir(&m).expect("mkdir");
        let first = ok(program, os_args![l, "create-usb", "--destination-repo=some/dest", m, "org.example.C", "app1"], &[]);
        assert_eq!(first, format!("Copied 1/1 refs successfully from ‘{}’ to ‘some/dest’ repository in ‘{}’.", local.display(), m.display()));
        ok(program, os_args![l, "create-usb", "--destination-repo=some/dest", m, "org.example.C", "app2"], &[]);
        assert_eq!(fs::read_link(m.join(".ostree/repos.d/00-generated")).expect("symlink"), std::path::Path::new("../../some/dest"));
        let d = repo_arg(&m.join(".ostree/repos.d/00-generated"));
        let mut refs: Vec<String> = ostree(os_args![d, "refs", "--collections"]).lines().map(str::to_string).collect();
        refs.sort();
        assert_eq!(refs, ["(org.example.C, app1)", "(org.example.C, app2)"], "{program}");
        assert!(ostree(os_args![d, "summary", "--view"]).contains("* (org.example.C, app2)\n"), "{program}");
        ostree(os_args![d, "fsck"]);
        made.push(listing(&m));
    }
    // ostree 2022.7 means to reuse a repos.d link that leads to the
    // repository but compares the link's own inode, so its second run adds
    // 01-generated; uptree reuses 00-generated as intended.
    made[0].retain(|p| p != "./.ostree/repos.d/01-generated");
    assert_eq!(made[1], made[0], "uptree's stick has ostree's files");
    // Stricter than ostree, which copies it: a pull from the stick would
    // refuse a commit not bound to its collection–ref, so it is not written.
    let m = t.path().join("mount-unbound");
    fs::create_dir(&m).expect("mkdir");
    let err = up_fails(os_args![l, "create-usb", m, "org.example.C", "unbound"]);
    assert!(err.contains("Expected commit metadata to have ref binding information"), "{err}");
    assert!(!m.join(".ostree/repo/refs/mirrors/org.example.C/unbound").exists());
}

/// The summary of a repository with mirrored and remote collection refs
/// holds ostree's collection map, byte for byte but the time it was made
/// (test-summary-collections.sh); `summary --view` names them "(C, REF)".
#[test]
fn summary_collection_map_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (orepo, urepo) = init_both(t.path(), "archive");
    for (program, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let r = repo_arg(repo);
        ok(program, os_args![r, "commit", "-b", "main", "--timestamp=2024-01-01", tree.display().to_string()], &[]);
        ok(program, os_args![r, "refs", "--collections", "--create=org.example.Z:m", "main"], &[]);
        ok(program, os_args![r, "refs", "--collections", "--create=org.example.A:n/x", "main"], &[]);
        ok(program, os_args![r, "remote", "add", "--no-sign-verify", "--collection-id=org.example.R", "rem", "http://r.example.com/"], &[]);
        ok(program, os_args![r, "refs", "main", "--create=rem:rref"], &[]);
        ok(program, os_args![r, "summary", "-u"], &[]);
    }
    let masked = |repo: &std::path::Path| {
        let raw = ostree(os_args![repo_arg(repo), "summary", "--raw"]);
        let at = raw.find("'ostree.summary.last-modified': <uint64 ").expect("last-modified");
        let end = raw[at..].find('>').expect("end") + at;
        format!("{}{}", &raw[..at], &raw[end..])
    };
    assert_eq!(masked(&urepo), masked(&orepo));
    let view = up(os_args![repo_arg(&urepo), "summary", "--view"]);
    assert!(view.contains("* (org.example.A, n/x)\n") && view.contains("* (org.example.R, rref)\n"), "{view}");
    assert!(view.contains("\nCollection Map (ostree.summary.collection-map): (printed above)\n"), "{view}");
}

/// `fsck --verify-bindings` / `--verify-back-refs` find the binding
/// problems ostree finds, in its words (test-fsck-collections.sh), and a
/// mirrored ref whose commit is gone fails fsck.
#[test]
fn fsck_bindings_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let repos = [t.path().join("o"), t.path().join("u")];
    for repo in &repos {
        let r = repo_arg(repo);
        ostree(os_args![r, "init", "--collection-id=org.example.Collection"]);
        ostree(os_args![r, "commit", "-b", "ref1", "--timestamp=2024-01-01", tree.display().to_string()]);
        let c = ostree(os_args![r, "rev-parse", "ref1"]);
        ostree(os_args![r, "refs", "--create=new-ref", c]);
        ostree(os_args![r, "refs", "--collections", format!("--create=org.example.Collection2:ref1"), c]);
    }
    let r = [repo_arg(&repos[0]), repo_arg(&repos[1])];
    ostree(os_args![r[0], "fsck"]);
    up(os_args![r[1], "fsck"]);
    for flag in ["--verify-bindings", "--verify-back-refs"] {
        if flag == "--verify-back-refs" {
            // Bindings to refs that are gone: only --verify-back-refs minds.
            for rr in &r {
                ostree(os_args![rr, "refs", "--delete", "ref1", "new-ref"]);
                ostree(os_args![rr, "refs", "--collections", "--delete", "org.example.Collection2"]);
            }
            ostree(os_args![r[0], "fsck", "--verify-bindings"]);
            up(os_args![r[1], "fsck", "--verify-bindings"]);
        }
        let o = fails("ostree", os_args![r[0], "fsck", flag], &[]);
        let u = fails(uptree_bin(), os_args![r[1], "fsck", flag], &[]);
        // ostree stops at its first problem; uptree reports them all.
        let first = o.lines().find(|l| l.starts_with("error: ")).expect("an error line");
        assert!(u.lines().any(|l| l == first), "{flag}: ostree said {first:?}, uptree:\n{u}");
    }
    for repo in &repos {
        let c = ostree(os_args![repo_arg(repo), "rev-parse", "--single"]);
        ostree(os_args![repo_arg(repo), "refs", "--collections", "--create=org.example.Collection2:ref1", c]);
        for e in fs::read_dir(repo.join("objects")).expect("objects").flatten() {
            for f in fs::read_dir(e.path()).expect("dir").flatten() {
                if f.path().extension().is_some_and(|x| x == "commit") {
                    fs::remove_file(f.path()).expect("rm");
                }
            }
        }
    }
    fails("ostree", os_args![r[0], "fsck"], &[]);
    let u = fails(uptree_bin(), os_args![r[1], "fsck"], &[]);
    assert!(u.contains("(org.example.Collection2, ref1)"), "{u}");
}

/// Mirrored collection refs keep their commits alive through prune, and
/// `prune --delete-commit` refuses a commit a ref points at
/// (test-prune-collections.sh); ostree agrees on the result.
#[test]
fn prune_keeps_mirrored_refs() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (_, urepo) = init_both(t.path(), "archive");
    let r = repo_arg(&urepo);
    up(os_args![r, "commit", "-b", "orig", tree.display().to_string()]);
    let c = up(os_args![r, "rev-parse", "orig"]);
    up(os_args![r, "refs", "--collections", "--create=org.example.C:some", c]);
    let err = up_fails(os_args![r, "prune", format!("--delete-commit={c}")]);
    assert!(err.contains(&format!("Commit '{c}' is referenced by")), "{err}");
    up(os_args![r, "refs", "--delete", "orig"]);
    assert!(up(os_args![r, "prune", "--refs-only"]).ends_with("No unreachable objects"));
    ostree(os_args![r, "fsck"]);
    up(os_args![r, "refs", "--collections", "--delete", "org.example.C"]);
    let out = up(os_args![r, "prune", "--refs-only"]);
    assert!(out.contains("Deleted 4 objects"), "commit, dirtree, dirmeta, file: {out}");
}

/// `static-delta generate --if-not-exists` leaves an existing delta alone
/// and says so in ostree's words (test-delta.sh).
#[test]
fn delta_generate_if_not_exists() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let (_, urepo) = init_both(t.path(), "archive");
    let r = repo_arg(&urepo);
    let c = up(os_args![r, "commit", "-b", "main", tree.display().to_string()]);
    up(os_args![r, "static-delta", "generate", "--empty", format!("--to={c}")]);
    let sb = fs::read_dir(urepo.join("deltas")).expect("deltas").flatten().next().expect("a delta").path();
    let before = fs::metadata(&sb).expect("stat").modified().expect("mtime");
    let out = up(os_args![r, "static-delta", "generate", "--if-not-exists", "--empty", format!("--to={c}")]);
    assert_eq!(out, format!("Delta {c} already exists."));
    assert_eq!(fs::metadata(&sb).expect("stat").modified().expect("mtime"), before);
    assert!(ostree(os_args![r, "static-delta", "list"]).contains(&c));
}

/// `checksum PATH` prints what ostree prints for a file (with and without
/// its xattrs), a symlink and a directory (basic-test.sh "checksum CLI").
#[test]
fn checksum_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 755 one\nd sub 700\nf sub/b 600 two");
    std::os::unix::fs::symlink("a", tree.join("l")).expect("symlink");
    let st = std::process::Command::new("setfattr").args(["-n", "user.k", "-v", "v"]).arg(tree.join("a")).status().expect("setfattr");
    assert!(st.success());
    for p in ["a", "sub", "sub/b", "l"] {
        let p = tree.join(p).display().to_string();
        for args in [vec!["checksum", p.as_str()], vec!["checksum", "--ignore-xattrs", p.as_str()]] {
            let (ok_o, want, _) = run_out("ostree", &args);
            let (ok_u, got, err) = run_out(uptree_bin(), &args);
            assert!(ok_o && ok_u, "{args:?}: {err}");
            assert_eq!(got, want, "{args:?}");
        }
    }
    let (_, a, _) = run_out(uptree_bin(), &["checksum", &tree.join("a").display().to_string()]);
    let (_, a_bare, _) = run_out(uptree_bin(), &["checksum", "--ignore-xattrs", &tree.join("a").display().to_string()]);
    assert_ne!(a, a_bare, "the xattr is part of the checksum");
    let (ok, _, err) = run_out(uptree_bin(), &["checksum", &tree.join("nope").display().to_string()]);
    assert!(!ok && err.contains("No such file or directory"), "{err}");
}

/// `commit --generate-sizes` writes the same `ostree.sizes` as ostree (the
/// commit checksums agree), only in archive repositories, and
/// `show --print-sizes` prints what ostree prints, counting the objects
/// the repository lacks as needed (test-pull-sizes.sh).
#[test]
fn generate_and_print_sizes_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 hello\nd sub 755\nf sub/b 600 world\nf sub/same 644 hello\nd sub/deeper 700\nf sub/deeper/c 755 more");
    std::os::unix::fs::symlink("a", tree.join("l")).expect("symlink");
    fs::write(tree.join("big"), vec![7u8; 300_000]).expect("big");
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree_arg = tree.display().to_string();
    let commit = |program: &str, r: &std::path::Path| {
        let (ok, stdout, stderr) =
            run_out(program, &[&repo_arg(r), "commit", "-b", "m", "--generate-sizes", "--timestamp=2020-01-01T00:00:00Z", "-s", "subj", &tree_arg]);
        assert!(ok, "{program}: {stderr}");
        stdout
    };
    assert_eq!(commit(uptree_bin(), &urepo), commit("ostree", &orepo));
    let show = |program: &str, r: &std::path::Path| {
        let (ok, stdout, stderr) = run_out(program, &[&repo_arg(r), "show", "--print-sizes", "m"]);
        assert!(ok, "{program}: {stderr}");
        stdout
    };
    let printed = show("ostree", &orepo);
    assert!(printed.contains("Number of objects (needed/total): 0/"), "{printed}");
    assert_eq!(show(uptree_bin(), &urepo), printed);
    // A repository missing a file object and a dirtree: both counted as needed.
    let file = ostree(os_args![repo_arg(&orepo), "ls", "-C", "m", "/big"]);
    let file = file.split_whitespace().nth(4).expect("checksum column").to_string();
    let sub = ostree(os_args![repo_arg(&orepo), "ls", "-C", "-d", "m", "/sub"]);
    let sub = sub.split_whitespace().nth(4).expect("dirtree column").to_string();
    fs::remove_file(find_object(&urepo, &file, "filez")).expect("rm file");
    fs::remove_file(find_object(&urepo, &sub, "dirtree")).expect("rm dirtree");
    let (ro, ru) = (t.path().join("copy-o"), t.path().join("copy-u"));
    copy_dir(&urepo, &ro);
    copy_dir(&urepo, &ru);
    let printed = show("ostree", &ro);
    assert!(printed.contains("Number of objects (needed/total): 2/"), "{printed}");
    assert!(printed.contains("/300.4\u{a0}kB\n"), "the big file compresses well, unpacked it is 300 kB: {printed}");
    assert_eq!(show(uptree_bin(), &ru), printed);
    // Not in a bare-user repository: no key, in ostree's words.
    let (orepo, urepo) = init_both(t.path(), "bare-user");
    assert_eq!(commit(uptree_bin(), &urepo), commit("ostree", &orepo));
    for (program, r) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let (ok, _, stderr) = run_out(program, &[&repo_arg(r), "show", "--print-sizes", "m"]);
        assert!(!ok && stderr.contains("No metadata key ostree.sizes in commit"), "{program}: {stderr}");
    }
}

/// `commit --base=REV` lays the directory over REV's tree, the owner
/// options touching only what the directory adds: the same commit as
/// ostree's (archive-test.sh "commit overlay base").
#[test]
fn commit_base_as_ostree() {
    let t = scratch();
    let (base, over) = (t.path().join("base"), t.path().join("over"));
    build_tree(&base, "f a 644 one\nd sub 755\nf sub/b 600 two\nf sub/keep 644 kept");
    build_tree(&over, "f new 644 three\nd sub 700\nf sub/b 644 replaced");
    let (orepo, urepo) = init_both(t.path(), "archive");
    let (b, o) = (base.display().to_string(), over.display().to_string());
    let mut got = Vec::new();
    for (program, r) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let ra = repo_arg(r);
        let fixed = ["--timestamp=2020-01-01T00:00:00Z", "-s", "subj"];
        let (ok, base_rev, err) = run_out(program, &[&ra, "commit", "-b", "base", fixed[0], fixed[1], fixed[2], &b]);
        assert!(ok, "{program}: {err}");
        let (ok, rev, err) =
            run_out(program, &[&ra, "commit", "-b", "top", "--base", "base", "--owner-uid", "42", "--owner-gid", "42", fixed[0], fixed[1], fixed[2], &o]);
        assert!(ok, "{program}: {err}");
        let (ok, _, err) = run_out(program, &[&ra, "commit", "-b", "x", "--base", "nosuchref", &o]);
        assert!(!ok && err.contains("nosuchref"), "{program}: {err}");
        got.push((base_rev, rev));
    }
    assert_eq!(got[0], got[1]);
    let ls = ostree(os_args![repo_arg(&urepo), "ls", "-R", "top"]);
    assert!(ls.contains("/sub/keep") && ls.contains("/a"), "the base's files stay: {ls}");
    assert_eq!(ls.lines().filter(|l| l.contains(" 42 42 ")).count(), 4, "/, /new, /sub, /sub/b: {ls}");
}

/// `commit --statoverride=FILE` (pull-test.sh): "MODE /path" adds MODE,
/// "=MODE /path" sets the permissions, MODE in decimal; an entry matching
/// nothing and a line without a space are refused, as ostree does.
#[test]
fn commit_statoverride_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one\nd sub 755\nf sub/b 644 two");
    let so = t.path().join("so.txt");
    fs::write(&so, "2048 /a\n=448 /sub\n").expect("write");
    let (orepo, urepo) = init_both(t.path(), "archive");
    let tree_arg = format!("--tree=dir={}", tree.display());
    let so_arg = format!("--statoverride={}", so.display());
    let mut listings = Vec::new();
    for (program, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
        let (ok, _, stderr) = run_out(program, &[&repo_arg(repo), "commit", "-b", "main", &so_arg, &tree_arg]);
        assert!(ok, "{program}: {stderr}");
        listings.push(ostree(os_args![repo_arg(repo), "ls", "-R", "main"]));
    }
    assert!(listings[1].contains("-04644 0 0      3 /a") && listings[1].contains("d00700 0 0      0 /sub"), "{}", listings[1]);
    assert_eq!(listings[0], listings[1]);
    for (text, words) in [("2048 /nope\n", "Unmatched statoverride path"), ("bad\n", "Malformed statoverride file (no space found)")] {
        fs::write(&so, text).expect("write");
        for (program, repo) in [("ostree", &orepo), (uptree_bin(), &urepo)] {
            let (ok, _, stderr) = run_out(program, &[&repo_arg(repo), "commit", "-b", "other", &so_arg, &tree_arg]);
            assert!(!ok && stderr.contains(words), "{program} {text:?}: {stderr}");
            assert!(!repo.join("refs/heads/other").exists(), "{program} {text:?}");
        }
    }
}

/// A partial commit (pulled with --subpath) is left out of "Verifying
/// content integrity of N commit objects" and counted as not verified
/// (test-oldstyle-partial.sh): the same stdout as ostree's.
#[test]
fn fsck_partial_commit_as_ostree() {
    let t = scratch();
    let tree = t.path().join("tree");
    build_tree(&tree, "f a 644 one\nd sub 755\nf sub/b 644 two");
    let (src, _) = init_both(t.path(), "archive");
    ostree(os_args![repo_arg(&src), "commit", "-b", "main", tree.display().to_string()]);
    let r = t.path().join("partial");
    ostree(os_args![repo_arg(&r), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&r), "remote", "add", "--no-gpg-verify", "origin", format!("file://{}", src.display())]);
    ostree(os_args![repo_arg(&r), "pull", "--subpath=/sub", "origin", "main"]);
    let ra = repo_arg(&r);
    let (ook, ostdout, _) = run_out("ostree", &[&ra, "fsck"]);
    let (uok, ustdout, ustderr) = run_out(uptree_bin(), &[&ra, "fsck"]);
    assert!(ostdout.contains("Verifying content integrity of 0 commit objects...\n1 partial commits not verified\n"), "{ostdout}");
    assert_eq!((uok, ustdout.as_str()), (ook, ostdout.as_str()), "{ustderr}");
}

fn osv(v: &[String]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(std::ffi::OsStr::new).collect()
}

/// The value of `uint64 N` right after `at` in GVariant text.
fn uint64_after(text: &str, at: &str) -> String {
    let i = text.find(at).unwrap_or_else(|| panic!("{at:?} in {text}")) + at.len();
    text[i..].chars().take_while(char::is_ascii_digit).collect()
}

/// `summary -u --add-metadata`/`-m` (test-summary-update.sh): GVariant text
/// values, and a summary byte-identical to ostree's made at the same second
/// (extra keys land in GLib's hash-table order; a well-known key given
/// there is overwritten, as by ostree). With a collection ID the extra
/// metadata also goes into a commit on ostree-metadata, the same commit
/// object as ostree's.
#[test]
fn summary_add_metadata_byte_identical_to_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let extra = [
        "--add-metadata",
        "key='value'",
        "--add-metadata=key2=true",
        "-m",
        "some-int=@t 123",
        "--add-metadata=map=@a{sv} {}",
        "-m",
        "ostree.summary.tombstone-commits=true",
        "-m",
        "list=[1, 2]",
        "-m",
        "nested=<(@as [], {'k': <b'x'>}, uint16 7, -2.5)>",
    ];
    for cid in [None, Some("org.example.Collection1")] {
        let dir = t.path().join(cid.unwrap_or("plain"));
        let orepo = dir.join("o");
        fs::create_dir_all(&dir).expect("mkdir");
        let mut init = vec![repo_arg(&orepo), "init".into(), "--mode=archive".into()];
        init.extend(cid.map(|c| format!("--collection-id={c}")));
        ok("ostree", &osv(&init), &[]);
        ostree(os_args![repo_arg(&orepo), "commit", "-b", "main", "--timestamp=2024-01-01", tree.display().to_string()]);
        // A first update, so that the metadata commit has a parent.
        ostree(os_args![repo_arg(&orepo), "summary", "-u"]);
        let urepo = dir.join("u");
        ok("cp", os_args!["-a", orepo, urepo], &[]);
        let mut args = vec![repo_arg(&orepo), "summary".into(), "-u".into()];
        args.extend(extra.iter().map(|a| a.to_string()));
        ok("ostree", &osv(&args), &[]);
        let raw = ostree(os_args![repo_arg(&orepo), "summary", "--raw"]);
        // Made at ostree's second: the metadata commit's time where there is one.
        let when = match cid {
            Some(_) => uint64_after(&ostree(os_args![repo_arg(&orepo), "show", "ostree-metadata", "--raw"]), "'', '', uint64 "),
            None => uint64_after(&raw, "'ostree.summary.last-modified': <uint64 "),
        };
        args[0] = repo_arg(&urepo);
        ok(uptree_bin(), &osv(&args), &[("SOURCE_DATE_EPOCH", &when)]);
        if cid.is_some() {
            let rev = |r: &std::path::Path| ostree(os_args![repo_arg(r), "rev-parse", "ostree-metadata"]);
            assert_eq!(rev(&urepo), rev(&orepo), "the same ostree-metadata commit");
            assert_eq!(ostree(os_args![repo_arg(&urepo), "log", "ostree-metadata"]).matches("commit ").count(), 2);
            let shown = up(os_args![repo_arg(&urepo), "show", "ostree-metadata", "--raw"]);
            assert_eq!(shown, ostree(os_args![repo_arg(&orepo), "show", "ostree-metadata", "--raw"]));
            assert!(shown.contains("'map': <@a{sv} {}>"), "{shown}");
            ostree(os_args![repo_arg(&urepo), "fsck"]);
        }
        let (o, u) = (fs::read(orepo.join("summary")).expect("summary"), fs::read(urepo.join("summary")).expect("summary"));
        if uint64_after(&raw, "'ostree.summary.last-modified': <uint64 ") == when {
            assert!(o == u, "summaries differ:\nostree: {raw}\nuptree: {}", ostree(os_args![repo_arg(&urepo), "summary", "--raw"]));
        } else {
            // ostree's summary came a second after its commit: all but the time.
            let mask = |r: &std::path::Path| {
                let raw = ostree(os_args![repo_arg(r), "summary", "--raw"]);
                // Only that key: the metadata commit's own timestamp may
                // equal it in one summary and not in the other.
                let key = "'ostree.summary.last-modified': <uint64 ";
                raw.replace(&format!("{key}{}>", uint64_after(&raw, key)), &format!("{key}T>"))
            };
            assert_eq!(mask(&urepo), mask(&orepo));
        }
        let view = up(os_args![repo_arg(&urepo), "summary", "--view"]);
        assert_eq!(view, ostree(os_args![repo_arg(&urepo), "summary", "--view"]));
        assert!(view.contains("\nmap: {}\n") && view.contains("\nsome-int: 123\n"), "{view}");
    }
    let bad = up_fails(os_args![repo_arg(&t.path().join("plain/u")), "summary", "-u", "-m", "novalue"]);
    assert!(bad.contains("Missing '=' in KEY=VALUE metadata 'novalue'"), "{bad}");
    let bad = up_fails(os_args![repo_arg(&t.path().join("plain/u")), "summary", "-u", "-m", "k=unquoted"]);
    assert!(bad.contains("Error parsing variant"), "{bad}");
}

/// `commit --add-metadata` (GVariant text), `--keep-metadata` and
/// `--add-detached-metadata-string` (basic-test.sh): the same commits and
/// detached metadata as ostree's, byte for byte, and `show` prints them as
/// ostree does (numbers converted from big endian unless `-B`).
#[test]
fn commit_metadata_options_as_ostree() {
    let t = scratch();
    let tree = one_file_tree(t.path());
    let tree = tree.display().to_string();
    let mut commits = Vec::new();
    for (prog, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let repo = t.path().join(name);
        let run = |args: &[&str]| {
            let (ok, out, err) = run_out(prog, &[&[&format!("--repo={}", repo.display()) as &str][..], args].concat());
            assert!(ok, "{prog} {args:?}: {err}");
            out
        };
        run(&["init", "--mode=archive"]);
        let first = run(&[
            "commit",
            "-b",
            "m",
            "--timestamp=@0",
            "-s",
            "s",
            "--add-metadata-string=FOO=BAR",
            "--add-detached-metadata-string=SIGNATURE=HANCOCK",
            "--add-metadata=SOMENUM=uint64 42",
            "--add-metadata=map=@a{sv} {}",
            &tree,
        ]);
        let second =
            run(&["commit", "-b", "m", "--timestamp=@1", "--tree=ref=m", "--keep-metadata=SOMENUM", "--add-detached-metadata-string=SIGNATURE=HANCOCK"]);
        let (first, second) = (first.trim().to_string(), second.trim().to_string());
        let meta = std::fs::read(repo.join(format!("objects/{}/{}.commitmeta", &second[..2], &second[2..]))).expect("commitmeta");
        let shown: Vec<String> = [&["--print-metadata-key=SOMENUM"][..], &["-B", "--print-metadata-key=SOMENUM"], &["--print-detached-metadata-key=SIGNATURE"]]
            .iter()
            .map(|a| run(&[&["show", "m"][..], a].concat()))
            .collect();
        let (ok, _, err) = run_out(prog, &[&format!("--repo={}", repo.display()), "show", "m", "--print-metadata-key=FOO"]);
        assert!(!ok && err.contains("No such metadata key 'FOO'"), "{prog}: FOO is not kept without --keep-metadata: {err}");
        commits.push((first, second, meta, shown));
    }
    assert_eq!(commits[0], commits[1]);
    assert_eq!(commits[1].3[0], "uint64 3026418949592973312\n");
}
