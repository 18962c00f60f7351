//! GPG signatures end to end (feature `gpg`): commits and summaries signed
//! by the real `ostree --gpg-sign` with Debian's gnupg (throwaway keys made
//! here), pulled by uptree over HTTPS (nginx) and `file://`, with keyrings
//! where ostree keeps them. A valid signature passes; an unsigned commit, a
//! foreign key, a tampered commit byte and a signature copied from another
//! commit are each refused with a clear message and no ref moved.
#![cfg(feature = "gpg")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::nginx::{make_pki, Nginx};
use common::*;

/// A GnuPG home with throwaway keys, as a publisher would have.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    fn new(dir: &Path) -> Gpg {
        let home = dir.join("gnupg");
        fs::create_dir_all(&home).expect("gnupg home");
        fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        Gpg { home }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg (the tests install gnupg)");
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new signing key; returns its fingerprint.
    fn key(&self, uid: &str, algo: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, "sign", "never"]);
        let listing = self.run(&["--with-colons", "--list-keys", uid]);
        listing.lines().find_map(|l| l.strip_prefix("fpr:").map(|r| r.trim_matches(':').to_string())).expect("fingerprint")
    }

    /// `gpg --export` of `keys` (binary unless `armor`) into `path`.
    fn export(&self, keys: &[&str], path: &Path, armor: bool) {
        let mut a = vec!["--output", path.to_str().expect("utf-8 path")];
        if armor {
            a.push("--armor");
        }
        a.push("--export");
        a.extend(keys);
        self.run(&a);
    }

    fn home_arg(&self) -> String {
        format!("--gpg-homedir={}", self.home.display())
    }

    fn kill_agent(&self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", &self.home).args(["--kill", "gpg-agent"]).output();
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        self.kill_agent();
    }
}

/// A small tree whose content depends on `gen`.
fn tree(dir: &Path, gen: &str) -> PathBuf {
    let t = dir.join(format!("tree-{gen}"));
    build_tree(&t, &format!("d usr 755\nf usr/release 644 {gen}\\n\n"));
    t
}

/// `ostree commit` on `branch`, GPG-signed with `key` if given.
fn commit(repo: &Path, dir: &Path, gpg: &Gpg, branch: &str, subject: &str, key: Option<&str>) -> String {
    let t = tree(dir, subject);
    let mut a = vec![repo_arg(repo), "commit".into(), "-b".into(), branch.into(), "-s".into(), subject.into(), "--timestamp=2024-01-01 00:00:00 +0000".into()];
    if let Some(k) = key {
        a.push(format!("--gpg-sign={k}"));
        a.push(gpg.home_arg());
    }
    a.push(t.display().to_string());
    ostree(&a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>())
}

fn object(repo: &Path, csum: &str, ext: &str) -> PathBuf {
    repo.join(format!("objects/{}/{}.{ext}", &csum[..2], &csum[2..]))
}

/// Publish the commit `branch` names with one byte of its subject
/// changed, under its new checksum and with the original's signatures:
/// the hash matches, only the signature can catch it.
fn tamper(repo: &Path, branch: &str) -> String {
    let c = ostree(os_args![repo_arg(repo), "rev-parse", branch]);
    let mut bytes = fs::read(object(repo, &c, "commit")).expect("commit object");
    let at = bytes.windows(6).position(|w| w == b"tamper").expect("subject in the commit");
    bytes[at] = b'T';
    let new = sha256_hex(&bytes);
    fs::create_dir_all(object(repo, &new, "commit").parent().expect("dir")).expect("mkdir");
    fs::write(object(repo, &new, "commit"), &bytes).expect("write commit");
    fs::copy(object(repo, &c, "commitmeta"), object(repo, &new, "commitmeta")).expect("copy commitmeta");
    fs::write(repo.join("refs/heads").join(branch), format!("{new}\n")).expect("move ref");
    new
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("hash").to_string()
}

/// What `remote:ref` names, or `None`.
fn ref_value(repo: &Path, remote_ref: &str) -> Option<String> {
    let refs = up(os_args![repo_arg(repo), "refs"]);
    refs.lines().any(|l| l == remote_ref).then(|| up(os_args![repo_arg(repo), "rev-parse", remote_ref]))
}

/// The server: signed, unsigned, foreign-signed, tampered and
/// copied-signature commits, and a summary signed by `summary_key`.
struct Served {
    repo: PathBuf,
    good: String,
    trusted: Vec<String>,
    keyring_asc: PathBuf,
    keyring_bin: PathBuf,
}

