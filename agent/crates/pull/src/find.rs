//! `find-remotes`: which configured remotes serve given collection–refs
//! (ostree's `OstreeRepoFinderConfig` and `ostree_repo_find_remotes`), and
//! pulling each ref from one that has its newest commit.
//!
//! A remote serves (COLLECTION, REF) when its configured `collection-id` is
//! COLLECTION and its summary, verified as a pull verifies it, lists REF for
//! that collection (the summary's own collection or its collection map).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ostree_repo::gvariant::Value;
use ostree_repo::object::Checksum;
use ostree_repo::remote;
use ostree_repo::summary::{Summary, SummaryRef};
use ostree_repo::Repo;

use crate::engine::{pull, pull_local, PullOptions};
use crate::error::{Error, Result};
use crate::transport::NetOptions;
use crate::trust::Policy;

/// A (collection ID, ref name) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRef {
    pub collection_id: String,
    pub ref_name: String,
}

impl std::fmt::Display for CollectionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.collection_id, self.ref_name)
    }
}

/// One source that has some of the wanted refs.
#[derive(Debug, Clone)]
pub struct Found {
    /// The finder's name as ostree prints it (`OstreeRepoFinderConfig`).
    pub finder: &'static str,
    /// The configured remote it is pulled through (its keys apply).
    pub remote: String,
    pub url: String,
    /// A repository on a mounted volume (the mount finder), pulled as a
    /// local source under `remote`'s policy; `None`: the remote's URL.
    pub path: Option<PathBuf>,
    /// Lower is preferred (ostree: config 100).
    pub priority: i32,
    /// `ostree.summary.last-modified` of its summary.
    pub summary_last_modified: Option<u64>,
    /// Each wanted ref with the commit this source offers: `None` when it
    /// lacks the ref or another source has a newer commit of it.
    pub refs: Vec<(CollectionRef, Option<Checksum>)>,
}

/// The refs a summary lists for `collection_id`: its main refs when it is
/// the summary's own collection, and those of its collection map.
fn collection_refs(summary: &Summary, collection_id: &str) -> Vec<SummaryRef> {
    let mut out = Vec::new();
    if summary.meta("ostree.summary.collection-id").and_then(Value::as_str) == Some(collection_id) {
        out.extend(summary.refs.iter().cloned());
    }
    for (cid, refs) in summary.collection_map() {
        if cid == collection_id {
            out.extend(refs);
        }
    }
    out
}

fn be_u64(v: Option<&Value>) -> Option<u64> {
    match v {
        Some(Value::U64(x)) => Some(u64::from_be(*x)),
        _ => None,
    }
}

/// The configured remotes (with a `collection-id`) that serve any of
/// `wanted`, keeping for each ref only the sources with its newest commit
/// (by the summaries' commit timestamps). A remote whose summary cannot be
/// fetched or verified is left out, as ostree does. Each with its refs'
/// commit timestamps.
pub fn find_in_config(repo: &Repo, wanted: &[CollectionRef], net: &NetOptions) -> Result<Vec<(Found, Vec<u64>)>> {
    let mut found: Vec<(Found, Vec<u64>)> = Vec::new();
    for r in remote::list(repo)? {
        let Some(cid) = r.get("collection-id").map(str::to_string) else { continue };
        if !wanted.iter().any(|w| w.collection_id == cid) {
            continue;
        }
        let summary = match crate::summary::fetch(repo, &r.name, net) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("find-remotes: ignoring remote {}: {e}", r.name);
                continue;
            }
        };
        let offered = collection_refs(&summary, &cid);
        let mut refs = Vec::new();
        let mut stamps = Vec::new();
        for w in wanted {
            let hit = offered.iter().find(|o| w.collection_id == cid && o.name == w.ref_name);
            refs.push((w.clone(), hit.map(|h| h.checksum)));
            stamps.push(hit.and_then(|h| be_u64(h.metadata.iter().find(|(k, _)| k == "ostree.commit.timestamp").map(|(_, v)| v))).unwrap_or(0));
        }
        if refs.iter().all(|(_, c)| c.is_none()) {
            continue;
        }
        let url = r.get("url").unwrap_or_default().to_string();
        let summary_last_modified = be_u64(summary.meta("ostree.summary.last-modified"));
        let f = Found { finder: "OstreeRepoFinderConfig", remote: r.name.clone(), url, path: None, priority: 100, summary_last_modified, refs };
        found.push((f, stamps));
    }
    Ok(found)
}

