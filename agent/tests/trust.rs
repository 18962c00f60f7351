//! The trust policy end to end: signatures checked on raw bytes before
//! anything is decoded, `pull-local --remote` held to the remote's policy,
//! replayed old summaries refused (`--timestamp-check`, on by default for
//! signed remotes), and `sign-verify-summary`. Commits are made by the real
//! `ostree`, served from disk (`file://`), by the fault-injecting origin and
//! by nginx over HTTPS; signatures by `uptree sign` (Debian's ostree is
//! built without ed25519).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::http::TestServer;
use common::nginx::{make_pki, Nginx};
use common::*;
use uptree_pull::sign;

/// A deterministic ed25519 key: (secret as `uptree sign` takes it, public).
fn key(seed: u8) -> (String, String) {
    let secret = sign::base64_encode(&[seed; 32]);
    let public = sign::public_of(&secret).expect("public key");
    (secret, public)
}

/// A small tree whose content depends on `gen`.
fn tree(dir: &Path, gen: &str) -> PathBuf {
    let t = dir.join(format!("tree-{gen}"));
    build_tree(&t, &format!("d usr 755\nf usr/release 644 {gen}\\n\nf usr/data-{gen} 644 payload of {gen}\\n"));
    t
}

/// An archive repo made by ostree.
fn server_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("server");
    ostree(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    repo
}

fn commit(repo: &Path, dir: &Path, branch: &str, gen: &str, ts: &str) -> String {
    let t = tree(dir, gen);
    ostree(os_args![repo_arg(repo), "commit", "-b", branch, "-s", gen, format!("--timestamp={ts}"), t.display().to_string()])
}

fn device(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    up(os_args![repo_arg(&repo), "init", "--mode=bare-user"]);
    repo
}

/// `remote add --no-gpg-verify NAME URL` with `extra` options.
fn remote_add(repo: &Path, name: &str, url: &str, extra: &[String]) {
    let mut a = vec![repo_arg(repo), "remote".into(), "add".into(), "--no-gpg-verify".into()];
    a.extend(extra.iter().cloned());
    a.extend([name.to_string(), url.to_string()]);
    up(&a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
}

fn sign_verify(public: &str) -> String {
    format!("--sign-verify=ed25519=inline:{public}")
}

/// What `remote:ref` names, or `None` if it does not exist.
fn ref_value(repo: &Path, remote_ref: &str) -> Option<String> {
    let refs = up(os_args![repo_arg(repo), "refs"]);
    refs.lines().any(|l| l == remote_ref).then(|| up(os_args![repo_arg(repo), "rev-parse", remote_ref]))
}

/// The repo is fsck-clean and `remote_ref` names `expect`.
fn assert_ref(repo: &Path, remote_ref: &str, expect: Option<&str>) {
    up(os_args![repo_arg(repo), "fsck"]);
    assert_eq!(ref_value(repo, remote_ref).as_deref(), expect, "{remote_ref}");
}

/// GVariant serialisation by hand, so that shapes the library would never
/// build (hostile nesting) need nothing from it.
mod gv {
    fn pad(out: &mut Vec<u8>, align: usize) {
        while !out.len().is_multiple_of(align) {
            out.push(0);
        }
    }

    /// Append the framing offsets, in the width the total size needs.
    fn frame(mut body: Vec<u8>, ends: &[usize]) -> Vec<u8> {
        let (b, n) = (body.len(), ends.len());
        let w = if b + n <= 0xff {
            1
        } else if b + 2 * n <= 0xffff {
            2
        } else if b + 4 * n <= 0xffff_ffff {
            4
        } else {
            8
        };
        for e in ends {
            body.extend_from_slice(&(*e as u64).to_le_bytes()[..w]);
        }
        body
    }

    /// A tuple (or dict entry) of (bytes, alignment, fixed size?) members.
    pub fn tuple(members: &[(&[u8], usize, bool)]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut ends = Vec::new();
        for (i, (bytes, align, fixed)) in members.iter().enumerate() {
            pad(&mut body, *align);
            body.extend_from_slice(bytes);
            if !fixed && i + 1 < members.len() {
                ends.push(body.len());
            }
        }
        ends.reverse();
        frame(body, &ends)
    }

    /// An array of variable-size elements.
    pub fn array(elems: &[Vec<u8>], align: usize) -> Vec<u8> {
        let mut body = Vec::new();
        let mut ends = Vec::new();
        for e in elems {
            pad(&mut body, align);
            body.extend_from_slice(e);
            ends.push(body.len());
        }
        frame(body, &ends)
    }

    pub fn variant(value: &[u8], ty: &str) -> Vec<u8> {
        [value, b"\0", ty.as_bytes()].concat()
    }

    /// A byte wrapped in `depth` variants: far deeper than GLib's limit of
    /// 128, and deep enough to overflow a decoder that recurses unbounded.
    pub fn deep_variant(depth: usize) -> Vec<u8> {
        let mut v = variant(&[1], "y");
        for _ in 0..depth {
            v.extend_from_slice(b"\0v");
        }
        v
    }

    /// An `a{sv}` from (key, serialised variant) pairs.
    pub fn vardict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let elems: Vec<Vec<u8>> = entries.iter().map(|(k, v)| tuple(&[(format!("{k}\0").as_bytes(), 1, false), (v, 8, false)])).collect();
        array(&elems, 8)
    }

    /// A commit `(a{sv}aya(say)sstayay)` with the given metadata.
    pub fn commit(metadata: &[u8], timestamp: u64) -> Vec<u8> {
        let ts = timestamp.to_be_bytes();
        let (tree, meta) = ([0x11u8; 32], [0x22u8; 32]);
        tuple(&[
            (metadata, 8, false),
            (&[], 1, false),
            (&[], 1, false),
            (b"hostile\0", 1, false),
            (b"\0", 1, false),
            (&ts, 8, true),
            (&tree, 1, false),
            (&meta, 1, false),
        ])
    }
}

