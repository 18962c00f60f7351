//! `agent`: the update daemon (`--once` for a timer). Policy, schedule and
//! state live in `uptree_update::agent`; here the loop, signals, logging.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use uptree_deploy::sysroot::Sysroot;
use uptree_pull::progress::Mode;
use uptree_update::agent::config::{AgentConfig, RebootPolicy};
use uptree_update::agent::schedule::{self, Scheduler};
use uptree_update::agent::state::State;
use uptree_update::agent::{self, Agent, RoundResult};

use crate::cli::{AgentOpts, ProgressArg};
use crate::Result;

fn config(o: &AgentOpts) -> Result<AgentConfig> {
    let mut c = AgentConfig::load(o.config.as_deref())?;
    let mut set = |k: &str, v: &Option<String>| v.as_ref().map(|v| c.set(k, v)).transpose();
    set("interval", &o.interval)?;
    set("jitter", &o.jitter)?;
    set("window", &o.window)?;
    set("reboot", &o.reboot)?;
    set("os", &o.os)?;
    c.check()?;
    Ok(c)
}

fn random() -> u64 {
    let mut b = [0u8; 8];
    // Jitter only: a fixed value if /dev/urandom is missing is harmless.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    u64::from_le_bytes(b)
}

/// SIGTERM/SIGINT set `stop` (a thread waits for them; the signals are
/// blocked everywhere else): a pull stops at the next object boundary
/// (what it fetched is kept), the round ends, and the agent exits.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    let flag = stop.clone();
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            log::warn!("uptree-agent: {sig} received, stopping at the next object boundary");
            flag.store(true, Ordering::SeqCst);
        }
    });
    Ok(stop)
}

fn local_second(now: u64) -> u32 {
    let offset = i64::try_from(now).ok().and_then(|t| uptree_sys::time::utc_offset_at(t).ok()).unwrap_or(0);
    schedule::local_second_of_day(now, offset)
}

pub fn run(o: &AgentOpts) -> Result<i32> {
    let cfg = config(o)?;
    let stop = stop_on_signals()?;
    let pull = uptree_pull::PullOptions {
        progress: if o.progress == ProgressArg::Json { Mode::Json } else { Mode::Quiet },
        retries: 2,
        cancel: Some(stop.clone()),
        ..Default::default()
    };
    let a = Agent { root: o.sysroot.clone(), config: cfg, pull };
    let mut sched = Scheduler::new(a.config.timing);
    loop {
        let started = agent::now();
        let (r, mut st) = a.round(started);
        // usb-update may have written the state file during the round.
        if let Ok(Some(cur)) = State::load(&a.root) {
            st.merge_usb_update(&cur, started);
        }
        let delay = sched.next(r.ok(), random());
        let mut wait = delay;
        // The booted system's agent reboots into what it (or usb-update) deployed.
        let s = Sysroot::load_unlocked(&a.root)?;
        let may_reboot = a.may_reboot(&s);
        let pending =
            st.pending.is_some() && s.booted.is_some_and(|b| s.deployments.get(b).map(|d| d.csum.to_hex()) != st.pending.as_ref().map(|p| p.checksum.clone()));
        if !o.once && may_reboot && pending && a.config.reboot == RebootPolicy::Window {
            if let Some(w) = a.config.window {
                wait = wait.min(Duration::from_secs(u64::from(w.until_open(local_second(agent::now())))));
            }
        }
        st.next_check = if o.once { None } else { Some(started.saturating_add(wait.as_secs())) };
        if let Err(e) = st.save(&a.root) {
            log::warn!("uptree-agent: saving the state: {e}");
        }
        let line = agent::summary_line(&r, &st, (!o.once).then_some(wait.as_secs()));
        match &r {
            RoundResult::Failed(_) => log::error!("{line}"),
            RoundResult::Skipped(_) => log::warn!("{line}"),
            _ => log::warn!("{line}"),
        }
        if a.reboot_due(may_reboot, pending, local_second(agent::now())) {
            reboot(&a.config.reboot_command, &a.root)?;
        }
        if stop.load(Ordering::SeqCst) {
            log::warn!("uptree-agent stopped");
            return Ok(0);
        }
        if o.once {
            return Ok(if r.ok() { 0 } else { 1 });
        }
        if sleep_unless_stopped(wait, &stop) {
            log::warn!("uptree-agent stopped");
            return Ok(0);
        }
    }
}

/// Sleep `d`; true if `stop` was set meanwhile.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(200)));
    }
    stop.load(Ordering::SeqCst)
}

fn reboot(cmd: &[String], root: &Path) -> Result<()> {
    // Belt and braces: only the booted system's agent gets here.
    if root != Path::new("/") {
        return Err("refusing to reboot for a sysroot that is not /".into());
    }
    log::warn!("uptree-agent: rebooting into the pending deployment ({})", cmd.join(" "));
    let (prog, args) = cmd.split_first().ok_or("reboot-command is empty")?;
    let st = std::process::Command::new(prog).args(args).status()?;
    if !st.success() {
        return Err(format!("{}: {st}", cmd.join(" ")).into());
    }
    Ok(())
}