/// Where ostree's mount finder looks on a volume, after `.ostree/repos.d/*`.
const MOUNT_REPOS: [&str; 3] = [".ostree/repo", "ostree/repo", "var/lib/flatpak/repo"];

/// At most this many `.ostree/repos.d` entries are looked at: a volume is
/// anyone's to write, and cannot keep the listing going.
const MAX_REPOS_D: usize = 256;

/// A mounted volume (a USB stick) whose paths may be symlinks: what they
/// lead to counts only if it stays on the volume.
#[derive(Debug)]
pub struct Volume {
    top: PathBuf,
    dev: u64,
}

impl Volume {
    /// The volume at `top`, `None` if it cannot be read.
    pub fn open(top: &Path) -> Option<Volume> {
        let (Ok(meta), Ok(top)) = (std::fs::metadata(top), std::fs::canonicalize(top)) else { return None };
        Some(Volume { top, dev: meta.dev() })
    }

    /// `path` resolved with its inode, if it exists and stays on the
    /// volume (same file system, under its top once symlinks are
    /// followed); `Err` with where it leads if it leads out.
    pub fn resolve(&self, path: &Path) -> std::result::Result<Option<(PathBuf, u64)>, PathBuf> {
        let (Ok(meta), Ok(canonical)) = (std::fs::metadata(path), std::fs::canonicalize(path)) else { return Ok(None) };
        if meta.dev() != self.dev || !canonical.starts_with(&self.top) {
            log::warn!("ignoring {}: it leads out of {} (to {})", path.display(), self.top.display(), canonical.display());
            return Err(canonical);
        }
        Ok(Some((canonical, meta.ino())))
    }

    /// The repositories ostree's mount finder looks at here, resolved, in
    /// its order: `.ostree/repos.d/*` by name, then the well-known places.
    /// Each is counted once, and one that leads off the volume is skipped.
    pub fn repos(&self) -> Vec<PathBuf> {
        let repos_d = self.top.join(".ostree/repos.d");
        let mut candidates: Vec<PathBuf> = match std::fs::read_dir(&repos_d) {
            Ok(rd) => rd.take(MAX_REPOS_D).filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        };
        if candidates.len() == MAX_REPOS_D {
            log::warn!("{}: only the first {MAX_REPOS_D} entries are looked at", repos_d.display());
        }
        candidates.sort();
        candidates.extend(MOUNT_REPOS.iter().map(|r| self.top.join(r)));
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for c in candidates {
            let Ok(Some((canonical, ino))) = self.resolve(&c) else { continue };
            if !seen.contains(&ino) {
                seen.push(ino);
                out.push(canonical);
            }
        }
        out
    }
}

/// ostree's mount finder (`OstreeRepoFinderMount`): on each mounted volume,
/// the repositories of `.ostree/repos.d` (by name) and the well-known
/// places, each staying on the volume. A wanted ref is taken from the first
/// repository that has it (its own or mirrored refs), pulled under the
/// policy of the configured remote with the ref's collection ID (none: the
/// ref is not offered).
pub fn find_in_mounts(repo: &Repo, wanted: &[CollectionRef], mounts: &[PathBuf]) -> Result<Vec<(Found, Vec<u64>)>> {
    let remotes = remote::list(repo)?;
    let keyring_remote = |cid: &str| remotes.iter().find(|r| r.get("collection-id") == Some(cid)).map(|r| r.name.clone());
    let mut found: Vec<(Found, Vec<u64>)> = Vec::new();
    for m in mounts {
        let mut repos = Vec::new();
        for c in Volume::open(m).map(|v| v.repos()).unwrap_or_default() {
            let Ok(r) = Repo::open(&c) else { continue };
            let Ok(refs) = own_collection_refs(&r) else { continue };
            repos.push((c, r, refs));
        }
        for (i, w) in wanted.iter().enumerate() {
            let Some(keyring) = keyring_remote(&w.collection_id) else { continue };
            let Some((path, r, c)) = repos.iter().find_map(|(p, r, refs)| refs.get(&(w.collection_id.clone(), w.ref_name.clone())).map(|c| (p, r, *c))) else {
                continue;
            };
            let stamp = r.load_commit(&c).map(|k| k.timestamp).unwrap_or(0);
            let url = format!("file://{}", path.display());
            let at = match found.iter().position(|(f, _)| f.url == url && f.remote == keyring) {
                Some(at) => at,
                None => {
                    let refs = wanted.iter().map(|w| (w.clone(), None)).collect();
                    let summary = std::fs::read(path.join("summary")).ok().and_then(|b| Summary::from_bytes(&b).ok());
                    let summary_last_modified = summary.and_then(|s| be_u64(s.meta("ostree.summary.last-modified")));
                    let f =
                        Found { finder: "OstreeRepoFinderMount", remote: keyring, url, path: Some(path.clone()), priority: 50, summary_last_modified, refs };
                    found.push((f, vec![0; wanted.len()]));
                    found.len() - 1
                }
            };
            found[at].0.refs[i].1 = Some(c);
            found[at].1[i] = stamp;
        }
    }
    Ok(found)
}

