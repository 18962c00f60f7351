//! Pull errors, by what went wrong, with the URL or object they concern.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] ostree_repo::Error),
    #[error("{url}: not found (HTTP 404)")]
    NotFound { url: String },
    #[error("{url}: range from byte {offset} not satisfiable (HTTP 416)")]
    RangeNotSatisfiable { url: String, offset: u64 },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {what}")]
    Transport { url: String, what: String },
    #[error("{url}: no data for {secs} s, connection stalled")]
    Stalled { url: String, secs: u64 },
    #[error("{url}: TLS: {what}")]
    Tls { url: String, what: String },
    #[error("object {object}: {what}")]
    Verify { object: String, what: String },
    #[error("{0}")]
    Signature(String),
    #[error("{0}")]
    Config(String),
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

impl Error {
    pub fn context(self, c: impl Into<String>) -> Error {
        Error::Context { context: c.into(), source: Box::new(self) }
    }

    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// Worth retrying: the network may come back; the data was not wrong.
    pub fn is_transient(&self) -> bool {
        match self.root() {
            Error::Transport { .. } | Error::Stalled { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
