//! `prune` and tombstones as ostree's test-prune.sh uses them: the same
//! steps run with the real `ostree` on one copy of a repository and with
//! uptree on another, and the objects left behind must be the same files.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::*;

/// Every file below `objects/` with its bytes: the whole object store.
fn objects(repo: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for d in fs::read_dir(repo.join("objects")).expect("objects").flatten() {
        for f in fs::read_dir(d.path()).expect("objects/XX").flatten() {
            let name = format!("{}/{}", d.file_name().to_string_lossy(), f.file_name().to_string_lossy());
            out.insert(name, fs::read(f.path()).expect("read object"));
        }
    }
    out
}

fn count(objs: &BTreeMap<String, Vec<u8>>, ext: &str) -> usize {
    objs.keys().filter(|k| k.ends_with(ext)).count()
}

/// A source repository (made by ostree) with `branches`, each holding
/// commits at the given dates, on a tree that changes every commit.
fn source(dir: &Path, branches: &[&str], dates: &[&str]) -> std::path::PathBuf {
    let src = dir.join("src");
    ostree(os_args![repo_arg(&src), "init", "--mode=archive"]);
    let tree = dir.join("tree");
    for (i, date) in dates.iter().enumerate() {
        build_tree(&tree, &format!("f a 644 content{i}"));
        for b in branches {
            ostree(os_args![repo_arg(&src), "commit", "-b", b, format!("--timestamp={date}"), "-s", format!("{b} {i}"), tree.display().to_string()]);
        }
    }
    src
}

/// Copies of `src` for ostree and uptree (each pulled with its own tool).
fn copies(dir: &Path, src: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (o, u) = (dir.join(format!("{name}-ostree")), dir.join(format!("{name}-uptree")));
    ostree(os_args![repo_arg(&o), "init", "--mode=archive"]);
    ostree(os_args![repo_arg(&o), "pull-local", "--depth=-1", src.display().to_string()]);
    up(os_args![repo_arg(&u), "init", "--mode=archive"]);
    up(os_args![repo_arg(&u), "pull-local", "--depth=-1", src.display().to_string()]);
    assert_eq!(objects(&o), objects(&u), "{name}: the copies start equal");
    (o, u)
}

