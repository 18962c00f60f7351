//! Building a delta on the build server (feature `generate`).
//!
//! Objects the source commit already has are left out; a file whose path
//! exists in the source with other content becomes a bsdiff against it
//! (`r`,`o`,`B`,`c`), or a copy when only its metadata changed
//! (`r`,`o`,`w`,`c`); other new objects are spliced in whole (`S`). Parts
//! are cut at `max_chunk_size` bytes of payload and xz-compressed (stored
//! raw when that is smaller).
//!
//! Big files ([`FallbackRule`]): ostree leaves every file of 4 MB or more
//! as a fallback (a plain object fetch, zlib-compressed); by default uptree
//! gives such a file a part of its own and keeps it there when xz makes
//! that part smaller than the object a plain pull fetches, which it does
//! for binaries (a 4.5 MB libcrypto: 1.33 MB in a part, 1.76 MB as a
//! `.filez`).
//!
//! Memory stays bounded by the xz encoder (a 4 MiB dictionary: ~50 MB)
//! and bsdiff (bounded by `max_bsdiff_size`): a part's blob is gathered in
//! a temp file and streamed through the encoder into the part file, and
//! spliced files are streamed from the repository.
//!
//! Parts go into `deltas/…` (or beside `filename`) one by one; the
//! superblock goes last, so an interrupted run never leaves a delta that
//! is listed.

use std::path::PathBuf;

use ostree_repo::object::Checksum;
use ostree_repo::Repo;

use crate::error::Result;
use crate::format::DeltaName;

const MB: u64 = 1000 * 1000;

/// Which big files become fallbacks (fetched as plain objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackRule {
    /// ostree's rule (`--min-fallback-size`): every regular file of at
    /// least this many bytes; 0: none.
    AtLeast(u64),
    /// uptree's default: a regular file of at least this many bytes gets a
    /// part of its own, kept when that part is smaller than the object a
    /// plain pull would fetch; otherwise, and always when the file is
    /// larger than a part may be (`max_chunk_size`, which bounds the
    /// memory a device applies a part with), it is a fallback.
    WhenSmaller(u64),
}

/// Options of `static-delta generate`, in bytes.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// `None`: a delta from nothing (`--empty`).
    pub from: Option<Checksum>,
    pub to: Checksum,
    pub inline: bool,
    pub fallback: FallbackRule,
    pub max_bsdiff_size: u64,
    pub max_chunk_size: u64,
    pub disable_bsdiff: bool,
    /// Generation time recorded in the superblock (seconds since the epoch).
    pub timestamp: u64,
    /// ostree's `--filename`: the superblock goes to this file and the
    /// parts beside it (`0`, `1`, …), not into the repository.
    pub filename: Option<PathBuf>,
    /// Write the superblock's part and fallback sizes big-endian (ostree's
    /// `--swap-endianness` on a little-endian host), as the
    /// `ostree.endianness` key then says.
    pub big_endian: bool,
}

impl GenerateOptions {
    /// ostree's defaults (bsdiff up to 128 MB, 32 MB parts), with big files
    /// from 4 MB left as fallbacks only when a part does not carry them in
    /// fewer bytes.
    pub fn new(from: Option<Checksum>, to: Checksum, timestamp: u64) -> GenerateOptions {
        GenerateOptions {
            from,
            to,
            inline: false,
            fallback: FallbackRule::WhenSmaller(4 * MB),
            max_bsdiff_size: 128 * MB,
            max_chunk_size: 32 * MB,
            disable_bsdiff: false,
            timestamp,
            filename: None,
            big_endian: cfg!(target_endian = "big"),
        }
    }
}

/// What a generation produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateStats {
    pub parts: usize,
    pub objects: usize,
    pub bsdiffs: usize,
    pub copies: usize,
    pub fallbacks: usize,
    pub bytes: u64,
}

/// Whether this build can generate deltas (the cargo feature `generate`).
pub const ENABLED: bool = cfg!(feature = "generate");

/// The error of a build without the feature.
pub fn disabled() -> crate::Error {
    crate::Error::FeatureDisabled { feature: "generate", what: "static-delta generate" }
}

/// Generate the delta `opts.from` → `opts.to` into the repository (or
/// beside `opts.filename`). Without the cargo feature `generate` (a device
/// build: no bsdiff, no xz encoder) this is [`disabled`].
pub fn generate(repo: &Repo, opts: &GenerateOptions) -> Result<(DeltaName, GenerateStats)> {
    #[cfg(feature = "generate")]
    return crate::build::generate(repo, opts);
    #[cfg(not(feature = "generate"))]
    {
        let _ = (repo, opts);
        Err(disabled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device build's answer names the feature to build with; run
    /// with `--no-default-features` this also checks `generate` gives it.
    #[test]
    fn a_build_without_the_feature_names_it() {
        let msg = disabled().to_string();
        assert!(msg.starts_with("static-delta generate: ") && msg.contains("cargo feature 'generate'") && msg.contains("--features generate"), "{msg}");
        assert_eq!(ENABLED, cfg!(feature = "generate"));
        if !ENABLED {
            let t = tempfile::tempdir().expect("tempdir");
            let repo = Repo::init(t.path(), ostree_repo::RepoMode::Archive).expect("init");
            let to = Checksum([0; 32]);
            let err = generate(&repo, &GenerateOptions::new(None, to, 0)).expect_err("no generation without the feature");
            assert!(matches!(err, crate::Error::FeatureDisabled { feature: "generate", .. }), "{err}");
        }
    }
}
