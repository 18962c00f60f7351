//! Where objects come from. One trait, one file per implementation:
//! [`http`] for `https://` and `http://` archive repositories, [`local`]
//! for `file://` and `pull-local` (a repository of any mode on a mounted
//! filesystem, e.g. a USB stick).
//!
//! Transports fetch; verification and storage of content go through the
//! helpers here so every transport checks objects the same way.

pub mod http;
pub mod local;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ostree_repo::object::{Checksum, ContentHasher, FileMeta, ObjectType};
use ostree_repo::remote::Remote;
use ostree_repo::repo::{read_filez_header, ExactInflate, RepoMode, Transaction};
use ostree_repo::Repo;

use crate::error::{Error, Result};

/// Counters shared by workers and the progress display.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes received from the transport (compressed, as on the wire).
    pub bytes: AtomicU64,
    pub metadata_fetched: AtomicU64,
    pub content_fetched: AtomicU64,
    /// Bytes of resumed downloads that did not need fetching again.
    pub bytes_resumed: AtomicU64,
    /// Uncompressed bytes of content objects stored (ostree's "content written").
    pub content_bytes_written: AtomicU64,
    /// Objects taken from `--localcache-repo` repositories instead.
    pub metadata_local: AtomicU64,
    pub content_local: AtomicU64,
}

impl Stats {
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// A source of repository files and objects.
pub trait Transport: Send + Sync {
    /// For messages: the URL or path.
    fn describe(&self) -> String;

    /// A small file of the repository (`summary`, `summary.sig`, `config`,
    /// `refs/heads/…`); `None` if it does not exist. At most `max` bytes.
    fn get_file(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>>;

    /// The bytes of a metadata object, unverified; `None` if absent.
    fn get_metadata(&self, csum: &Checksum, ty: ObjectType, max: u64) -> Result<Option<Vec<u8>>>;

    /// Fetch content object `csum`, verify it, and store it in `txn`.
    /// Returns the file's size (uncompressed; 0 for a symlink).
    fn fetch_content(&self, txn: &Transaction<'_>, csum: &Checksum, stats: &Stats) -> Result<u64>;

    /// True for sources whose objects are trusted without re-hashing
    /// (`pull-local` without `--untrusted`).
    fn trusted(&self) -> bool {
        false
    }

    /// The source repository's own `core.collection-id`, where it can be
    /// read (a repository on this machine).
    fn collection_id(&self) -> Option<String> {
        None
    }

    /// True for a repository on this machine: ostree reports its objects
    /// as imported rather than fetched.
    fn is_local(&self) -> bool {
        false
    }

    /// The file of a metadata object a trusted local source lets us
    /// hardlink instead of copying (as ostree's local pulls do).
    fn linkable_metadata(&self, _csum: &Checksum, _ty: ObjectType) -> Option<std::path::PathBuf> {
        None
    }

    /// A file of exactly `size` bytes (a static delta part) whose download
    /// survives an interruption: HTTP keeps what arrived and a later call
    /// continues with a Range request. The bytes are unverified; `None`
    /// if the file does not exist.
    fn get_file_resumable(&self, rel: &str, size: u64, stats: &Stats) -> Result<Option<Vec<u8>>> {
        let r = self.get_file(rel, size)?;
        if let Some(b) = &r {
            stats.add_bytes(b.len() as u64);
        }
        Ok(r)
    }
}

/// Network behaviour for HTTP transports.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Abort a transfer that receives nothing for this long.
    pub stall_timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    /// Connections kept alive per host (one per worker).
    pub connections: usize,
    /// Extra request headers (`pull --http-header NAME=VALUE`).
    pub headers: Vec<(String, String)>,
    /// Appended to the User-Agent (`pull --append-user-agent`).
    pub user_agent_suffix: Option<String>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            stall_timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(30),
            connections: 8,
            headers: Vec::new(),
            user_agent_suffix: None,
        }
    }
}

/// The libostree release whose formats and command line uptree follows:
/// `--version` reports it as `libostree: Version:`, and requests carry it
/// as ostree's `libostree/VERSION` User-Agent, which servers may key on.
pub const LIBOSTREE_VERSION: &str = "2022.7";

/// Open the transport for a remote's URL.
pub fn open(repo: &Repo, remote: &Remote, net: &NetOptions) -> Result<Box<dyn Transport>> {
    let url = remote.url()?.trim_end_matches('/').to_string();
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Box::new(local::Local::open(Path::new(path), false)?));
    }
    let inner = url.strip_prefix("mirrorlist=").or_else(|| url.strip_prefix("metalink=")).unwrap_or(&url);
    if inner.starts_with("https://") || inner.starts_with("http://") {
        return Ok(Box::new(http::Http::new(repo, remote, &url, net)?));
    }
    // ostree's words for it; uptree speaks https://, http:// and file://.
    Err(Error::Config(format!("remote {}: Invalid URI scheme in {url}", remote.name)))
}

