//! Delta errors, by what went wrong, naming the delta part and object.

use std::path::PathBuf;

use ostree_repo::object::Checksum;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] ostree_repo::Error),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("delta superblock: {what}")]
    Superblock { what: String },
    #[error("delta part {part}: checksum mismatch: expected {expected}, got {actual}")]
    PartChecksum { part: usize, expected: Checksum, actual: Checksum },
    #[error("delta part {part}: {what}")]
    Part { part: usize, what: String },
    #[error("delta part {part}: payload inflates to more than {limit} bytes (over {size})")]
    PartTooLarge { part: usize, size: u64, limit: u64 },
    #[error("delta part {part}: opcode {opcode:#04x} at offset {offset}: {what}")]
    Opcode { part: usize, offset: usize, opcode: u8, what: String },
    #[error("delta part {part}: object {object}: {what}")]
    Object { part: usize, object: String, what: String },
    #[error("delta {delta}: not found")]
    NotFound { delta: String },
    #[error("cannot apply delta offline: fallback object {object} is not in the repository")]
    MissingFallback { object: String },
    #[error("delta source commit {0} is not in the repository")]
    MissingSource(Checksum),
    #[error("{what}: this uptree was built without the cargo feature '{feature}' (a build-server job; build with --features {feature})")]
    FeatureDisabled { feature: &'static str, what: &'static str },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn superblock(what: impl Into<String>) -> Error {
        Error::Superblock { what: what.into() }
    }
}
