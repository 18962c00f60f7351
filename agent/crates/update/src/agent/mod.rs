//! `uptree agent`: one round checks the booted deployment's origin (the
//! summary first, so nothing is pulled when nothing changed), checks free
//! space, pulls (resumable), deploys as pending and applies the reboot
//! policy. [`schedule`] decides when the next round runs, [`state`] is
//! what `admin status --json` shows, [`config`] the `[agent]` settings.

pub mod config;
pub mod schedule;
pub mod state;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use uptree_deploy::failed;
use uptree_deploy::sysroot::Sysroot;
use uptree_pull::transport::NetOptions;
use uptree_pull::PullOptions;

use crate::error::{Error, Result};
use crate::upgrade::{self, Outcome, Request};
use config::{AgentConfig, RebootPolicy};
use state::{Pending, Progress, State};

/// Seconds since 1970 (UTC).
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How a round ended.
#[derive(Debug)]
pub enum RoundResult {
    UpToDate,
    /// The remote offers a commit older than the deployed one (e.g. after a
    /// stick brought a newer one): nothing to take, and not a failure to
    /// back off from; the refusal is kept in the state's `error`.
    Older(String),
    Deployed {
        checksum: String,
        deployserial: u32,
    },
    /// Not run: another process holds the sysroot lock.
    Skipped(&'static str),
    Failed(Error),
}

impl RoundResult {
    pub fn name(&self) -> &'static str {
        match self {
            RoundResult::UpToDate | RoundResult::Older(_) => "up-to-date",
            RoundResult::Deployed { .. } => "deployed",
            RoundResult::Skipped(_) => "skipped",
            RoundResult::Failed(_) => "failed",
        }
    }

    /// Counts as a success for the backoff (a skipped round is neither:
    /// it is retried at the normal interval).
    pub fn ok(&self) -> bool {
        !matches!(self, RoundResult::Failed(_))
    }
}

/// One agent, on one sysroot.
#[derive(Debug)]
pub struct Agent {
    pub root: PathBuf,
    pub config: AgentConfig,
    pub pull: PullOptions,
}

/// Free bytes for an unprivileged writer on the filesystem of `path`.
fn free_bytes(path: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| Error::io(path, e.into()))?;
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    let (avail, frsize) = (u64::from(st.blocks_available()), u64::from(st.fragment_size()));
    Ok(avail.saturating_mul(frsize))
}

impl Agent {
    /// Whether this agent may reboot the machine it runs on: only the agent
    /// of the booted system (`--sysroot=/`, booted into a deployment).
    pub fn may_reboot(&self, s: &Sysroot) -> bool {
        self.root == Path::new("/") && s.booted.is_some()
    }

    fn request(&self) -> Request {
        Request { os: self.config.os.clone(), pull: self.pull.clone(), ..Request::default() }
    }

    /// One round; the state file is updated with its result (but not the
    /// next check, which the caller's scheduler sets).
    pub fn round(&self, started: u64) -> (RoundResult, State) {
        let mut st = State::load(&self.root).ok().flatten().unwrap_or_default();
        if let Ok(s) = Sysroot::load_unlocked(&self.root) {
            let booted = s.booted.and_then(|b| s.deployments.get(b)).map(|d| d.csum.to_hex());
            st.settle_pending(booted.as_deref());
        }
        st.last_check = Some(started);
        // Progress is this round's: from the hook while pulling, then the report.
        st.progress = None;
        let r = self.round_inner(&mut st);
        if st.progress.is_none() {
            // An interrupted pull: keep how far it got.
            st.progress = State::load(&self.root).ok().flatten().and_then(|cur| cur.progress);
        }
        st.result = Some(r.name().to_string());
        st.error = match &r {
            RoundResult::Failed(e) => Some(chain(e)),
            RoundResult::Skipped(why) => Some((*why).to_string()),
            RoundResult::Older(why) => Some(why.clone()),
            _ => None,
        };
        st.consecutive_failures = if r.ok() { 0 } else { st.consecutive_failures.saturating_add(1) };
        (r, st)
    }

    fn round_inner(&self, st: &mut State) -> RoundResult {
        // A probe, not held: the pull runs unlocked and the deploy takes
        // the lock itself; an operator's command in progress wins.
        match Sysroot::try_lock(&self.root) {
            Ok(Some(_)) => {}
            Ok(None) => return RoundResult::Skipped("another process holds the sysroot lock"),
            Err(e) => return RoundResult::Failed(e.into()),
        }
        match self.check_and_update(st) {
            Ok(r) => r,
            Err(e) => RoundResult::Failed(e),
        }
    }

