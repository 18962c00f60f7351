//! Bad input gets a clear error and loses nothing: corrupt objects,
//! hostile names, device nodes, escaping symlinks, truncated data, and
//! decompression bombs.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use ostree_repo::gvariant::build;
use ostree_repo::object::{Commit, DirMeta, DirTree, FileMeta, ObjectType};
use ostree_repo::{Checksum, RefName, Repo, RepoMode};

fn committed(mode: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", format!("--mode={mode}")]);
    let c = up(os_args![repo_arg(&repo), "commit", "-b", "os", tree.display().to_string()]);
    (t, repo, c)
}

/// Checksum of a file, or the dirtree of a directory, at `path`.
fn object_of(repo: &Path, rev: &str, path: &str) -> String {
    let line = up(os_args![repo_arg(repo), "ls", "-C", "-d", rev, path]);
    line.split_whitespace().nth(4).expect("checksum").to_string()
}

fn copy_repo(src: &Path, dst: &Path) {
    ok("cp", os_args!["-a", src.display().to_string(), dst.display().to_string()], &[]);
}

#[test]
fn fsck_catches_one_flipped_byte() {
    for mode in ["archive", "bare-user"] {
        let (t, repo, commit) = committed(mode);
        up(os_args![repo_arg(&repo), "fsck"]);
        let file_csum = object_of(&repo, "os", "/etc-conf");
        let big_csum = object_of(&repo, "os", "/usr/lib/big-text.txt");
        let tree_csum = object_of(&repo, "os", "/usr/share/many");
        let ext = if mode == "archive" { "filez" } else { "file" };
        let cases = [
            (file_csum.clone(), ext, 40usize, "small content object"),
            (big_csum, ext, 100_000, "large content object"),
            (tree_csum, "dirtree", 10, "dirtree"),
            (commit.clone(), "commit", 3, "commit"),
        ];
        for (i, (csum, ext, off, what)) in cases.iter().enumerate() {
            let copy = t.path().join(format!("copy{i}"));
            copy_repo(&repo, &copy);
            flip_byte(&find_object(&copy, csum, ext), *off);
            let err = up_fails(os_args![repo_arg(&copy), "fsck"]);
            assert!(err.contains(csum.as_str()), "{mode}: fsck must name the {what} {csum}:\n{err}");
            // ostree agrees the repo is corrupt.
            assert!(
                !std::process::Command::new("ostree").arg(repo_arg(&copy)).arg("fsck").output().expect("ostree").status.success(),
                "{mode}: ostree fsck should fail too ({what})"
            );
            // Reading it is a clear error, never a panic or wrong data: metadata
            // is verified on load, content whenever checkout copies it.
            let co = t.path().join(format!("co{i}"));
            let err = up_fails(os_args![repo_arg(&copy), "checkout", "--force-copy", "os", co.display().to_string()]);
            assert!(err.contains(csum.as_str()) || err.contains("checksum mismatch") || err.contains("compressed"), "{mode} {what}: {err}");
            let out = std::process::Command::new(uptree_bin()).arg(repo_arg(&copy)).args(["fsck", "--json"]).output().expect("fsck --json");
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("fsck --json prints JSON");
            assert_eq!(report["clean"], false);
            assert!(report["problems"].as_array().expect("problems").iter().any(|p| p["checksum"] == csum.as_str()), "{report}");
        }
        // --delete removes the bad object and marks the commit partial so a
        // pull can fetch it again.
        let copy = t.path().join("repair");
        copy_repo(&repo, &copy);
        flip_byte(&find_object(&copy, &file_csum, ext), 40);
        up_fails(os_args![repo_arg(&copy), "fsck", "--delete"]);
        assert!(!copy.join("objects").join(&file_csum[..2]).join(format!("{}.{ext}", &file_csum[2..])).exists());
        assert!(copy.join(format!("state/{commit}.commitpartial")).exists());
        // As ostree's (test-fsck-delete.sh): fsck keeps failing until a pull repairs it.
        let err = up_fails(os_args![repo_arg(&copy), "fsck"]);
        assert!(err.contains("error: 1 partial commits from fsck-detected corruption"), "{err}");
    }
}

