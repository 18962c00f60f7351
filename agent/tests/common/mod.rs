//! Shared test helpers: run the real `uptree` binary and the real `ostree`,
//! build trees from a tiny text description, snapshot trees for comparison.
#![allow(dead_code)]

pub mod device;
pub mod http;
pub mod nginx;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn uptree_bin() -> &'static str {
    env!("CARGO_BIN_EXE_uptree")
}

fn show(cmd: &str, args: &[&OsStr], out: &Output) -> String {
    let a: Vec<String> = args.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    format!(
        "$ {cmd} {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
        a.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_cmd(program: &str, args: &[&OsStr], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(program);
    c.args(args).env("LC_ALL", "C.UTF-8").env("TZ", "UTC");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap_or_else(|e| panic!("cannot run {program}: {e} (is it installed? .ci/run installs ostree)"))
}

/// Run a command that must succeed; returns trimmed stdout.
pub fn ok(program: &str, args: &[&OsStr], envs: &[(&str, &str)]) -> String {
    let out = run_cmd(program, args, envs);
    assert!(out.status.success(), "command failed:\n{}", show(program, args, &out));
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Run a command that must fail cleanly (exit 1, an `error:` line, no panic).
pub fn fails(program: &str, args: &[&OsStr], envs: &[(&str, &str)]) -> String {
    let out = run_cmd(program, args, envs);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "command unexpectedly succeeded:\n{}", show(program, args, &out));
    assert!(!stderr.contains("panicked"), "panic instead of an error:\n{}", show(program, args, &out));
    stderr
}

#[macro_export]
macro_rules! os_args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new(&$a)),*] };
}

pub fn up(args: &[&OsStr]) -> String {
    ok(uptree_bin(), args, &[])
}

pub fn up_env(args: &[&OsStr], envs: &[(&str, &str)]) -> String {
    ok(uptree_bin(), args, envs)
}

pub fn up_fails(args: &[&OsStr]) -> String {
    fails(uptree_bin(), args, &[])
}

/// `uptree ARGS` must end within `secs` with exit status 1: an error, not
/// a signal (a panic under the release profile's `panic=abort` is SIGABRT)
/// and not a hang (a run still going is killed and fails the test).
pub fn up_fails_within(args: &[&OsStr], secs: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    let child = Command::new(uptree_bin())
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run uptree");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(std::time::Duration::from_secs(secs)) else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("uptree {args:?} still running after {secs} s");
    };
    let out = out.expect("wait for uptree");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "uptree {args:?} must end in an error, not {:?} (signal {:?}):\n{stderr}", out.status.code(), out.status.signal());
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

pub fn ostree(args: &[&OsStr]) -> String {
    ok("ostree", args, &[])
}

pub fn ostree_env(args: &[&OsStr], envs: &[(&str, &str)]) -> String {
    ok("ostree", args, envs)
}

pub fn repo_arg(p: &Path) -> String {
    format!("--repo={}", p.display())
}

