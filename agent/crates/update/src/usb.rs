//! `uptree usb-update`: an update from a repository on a stick. The stick
//! is mounted read-only (`nosuid,nodev,noexec`) when given as a device and
//! unmounted when [`StickMount`] drops; its repository is `ostree_repo/`
//! or `ostree/repo/` at the top (or a configured path), else one that
//! `ostree create-usb` wrote (`.ostree/repos.d/*`, `.ostree/repo`). The
//! booted origin's ref (or, per [`UsbRef`], the stick's ref for the same OS
//! name or a named one) is pulled into the origin remote's namespace through an
//! explicit trust policy: signatures are REQUIRED by default, even where
//! the network remote does not require them. Then the common
//! [`crate::upgrade::upgrade`] deploys it (downgrade and failed-commit
//! refusals included).

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use ostree_repo::remote;
use uptree_deploy::sysroot::Sysroot;
use uptree_pull::find::Volume;
use uptree_pull::sign::{self, Ed25519Verifier};
use uptree_pull::trust::Policy;
use uptree_pull::{PullOptions, PullReport};

use crate::error::{Error, Result};
use crate::upgrade::{self, Outcome, Request};

/// Filesystems a stick may carry, tried in this order.
const FSTYPES: [&str; 5] = ["vfat", "exfat", "ext4", "iso9660", "btrfs"];

/// A stick mounted by us, unmounted (lazily, so a vanished device cannot
/// block it) and its mount point removed when dropped.
#[derive(Debug)]
pub struct StickMount {
    pub path: PathBuf,
}

impl StickMount {
    /// Mount `device` read-only under `base` (a fresh directory).
    pub fn mount(device: &Path, base: &Path) -> Result<StickMount> {
        std::fs::create_dir_all(base).map_err(|e| Error::io(base, e))?;
        let dir = base.join(format!("usb-{}", ostree_repo::fsutil::random_token(8)));
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let dev = device.to_str().ok_or_else(|| Error::Config(format!("{}: not a UTF-8 path", device.display())))?;
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let mut last = None;
        for fstype in FSTYPES {
            match uptree_sys::switchroot::mount(Some(dev), &dir, Some(fstype), flags, None) {
                Ok(()) => return Ok(StickMount { path: dir }),
                Err(e) => last = Some(e),
            }
        }
        let _ = std::fs::remove_dir(&dir);
        let e = last.unwrap_or_else(|| std::io::Error::other("no filesystem type to try"));
        Err(Error::io(device, e).context(format!("mounting the stick read-only (tried {})", FSTYPES.join(", "))))
    }
}

impl Drop for StickMount {
    fn drop(&mut self) {
        if let Err(e) = uptree_sys::switchroot::detach(&self.path) {
            log::warn!("unmounting {}: {e}", self.path.display());
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// The repository on a stick mounted at `top`: `configured` (relative to
/// the top) if given, else `ostree_repo/` or `ostree/repo/`, else those
/// ostree's mount finder takes (an `ostree create-usb` stick's). Each must
/// stay on the stick: a symlink from the stick to the device's own
/// repository, or anywhere else, is not followed. The path is returned
/// resolved.
pub fn find_repo(top: &Path, configured: Option<&Path>) -> Result<PathBuf> {
    let volume = Volume::open(top).ok_or_else(|| Error::Config(format!("cannot read the stick at {}", top.display())))?;
    let mut looked = Vec::new();
    let mut off_stick = Vec::new();
    let places: Vec<PathBuf> = match configured {
        Some(p) => vec![top.join(p.strip_prefix("/").unwrap_or(p))],
        None => vec![top.join("ostree_repo"), top.join("ostree/repo")],
    };
    for c in &places {
        looked.push(c.display().to_string());
        match volume.resolve(c) {
            Ok(Some((repo, _))) if repo.join("config").is_file() => return Ok(repo),
            Ok(_) => {}
            Err(to) => off_stick.push(format!("{} leads to {}", c.display(), to.display())),
        }
    }
    if configured.is_none() {
        // ostree's mount finder's places, already resolved on the stick.
        if let Some(repo) = volume.repos().into_iter().find(|r| r.join("config").is_file()) {
            return Ok(repo);
        }
        looked.push(format!("{0}/.ostree/repos.d/*, {0}/.ostree/repo", top.display()));
    }
    let refused = if off_stick.is_empty() { String::new() } else { format!("; not followed off the stick: {}", off_stick.join(", ")) };
    Err(Error::Config(format!("no OSTree repository on the stick (looked for {}){refused}", looked.join(", "))))
}

/// Which of the stick's refs an update comes from (`usb-ref=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UsbRef {
    /// The deployment's origin ref.
    #[default]
    Origin,
    /// The stick's ref for the stateroot's OS name (`OSNAME` or
    /// `OSNAME/…`): the origin's ref if the stick has it, else its only
    /// such ref. A stick made for another branch of the same OS updates
    /// the device too.
    Stick,
    /// This ref.
    Named(String),
}

impl UsbRef {
    /// `origin`, `stick`, or a ref name.
    pub fn parse(s: &str) -> Result<UsbRef> {
        match s {
            "origin" => Ok(UsbRef::Origin),
            "stick" => Ok(UsbRef::Stick),
            r => {
                ostree_repo::object::validate_ref_name(r)?;
                Ok(UsbRef::Named(r.to_string()))
            }
        }
    }
}

/// At most this many directory entries under a stick's `refs/heads/OSNAME`
/// are looked at: a hostile stick cannot keep the listing going.
const MAX_STICK_REF_ENTRIES: usize = 4096;

/// Where a stick keeps the refs an update is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickRefs {
    /// `refs/mirrors/COLLECTION-ID` or `refs/heads` of the stick's repository.
    pub dir: PathBuf,
    /// The collection whose mirrored refs `dir` holds: their commits must
    /// be bound to it.
    pub collection_id: Option<String>,
}

impl StickRefs {
    /// `refs/mirrors/COLLECTION-ID` when the stick was made by `ostree
    /// create-usb` for the origin remote's `collection_id`, else
    /// `refs/heads` (a stick without, or a remote without a collection ID).
    pub fn of(stick_repo: &Path, collection_id: Option<&str>) -> StickRefs {
        if let Some(cid) = collection_id.filter(|c| ostree_repo::object::validate_collection_id(c).is_ok()) {
            let dir = stick_repo.join("refs/mirrors").join(cid);
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                return StickRefs { dir, collection_id: Some(cid.to_string()) };
            }
        }
        StickRefs { dir: stick_repo.join("refs/heads"), collection_id: None }
    }

