//! OSTree static deltas (ostree-format.md §5), compatible with ostree's.
//!
//! [`format`] is pure: [`format::Superblock`], [`format::PartHeader`],
//! [`format::Payload`], delta names, varints and part decompression
//! (bounded, after the part's checksum is verified). [`bspatch`] applies
//! the bsdiff stream ostree embeds, never writing past its target.
//! [`manage`] lists, deletes and indexes the deltas of a repository.
//! [`apply`] runs parts into a repository transaction (where I/O enters);
//! [`generate`] builds deltas on the build server: its options always,
//! the work (bsdiff, the xz encoder) only with the feature `generate`.

pub mod apply;
pub mod bspatch;
#[cfg(feature = "generate")]
mod build;
pub mod error;
pub mod format;
pub mod generate;
pub mod manage;

pub use error::{Error, Result};
pub use format::{DeltaName, Superblock};