/// Bound on the compressed size of a `.filez` whose data is `size` bytes:
/// deflate never expands by more than 5 bytes per 16 KiB block (+ framing).
/// `None` if the declared size is so large the bound overflows: no real
/// object can have it.
pub fn filez_size_bound(header_len: u64, size: u64) -> Option<u64> {
    header_len.checked_add(size)?.checked_add(size / 1024)?.checked_add(1024)
}

/// Parse a `.filez` stream, inflate it and check the content checksum.
/// Returns the file metadata and uncompressed size.
pub fn verify_filez<R: Read>(csum: &Checksum, mut r: R) -> Result<(FileMeta, u64)> {
    let (meta, size) = read_filez_header(&mut r).map_err(|e| verify_err(csum, e.to_string()))?;
    let mut h = ContentHasher::new(&meta);
    if !meta.is_symlink() {
        let mut inflate = ExactInflate::new(r, size, *csum);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = inflate.read(&mut buf).map_err(|e| verify_err(csum, e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    let actual = h.finish();
    if actual != *csum {
        return Err(mismatch_err(csum, actual));
    }
    Ok((meta, size))
}

/// Errors from storing fetched content: bad data becomes a verification
/// error naming the object; anything else (disk full, …) stays as it is.
pub(crate) fn store_err(csum: &Checksum, e: ostree_repo::Error) -> Error {
    match e.root() {
        ostree_repo::Error::ChecksumMismatch { actual, .. } => mismatch_err(csum, actual),
        ostree_repo::Error::Corrupt(what) => verify_err(csum, what.replace(&format!("content object {csum}: "), "")),
        _ => Error::from(e),
    }
}

/// In ostree's words, which scripts grep ("Corrupted.*CHECKSUM").
pub(crate) fn mismatch_err(csum: &Checksum, actual: impl std::fmt::Display) -> Error {
    verify_err(csum, format!("Corrupted file object; checksum expected='{csum}' actual='{actual}'"))
}

pub(crate) fn verify_err(csum: &Checksum, what: String) -> Error {
    Error::Verify { object: format!("{csum}.filez"), what }
}

/// Store a verified-on-the-way `.filez` stream into a repo of any mode.
/// Archive repos get the bytes as they are (after verification); bare
/// repos get the inflated content, hashed while it is written.
/// Returns the uncompressed size.
pub fn store_filez_file(txn: &Transaction<'_>, csum: &Checksum, path: &Path, take: bool) -> Result<u64> {
    let open = || File::open(path).map_err(|e| Error::from(ostree_repo::Error::io(path, e)));
    if txn.repo().mode() == RepoMode::Archive {
        let (meta, size) = verify_filez(csum, BufReader::with_capacity(128 * 1024, open()?))?;
        txn.check_content_mode(csum, &meta)?;
        txn.import_filez(csum, path, take)?;
        return Ok(size);
    }
    store_inflated(txn, csum, BufReader::with_capacity(128 * 1024, open()?))
}

/// Same as [`store_filez_file`] for a `.filez` held in memory.
pub fn store_filez_bytes(txn: &Transaction<'_>, csum: &Checksum, bytes: &[u8]) -> Result<u64> {
    if txn.repo().mode() == RepoMode::Archive {
        let (meta, size) = verify_filez(csum, bytes)?;
        txn.check_content_mode(csum, &meta)?;
        txn.write_filez_bytes(csum, bytes)?;
        return Ok(size);
    }
    store_inflated(txn, csum, bytes)
}

fn store_inflated<R: Read>(txn: &Transaction<'_>, csum: &Checksum, mut r: R) -> Result<u64> {
    let (meta, size) = read_filez_header(&mut r).map_err(|e| verify_err(csum, e.to_string()))?;
    if meta.is_symlink() {
        let actual = ostree_repo::object::content_checksum(&meta, &[]);
        if actual != *csum {
            return Err(mismatch_err(csum, actual));
        }
        txn.write_content_trusted(&meta, csum, &mut io::empty(), 0, false)?;
        return Ok(0);
    }
    let mut inflate = ExactInflate::new(r, size, *csum);
    txn.write_content_trusted(&meta, csum, &mut inflate, size, true).map_err(|e| store_err(csum, e))?;
    Ok(size)
}