    fn check_and_update(&self, st: &mut State) -> Result<RoundResult> {
        let req = self.request();
        let snapshot = Sysroot::load_unlocked(&self.root)?;
        let plan = upgrade::plan(&snapshot, &req)?;
        st.refspec = Some(plan.refspec.clone());
        if let Some((remote, rf)) = plan.remote_ref() {
            let net = NetOptions { ..self.pull.net.clone() };
            if let Some(summary) = uptree_pull::summary::fetch(&snapshot.repo, remote, &net)? {
                let available = summary.refs.iter().find(|r| r.name == rf).map(|r| r.checksum);
                st.available = available.map(|c| c.to_hex());
                match available {
                    None => return Err(Error::Config(format!("remote {remote} has no ref {rf}"))),
                    Some(c) if c == plan.current.csum => return Ok(RoundResult::UpToDate),
                    Some(c) => {
                        if let Some(f) = failed::find(&self.root, &c.to_hex())? {
                            return Err(Error::FailedBefore { commit: c, detected: f.detected, reason: f.reason });
                        }
                    }
                }
            }
        }
        let repo_path = snapshot.repo.path().to_path_buf();
        let free = free_bytes(&repo_path)?;
        if free < self.config.min_free_bytes {
            return Err(Error::NoSpace { path: repo_path, free, needed: self.config.min_free_bytes });
        }
        drop(snapshot);
        let mut req = req;
        req.pull.on_progress = Some(self.progress_hook(st.clone()));
        let outcome = match upgrade::upgrade(&self.root, &req, &mut |r| {
            st.progress =
                Some(Progress { metadata: r.metadata_fetched, content: r.content_fetched, bytes: r.bytes_transferred, bytes_resumed: r.bytes_resumed });
        }) {
            Err(e) if e.is_downgrade() => return Ok(RoundResult::Older(chain(&e))),
            r => r?,
        };
        Ok(match outcome {
            Outcome::Pulled | Outcome::UpToDate { .. } => RoundResult::UpToDate,
            Outcome::Deployed(d) => {
                let s = Sysroot::load_unlocked(&self.root)?;
                let version = s.repo.load_commit(&d.checksum).ok().and_then(|c| c.version().map(str::to_string));
                st.pending = Some(Pending { checksum: d.checksum.to_hex(), deployserial: d.deployserial, version });
                RoundResult::Deployed { checksum: d.checksum.to_hex(), deployserial: d.deployserial }
            }
        })
    }

    /// Keep the state file's `progress` current during a pull, at most
    /// once a second (`status --json` for a UI).
    fn progress_hook(&self, base: State) -> uptree_pull::progress::Hook {
        let root = self.root.clone();
        let last = std::sync::Mutex::new(None::<std::time::Instant>);
        uptree_pull::progress::Hook(std::sync::Arc::new(move |s: uptree_pull::progress::Snapshot| {
            let Ok(mut last) = last.lock() else { return };
            if last.is_some_and(|l| l.elapsed() < std::time::Duration::from_secs(1)) {
                return;
            }
            *last = Some(std::time::Instant::now());
            let mut st = base.clone();
            st.progress = Some(Progress { metadata: s.metadata, content: s.content, bytes: s.bytes, bytes_resumed: 0 });
            if let Err(e) = st.save(&root) {
                log::warn!("saving the agent state: {e}");
            }
        }))
    }

    /// Whether to reboot now into the pending deployment, by the policy,
    /// for the agent of the booted system only. `local_second` is the
    /// second of the local day.
    pub fn reboot_due(&self, may_reboot: bool, pending: bool, local_second: u32) -> bool {
        if !may_reboot || !pending {
            return false;
        }
        match (self.config.reboot, self.config.window) {
            (RebootPolicy::Never, _) => false,
            (RebootPolicy::Immediate, _) => true,
            (RebootPolicy::Window, Some(w)) => w.until_open(local_second) == 0,
            (RebootPolicy::Window, None) => false,
        }
    }
}

/// An error with its whole context chain, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// The grep-able summary line of a round: `uptree-agent round result=…`.
pub fn summary_line(r: &RoundResult, st: &State, next_in_secs: Option<u64>) -> String {
    let mut s = format!("uptree-agent round result={}", r.name());
    if let Some(x) = &st.refspec {
        s.push_str(&format!(" refspec={x}"));
    }
    if let Some(x) = &st.available {
        s.push_str(&format!(" available={x}"));
    }
    if let RoundResult::Deployed { checksum, deployserial } = r {
        s.push_str(&format!(" deployed={checksum}.{deployserial}"));
    }
    if let (RoundResult::Deployed { .. }, Some(p)) = (r, &st.progress) {
        s.push_str(&format!(" fetched={}+{} bytes={} resumed={}", p.metadata, p.content, p.bytes, p.bytes_resumed));
    }
    if let Some(n) = next_in_secs {
        s.push_str(&format!(" next-in={n}s"));
    }
    if let Some(e) = &st.error {
        s.push_str(&format!(" error={e:?}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::schedule::Window;
    use super::*;

    fn agent(reboot: RebootPolicy, window: Option<&str>) -> Agent {
        let config = AgentConfig { reboot, window: window.and_then(Window::parse), ..AgentConfig::default() };
        Agent { root: PathBuf::from("/"), config, pull: PullOptions::default() }
    }

    #[test]
    fn reboots_only_the_booted_system_with_something_pending_and_by_policy() {
        let at = |h: u32, m: u32| h * 3600 + m * 60;
        let imm = agent(RebootPolicy::Immediate, None);
        assert!(imm.reboot_due(true, true, at(12, 0)));
        assert!(!imm.reboot_due(false, true, at(12, 0)), "not the booted sysroot: never");
        assert!(!imm.reboot_due(true, false, at(12, 0)), "nothing pending: never");
        assert!(!agent(RebootPolicy::Never, None).reboot_due(true, true, at(12, 0)));
        let win = agent(RebootPolicy::Window, Some("23:00-01:00"));
        assert!(win.reboot_due(true, true, at(23, 0)));
        assert!(win.reboot_due(true, true, at(0, 59)));
        assert!(!win.reboot_due(true, true, at(1, 0)));
        assert!(!win.reboot_due(true, true, at(22, 59)));
        assert!(!win.reboot_due(false, true, at(23, 30)));
    }
}
