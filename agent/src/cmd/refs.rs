//! `refs`.

use ostree_repo::{Checksum, Error, RefName, Repo};

use super::out;
use crate::cli::RefsOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &RefsOpts) -> Result<i32> {
    if let Some(new) = &o.create {
        let target = o.prefix.as_deref().ok_or_else(|| Error::Invalid("--create needs a commit to point at".into()))?;
        let name = RefName::parse(new)?;
        if repo.read_ref(&name)?.is_some() {
            return Err(Error::Conflict(format!("Refusing to overwrite existing ref {new}")).into());
        }
        let c = repo.resolve_rev(target)?;
        repo.set_ref(&name, Some(&c))?;
        return Ok(0);
    }
    let all = repo.list_refs()?;
    let selected: Vec<(&String, &Checksum)> = all
        .iter()
        .filter(|(k, _)| match &o.prefix {
            None => true,
            Some(p) => k.as_str() == p || k.starts_with(&format!("{}/", p.trim_end_matches('/'))) || (p.ends_with(':') && k.starts_with(p.as_str())),
        })
        .collect();
    if o.delete {
        if o.prefix.is_none() {
            return Err(Error::Invalid("refs --delete needs a ref or prefix".into()).into());
        }
        for (k, _) in &selected {
            repo.set_ref(&RefName::parse(k)?, None)?;
        }
        return Ok(0);
    }
    if o.json {
        let map: serde_json::Map<String, serde_json::Value> = selected.iter().map(|(k, c)| ((*k).clone(), serde_json::Value::String(c.to_hex()))).collect();
        out(&format!("{}\n", serde_json::Value::Object(map)))?;
        return Ok(0);
    }
    let mut s = String::new();
    for (k, _) in selected {
        let shown = match (&o.prefix, o.list) {
            // As ostree: relative to the prefix, a remote's name kept
            // (`refs origin:os` lists `origin:stable`).
            (Some(p), false) if k != p => {
                let rest = k.strip_prefix(p.as_str()).map(|r| r.trim_start_matches('/')).unwrap_or(k);
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
