//! `pull`, and the network options and report line `pull-local` shares.

use std::io::IsTerminal;
use std::time::Duration;

use ostree_repo::Repo;
use uptree_pull::delta::DeltaPolicy;
use uptree_pull::progress::Mode;
use uptree_pull::{PullOptions, PullReport};

use super::out;
use crate::cli::{NetArgs, PullOpts};
use crate::Result;

pub(crate) fn options(net: &NetArgs) -> PullOptions {
    let progress = if net.quiet {
        Mode::Quiet
    } else if net.json {
        Mode::Json
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Quiet
    };
    let mut o = PullOptions { progress, retries: net.network_retries, workers: net.jobs.unwrap_or(0), ..PullOptions::default() };
    o.net.stall_timeout = Duration::from_secs(net.stall_timeout.max(1));
    o
}

pub(crate) fn print_report(r: &PullReport) -> Result<()> {
    out(&format!("{}\n", r.status_line()))
}

pub fn run(mut repo: Repo, o: &PullOpts) -> Result<i32> {
    let (remote, mut refs) = match o.remote.split_once(':') {
        Some((r, rf)) => (r.to_string(), vec![rf.to_string()]),
        None => (o.remote.clone(), Vec::new()),
    };
    refs.extend(o.refs.iter().cloned());
    let mut opts = options(&o.net);
    opts.commit_metadata_only = o.commit_metadata_only;
    opts.depth = o.depth;
    opts.mirror = o.mirror;
    opts.disable_verify_bindings = o.disable_verify_bindings;
    opts.cache_dir = o.cache_dir.clone();
    opts.timestamp_check = o.timestamp_check;
    opts.timestamp_check_from_rev = o.timestamp_check_from_rev.clone();
    opts.allow_downgrade = o.allow_downgrade;
    opts.static_deltas = match (o.disable_static_deltas, o.require_static_deltas) {
        (true, _) => DeltaPolicy::Disable,
        (_, true) => DeltaPolicy::Require,
        _ => DeltaPolicy::Prefer,
    };
    opts.bareuseronly_files = o.bareuseronly_files;
    opts.dry_run = o.dry_run;
    opts.url = o.url.clone();
    for h in &o.http_header {
        let (k, v) = h.split_once('=').ok_or_else(|| format!("--http-header {h:?}: expected NAME=VALUE"))?;
        opts.net.headers.push((k.to_string(), v.to_string()));
    }
    opts.net.user_agent_suffix = o.append_user_agent.clone();
    opts.localcache = o.localcache_repo.clone();
    opts.subpaths = o.subpath.clone();
    if o.disable_fsync {
        repo.set_fsync(false);
    }
    let r = uptree_pull::pull(&repo, &remote, &refs, &opts)?;
    print_report(&r)?;
    Ok(0)
}
