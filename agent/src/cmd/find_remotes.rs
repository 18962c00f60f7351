//! `find-remotes COLLECTION-ID REF…`, printed as ostree prints it.

use ostree_repo::datetime::format_iso;
use ostree_repo::Repo;
use uptree_pull::find::{self, CollectionRef};
use uptree_pull::PullOptions;

use super::out;
use crate::cli::FindRemotesOpts;
use crate::Result;

const FINDERS: [&str; 3] = ["config", "lan", "mount"];

pub fn run(mut repo: Repo, o: &FindRemotesOpts) -> Result<i32> {
    let wanted = find::parse_pairs(&o.pairs)?;
    let finders: Vec<&str> = match &o.finders {
        Some(list) => list.split(',').collect(),
        None => FINDERS.to_vec(),
    };
    for (i, f) in finders.iter().enumerate() {
        if !FINDERS.contains(f) || finders[..i].contains(f) {
            return Err(format!("Unknown or duplicate finder type given in --finders option: ‘{f}’").into());
        }
    }
    if o.disable_fsync {
        repo.set_fsync(false);
    }
    let opts = PullOptions { mirror: o.mirror, cache_dir: o.cache_dir.clone(), ..PullOptions::default() };
    // The LAN finder (Avahi) is not built in: it finds nothing.
    let mounts = finders.contains(&"mount").then(find::user_visible_mounts);
    let found = find::find(&repo, &wanted, finders.contains(&"config"), mounts.as_deref(), &opts.net)?;
    let mut s = String::new();
    for (i, f) in found.iter().enumerate() {
        let modified = f.summary_last_modified.filter(|t| *t > 0).map_or_else(|| "unknown".to_string(), format_iso);
        s.push_str(&format!(
            "Result {i}: {}\n - Finder: {}\n - Keyring: {}.trustedkeys.gpg\n - Priority: {}\n - Summary last modified: {modified}\n - Refs:\n",
            f.url, f.finder, f.remote, f.priority
        ));
        for (r, c) in &f.refs {
            s.push_str(&format!("    - {r} = {}\n", c.map_or_else(|| "(not found)".to_string(), |c| c.to_hex())));
        }
        s.push('\n');
    }
    if found.is_empty() {
        s.push_str("No results.\n");
        out(&s)?;
        return Ok(0);
    }
    let is_found = |w: &CollectionRef| found.iter().any(|f| f.refs.iter().any(|(r, c)| r == w && c.is_some()));
    s.push_str(&format!("{}/{} refs were found.\n", wanted.iter().filter(|w| is_found(w)).count(), wanted.len()));
    if !wanted.iter().all(is_found) {
        s.push_str("Refs not found in any remote:\n");
        for w in wanted.iter().filter(|w| !is_found(w)) {
            s.push_str(&format!(" - {w}\n"));
        }
    }
    out(&s)?;
    if !o.pull {
        return Ok(0);
    }
    let failed = find::pull_found(&repo, &found, &opts)?;
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(ToString::to_string).collect();
        return Err(format!("Failed to pull some refs from the remotes: {}", list.join(", ")).into());
    }
    out(&format!("Pulled {0}/{0} refs successfully.\n", wanted.len()))?;
    Ok(0)
}
