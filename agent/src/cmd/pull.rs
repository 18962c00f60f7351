//! `pull`, `pull-local`, `sign`.

use std::io::IsTerminal;
use std::time::Duration;

use ostree_repo::fsutil::format_size;
use ostree_repo::object::ObjectType;
use ostree_repo::Repo;
use uptree_pull::delta::DeltaPolicy;
use uptree_pull::progress::Mode;
use uptree_pull::sign;
use uptree_pull::{PullOptions, PullReport};

use super::out;
use crate::cli::{NetArgs, PullLocalOpts, PullOpts, SignOpts};
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

pub fn pull(repo: &Repo, o: &PullOpts) -> Result<i32> {
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

pub fn pull_local(repo: &Repo, o: &PullLocalOpts) -> Result<i32> {
    let mut opts = options(&o.net);
    opts.commit_metadata_only = o.commit_metadata_only;
    opts.depth = o.depth;
    opts.untrusted = o.untrusted;
    opts.local_remote_name = o.remote.clone();
    opts.disable_verify_bindings = o.disable_verify_bindings;
    opts.gpg_verify = o.gpg_verify;
    opts.gpg_verify_summary = o.gpg_verify_summary;
    opts.allow_downgrade = o.allow_downgrade;
    // As ostree: no REF means every local branch of the source repository.
    let refs = if o.refs.is_empty() { Repo::open(&o.src)?.list_refs()?.into_keys().filter(|r| !r.contains(':')).collect() } else { o.refs.clone() };
    let r = uptree_pull::pull_local(repo, &o.src, &refs, &opts)?;
    print_report(&r)?;
    Ok(0)
}

pub fn sign(repo: &Repo, o: &SignOpts) -> Result<i32> {
    if o.sign_type != "ed25519" {
        return Err(format!("unsupported signature type {:?} (uptree signs ed25519)", o.sign_type).into());
    }
    let mut keys = o.keys.clone();
    if let Some(f) = &o.keys_file {
        keys.extend(std::fs::read_to_string(f)?.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    if keys.is_empty() {
        return Err("no keys given".into());
    }
    let c = repo.resolve_rev(&o.rev)?;
    let bytes = repo.read_metadata_verified(ObjectType::Commit, &c)?;
    let detached_path = repo.object_path(&c, ObjectType::CommitMeta);
    let existing = std::fs::read(&detached_path).ok();
    if o.verify {
        let pubkeys = keys
            .iter()
            .map(|k| {
                sign::base64_decode(k).and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).ok_or_else(|| format!("{k:?} is not a base64 ed25519 public key"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        sign::Ed25519Verifier::with_keys(pubkeys).verify(&format!("commit {c}"), &bytes, existing.as_deref())?;
        out(&format!("Commit {c} has a valid ed25519 signature\n"))?;
        return Ok(0);
    }
    let mut meta = existing;
    for k in &keys {
        meta = Some(sign::add_signature(meta.as_deref(), &sign::sign(&bytes, k)?)?);
    }
    if let Some(m) = meta {
        if let Some(dir) = detached_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        ostree_repo::fsutil::atomic_write(&detached_path, &m, 0o644, repo.fsync_enabled())?;
    }
    Ok(0)
}
