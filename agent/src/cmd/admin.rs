//! `admin …`: deployments on the device (ostree's `admin` verbs, plus
//! `mark-good` for boot counting).
//!
//! Every verb that writes reads the sysroot under its lock
//! (`Sysroot::lock(root)?.load()?`) and decides from that; only `status`
//! and the pull of `upgrade`/`switch` work on an unlocked snapshot.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use uptree_deploy::bootcount::{BootCounter, CountState};
use uptree_deploy::deploy::{self, DeployOptions, KargsSpec};
use uptree_deploy::etcmerge::MergeReport;
use uptree_deploy::sysroot::{self, Sysroot};
use uptree_deploy::{failed, health, ops};
use uptree_update::{Outcome, Request};

mod instutil;
mod kargs;
mod set_origin;

use super::out;
use crate::cli::{AdminCommand, AdminOpts, DeployOpts, KargArgs, MarkGoodOpts, StatusOpts, UnlockOpts, UpgradeOpts};
use crate::Result;

pub fn run(o: &AdminOpts) -> Result<i32> {
    let root = o.sysroot.as_path();
    if o.print_current_dir {
        return print_current_dir(root);
    }
    let Some(command) = &o.command else {
        return Err(missing_subcommand().into());
    };
    match command {
        AdminCommand::InitFs { path, modern } => {
            sysroot::init_fs(path, *modern)?;
            Ok(0)
        }
        AdminCommand::OsInit { osname } => {
            sysroot::os_init(root, osname)?;
            out(&format!("ostree/deploy/{osname} initialized as OSTree root\n"))?;
            Ok(0)
        }
        AdminCommand::Deploy(d) => deploy_cmd(root, d),
        AdminCommand::Status(s) => status(root, s),
        AdminCommand::Undeploy { index } => {
            let mut s = Sysroot::lock(root)?.load()?;
            let gone = ops::undeploy(&mut s, *index)?;
            out(&format!("Deleted deployment {}.{}\n", gone.csum, gone.deployserial))?;
            Ok(0)
        }
        AdminCommand::SetDefault { index } => {
            let mut s = Sysroot::lock(root)?.load()?;
            ops::set_default(&mut s, *index)?;
            Ok(0)
        }
        AdminCommand::Rollback => {
            let mut s = Sysroot::lock(root)?.load()?;
            let from = ops::rollback(&mut s)?;
            let d = &s.deployments[0];
            out(&format!("Deployment {from} ({}.{}) is now the default; reboot to use it\n", d.csum, d.deployserial))?;
            Ok(0)
        }
        AdminCommand::Pin { index, unpin } => {
            let mut s = Sysroot::lock(root)?.load()?;
            for i in index {
                let changed = ops::pin(&mut s, *i, !unpin)?;
                let what = if *unpin { "unpinned" } else { "pinned" };
                out(&if changed { format!("Deployment {i} is now {what}\n") } else { format!("Deployment {i} is already {what}\n") })?;
            }
            Ok(0)
        }
        AdminCommand::Cleanup => {
            let mut s = Sysroot::lock(root)?.load()?;
            deploy::cleanup(&mut s)?;
            Ok(0)
        }
        AdminCommand::Upgrade(u) => upgrade(root, u, None),
        AdminCommand::Switch(sw) => upgrade(root, &sw.upgrade, Some(&sw.refspec)),
        AdminCommand::Unlock(u) => unlock(root, u),
        AdminCommand::MarkGood(m) => mark_good(root, m),
        AdminCommand::Instutil(i) => instutil::run(root, i),
        AdminCommand::Kargs(k) => kargs::run(root, k),
        AdminCommand::SetOrigin(o) => set_origin::run(root, o),
    }
}

/// `admin --print-current-dir`: the absolute directory of the first
/// deployment, read under the lock as ostree does.
/// The subcommand is optional only for --print-current-dir; without either,
/// clap's own error (with the usage) is what every other verb reports.
fn missing_subcommand() -> clap::Error {
    use clap::CommandFactory;
    let argv0 = std::env::args_os().next().unwrap_or_else(|| "uptree".into());
    let cmd = crate::cli::Cli::command().mut_subcommand("admin", |a| a.subcommand_required(true));
    match cmd.try_get_matches_from([argv0, "admin".into()]) {
        Err(e) => e,
        Ok(_) => clap::Error::new(clap::error::ErrorKind::MissingSubcommand),
    }
}

