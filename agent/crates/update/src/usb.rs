//! `uptree usb-update`: an update from a repository on a stick. The stick
//! is mounted read-only (`nosuid,nodev,noexec`) when given as a device and
//! unmounted when [`StickMount`] drops; its repository is `ostree_repo/`
//! or `ostree/repo/` at the top (or a configured path). The booted
//! origin's ref is pulled into the origin remote's ref through an explicit
//! trust policy: signatures are REQUIRED by default, even where the
//! network remote does not require them. Then the common
//! [`crate::upgrade::upgrade`] deploys it (downgrade and failed-commit
//! refusals included).

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use ostree_repo::remote;
use uptree_deploy::sysroot::Sysroot;
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
/// the top) if given, else `ostree_repo/` or `ostree/repo/`.
pub fn find_repo(top: &Path, configured: Option<&Path>) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match configured {
        Some(p) => vec![top.join(p.strip_prefix("/").unwrap_or(p))],
        None => vec![top.join("ostree_repo"), top.join("ostree/repo")],
    };
    candidates.iter().find(|c| c.join("config").is_file()).cloned().ok_or_else(|| {
        Error::Config(format!(
            "no OSTree repository on the stick (looked for {})",
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
    })
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
    /// The ref on the stick (default: the origin's ref).
    pub stick_ref: Option<String>,
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

/// Pull the origin's ref from the stick and deploy it as pending.
pub fn usb_update(root: &Path, req: &UsbRequest, pulled: &mut dyn FnMut(&PullReport)) -> Result<Outcome> {
    let snapshot = Sysroot::load_unlocked(root)?;
    let base = Request { os: req.os.clone(), ..Request::default() };
    let plan = upgrade::plan(&snapshot, &base)?;
    let (remote_name, rf) = plan
        .remote_ref()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| Error::Config(format!("the deployment's origin {} names no remote: nothing to take a stick's commits for", plan.refspec)))?;
    let policy = stick_policy(&snapshot.repo, &remote_name, req)?;
    let stick_ref = req.stick_ref.clone().unwrap_or(rf);
    let mut opts = req.pull.clone();
    // Nothing older than what runs now, as for the network.
    opts.timestamp_check_from_rev = Some(plan.current.csum.to_hex());
    opts.allow_downgrade = false;
    let r = uptree_pull::pull_local_with_policy(&snapshot.repo, &req.repo, std::slice::from_ref(&stick_ref), &opts, &policy)?;
    pulled(&r);
    drop(snapshot);
    upgrade::upgrade(root, &Request { os: req.os.clone(), deploy_only: true, ..Request::default() }, &mut |_| {})
}
