//! Pulling through a static delta: when the remote offers a delta from a
//! commit this repository has complete to the commit being pulled, its
//! parts are fetched and run before the tree walk, so the walk finds those
//! objects present and fetches only the delta's fallbacks.
//!
//! Trust: the superblock is checked against the digest the (verified)
//! summary lists, and its embedded commit must be byte-identical to the
//! commit already fetched and verified; each part is checked against the
//! superblock's SHA-256 before it is decompressed, and every object it
//! writes is hashed against its name before it is staged. A part that was
//! applied fully is skipped on a re-run (its objects are present), and a
//! part whose download was cut resumes with HTTP Range where it stopped.

use std::sync::atomic::Ordering;

use ostree_repo::gvariant::{self, Value};
use ostree_repo::object::Checksum;
use ostree_repo::repo::Transaction;
use uptree_delta::format::{self, DeltaName, Superblock};

use crate::error::{Error, Result};
use crate::transport::{Stats, Transport};

/// Whether and how a pull uses deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeltaPolicy {
    /// Use a delta when the remote offers one (not into archive repos).
    #[default]
    Prefer,
    /// `--disable-static-deltas`.
    Disable,
    /// `--require-static-deltas`: fail instead of fetching objects.
    Require,
}

/// Where deltas come from: the transport, the pull's counters and retry
/// budget, and the (verified) summary that lists the deltas.
#[derive(Clone, Copy)]
pub struct DeltaSource<'a> {
    pub transport: &'a dyn Transport,
    pub stats: &'a Stats,
    pub retries: u32,
    pub summary: Option<&'a [u8]>,
    /// Stop before the next part (SIGTERM); parts already run stay.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for DeltaSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSource").field("transport", &self.transport.describe()).field("retries", &self.retries).finish()
    }
}

/// What a delta pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaReport {
    pub name: String,
    pub parts_fetched: usize,
    pub parts_skipped: usize,
    pub bytes: u64,
}

/// The superblock digest the summary (or a delta index) lists for `name`.
fn listed_digest(transport: &dyn Transport, summary: Option<&[u8]>, name: &DeltaName) -> Result<Option<Checksum>> {
    let key = name.to_string();
    if let Some(bytes) = summary {
        let s = ostree_repo::summary::Summary::from_bytes(bytes)?;
        if let Some(v) = s.meta("ostree.static-deltas") {
            for (k, d) in gvariant::vardict_entries(v) {
                if k == key {
                    return Ok(d.as_bytes().and_then(Checksum::from_slice));
                }
            }
        }
        if s.meta("ostree.summary.indexed-deltas") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
    }
    let to = ostree_repo::summary::checksum_to_mbase64(&name.to);
    let rel = format!("delta-indexes/{}/{}.index", &to[..2], &to[2..]);
    let Some(idx) = transport.get_file(&rel, 1024 * 1024)? else { return Ok(None) };
    Ok(format::parse_index(&idx).map_err(|e| Error::Verify { object: rel.clone(), what: e.to_string() })?.into_iter().find(|(n, _)| *n == key).map(|(_, d)| d))
}

/// ostree's words (scripts grep "deltas required, but none found").
fn none_found(name: &DeltaName) -> Error {
    let from = name.from.map_or_else(|| "(null)".to_string(), |f| f.to_hex());
    Error::Config(format!("Static deltas required, but none found for {from} to {}", name.to))
}

fn delta_err(name: &DeltaName, e: impl std::fmt::Display) -> Error {
    Error::Verify { object: format!("static delta {name}"), what: e.to_string() }
}

/// Before walking `to`'s tree: apply the delta from `from` (a commit this
/// repository has complete; `None`: a from-scratch delta) if the policy
/// allows and the remote offers it. A failed delta falls back to objects
/// unless deltas are required.
pub fn before_walk(
    txn: &Transaction<'_>,
    src: &DeltaSource<'_>,
    policy: DeltaPolicy,
    from: Option<Checksum>,
    to: &Checksum,
    commit_bytes: &[u8],
    signed_by: Option<&crate::sign::Ed25519Verifier>,
) -> Result<Option<DeltaReport>> {
    let archive = txn.repo().mode() == ostree_repo::RepoMode::Archive;
    if policy == DeltaPolicy::Disable || (archive && policy == DeltaPolicy::Prefer) {
        return Ok(None);
    }
    let from = from.filter(|f| txn.repo().has_object(f, ostree_repo::ObjectType::Commit) && !txn.repo().is_partial(f));
    let from = best_from(txn.repo(), src, from, to)?;
    let name = DeltaName { from, to: *to };
    match pull_delta(txn, src, &name, commit_bytes, signed_by) {
        Ok(Some(r)) => {
            log::info!("pulled through static delta {}: {} parts ({} already here), {} bytes", r.name, r.parts_fetched, r.parts_skipped, r.bytes);
            Ok(Some(r))
        }
        Ok(None) if policy == DeltaPolicy::Require => Err(none_found(&name)),
        Ok(None) => Ok(None),
        Err(e) if policy == DeltaPolicy::Require || matches!(e, Error::Cancelled) => Err(e),
        Err(e) => {
            log::warn!("static delta {name}: {e}; fetching objects instead");
            Ok(None)
        }
    }
}