/// Store a loose metadata object by hand; returns its checksum.
fn put_object(repo: &Path, bytes: &[u8], ext: &str) -> String {
    let c = ostree_repo::Checksum::of(bytes).to_hex();
    put_object_as(repo, &c, bytes, ext);
    c
}

fn put_object_as(repo: &Path, c: &str, bytes: &[u8], ext: &str) {
    let dir = repo.join("objects").join(&c[..2]);
    fs::create_dir_all(&dir).expect("objects dir");
    fs::write(dir.join(format!("{}.{ext}", &c[2..])), bytes).expect("object");
}

/// Issue #10: with `sign-verify`, a commit and its `.commitmeta` used to be
/// decoded before the signature was checked, so a hostile commit crashed
/// the pull (stack overflow) before it could be refused. The signature is
/// now checked over the raw bytes first: a hostile body with a bad
/// signature is refused for its signature, from `file://` and over HTTP.
#[test]
fn bad_signature_is_refused_before_a_hostile_commit_is_decoded() {
    let t = scratch();
    let server = server_repo(t.path());
    let (secret, public) = key(1);
    let hostile = gv::commit(&gv::vardict(&[("x", gv::deep_variant(200_000))]), 1_700_000_000);
    let c = put_object(&server, &hostile, "commit");
    // A signature by the trusted key, but over other bytes (copied from
    // another commit); and a second entry nested as deep as the commit's.
    let copied = sign::sign(b"some other commit", &secret).expect("sign");
    let aay = gv::array(&[copied], 1);
    let meta = gv::vardict(&[("x", gv::deep_variant(200_000)), (sign::ED25519_KEY, gv::variant(&aay, "aay"))]);
    put_object_as(&server, &c, &meta, "commitmeta");
    // And one with no signature at all.
    let unsigned = put_object(&server, &gv::commit(&gv::vardict(&[("x", gv::deep_variant(200_000))]), 1_700_000_001), "commit");
    let origin = TestServer::origin(server.clone());
    for (name, url) in [("stick", format!("file://{}", server.display())), ("web", origin.url())] {
        let dev = device(t.path(), &format!("device-{name}"));
        remote_add(&dev, name, &url, &[sign_verify(&public)]);
        let err = up_fails(os_args![repo_arg(&dev), "pull", name, &c]);
        assert!(err.contains(&format!("Can't verify commit {c}: no valid ed25519 signature from a trusted key (1 signatures checked)")), "{name}: {err}");
        let err = up_fails(os_args![repo_arg(&dev), "pull", name, &unsigned]);
        assert!(err.contains(&format!("Can't verify commit {unsigned}: no ed25519 signatures found")), "{name}: {err}");
        up(os_args![repo_arg(&dev), "fsck"]);
        assert!(!dev.join("objects").join(&c[..2]).join(format!("{}.commit", &c[2..])).exists(), "{name}: refused commit stored");
    }
}

