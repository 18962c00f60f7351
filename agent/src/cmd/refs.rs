//! `refs`.

use ostree_repo::{Checksum, Error, RefName, Repo};

use super::out;
use crate::cli::RefsOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &RefsOpts) -> Result<i32> {
    if o.collections {
        return run_collections(repo, o);
    }
    if let Some(new) = &o.create {
        let [target] = o.prefixes.as_slice() else {
            return Err(Error::Invalid("--create requires exactly one PREFIX (the ref or commit to point at)".into()).into());
        };
        let name = RefName::parse(new)?;
        if o.alias {
            repo.set_alias_ref(&name, &RefName::parse(target)?)?;
            return Ok(0);
        }
        if !o.force && repo.read_ref(&name)?.is_some() {
            return Err(Error::Conflict(format!("--create specified but ref {new} already exists")).into());
        }
        let c = repo.resolve_rev(target)?;
        repo.set_ref(&name, Some(&c))?;
        return Ok(0);
    }
    if o.alias {
        let s: String = repo.list_aliases()?.iter().map(|(a, t)| format!("{a} -> {t}\n")).collect();
        out(&s)?;
        return Ok(0);
    }
    // flatpak's "REMOTE:." means every ref of REMOTE, like "REMOTE:".
    let prefixes: Vec<&str> = o.prefixes.iter().map(|p| p.strip_suffix(":.").map_or(p.as_str(), |r| &p[..r.len() + 1])).collect();
    repo.check_refs_layout()?;
    let all = repo.list_refs()?;
    let matches = |k: &str, p: &str| k == p || k.starts_with(&format!("{}/", p.trim_end_matches('/'))) || (p.ends_with(':') && k.starts_with(p));
    let selected: Vec<(&String, &Checksum, Option<&str>)> = all
        .iter()
        .filter_map(|(k, c)| {
            if prefixes.is_empty() {
                return Some((k, c, None));
            }
            prefixes.iter().find(|p| matches(k, p)).map(|p| (k, c, Some(*p)))
        })
        .collect();
    if o.delete {
        if prefixes.is_empty() {
            return Err(Error::Invalid("At least one PREFIX is required when deleting refs".into()).into());
        }
        for (k, _, _) in &selected {
            repo.set_ref(&RefName::parse(k)?, None)?;
        }
        return Ok(0);
    }
    if o.json {
        let map: serde_json::Map<String, serde_json::Value> = selected.iter().map(|(k, c, _)| ((*k).clone(), serde_json::Value::String(c.to_hex()))).collect();
        out(&format!("{}\n", serde_json::Value::Object(map)))?;
        return Ok(0);
    }
    let mut s = String::new();
    for (k, _, p) in selected {
        let shown = match (p, o.list) {
            // As ostree: relative to the prefix, a remote's name kept
            // (`refs origin:os` lists `origin:stable`).
            (Some(p), false) if k != p => {
                let rest = k.strip_prefix(p).map(|r| r.trim_start_matches('/')).unwrap_or(k);
                match p.split_once(':') {
                    Some((remote, _)) if rest != k => format!("{remote}:{rest}"),
                    _ => rest.to_string(),
                }
            }
            _ => k.clone(),
        };
        s.push_str(&shown);
        s.push('\n');
    }
    out(&s)?;
    Ok(0)
}

/// `refs --collections`: refs named "(COLLECTION, REF)"; a PREFIX selects a
/// collection ID.
fn run_collections(repo: &Repo, o: &RefsOpts) -> Result<i32> {
    if let Some(new) = &o.create {
        let [target] = o.prefixes.as_slice() else {
            return Err(Error::Invalid("--create requires exactly one PREFIX (the ref or commit to point at)".into()).into());
        };
        let (cid, name) = new.split_once(':').ok_or_else(|| Error::Invalid(format!("Invalid collection–ref {new}: expected COLLECTION:REF")))?;
        // As ostree (test-find-remotes re-points a mirrored ref so): the
        // existing-ref check reads COLLECTION:REF as a remote ref, so a
        // collection–ref is replaced without --force.
        if !o.force && RefName::parse(new).ok().map(|r| repo.read_ref(&r)).transpose()?.flatten().is_some() {
            return Err(Error::Conflict(format!("--create specified but ref ({cid}, {name}) already exists")).into());
        }
        let c = repo.resolve_rev(target)?;
        repo.set_collection_ref(cid, name, Some(&c))?;
        return Ok(0);
    }
    let all = repo.list_collection_refs()?;
    let selected = all.keys().filter(|(cid, _)| o.prefixes.is_empty() || o.prefixes.iter().any(|p| p == cid));
    if o.delete {
        if o.prefixes.is_empty() {
            return Err(Error::Invalid("At least one PREFIX is required when deleting refs".into()).into());
        }
        for (cid, name) in selected {
            repo.set_collection_ref(cid, name, None)?;
        }
        return Ok(0);
    }
    // ostree lists them by ref name first.
    let mut shown: Vec<&(String, String)> = selected.collect();
    shown.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    let s: String = shown.iter().map(|(cid, name)| format!("({cid}, {name})\n")).collect();
    out(&s)?;
    Ok(0)
}
