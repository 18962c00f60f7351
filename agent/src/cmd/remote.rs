//! `remote add|list|delete|show-url|refs|add-cookie|delete-cookie|list-cookies|gpg-import|gpg-list-keys|summary`.

use ostree_repo::Repo;
use ostree_repo::{cookies, remote};
use uptree_pull::transport::NetOptions;

use super::out;
use crate::cli::{RemoteCommand, RemoteOpts};
use crate::Result;

pub fn run(mut repo: Repo, o: &RemoteOpts) -> Result<i32> {
    match &o.command {
        RemoteCommand::Add(a) => {
            let mut options = Vec::new();
            // ostree writes these two right after the url.
            if let Some(c) = &a.contenturl {
                options.push(("contenturl".to_string(), c.clone()));
            }
            if let Some(b) = &a.custom_backend {
                options.push(("custom-backend".to_string(), b.clone()));
            }
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
            // Unchecked, as ostree: only init and the refs it binds validate collection IDs.
            if let Some(c) = &a.collection_id {
                options.push(("collection-id".to_string(), c.clone()));
            }
            let if_exists = match (a.if_not_exists, a.force) {
                (true, _) => remote::IfExists::Keep,
                (_, true) => remote::IfExists::Replace,
                _ => remote::IfExists::Fail,
            };
            match &o.sysroot {
                Some(root) => {
                    let dir = remote::sysroot_remotes_dir(&repo, root)?;
                    remote::add_to(&mut repo, dir, &a.name, a.url.as_deref(), &options, if_exists)?;
                }
                None => remote::add(&mut repo, &a.name, a.url.as_deref(), &options, if_exists)?,
            }
            if let Some(f) = &a.gpg_import {
                let keys = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
                imported(&a.name, gpg_import(&repo, &a.name, &keys, &[])?)?;
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
        RemoteCommand::AddCookie { name, domain, path, cookie_name, value } => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let cookie = cookies::Cookie {
                domain: domain.clone(),
                include_subdomains: false,
                path: path.clone(),
                secure: false,
                expires: now.saturating_add(cookies::ADDED_COOKIE_LIFETIME),
                name: cookie_name.clone(),
                value: value.clone(),
            };
            cookies::add(&repo, name, cookie)?;
        }
        RemoteCommand::DeleteCookie { name, domain, path, cookie_name, .. } => cookies::delete(&repo, name, domain, path, cookie_name)?,
        RemoteCommand::ListCookies { name } => {
            remote::get(&repo, name)?;
            let mut s = String::new();
            for c in cookies::load(&repo, name)? {
                let expires = if c.expires == 0 { "session".to_string() } else { ostree_repo::datetime::format_iso(c.expires) };
                let secure = if c.secure { "yes" } else { "no" };
                s.push_str(&format!(
                    "--\nDomain: {}\nPath: {}\nName: {}\nSecure: {secure}\nExpires: {expires}\nValue: {}\n",
                    c.domain, c.path, c.name, c.value
                ));
            }
            out(&s)?;
        }
        RemoteCommand::GpgImport(g) => {
            remote::get(&repo, &g.name)?;
            let mut keys = Vec::new();
            if g.stdin {
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut keys)?;
            }
            for f in &g.keyring {
                keys.extend(std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?);
            }
            if !g.stdin && g.keyring.is_empty() {
                return Err("give the keys with --keyring=FILE or --stdin (uptree has no default GnuPG keyring)".into());
            }
            imported(&g.name, gpg_import(&repo, &g.name, &keys, &g.key_ids)?)?;
        }
        RemoteCommand::Summary { name, raw, cache_dir } => {
            let signed = uptree_pull::summary::fetch_signed(&repo, name, &NetOptions::default(), cache_dir.as_deref())?
                .ok_or_else(|| "Remote server has no summary file".to_string())?;
            if *raw {
                // As ostree: no signatures with --raw, to keep it parseable.
                out(&format!("{}\n", ostree_repo::summary::raw_text(&signed.summary)?))?;
            } else {
                let mut s = ostree_repo::summary::Summary::from_bytes(&signed.summary)?.view_text();
                s.push_str(&summary_signatures(&repo, name, &signed)?);
                out(&s)?;
            }
        }
        RemoteCommand::GpgListKeys { name } => out(&gpg_list_keys(&repo, name.as_deref())?)?,
    }
    Ok(0)
}

fn imported(name: &str, n: usize) -> Result<()> {
    out(&format!("Imported {n} GPG key{} to remote \"{name}\"\n", if n == 1 { "" } else { "s" }))
}

#[cfg(feature = "gpg")]
fn gpg_import(repo: &Repo, name: &str, keys: &[u8], ids: &[String]) -> Result<usize> {
    Ok(uptree_pull::gpg::import(repo, name, keys, ids)?)
}

#[cfg(not(feature = "gpg"))]
fn gpg_import(_: &Repo, _: &str, _: &[u8], _: &[String]) -> Result<usize> {
    Err("GPG has been disabled at build time (uptree built without the `gpg` feature)".into())
}

/// The summary's GPG signatures as ostree prints them after it, where the
/// remote checks them (`gpg-verify-summary`); they were verified already.
#[cfg(feature = "gpg")]
fn summary_signatures(repo: &Repo, name: &str, signed: &uptree_pull::summary::SignedSummary) -> Result<String> {
    let r = remote::get(repo, name)?;
    if !r.get_bool("gpg-verify-summary", false)? {
        return Ok(String::new());
    }
    let Some(sig) = &signed.sig else { return Ok(String::new()) };
    let v = uptree_pull::gpg::GpgVerifier::for_remote(repo, name, Some(&r))?;
    Ok(format!("\n{}", v.describe_result("summary", &signed.summary, Some(sig))?))
}

#[cfg(not(feature = "gpg"))]
fn summary_signatures(_: &Repo, _: &str, _: &uptree_pull::summary::SignedSummary) -> Result<String> {
    Ok(String::new())
}

#[cfg(feature = "gpg")]
fn gpg_list_keys(repo: &Repo, name: Option<&str>) -> Result<String> {
    Ok(uptree_pull::gpg::list_keys(repo, name)?)
}

#[cfg(not(feature = "gpg"))]
fn gpg_list_keys(_: &Repo, _: Option<&str>) -> Result<String> {
    Err("GPG has been disabled at build time (uptree built without the `gpg` feature)".into())
}