/// Issue #10: `pull-local --remote=NAME` wrote `refs/remotes/NAME/…`
/// (which `admin upgrade --deploy-only` deploys) with no signature check
/// and, without `--untrusted`, no hashing. Now NAME's policy applies and
/// every object is hashed.
#[test]
fn pull_local_into_a_remote_ref_applies_the_remotes_policy() {
    let t = scratch();
    let src = server_repo(t.path());
    let (secret, public) = key(2);
    let (foreign, _) = key(3);
    let signed = commit(&src, t.path(), "os/signed", "signed", "2024-01-01 00:00:00 +0000");
    up(os_args![repo_arg(&src), "sign", "os/signed", &secret]);
    commit(&src, t.path(), "os/unsigned", "unsigned", "2024-01-01 00:00:00 +0000");
    commit(&src, t.path(), "os/foreign", "foreign", "2024-01-01 00:00:00 +0000");
    up(os_args![repo_arg(&src), "sign", "os/foreign", &foreign]);
    commit(&src, t.path(), "os/corrupt", "corrupt", "2024-01-01 00:00:00 +0000");
    up(os_args![repo_arg(&src), "sign", "os/corrupt", &secret]);
    let dev = device(t.path(), "device");
    remote_add(&dev, "R", "https://updates.invalid/repo", &[sign_verify(&public)]);
    let srcs = src.display().to_string();

    let err = up_fails(os_args![repo_arg(&dev), "pull-local", "--remote=R", &srcs, "os/unsigned"]);
    assert!(err.contains("no ed25519 signatures found"), "{err}");
    assert_ref(&dev, "R:os/unsigned", None);
    let err = up_fails(os_args![repo_arg(&dev), "pull-local", "--remote=R", &srcs, "os/foreign"]);
    assert!(err.contains("no valid ed25519 signature from a trusted key"), "{err}");
    assert_ref(&dev, "R:os/foreign", None);
    // GPG is asked for: refused, never skipped (without the gpg feature
    // it cannot be checked; with it, the commit has no GPG signature).
    let err = up_fails(os_args![repo_arg(&dev), "pull-local", "--remote=R", "--gpg-verify", &srcs, "os/signed"]);
    let why = if cfg!(feature = "gpg") {
        "GPG verification enabled, but no signatures found"
    } else {
        "has gpg-verify enabled, and this uptree was built without GPG support"
    };
    assert!(err.contains(why), "{err}");
    assert_ref(&dev, "R:os/signed", None);

    up(os_args![repo_arg(&dev), "pull-local", "--remote=R", &srcs, "os/signed"]);
    assert_ref(&dev, "R:os/signed", Some(&signed));

    // A corrupt object in the source, no --untrusted: caught, as pull would.
    let ls = up(os_args![repo_arg(&src), "ls", "-C", "os/corrupt", "/usr/data-corrupt"]);
    let file = ls.split_whitespace().nth(4).expect("checksum column").to_string();
    flip_byte(&find_object(&src, &file, "filez"), 40);
    let err = up_fails(os_args![repo_arg(&dev), "pull-local", "--remote=R", &srcs, "os/corrupt"]);
    assert!(err.contains(&format!("{file}.filez")), "{err}");
    assert_ref(&dev, "R:os/corrupt", None);
    // The same into a remote that requires nothing: still hashed.
    remote_add(&dev, "open", "https://updates.invalid/repo", &[]);
    let err = up_fails(os_args![repo_arg(&dev), "pull-local", "--remote=open", &srcs, "os/corrupt"]);
    assert!(err.contains(&format!("{file}.filez")), "{err}");
    assert_ref(&dev, "open:os/corrupt", None);
}

/// A signed server whose history is v1 then v2, with the summary (and
/// its signature) of each kept for replaying.
struct Signed {
    dir: tempfile::TempDir,
    server: PathBuf,
    v1: String,
    v2: String,
    secret: String,
    public: String,
}

