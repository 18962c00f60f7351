//! `pull`, and the network options and report line `pull-local` shares.

use std::io::IsTerminal;
use std::time::Duration;

use ostree_repo::fsutil::format_size;
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
    let resumed = if r.bytes_resumed > 0 { format!(" ({} resumed)", format_size(r.bytes_resumed)) } else { String::new() };
    out(&format!(
        "{} metadata, {} content objects fetched; {} transferred{resumed} in {} seconds\n",
        r.metadata_fetched,
        r.content_fetched,
        format_size(r.bytes_transferred),
        r.elapsed.as_secs()
    ))
}

pub fn run(repo: &Repo, o: &PullOpts) -> Result<i32> {
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
    let r = uptree_pull::pull(repo, &remote, &refs, &opts)?;
    print_report(&r)?;
    Ok(0)
}
