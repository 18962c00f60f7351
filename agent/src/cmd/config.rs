//! `config get|set|unset`.

use ostree_repo::{Error, Repo};

use super::out;
use crate::cli::{ConfigCommand, ConfigOpts, ConfigTail};
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
    let command = match &o.command {
        Some(c) => c.clone(),
        None => {
            let bin = std::env::args_os().next().map(std::path::PathBuf::from);
            let bin = bin.as_deref().and_then(std::path::Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ostree".into());
            let cmd = <ConfigTail as clap::CommandFactory>::command().bin_name(format!("{bin} config"));
            let m = cmd.try_get_matches_from(std::iter::once("config".to_string()).chain(o.tail.iter().cloned()))?;
            <ConfigTail as clap::FromArgMatches>::from_arg_matches(&m)?.command
        }
    };
    match &command {
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
