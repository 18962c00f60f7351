//! Update errors: the refusals a caller (and `status --json`) tells apart,
//! and the lower layers' errors with their context.

use ostree_repo::Checksum;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] ostree_repo::Error),
    #[error(transparent)]
    Deploy(#[from] uptree_deploy::Error),
    #[error(transparent)]
    Pull(#[from] uptree_pull::Error),
    #[error("no deployment of {osname} to upgrade")]
    NoDeployment { osname: String },
    #[error("the deployment has no origin file: nothing to upgrade from")]
    NoOrigin,
    #[error("the deployment's origin has no refspec")]
    NoRefspec,
    #[error(
        "Upgrade target revision '{new}' with timestamp '{}' is chronologically older than current revision '{current}' with timestamp '{}'; use --allow-downgrade to permit",
        ostree_repo::datetime::format_iso(*new_timestamp),
        ostree_repo::datetime::format_iso(*current_timestamp)
    )]
    Downgrade { new: Checksum, new_timestamp: u64, current: Checksum, current_timestamp: u64 },
    #[error(
        "commit {commit} failed to boot on {} ({reason}); not deploying it automatically. Deploy it explicitly with 'admin deploy {commit}' to try again",
        ostree_repo::datetime::format_iso(*detected)
    )]
    FailedBefore { commit: Checksum, detected: u64, reason: String },
    #[error("Old and new refs are equal: {refspec}")]
    SameRefspec { refspec: String },
    #[error("origin unconfigured-state: {state}")]
    Unconfigured { state: String },
    #[error("the deployment's origin kept changing while pulling (last {refspec}); run the upgrade again")]
    OriginKeptChanging { refspec: String },
    #[error("the stick has no ref for {osname} in {} (usb-ref=stick takes the one ref named {osname} or {osname}/…)", refs.display())]
    NoStickRef { osname: String, refs: std::path::PathBuf },
    #[error("the stick has no {} (an `ostree create-usb` stick's ref for the origin remote's collection)", path.display())]
    NoStickMirrorRef { path: std::path::PathBuf },
    #[error("the stick has several refs for {osname} ({}); name one with usb-ref=REF", refs.join(", "))]
    AmbiguousStickRef { osname: String, refs: Vec<String> },
    #[error("{}: only {free} bytes free, the agent needs {needed}", path.display())]
    NoSpace { path: std::path::PathBuf, free: u64, needed: u64 },
    #[error("{}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

impl Error {
    pub fn context(self, c: impl Into<String>) -> Error {
        Error::Context { context: c.into(), source: Box::new(self) }
    }

    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// The innermost error, past the context layers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// The offered commit is older than the deployed one (a replayed
    /// summary, or a server behind a stick update): refused, not a fault.
    pub fn is_downgrade(&self) -> bool {
        match self.root() {
            Error::Downgrade { .. } => true,
            Error::Pull(p) => matches!(p.root(), uptree_pull::Error::Downgrade(_)),
            _ => false,
        }
    }

    /// A network or server hiccup worth retrying later (the agent backs off).
    pub fn is_transient(&self) -> bool {
        match self.root() {
            Error::Pull(p) => p.is_transient(),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