/// A repository's collection–refs but those of its remotes: its branches
/// under its own collection ID, and its mirrors.
fn own_collection_refs(r: &Repo) -> Result<BTreeMap<(String, String), Checksum>> {
    let mut out = r.list_mirror_refs()?;
    if let Some(cid) = r.config().get("core", "collection-id") {
        for (name, c) in r.list_refs()? {
            if !name.contains(':') {
                out.insert((cid.clone(), name), c);
            }
        }
    }
    Ok(out)
}

/// Mount points a desktop shows as volumes (GLib's rule, which ostree's
/// mount finder goes by): under /media/ or /run/media/, or marked
/// `x-gvfs-show`, and not a system file system.
pub fn user_visible_mounts() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    text.lines().filter_map(visible_mount).collect()
}

const SYSTEM_FS: [&str; 20] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "overlay",
    "proc",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tmpfs",
];

/// One line of /proc/self/mountinfo: its mount point when it is shown.
fn visible_mount(line: &str) -> Option<PathBuf> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let point = unescape(fields.get(4)?);
    let options = fields.get(5).copied().unwrap_or_default();
    let fs_type = right.split(' ').next()?;
    // GLib does not show bind mounts (a root below the file system's top).
    if fields.get(3) != Some(&"/") {
        return None;
    }
    let shown = point.starts_with("/media/") || point.starts_with("/run/media/") || options.split(',').any(|o| o == "x-gvfs-show");
    (shown && !SYSTEM_FS.contains(&fs_type)).then(|| PathBuf::from(point))
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push(d.iter().fold(0u8, |a, c| a.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every finder asked for, merged: only the newest commit of each ref
/// counts, preferred sources (lower priority) first.
pub fn find(repo: &Repo, wanted: &[CollectionRef], config: bool, mounts: Option<&[PathBuf]>, net: &NetOptions) -> Result<Vec<Found>> {
    let mut all = Vec::new();
    if config {
        all.extend(find_in_config(repo, wanted, net)?);
    }
    if let Some(m) = mounts {
        all.extend(find_in_mounts(repo, wanted, m)?);
    }
    Ok(keep_newest(all))
}

/// ostree's rule: for each ref only sources with its newest commit count;
/// a source left with none of the refs is dropped. Stable by priority.
fn keep_newest(mut found: Vec<(Found, Vec<u64>)>) -> Vec<Found> {
    let n = found.first().map_or(0, |(f, _)| f.refs.len());
    for i in 0..n {
        let newest = found.iter().filter(|(f, _)| f.refs[i].1.is_some()).map(|(_, s)| s[i]).max();
        for (f, s) in &mut found {
            if Some(s[i]) != newest {
                f.refs[i].1 = None;
            }
        }
    }
    let mut out: Vec<Found> = found.into_iter().map(|(f, _)| f).filter(|f| f.refs.iter().any(|(_, c)| c.is_some())).collect();
    out.sort_by_key(|f| f.priority);
    out
}

/// Pull every found ref from the first source offering it, pinned to the
/// commit found there (so what was printed is what is pulled). Returns
/// the refs that could not be pulled.
pub fn pull_found(repo: &Repo, found: &[Found], opts: &PullOptions) -> Result<Vec<CollectionRef>> {
    let mut taken: Vec<&CollectionRef> = Vec::new();
    let mut failed = Vec::new();
    for f in found {
        let mine: Vec<(&CollectionRef, Checksum)> = f.refs.iter().filter_map(|(r, c)| c.map(|c| (r, c))).filter(|(r, _)| !taken.contains(r)).collect();
        if mine.is_empty() {
            continue;
        }
        taken.extend(mine.iter().map(|(r, _)| *r));
        let specs: Vec<String> = mine.iter().map(|(r, c)| format!("{}@{c}", r.ref_name)).collect();
        let pulled = match &f.path {
            None => pull(repo, &f.remote, &specs, opts),
            Some(p) => {
                // ostree pulls a volume's repository with gpg-verify forced
                // on; a remote whose own policy requires signatures (ed25519)
                // keeps that instead. Never unsigned.
                let signed = remote::get(repo, &f.remote).map_err(Error::from).and_then(|r| Policy::for_remote(repo, &r));
                let signed = signed.map(|p| p.requires_signatures()).unwrap_or(false);
                // The refs' collection, which a repository on a stick need not name.
                let cid = mine[0].0.collection_id.clone();
                let opts = PullOptions { local_remote_name: Some(f.remote.clone()), collection_id: Some(cid), gpg_verify: !signed, ..opts.clone() };
                pull_local(repo, p, &specs, &opts)
            }
        };
        if let Err(e) = pulled {
            log::warn!("find-remotes: pulling from {}: {e}", f.remote);
            failed.extend(mine.iter().map(|(r, _)| (*r).clone()));
        }
    }
    Ok(failed)
}

/// Parse `COLLECTION-ID REF [COLLECTION-ID REF…]`.
pub fn parse_pairs(args: &[String]) -> Result<Vec<CollectionRef>> {
    if args.is_empty() {
        return Err(Error::Config("At least one COLLECTION-ID REF pair must be specified".into()));
    }
    if !args.len().is_multiple_of(2) {
        return Err(Error::Config("Only complete COLLECTION-ID REF pairs may be specified".into()));
    }
    args.chunks(2)
        .map(|p| {
            ostree_repo::object::validate_collection_id(&p[0])?;
            ostree_repo::object::validate_ref_name(&p[1])?;
            Ok(CollectionRef { collection_id: p[0].clone(), ref_name: p[1].clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cref(c: &str, r: &str) -> CollectionRef {
        CollectionRef { collection_id: c.into(), ref_name: r.into() }
    }

    fn found(remote: &str, priority: i32, refs: &[Option<u8>], stamps: &[u64]) -> (Found, Vec<u64>) {
        let refs = refs.iter().enumerate().map(|(i, c)| (cref("org.example.C", &format!("r{i}")), c.map(|b| Checksum([b; 32])))).collect();
        (
            Found { finder: "OstreeRepoFinderConfig", remote: remote.into(), url: String::new(), path: None, priority, summary_last_modified: None, refs },
            stamps.to_vec(),
        )
    }

    /// A source with an older commit of a ref no longer offers it, and one
    /// left with nothing is dropped (the outdated mirror of test-find-remotes).
    #[test]
    fn only_the_newest_commit_of_each_ref_counts() {
        let out = keep_newest(vec![found("old", 100, &[Some(1), None], &[10, 0]), found("new", 100, &[Some(2), Some(3)], &[20, 5])]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].remote, "new");
        let out = keep_newest(vec![found("a", 100, &[Some(1)], &[10]), found("b", 50, &[Some(1)], &[10])]);
        assert_eq!(out.iter().map(|f| f.remote.as_str()).collect::<Vec<_>>(), ["b", "a"], "both, by priority");
    }

    fn ostree(args: &[&str]) -> String {
        let out = std::process::Command::new("ostree").args(args).output().expect("ostree (the tests install it)");
        assert!(out.status.success(), "ostree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A stick written by ostree's `create-usb` (repository behind a
    /// repos.d link) is found on its volume with the keys of the remote of
    /// that collection, and pulled as that remote's ref; with no such
    /// remote there is nothing to trust it with, so nothing is found.
    #[test]
    fn finds_and_pulls_an_ostree_stick() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| t.path().join(n).display().to_string();
        std::fs::create_dir_all(t.path().join("tree")).expect("mkdir");
        std::fs::write(t.path().join("tree/f"), b"one").expect("write");
        std::fs::create_dir_all(t.path().join("volume")).expect("mkdir");
        ostree(&["init", "--mode=archive", "--collection-id=org.example.C", &format!("--repo={}", p("src"))]);
        let c = ostree(&["commit", &format!("--repo={}", p("src")), "-b", "app", &p("tree")]);
        // Signed with ed25519 (uptree's signing; the remote below trusts the key).
        let secret = crate::sign::base64_encode(&[7u8; 32]);
        let public = crate::sign::public_of(&secret).expect("public");
        let obj = t.path().join(format!("src/objects/{}/{}", &c[..2], &c[2..]));
        let bytes = std::fs::read(obj.with_extension("commit")).expect("commit");
        let meta = crate::sign::add_signature(None, &crate::sign::sign(&bytes, &secret).expect("sign")).expect("meta");
        std::fs::write(obj.with_extension("commitmeta"), meta).expect("commitmeta");
        ostree(&["create-usb", &format!("--repo={}", p("src")), "--destination-repo=some/dest", &p("volume"), "org.example.C", "app"]);
        let local = Repo::init(&t.path().join("local"), ostree_repo::repo::RepoMode::Archive).expect("init");
        let wanted = [cref("org.example.C", "app"), cref("org.example.C", "missing")];
        let mounts = [t.path().join("volume")];
        assert!(find_in_mounts(&local, &wanted, &mounts).expect("find").is_empty(), "no remote holds the keys");
        ostree(&["remote", "add", &format!("--repo={}", p("local")), "--no-gpg-verify", "--collection-id=org.example.C", "keys", "file:///nonexistent"]);
        // The test build's prune-race hook prunes inside the pull: fail it at once rather than wait out the lock.
        ostree(&["config", &format!("--repo={}", p("local")), "set", "core.lock-timeout-secs", "0"]);
        let local = Repo::open(&t.path().join("local")).expect("open");
        let found = keep_newest(find_in_mounts(&local, &wanted, &mounts).expect("find"));
        assert_eq!(found.len(), 1);
        let dest = std::fs::canonicalize(t.path().join("volume/some/dest")).expect("dest");
        assert_eq!(found[0].url, format!("file://{}", dest.display()));
        assert_eq!((found[0].remote.as_str(), found[0].finder, found[0].priority), ("keys", "OstreeRepoFinderMount", 50));
        assert_eq!(found[0].refs, [(wanted[0].clone(), Some(c.parse().expect("checksum"))), (wanted[1].clone(), None)]);
        // A remote that verifies nothing does not make a stick's commits
        // trusted: as ostree, GPG is then required (and here missing).
        assert_eq!(pull_found(&local, &found, &PullOptions::default()).expect("pull"), [wanted[0].clone()]);
        assert!(local.read_ref(&ostree_repo::repo::RefName::parse("keys:app").expect("ref")).expect("read").is_none());
        ostree(&["remote", "delete", &format!("--repo={}", p("local")), "keys"]);
        // This ostree is built without ed25519: the keys go in as plain options.
        let key = format!("--set=verification-ed25519-key={public}");
        let args = ["--no-gpg-verify", "--set=sign-verify=ed25519", &key, "--collection-id=org.example.C", "keys", "file:///nonexistent"];
        ostree(&[&["remote", "add", &format!("--repo={}", p("local"))][..], &args].concat());
        let local = Repo::open(&t.path().join("local")).expect("open");
        assert!(pull_found(&local, &found, &PullOptions::default()).expect("pull").is_empty());
        assert_eq!(ostree(&["rev-parse", &format!("--repo={}", p("local")), "keys:app"]), c);
    }

    #[test]
    fn shown_mounts_as_glib() {
        let line = |point: &str, opts: &str, fs: &str| format!("36 35 8:1 / {point} {opts} shared:1 - {fs} /dev/sdb1 rw");
        assert_eq!(visible_mount(&line("/media/stick\\040one", "rw,nosuid", "vfat")), Some(PathBuf::from("/media/stick one")));
        assert_eq!(visible_mount(&line("/run/media/u/S", "rw", "ext4")), Some(PathBuf::from("/run/media/u/S")));
        assert_eq!(visible_mount(&line("/mnt/x", "rw,x-gvfs-show", "ext4")), Some(PathBuf::from("/mnt/x")));
        assert_eq!(visible_mount(&line("/mnt/x", "rw", "ext4")), None);
        assert_eq!(visible_mount(&line("/media/ram", "rw", "tmpfs")), None, "a system file system");
        let bind = "36 35 8:1 /tmp/stick /media/b rw shared:1 - ext4 /dev/sda1 rw";
        assert_eq!(visible_mount(bind), None, "a bind mount");
    }

    #[test]
    fn pairs_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_pairs(&args(&["org.example.A", "x/y"])).expect("valid"), [cref("org.example.A", "x/y")]);
        assert!(parse_pairs(&args(&["org.example.A"])).is_err());
        assert!(parse_pairs(&args(&[])).is_err());
        assert!(parse_pairs(&args(&["example-id", "x"])).is_err(), "not a collection ID");
    }
}
