//! `admin upgrade`/`switch`, the agent's round and a USB stick all end
//! here: resolve the origin, pull (unlocked), then under the sysroot lock
//! refuse a downgrade or a commit that failed to boot before, and deploy.

use std::path::Path;

use ostree_repo::keyfile::KeyFile;
use ostree_repo::repo::RefName;
use ostree_repo::{Checksum, Repo};
use uptree_deploy::deploy::{self, DeployOptions};
use uptree_deploy::failed;
use uptree_deploy::sysroot::{Deployment, LockedSysroot, Sysroot};
use uptree_pull::{PullOptions, PullReport};

use crate::error::{Error, Result};

/// What to update, as `admin upgrade`/`switch` options say it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Stateroot (default: the booted one, else the sysroot's default).
    pub os: Option<String>,
    /// `switch`: the new origin refspec (a bare REF keeps the current remote).
    pub switch_to: Option<String>,
    /// Deploy this commit of the origin's ref instead of the newest.
    pub override_commit: Option<String>,
    pub allow_downgrade: bool,
    pub pull_only: bool,
    pub deploy_only: bool,
    /// ostree's `--stage` (also set by `OSTREE_EX_STAGE_DEPLOYMENTS` in
    /// the environment, as ostree's upgrader reads it): refused by deploy.
    pub stage: bool,
    pub pull: PullOptions,
}

/// What a deployment made by [`upgrade`] is.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub osname: String,
    pub checksum: Checksum,
    pub deployserial: u32,
    pub bootversion: u32,
    pub subbootversion: u32,
    /// The ref a switch left behind and deleted.
    pub deleted_ref: Option<String>,
}

/// How an update ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `pull_only`: pulled, nothing deployed.
    Pulled,
    /// The origin names the deployed commit already.
    UpToDate {
        checksum: Checksum,
    },
    Deployed(Deployed),
}

/// The merge deployment of the stateroot, its origin (with the switch and
/// `override_commit` applied) and the refspec to pull and deploy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub osname: String,
    pub current: Deployment,
    pub origin: KeyFile,
    pub refspec: String,
}

impl Plan {
    /// The remote and ref of a `REMOTE:REF` origin; `None` for a local ref.
    pub fn remote_ref(&self) -> Option<(&str, &str)> {
        self.refspec.split_once(':')
    }
}

pub fn plan(s: &Sysroot, req: &Request) -> Result<Plan> {
    let osname = match &req.os {
        Some(o) => o.clone(),
        None => s.default_osname()?,
    };
    let merge = s.merge_deployment(&osname).ok_or_else(|| Error::NoDeployment { osname: osname.clone() })?;
    let current = s.deployments[merge].clone();
    let mut origin = current.origin.clone().ok_or(Error::NoOrigin)?;
    let mut refspec = current.refspec().ok_or(Error::NoRefspec)?;
    if let Some(to) = &req.switch_to {
        let (old_remote, old_ref) = match refspec.split_once(':') {
            Some((r, f)) => (Some(r), f),
            None => (None, refspec.as_str()),
        };
        // As ostree: `REMOTE:` keeps the ref, a bare REF keeps the remote.
        let (remote, rf) = match to.split_once(':') {
            Some((r, "")) => (Some(r), old_ref),
            Some((r, f)) => (Some(r), f),
            None => (old_remote, to.as_str()),
        };
        let new = remote.map_or_else(|| rf.to_string(), |r| format!("{r}:{rf}"));
        if new == refspec {
            return Err(Error::SameRefspec { refspec: new });
        }
        refspec = new;
        // A new origin, as ostree's switch writes it (nothing carried over).
        origin = KeyFile::new();
        origin.set("origin", "refspec", &refspec);
    } else if let Some(state) = origin.get("origin", "unconfigured-state") {
        // The OS vendor's word on why updates are off (e.g. a subscription
        // is missing); a switch to an explicit origin ignores it, as ostree.
        return Err(Error::Unconfigured { state });
    }
    if let Some(c) = &req.override_commit {
        origin.set("origin", "override-commit", c);
    } else {
        origin.remove_key("origin", "override-commit");
    }
    Ok(Plan { osname, current, origin, refspec })
}

/// Pull what `refspec` names (nothing for a local ref). Unlocked: a slow
/// pull must not hold up other `admin` verbs, and the repo has its own lock.
/// `not_older_than`: as ostree's upgrader, nothing older than the
/// deployment is fetched, so a replayed old summary cannot even move the ref.
fn pull_for(repo: &Repo, refspec: &str, req: &Request, not_older_than: Option<&Checksum>) -> Result<Option<PullReport>> {
    let Some((remote, rf)) = refspec.split_once(':') else {
        log::info!("origin {refspec} names a local ref: nothing to pull");
        return Ok(None);
    };
    let target = req.override_commit.clone().unwrap_or_else(|| rf.to_string());
    let mut opts = req.pull.clone();
    opts.allow_downgrade = not_older_than.is_none();
    opts.timestamp_check_from_rev = not_older_than.map(|c| c.to_hex());
    Ok(Some(uptree_pull::pull(repo, remote, &[target], &opts)?))
}

