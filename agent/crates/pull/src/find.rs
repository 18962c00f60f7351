//! `find-remotes`: which configured remotes serve given collection–refs
//! (ostree's `OstreeRepoFinderConfig` and `ostree_repo_find_remotes`), and
//! pulling each ref from one that has its newest commit.
//!
//! A remote serves (COLLECTION, REF) when its configured `collection-id` is
//! COLLECTION and its summary, verified as a pull verifies it, lists REF for
//! that collection (the summary's own collection or its collection map).

use ostree_repo::gvariant::Value;
use ostree_repo::object::Checksum;
use ostree_repo::remote;
use ostree_repo::summary::{Summary, SummaryRef};
use ostree_repo::Repo;

use crate::engine::{pull, PullOptions};
use crate::error::{Error, Result};
use crate::transport::NetOptions;

/// A (collection ID, ref name) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRef {
    pub collection_id: String,
    pub ref_name: String,
}

impl std::fmt::Display for CollectionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.collection_id, self.ref_name)
    }
}

/// One source that has some of the wanted refs.
#[derive(Debug, Clone)]
pub struct Found {
    /// The finder's name as ostree prints it (`OstreeRepoFinderConfig`).
    pub finder: &'static str,
    /// The configured remote it is pulled through (its keys apply).
    pub remote: String,
    pub url: String,
    /// Lower is preferred (ostree: config 100).
    pub priority: i32,
    /// `ostree.summary.last-modified` of its summary.
    pub summary_last_modified: Option<u64>,
    /// Each wanted ref with the commit this source offers: `None` when it
    /// lacks the ref or another source has a newer commit of it.
    pub refs: Vec<(CollectionRef, Option<Checksum>)>,
}

/// The refs a summary lists for `collection_id`: its main refs when it is
/// the summary's own collection, and those of its collection map.
fn collection_refs(summary: &Summary, collection_id: &str) -> Vec<SummaryRef> {
    let mut out = Vec::new();
    if summary.meta("ostree.summary.collection-id").and_then(Value::as_str) == Some(collection_id) {
        out.extend(summary.refs.iter().cloned());
    }
    for (cid, refs) in summary.collection_map() {
        if cid == collection_id {
            out.extend(refs);
        }
    }
    out
}

fn be_u64(v: Option<&Value>) -> Option<u64> {
    match v {
        Some(Value::U64(x)) => Some(u64::from_be(*x)),
        _ => None,
    }
}

/// The configured remotes (with a `collection-id`) that serve any of
/// `wanted`, keeping for each ref only the sources with its newest commit
/// (by the summaries' commit timestamps). A remote whose summary cannot be
/// fetched or verified is left out, as ostree does.
pub fn find_in_config(repo: &Repo, wanted: &[CollectionRef], net: &NetOptions) -> Result<Vec<Found>> {
    let mut found: Vec<(Found, Vec<u64>)> = Vec::new();
    for r in remote::list(repo)? {
        let Some(cid) = r.get("collection-id").map(str::to_string) else { continue };
        if !wanted.iter().any(|w| w.collection_id == cid) {
            continue;
        }
        let summary = match crate::summary::fetch(repo, &r.name, net) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("find-remotes: ignoring remote {}: {e}", r.name);
                continue;
            }
        };
        let offered = collection_refs(&summary, &cid);
        let mut refs = Vec::new();
        let mut stamps = Vec::new();
        for w in wanted {
            let hit = offered.iter().find(|o| w.collection_id == cid && o.name == w.ref_name);
            refs.push((w.clone(), hit.map(|h| h.checksum)));
            stamps.push(hit.and_then(|h| be_u64(h.metadata.iter().find(|(k, _)| k == "ostree.commit.timestamp").map(|(_, v)| v))).unwrap_or(0));
        }
        if refs.iter().all(|(_, c)| c.is_none()) {
            continue;
        }
        let url = r.get("url").unwrap_or_default().to_string();
        let summary_last_modified = be_u64(summary.meta("ostree.summary.last-modified"));
        found.push((Found { finder: "OstreeRepoFinderConfig", remote: r.name.clone(), url, priority: 100, summary_last_modified, refs }, stamps));
    }
    Ok(keep_newest(found))
}