#[test]
fn truncated_and_bomb_objects_are_errors() {
    let (t, repo, _) = committed("archive");
    let csum = object_of(&repo, "os", "/usr/lib/big-text.txt");
    let obj = find_object(&repo, &csum, "filez");
    let full = fs::read(&obj).expect("read");
    // Truncated body.
    let copy = t.path().join("trunc");
    copy_repo(&repo, &copy);
    let p = find_object(&copy, &csum, "filez");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&p, &full[..full.len() / 2]).expect("truncate");
    let err = up_fails(os_args![repo_arg(&copy), "cat", "os", "/usr/lib/big-text.txt"]);
    assert!(err.contains("truncated") || err.contains("missing") || err.contains("compressed"), "{err}");
    let err = up_fails(os_args![repo_arg(&copy), "fsck"]);
    assert!(err.contains(&csum), "{err}");
    // Truncated header.
    fs::write(&p, &full[..5]).expect("truncate header");
    let err = up_fails(os_args![repo_arg(&copy), "cat", "os", "/usr/lib/big-text.txt"]);
    assert!(err.contains("truncated content object header"), "{err}");

    // A .filez that declares 16 bytes but inflates to 256 MiB of zeros: the
    // reader stops at the declared size and reports it, without inflating it all.
    let bomb_repo = t.path().join("bomb");
    let r = Repo::init(&bomb_repo, RepoMode::Archive).expect("init");
    let meta = FileMeta { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: vec![] };
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        std::io::Write::write_all(&mut enc, &zeros).expect("deflate");
    }
    let body = enc.finish().expect("finish");
    let mut filez = meta.filez_prefix(16);
    filez.extend_from_slice(&body);
    let claimed = ostree_repo::object::content_checksum(&meta, &[0u8; 16]);
    let hex = claimed.to_hex();
    fs::create_dir_all(bomb_repo.join("objects").join(&hex[..2])).expect("mkdir");
    fs::write(bomb_repo.join("objects").join(&hex[..2]).join(format!("{}.filez", &hex[2..])), filez).expect("write bomb");
    let (_, content) = r.load_file(&claimed).expect("header parses");
    let ostree_repo::repo::Content::Regular(mut rd, size) = content else { panic!("regular") };
    assert_eq!(size, 16);
    let mut sink = Vec::new();
    let e = std::io::Read::read_to_end(&mut rd, &mut sink).expect_err("must refuse");
    assert!(e.to_string().contains("more than its declared size"), "{e}");
    assert!(sink.len() <= 16);
    let mut buf = vec![0u8; 4096];
    assert!(ostree_repo::fsck::verify_content(&r, &claimed, &mut buf).is_err());
}

