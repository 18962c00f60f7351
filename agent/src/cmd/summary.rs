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
        let extra = o.add_metadata.iter().map(|a| super::metadata_arg(a)).collect::<Result<Vec<_>>>()?;
        summary::update_with(&mut repo, now, &extra)?;
        if !o.gpg_sign.is_empty() && repo.config().get("core", "collection-id").is_some() {
            // ostree signs the new ostree-metadata commit with the same keys.
            let name = ostree_repo::RefName::parse(summary::METADATA_REF)?;
            if let Some(c) = repo.read_ref(&name)? {
                let bytes = repo.read_metadata_verified(ostree_repo::ObjectType::Commit, &c)?;
                let path = repo.object_path(&c, ostree_repo::ObjectType::CommitMeta);
                let meta = super::gpg_sign::sign_into(std::fs::read(&path).ok(), &bytes, &o.gpg_sign, o.gpg_homedir.as_deref())?;
                ostree_repo::fsutil::atomic_write(&path, &meta, 0o644, repo.fsync_enabled())?;
            }
        }
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
