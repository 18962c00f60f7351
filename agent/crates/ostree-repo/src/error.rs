//! The repository crate's error type: one enum, structured fields, and a
//! context wrapper so a user reads which object or path failed.

use std::io;
use std::path::{Path, PathBuf};

use crate::gvariant;
use crate::object::{Checksum, ObjectType};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Variant(#[from] gvariant::Error),
    #[error("invalid checksum {0:?}: expected 64 lowercase hex digits")]
    InvalidChecksum(String),
    #[error("Invalid ref name {0:?}")]
    InvalidRef(String),
    /// ostree's words first (scripts grep them), then why uptree refuses.
    #[error("{complaint} (refusing hostile file name {0:?}: empty, '.', '..', or containing '/' or NUL)", complaint = ostree_filename_complaint(.0))]
    HostileName(String),
    /// A regular file with mode bits outside 0775 where only those are
    /// allowed (`pull --bareuseronly-files`), in ostree's words.
    #[error("Content object {checksum}: invalid mode 0{mode:04o} with bits 0{bits:04o}")]
    UnsafeMode { checksum: Checksum, mode: u32, bits: u32 },
    #[error("corrupt object: {0}")]
    Corrupt(String),
    #[error("object {checksum}.{kind}: checksum mismatch, contents hash to {actual}")]
    ChecksumMismatch { checksum: Checksum, kind: ObjectType, actual: Checksum },
    /// ostree's words: scripts grep "Couldn't find file object".
    #[error("{}", missing_object(.0, *.1))]
    MissingObject(Checksum, ObjectType),
    #[error("ref {0:?} not found")]
    RefNotFound(String),
    #[error("{}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("repository config {}: {what}", path.display())]
    Config { path: PathBuf, what: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// `--statoverride` entries no committed path matched.
    #[error("Unmatched statoverride paths: {}", paths.join(", "))]
    UnmatchedStatOverride { paths: Vec<String> },
    #[error("{}: another process holds the repository lock", path.display())]
    Locked { path: PathBuf },
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

/// ostree's message for a name with a slash, which scripts grep; the
/// refusal itself is uptree's, for every kind of hostile name.
fn missing_object(c: &Checksum, t: ObjectType) -> String {
    match t {
        ObjectType::File => format!("Couldn't find file object '{c}'"),
        _ => format!("No such metadata object {c}.{t}"),
    }
}

impl Error {
    /// Wrap with a description of what was being done.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context { context: context.into(), source: Box::new(self) }
    }

    /// The innermost error, skipping context wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// True if this is an I/O "not found" at the root.
    pub fn is_not_found(&self) -> bool {
        match self.root() {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Error::MissingObject(..) | Error::RefNotFound(_) => true,
            _ => false,
        }
    }
}

/// What ostree's `ot_util_filename_validate` says about a bad file name.
fn ostree_filename_complaint(name: &str) -> String {
    match name {
        "" => "Invalid empty filename".to_string(),
        "." => "Invalid self-referential filename '.'".to_string(),
        ".." => "Invalid path uplink filename '..'".to_string(),
        n if n.contains('/') => format!("Invalid / in filename {n}"),
        n => format!("Invalid NUL in filename {:?}", n),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to `io::Result`s.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, io::Error::from(e)))
    }
}

/// Attach context to any crate `Result`.
pub trait ResultExt<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(what()))
    }
}