fn serve(t: &Path, gpg: &Gpg) -> Served {
    // RSA for commits (most published ostree repos), ed25519 for the summary.
    let rsa = gpg.key("uptree commits <commits@example.com>", "rsa2048");
    let ed = gpg.key("uptree summaries <summaries@example.com>", "ed25519");
    let foreign = gpg.key("someone else <else@example.com>", "ed25519");
    let repo = t.join("server");
    ostree(os_args![repo_arg(&repo), "init", "--mode=archive"]);
    let good = commit(&repo, t, gpg, "os/stable", "good", Some(&rsa));
    commit(&repo, t, gpg, "os/unsigned", "unsigned", None);
    commit(&repo, t, gpg, "os/foreign", "foreign", Some(&foreign));
    commit(&repo, t, gpg, "os/tampered", "tamper-me", Some(&rsa));
    tamper(&repo, "os/tampered");
    let copied = commit(&repo, t, gpg, "os/copied", "copied", None);
    fs::copy(object(&repo, &good, "commitmeta"), object(&repo, &copied, "commitmeta")).expect("copy signature");
    ostree(os_args![repo_arg(&repo), "summary", "-u", format!("--gpg-sign={ed}"), gpg.home_arg()]);
    let (keyring_asc, keyring_bin) = (t.join("trusted.asc"), t.join("trusted.gpg"));
    gpg.export(&[&rsa, &ed], &keyring_asc, true);
    gpg.export(&[&rsa, &ed], &keyring_bin, false);
    Served { repo, good, trusted: vec![rsa, ed], keyring_asc, keyring_bin }
}

fn device(dir: &Path) -> PathBuf {
    let repo = dir.join("device");
    up(os_args![repo_arg(&repo), "init", "--mode=bare-user"]);
    repo
}

/// Each bad commit refused with its reason, no ref written; then the good one.
fn assert_policy_holds(dev: &Path, remote: &str, good: &str) {
    let cases = [
        ("os/unsigned", "GPG verification enabled, but no signatures found"),
        ("os/foreign", "public key not found"),
        ("os/tampered", "BAD signature"),
        ("os/copied", "BAD signature"),
    ];
    for (branch, why) in cases {
        let err = up_fails(os_args![repo_arg(dev), "pull", remote, branch]);
        assert!(err.contains("Can't verify commit") && err.contains(why), "{branch}: {err}");
        assert_eq!(ref_value(dev, &format!("{remote}:{branch}")), None, "{branch} was written");
    }
    up(os_args![repo_arg(dev), "pull", remote, "os/stable"]);
    assert_eq!(ref_value(dev, &format!("{remote}:os/stable")).as_deref(), Some(good));
    up(os_args![repo_arg(dev), "fsck"]);
}

/// HTTPS, keys imported with `remote add --gpg-import` (ASCII armour)
/// into `<repo>/NAME.trustedkeys.gpg`, summary verified too.
#[test]
fn https_remote_with_imported_keyring() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let s = serve(t.path(), &gpg);
    let pki = make_pki(&t.path().join("pki"));
    let nginx = Nginx::start(&s.repo, &pki, &t.path().join("nginx"), false);
    let dev = device(t.path());
    let out = up(os_args![
        repo_arg(&dev),
        "remote",
        "add",
        format!("--set=tls-ca-path={}", pki.ca.display()),
        "--set=gpg-verify-summary=true",
        format!("--gpg-import={}", s.keyring_asc.display()),
        "origin",
        nginx.https_url()
    ]);
    assert_eq!(out, "Imported 2 GPG keys to remote \"origin\"");
    assert!(dev.join("origin.trustedkeys.gpg").is_file(), "keyring beside the repo config, as ostree keeps it");
    assert_policy_holds(&dev, "origin", &s.good);

    // A cached summary that no longer matches its signature is replaced by
    // the server's; libostree's OSTREE_REPO_TEST_ERROR=invalid-cache makes
    // that an error instead, the cache left as it was.
    let cached = dev.join("tmp/cache/summaries/origin");
    let good_summary = fs::read(&cached).expect("cached summary");
    let mut broken = good_summary.clone();
    broken[0] ^= 0x01;
    fs::write(&cached, &broken).expect("break the cache");
    let err = fails(uptree_bin(), os_args![repo_arg(&dev), "pull", "origin", "os/stable"], &[("OSTREE_REPO_TEST_ERROR", "invalid-cache")]);
    assert!(err.contains("OSTREE_REPO_TEST_ERROR_INVALID_CACHE"), "{err}");
    assert_eq!(fs::read(&cached).expect("cache"), broken);
    up(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert_eq!(fs::read(&cached).expect("cache"), good_summary, "the server's summary cached again");

    // The summary is checked before it is used: one byte changed, refused.
    // (The cached copy would stand in while summary.sig is unchanged.)
    fs::remove_dir_all(dev.join("tmp/cache/summaries")).expect("clear the summary cache");
    let summary = s.repo.join("summary");
    let mut bytes = fs::read(&summary).expect("summary");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&summary, &bytes).expect("write summary");
    let err = up_fails(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert!(err.contains("Can't verify summary") && err.contains("BAD signature"), "{err}");
    // And an unsigned summary is refused where gpg-verify-summary is set.
    fs::remove_file(s.repo.join("summary.sig")).expect("rm summary.sig");
    let err = up_fails(os_args![repo_arg(&dev), "pull", "origin", "os/stable"]);
    assert!(err.contains("Can't verify summary") && err.contains("no signatures found"), "{err}");
}