/// ostree's rule: for each ref only sources with its newest commit count;
/// a source left with none of the refs is dropped. Stable by priority.
fn keep_newest(mut found: Vec<(Found, Vec<u64>)>) -> Vec<Found> {
    let n = found.first().map_or(0, |(f, _)| f.refs.len());
    for i in 0..n {
        let newest = found.iter().filter(|(f, _)| f.refs[i].1.is_some()).map(|(_, s)| s[i]).max();
        for (f, s) in &mut found {
            if Some(s[i]) != newest {
                f.refs[i].1 = None;
            }
        }
    }
    let mut out: Vec<Found> = found.into_iter().map(|(f, _)| f).filter(|f| f.refs.iter().any(|(_, c)| c.is_some())).collect();
    out.sort_by_key(|f| f.priority);
    out
}

/// Pull every found ref from the first source offering it, pinned to the
/// commit found there (so what was printed is what is pulled). Returns
/// the refs that could not be pulled.
pub fn pull_found(repo: &Repo, found: &[Found], opts: &PullOptions) -> Result<Vec<CollectionRef>> {
    let mut taken: Vec<&CollectionRef> = Vec::new();
    let mut failed = Vec::new();
    for f in found {
        let mine: Vec<(&CollectionRef, Checksum)> =
            f.refs.iter().filter_map(|(r, c)| c.map(|c| (r, c))).filter(|(r, _)| !taken.contains(r)).collect();
        if mine.is_empty() {
            continue;
        }
        taken.extend(mine.iter().map(|(r, _)| *r));
        let specs: Vec<String> = mine.iter().map(|(r, c)| format!("{}@{c}", r.ref_name)).collect();
        if let Err(e) = pull(repo, &f.remote, &specs, opts) {
            log::warn!("find-remotes: pulling from {}: {e}", f.remote);
            failed.extend(mine.iter().map(|(r, _)| (*r).clone()));
        }
    }
    Ok(failed)
}

/// Parse `COLLECTION-ID REF [COLLECTION-ID REF…]`.
pub fn parse_pairs(args: &[String]) -> Result<Vec<CollectionRef>> {
    if args.is_empty() {
        return Err(Error::Config("At least one COLLECTION-ID REF pair must be specified".into()));
    }
    if args.len() % 2 != 0 {
        return Err(Error::Config("Only complete COLLECTION-ID REF pairs may be specified".into()));
    }
    args.chunks(2)
        .map(|p| {
            ostree_repo::object::validate_collection_id(&p[0])?;
            ostree_repo::object::validate_ref_name(&p[1])?;
            Ok(CollectionRef { collection_id: p[0].clone(), ref_name: p[1].clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cref(c: &str, r: &str) -> CollectionRef {
        CollectionRef { collection_id: c.into(), ref_name: r.into() }
    }

    fn found(remote: &str, priority: i32, refs: &[Option<u8>], stamps: &[u64]) -> (Found, Vec<u64>) {
        let refs = refs.iter().enumerate().map(|(i, c)| (cref("org.example.C", &format!("r{i}")), c.map(|b| Checksum([b; 32])))).collect();
        (Found { finder: "OstreeRepoFinderConfig", remote: remote.into(), url: String::new(), priority, summary_last_modified: None, refs }, stamps.to_vec())
    }

    /// A source with an older commit of a ref no longer offers it, and one
    /// left with nothing is dropped (the outdated mirror of test-find-remotes).
    #[test]
    fn only_the_newest_commit_of_each_ref_counts() {
        let out = keep_newest(vec![found("old", 100, &[Some(1), None], &[10, 0]), found("new", 100, &[Some(2), Some(3)], &[20, 5])]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].remote, "new");
        let out = keep_newest(vec![found("a", 100, &[Some(1)], &[10]), found("b", 50, &[Some(1)], &[10])]);
        assert_eq!(out.iter().map(|f| f.remote.as_str()).collect::<Vec<_>>(), ["b", "a"], "both, by priority");
    }

    #[test]
    fn pairs_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_pairs(&args(&["org.example.A", "x/y"])).expect("valid"), [cref("org.example.A", "x/y")]);
        assert!(parse_pairs(&args(&["org.example.A"])).is_err());
        assert!(parse_pairs(&args(&[])).is_err());
        assert!(parse_pairs(&args(&["example-id", "x"])).is_err(), "not a collection ID");
    }
}
