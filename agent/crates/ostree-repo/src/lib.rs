//! OSTree-compatible repositories, byte for byte.
//!
//! Pure format code first — [`gvariant`] (normal-form GVariant codec),
//! [`object`] (checksums, dirmeta, dirtree, commit, content headers),
//! [`keyfile`] (GLib INI text), [`datetime`] — then the store: [`repo`]
//! (layout, config, refs, locks, transactions: where file I/O enters),
//! [`commit`], [`checkout`], [`diff`], [`fsck`], [`prune`], [`tree`], [`remote`]
//! (remote configuration), [`cookies`] (a remote's cookie jar) and [`summary`].
//!
//! Format reference: ostree-format.md; the judge is the real `ostree`.

pub(crate) mod archive;
pub mod checkout;
pub mod commit;
pub mod cookies;
pub mod datetime;
pub mod diff;
pub mod error;
#[cfg(feature = "tar")]
pub mod export;
pub mod fsck;
pub mod fsutil;
pub mod gvariant;
pub mod gvariant_text;
pub mod keyfile;
pub mod object;
pub mod prune;
pub mod remote;
pub mod repo;
pub mod summary;
pub mod tree;

pub use error::{Error, Result};
pub use object::{Checksum, ObjectType};
pub use repo::{test_error_requested, RefName, Repo, RepoMode};