/// A scratch directory removed at the end of the test.
pub fn scratch() -> tempfile::TempDir {
    // Under /var/tmp: a real disk filesystem with user xattrs (tmpfs may lack them).
    let base = std::env::var_os("UPTREE_TEST_TMP").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/tmp"));
    tempfile::Builder::new().prefix("uptree-test-").tempdir_in(base).expect("temp dir")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Build a tree from lines:
/// `d PATH MODE [UID:GID]`, `f PATH MODE [UID:GID] [CONTENT]` (`\n` escapes),
/// `l PATH TARGET`, `x PATH NAME VALUE` (xattr), `h PATH EXISTING` (hardlink).
/// Ownership is applied only when running as root.
pub fn build_tree(root: &Path, spec: &str) {
    fs::create_dir_all(root).expect("root");
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut parts = line.splitn(2, ' ');
        let kind = parts.next().unwrap_or_default();
        let rest = parts.next().unwrap_or_default();
        match kind {
            "d" | "f" => {
                let mut it = rest.splitn(4, ' ');
                let path = root.join(it.next().expect("path"));
                let mode = u32::from_str_radix(it.next().expect("mode"), 8).expect("octal mode");
                let mut owner = None;
                let mut content = String::new();
                for extra in it {
                    if owner.is_none() && content.is_empty() && extra.contains(':') && extra.split(':').all(|n| n.parse::<u32>().is_ok()) {
                        let (u, g) = extra.split_once(':').expect("uid:gid");
                        owner = Some((u.parse::<u32>().expect("uid"), g.parse::<u32>().expect("gid")));
                    } else {
                        content = if content.is_empty() { extra.to_string() } else { format!("{content} {extra}") };
                    }
                }
                if let Some(p) = path.parent() {
                    fs::create_dir_all(p).expect("parent");
                }
                if kind == "d" {
                    fs::create_dir_all(&path).expect("dir");
                } else {
                    fs::write(&path, content.replace("\\n", "\n")).expect("file");
                }
                if let (Some((u, g)), true) = (owner, is_root()) {
                    std::os::unix::fs::lchown(&path, Some(u), Some(g)).expect("chown");
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            }
            "l" => {
                let (path, target) = rest.split_once(' ').expect("l PATH TARGET");
                let p = root.join(path);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent).expect("parent");
                }
                std::os::unix::fs::symlink(target, &p).expect("symlink");
            }
            "h" => {
                let (path, existing) = rest.split_once(' ').expect("h PATH EXISTING");
                fs::hard_link(root.join(existing), root.join(path)).expect("hardlink");
            }
            "x" => {
                let mut it = rest.splitn(3, ' ');
                let p = root.join(it.next().expect("path"));
                let (name, value) = (it.next().expect("name"), it.next().unwrap_or_default());
                uptree_sys::xattr::set(uptree_sys::xattr::Target::Path(&p), name.as_bytes(), value.as_bytes()).expect("setxattr");
            }
            other => panic!("unknown fixture line kind {other:?}"),
        }
    }
}

/// The tree issue #2 asks for: empty files, > 1 MiB files, relative,
/// absolute and dangling symlinks, empty dirs, setuid/setgid/sticky bits,
/// non-zero uid/gid, xattrs, a directory of 300+ entries, deep nesting,
/// non-ASCII UTF-8 names.
pub fn rich_tree(root: &Path) {
    build_tree(
        root,
        r"
        d . 755
        d usr 755
        d usr/bin 755
        f usr/bin/tool 4755 0:0 #!/bin/sh\necho setuid\n
        f usr/bin/group-tool 2755 0:0 group
        f usr/bin/both 6755 0:0 both bits
        d tmp 1777
        d srv 2775 1000:1001
        f srv/owned 640 1000:1001 owned by someone
        f srv/other-owner 600 4242:0 x
        f empty 644
        f usr/empty-too 600
        d empty-dir 755
        d usr/share/empty 700
        l usr/lib64 lib
        d usr/lib 755
        l abs-link /etc/passwd
        l dangling does/not/exist
        l up ../../outside
        l usr/bin/sh-link ../../usr/bin/tool
        f etc-conf 644 key=value\n
        x etc-conf user.zeta last
        x etc-conf user.alpha first
        x usr/bin/tool user.checksum abc
        x srv user.dirattr on-a-directory
        f grüße.txt 644 Grüße, Welt\n
        d 日本語 755
        f 日本語/ファイル 644 テキスト\n
        f usr/lib/f10 644 sort-order-check
        f usr/lib/f2 644 sort-order-check
        f usr/lib/F1 644 sort-order-check
        h usr/lib/f2-hardlink usr/lib/f2
        ",
    );
    // > 1 MiB incompressible, and > 4 MiB compressible (streamed, not buffered).
    fs::write(root.join("usr/lib/big-random.bin"), noise(3 * 1024 * 1024 + 17, 7)).expect("big");
    fs::write(root.join("usr/lib/big-text.txt"), "all work and no play makes a dull build\n".repeat(150_000)).expect("big text");
    // 350 entries in one directory (two-byte GVariant offsets).
    let many = root.join("usr/share/many");
    fs::create_dir_all(&many).expect("many");
    for i in 0..350 {
        fs::write(many.join(format!("entry-{i:04}")), format!("{i}\n")).expect("many file");
    }
    // 40 levels deep.
    let mut deep = root.join("deep");
    for i in 0..40 {
        deep = deep.join(format!("level{i}"));
    }
    fs::create_dir_all(&deep).expect("deep");
    fs::write(deep.join("bottom.txt"), "down here\n").expect("bottom");
    // Directory modes are set last: the sticky/setgid dirs above keep theirs.
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("root mode");
}