fn print_current_dir(root: &Path) -> Result<i32> {
    let s = Sysroot::lock(root)?.load()?;
    let d = s.deployments.first().ok_or("Unable to find a deployment in sysroot")?;
    let dir = std::path::absolute(s.path.join(d.relpath()))?;
    out(&format!("{}\n", dir.display()))?;
    Ok(0)
}

/// The running kernel's arguments without the boot loader's own, which
/// do not carry over (as ostree's `append_proc_cmdline`).
fn proc_cmdline() -> Result<String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline")?;
    Ok(cmdline.split_ascii_whitespace().filter(|a| !a.starts_with("BOOT_IMAGE=") && !a.starts_with("initrd=")).collect::<Vec<_>>().join(" "))
}

fn kargs_spec(k: &KargArgs) -> Result<KargsSpec> {
    let base = if k.proc_cmdline { Some(proc_cmdline()?) } else { None };
    Ok(KargsSpec { replace: k.replace.clone(), append: k.append.clone(), delete: k.delete.clone(), none: k.none, base })
}

fn merge_json(r: &MergeReport) -> Value {
    json!({ "kept": r.kept, "updated": r.updated, "added": r.added, "removed": r.removed })
}

fn deploy_cmd(root: &Path, d: &DeployOpts) -> Result<i32> {
    let mut s = Sysroot::lock(root)?.load()?;
    let opts = DeployOptions {
        osname: d.os.clone(),
        kargs: kargs_spec(&d.kargs)?,
        retain: d.retain,
        retain_pending: d.retain_pending,
        retain_rollback: d.retain_rollback,
        not_as_default: d.not_as_default,
        no_merge: d.no_merge,
        stage: d.stage,
        ..Default::default()
    };
    if let Ok(c) = s.repo.resolve_rev(&d.refspec) {
        if let Some(f) = failed::find(root, &c.to_hex())? {
            log::warn!("commit {c} failed to boot before ({}); deploying it because it was asked for explicitly", f.reason);
        }
    }
    let r = deploy::deploy(&mut s, &d.refspec, &opts)?;
    if d.json {
        out(&format!(
            "{}\n",
            json!({
                "osname": r.osname, "checksum": r.checksum.to_hex(), "deployserial": r.deployserial,
                "bootconfig-swap": r.bootswap, "bootversion": r.bootversion, "subbootversion": r.subbootversion,
                "etc-merge": r.etc.as_ref().map(merge_json),
                "warnings": r.warnings,
            })
        ))?;
    } else {
        if let Some(m) = &r.etc {
            out(&format!("Copying /etc changes: {} modified, {} removed, {} added\n", m.kept.len(), m.removed.len(), m.added.len()))?;
        }
        out(&format!(
            "{}; bootconfig swap: {}; bootversion: boot.{}.{}, deployment count change: {}\n",
            deploy::done_word(&s, r.bootswap),
            if r.bootswap { "yes" } else { "no" },
            r.bootversion,
            r.subbootversion,
            r.count_change
        ))?;
    }
    Ok(0)
}

/// The boot counter and its state. Status is a diagnostic: an environment
/// it cannot read (boot partition not mounted, corrupt block) is reported,
/// not fatal.
fn counting(s: &Sysroot) -> (Option<BootCounter>, Option<CountState>, Option<String>) {
    let c = match BootCounter::open(s) {
        Ok(c) => c,
        Err(e) => return (None, None, Some(format!("{e:#}"))),
    };
    match c.as_ref().map(BootCounter::state).transpose() {
        Ok(st) => (c, st, None),
        Err(e) => (c, None, Some(format!("{e:#}"))),
    }
}

/// `status --json`'s schema, agent/dist/status.schema.json.
const STATUS_SCHEMA_VERSION: u32 = 1;