#[test]
fn special_files_and_bad_names_are_refused_on_commit() {
    let t = scratch();
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    type MakeBad = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, MakeBad)> = vec![
        ("fifo", Box::new(|d: &Path| nix::unistd::mkfifo(&d.join("usr/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo"))),
        ("socket", Box::new(|d: &Path| drop(std::os::unix::net::UnixListener::bind(d.join("usr/sock")).expect("socket")))),
        (
            "device",
            Box::new(|d: &Path| {
                nix::sys::stat::mknod(
                    &d.join("usr/null"),
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::from_bits_truncate(0o666),
                    nix::sys::stat::makedev(1, 3),
                )
                .expect("mknod (needs root)")
            }),
        ),
        ("non-UTF-8 name", Box::new(|d: &Path| fs::write(d.join("usr").join(unsafe_name()), "x").expect("write"))),
    ];
    for (what, make) in cases {
        let tree = t.path().join(what.replace(' ', "_"));
        rich_tree(&tree);
        make(&tree);
        let err = up_fails(os_args![repo_arg(&repo), "commit", "-b", "x", tree.display().to_string()]);
        assert!(err.contains("error:"), "{what}: {err}");
        assert!(err.contains("usr/") || err.contains("UTF-8"), "{what}: error names the path: {err}");
        assert!(up(os_args![repo_arg(&repo), "refs"]).is_empty(), "{what}: no ref moved");
        // Nothing half-written: no staging left, no objects published.
        let staged: Vec<_> =
            fs::read_dir(repo.join("tmp")).expect("tmp").filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("staging-")).collect();
        assert!(staged.is_empty(), "{what}: staging left behind: {staged:?}");
        assert_eq!(fs::read_dir(repo.join("objects")).expect("objects").count(), 0, "{what}: objects published");
    }
    // Hostile tar entries.
    let evil = t.path().join("evil.tar");
    let mut b = tar::Builder::new(fs::File::create(&evil).expect("tar"));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h.clone(), "./", std::io::empty()).expect("root");
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    // The tar crate refuses to write `..` paths itself: poke the raw name.
    h.as_old_mut().name[..14].copy_from_slice(b"a/../../escape");
    h.set_cksum();
    b.append(&h, &b"evil"[..]).expect("entry");
    b.finish().expect("finish");
    drop(b);
    let err = up_fails(os_args![repo_arg(&repo), "commit", "-b", "x", format!("--tree=tar={}", evil.display())]);
    assert!(err.contains("Invalid uplink '..'"), "{err}");
    assert!(!t.path().join("escape").exists());
    up(os_args![repo_arg(&repo), "fsck"]);
}

fn unsafe_name() -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(vec![0xff, 0xfe, b'x'])
}

/// Write a commit whose root dirtree contains `name` pointing at a file.
fn craft_commit(repo: &Repo, name: &str, as_dir: bool) -> Checksum {
    let txn = repo.begin().expect("txn");
    let meta = FileMeta { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: vec![] };
    let f = txn.write_content(&meta, ostree_repo::repo::ContentSource::Bytes(b"pwned\n"), &mut Vec::new()).expect("content");
    let dm = txn.write_metadata(ObjectType::DirMeta, &DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: vec![] }.to_bytes()).expect("dirmeta");
    let inner = txn.write_metadata(ObjectType::DirTree, &DirTree { files: vec![("payload".into(), f)], dirs: vec![] }.to_bytes()).expect("inner");
    let root = if as_dir { DirTree { files: vec![], dirs: vec![(name.into(), inner, dm)] } } else { DirTree { files: vec![(name.into(), f)], dirs: vec![] } };
    let rt = txn.write_metadata(ObjectType::DirTree, &root.to_bytes()).expect("root");
    let c = Commit {
        metadata: vec![("version".into(), build::s("evil"))],
        parent: None,
        subject: "evil".into(),
        body: String::new(),
        timestamp: 0,
        root_tree: rt,
        root_meta: dm,
    };
    let csum = txn.write_metadata(ObjectType::Commit, &c.to_bytes()).expect("commit");
    txn.commit().expect("txn commit");
    repo.set_ref(&RefName::parse("evil").expect("ref"), Some(&csum)).expect("set ref");
    csum
}

#[test]
fn hostile_dirtree_names_never_escape_checkout() {
    for (name, as_dir) in [("..", true), ("../escaped", false), ("a/b", false), (".", true), ("", false)] {
        let t = scratch();
        let repo_path = t.path().join("repo");
        let repo = Repo::init(&repo_path, RepoMode::BareUser).expect("init");
        craft_commit(&repo, name, as_dir);
        let work = t.path().join("work");
        fs::create_dir(&work).expect("work");
        let dest = work.join("dest");
        let err = up_fails(os_args![repo_arg(&repo_path), "checkout", "-U", "evil", dest.display().to_string()]);
        assert!(err.contains("hostile file name"), "{name:?}: {err}");
        // Nothing was written outside DEST (nor, here, anything at all).
        let outside: Vec<_> = fs::read_dir(&work).expect("work").filter_map(Result::ok).map(|e| e.file_name()).filter(|n| n != "dest").collect();
        assert!(outside.is_empty(), "{name:?}: wrote outside dest: {outside:?}");
        assert!(!t.path().join("escaped").exists() && !t.path().join("payload").exists());
        let err = up_fails(os_args![repo_arg(&repo_path), "fsck"]);
        assert!(err.contains("dirtree"), "{name:?}: fsck flags the dirtree: {err}");
        // ostree refuses it as well.
        assert!(
            !std::process::Command::new("ostree")
                .arg(repo_arg(&repo_path))
                .args(["checkout", "-U", "evil"])
                .arg(work.join("o"))
                .output()
                .expect("ostree")
                .status
                .success(),
            "{name:?}: ostree checked it out"
        );
    }
}

