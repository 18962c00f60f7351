//! Pull errors, by what went wrong, with the URL or object they concern.

use ostree_repo::object::Checksum;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Repo(#[from] ostree_repo::Error),
    #[error("{url}: not found (HTTP 404)")]
    NotFound { url: String },
    /// A branch `pull-local` was asked for that the source lacks
    /// (ostree's words; its pull-test.sh greps them).
    #[error("Refspec '{refspec}' not found")]
    RefspecNotFound { refspec: String },
    /// `pull-local SRC` with no refs takes every ref of SRC, and refuses
    /// a remote-tracking one (`origin:main`) as ostree does.
    #[error("Invalid ref name {name}")]
    InvalidRefName { name: String },
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
    /// The remote's policy requires a signature and there is none.
    #[error("Can't verify {object}: no ed25519 signatures found")]
    Unsigned { object: String },
    /// Signatures present, none valid from a trusted, non-revoked key.
    /// `detail` is ostree's wording of the same.
    #[error("Can't verify {object}: no valid ed25519 signature from a trusted key ({checked} signatures checked): {detail}")]
    BadSignature { object: String, checked: usize, detail: String },
    /// ostree's wording, so scripts that grep it keep working.
    #[error("Requested signature type is not implemented: {name:?}")]
    UnknownSignType { name: String },
    #[error("dummy signature type is only for ostree testing (set OSTREE_DUMMY_SIGN_ENABLED=1)")]
    DummyDisabled,
    #[error("Can't verify {object}: signature: dummy: no signatures")]
    DummyUnsigned { object: String },
    #[error("Can't verify {object}: signature: dummy: incorrect signatures found: {checked}")]
    DummyIncorrect { object: String, checked: usize },
    #[error("remote {remote}: verification-dummy-file: dummy keys cannot be loaded from a file: not implemented")]
    DummyKeyFile { remote: String },
    /// ostree's wording, so scripts that grep it keep working.
    #[error("Can't verify static delta {name}: no signatures in static-delta")]
    DeltaUnsigned { name: String },
    /// ostree's wording for `sign-verify=TYPE` without a key of that type.
    #[error("remote {remote}: No keys found for required signapi type {kind}")]
    NoKeysForType { remote: String, kind: &'static str },
    /// The detached metadata holding the signatures is not what ostree writes.
    /// Ends in ostree's wording for it, which scripts grep.
    #[error("Can't verify {object}: malformed signature metadata ({what}): No signatures found")]
    MalformedSignatures { object: String, what: &'static str },
    #[error("remote {remote}: sign-verify is enabled but no ed25519 public key is configured")]
    NoTrustedKeys { remote: String },
    #[error("{origin}: not a base64 ed25519 public key")]
    BadPublicKey { origin: String },
    #[error("invalid ed25519 secret key: {what}")]
    BadSecretKey { what: String },
    /// `open(PATH)` as ostree's `opendir(PATH)`: an empty `gpgkeypath=`
    /// entry still shows as `()`.
    #[error("reading keys: open({}): {source}", path.display())]
    KeyFile { path: std::path::PathBuf, source: std::io::Error },
    /// Built without the `gpg` feature and the remote asks for GPG.
    #[error("remote {remote} has {option} enabled, and this uptree was built without GPG support (cargo feature `gpg`): use ed25519 signatures (sign-verify), set {option}=false, or build with --features gpg")]
    GpgUnsupported { remote: String, option: &'static str },
    /// ostree's wording, so scripts that grep it keep working.
    #[error("Can't verify {object}: GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)")]
    GpgUnsigned { object: String },
    /// GPG signatures present, none valid from a trusted key; why, per signature.
    #[error("Can't verify {object}: GPG signatures found, but none are valid from a trusted key: {}", problems.join("; "))]
    GpgBadSignature { object: String, problems: Vec<String> },
    /// Running GnuPG for the secret keys of a GnuPG 2.1+ home.
    #[error("GPG home {}: {what}", homedir.display())]
    GpgTool { homedir: std::path::PathBuf, what: String },
    #[error("GPG keyring {origin}: {what}")]
    GpgKeyring { origin: String, what: String },
    /// Only with `OSTREE_REPO_TEST_ERROR=invalid-cache` (ostree's wording):
    /// otherwise such a cache is replaced by the server's summary.
    #[error("OSTREE_REPO_TEST_ERROR_INVALID_CACHE: the cached summary of remote {remote} does not match its signature")]
    InvalidSummaryCache { remote: String },
    #[error("remote {remote}: sign-verify-summary is set but the remote has no summary")]
    SummaryMissing { remote: String },
    #[error(transparent)]
    Downgrade(Box<Downgrade>),
    #[error("{0}")]
    Config(String),
    /// Stopped on request (SIGTERM) between objects; what was fetched is kept.
    #[error("pull interrupted on request; the objects fetched so far are kept for the next pull")]
    Cancelled,
    #[error("{context}: {source}")]
    Context { context: String, source: Box<Error> },
}

/// `--timestamp-check` (on by default for remotes that require
/// signatures): the new commit is older than the one the ref (or the
/// `--timestamp-check-from-rev` revision) names now. Worded as ostree's
/// `_ostree_compare_timestamps` (scripts grep "Upgrade.*is chronologically
/// older"), after the ref it concerns.
#[derive(Debug, thiserror::Error)]
#[error(
    "{ref_}: Upgrade target revision '{new}' with timestamp '{}' is chronologically older than current revision '{current}' with timestamp '{}'; use --allow-downgrade to permit",
    ostree_repo::datetime::format_iso(*new_timestamp),
    ostree_repo::datetime::format_iso(*current_timestamp)
)]
pub struct Downgrade {
    /// The remote whose policy refused it, if any.
    pub remote: Option<String>,
    /// The ref as shown to users (`origin:os/stable`), or the commit asked for.
    pub ref_: String,
    pub current: Checksum,
    pub current_timestamp: u64,
    pub new: Checksum,
    pub new_timestamp: u64,
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