/// Fetch and run the delta `name` (the target commit, already verified,
/// is `commit_bytes`); with `signed_by`, the superblock must carry a valid
/// signature, checked before it is decoded. `Ok(None)` when the remote
/// has none.
pub fn pull_delta(
    txn: &Transaction<'_>,
    src: &DeltaSource<'_>,
    name: &DeltaName,
    commit_bytes: &[u8],
    signed_by: Option<&crate::sign::Ed25519Verifier>,
) -> Result<Option<DeltaReport>> {
    let name = *name;
    let (transport, stats) = (src.transport, src.stats);
    let retry = |what: &str, op: &mut dyn FnMut() -> Result<Option<Vec<u8>>>| crate::engine::with_retries(stats, src.retries, what, op);
    let Some((sb, sb_len)) = fetch_superblock(src, &name, signed_by)? else { return Ok(None) };
    if sb.commit != commit_bytes {
        return Err(delta_err(&name, "superblock is for another commit"));
    }
    let dir = name.path();
    let mut report = DeltaReport { name: name.to_string(), bytes: sb_len, ..DeltaReport::default() };
    for (idx, h) in sb.parts.iter().enumerate() {
        if h.objects.iter().all(|(k, c)| txn.has_object(c, *k)) {
            report.parts_skipped += 1;
            continue;
        }
        if src.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(Error::Cancelled);
        }
        txn.ensure_space(h.uncompressed_size)?;
        let bytes = match sb.inline_part(idx) {
            Some(b) => b.to_vec(),
            None => {
                let rel = format!("{dir}/{idx}");
                let b = retry(&rel, &mut || transport.get_file_resumable(&rel, h.size, stats))?
                    .ok_or_else(|| Error::NotFound { url: format!("{}/{rel}", transport.describe()) })?;
                report.bytes += b.len() as u64;
                b
            }
        };
        let st = uptree_delta::apply::execute_part(txn, idx, h, &bytes).map_err(|e| delta_err(&name, e))?;
        stats.content_fetched.fetch_add(st.written, Ordering::Relaxed);
        report.parts_fetched += 1;
        // A part's objects become durable before the next part is fetched.
        txn.checkpoint()?;
    }
    Ok(Some(report))
}

/// The superblock of delta `name`, checked against the digest the summary
/// (or a delta index) lists and, with `signed_by`, its signatures, before
/// it is decoded; with its size on the wire. `Ok(None)` if not offered.
fn fetch_superblock(src: &DeltaSource<'_>, name: &DeltaName, signed_by: Option<&crate::sign::Ed25519Verifier>) -> Result<Option<(Superblock, u64)>> {
    let (transport, stats) = (src.transport, src.stats);
    let Some(digest) = listed_digest(transport, src.summary, name)? else { return Ok(None) };
    let sb_rel = format!("{}/superblock", name.path());
    let got = crate::engine::with_retries(stats, src.retries, &sb_rel, || transport.get_file(&sb_rel, format::MAX_SUPERBLOCK_SIZE))?;
    let Some(sb_bytes) = got else { return Ok(None) };
    stats.add_bytes(sb_bytes.len() as u64);
    let actual = Checksum::of(&sb_bytes);
    if actual != digest {
        return Err(delta_err(name, format!("superblock hashes to {actual}, the summary lists {digest}")));
    }
    let plain = match signed_by {
        Some(v) => verify_signed(name, &sb_bytes, v)?.0,
        None => format::unwrap_signed(&sb_bytes).map_err(|e| delta_err(name, e))?.map_or(sb_bytes.as_slice(), |(inner, _)| inner),
    };
    let sb = Superblock::from_bytes(plain).map_err(|e| delta_err(name, e))?;
    if sb.from != name.from || sb.to != name.to {
        return Err(delta_err(name, "superblock is for another commit"));
    }
    Ok(Some((sb, sb_bytes.len() as u64)))
}

/// The sources of the deltas to `to` the remote offers: those its summary
/// lists and, when the summary says deltas are indexed (or there is no
/// summary), those in `to`'s delta index (`core.no-deltas-in-summary`
/// leaves them only there).
fn offered_sources(src: &DeltaSource<'_>, to: &Checksum) -> Result<Vec<Checksum>> {
    let mut names = Vec::new();
    let mut indexed = true;
    if let Some(bytes) = src.summary {
        let s = ostree_repo::summary::Summary::from_bytes(bytes)?;
        if let Some(v) = s.meta("ostree.static-deltas") {
            names.extend(gvariant::vardict_entries(v).into_iter().map(|(k, _)| k.to_string()));
        }
        indexed = s.meta("ostree.summary.indexed-deltas") == Some(&Value::Bool(true));
    }
    if indexed {
        let b = ostree_repo::summary::checksum_to_mbase64(to);
        let rel = format!("delta-indexes/{}/{}.index", &b[..2], &b[2..]);
        if let Some(idx) = src.transport.get_file(&rel, 1024 * 1024)? {
            let entries = format::parse_index(&idx).map_err(|e| Error::Verify { object: rel.clone(), what: e.to_string() })?;
            names.extend(entries.into_iter().map(|(n, _)| n));
        }
    }
    Ok(names.iter().filter_map(|k| DeltaName::parse(k).ok()).filter(|n| n.to == *to).filter_map(|n| n.from).collect())
}

