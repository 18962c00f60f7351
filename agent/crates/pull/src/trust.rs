//! What a source must prove before its commits may become refs: one
//! [`Policy`] built from a remote's config (`sign-verify`,
//! `sign-verify-summary`, `gpg-verify`, `gpg-verify-summary`, spelled and
//! defaulted as ostree does), applied the same way by `pull` (HTTPS,
//! `file://`) and by `pull-local --remote`, whose refs a deployment can
//! come from as well.
//!
//! Signatures are checked over the raw bytes of the commit or summary,
//! before anything of either is decoded (see [`crate::sign::signatures`]).
//! A source whose commits must be signed also may not move a ref to an
//! older commit: a replayed, validly signed old summary is refused unless
//! the caller allows the downgrade.

use ostree_repo::object::Checksum;
use ostree_repo::remote::Remote;

use crate::error::{Error, Result};
use crate::sign::Ed25519Verifier;

/// How commits and summaries from one source are checked.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The remote whose config this is; `None` for a plain `pull-local`.
    pub remote: Option<String>,
    /// `sign-verify`: every commit needs a valid ed25519 signature.
    pub ed25519: Option<Ed25519Verifier>,
    /// `gpg-verify`: uptree cannot check GPG, so such commits are refused.
    pub gpg: bool,
    /// `sign-verify-summary`: the summary needs a valid ed25519 signature.
    pub summary_ed25519: Option<Ed25519Verifier>,
    /// `gpg-verify-summary`: refused like `gpg`.
    pub summary_gpg: bool,
    /// `sign-verify-deltas`: a delta's superblock needs a valid ed25519
    /// signature (else the pull fetches objects, or fails if deltas are
    /// required).
    pub deltas_ed25519: Option<Ed25519Verifier>,
}

impl Policy {
    /// Nothing required: a `pull-local` into local refs, as ostree does it.
    pub fn unverified() -> Policy {
        Policy::default()
    }

    /// The remote's configured policy.
    pub fn for_remote(r: &Remote) -> Result<Policy> {
        let ed25519 = match r.sign_verify()? {
            None => None,
            Some(types) => {
                if let Some(t) = types.iter().find(|t| t.as_str() != "ed25519") {
                    return Err(Error::UnsupportedSignType { remote: r.name.clone(), kind: t.clone() });
                }
                Some(Ed25519Verifier::for_remote(r)?)
            }
        };
        let summary_ed25519 = if r.get_bool("sign-verify-summary", false)? { Some(Ed25519Verifier::for_remote(r)?) } else { None };
        // Where ed25519 is configured it stands in for GPG (uptree's
        // documented choice until it verifies GPG; ostree would need both).
        let gpg = r.gpg_verify()? && ed25519.is_none();
        let summary_gpg = r.get_bool("gpg-verify-summary", false)? && summary_ed25519.is_none();
        let deltas_ed25519 = if r.get_bool("sign-verify-deltas", false)? { Some(Ed25519Verifier::for_remote(r)?) } else { None };
        Ok(Policy { remote: Some(r.name.clone()), ed25519, gpg, summary_ed25519, summary_gpg, deltas_ed25519 })
    }

    fn remote_name(&self) -> String {
        self.remote.clone().unwrap_or_default()
    }

    /// Commits must be signed; such a source also never moves a ref to an
    /// older commit unless a downgrade is asked for.
    pub fn requires_signatures(&self) -> bool {
        self.ed25519.is_some() || self.gpg
    }

    /// Check commit `c` (its exact bytes, already hashed) against its
    /// detached metadata. Call before decoding either.
    pub fn verify_commit(&self, c: &Checksum, bytes: &[u8], detached: Option<&[u8]>) -> Result<()> {
        if let Some(v) = &self.ed25519 {
            v.verify(&format!("commit {c}"), bytes, detached)?;
        }
        if self.gpg {
            return Err(Error::GpgUnsupported { remote: self.remote_name(), option: "gpg-verify" });
        }
        Ok(())
    }

    /// A summary must be verified before it is used.
    pub fn summary_required(&self) -> bool {
        self.summary_ed25519.is_some() || self.summary_gpg
    }

    /// Check the summary's raw bytes against `summary.sig`. Call before
    /// decoding the summary.
    pub fn verify_summary(&self, bytes: &[u8], sig: Option<&[u8]>) -> Result<()> {
        if let Some(v) = &self.summary_ed25519 {
            v.verify("summary", bytes, sig)?;
        }
        if self.summary_gpg {
            return Err(Error::GpgUnsupported { remote: self.remote_name(), option: "gpg-verify-summary" });
        }
        Ok(())
    }

    /// The error for a source that has no summary where one is required.
    pub fn missing_summary(&self) -> Error {
        Error::SummaryMissing { remote: self.remote_name() }
    }
}
