//! `fsck`.

use ostree_repo::{ObjectType, Repo};

use super::{out, progress_enabled};
use crate::cli::FsckOpts;
use crate::Result;

pub fn run(mut repo: Repo, o: &FsckOpts) -> Result<i32> {
    let repo = &mut repo;
    let show_progress = progress_enabled() && !o.json && !o.quiet;
    if !o.json && !o.quiet {
        // As ostree: partial commits are not verified, so not counted here.
        let commits = repo.list_objects(Some(ObjectType::Commit))?.into_iter().filter(|(c, _)| !repo.is_partial(c)).count();
        out(&format!(
            "Validating refs...\nValidating refs in collections...\nEnumerating commits...\nVerifying content integrity of {commits} commit objects...\n"
        ))?;
    }
    let report = ostree_repo::fsck::fsck(repo, 0, &mut |done, total| {
        if show_progress {
            eprint!("\rfsck objects ({done}/{total}) {}%", (done * 100).checked_div(total).unwrap_or(100));
        }
    })?;
    if show_progress {
        eprintln!();
    }
    let tombstones = if o.add_tombstones { ostree_repo::prune::commits_with_missing_parent(repo)? } else { Vec::new() };
    ostree_repo::prune::add_tombstones(repo, &tombstones)?;
    let binding_problems =
        if o.verify_bindings || o.verify_back_refs { ostree_repo::fsck::verify_ref_bindings(repo, o.verify_bindings, o.verify_back_refs)? } else { Vec::new() };
    let removed = if o.delete && !report.is_clean() { ostree_repo::fsck::repair(repo, &report)? } else { 0 };
    // As ostree: commits missing objects are marked partial even without --delete.
    let marked = if o.delete { report.affected_commits.clone() } else { ostree_repo::fsck::commits_missing_objects(&report) };
    if !o.delete {
        for c in &marked {
            repo.mark_fsck_partial(c)?;
        }
    }
    if o.json {
        let j = serde_json::json!({
            "commits": report.commits,
            "partial-commits": report.partial_commits,
            "objects-checked": report.objects_checked,
            "clean": report.is_clean(),
            "problems": report.problems.iter().map(|p| serde_json::json!({"checksum": p.checksum.to_hex(), "type": p.kind.to_string(), "error": p.what, "missing": p.missing})).collect::<Vec<_>>(),
            "bad-refs": report.bad_refs.iter().map(|(r, c)| serde_json::json!({"ref": r, "commit": c.to_hex()})).collect::<Vec<_>>(),
            "affected-commits": report.affected_commits.iter().map(|c| c.to_hex()).collect::<Vec<_>>(),
            "deleted": removed,
        });
        out(&format!("{j}\n"))?;
        return Ok(if report.is_clean() { 0 } else { 1 });
    }
    // ostree's wording: problems on stderr ("error: " first unless --delete
    // goes on to repair), the summary line on stdout.
    let prefix = if o.delete { "" } else { "error: " };
    let mut err = String::new();
    for b in &binding_problems {
        err.push_str(&format!("error: {b}\n"));
    }
    for (r, c) in &report.bad_refs {
        err.push_str(&format!("error: Loading commit for ref {r}: No such metadata object {c}.commit\n"));
    }
    for p in &report.problems {
        err.push_str(&format!("{}{p}\n", if p.missing { "" } else { prefix }));
    }
    for c in &marked {
        err.push_str(&format!("Marking commit as partial: {c}\n"));
    }
    // After --delete, or when objects are only missing (their commits are
    // marked partial above), ostree ends with this line.
    if !report.problems.is_empty() && (o.delete || report.problems.iter().all(|p| p.missing)) {
        err.push_str("error: Repository corruption encountered\n");
    }
    let mut s = String::new();
    for c in &tombstones {
        s.push_str(&format!("Adding tombstone for commit {c}\n"));
    }
    if report.partial_commits > 0 {
        s.push_str(&format!("{} partial commits not verified\n", report.partial_commits));
    }
    if report.fsck_partial_commits > 0 {
        err.push_str(&format!("error: {} partial commits from fsck-detected corruption\n", report.fsck_partial_commits));
    } else if report.is_clean() && binding_problems.is_empty() {
        s.push_str(&format!("object fsck of {} commits completed successfully - no errors found.\n", report.commits.saturating_sub(report.partial_commits)));
    }
    out(&s)?;
    eprint!("{err}");
    Ok(if report.is_clean() && binding_problems.is_empty() { 0 } else { 1 })
}
