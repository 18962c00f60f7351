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
//!
//! GPG (`gpg-verify`, ostree's default, and `gpg-verify-summary`) is
//! checked with the `gpg` feature (see [`crate::gpg`]); a build without it
//! refuses such sources rather than skip the check. One uptree rule
//! differs from ostree: where a remote has ed25519 `sign-verify` and does
//! not set `gpg-verify` itself, ed25519 stands in for the default GPG
//! check; an explicit `gpg-verify=true` is required as well, as in ostree.

use ostree_repo::object::Checksum;
use ostree_repo::remote::Remote;
use ostree_repo::Repo;

use crate::error::{Error, Result};
use crate::sign::{DummyVerifier, Ed25519Verifier, SignType, Verify};

/// How commits and summaries from one source are checked.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The remote whose config this is; `None` for a plain `pull-local`.
    pub remote: Option<String>,
    /// `sign-verify`: every commit needs a valid ed25519 signature.
    pub ed25519: Option<Ed25519Verifier>,
    /// `gpg-verify`: every commit needs a valid GPG signature.
    pub gpg: Option<GpgCheck>,
    /// `sign-verify-summary`: the summary needs a valid ed25519 signature.
    pub summary_ed25519: Option<Ed25519Verifier>,
    /// `gpg-verify-summary`: the summary needs a valid GPG signature.
    pub summary_gpg: Option<GpgCheck>,
    /// `sign-verify-deltas`: a delta's superblock needs a valid ed25519
    /// signature (else the pull fetches objects, or fails if deltas are
    /// required).
    pub deltas_ed25519: Option<Ed25519Verifier>,
    /// `sign-verify` with ostree's test-only dummy type (a
    /// `verification-dummy-key`); with `ed25519` too, either one passing
    /// is enough, as in ostree.
    pub dummy: Option<DummyVerifier>,
    /// `sign-verify-summary` with the dummy type.
    pub summary_dummy: Option<DummyVerifier>,
}

impl Policy {
    /// Nothing required: a `pull-local` into local refs, as ostree does it.
    pub fn unverified() -> Policy {
        Policy::default()
    }

    /// The remote's configured policy.
    pub fn for_remote(repo: &Repo, r: &Remote) -> Result<Policy> {
        let (ed25519, dummy) = match r.sign_verify()? {
            None => (None, None),
            Some(types) => signapi_keys(r, &types)?,
        };
        let (summary_ed25519, summary_dummy) = if r.get_bool("sign-verify-summary", false)? { signapi_keys(r, &[])? } else { (None, None) };
        // ed25519 stands in for GPG only where gpg-verify is the default.
        let signapi = ed25519.is_some() || dummy.is_some();
        let gpg_asked = if signapi { r.get("gpg-verify").is_some() && r.gpg_verify()? } else { r.gpg_verify()? };
        let summary_signapi = summary_ed25519.is_some() || summary_dummy.is_some();
        let summary_gpg_asked = r.get_bool("gpg-verify-summary", false)? && (!summary_signapi || r.get("gpg-verify-summary").is_some());
        let keys = if gpg_asked || summary_gpg_asked { Some(GpgCheck::for_remote(repo, &r.name, Some(r))?) } else { None };
        let gpg = if gpg_asked { keys.clone() } else { None };
        let summary_gpg = if summary_gpg_asked { keys } else { None };
        let deltas_ed25519 = if r.get_bool("sign-verify-deltas", false)? { Some(Ed25519Verifier::for_remote(r)?) } else { None };
        Ok(Policy { remote: Some(r.name.clone()), ed25519, gpg, summary_ed25519, summary_gpg, deltas_ed25519, dummy, summary_dummy })
    }

    fn remote_name(&self) -> String {
        self.remote.clone().unwrap_or_default()
    }

    /// Commits must be signed; such a source also never moves a ref to an
    /// older commit unless a downgrade is asked for.
    pub fn requires_signatures(&self) -> bool {
        self.ed25519.is_some() || self.dummy.is_some() || self.gpg.is_some()
    }

    /// Check commit `c` (its exact bytes, already hashed) against its
    /// detached metadata. Call before decoding either.
    pub fn verify_commit(&self, c: &Checksum, bytes: &[u8], detached: Option<&[u8]>) -> Result<()> {
        signapi_verify(self.ed25519.as_ref(), self.dummy.as_ref(), &format!("commit {c}"), bytes, detached)?;
        if let Some(g) = &self.gpg {
            g.verify(&self.remote_name(), "gpg-verify", &format!("commit {c}"), bytes, detached)?;
        }
        Ok(())
    }