#[test]
fn symlinks_in_the_tree_or_destination_never_redirect_writes() {
    let t = scratch();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).expect("outside");
    let tree = t.path().join("tree");
    build_tree(
        &tree,
        &format!("d . 755\nl escape {}\nl up ../../../../..\nd usr 755\nf usr/file 644 inside\nd etc 755\nf etc/passwd 644 mine\n", outside.display()),
    );
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    up(os_args![repo_arg(&repo), "commit", "-b", "os", tree.display().to_string()]);
    let dest = t.path().join("dest");
    up(os_args![repo_arg(&repo), "checkout", "os", dest.display().to_string()]);
    assert_eq!(fs::read_link(dest.join("escape")).expect("symlink kept as a symlink"), outside);
    assert_eq!(fs::read_dir(&outside).expect("outside").count(), 0);
    // A destination where `usr` and `etc/passwd` are symlinks pointing out:
    // a union checkout must refuse to descend and must not write through.
    let dest2 = t.path().join("dest2");
    fs::create_dir_all(dest2.join("etc")).expect("dest2");
    std::os::unix::fs::symlink(&outside, dest2.join("usr")).expect("symlink");
    let victim = outside.join("victim");
    fs::write(&victim, "untouched").expect("victim");
    std::os::unix::fs::symlink(&victim, dest2.join("etc/passwd")).expect("symlink");
    let err = up_fails(os_args![repo_arg(&repo), "checkout", "--union", "os", dest2.display().to_string()]);
    assert!(err.contains("not a directory") || err.contains("symlink"), "{err}");
    assert_eq!(fs::read_dir(&outside).expect("outside").count(), 1, "nothing created outside");
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "untouched");
    // --union replaces a symlinked file with the real one, never writing through it.
    fs::remove_file(dest2.join("usr")).expect("rm");
    up(os_args![repo_arg(&repo), "checkout", "--union", "os", dest2.display().to_string()]);
    assert_eq!(fs::read_to_string(dest2.join("etc/passwd")).expect("replaced"), "mine");
    assert!(!fs::symlink_metadata(dest2.join("etc/passwd")).expect("stat").file_type().is_symlink());
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "untouched");
}

#[test]
fn min_free_space_stops_a_commit_cleanly() {
    let t = scratch();
    let tree = t.path().join("tree");
    rich_tree(&tree);
    let repo = t.path().join("repo");
    up(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    // Ask for more free space than any test machine has.
    let cfg = fs::read_to_string(repo.join("config")).expect("config");
    fs::write(repo.join("config"), cfg + "min-free-space-size=999999TB\n").expect("config");
    let err = up_fails(os_args![repo_arg(&repo), "commit", "-b", "x", tree.display().to_string()]);
    assert!(err.contains("min-free-space-size"), "{err}");
    assert!(up(os_args![repo_arg(&repo), "refs"]).is_empty());
    assert_eq!(fs::read_dir(repo.join("objects")).expect("objects").count(), 0);
    let cfg = fs::read_to_string(repo.join("config")).expect("config");
    fs::write(repo.join("config"), cfg.replace("min-free-space-size=999999TB", "min-free-space-percent=99")).expect("config");
    let err = up_fails(os_args![repo_arg(&repo), "commit", "-b", "x", tree.display().to_string()]);
    assert!(err.contains("min-free-space-percent '99%'"), "{err}");
}