/// `file://`, keys from the remote's `gpgkeypath=` (a binary keyring).
#[test]
fn file_remote_with_gpgkeypath() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let s = serve(t.path(), &gpg);
    let dev = device(t.path());
    let url = format!("file://{}", s.repo.display());
    up(os_args![repo_arg(&dev), "remote", "add", format!("--set=gpgkeypath={}", s.keyring_bin.display()), "usb", &url]);
    assert_policy_holds(&dev, "usb", &s.good);

    // Split as GLib splits lists (ostree reads them so): an empty entry
    // before a separator is a path that does not exist; a trailing
    // separator adds nothing.
    let keys = s.keyring_bin.display();
    up(os_args![repo_arg(&dev), "remote", "add", format!("--set=gpgkeypath=,{keys}"), "leading", &url]);
    let err = up_fails(os_args![repo_arg(&dev), "pull", "leading", "os/stable"]);
    assert!(err.contains("open(): No such file or directory"), "{err}");
    up(os_args![repo_arg(&dev), "remote", "add", format!("--set=gpgkeypath={keys},"), "trailing", &url]);
    up(os_args![repo_arg(&dev), "pull", "trailing", "os/stable"]);
}

/// No keyring for the remote: ostree's global directory (`OSTREE_GPG_HOME`
/// overrides `/usr/share/ostree/trusted.gpg.d`) is used, its `*.gpg` files.
#[test]
fn global_keyring_directory() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let s = serve(t.path(), &gpg);
    let dev = device(t.path());
    let url = format!("file://{}", s.repo.display());
    up(os_args![repo_arg(&dev), "remote", "add", "vendor", &url]);
    let global = t.path().join("trusted.gpg.d");
    fs::create_dir_all(&global).expect("mkdir");
    let home = global.display().to_string();
    let envs = [("OSTREE_GPG_HOME", home.as_str())];
    // Empty: nothing trusted.
    let err = fails(uptree_bin(), os_args![repo_arg(&dev), "pull", "vendor", "os/stable"], &envs);
    assert!(err.contains("public key not found"), "{err}");
    assert_eq!(ref_value(&dev, "vendor:os/stable"), None);
    // Only *.gpg files count (not the armoured copy next to it).
    fs::copy(&s.keyring_asc, global.join("vendor.asc")).expect("copy");
    let err = fails(uptree_bin(), os_args![repo_arg(&dev), "pull", "vendor", "os/stable"], &envs);
    assert!(err.contains("public key not found"), "{err}");
    fs::copy(&s.keyring_bin, global.join("vendor.gpg")).expect("copy");
    ok(uptree_bin(), os_args![repo_arg(&dev), "pull", "vendor", "os/stable"], &envs);
    assert_eq!(ref_value(&dev, "vendor:os/stable").as_deref(), Some(s.good.as_str()));
}