/// One entry of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub content: String,
    pub xattrs: Vec<(String, String)>,
}

/// Snapshot every entry below `root` (not following symlinks).
pub fn snapshot(root: &Path, with_owner: bool, with_xattrs: bool) -> BTreeMap<String, Snap> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).expect("lstat");
        let rel = p.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
        let (kind, content) = if m.file_type().is_symlink() {
            ('l', fs::read_link(&p).expect("readlink").to_string_lossy().into_owned())
        } else if m.is_dir() {
            for e in fs::read_dir(&p).expect("readdir") {
                stack.push(e.expect("entry").path());
            }
            ('d', String::new())
        } else {
            ('f', ostree_repo::Checksum::of(&fs::read(&p).expect("read")).to_hex())
        };
        let mut xattrs = Vec::new();
        if with_xattrs && kind != 'l' {
            for n in uptree_sys::xattr::list(uptree_sys::xattr::Target::Path(&p)).expect("listxattr") {
                if n.starts_with(b"security.") {
                    continue;
                }
                let v = uptree_sys::xattr::get(uptree_sys::xattr::Target::Path(&p), &n).expect("getxattr").unwrap_or_default();
                xattrs.push((String::from_utf8_lossy(&n).into_owned(), String::from_utf8_lossy(&v).into_owned()));
            }
            xattrs.sort();
        }
        let (uid, gid) = if with_owner { (m.uid(), m.gid()) } else { (0, 0) };
        let size = if kind == 'f' { m.len() } else { 0 };
        let mode = if kind == 'l' { 0o777 } else { m.mode() & 0o7777 };
        out.insert(rel, Snap { kind, mode, uid, gid, size, content, xattrs });
    }
    out
}

/// Assert two snapshots are equal, listing the differing paths.
pub fn assert_same_tree(a: &BTreeMap<String, Snap>, b: &BTreeMap<String, Snap>, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k}")),
            Some(w) if w != v => diffs.push(format!("{k}: {v:?} != {w:?}")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        diffs.push(format!("only in second: {k}"));
    }
    assert!(diffs.is_empty(), "{what}: trees differ:\n{}", diffs.join("\n"));
}

/// Path of a loose object in a repo, found by checksum prefix and extension.
pub fn find_object(repo: &Path, csum: &str, ext: &str) -> PathBuf {
    let p = repo.join("objects").join(&csum[..2]).join(format!("{}.{ext}", &csum[2..]));
    assert!(p.exists(), "object {csum}.{ext} not found in {}", repo.display());
    p
}

/// Flip one byte of a file in place (past `offset`, clamped).
pub fn flip_byte(path: &Path, offset: usize) {
    let mut b = fs::read(path).expect("read object");
    let i = offset.min(b.len() - 1);
    b[i] ^= 0x55;
    // Objects are read-only for some modes; write through a fresh file.
    let perm = fs::metadata(path).expect("stat").permissions();
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(path, b).expect("write object");
    fs::set_permissions(path, perm).expect("restore mode");
}

/// `ls -R -C` lines of a commit, for pinpointing checksum mismatches.
pub fn ls_checksums(tool_is_uptree: bool, repo: &Path, rev: &str) -> String {
    if tool_is_uptree {
        up(os_args![repo_arg(repo), "ls", "-R", "-C", rev])
    } else {
        ostree(os_args![repo_arg(repo), "ls", "-R", "-C", rev])
    }
}

