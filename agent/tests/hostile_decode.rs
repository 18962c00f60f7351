//! Hostile GVariant in what a pull decodes: metadata nested far deeper than
//! GLib allows (a commit's metadata, a summary's per-ref metadata, a
//! detached `.commitmeta`) and a commit whose metadata is a 128 MiB `ab`.
//! Pulled from a `file://` remote and over HTTPS from nginx, each must end
//! in a clear error naming the object: no crash (the decoder recursed
//! without a limit and overflowed the stack; the `ab` became gigabytes of
//! decoded values), no ref moved, nothing of it stored.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::nginx::{make_pki, Nginx, Pki};
use common::*;
use ostree_repo::gvariant::{build, Type, Value};
use ostree_repo::object::{Commit, DirMeta, DirTree, FileMeta};
use ostree_repo::summary::{Summary, SummaryRef};
use ostree_repo::{Checksum, ObjectType, RefName, Repo, RepoMode};

/// How many containers deep the hostile values nest.
const LEVELS: usize = 10_000;

/// Encoding (and dropping) a value nested this deep recurses that deep in
/// the test itself: do it on a thread with room for it.
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| std::thread::Builder::new().stack_size(1 << 30).spawn_scoped(s, f).expect("spawn").join().expect("big-stack thread"))
}

fn nested_vardicts() -> Value {
    let mut v = Value::Byte(1);
    for _ in 0..LEVELS {
        v = build::vardict([("k".to_string(), v)]);
    }
    v
}

fn nested_av() -> Value {
    let mut v = Value::Byte(1);
    for _ in 0..LEVELS {
        v = Value::Array(Type::Variant, vec![build::variant(v)]);
    }
    v
}

fn nested_variants() -> Value {
    let mut v = Value::Byte(1);
    for _ in 0..LEVELS {
        v = build::variant(v);
    }
    v
}

/// An archive repository with one small tree; `evil` points at a commit
/// whose bytes are `commit_bytes(root_tree, root_meta)`.
fn server(dir: &Path, commit_bytes: impl FnOnce(Checksum, Checksum) -> Vec<u8>) -> (PathBuf, Checksum) {
    let path = dir.join("server");
    let repo = Repo::init(&path, RepoMode::Archive).expect("init");
    let txn = repo.begin().expect("txn");
    let meta = FileMeta { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: vec![] };
    let f = txn.write_content(&meta, ostree_repo::repo::ContentSource::Bytes(b"x"), &mut Vec::new()).expect("file");
    let dm = txn.write_metadata(ObjectType::DirMeta, &DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: vec![] }.to_bytes()).expect("dirmeta");
    let rt = txn.write_metadata(ObjectType::DirTree, &DirTree { files: vec![("f".into(), f)], dirs: vec![] }.to_bytes()).expect("dirtree");
    txn.commit().expect("commit txn");
    let bytes = commit_bytes(rt, dm);
    let c = Checksum::of(&bytes);
    write_sparse(&repo.object_path(&c, ObjectType::Commit), &bytes);
    repo.set_ref(&RefName::parse("evil").expect("ref"), Some(&c)).expect("ref");
    (path, c)
}

fn commit_with(metadata: Vec<(String, Value)>, root_tree: Checksum, root_meta: Checksum) -> Commit {
    Commit { metadata, parent: None, subject: "evil".into(), body: String::new(), timestamp: 0, root_tree, root_meta }
}

/// Write `data`, leaving its zero-filled 64 KiB blocks as holes: the
/// 128 MiB commit costs the test almost no disk.
fn write_sparse(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut f = fs::File::create(path).expect("create");
    for (i, block) in data.chunks(64 * 1024).enumerate() {
        if block.iter().any(|&b| b != 0) {
            f.seek(SeekFrom::Start((i * 64 * 1024) as u64)).expect("seek");
            f.write_all(block).expect("write");
        }
    }
    f.set_len(data.len() as u64).expect("set_len");
}