/// `remote gpg-import` writes the keyring ostree reads (and the reverse):
/// real ostree verifies with a keyring uptree imported, and `-k KEYID`
/// imports only that key; `pull-local --remote --gpg-verify` checks it.
#[test]
fn gpg_import_matches_ostree() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let s = serve(t.path(), &gpg);
    let (o, u) = (t.path().join("o"), t.path().join("u"));
    ostree(os_args![repo_arg(&o), "init", "--mode=bare-user"]);
    up(os_args![repo_arg(&u), "init", "--mode=bare-user"]);
    let url = format!("file://{}", s.repo.display());
    for repo in [&o, &u] {
        let tool = |a: &[&std::ffi::OsStr]| if repo == &o { ostree(a) } else { up(a) };
        tool(os_args![repo_arg(repo), "remote", "add", "origin", &url]);
        let one = tool(os_args![repo_arg(repo), "remote", "gpg-import", format!("--keyring={}", s.keyring_bin.display()), "origin", &s.trusted[0]]);
        assert_eq!(one, "Imported 1 GPG key to remote \"origin\"");
        let again = tool(os_args![repo_arg(repo), "remote", "gpg-import", "-k", s.keyring_bin.display().to_string(), "origin"]);
        assert_eq!(again, "Imported 1 GPG key to remote \"origin\"", "the second key is new, the first one is not");
    }
    // Each tool verifies with the keyring the other wrote.
    fs::copy(u.join("origin.trustedkeys.gpg"), o.join("origin.trustedkeys.gpg")).expect("copy");
    ostree(os_args![repo_arg(&o), "pull", "origin", "os/stable"]);
    let (o2, u2) = (t.path().join("o2"), t.path().join("u2"));
    up(os_args![repo_arg(&u2), "init", "--mode=bare-user"]);
    ostree(os_args![repo_arg(&o2), "init", "--mode=bare-user"]);
    ostree(os_args![repo_arg(&o2), "remote", "add", "origin", &url]);
    ostree(os_args![repo_arg(&o2), "remote", "gpg-import", format!("--keyring={}", s.keyring_bin.display()), "origin"]);
    up(os_args![repo_arg(&u2), "remote", "add", "origin", &url]);
    fs::copy(o2.join("origin.trustedkeys.gpg"), u2.join("origin.trustedkeys.gpg")).expect("copy");
    up(os_args![repo_arg(&u2), "pull", "origin", "os/stable"]);
    assert_eq!(ref_value(&u2, "origin:os/stable").as_deref(), Some(s.good.as_str()));

    // remote delete takes the keyring with it, as ostree's does.
    for repo in [&o, &u] {
        let tool = |a: &[&std::ffi::OsStr]| if repo == &o { ostree(a) } else { up(a) };
        tool(os_args![repo_arg(repo), "remote", "add", "gone", &url]);
        tool(os_args![repo_arg(repo), "remote", "gpg-import", format!("--keyring={}", s.keyring_bin.display()), "gone"]);
        assert!(repo.join("gone.trustedkeys.gpg").is_file());
        tool(os_args![repo_arg(repo), "remote", "delete", "gone"]);
        assert!(!repo.join("gone.trustedkeys.gpg").exists(), "{}", repo.display());
    }

    // pull-local into the remote's refs, held to its keys on request.
    let src = s.repo.display().to_string();
    let err = up_fails(os_args![repo_arg(&u), "pull-local", "--remote=origin", "--gpg-verify", &src, "os/copied"]);
    assert!(err.contains("BAD signature"), "{err}");
    assert_eq!(ref_value(&u, "origin:os/copied"), None);
    up(os_args![repo_arg(&u), "pull-local", "--remote=origin", "--gpg-verify", &src, "os/stable"]);
    assert_eq!(ref_value(&u, "origin:os/stable").as_deref(), Some(s.good.as_str()));
}

/// `--version` says `gpgme`, which is how scripts and ostree's test suite
/// learn that GPG works.
#[test]
fn version_lists_gpgme() {
    let v = up(os_args!["--version"]);
    assert!(v.lines().any(|l| l == "  - gpgme"), "{v}");
}