    /// A summary must be verified before it is used.
    pub fn summary_required(&self) -> bool {
        self.summary_ed25519.is_some() || self.summary_dummy.is_some() || self.summary_gpg.is_some()
    }

    /// Check the summary's raw bytes against `summary.sig`. Call before
    /// decoding the summary.
    pub fn verify_summary(&self, bytes: &[u8], sig: Option<&[u8]>) -> Result<()> {
        signapi_verify(self.summary_ed25519.as_ref(), self.summary_dummy.as_ref(), "summary", bytes, sig)?;
        if let Some(g) = &self.summary_gpg {
            g.verify(&self.remote_name(), "gpg-verify-summary", "summary", bytes, sig)?;
        }
        Ok(())
    }

    /// The error for a source that has no summary where one is required.
    pub fn missing_summary(&self) -> Error {
        Error::SummaryMissing { remote: self.remote_name() }
    }
}

/// The verifiers of `sign-verify=TYPES` (empty or `true`: every type that
/// has keys, and at least one must). A type named explicitly must have
/// keys; one not named is not used.
fn signapi_keys(r: &Remote, types: &[String]) -> Result<(Option<Ed25519Verifier>, Option<DummyVerifier>)> {
    let named = types.iter().map(|t| SignType::from_name(t)).collect::<Result<Vec<_>>>()?;
    let wanted = |t: SignType| named.is_empty() || named.contains(&t);
    let ed25519 = if wanted(SignType::Ed25519) {
        match Ed25519Verifier::for_remote(r) {
            Ok(v) => Some(v),
            Err(Error::NoTrustedKeys { .. }) if named.is_empty() => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let dummy = if wanted(SignType::Dummy) {
        match DummyVerifier::for_remote(r)? {
            Some(v) => Some(v),
            None if named.contains(&SignType::Dummy) => return Err(Error::NoKeysForType { remote: r.name.clone(), kind: "dummy" }),
            None => None,
        }
    } else {
        None
    };
    if ed25519.is_none() && dummy.is_none() {
        return Err(Error::NoTrustedKeys { remote: r.name.clone() });
    }
    Ok((ed25519, dummy))
}

/// Either signapi type passing is enough (ostree tries each type that has
/// keys); the ed25519 error is the one reported when both fail.
fn signapi_verify(ed25519: Option<&Ed25519Verifier>, dummy: Option<&DummyVerifier>, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<()> {
    match (ed25519, dummy) {
        (None, None) => Ok(()),
        (Some(e), None) => e.verify(object, data, detached),
        (None, Some(d)) => d.check(object, data, detached).map(drop),
        (Some(e), Some(d)) => e.verify(object, data, detached).or_else(|err| d.check(object, data, detached).map(drop).map_err(|_| err)),
    }
}

/// A source's GPG keys: with the `gpg` feature the keyrings ostree reads,
/// without it nothing, and every check refuses (never skipped).
#[derive(Debug, Clone)]
pub struct GpgCheck {
    #[cfg(feature = "gpg")]
    verifier: crate::gpg::GpgVerifier,
}

impl GpgCheck {
    /// The keys of remote `name` (configured as `r`, if it is).
    pub fn for_remote(repo: &Repo, name: &str, r: Option<&Remote>) -> Result<GpgCheck> {
        #[cfg(feature = "gpg")]
        return Ok(GpgCheck { verifier: crate::gpg::GpgVerifier::for_remote(repo, name, r)? });
        #[cfg(not(feature = "gpg"))]
        {
            let _ = (repo, name, r);
            Ok(GpgCheck {})
        }
    }

    /// Check `data` against the `ostree.gpgsigs` of `detached` (raw bytes,
    /// before either is decoded). `remote` and `option` name what asked.
    pub fn verify(&self, remote: &str, option: &'static str, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<()> {
        #[cfg(feature = "gpg")]
        {
            let _ = (remote, option);
            self.verifier.verify(object, data, detached)
        }
        #[cfg(not(feature = "gpg"))]
        {
            let _ = (object, data, detached);
            Err(Error::GpgUnsupported { remote: remote.to_string(), option })
        }
    }
}