/// Tombstones: `fsck --add-tombstones` replaces commits whose parent is
/// gone (and turns `core.tombstone-commits` on), later prunes leave a
/// `.tombstone-commit` for each commit they delete, byte for byte as
/// ostree's, and a commit pulled back loses its tombstone.
#[test]
fn tombstones_as_ostree() {
    let t = scratch();
    let src = source(t.path(), &["test"], &["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]);
    let (o, u) = copies(t.path(), &src, "r");
    ostree(os_args![repo_arg(&o), "prune", "--refs-only", "--depth=1"]);
    up(os_args![repo_arg(&u), "prune", "--refs-only", "--depth=1"]);
    assert_eq!(objects(&o), objects(&u), "depth=1, tombstones still off");
    assert_eq!(count(&objects(&u), ".tombstone-commit"), 0);

    let oout = ostree(os_args![repo_arg(&o), "fsck", "--add-tombstones"]);
    let uout = up(os_args![repo_arg(&u), "fsck", "--add-tombstones"]);
    let adding = |s: &str| s.lines().filter(|l| l.starts_with("Adding tombstone for commit ")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(adding(&uout), adding(&oout));
    assert_eq!(adding(&uout).len(), 1, "{uout}");
    assert!(fs::read_to_string(u.join("config")).expect("config").contains("tombstone-commits=true"));
    assert_eq!(objects(&o), objects(&u), "after fsck --add-tombstones");

    ostree(os_args![repo_arg(&o), "pull-local", "--depth=-1", src.display().to_string()]);
    up(os_args![repo_arg(&u), "pull-local", "--depth=-1", src.display().to_string()]);
    assert_eq!(count(&objects(&u), ".tombstone-commit"), 0, "pulled back: no tombstone");
    assert_eq!(count(&objects(&u), ".commit"), 4);

    ostree(os_args![repo_arg(&o), "prune", "--refs-only", "--depth=0"]);
    up(os_args![repo_arg(&u), "prune", "--refs-only", "--depth=0"]);
    let uobjs = objects(&u);
    assert_eq!(count(&uobjs, ".tombstone-commit"), 3);
    assert_eq!(objects(&o), uobjs, "prune with tombstones on");
    ostree(os_args![repo_arg(&u), "fsck"]);
}

/// `--delete-commit` turns tombstones on (as ostree), and
/// `--static-deltas-only` deletes only the deltas to that commit.
#[test]
fn delete_commit_and_static_deltas_only() {
    let t = scratch();
    let src = source(t.path(), &["test"], &["2020-01-01", "2020-01-02", "2020-01-03"]);
    let (o, u) = copies(t.path(), &src, "r");
    let first = ostree(os_args![repo_arg(&o), "rev-parse", "test^^"]);
    ostree(os_args![repo_arg(&o), "prune", format!("--delete-commit={first}")]);
    up(os_args![repo_arg(&u), "prune", format!("--delete-commit={first}")]);
    assert_eq!(objects(&o), objects(&u));
    assert_eq!(count(&objects(&u), ".tombstone-commit"), 1);

    up(os_args![repo_arg(&u), "static-delta", "generate", "test"]);
    up(os_args![repo_arg(&u), "static-delta", "generate", "--empty", "test^"]);
    let err = up_fails(os_args![repo_arg(&u), "prune", "--static-deltas-only", "--keep-younger-than=2020-01-01"]);
    assert!(err.contains("--static-deltas-only requires --delete-commit"), "{err}");
    let head = up(os_args![repo_arg(&u), "rev-parse", "test"]);
    up(os_args![repo_arg(&u), "prune", "--static-deltas-only", format!("--delete-commit={head}")]);
    let left = ostree(os_args![repo_arg(&u), "static-delta", "list"]);
    let second = up(os_args![repo_arg(&u), "rev-parse", "test^"]);
    assert_eq!(left, second, "only the delta to test^ is left");
    assert!(up(os_args![repo_arg(&u), "rev-parse", "test"]) == head, "the commit itself stays");
}

/// `--only-branch`, `--retain-branch-depth`, `--commit-only` and
/// `--keep-younger-than` leave exactly the objects ostree leaves.
#[test]
fn branch_options_as_ostree() {
    let t = scratch();
    let src = source(t.path(), &["stable", "dev"], &["October 1 1985", "October 2 1985", "2020-01-01", "2020-01-02"]);
    let cases: &[&[&str]] = &[
        &["--only-branch=dev", "--depth=0"],
        &["--only-branch=dev", "--depth=1"],
        &["--only-branch=dev", "--only-branch=stable", "--depth=0"],
        &["--depth=0", "--retain-branch-depth=stable=-1"],
        &["--only-branch=dev", "--depth=0", "--retain-branch-depth=stable=2"],
        &["--keep-younger-than=2000-01-01", "--retain-branch-depth=stable=1"],
        &["--only-branch=stable", "--keep-younger-than=2000-01-01"],
        &["--commit-only", "--only-branch=dev", "--depth=0"],
        &["--commit-only", "--refs-only", "--depth=1"],
    ];
    for (i, args) in cases.iter().enumerate() {
        let (o, u) = copies(t.path(), &src, &format!("c{i}"));
        let oout = ostree(
            &[&[std::ffi::OsStr::new(&repo_arg(&o)), std::ffi::OsStr::new("prune")][..], &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>()].concat(),
        );
        let uout =
            up(&[&[std::ffi::OsStr::new(&repo_arg(&u)), std::ffi::OsStr::new("prune")][..], &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>()]
                .concat());
        assert_eq!(uout, oout, "{args:?}");
        assert_eq!(objects(&o), objects(&u), "{args:?}");
    }
    let (_, u) = copies(t.path(), &src, "bad");
    let err = up_fails(os_args![repo_arg(&u), "prune", "--keep-younger-than=1 week ago", "--retain-branch-depth=stable=BACON"]);
    assert!(err.contains("Invalid depth BACON"), "{err}");
    let err = up_fails(os_args![repo_arg(&u), "prune", "--only-branch=BACON"]);
    assert!(err.contains("Refspec 'BACON' not found"), "{err}");
}

/// A repository with `core.parent` reads the objects it lacks from its
/// parent: a local pull stores only what the parent does not have, and
/// pruning it never reaches into the parent.
#[test]
fn parent_repository() {
    let t = scratch();
    let files = t.path().join("files");
    build_tree(&files, "f a1 644 afile1\nf a2 644 afile2");
    let mut parents = Vec::new();
    for tool in ["ostree", "uptree"] {
        let (parent, child, tmp) = (t.path().join(format!("{tool}-parent")), t.path().join(format!("{tool}-child")), t.path().join(format!("{tool}-tmp")));
        for r in [&parent, &child, &tmp] {
            ostree(os_args![repo_arg(r), "init", "--mode=archive"]);
        }
        let mut cfg = fs::read_to_string(child.join("config")).expect("config");
        cfg.push_str(&format!("parent={}\n", parent.display()));
        fs::write(child.join("config"), cfg).expect("config");
        let run = |args: &[&std::ffi::OsStr]| if tool == "ostree" { ostree(args) } else { up(args) };
        run(os_args![repo_arg(&parent), "commit", "-b", "test", "--timestamp=2020-01-01", files.display().to_string()]);
        parents.push(objects(&parent));
        let mut more = files.clone();
        more.push("a3");
        fs::write(&more, "afile3\n").expect("write");
        run(os_args![repo_arg(&tmp), "commit", "-b", "childtest", "--timestamp=2020-01-01", files.display().to_string()]);
        run(os_args![repo_arg(&child), "pull-local", tmp.display().to_string(), "childtest"]);
        fs::remove_file(&more).expect("rm");
        let filez = objects(&child).keys().filter(|k| k.ends_with(".filez")).count();
        assert_eq!(filez, 1, "{tool}: only the new file is stored in the child");
        run(os_args![repo_arg(&parent), "refs", "--delete", "test"]);
        let out = run(os_args![repo_arg(&child), "prune", "--refs-only", "--depth=0"]);
        assert!(out.ends_with("No unreachable objects"), "{tool}: {out}");
        parents.push(objects(&child));
        let ls = run(os_args![repo_arg(&child), "ls", "-R", "childtest"]);
        assert!(ls.contains("/a1") && ls.contains("/a3"), "{tool}: {ls}");
    }
    assert_eq!(parents[0], parents[2], "the parents");
    assert_eq!(parents[1], parents[3], "the children");
}