/// uptree signs (`commit --gpg-sign`, `summary --gpg-sign`, `gpg-sign`)
/// with the secret keys of a GnuPG home's `secring.gpg`, and real ostree
/// verifies what it made; `gpg-sign --delete` removes one key's signatures.
#[test]
fn uptree_signs_and_ostree_verifies() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let rsa = gpg.key("uptree signer <signer@example.com>", "rsa2048");
    let ed = gpg.key("uptree second <second@example.com>", "ed25519");
    // GnuPG 2 keeps secret keys in its own format; a home for signing has
    // them exported as OpenPGP packets, the layout GnuPG 1 used.
    let signhome = t.path().join("signhome");
    fs::create_dir_all(&signhome).expect("mkdir");
    gpg.run(&["--output", signhome.join("secring.gpg").to_str().expect("utf-8"), "--export-secret-keys"]);
    let home = format!("--gpg-homedir={}", signhome.display());
    // ostree reads *.gpg keyrings of a --gpg-homedir, not GnuPG 2's pubring.kbx.
    let keydir = t.path().join("keys");
    fs::create_dir_all(&keydir).expect("mkdir");
    let keyring = keydir.join("trusted.gpg");
    gpg.export(&[&rsa, &ed], &keyring, false);
    let keys_arg = format!("--gpg-homedir={}", keydir.display());

    let server = t.path().join("server");
    up(os_args![repo_arg(&server), "init", "--mode=archive"]);
    let tr = tree(t.path(), "one");
    let c = up(os_args![repo_arg(&server), "commit", "-b", "os/stable", format!("--gpg-sign={rsa}"), &home, tr.display().to_string()]);
    up(os_args![repo_arg(&server), "summary", "-u", format!("--gpg-sign={ed}"), &home]);

    let o = t.path().join("o");
    ostree(os_args![repo_arg(&o), "init", "--mode=bare-user"]);
    let url = format!("file://{}", server.display());
    ostree(os_args![repo_arg(&o), "remote", "add", format!("--gpg-import={}", keyring.display()), "--set=gpg-verify-summary=true", "origin", &url]);
    ostree(os_args![repo_arg(&o), "pull", "origin", "os/stable"]);
    assert_eq!(ostree(os_args![repo_arg(&o), "rev-parse", "origin:os/stable"]), c);

    // A second signature, then one key's signatures deleted: ostree counts them.
    up(os_args![repo_arg(&server), "gpg-sign", &home, "os/stable", &ed]);
    let shown = ostree(os_args![repo_arg(&server), "show", "os/stable", &keys_arg]);
    assert!(shown.contains("Found 2 signatures") && shown.matches("Good signature").count() == 2, "{shown}");
    assert_eq!(up(os_args![repo_arg(&server), "gpg-sign", "--delete", "os/stable", &rsa]), "Signatures deleted: 1");
    let shown = ostree(os_args![repo_arg(&server), "show", "os/stable", &keys_arg]);
    assert!(shown.contains("Found 1 signature") && shown.contains("Good signature from \"uptree second"), "{shown}");

    // A key that is not there: refused before the branch moves.
    let err = up_fails(os_args![repo_arg(&server), "commit", "-b", "os/stable", "--gpg-sign=0123456789ABCDEF", &home, tr.display().to_string()]);
    assert!(err.contains("no secret key \"0123456789ABCDEF\""), "{err}");
    assert_eq!(up(os_args![repo_arg(&server), "rev-parse", "os/stable"]), c);
}

/// `remote summary` (with its signature account, and `--raw`) and `remote
/// gpg-list-keys` print what ostree prints for the same remote and keys,
/// byte for byte (TZ=UTC, as ostree's tests run them).
#[test]
fn remote_summary_and_gpg_list_keys_match_ostree() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let s = serve(t.path(), &gpg);
    let url = format!("file://{}", s.repo.display());
    let (o, u) = (t.path().join("o"), t.path().join("u"));
    let empty = t.path().join("no-global-keys");
    fs::create_dir_all(&empty).expect("mkdir");
    let envs = [("TZ", "UTC"), ("OSTREE_GPG_HOME", empty.to_str().expect("utf-8"))];
    for (prog, repo) in [("ostree", &o), (uptree_bin(), &u)] {
        ok(prog, os_args![repo_arg(repo), "init", "--mode=bare-user"], &envs);
        ok(prog, os_args![repo_arg(repo), "remote", "add", "--set=gpg-verify-summary=true", "origin", &url], &envs);
        // No key yet: the signed summary is not shown, and no key listed.
        let err = fails(prog, os_args![repo_arg(repo), "remote", "summary", "origin"], &envs);
        assert!(err.contains("public key not found"), "{prog}: {err}");
        assert_eq!(ok(prog, os_args![repo_arg(repo), "remote", "gpg-list-keys", "origin"], &envs), "", "{prog}");
        ok(prog, os_args![repo_arg(repo), "remote", "gpg-import", format!("--keyring={}", s.keyring_bin.display()), "origin"], &envs);
    }
    for args in [&["remote", "summary", "origin"][..], &["remote", "summary", "--raw", "origin"], &["remote", "gpg-list-keys", "origin"]] {
        let theirs = ok("ostree", &[&[repo_arg(&o).as_ref()], &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>()[..]].concat(), &envs);
        // GLib pads a one-digit day with U+2007 (a figure space); uptree,
        // like C's %c, with a space.
        let theirs = theirs.replace('\u{2007}', " ");
        let ours = ok(uptree_bin(), &[&[repo_arg(&u).as_ref()], &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>()[..]].concat(), &envs);
        assert_eq!(ours, theirs, "{args:?}");
    }
    let shown = ok(uptree_bin(), os_args![repo_arg(&u), "remote", "summary", "origin"], &envs);
    assert!(shown.contains("GPG: Verification enabled, found 1 signature:") && shown.contains("Good signature from \"uptree summaries"), "{shown}");
}

