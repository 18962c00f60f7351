//! `init`, `refs`, `rev-parse`.

use std::path::Path;

use ostree_repo::{Checksum, Error, ObjectType, RefName, Repo, RepoMode};

use super::out;
use crate::cli::{InitOpts, RefsOpts, RevParseOpts};
use crate::Result;

pub fn init(path: &Path, o: &InitOpts) -> Result<i32> {
    let mode = RepoMode::parse(&o.mode).ok_or_else(|| Error::Invalid(format!("Invalid mode '{}' (archive, bare, bare-user, bare-user-only)", o.mode)))?;
    let mut repo = Repo::init(path, mode)?;
    if let Some(cid) = &o.collection_id {
        repo.update_config(|kf| kf.set("core", "collection-id", cid))?;
    }
    Ok(0)
}

pub fn refs(repo: &Repo, o: &RefsOpts) -> Result<i32> {
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
            (Some(p), false) if k != p => k.strip_prefix(p.as_str()).map(|r| r.trim_start_matches('/')).unwrap_or(k),
            _ => k.as_str(),
        };
        s.push_str(shown);
        s.push('\n');
    }
    out(&s)?;
    Ok(0)
}

pub fn rev_parse(repo: &Repo, o: &RevParseOpts) -> Result<i32> {
    let commit = match &o.rev {
        Some(rev) => repo.resolve_rev(rev)?,
        None => match repo.list_objects(Some(ObjectType::Commit))?.as_slice() {
            [(c, _)] => *c,
            [] => return Err(Error::Invalid("No commit objects found".into()).into()),
            _ => return Err(Error::Invalid("Multiple commit objects found".into()).into()),
        },
    };
    out(&format!("{commit}\n"))?;
    Ok(0)
}

/// `config get|set|unset [--group=G] SECTION.KEY [VALUE]`, as ostree.
pub fn config(mut repo: Repo, o: &crate::cli::ConfigOpts) -> Result<i32> {
    use crate::cli::ConfigCommand;
    let split = |key: &str, group: &Option<String>| -> Result<(String, String)> {
        match group {
            Some(g) => Ok((g.clone(), key.to_string())),
            None => key
                .rsplit_once('.')
                .map(|(g, k)| (g.to_string(), k.to_string()))
                .ok_or_else(|| Error::Invalid(format!("Section.key expected, got {key:?} (or use --group)")).into()),
        }
    };
    match &o.command {
        ConfigCommand::Get { extra, .. } | ConfigCommand::Set { extra, .. } | ConfigCommand::Unset { extra, .. } if !extra.is_empty() => {
            return Err(Error::Invalid("Too many arguments given".into()).into());
        }
        ConfigCommand::Get { key, group, .. } => {
            let (g, k) = split(key, group)?;
            let v = repo.config().get(&g, &k).ok_or_else(|| Error::Invalid(format!("Key file does not have key “{k}” in group “{g}”")))?;
            out(&format!("{v}\n"))?;
        }
        ConfigCommand::Set { key, value, group, .. } => {
            let (g, k) = split(key, group)?;
            repo.update_config(|c| c.set(&g, &k, value))?;
        }
        ConfigCommand::Unset { key, group, .. } => {
            let (g, k) = split(key, group)?;
            repo.update_config(|c| {
                c.remove_key(&g, &k);
            })?;
        }
    }
    Ok(0)
}
