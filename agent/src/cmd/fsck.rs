//! `fsck`.

use ostree_repo::Repo;

use super::{out, progress_enabled};
use crate::cli::FsckOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &FsckOpts) -> Result<i32> {
    let show_progress = progress_enabled() && !o.json && !o.quiet;
    let report = ostree_repo::fsck::fsck(repo, 0, &mut |done, total| {
        if show_progress {
            eprint!("\rfsck objects ({done}/{total}) {}%", (done * 100).checked_div(total).unwrap_or(100));
        }
    })?;
    if show_progress {
        eprintln!();
    }
    let removed = if o.delete && !report.is_clean() { ostree_repo::fsck::repair(repo, &report)? } else { 0 };
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
    } else {
        let mut s = String::new();
        for (r, c) in &report.bad_refs {
            s.push_str(&format!("ref {r}: points to missing commit {c}\n"));
        }
        for p in &report.problems {
            s.push_str(&format!("{p}\n"));
        }
        if !o.quiet || !report.is_clean() {
            s.push_str(&format!(
                "checked {} objects of {} commits ({} partial): {}\n",
                report.objects_checked,
                report.commits,
                report.partial_commits,
                if report.is_clean() {
                    "no errors found".to_string()
                } else {
                    format!("{} corrupt or missing objects, {} bad refs", report.problems.len(), report.bad_refs.len())
                }
            ));
        }
        if o.delete && removed > 0 {
            s.push_str(&format!("deleted {removed} corrupt objects; marked {} commits partial\n", report.affected_commits.len()));
        }
        if report.is_clean() {
            out(&s)?;
        } else {
            eprint!("{s}");
        }
    }
    Ok(if report.is_clean() { 0 } else { 1 })
}
