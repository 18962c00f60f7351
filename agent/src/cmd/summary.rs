//! `summary`.

use ostree_repo::summary::{self, Summary};
use ostree_repo::Repo;
use uptree_pull::sign::SignType;

use super::out;
use crate::cli::SummaryOpts;
use crate::Result;

pub fn run(mut repo: Repo, o: &SummaryOpts) -> Result<i32> {
    if o.update {
        let now = ostree_repo::commit::default_timestamp()?;
        // ostree rewrites delta-indexes/ with the summary.
        uptree_delta::manage::reindex(&repo, None)?;
        if !o.gpg_sign.is_empty() {
            // As for commit: a key that cannot sign is found out before
            // the new summary replaces the old one.
            super::gpg_sign::sign_into(None, b"", &o.gpg_sign, o.gpg_homedir.as_deref())?;
        }
        summary::update(&mut repo, now)?;
        let mut meta: Option<Vec<u8>> = None;
        if !o.gpg_sign.is_empty() {
            let bytes = std::fs::read(repo.path().join("summary"))?;
            meta = Some(super::gpg_sign::sign_into(None, &bytes, &o.gpg_sign, o.gpg_homedir.as_deref())?);
        }
        if !o.sign.is_empty() {
            let kind = SignType::from_name(&o.sign_type)?;
            let bytes = std::fs::read(repo.path().join("summary"))?;
            for k in &o.sign {
                meta = Some(kind.add_signature(meta.as_deref(), &kind.sign(&bytes, k)?)?);
            }
        }
        if let Some(m) = meta {
            ostree_repo::fsutil::atomic_write(&repo.path().join("summary.sig"), &m, 0o644, repo.fsync_enabled())?;
        }
    }
    if o.view || o.raw || !o.update {
        let bytes = std::fs::read(repo.path().join("summary")).map_err(|e| format!("{}: {e}", repo.path().join("summary").display()))?;
        if o.raw {
            out(&format!("{}\n", summary::raw_text(&bytes)?))?;
        } else {
            out(&Summary::from_bytes(&bytes)?.view_text())?;
        }
    }
    Ok(0)
}