/// The two remotes every case is pulled from.
struct Remotes {
    _nginx: Nginx,
    pki: Pki,
    urls: [(&'static str, String); 2],
}

fn remotes(dir: &Path, server: &Path) -> Remotes {
    let pki = make_pki(&dir.join("pki"));
    let nginx = Nginx::start(server, &pki, &dir.join("nginx"), false);
    let https = nginx.https_url();
    Remotes { _nginx: nginx, pki, urls: [("file", format!("file://{}", server.display())), ("https", https)] }
}

/// Pull `evil` from each remote into a fresh device repo (run with
/// `limits`, e.g. a `prlimit` prefix); every pull must fail cleanly with an
/// error containing each of `expect`, create no ref and store nothing.
fn pull_is_refused(dir: &Path, remotes: &Remotes, limits: &[&str], expect: &[&str]) {
    for (kind, url) in &remotes.urls {
        let dev = dir.join(format!("device-{kind}"));
        up(os_args![repo_arg(&dev), "init", "--mode=bare-user"]);
        let ca = format!("--set=tls-ca-path={}", remotes.pki.ca.display());
        up(os_args![repo_arg(&dev), "remote", "add", "--no-gpg-verify", "origin", url, ca]);
        let (program, prefix) = match limits.split_first() {
            Some((p, rest)) => (*p, rest.iter().copied().chain([uptree_bin()]).collect()),
            None => (uptree_bin(), Vec::new()),
        };
        let out =
            Command::new(program).args(prefix).arg(repo_arg(&dev)).args(["pull", "origin", "evil"]).env("LC_ALL", "C.UTF-8").output().expect("run uptree");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // exit 1 with an error line: not 134 (abort), not killed by a signal.
        assert_eq!(out.status.code(), Some(1), "{kind}: pull must fail cleanly, got {:?}:\n{stderr}", out.status);
        assert!(stderr.starts_with("error: ") && !stderr.contains("panicked"), "{kind}:\n{stderr}");
        for e in expect {
            assert!(stderr.contains(e), "{kind}: error must mention {e:?}:\n{stderr}");
        }
        let refs = up(os_args![repo_arg(&dev), "refs"]);
        assert!(refs.is_empty(), "{kind}: no ref may be created: {refs}");
        assert_nothing_stored(&dev, kind);
        up(os_args![repo_arg(&dev), "fsck"]);
    }
}

/// No object, staged or committed, no partial-commit marker and no staging
/// directory: the hostile bytes were refused before anything was written.
fn assert_nothing_stored(dev: &Path, kind: &str) {
    let listing = listing(dev, &[]);
    let stored: Vec<&String> = listing
        .iter()
        .filter(|line| {
            let path = line.split_whitespace().nth(1).unwrap_or_default();
            let name = path.rsplit('/').next().unwrap_or_default();
            [".commit", ".commitmeta", ".dirtree", ".dirmeta", ".file", ".filez"].iter().any(|e| name.ends_with(e)) || name.ends_with(".commitpartial")
        })
        .collect();
    assert!(stored.is_empty(), "{kind}: nothing of the hostile commit may be stored: {stored:?}");
    let staging: Vec<&String> = listing.iter().filter(|l| l.contains("tmp/staging-")).collect();
    assert!(staging.is_empty(), "{kind}: no staging may be left behind: {staging:?}");
}

#[test]
fn commit_metadata_nested_10000_deep() {
    let t = scratch();
    let (srv, c) = server(t.path(), |rt, dm| on_big_stack(|| commit_with(vec![("deep".into(), nested_vardicts())], rt, dm).to_bytes()));
    let r = remotes(t.path(), &srv);
    pull_is_refused(t.path(), &r, &[], &[&format!("{c}.commit"), "nested more than 128 levels deep is not in normal form"]);
}

#[test]
fn summary_ref_metadata_nested_deep() {
    let t = scratch();
    let (srv, c) = server(t.path(), |rt, dm| commit_with(vec![], rt, dm).to_bytes());
    let commit_size = fs::metadata(Repo::open(&srv).expect("open").object_path(&c, ObjectType::Commit)).expect("commit").len();
    let summary = on_big_stack(|| {
        Summary { refs: vec![SummaryRef { name: "evil".into(), commit_size, checksum: c, metadata: vec![("deep".into(), nested_av())] }], metadata: vec![] }
            .to_bytes()
    });
    fs::write(srv.join("summary"), summary).expect("summary");
    let r = remotes(t.path(), &srv);
    pull_is_refused(t.path(), &r, &[], &["summary", "nested more than 128 levels deep is not in normal form"]);
}

#[test]
fn detached_commitmeta_nested_deep() {
    let t = scratch();
    let (srv, c) = server(t.path(), |rt, dm| commit_with(vec![], rt, dm).to_bytes());
    let detached = on_big_stack(|| build::vardict([("deep".to_string(), nested_variants())]).to_bytes());
    fs::write(Repo::open(&srv).expect("open").object_path(&c, ObjectType::CommitMeta), detached).expect("commitmeta");
    let r = remotes(t.path(), &srv);
    pull_is_refused(t.path(), &r, &[], &[&format!("{c}.commitmeta"), "nested more than 128 levels deep is not in normal form"]);
}

/// A commit as large as a pull accepts (ostree's 10 MiB pull limit) whose
/// metadata is one `ab`: one byte per element. Decoded naively that is
/// 10 Mi values of 64 bytes each; the pull runs with 1 GiB of address space
/// and must refuse it with an error, not die allocating.
#[test]
fn commit_metadata_10_mib_bool_array() {
    let t = scratch();
    let (srv, c) = server(t.path(), |rt, dm| {
        // Encode an `ay` of zeros (compact) and retype it `ab` in place: same
        // length, so every framing offset stays right, and zeros are `false`.
        let overhead = commit_with(vec![("big".into(), build::ay(Vec::new()))], rt, dm).to_bytes().len() + 64;
        let n = uptree_pull::engine::MAX_PULLED_METADATA as usize - overhead;
        let mut bytes = commit_with(vec![("big".into(), build::ay(vec![0u8; n]))], rt, dm).to_bytes();
        let at = bytes.windows(3).skip(n).position(|w| w == b"\0ay").expect("variant type") + n;
        bytes[at + 2] = b'b';
        assert!(bytes.len() as u64 <= uptree_pull::engine::MAX_PULLED_METADATA);
        bytes
    });
    let r = remotes(t.path(), &srv);
    pull_is_refused(t.path(), &r, &["prlimit", "--as=1073741824", "--"], &[&format!("{c}.commit"), "more than 1048576 values"]);
}