/// Commit with both tools using the same arguments; returns (ostree, uptree).
pub fn commit_both(orepo: &Path, urepo: &Path, args: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    let mut oa: Vec<&OsStr> = Vec::new();
    let (ra, rb) = (repo_arg(orepo), repo_arg(urepo));
    oa.push(OsStr::new(&ra));
    oa.push(OsStr::new("commit"));
    oa.extend(args.iter().map(OsStr::new));
    let o = ostree_env(&oa, envs);
    oa[0] = OsStr::new(&rb);
    let u = up_env(&oa, envs);
    if o != u {
        let (lo, lu) = (ls_checksums(false, orepo, &o), ls_checksums(true, urepo, &u));
        let (so, su): (std::collections::BTreeSet<&str>, std::collections::BTreeSet<&str>) = (lo.lines().collect(), lu.lines().collect());
        eprintln!("entries only in ostree's commit:\n{}", so.difference(&su).copied().collect::<Vec<_>>().join("\n"));
        eprintln!("entries only in uptree's commit:\n{}", su.difference(&so).copied().collect::<Vec<_>>().join("\n"));
    }
    (o, u)
}

/// Initialise a repo of `mode` with both tools: (ostree's, uptree's).
pub fn init_both(dir: &Path, mode: &str) -> (PathBuf, PathBuf) {
    let (o, u) = (dir.join(format!("ostree-{mode}")), dir.join(format!("uptree-{mode}")));
    ostree(os_args![repo_arg(&o), "init", format!("--mode={mode}")]);
    up(os_args![repo_arg(&u), "init", format!("--mode={mode}")]);
    (o, u)
}

/// "TREE META" checksums of a commit's root, via `ls -C -d`.
pub fn root_of(repo: &Path, rev: &str) -> String {
    let line = up(os_args![repo_arg(repo), "ls", "-C", "-d", rev, "/"]);
    let f: Vec<&str> = line.split_whitespace().collect();
    format!("{} {}", f[4], f[5])
}

/// A filesystem image of its own, loop-mounted (root only), unmounted on
/// drop. `ostree admin deploy` freezes the filesystem holding /boot, so its
/// sysroots live on one of these, never on the machine's root.
pub struct LoopFs {
    pub mnt: PathBuf,
    img: PathBuf,
}

impl LoopFs {
    /// `fstype`: "ext4" or "vfat".
    pub fn new(dir: &Path, name: &str, size_mib: u64, fstype: &str) -> LoopFs {
        assert!(is_root(), "loop mounts need root (CI runs as root)");
        let img = dir.join(format!("{name}.img"));
        let mnt = dir.join(name);
        fs::create_dir_all(&mnt).expect("mountpoint");
        let f = fs::File::create(&img).expect("image");
        f.set_len(size_mib << 20).expect("size");
        drop(f);
        let img_s = img.to_string_lossy().into_owned();
        match fstype {
            "ext4" => ok("mkfs.ext4", crate::os_args!["-q", "-F", "-E", "nodiscard", img_s], &[]),
            "vfat" => ok("mkfs.vfat", crate::os_args![img_s], &[]),
            other => panic!("unsupported fstype {other}"),
        };
        ok("mount", crate::os_args!["-o", "loop", img_s, mnt.as_os_str()], &[]);
        LoopFs { mnt, img }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let m = self.mnt.to_string_lossy().into_owned();
        if !Command::new("umount").arg(&m).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        let _ = fs::remove_file(&self.img);
    }
}

/// Every path below `root` with its type, mode and link target (sorted),
/// skipping the names in `skip` (relative paths, whole subtrees).
pub fn listing(root: &Path, skip: &[&str]) -> Vec<String> {
    fn walk(root: &Path, rel: &str, skip: &[&str], out: &mut Vec<String>) {
        let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
        let mut names: Vec<String> = fs::read_dir(&dir).expect("read_dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for n in names {
            let r = if rel.is_empty() { n.clone() } else { format!("{rel}/{n}") };
            if skip.contains(&r.as_str()) {
                continue;
            }
            let p = root.join(&r);
            let m = fs::symlink_metadata(&p).expect("lstat");
            if m.file_type().is_symlink() {
                out.push(format!("l {r} -> {}", fs::read_link(&p).expect("readlink").display()));
            } else if m.is_dir() {
                out.push(format!("d {r} {:o}", m.mode() & 0o7777));
                walk(root, &r, skip, out);
            } else {
                out.push(format!("f {r} {:o} {}", m.mode() & 0o7777, m.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", skip, &mut out);
    out
}
