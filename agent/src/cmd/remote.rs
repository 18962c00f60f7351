//! `remote add|list|delete|show-url|refs`.

use ostree_repo::remote;
use ostree_repo::Repo;
use uptree_pull::transport::NetOptions;

use super::out;
use crate::cli::{RemoteCommand, RemoteOpts};
use crate::Result;

pub fn run(mut repo: Repo, o: &RemoteOpts) -> Result<i32> {
    match &o.command {
        RemoteCommand::Add(a) => {
            let mut options = Vec::new();
            if a.no_gpg_verify {
                options.push(("gpg-verify".to_string(), "false".to_string()));
            }
            if !a.branches.is_empty() {
                options.push(("branches".to_string(), format!("{};", a.branches.join(";"))));
            }
            for s in &a.set {
                options.push(remote::parse_set(s)?);
            }
            for sv in &a.sign_verify {
                options.extend(remote::sign_verify_options(sv)?);
            }
            // ostree writes these after --set, so they win over it.
            if a.no_sign_verify {
                options.push(("gpg-verify".to_string(), "false".to_string()));
                options.push(("sign-verify".to_string(), "false".to_string()));
            }
            match &o.sysroot {
                Some(root) => {
                    let dir = remote::sysroot_remotes_dir(&repo, root)?;
                    remote::add_to(&mut repo, dir, &a.name, &a.url, &options, a.if_not_exists)?;
                }
                None => remote::add(&mut repo, &a.name, &a.url, &options, a.if_not_exists)?,
            }
        }
        RemoteCommand::List { show_urls } => {
            let remotes = remote::list(&repo)?;
            let width = remotes.iter().map(|r| r.name.len()).max().unwrap_or(0) + 2;
            let mut s = String::new();
            for r in remotes {
                if *show_urls {
                    s.push_str(&format!("{:<width$}{}\n", r.name, r.get("url").unwrap_or_default()));
                } else {
                    s.push_str(&format!("{}\n", r.name));
                }
            }
            out(&s)?;
        }
        RemoteCommand::Delete { name, if_exists } => remote::delete(&mut repo, name, *if_exists)?,
        RemoteCommand::ShowUrl { name } => out(&format!("{}\n", remote::get(&repo, name)?.url()?))?,
        RemoteCommand::Refs { name } => {
            let sm = uptree_pull::summary::fetch(&repo, name, &NetOptions::default())?
                .ok_or_else(|| format!("remote {name} has no summary; run 'summary -u' on the server"))?;
            let mut s = String::new();
            for rf in &sm.refs {
                s.push_str(&format!("{name}:{}\n", rf.name));
            }
            out(&s)?;
        }
    }
    Ok(0)
}
