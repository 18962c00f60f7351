//! Deciding that a boot is good, and noticing that one was not.
//!
//! [`mark_good`] runs the health checks (executables in a directory, in
//! name order, each with a timeout). If they pass and the booted deployment
//! is the default, boot counting is cleared. If the booted deployment is
//! *not* the default while the counter shows boots since the switch, U-Boot
//! gave up on the default and booted the fallback: the default's commit is
//! recorded as failed, the booted deployment becomes the default again
//! (the failed one is dropped unless pinned), and counting is cleared.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bootcount::{BootCounter, CountState};
use crate::error::{At, Error, Result};
use crate::failed::{self, Failure};
use crate::sysroot::{LockedSysroot, Sysroot};

/// One health check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub elapsed: Duration,
}

/// What `mark-good` did.
#[derive(Debug, Clone, Default)]
pub struct MarkGoodReport {
    pub checks: Vec<Check>,
    pub healthy: bool,
    /// A fallback boot noticed and recorded.
    pub fallback: Option<Failure>,
    /// Boot counting was cleared.
    pub cleared: bool,
    pub counting: Option<CountState>,
}

/// The default deployment's index when this boot is a fallback from it:
/// booted is not the default, and U-Boot counted at least one boot since
/// the switch (right after a deploy, before any reboot, the count is 0).
pub fn fallback_from(sysroot: &Sysroot, state: &CountState) -> Option<usize> {
    let booted = sysroot.booted?;
    (booted != 0 && state.upgrade_available && state.bootcount >= 1 && sysroot.deployments[0].osname == sysroot.deployments[booted].osname).then_some(0)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Run every executable of `dir` in name order; a missing dir has no checks.
pub fn run_checks(dir: &Path, timeout: Duration, env: &[(&str, String)]) -> Result<Vec<Check>> {
    let mut names: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    names.sort();
    let mut out = Vec::new();
    for p in names {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&p).at(&p)?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !m.is_file() || m.permissions().mode() & 0o111 == 0 || name.starts_with('.') {
            continue;
        }
        out.push(run_one(&p, name, timeout, env));
    }
    Ok(out)
}

fn run_one(p: &Path, name: String, timeout: Duration, env: &[(&str, String)]) -> Check {
    let start = Instant::now();
    let mut cmd = Command::new(p);
    // Its own process group, so a timeout kills what it started too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Check { name, ok: false, detail: format!("cannot run: {e}"), elapsed: start.elapsed() },
    };
    // Drain output on threads so a chatty check cannot block on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            s
        })
    };
    let so = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let se = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if start.elapsed() >= timeout => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("wait: {e}")),
        }
    };
    let mut output = so.join().unwrap_or_default();
    output.extend(se.join().unwrap_or_default());
    let text = String::from_utf8_lossy(&output);
    let tail: String = text.trim_end().lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    let (ok, what) = match status {
        Ok(s) if s.success() => (true, "ok".to_string()),
        Ok(s) => (false, format!("failed ({s})")),
        Err(e) => (false, e),
    };
    log::info!("health check {name}: {what}");
    Check { name, ok, detail: if tail.is_empty() { what } else { format!("{what}: {tail}") }, elapsed: start.elapsed() }
}

/// `admin mark-good`. The checks run under the sysroot lock, so the state
/// they are judged against is the state the decision writes to; a check
/// must not itself run an `admin` verb that writes (it would wait for the
/// lock until the check's timeout).
pub fn mark_good(sysroot: &mut LockedSysroot, hooks: &Path, timeout: Duration) -> Result<MarkGoodReport> {
    let counter = BootCounter::open(sysroot)?;
    let state = counter.as_ref().map(BootCounter::state).transpose()?;
    let mut report = MarkGoodReport { counting: state, ..Default::default() };
    let booted = sysroot.booted_deployment().cloned();
    let env = match &booted {
        Some(b) => vec![("UPTREE_DEPLOYMENT", b.csum.to_hex()), ("UPTREE_OSNAME", b.osname.clone()), ("UPTREE_SYSROOT", sysroot.path.display().to_string())],
        None => vec![("UPTREE_SYSROOT", sysroot.path.display().to_string())],
    };
    report.checks = run_checks(hooks, timeout, &env)?;
    report.healthy = report.checks.iter().all(|c| c.ok);
    if !report.healthy {
        // Leave counting on: the next reboot counts, and enough of them fall back.
        return Ok(report);
    }
    if let (Some(state), Some(idx)) = (state, state.as_ref().and_then(|s| fallback_from(sysroot, s))) {
        let bad = sysroot.deployments[idx].clone();
        let version = sysroot.repo.load_commit(&bad.csum).ok().and_then(|c| c.version().map(str::to_string));
        let limit = state.bootlimit.map_or_else(|| "unset".to_string(), |l| l.to_string());
        let f = Failure {
            checksum: bad.csum.to_hex(),
            osname: bad.osname.clone(),
            refspec: bad.refspec(),
            version,
            detected: now(),
            reason: format!("did not come up: U-Boot counted {} boot(s) with bootlimit {limit} and booted the fallback entry", state.bootcount),
            count: 1,
        };
        log::warn!("commit {} {}; recorded, it will not be deployed automatically again", f.checksum, f.reason);
        failed::record(&sysroot.path, f.clone())?;
        demote_failed(sysroot, idx)?;
        report.fallback = Some(f);
    } else if let (Some(b), Some(state)) = (sysroot.booted, state) {
        if b != 0 && state.upgrade_available {
            // A new default is waiting for its first boot: keep counting for it.
            return Ok(report);
        }
    }
    if let Some(c) = &counter {
        c.clear()?;
        report.cleared = true;
    }
    Ok(report)
}

/// Make the booted deployment the default again and drop the failed one
/// (kept, after the booted one, if pinned).
fn demote_failed(sysroot: &mut LockedSysroot, failed_idx: usize) -> Result<()> {
    let booted = sysroot.booted.ok_or_else(|| Error::Invalid("not booted".into()))?;
    let mut list = Vec::new();
    list.push(sysroot.deployments[booted].clone());
    for (i, d) in sysroot.deployments.iter().enumerate() {
        if i == booted || (i == failed_idx && !d.is_pinned()) {
            continue;
        }
        list.push(d.clone());
    }
    crate::deploy::write_deployments(sysroot, list)?;
    crate::deploy::cleanup_after_switch(sysroot)?;
    Ok(())
}