    /// What to pull for `stick_ref`: a mirrored ref is read here (a pull
    /// reads only `refs/heads` or the summary's main refs) and its commit
    /// pinned, `REF@COMMIT`.
    fn pull_spec(&self, stick_ref: &str) -> Result<String> {
        if self.collection_id.is_none() {
            return Ok(stick_ref.to_string());
        }
        ostree_repo::object::validate_ref_name(stick_ref)?;
        let path = self.dir.join(stick_ref);
        let text = match ostree_repo::fsutil::read_regular(&path, 256) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoStickMirrorRef { path }),
            Err(e) => return Err(Error::io(path, e)),
        };
        let commit = std::str::from_utf8(&text)
            .ok()
            .map(str::trim)
            .filter(|t| ostree_repo::Checksum::is_valid_hex(t))
            .ok_or_else(|| Error::Config(format!("{}: not a commit checksum", path.display())))?;
        Ok(format!("{stick_ref}@{commit}"))
    }
}

/// The stick's refs for the OS `osname` in `refs` (its `refs/heads` or
/// `refs/mirrors/COLLECTION-ID`): `OSNAME` and every `OSNAME/…`, sorted.
/// The stick is untrusted: symlinks and names that are no valid ref are
/// skipped.
pub fn stick_refs(refs: &Path, osname: &str) -> Result<Vec<String>> {
    if ostree_repo::object::validate_ref_name(osname).is_err() || osname.contains('/') {
        return Ok(Vec::new());
    }
    let heads = refs;
    let mut found = Vec::new();
    let mut seen = 0usize;
    let mut todo = vec![osname.to_string()];
    while let Some(name) = todo.pop() {
        let path = heads.join(&name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        if meta.is_file() {
            found.push(name);
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&path).map_err(|e| Error::io(&path, e))? {
            let entry = entry.map_err(|e| Error::io(&path, e))?;
            seen += 1;
            if seen > MAX_STICK_REF_ENTRIES {
                return Err(Error::Config(format!("{}: more than {MAX_STICK_REF_ENTRIES} entries", heads.join(osname).display())));
            }
            let Some(child) = entry.file_name().to_str().map(|c| format!("{name}/{c}")) else { continue };
            if ostree_repo::object::validate_ref_name(&child).is_ok() {
                todo.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `usb-ref=stick`: the origin's ref `origin_ref` if the stick has it
/// among its refs for `osname` in `refs`, else the one such ref.
fn stick_ref_for(refs_dir: &Path, osname: &str, origin_ref: &str) -> Result<String> {
    let mut refs = stick_refs(refs_dir, osname)?;
    if refs.iter().any(|r| r == origin_ref) {
        return Ok(origin_ref.to_string());
    }
    match refs.len() {
        0 => Err(Error::NoStickRef { osname: osname.to_string(), refs: refs_dir.to_path_buf() }),
        1 => Ok(refs.remove(0)),
        _ => Err(Error::AmbiguousStickRef { osname: osname.to_string(), refs }),
    }
}

/// What to take from a stick.
#[derive(Debug, Clone, Default)]
pub struct UsbRequest {
    /// The repository on the stick.
    pub repo: PathBuf,
    pub os: Option<String>,
    /// Take the stick's commits without signatures (off by default).
    pub allow_unsigned: bool,
    /// Keys trusted besides the remote's and the system's.
    pub extra_keys: Vec<String>,
    /// Which ref on the stick.
    pub usb_ref: UsbRef,
    pub pull: PullOptions,
}

/// The policy a stick is held to: the origin remote's keys (or the system
/// locations) plus `extra_keys`, required unless `allow_unsigned`.
fn stick_policy(repo: &ostree_repo::Repo, remote_name: &str, req: &UsbRequest) -> Result<Policy> {
    let r = remote::get(repo, remote_name)?;
    let mut policy = Policy::for_remote(repo, &r)?;
    if req.allow_unsigned {
        return Ok(policy);
    }
    let mut extra = Vec::new();
    for k in &req.extra_keys {
        extra.extend(sign::keys_from_spec(k)?);
    }
    let verifier = match (policy.ed25519.take(), Ed25519Verifier::for_remote(&r)) {
        (Some(v), _) | (None, Ok(v)) => v.with_extra_keys(&extra),
        (None, Err(_)) if !extra.is_empty() => Ed25519Verifier::with_keys(extra).with_system_revocations()?,
        (None, Err(e)) => return Err(Error::Pull(e).context("a stick's commits must be signed and no trusted key is configured")),
    };
    policy.ed25519 = Some(verifier);
    // On a stick ed25519 rules: the stick policy requires it even where
    // the network remote relies on GPG.
    policy.gpg = None;
    Ok(policy)
}

/// Pull the ref `req.usb_ref` names from the stick and deploy it as
/// pending. A ref other than the origin's becomes the deployment's origin
/// (`REMOTE:REF`, as `admin switch` makes it), so later network updates
/// follow what the stick installed.
pub fn usb_update(root: &Path, req: &UsbRequest, pulled: &mut dyn FnMut(&PullReport)) -> Result<Outcome> {
    let snapshot = Sysroot::load_unlocked(root)?;
    let base = Request { os: req.os.clone(), ..Request::default() };
    let plan = upgrade::plan(&snapshot, &base)?;
    let (remote_name, rf) = plan
        .remote_ref()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| Error::Config(format!("the deployment's origin {} names no remote: nothing to take a stick's commits for", plan.refspec)))?;
    let policy = stick_policy(&snapshot.repo, &remote_name, req)?;
    let collection_id = remote::get(&snapshot.repo, &remote_name)?.get("collection-id").map(str::to_string);
    let refs = StickRefs::of(&req.repo, collection_id.as_deref());
    let take = || -> Result<(String, PullReport)> {
        let stick_ref = match &req.usb_ref {
            UsbRef::Origin => rf.clone(),
            UsbRef::Named(r) => r.clone(),
            UsbRef::Stick => stick_ref_for(&refs.dir, &plan.osname, &rf)?,
        };
        let spec = refs.pull_spec(&stick_ref)?;
        let mut opts = req.pull.clone();
        // Nothing older than what runs now, as for the network.
        opts.timestamp_check_from_rev = Some(plan.current.csum.to_hex());
        opts.allow_downgrade = false;
        // A mirrored ref's commit must be bound to the collection it was found under.
        if refs.collection_id.is_some() {
            opts.collection_id.clone_from(&refs.collection_id);
        }
        let r = uptree_pull::pull_local_with_policy(&snapshot.repo, &req.repo, std::slice::from_ref(&spec), &opts, &policy)?;
        Ok((stick_ref, r))
    };
    let (stick_ref, r) = match take() {
        // An `ostree create-usb` stick not matched by collection: say why
        // its mirrored refs were passed over.
        Err(e) if refs.collection_id.is_none() && req.repo.join("refs/mirrors").is_dir() => {
            let why = match &collection_id {
                None => format!("the origin remote {remote_name} has no collection-id"),
                Some(c) => format!("the stick has no refs/mirrors/{c}/"),
            };
            return Err(
                e.context(format!("{why}, so the stick's refs/mirrors/ (an `ostree create-usb` stick) cannot be matched; looked in {}", refs.dir.display()))
            );
        }
        x => x?,
    };
    pulled(&r);
    let switch_to = (stick_ref != rf).then(|| format!("{remote_name}:{stick_ref}"));
    if switch_to.is_some() && snapshot.repo.resolve_rev(&format!("{remote_name}:{stick_ref}"))? == plan.current.csum {
        // Another ref, the same commit: nothing new to boot.
        return Ok(Outcome::UpToDate { checksum: plan.current.csum });
    }
    drop(snapshot);
    upgrade::upgrade(root, &Request { os: Some(plan.osname), deploy_only: true, switch_to, ..Request::default() }, &mut |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stick_refs_are_the_os_names_refs_without_symlinks_or_bad_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let heads = dir.path().join("refs/heads");
        for d in ["testos/sub", "testos/dir-link-target", "otheros"] {
            std::fs::create_dir_all(heads.join(d)).expect("dir");
        }
        for f in ["testos/a", "testos/sub/b", "testos/bad name", "otheros/stable", "testosx"] {
            std::fs::write(heads.join(f), "0".repeat(64)).expect("ref");
        }
        std::os::unix::fs::symlink("/etc/passwd", heads.join("testos/link")).expect("symlink");
        std::os::unix::fs::symlink("../otheros", heads.join("testos/dirlink")).expect("symlink");
        assert_eq!(stick_refs(&heads, "testos").expect("refs"), ["testos/a", "testos/sub/b"]);
        assert_eq!(stick_ref_for(&heads, "testos", "testos/sub/b").expect("origin's wins"), "testos/sub/b");
        assert!(matches!(stick_ref_for(&heads, "testos", "testos/stable"), Err(Error::AmbiguousStickRef { .. })));
        assert_eq!(stick_ref_for(&heads, "otheros", "otheros/x").expect("the only one"), "otheros/stable");
        assert!(matches!(stick_ref_for(&heads, "nosuch", "nosuch/x"), Err(Error::NoStickRef { .. })));
        assert_eq!(stick_refs(&heads, "../refs").expect("no escape"), Vec::<String>::new());
        assert_eq!(UsbRef::parse("stick").expect("stick"), UsbRef::Stick);
        assert!(UsbRef::parse("a/../b").is_err());
    }

    #[test]
    fn mirrored_refs_are_used_only_for_the_origins_collection_and_pinned() {
        let dir = tempfile::tempdir().expect("tmp");
        let mirrors = dir.path().join("refs/mirrors/org.example.Os/testos");
        std::fs::create_dir_all(&mirrors).expect("dir");
        std::fs::create_dir_all(dir.path().join("refs/mirrors/org.example.Link")).expect("dir");
        std::fs::write(mirrors.join("stable"), format!("{}\n", "a".repeat(64))).expect("ref");
        std::fs::write(mirrors.join("junk"), "not a checksum").expect("ref");
        std::os::unix::fs::symlink("org.example.Os", dir.path().join("refs/mirrors/org.example.Sym")).expect("symlink");
        let heads = StickRefs { dir: dir.path().join("refs/heads"), collection_id: None };
        assert_eq!(StickRefs::of(dir.path(), None), heads);
        assert_eq!(StickRefs::of(dir.path(), Some("org.example.Other")), heads);
        assert_eq!(StickRefs::of(dir.path(), Some("org.example.Sym")), heads, "a symlinked collection is not followed");
        assert_eq!(heads.pull_spec("testos/stable").expect("heads"), "testos/stable");
        let os = StickRefs::of(dir.path(), Some("org.example.Os"));
        assert_eq!(os.pull_spec("testos/stable").expect("mirrored"), format!("testos/stable@{}", "a".repeat(64)));
        assert!(matches!(os.pull_spec("testos/beta"), Err(Error::NoStickMirrorRef { .. })));
        assert!(os.pull_spec("testos/junk").is_err());
        assert_eq!(stick_refs(&os.dir, "testos").expect("refs"), ["testos/junk", "testos/stable"]);
    }

    #[test]
    fn a_stick_repository_that_leads_off_the_stick_is_not_followed() {
        let dir = tempfile::tempdir().expect("tmp");
        let (stick, device) = (dir.path().join("stick"), dir.path().join("device-repo"));
        for d in [&stick, &device, &stick.join("real")] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(device.join("config"), "[core]\nrepo_version=1\nmode=bare\n").expect("config");
        std::fs::write(stick.join("real/config"), "[core]\nrepo_version=1\nmode=archive-z2\n").expect("config");

        std::os::unix::fs::symlink(&device, stick.join("ostree_repo")).expect("symlink");
        let err = find_repo(&stick, None).expect_err("off the stick").to_string();
        assert!(err.contains("not followed off the stick") && err.contains("ostree_repo leads to"), "{err}");
        let err = find_repo(&stick, Some(Path::new("ostree_repo"))).expect_err("configured, off the stick").to_string();
        assert!(err.contains("not followed off the stick"), "{err}");

        std::fs::create_dir_all(stick.join("ostree")).expect("mkdir");
        std::os::unix::fs::symlink("../real", stick.join("ostree/repo")).expect("symlink");
        let found = find_repo(&stick, None).expect("a link within the stick");
        assert_eq!(found, std::fs::canonicalize(stick.join("real")).expect("canonical"));
    }
}
