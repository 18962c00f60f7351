//! `static-delta generate [--from=REV|--empty] --to=REV [options]`.

use ostree_repo::Repo;
use uptree_delta::generate::{generate, FallbackRule, GenerateOptions};

use crate::cli::GenerateOpts;
use crate::Result;

/// Without the cargo feature `generate` (the device build) this fails with
/// a message naming it, from [`generate`].
pub fn run(repo: &Repo, o: &GenerateOpts) -> Result<i32> {
    if !uptree_delta::generate::ENABLED {
        return Err(uptree_delta::generate::disabled().into());
    }
    const MB: u64 = 1000 * 1000;
    let to_rev = o.to.as_deref().or(o.rev.as_deref()).ok_or("static-delta generate: --to=REV is required")?;
    let to = repo.resolve_rev(to_rev)?;
    let from = if o.empty {
        None
    } else if let Some(f) = &o.from {
        Some(repo.resolve_rev(f)?)
    } else {
        let c = repo.load_commit(&to)?;
        Some(c.parent.ok_or_else(|| format!("commit {to} has no parent: use --from=REV or --empty"))?)
    };
    let name = uptree_delta::format::DeltaName { from, to };
    if o.if_not_exists && repo.path().join(name.path()).join("superblock").exists() {
        crate::cmd::out(&format!("Delta {name} already exists.\n"))?;
        return Ok(0);
    }
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let mut g = GenerateOptions::new(from, to, now);
    g.inline = o.inline;
    g.disable_bsdiff = o.disable_bsdiff;
    match o.set_endianness.as_deref() {
        Some("l") => g.big_endian = false,
        Some("B") => g.big_endian = true,
        Some(other) => return Err(format!("Invalid endianness '{other}'").into()),
        None if o.swap_endianness => g.big_endian = !g.big_endian,
        None => {}
    }
    let mb = |v: u64| v.checked_mul(MB).ok_or("size in MB is too large");
    if let Some(v) = o.min_fallback_size {
        g.fallback = FallbackRule::AtLeast(mb(v)?);
    }
    if let Some(v) = o.max_bsdiff_size {
        g.max_bsdiff_size = mb(v)?;
    }
    if let Some(v) = o.max_chunk_size {
        g.max_chunk_size = mb(v)?;
    }
    eprintln!("Generating static delta:\n  From: {}\n  To:   {to}", from.map_or("empty".to_string(), |f| f.to_hex()));
    let secrets = crate::cmd::sign::keys_with_file(&o.sign, o.keys_file.as_deref())?;
    let kind = uptree_pull::sign::SignType::from_name(&o.sign_type)?;
    g.filename = o.filename.clone();
    let (name, st) = generate(repo, &g)?;
    let superblock = o.filename.clone().unwrap_or_else(|| repo.path().join(name.path()).join("superblock"));
    uptree_pull::delta::sign_superblock(&superblock, &name, kind, &secrets, repo.fsync_enabled())?;
    // ostree's statistics line that scripts grep (test-delta.sh).
    eprintln!("bsdiff={} objects", st.bsdiffs);
    log::info!(
        "delta {name}: {} parts, {} objects ({} bsdiff, {} copies), {} fallbacks, {} bytes",
        st.parts,
        st.objects,
        st.bsdiffs,
        st.copies,
        st.fallbacks,
        st.bytes
    );
    Ok(0)
}