impl Signed {
    fn new() -> Signed {
        let dir = scratch();
        let server = server_repo(dir.path());
        let (secret, public) = key(4);
        let v1 = commit(&server, dir.path(), "os/stable", "v1", "2024-01-01 00:00:00 +0000");
        up(os_args![repo_arg(&server), "sign", "os/stable", &secret]);
        up(os_args![repo_arg(&server), "summary", "-u", format!("--sign={secret}")]);
        let old = dir.path().join("old");
        fs::create_dir_all(&old).expect("old");
        for f in ["summary", "summary.sig"] {
            fs::copy(server.join(f), old.join(f)).expect("keep v1 summary");
        }
        let v2 = commit(&server, dir.path(), "os/stable", "v2", "2024-02-01 00:00:00 +0000");
        up(os_args![repo_arg(&server), "sign", "os/stable", &secret]);
        up(os_args![repo_arg(&server), "summary", "-u", format!("--sign={secret}")]);
        Signed { dir, server, v1, v2, secret, public }
    }

    /// Serve the v1 summary again, validly signed: a replay.
    fn replay_v1(&self) {
        for f in ["summary", "summary.sig"] {
            fs::copy(self.dir.path().join("old").join(f), self.server.join(f)).expect("replay");
        }
    }
}

/// Issue #10: a replayed old summary (an older commit, validly signed)
/// moved a signed remote's ref backwards. Now a remote that requires
/// signatures never moves a ref to an older commit unless
/// `--allow-downgrade`; `--timestamp-check` asks the same of any remote.
#[test]
fn replayed_old_summary_does_not_move_a_signed_ref_back() {
    let s = Signed::new();
    let t = s.dir.path();
    let pki = make_pki(&t.join("pki"));
    let nginx = Nginx::start(&s.server, &pki, &t.join("nginx"), false);
    let ca = format!("--set=tls-ca-path={}", pki.ca.display());
    let dev = device(t, "device");
    remote_add(&dev, "origin", &nginx.https_url(), &[ca.clone(), sign_verify(&s.public), "--set=sign-verify-summary=true".into()]);
    remote_add(&dev, "plain", &nginx.https_url(), &[ca]);
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    up(os_args![repo_arg(&dev), "pull", "plain", "os/stable"]);
    assert_ref(&dev, "origin:os/stable", Some(&s.v2));

    s.replay_v1();
    let err = up_fails(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    let expect = format!(
        "origin:os/stable: Upgrade target revision '{}' with timestamp '2024-01-01T00:00:00Z' is chronologically older than current revision '{}' with timestamp '2024-02-01T00:00:00Z'; use --allow-downgrade to permit",
        s.v1, s.v2
    );
    assert!(err.contains(&expect), "{err}");
    assert_ref(&dev, "origin:os/stable", Some(&s.v2));
    // A remote that requires no signatures moves as ostree's pull does,
    // unless asked to check.
    let err = up_fails(os_args![repo_arg(&dev), "pull", "--timestamp-check", "plain", "os/stable"]);
    assert!(err.contains("plain:os/stable: Upgrade target revision") && err.contains("chronologically older"), "{err}");
    assert_ref(&dev, "plain:os/stable", Some(&s.v2));
    let err = up_fails(os_args![repo_arg(&dev), "pull", format!("--timestamp-check-from-rev={}", s.v2), "plain", &s.v1]);
    assert!(err.contains(&format!("{}: Upgrade target revision '{}'", s.v1, s.v1)), "{err}");
    up(os_args![repo_arg(&dev), "pull", "plain", "os/stable"]);
    assert_ref(&dev, "plain:os/stable", Some(&s.v1));
    // The operator may go back on purpose.
    up(os_args![repo_arg(&dev), "pull", "--allow-downgrade", "origin", "os/stable"]);
    assert_ref(&dev, "origin:os/stable", Some(&s.v1));
    // And forward again without asking.
    up(os_args![repo_arg(&s.server), "summary", "-u", format!("--sign={}", s.secret)]);
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert_ref(&dev, "origin:os/stable", Some(&s.v2));
}

/// `sign-verify-summary=true`: a summary without a valid signature from a
/// trusted key is refused by `pull` and `remote refs`, before it is
/// decoded, and nothing moves; a valid one passes.
#[test]
fn sign_verify_summary_requires_a_valid_summary_signature() {
    let s = Signed::new();
    let t = s.dir.path();
    let pki = make_pki(&t.join("pki"));
    let nginx = Nginx::start(&s.server, &pki, &t.join("nginx"), false);
    let dev = device(t, "device");
    let opts = [format!("--set=tls-ca-path={}", pki.ca.display()), sign_verify(&s.public), "--set=sign-verify-summary=true".to_string()];
    remote_add(&dev, "origin", &nginx.https_url(), &opts);
    let sig = fs::read(s.server.join("summary.sig")).expect("sig");
    let (foreign, _) = key(5);
    let summary = fs::read(s.server.join("summary")).expect("summary");
    let foreign_sig = sign::add_signature(None, &sign::sign(&summary, &foreign).expect("sign")).expect("sig");
    let cases: [(&str, Option<Vec<u8>>, &str); 3] = [
        ("missing", None, "Can't verify summary: no ed25519 signatures found"),
        ("junk", Some(b"junk".to_vec()), "Can't verify summary: malformed signature metadata"),
        ("foreign key", Some(foreign_sig), "Can't verify summary: no valid ed25519 signature from a trusted key (1 signatures checked)"),
    ];
    for (what, bad, expect) in cases {
        let p = s.server.join("summary.sig");
        match bad {
            Some(b) => fs::write(&p, b).expect("write sig"),
            None => fs::remove_file(&p).expect("remove sig"),
        }
        let err = up_fails(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
        assert!(err.contains(expect), "{what}: {err}");
        assert_ref(&dev, "origin:os/stable", None);
        let err = up_fails(os_args![repo_arg(&dev), "remote", "refs", "origin"]);
        assert!(err.contains(expect), "remote refs, {what}: {err}");
    }
    fs::write(s.server.join("summary.sig"), &sig).expect("restore sig");
    assert_eq!(up(os_args![repo_arg(&dev), "remote", "refs", "origin"]), "origin:os/stable");
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert_ref(&dev, "origin:os/stable", Some(&s.v2));
    // No summary at all: refused too. (Its signature goes as well: with an
    // unchanged summary.sig the cached summary stands in, as in ostree.)
    fs::remove_file(s.server.join("summary")).expect("rm summary");
    fs::remove_file(s.server.join("summary.sig")).expect("rm summary.sig");
    let err = up_fails(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert!(err.contains("remote origin: sign-verify-summary is set but the remote has no summary"), "{err}");
}

/// Issue #10: `admin upgrade` checked the timestamp only after its pull had
/// moved the remote ref, so a replayed old summary left `origin:REF` on the
/// old commit for the operator's next `admin deploy origin:REF`. The pull
/// now refuses anything older than the deployment (ostree's upgrader does
/// the same with `timestamp-check-from-rev`), even from a remote that
/// requires no signatures; `--allow-downgrade` still goes back.
#[test]
fn admin_upgrade_refuses_a_replayed_summary_before_the_ref_moves() {
    let t = scratch();
    let fs_ = LoopFs::new(t.path(), "sysroot", 128, "ext4");
    let root = fs_.mnt.join("sysroot");
    fs::create_dir_all(&root).expect("sysroot");
    up(os_args!["admin", "init-fs", root.as_os_str()]);
    let sysroot = format!("--sysroot={}", root.display());
    up(os_args!["admin", "os-init", "testos", &sysroot]);
    let repo = root.join("ostree/repo");

    let server = server_repo(t.path());
    let commit_os = |gen: &str, ts: &str| {
        let tree = common::device::os_tree(t.path(), gen, false);
        let c = ostree(os_args![repo_arg(&server), "commit", "-b", "testos/stable", "-s", gen, format!("--timestamp={ts}"), tree.display().to_string()]);
        up(os_args![repo_arg(&server), "summary", "-u"]);
        c
    };
    let v1 = commit_os("v1", "2024-01-01 00:00:00 +0000");
    let old = fs::read(server.join("summary")).expect("v1 summary");
    let v2 = commit_os("v2", "2024-02-01 00:00:00 +0000");
    let origin = TestServer::origin(server.clone());
    remote_add(&repo, "origin", &origin.url(), &[]);
    up(os_args![repo_arg(&repo), "pull", "origin", "testos/stable"]);
    up(os_args!["admin", "deploy", "--os=testos", "--karg=root=/dev/vda2", "origin:testos/stable", &sysroot]);

    fs::write(server.join("summary"), &old).expect("replay");
    let err = up_fails(os_args!["admin", "upgrade", "--os=testos", &sysroot]);
    assert!(
        err.contains(&format!("target revision '{v1}' with timestamp '2024-01-01T00:00:00Z' is chronologically older than current revision '{v2}'")),
        "{err}"
    );
    assert_ref(&repo, "origin:testos/stable", Some(&v2));
    up(os_args!["admin", "upgrade", "--os=testos", "--allow-downgrade", &sysroot]);
    assert_ref(&repo, "origin:testos/stable", Some(&v1));
    let status = up(os_args!["admin", "status", &sysroot]);
    assert!(status.lines().next().is_some_and(|l| l.contains(&v1)), "{status}");
}

/// ostree's summary cache: a signed summary pulled over the network is
/// kept as `tmp/cache/summaries/NAME{,.sig}` (or under `--cache-dir`) and
/// not fetched again while its signature is unchanged; a cached summary
/// that does not verify is replaced, never obeyed; prune drops the cache
/// of remotes that are gone.
#[test]
fn signed_summary_is_cached_and_checked() {
    use std::os::unix::fs::MetadataExt;
    let s = Signed::new();
    let t = s.dir.path();
    let pki = make_pki(&t.join("pki"));
    let nginx = Nginx::start(&s.server, &pki, &t.join("nginx"), false);
    let dev = device(t, "device");
    let opts = [format!("--set=tls-ca-path={}", pki.ca.display()), sign_verify(&s.public), "--set=sign-verify-summary=true".to_string()];
    remote_add(&dev, "origin", &nginx.https_url(), &opts);
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    let cache = dev.join("tmp/cache/summaries");
    for (cached, served) in [("origin", "summary"), ("origin.sig", "summary.sig")] {
        assert_eq!(fs::read(cache.join(cached)).expect("cached"), fs::read(s.server.join(served)).expect("served"), "{cached}");
    }
    let inode = fs::metadata(cache.join("origin")).expect("stat").ino();
    let fetched_summaries = || fs::read_to_string(t.join("nginx/access.log")).expect("log").lines().filter(|l| l.contains("GET /summary HTTP")).count();
    let before = fetched_summaries();
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert_eq!(fetched_summaries(), before, "the summary was fetched again though its signature did not change");
    assert_eq!(fs::metadata(cache.join("origin")).expect("stat").ino(), inode, "the cache was rewritten");

    // A cached summary that does not match its signature: fetched again.
    let mut bad = fs::read(cache.join("origin")).expect("cached");
    bad[0] ^= 1;
    fs::write(cache.join("origin"), &bad).expect("write");
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert_eq!(fs::read(cache.join("origin")).expect("cached"), fs::read(s.server.join("summary")).expect("served"));
    assert_eq!(fetched_summaries(), before + 1);

    // --cache-dir instead of the repo's tmp/cache; as with ostree, it
    // must exist ("opendir(DIR): No such file or directory").
    let elsewhere = t.join("cachedir");
    fs::remove_dir_all(&cache).expect("rm cache");
    let missing = up_fails(os_args![repo_arg(&dev), "pull", format!("--cache-dir={}", elsewhere.display()), "origin", "os/stable"]);
    assert!(missing.contains(&elsewhere.display().to_string()) && missing.contains("No such file or directory"), "{missing}");
    fs::create_dir(&elsewhere).expect("mkdir");
    up(os_args![repo_arg(&dev), "pull", format!("--cache-dir={}", elsewhere.display()), "origin", "os/stable"]);
    assert!(elsewhere.join("summaries/origin.sig").is_file() && !cache.join("origin").exists());

    // prune keeps the cache of configured remotes only.
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    fs::write(cache.join("gone"), b"x").expect("write");
    fs::write(cache.join("gone.sig"), b"x").expect("write");
    up(os_args![repo_arg(&dev), "prune", "--refs-only"]);
    assert!(!cache.join("gone").exists() && !cache.join("gone.sig").exists());
    assert!(cache.join("origin").is_file() && cache.join("origin.sig").is_file());
}

/// ostree's test-only switch for its dummy sign type.
const DUMMY_ON: &[(&str, &str)] = &[("OSTREE_DUMMY_SIGN_ENABLED", "1")];

/// ostree's `dummy` type (its test suite signs with it) works both ways:
/// what ostree signs uptree verifies and what uptree signs ostree
/// verifies, in ostree's detached-metadata layout; a wrong key, or the
/// type without ostree's test switch, is refused.
#[test]
fn dummy_signatures_interoperate_with_ostree() {
    let t = scratch();
    let repo = server_repo(t.path());
    let by_ostree = commit(&repo, t.path(), "a", "a", "2024-01-01");
    let by_uptree = commit(&repo, t.path(), "b", "b", "2024-01-02");
    ostree_env(os_args![repo_arg(&repo), "sign", "--sign-type=dummy", &by_ostree, "dummysign"], DUMMY_ON);
    up_env(os_args![repo_arg(&repo), "sign", "--sign-type=dummy", &by_uptree, "dummysign"], DUMMY_ON);
    for c in [&by_ostree, &by_uptree] {
        assert_eq!(
            ostree(os_args![repo_arg(&repo), "show", c, "--print-detached-metadata-key=ostree.sign.dummy"]),
            "[[byte 0x64, 0x75, 0x6d, 0x6d, 0x79, 0x73, 0x69, 0x67, 0x6e]]"
        );
        assert_eq!(ostree_env(os_args![repo_arg(&repo), "sign", "--sign-type=dummy", "--verify", c, "dummysign"], DUMMY_ON), "dummy: Signature verified");
        assert_eq!(up_env(os_args![repo_arg(&repo), "sign", "--sign-type=dummy", "--verify", c, "dummysign"], DUMMY_ON), "dummy: Signature verified");
        let err = fails(uptree_bin(), os_args![repo_arg(&repo), "sign", "--sign-type=dummy", "--verify", c, "wrongkey"], DUMMY_ON);
        assert!(err.contains("No valid signatures found") && err.contains("signature: dummy: incorrect signatures found: 1"), "{err}");
        let err = fails(uptree_bin(), os_args![repo_arg(&repo), "sign", "--sign-type=dummy", "--verify", c, "dummysign"], &[]);
        assert!(err.contains("dummy signature type is only for ostree testing"), "{err}");
    }
    // Signing without the switch fails too, and writes nothing.
    let unsigned = commit(&repo, t.path(), "c", "c", "2024-01-03");
    let err = fails(
        uptree_bin(),
        os_args![repo_arg(&repo), "commit", "-b", "c", "--sign-type=dummy", "--sign=dummysign", tree(t.path(), "c2").display().to_string()],
        &[],
    );
    assert!(err.contains("only for ostree testing"), "{err}");
    assert_eq!(ostree(os_args![repo_arg(&repo), "rev-parse", "c"]), unsigned, "no unsigned commit published");
    let err = fails(uptree_bin(), os_args![repo_arg(&repo), "sign", "--sign-type=nosuch", &unsigned, "k"], &[]);
    assert!(err.contains("Requested signature type is not implemented"), "{err}");
}

/// `sign-verify=true` with only a `verification-dummy-key` pulls a
/// commit ostree signed with that key and refuses another key; a
/// signature deleted locally comes back with the next pull, as in ostree.
#[test]
fn pull_verifies_dummy_signatures_and_restores_a_deleted_one() {
    let t = scratch();
    let server = server_repo(t.path());
    let tr = tree(t.path(), "v1");
    let c = ostree_env(
        os_args![repo_arg(&server), "commit", "-b", "main", "-s", "v1", "--sign-type=dummy", "--sign=dummysign", tr.display().to_string()],
        DUMMY_ON,
    );
    ostree(os_args![repo_arg(&server), "summary", "-u"]);
    let origin = TestServer::origin(server.clone());
    let pull = |name: &str, key: &str| {
        let d = device(t.path(), name);
        remote_add(&d, "origin", &origin.url(), &["--set=sign-verify=true".to_string(), format!("--set=verification-dummy-key={key}")]);
        let r = if key == "dummysign" {
            Ok(up_env(os_args![repo_arg(&d), "pull", "origin", "main"], DUMMY_ON))
        } else {
            Err(fails(uptree_bin(), os_args![repo_arg(&d), "pull", "origin", "main"], DUMMY_ON))
        };
        (d, r)
    };
    let (wrong, r) = pull("wrong", "otherkey");
    let err = r.expect_err("refused");
    assert!(err.contains("signature: dummy: incorrect signatures found: 1"), "{err}");
    assert_ref(&wrong, "origin:main", None);
    let (good, _) = pull("good", "dummysign");
    assert_ref(&good, "origin:main", Some(&c));
    let meta = find_object(&good, &c, "commitmeta");
    fs::remove_file(&meta).expect("rm commitmeta");
    up_env(os_args![repo_arg(&good), "pull", "origin", "main"], DUMMY_ON);
    assert_eq!(fs::read(&meta).expect("commitmeta back"), fs::read(find_object(&server, &c, "commitmeta")).expect("server commitmeta"));
    // Without ostree's switch the dummy type verifies nothing.
    let err = fails(uptree_bin(), os_args![repo_arg(&good), "pull", "origin", "main"], &[]);
    assert!(err.contains("only for ostree testing"), "{err}");
}

/// `remote add --sign-verify=TYPE=inline:KEY|file:PATH` as ostree parses it.
#[test]
fn remote_add_sign_verify_is_parsed_as_ostree_does() {
    let t = scratch();
    let d = device(t.path(), "d");
    for (spec, err) in [
        ("trustme=inline:ok", "Requested signature type is not implemented"),
        ("dummy", "Failed to parse KEYTYPE=[inline|file]:DATA in dummy"),
        ("dummy=foo:bar", "Invalid key reference foo, expected inline|file"),
    ] {
        let got = up_fails(os_args![repo_arg(&d), "remote", "add", format!("--sign-verify={spec}"), "other", "http://localhost"]);
        assert!(got.contains(err), "{spec}: {got}");
    }
    up(os_args![repo_arg(&d), "remote", "add", "--sign-verify=dummy=inline:x", "o4", "http://localhost"]);
    let config = fs::read_to_string(d.join("config")).expect("config");
    assert!(config.ends_with("[remote \"o4\"]\nurl=http://localhost\nverification-dummy-key=x\nsign-verify=dummy\n"), "{config}");
}

/// ostree's messages for ed25519 verification, which scripts grep, and
/// `--keys-file` / `--keys-dir` (trusted and revoked keys).
#[test]
fn ed25519_verify_messages_and_key_locations() {
    let t = scratch();
    let repo = server_repo(t.path());
    let c = commit(&repo, t.path(), "main", "a", "2024-01-01");
    let (secret, public) = key(1);
    up(os_args![repo_arg(&repo), "sign", &c, &secret]);
    let hex: String = sign::base64_decode(&public).expect("b64").iter().map(|b| format!("{b:02x}")).collect();
    let ok = up(os_args![repo_arg(&repo), "sign", "--verify", &c, key(2).1, &public]);
    assert_eq!(ok, format!("ed25519: Signature verified successfully with key '{hex}'"));
    let wrong: Vec<String> = (10..14).map(|s| key(s).1).collect();
    let keys = t.path().join("keys");
    fs::write(&keys, wrong.join("\n")).expect("write");
    let err = up_fails(os_args![repo_arg(&repo), "sign", "--verify", "--keys-file", &keys, &c]);
    assert!(err.contains("ed25519: Signature couldn't be verified; tried 4 keys"), "{err}");
    let err = up_fails(os_args![repo_arg(&repo), "sign", "--verify", &c, &wrong[0]]);
    let wrong_hex: String = sign::base64_decode(&wrong[0]).expect("b64").iter().map(|b| format!("{b:02x}")).collect();
    assert!(err.contains(&format!("ed25519: Signature couldn't be verified with: key '{wrong_hex}'")), "{err}");
    let dir = t.path().join("etc");
    fs::create_dir_all(dir.join("trusted.ed25519.d")).expect("mkdir");
    fs::write(dir.join("trusted.ed25519.d/k"), &public).expect("write");
    up(os_args![repo_arg(&repo), "sign", "--verify", "--keys-dir", &dir, &c]);
    fs::write(dir.join("revoked.ed25519"), &public).expect("write");
    up_fails(os_args![repo_arg(&repo), "sign", "--verify", "--keys-dir", &dir, &c]);
}

/// `sign-verify=TYPE` names a type that must have keys; an unknown type
/// is refused, in ostree's words, before anything is fetched.
#[test]
fn sign_verify_type_without_keys_or_unknown_is_refused() {
    let t = scratch();
    let server = server_repo(t.path());
    commit(&server, t.path(), "main", "a", "2024-01-01");
    let url = format!("file://{}", server.display());
    for (name, opts, err) in [
        ("dummy", vec!["--set=sign-verify=dummy".to_string()], "No keys found for required signapi type dummy"),
        (
            "nosuch",
            vec!["--set=sign-verify=nosuchsystem".to_string(), "--set=verification-dummy-key=k".to_string()],
            "Requested signature type is not implemented",
        ),
        ("none", vec!["--set=sign-verify=true".to_string()], "sign-verify is enabled but no ed25519 public key is configured"),
    ] {
        let d = device(t.path(), name);
        remote_add(&d, "origin", &url, &opts);
        let got = fails(uptree_bin(), os_args![repo_arg(&d), "pull", "origin", "main"], DUMMY_ON);
        assert!(got.contains(err), "{name}: {got}");
        assert_ref(&d, "origin:main", None);
    }
}
