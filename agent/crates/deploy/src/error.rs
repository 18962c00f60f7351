//! Deployment errors.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] ostree_repo::Error),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// A file of a deployment that must be a regular file is not one
    /// (a symlink where ostree refuses links, a FIFO, a device).
    #[error("{}: the {what} is a {found}, not a regular file", path.display())]
    NotRegular { path: PathBuf, what: &'static str, found: &'static str },
    /// A file of a deployment larger than its kind allows.
    #[error("{}: the {what} is {size} bytes, more than the {max} allowed", path.display())]
    TooLarge { path: PathBuf, what: &'static str, size: u64, max: u64 },
    /// A simulated power cut (tests only, see `failpoint`).
    #[cfg(feature = "failpoints")]
    #[error("power cut (simulated) at: {0}")]
    PowerCut(String),
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

impl Error {
    pub fn context(self, c: impl Into<String>) -> Error {
        Error::Context { context: c.into(), source: Box::new(self) }
    }

    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) trait At<T> {
    fn at(self, p: &std::path::Path) -> Result<T>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, p: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(p, e))
    }
}

impl<T> At<T> for nix::Result<T> {
    fn at(self, p: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(p, io::Error::from(e)))
    }
}