fn status(root: &Path, o: &StatusOpts) -> Result<i32> {
    let s = Sysroot::load_unlocked(root)?;
    let (counter, state, counting_error) = counting(&s);
    if let Some(e) = &counting_error {
        log::warn!("boot counting state unavailable: {e}");
    }
    let failures = failed::load(root)?;
    let fallback = state.as_ref().and_then(|st| health::fallback_from(&s, st));
    let booted_os = s.booted_deployment().map(|d| d.osname.clone());
    let mut deployments = Vec::new();
    let mut text = String::new();
    if s.deployments.is_empty() {
        text.push_str("No deployments.\n");
    }
    for (i, d) in s.deployments.iter().enumerate() {
        let os = booted_os.clone().unwrap_or_else(|| d.osname.clone());
        let booted = s.booted == Some(i);
        let pending = s.booted.is_some() && s.pending(&os) == Some(i);
        let rollback = s.booted.is_some() && s.rollback(&os) == Some(i);
        let commit = s.repo.load_commit(&d.csum).ok();
        let version = commit.as_ref().and_then(|c| c.version().map(str::to_string));
        let source_title = commit.as_ref().and_then(|c| c.meta("ostree.source-title").and_then(|v| v.as_str()).map(str::to_string));
        let etc = deploy::merge_report(&s, d);
        let failure = failures.iter().find(|f| f.checksum == d.csum.to_hex());
        text.push_str(&format!("{} {} {}.{}", if booted { '*' } else { ' ' }, d.osname, d.csum, d.deployserial));
        if pending {
            text.push_str(" (pending)");
        }
        if rollback {
            text.push_str(" (rollback)");
        }
        text.push('\n');
        if let Some(v) = &version {
            text.push_str(&format!("    Version: {v}\n"));
        }
        if let Some(u) = d.unlocked() {
            text.push_str(&format!("    Unlocked: {u}\n"));
        }
        if d.is_pinned() {
            text.push_str("    Pinned: yes\n");
        }
        match (&d.origin, d.refspec()) {
            (None, _) => text.push_str("    origin: none\n"),
            (Some(_), None) => text.push_str("    origin: <unknown origin type>\n"),
            (Some(_), Some(r)) => text.push_str(&format!("    origin refspec: {r}\n")),
        }
        if let (Some(_), Some(t)) = (&d.origin, &source_title) {
            text.push_str(&format!("    `- {t}\n"));
        }
        text.push_str(&gpg_status(&s.repo, &d.csum, d.refspec().as_deref())?);
        if o.verify {
            verify_deployment(&s.repo, i, &d.csum, d.refspec().as_deref())?;
        }
        if let Some(f) = failure {
            text.push_str(&format!("    Failed to boot: {}\n", f.reason));
        }
        if o.verbose {
            text.push_str(&format!("    Kernel arguments: {}\n", d.kargs_without_ostree()));
            if let Some(m) = &etc {
                text.push_str(&format!("    /etc merge: kept {:?}, updated {:?}, added {:?}, removed {:?}\n", m.kept, m.updated, m.added, m.removed));
            }
        }
        deployments.push(json!({
            "index": i, "osname": d.osname, "checksum": d.csum.to_hex(), "deployserial": d.deployserial,
            "booted": booted, "pending": pending, "rollback": rollback, "default": i == 0,
            "pinned": d.is_pinned(), "unlocked": d.unlocked(), "version": version, "refspec": d.refspec(),
            "bootcsum": d.bootcsum, "kernel-args": d.kargs_without_ostree(),
            "etc-merge": etc.as_ref().map(merge_json),
            "failed": failure.map(failed::Failure::to_json),
        }));
    }
    if let Some(e) = &counting_error {
        text.push_str(&format!("Boot counting: unavailable: {e}\n"));
    }
    if let Some(st) = &state {
        let limit = st.bootlimit.map_or_else(|| "unset".into(), |l| l.to_string());
        text.push_str(&format!("Boot counting: upgrade_available={} bootcount={} bootlimit={limit}\n", u8::from(st.upgrade_available), st.bootcount));
    }
    if let Some(i) = fallback {
        text.push_str(&format!("Fallback boot: deployment {i} did not come up; 'admin mark-good' records it and makes the booted deployment the default\n"));
    }
    for f in &failures {
        text.push_str(&format!("Failed commit: {} ({}, {} time(s)): {}\n", f.checksum, ostree_repo::datetime::format_iso(f.detected), f.count, f.reason));
    }
    match uptree_update::agent::state::State::load(root) {
        Ok(Some(a)) => {
            let when = a.last_check.map_or_else(|| "never".into(), ostree_repo::datetime::format_iso);
            text.push_str(&format!("Agent: last check {when}: {}", a.result.as_deref().unwrap_or("none")));
            if let Some(e) = &a.error {
                text.push_str(&format!(" ({e})"));
            }
            text.push('\n');
            if let Some(u) = &a.usb {
                text.push_str(&format!("USB stick {}: {}{}\n", u.source, u.result, u.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()));
            }
        }
        Ok(None) => {}
        Err(e) => text.push_str(&format!("Agent: state unreadable: {e}\n")),
    }
    if o.json {
        // A state file this uptree cannot read is shown, not fatal.
        let agent = match uptree_update::agent::state::State::load(root) {
            Ok(st) => st.map(|st| st.to_json()),
            Err(e) => Some(json!({ "schema-version": uptree_update::agent::state::SCHEMA_VERSION, "error": format!("{e}") })),
        };
        let v = json!({
            "schema-version": STATUS_SCHEMA_VERSION,
            "sysroot": root.display().to_string(),
            "boot-layout": s.backend.name(),
            "bootversion": s.bootversion,
            "subbootversion": s.subbootversion,
            "deployments": deployments,
            "boot-counting": match (&counter, &state, &counting_error) {
                (Some(c), Some(st), _) => json!({
                    "fw-env-config": c.config_path.display().to_string(),
                    "upgrade-available": st.upgrade_available, "bootcount": st.bootcount, "bootlimit": st.bootlimit,
                }),
                (_, _, Some(e)) => json!({ "error": e }),
                _ => serde_json::Value::Null,
            },
            "fallback-from": fallback,
            "failed-commits": failures.iter().map(failed::Failure::to_json).collect::<Vec<_>>(),
            "agent": agent,
        });
        out(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        out(&text)?;
    }
    Ok(0)
}

fn request(u: &UpgradeOpts, switch_to: Option<&str>) -> Request {
    Request {
        os: u.os.clone(),
        switch_to: switch_to.map(str::to_string),
        override_commit: u.override_commit.clone(),
        allow_downgrade: u.allow_downgrade,
        pull_only: u.pull_only,
        deploy_only: u.deploy_only,
        stage: u.stage,
        pull: super::pull::options(&u.net),
    }
}

/// `admin upgrade`, and `admin switch` when `switch_to` names a new origin
/// refspec; the policy is `uptree_update::upgrade`'s.
fn upgrade(root: &Path, u: &UpgradeOpts, switch_to: Option<&str>) -> Result<i32> {
    let mut print_err = None;
    let outcome = uptree_update::upgrade(root, &request(u, switch_to), &mut |r| {
        if let Err(e) = super::pull::print_report(r) {
            print_err.get_or_insert(e);
        }
    })?;
    if let Some(e) = print_err {
        return Err(e);
    }
    match outcome {
        Outcome::Pulled => {}
        Outcome::UpToDate { .. } => out("No update available.\n")?,
        Outcome::Deployed(d) => {
            out(&format!("Deployed {}.{}; it boots next (bootversion boot.{}.{})\n", d.checksum, d.deployserial, d.bootversion, d.subbootversion))?;
            if let Some(old) = d.deleted_ref {
                out(&format!("Deleting ref '{old}'\n"))?;
            }
        }
    }
    Ok(0)
}

fn unlock(root: &Path, u: &UnlockOpts) -> Result<i32> {
    if !u.hotfix {
        return Err("only 'unlock --hotfix' is supported: a development unlock would be lost at the next boot".into());
    }
    let mut s = Sysroot::lock(root)?.load()?;
    let index = match (u.index, s.booted) {
        (Some(i), _) => i,
        (None, Some(b)) => b,
        (None, None) => return Err("not booted into a deployment of this sysroot: give the deployment INDEX to unlock".into()),
    };
    let was_booted = s.booted == Some(index);
    let dpath = ops::unlock_hotfix(&mut s, index)?;
    if was_booted {
        uptree_sys::mount::overlay(&dpath.join("usr"), &dpath.join(ops::HOTFIX_UPPER), &dpath.join(ops::HOTFIX_WORK), Path::new("/usr"))
            .map_err(|e| format!("mounting the /usr overlay: {e}"))?;
        out("Hotfix mode enabled. A writable overlay is now mounted on /usr for this booted deployment. A non-hotfixed clone has been created as the non-default rollback target.\n")?;
    } else {
        out(&format!("Deployment {index} unlocked (hotfix): its /usr overlay is mounted at its next boot; a clean copy is the rollback.\n"))?;
    }
    Ok(0)
}

fn mark_good(root: &Path, m: &MarkGoodOpts) -> Result<i32> {
    let mut s = Sysroot::lock(root)?.load()?;
    let r = health::mark_good(&mut s, &m.hooks_dir, Duration::from_secs(m.timeout))?;
    if r.healthy {
        if let Some(b) = s.booted_deployment() {
            if failed::forget(root, &b.csum.to_hex())? {
                log::info!("commit {} came up this time: its failure record is cleared", b.csum);
            }
        }
    }
    if m.json {
        let v = json!({
            "healthy": r.healthy,
            "checks": r.checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail, "seconds": c.elapsed.as_secs_f64()})).collect::<Vec<_>>(),
            "fallback": r.fallback.as_ref().map(failed::Failure::to_json),
            "counting-cleared": r.cleared,
        });
        out(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        for c in &r.checks {
            out(&format!("{} {} ({:.1} s): {}\n", if c.ok { "ok  " } else { "FAIL" }, c.name, c.elapsed.as_secs_f64(), c.detail))?;
        }
        if let Some(f) = &r.fallback {
            out(&format!("Fallback boot: commit {} {}; recorded, and the booted deployment is the default again\n", f.checksum, f.reason))?;
        }
        if r.healthy {
            out(if r.cleared { "Boot marked good.\n" } else { "Boot is healthy (no boot counting configured or an update is waiting to boot).\n" })?;
        }
    }
    Ok(if r.healthy { 0 } else { 1 })
}

