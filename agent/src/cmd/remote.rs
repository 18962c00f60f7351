//! `remote add|list|delete|show-url|refs` and `summary`.

use ostree_repo::remote;
use ostree_repo::summary::{self, Summary};
use ostree_repo::Repo;
use uptree_pull::sign;
use uptree_pull::transport::NetOptions;

use super::out;
use crate::cli::{RemoteCommand, RemoteOpts, SummaryOpts};
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
            remote::add(&mut repo, &a.name, &a.url, &options, a.if_not_exists)?;
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

pub fn summary(mut repo: Repo, o: &SummaryOpts) -> Result<i32> {
    if o.update {
        let now = ostree_repo::commit::default_timestamp()?;
        // ostree rewrites delta-indexes/ with the summary.
        uptree_delta::manage::reindex(&repo, None)?;
        summary::update(&mut repo, now)?;
        if !o.sign.is_empty() {
            if o.sign_type != "ed25519" {
                return Err(format!("unsupported signature type {:?}", o.sign_type).into());
            }
            let bytes = std::fs::read(repo.path().join("summary"))?;
            let mut meta: Option<Vec<u8>> = None;
            for k in &o.sign {
                meta = Some(sign::add_signature(meta.as_deref(), &sign::sign(&bytes, k)?)?);
            }
            if let Some(m) = meta {
                ostree_repo::fsutil::atomic_write(&repo.path().join("summary.sig"), &m, 0o644, repo.fsync_enabled())?;
            }
        }
    }
    if o.view || !o.update {
        let bytes = std::fs::read(repo.path().join("summary")).map_err(|e| format!("{}: {e}", repo.path().join("summary").display()))?;
        let sm = Summary::from_bytes(&bytes)?;
        let mut s = String::new();
        for r in &sm.refs {
            s.push_str(&format!("* {}\n    Latest Commit ({} bytes):\n      {}\n", r.name, r.commit_size, r.checksum));
            for (k, v) in &r.metadata {
                s.push_str(&format!("    {k}: {}\n", ostree_repo::gvariant::print(v)));
            }
        }
        out(&s)?;
    }
    Ok(0)
}
