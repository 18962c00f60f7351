//! `config get|set|unset`.

use ostree_repo::{Error, Repo};

use super::out;
use crate::cli::{ConfigCommand, ConfigOpts};
use crate::Result;

/// `config get|set|unset [--group=G] SECTION.KEY [VALUE]`, as ostree.
pub fn run(mut repo: Repo, o: &ConfigOpts) -> Result<i32> {
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