/// The remote (if any) of an origin refspec that verifies GPG signatures.
#[cfg(feature = "gpg")]
fn gpg_remote(repo: &ostree_repo::Repo, refspec: Option<&str>) -> Result<Option<ostree_repo::remote::Remote>> {
    let Some((name, _)) = refspec.and_then(|r| r.split_once(':')) else { return Ok(None) };
    let Ok(r) = ostree_repo::remote::get(repo, name) else { return Ok(None) };
    Ok(r.gpg_verify()?.then_some(r))
}

/// The deployment's GPG signatures, as ostree prints them (`    GPG: `
/// lines), where its origin's remote verifies GPG.
#[cfg(feature = "gpg")]
fn gpg_status(repo: &ostree_repo::Repo, csum: &ostree_repo::object::Checksum, refspec: Option<&str>) -> Result<String> {
    use ostree_repo::object::ObjectType;
    let Some(r) = gpg_remote(repo, refspec)? else { return Ok(String::new()) };
    // As ostree: a commit that is not there (pruned) has no signatures to show.
    if !repo.has_object(csum, ObjectType::Commit) {
        return Ok(String::new());
    }
    let bytes = repo.read_metadata_verified(ObjectType::Commit, csum)?;
    let detached = std::fs::read(repo.object_path(csum, ObjectType::CommitMeta)).ok();
    let v = uptree_pull::gpg::GpgVerifier::for_remote(repo, &r.name, Some(&r))?;
    Ok(v.describe_each(&format!("commit {csum}"), &bytes, detached.as_deref(), "    GPG: ")?.concat())
}

/// As ostree built without GPG: nothing to show.
#[cfg(not(feature = "gpg"))]
fn gpg_status(_: &ostree_repo::Repo, _: &ostree_repo::object::Checksum, _: Option<&str>) -> Result<String> {
    Ok(String::new())
}

/// `status --verify`: the deployment's commit must hold up to its origin
/// remote's signature policy (ed25519 and GPG), as a pull would check it.
fn verify_deployment(repo: &ostree_repo::Repo, index: usize, csum: &ostree_repo::object::Checksum, refspec: Option<&str>) -> Result<()> {
    use ostree_repo::object::ObjectType;
    let Some((name, _)) = refspec.and_then(|r| r.split_once(':')) else {
        return Err(format!("Deployment {index}: cannot verify a deployment with no origin remote").into());
    };
    let r = ostree_repo::remote::get(repo, name)?;
    let policy = uptree_pull::trust::Policy::for_remote(repo, &r)?;
    let bytes = repo.read_metadata_verified(ObjectType::Commit, csum)?;
    let detached = std::fs::read(repo.object_path(csum, ObjectType::CommitMeta)).ok();
    policy.verify_commit(csum, &bytes, detached.as_deref()).map_err(|e| format!("Deployment {index}: {e}"))?;
    Ok(())
}