/// The commit to take the delta to `to` from, as ostree picks it: `preferred`
/// (the ref's commit) when the remote offers a delta from it, else any
/// offered source this repository has complete, else `preferred` (only a
/// from-scratch delta offered, or none).
pub fn best_from(repo: &ostree_repo::Repo, src: &DeltaSource<'_>, preferred: Option<Checksum>, to: &Checksum) -> Result<Option<Checksum>> {
    let listed = offered_sources(src, to)?;
    if preferred.is_some_and(|p| listed.contains(&p)) {
        return Ok(preferred);
    }
    let complete = |c: &Checksum| repo.has_object(c, ostree_repo::ObjectType::Commit) && !repo.is_partial(c);
    Ok(listed.into_iter().find(complete).or(preferred))
}

/// What fetching a delta would take (`pull --dry-run`): the parts and
/// fallback objects this repository still lacks, their size as sent and
/// unpacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaPlan {
    pub parts: u64,
    pub size: u64,
    pub uncompressed_size: u64,
}

/// The plan for delta `name`, or `Ok(None)` if the remote does not offer it.
pub fn plan(repo: &ostree_repo::Repo, src: &DeltaSource<'_>, name: &DeltaName, signed_by: Option<&crate::sign::Ed25519Verifier>) -> Result<Option<DeltaPlan>> {
    let Some((sb, _)) = fetch_superblock(src, name, signed_by)? else { return Ok(None) };
    let mut p = DeltaPlan::default();
    for h in sb.parts.iter().filter(|h| !h.objects.iter().all(|(k, c)| repo.has_object(c, *k))) {
        p.parts += 1;
        p.size = p.size.saturating_add(h.size);
        p.uncompressed_size = p.uncompressed_size.saturating_add(h.uncompressed_size);
    }
    for f in sb.fallbacks.iter().filter(|f| !repo.has_object(&f.checksum, f.kind)) {
        p.parts += 1;
        p.size = p.size.saturating_add(f.size);
        p.uncompressed_size = p.uncompressed_size.saturating_add(f.uncompressed_size);
    }
    Ok(Some(p))
}

/// `static-delta generate --sign=KEY…`: wrap the delta's superblock in the
/// signed form `(taya{sv})`, one ed25519 signature per secret key over the
/// plain superblock's bytes, as ostree does.
pub fn sign_delta(repo: &ostree_repo::Repo, name: &DeltaName, secrets: &[String]) -> Result<()> {
    sign_superblock(&repo.path().join(name.path()).join("superblock"), name, crate::sign::SignType::Ed25519, secrets, repo.fsync_enabled())
}

/// [`sign_delta`] for a superblock file anywhere (`generate --filename`).
pub fn sign_superblock(path: &std::path::Path, name: &DeltaName, kind: crate::sign::SignType, secrets: &[String], durable: bool) -> Result<()> {
    let (bytes, _) = uptree_delta::apply::read_superblock_file(path).map_err(|e| delta_err(name, e))?;
    let plain = match format::unwrap_signed(&bytes).map_err(|e| delta_err(name, e))? {
        Some((inner, _)) => inner.to_vec(),
        None => bytes,
    };
    let mut sigs: Option<Vec<u8>> = None;
    for k in secrets {
        sigs = Some(kind.add_signature(sigs.as_deref(), &kind.sign(&plain, k)?)?);
    }
    let Some(sigs) = sigs else { return Ok(()) };
    let signed = format::wrap_signed(&plain, &sigs).map_err(|e| delta_err(name, e))?;
    ostree_repo::fsutil::atomic_write(path, &signed, 0o644, durable)?;
    Ok(())
}

/// Check a superblock file's signatures (over the plain superblock's
/// bytes, before it is decoded); returns the plain bytes and ostree's
/// success message.
pub fn verify_signed<'a>(name: &dyn std::fmt::Display, file: &'a [u8], verifier: &dyn crate::sign::Verify) -> Result<(&'a [u8], String)> {
    let framing = |e: uptree_delta::Error| Error::Verify { object: format!("static delta {name}"), what: e.to_string() };
    match format::unwrap_signed(file).map_err(framing)? {
        Some((inner, sigs)) => {
            let msg = verifier.check(&format!("static delta {name}"), inner, Some(sigs))?;
            Ok((inner, msg))
        }
        None => Err(Error::DeltaUnsigned { name: name.to_string() }),
    }
}