/// A build server's GnuPG 2.1+ home (secret keys in private-keys-v1.d, no
/// secring.gpg): uptree signs through gpg, and real ostree verifies it.
#[test]
fn signs_with_a_gnupg2_home() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let rsa = gpg.key("build server <build@example.com>", "rsa2048");
    assert!(gpg.home.join("private-keys-v1.d").is_dir() && !gpg.home.join("secring.gpg").exists());
    let server = t.path().join("server");
    up(os_args![repo_arg(&server), "init", "--mode=archive"]);
    let tr = tree(t.path(), "one");
    let c = up(os_args![repo_arg(&server), "commit", "-b", "os/stable", format!("--gpg-sign={rsa}"), gpg.home_arg(), tr.display().to_string()]);
    let keyring = t.path().join("trusted.gpg");
    gpg.export(&[&rsa], &keyring, false);
    let o = t.path().join("o");
    ostree(os_args![repo_arg(&o), "init", "--mode=bare-user"]);
    let url = format!("file://{}", server.display());
    ostree(os_args![repo_arg(&o), "remote", "add", format!("--gpg-import={}", keyring.display()), "origin", &url]);
    ostree(os_args![repo_arg(&o), "pull", "origin", "os/stable"]);
    assert_eq!(ostree(os_args![repo_arg(&o), "rev-parse", "origin:os/stable"]), c);
    // A key the home does not hold: refused, the branch stays.
    let err = up_fails(os_args![repo_arg(&server), "commit", "-b", "os/stable", "--gpg-sign=0123456789ABCDEF", gpg.home_arg(), tr.display().to_string()]);
    assert!(err.contains("no secret key \"0123456789ABCDEF\""), "{err}");
    assert_eq!(up(os_args![repo_arg(&server), "rev-parse", "os/stable"]), c);
}

/// With a collection ID, `summary -u --gpg-sign` also signs the new
/// ostree-metadata commit with the same keys, as ostree does
/// (test-summary-update.sh); ostree finds the signature good.
#[test]
fn summary_signs_the_ostree_metadata_commit() {
    let t = scratch();
    let gpg = Gpg::new(t.path());
    let rsa = gpg.key("uptree signer <signer@example.com>", "rsa2048");
    let signhome = t.path().join("signhome");
    fs::create_dir_all(&signhome).expect("mkdir");
    gpg.run(&["--output", signhome.join("secring.gpg").to_str().expect("utf-8"), "--export-secret-keys"]);
    let keydir = t.path().join("keys");
    fs::create_dir_all(&keydir).expect("mkdir");
    gpg.export(&[&rsa], &keydir.join("trusted.gpg"), false);

    let server = t.path().join("server");
    up(os_args![repo_arg(&server), "init", "--mode=archive", "--collection-id=org.example.C1"]);
    up(os_args![repo_arg(&server), "commit", "-b", "main", tree(t.path(), "one").display().to_string()]);
    up(os_args![repo_arg(&server), "summary", "-u", format!("--gpg-sign={rsa}"), format!("--gpg-homedir={}", signhome.display()), "-m", "k=1"]);
    let shown = ostree(os_args![repo_arg(&server), "show", "ostree-metadata", format!("--gpg-homedir={}", keydir.display())]);
    assert!(shown.contains("Found 1 signature") && shown.contains("Good signature from \"uptree signer"), "{shown}");
}