/// ostree's end-of-life redirect: when the commit `refspec` names carries
/// `ostree.endoflife-rebase=REF`, the origin moves to REF (same remote).
/// One hop, as ostree; not with an explicit `override_commit`.
fn eol_rebase(repo: &Repo, refspec: &str, req: &Request) -> Result<Option<String>> {
    if req.override_commit.is_some() {
        return Ok(None);
    }
    let commit = repo.load_commit(&repo.resolve_rev(refspec)?)?;
    let Some(next) = commit.meta("ostree.endoflife-rebase").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    ostree_repo::object::validate_ref_name(next)?;
    Ok(Some(match refspec.split_once(':') {
        Some((remote, _)) => format!("{remote}:{next}"),
        None => next.to_string(),
    }))
}

/// `admin upgrade`, and `admin switch` when `req.switch_to` names a new
/// origin refspec (as ostree: a bare REF keeps the current remote).
/// `pulled` hears of each pull as it ends (the CLI prints it).
///
/// The pull runs without the sysroot lock; then, under the lock, the
/// sysroot is read again and everything is decided from that state. If
/// another `admin` verb changed the origin meanwhile (a deploy or switch
/// to another ref), the new origin is pulled and the decision made again,
/// so the result is what running the two one after the other gives.
pub fn upgrade(root: &Path, req: &Request, pulled_cb: &mut dyn FnMut(&PullReport)) -> Result<Outcome> {
    const ATTEMPTS: usize = 3;
    let snapshot = Sysroot::load_unlocked(root)?;
    let first = plan(&snapshot, req)?;
    // A switch may go to an older commit (ostree allows it there).
    let floor = |p: &Plan| (!req.allow_downgrade && req.switch_to.is_none()).then_some(p.current.csum);
    let mut not_older_than = floor(&first);
    let mut want = first.refspec;
    let mut pulled: Option<String> = None;
    for _ in 0..ATTEMPTS {
        if !req.deploy_only && pulled.as_deref() != Some(want.as_str()) {
            if let Some(r) = pull_for(&snapshot.repo, &want, req, not_older_than.as_ref())? {
                pulled_cb(&r);
            }
            if let Some(next) = eol_rebase(&snapshot.repo, &want, req)? {
                if let Some(r) = pull_for(&snapshot.repo, &next, req, not_older_than.as_ref())? {
                    pulled_cb(&r);
                }
            }
            pulled = Some(want.clone());
        }
        if req.pull_only {
            return Ok(Outcome::Pulled);
        }
        let mut s = Sysroot::lock(root)?.load()?;
        let p = plan(&s, req)?;
        if !req.deploy_only && p.refspec.contains(':') && pulled.as_deref() != Some(p.refspec.as_str()) {
            log::warn!("the origin changed to {} while {want} was pulled: pulling that", p.refspec);
            not_older_than = floor(&p);
            want = p.refspec;
            continue;
        }
        return deploy_locked(&mut s, p, req);
    }
    Err(Error::OriginKeptChanging { refspec: want })
}

/// The part of [`upgrade`] that decides and deploys, under the lock.
pub fn deploy_locked(s: &mut LockedSysroot, p: Plan, req: &Request) -> Result<Outcome> {
    let Plan { osname, current, mut origin, mut refspec } = p;
    if let Some(next) = eol_rebase(&s.repo, &refspec, req)? {
        log::warn!("{refspec} reached its end of life; following it to {next}");
        origin.set("origin", "refspec", &next);
        refspec = next;
    }
    let new = match &req.override_commit {
        Some(c) => s.repo.resolve_rev(c)?,
        None => s.repo.resolve_rev(&refspec)?,
    };
    let switching = req.switch_to.is_some();
    if new == current.csum && !switching {
        return Ok(Outcome::UpToDate { checksum: new });
    }
    // Switching to another ref is an explicit choice: ostree allows older commits there.
    if !req.allow_downgrade && !switching {
        let (old_ts, new_ts) = (s.repo.load_commit(&current.csum)?.timestamp, s.repo.load_commit(&new)?.timestamp);
        if new_ts < old_ts {
            return Err(Error::Downgrade { new, new_timestamp: new_ts, current: current.csum, current_timestamp: old_ts });
        }
    }
    if let Some(f) = failed::find(&s.path, &new.to_hex())? {
        return Err(Error::FailedBefore { commit: new, detected: f.detected, reason: f.reason });
    }
    let stage = req.stage || std::env::var_os("OSTREE_EX_STAGE_DEPLOYMENTS").is_some();
    let opts = DeployOptions { osname: Some(osname.clone()), origin: Some(origin), stage, ..Default::default() };
    let r = deploy::deploy(s, &new.to_hex(), &opts)?;
    let mut deleted_ref = None;
    // As ostree's switch: the old ref goes, so its commits can be pruned.
    if let (true, Some(old)) = (switching, current.refspec()) {
        if old != refspec {
            let name = RefName::parse(&old)?;
            if s.repo.resolve_rev(&old).is_ok() {
                s.repo.set_ref(&name, None)?;
                deleted_ref = Some(old);
            }
        }
    }
    Ok(Outcome::Deployed(Deployed {
        osname,
        checksum: r.checksum,
        deployserial: r.deployserial,
        bootversion: r.bootversion,
        subbootversion: r.subbootversion,
        deleted_ref,
    }))
}
