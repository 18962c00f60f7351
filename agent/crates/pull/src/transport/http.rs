//! HTTPS and HTTP archive repositories, with ureq and rustls.
//!
//! TLS trusts the remote's `tls-ca-path` if set, else the system bundle
//! (`SSL_CERT_FILE`, `/etc/ssl/certs/ca-certificates.crt`); client
//! certificates come from `tls-client-cert-path`/`tls-client-key-path`,
//! a proxy from `proxy`. An `https://` remote never follows a redirect to
//! plain HTTP. Connections are kept alive and shared by the workers.
//!
//! Small objects are read into memory; large ones are streamed to
//! `tmp/uptree-partial/<checksum>.filez.part` and resumed with HTTP Range
//! after an interruption, so no byte is fetched twice once it arrived.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ostree_repo::object::{Checksum, FileMeta, ObjectType, MAX_CONTENT_HEADER};
use ostree_repo::remote::{option_path, Remote};
use ostree_repo::repo::Transaction;
use ostree_repo::Repo;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use super::{filez_size_bound, store_filez_bytes, store_filez_file, verify_err, NetOptions, Stats, Transport, LIBOSTREE_VERSION};
use crate::error::{Error, Result};

/// Objects up to this size (compressed) are fetched into memory.
const IN_MEMORY_MAX: u64 = 128 * 1024;

#[derive(Debug)]
pub struct Http {
    agent: ureq::Agent,
    /// The remote's URL as configured (for messages).
    spec: String,
    /// Repository URLs for the summary, config, refs and detached metadata:
    /// one, or a mirrorlist's (each taking over when the one before fails).
    base: Vec<String>,
    /// The same for objects (`contenturl`, else `base`).
    content_base: Vec<String>,
    /// The summary a metalink named, already checked against its digest.
    summary: Option<Vec<u8>>,
    /// The remote's cookie jar (`remote add-cookie`) and `--http-header`s.
    cookies: Vec<ostree_repo::cookies::Cookie>,
    headers: Vec<(String, String)>,
    partial_dir: PathBuf,
    stall_secs: u64,
}

/// Where a configured URL leads: a repository, a mirrorlist or a metalink.
enum UrlSpec<'a> {
    Plain(&'a str),
    Mirrorlist(&'a str),
    Metalink(&'a str),
}

impl<'a> UrlSpec<'a> {
    fn parse(url: &'a str) -> UrlSpec<'a> {
        if let Some(u) = url.strip_prefix("mirrorlist=") {
            UrlSpec::Mirrorlist(u)
        } else if let Some(u) = url.strip_prefix("metalink=") {
            UrlSpec::Metalink(u)
        } else {
            UrlSpec::Plain(url)
        }
    }

    fn url(&self) -> &'a str {
        match self {
            UrlSpec::Plain(u) | UrlSpec::Mirrorlist(u) | UrlSpec::Metalink(u) => u,
        }
    }
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::Config(format!("{what} {}: {e}", path.display())))
}

fn certs_from_pem(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
        }
    }
    if out.is_empty() {
        return Err(Error::Config(format!("{}: no certificates found", path.display())));
    }
    Ok(out)
}

/// The system CA bundle, as OpenSSL-based tools find it.
fn system_roots() -> Result<Vec<Certificate<'static>>> {
    let candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"].into_iter().map(PathBuf::from))
        .collect();
    for p in &candidates {
        if let Ok(pem) = fs::read(p) {
            return certs_from_pem(&pem, p);
        }
    }
    Err(Error::Config("no system CA bundle found (install ca-certificates, or set the remote's tls-ca-path)".into()))
}

fn tls_config(remote: &Remote) -> Result<TlsConfig> {
    let roots = match option_path(remote, "tls-ca-path") {
        Some(p) => certs_from_pem(&read_pem(&p, "tls-ca-path")?, &p)?,
        None => system_roots()?,
    };
    let client = match (option_path(remote, "tls-client-cert-path"), option_path(remote, "tls-client-key-path")) {
        (Some(c), Some(k)) => {
            let chain = certs_from_pem(&read_pem(&c, "tls-client-cert-path")?, &c)?;
            let key =
                PrivateKey::from_pem(&read_pem(&k, "tls-client-key-path")?).map_err(|e| Error::Config(format!("tls-client-key-path {}: {e}", k.display())))?;
            Some(ClientCert::new_with_certs(&chain, key))
        }
        (None, None) => None,
        _ => return Err(Error::Config(format!("remote {}: tls-client-cert-path and tls-client-key-path go together", remote.name))),
    };
    if remote.get_bool("tls-permissive", false)? {
        return Err(Error::Config(format!("remote {}: tls-permissive is not supported; configure tls-ca-path instead", remote.name)));
    }
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client)
        .build())
}

impl Http {
    /// `url` is the remote's URL: a repository, `mirrorlist=URL` or
    /// `metalink=URL` (those are fetched here); `contenturl` may be a
    /// repository or a mirrorlist.
    pub fn new(repo: &Repo, remote: &Remote, url: &str, net: &NetOptions) -> Result<Http> {
        let https = UrlSpec::parse(url).url().starts_with("https://");
        let proxy = match remote.get("proxy").filter(|p| !p.is_empty()) {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| Error::Config(format!("remote {}: proxy {p:?}: {e}", remote.name)))?),
            None => None,
        };
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(https)
            .proxy(proxy)
            .timeout_connect(Some(net.connect_timeout))
            .timeout_per_read(Some(net.stall_timeout))
            .timeout_per_write(Some(net.stall_timeout))
            .max_idle_connections_per_host(net.connections.max(1))
            .max_idle_connections(net.connections.max(1) * 2)
            // ureq's defaults are 128 KiB each way per connection; requests
            // are a few hundred bytes and bodies are streamed, so small
            // buffers let many connections hide latency cheaply.
            .input_buffer_size(32 * 1024)
            .output_buffer_size(8 * 1024)
            .user_agent(match &net.user_agent_suffix {
                Some(x) => format!("libostree/{LIBOSTREE_VERSION} {x}"),
                None => format!("libostree/{LIBOSTREE_VERSION}"),
            });
        // Plain-HTTP remotes only get TLS settings if they can be built (a
        // redirect to https then still verifies); https remotes require them.
        match tls_config(remote) {
            Ok(t) => cfg = cfg.tls_config(t),
            Err(e) if https => return Err(e),
            Err(_) => {}
        }
        let agent = cfg.build().new_agent();
        let partial_dir = repo.path().join("tmp/uptree-partial");
        sweep_partials(repo, &partial_dir);
        let mut http = Http {
            agent,
            spec: url.to_string(),
            base: Vec::new(),
            content_base: Vec::new(),
            summary: None,
            cookies: ostree_repo::cookies::load(repo, &remote.name)?,
            headers: net.headers.clone(),
            partial_dir,
            stall_secs: net.stall_timeout.as_secs(),
        };
        let (base, summary) = http.resolve(UrlSpec::parse(url))?;
        http.content_base = match remote.get("contenturl") {
            Some(c) => http.resolve(UrlSpec::parse(c))?.0,
            None => base.clone(),
        };
        (http.base, http.summary) = (base, summary);
        Ok(http)
    }

    /// The repository URLs a configured URL stands for, and the summary
    /// when a metalink supplied it.
    fn resolve(&self, spec: UrlSpec<'_>) -> Result<(Vec<String>, Option<Vec<u8>>)> {
        match spec {
            UrlSpec::Plain(u) => Ok((vec![u.trim_end_matches('/').to_string()], None)),
            UrlSpec::Mirrorlist(u) => Ok((self.mirrorlist(u)?, None)),
            UrlSpec::Metalink(u) => {
                let (base, summary) = self.metalink(u)?;
                Ok((vec![base], Some(summary)))
            }
        }
    }

    fn fetch_list(&self, url: &str) -> Result<String> {
        let (resp, _) = self.get(url, 0)?.ok_or_else(|| Error::NotFound { url: url.to_string() })?;
        let bytes = self.read_limited(url, resp, crate::metalink::MAX_LIST_SIZE, None)?;
        String::from_utf8(bytes).map_err(|_| Error::Verify { object: url.to_string(), what: "not UTF-8 text".into() })
    }

    /// ostree's rule: mirrors before the first one that serves `config`
    /// are dropped; that one and all after it are kept, in order.
    fn mirrorlist(&self, url: &str) -> Result<Vec<String>> {
        let all = crate::metalink::parse_mirrorlist(&self.fetch_list(url).map_err(|e| e.context(format!("While fetching mirrorlist '{url}'")))?);
        for (i, m) in all.iter().enumerate() {
            match self.get(&format!("{m}/config"), 0) {
                Ok(Some(_)) => return Ok(all[i..].to_vec()),
                Ok(None) => log::debug!("Failed to fetch config from mirror '{m}': not found"),
                Err(e) => log::debug!("Failed to fetch config from mirror '{m}': {e}"),
            }
        }
        Err(Error::Config(format!("No valid mirrors were found in mirrorlist '{url}'")))
    }

    /// The repository a metalink points to (the directory of the first
    /// summary URL whose bytes match the metalink), and those bytes.
    fn metalink(&self, url: &str) -> Result<(String, Vec<u8>)> {
        let bad = |what: String| Error::Verify { object: format!("metalink {url}"), what };
        let ml = crate::metalink::Metalink::parse(&self.fetch_list(url)?, "summary").map_err(bad)?;
        let mut last = String::new();
        for u in &ml.urls {
            let got = match self.get(u, 0) {
                Ok(Some((resp, _))) => self.read_limited(u, resp, ml.size, None).map_err(|e| e.to_string()),
                Ok(None) => Err(format!("{u}: not found (HTTP 404)")),
                Err(e) => Err(e.to_string()),
            };
            match got.and_then(|b| ml.check(&b).map(|()| b)) {
                Ok(b) => return Ok((u.rsplit_once('/').map_or(u.as_str(), |(d, _)| d).to_string(), b)),
                Err(e) => last = e,
            }
        }
        Err(bad(format!("Exhausted {} metalink targets, last error: {last}", ml.urls.len())))
    }

    /// GET `rel` from the first of `bases` that has it, from byte `offset`;
    /// a mirror that fails or lacks the file hands over to the next one.
    /// Returns the response, where it starts, and the URL that answered.
    fn get_from(&self, bases: &[String], rel: &str, offset: u64) -> Result<Option<(ureq::http::Response<ureq::Body>, u64, String)>> {
        let mut failed = None;
        for b in bases {
            let url = format!("{b}/{rel}");
            match self.get(&url, offset) {
                Ok(Some((resp, start))) => return Ok(Some((resp, start, url))),
                Ok(None) => {}
                Err(e) if bases.len() > 1 && !matches!(e, Error::RangeNotSatisfiable { .. }) => {
                    log::debug!("mirror {b}: {e}; trying the next one");
                    failed = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        failed.map_or(Ok(None), Err)
    }

    fn map_err(&self, url: &str, e: ureq::Error) -> Error {
        match e {
            ureq::Error::Timeout(ureq::Timeout::PerRead) => Error::Stalled { url: url.to_string(), secs: self.stall_secs },
            ureq::Error::Tls(t) => Error::Tls { url: url.to_string(), what: t.to_string() },
            ureq::Error::Rustls(t) => Error::Tls { url: url.to_string(), what: t.to_string() },
            ureq::Error::Io(io) if io.to_string().contains("certificate") => Error::Tls { url: url.to_string(), what: io.to_string() },
            other => Error::Transport { url: url.to_string(), what: other.to_string() },
        }
    }

    fn body_err(&self, url: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timeout") {
            return Error::Stalled { url: url.to_string(), secs: self.stall_secs };
        }
        // "Download incomplete": ostree's words, which scripts look for.
        Error::Transport { url: url.to_string(), what: format!("Download incomplete: connection lost while receiving: {e}") }
    }

    /// GET `url` from byte `offset`. `Ok(None)` on 404.
    fn get(&self, url: &str, offset: u64) -> Result<Option<(ureq::http::Response<ureq::Body>, u64)>> {
        let mut req = self.agent.get(url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Ok(uri) = url.parse::<ureq::http::Uri>() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let https = uri.scheme_str() == Some("https");
            if let Some(c) = ostree_repo::cookies::header(&self.cookies, https, uri.host().unwrap_or_default(), uri.path(), now) {
                req = req.header("Cookie", c);
            }
        }
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
        }
        let resp = req.call().map_err(|e| self.map_err(url, e))?;
        match resp.status().as_u16() {
            200 => Ok(Some((resp, 0))),
            206 => {
                // Content-Range: bytes START-END/TOTAL must start where we asked.
                let start = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                match start {
                    Some(s) if s == offset => Ok(Some((resp, s))),
                    _ => Err(Error::Transport { url: url.to_string(), what: "server answered a range request with a different range".into() }),
                }
            }
            404 | 410 => Ok(None),
            // Not transient: retrying the same range gets the same answer.
            416 if offset > 0 => Err(Error::RangeNotSatisfiable { url: url.to_string(), offset }),
            s => Err(Error::Status { url: url.to_string(), status: s }),
        }
    }

    /// Read a small body whole. A connection cut mid-body is continued
    /// with Range requests for as long as each one brings more bytes:
    /// metadata and repository files are bounded by `max`, so a server
    /// that sends a little at a time still cannot make this go on for ever.
    fn read_limited(&self, url: &str, resp: ureq::http::Response<ureq::Body>, max: u64, stats: Option<&Stats>) -> Result<Vec<u8>> {
        const MAX_ROUNDS: u32 = 64;
        let mut buf = Vec::new();
        let mut resp = resp;
        for round in 0.. {
            let before = buf.len();
            match self.read_body(url, resp, max, stats, &mut buf) {
                Ok(()) => return Ok(buf),
                Err(e) if e.is_transient() && buf.len() > before && round < MAX_ROUNDS => {
                    log::debug!("{url}: {e}; continuing from byte {}", buf.len());
                    resp = match self.get(url, buf.len() as u64)? {
                        Some((r, start)) if start == buf.len() as u64 => r,
                        Some((r, _)) => {
                            // The server ignored the range: start over.
                            buf.clear();
                            r
                        }
                        None => return Err(Error::NotFound { url: url.to_string() }),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns by round {MAX_ROUNDS}")
    }

    /// Append one response's body to `buf`, at most `max` bytes in all.
    fn read_body(&self, url: &str, resp: ureq::http::Response<ureq::Body>, max: u64, stats: Option<&Stats>, buf: &mut Vec<u8>) -> Result<()> {
        let declared = resp.body().content_length();
        let start = buf.len() as u64;
        if declared.is_some_and(|n| n.saturating_add(start) > max) {
            return Err(Error::Verify {
                object: url.to_string(),
                what: format!("exceeded maximum size of {max} bytes (the server announces {})", declared.unwrap_or(0).saturating_add(start)),
            });
        }
        buf.reserve(declared.unwrap_or(4096).min(max) as usize);
        let mut r = resp.into_body().into_reader();
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            let n = r.read(&mut chunk).map_err(|e| self.body_err(url, e))?;
            if n == 0 {
                break;
            }
            if let Some(s) = stats {
                s.add_bytes(n as u64);
            }
            if buf.len() as u64 + n as u64 > max {
                return Err(Error::Verify { object: url.to_string(), what: format!("exceeded maximum size of {max} bytes") });
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let got = buf.len() as u64 - start;
        if declared.is_some_and(|n| n != got) {
            return Err(Error::Transport { url: url.to_string(), what: format!("Download incomplete: truncated, {got} of {} bytes", declared.unwrap_or(0)) });
        }
        Ok(())
    }

    /// The mirrors an object comes from and its path below them.
    fn object_rel(&self, csum: &Checksum, ext: &str) -> (&[String], String) {
        let hex = csum.to_hex();
        // As ostree: every object from `contenturl` but the detached
        // metadata, which comes with the summary from `url`.
        let bases = if ext == "commitmeta" { &self.base } else { &self.content_base };
        (bases, format!("objects/{}/{}.{ext}", &hex[..2], &hex[2..]))
    }

    /// Stream a response into the object's `.part` file from byte `start`.
    #[allow(clippy::too_many_arguments)]
    fn download_to_part(
        &self,
        url: &str,
        csum: &Checksum,
        part: &Path,
        resp: ureq::http::Response<ureq::Body>,
        start: u64,
        txn: &Transaction<'_>,
        stats: &Stats,
    ) -> Result<()> {
        let have = start;
        if have > 0 {
            stats.bytes_resumed.fetch_add(have, std::sync::atomic::Ordering::Relaxed);
            log::debug!("resuming {url} at byte {have}");
        }
        let mut f = OpenOptions::new().create(true).write(true).truncate(false).open(part).map_err(|e| ostree_repo::Error::io(part, e))?;
        f.set_len(start).map_err(|e| ostree_repo::Error::io(part, e))?;
        f.seek(SeekFrom::Start(start)).map_err(|e| ostree_repo::Error::io(part, e))?;
        let declared = resp.body().content_length();
        let mut r = resp.into_body().into_reader();
        let mut written = start;
        let mut limit: Option<u64> = None;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut since_check = 0u64;
        loop {
            let n = match r.read(&mut chunk) {
                Ok(n) => n,
                Err(e) => {
                    let _ = f.flush();
                    return Err(self.body_err(url, e));
                }
            };
            if n == 0 {
                break;
            }
            f.write_all(&chunk[..n]).map_err(|e| ostree_repo::Error::io(part, e))?;
            stats.add_bytes(n as u64);
            written += n as u64;
            since_check += n as u64;
            if limit.is_none() {
                limit = header_limit(part, csum)?;
            }
            if limit.is_some_and(|l| written > l) {
                let _ = fs::remove_file(part);
                return Err(verify_err(csum, "larger than its declared size allows (compressed data without bound)".into()));
            }
            if since_check >= 16 * 1024 * 1024 {
                txn.ensure_space(since_check)?;
                since_check = 0;
            }
        }
        if declared.is_some_and(|d| start.checked_add(d) != Some(written)) {
            return Err(Error::Transport { url: url.to_string(), what: format!("truncated at byte {written}") });
        }
        f.sync_data().map_err(|e| ostree_repo::Error::io(part, e))?;
        Ok(())
    }
}

/// Once the `.filez` header is in the part file, the most its compressed
/// form may take. `None` while the header is still incomplete.
fn header_limit(part: &Path, csum: &Checksum) -> Result<Option<u64>> {
    let mut f = File::open(part).map_err(|e| ostree_repo::Error::io(part, e))?;
    let mut pre = [0u8; 8];
    if f.read_exact(&mut pre).is_err() {
        return Ok(None);
    }
    let hlen = u32::from_be_bytes([pre[0], pre[1], pre[2], pre[3]]) as usize;
    if hlen > MAX_CONTENT_HEADER {
        return Err(verify_err(csum, format!("content header of {hlen} bytes is too large")));
    }
    let mut buf = pre.to_vec();
    buf.resize(8 + hlen, 0);
    if f.read_exact(&mut buf[8..]).is_err() {
        return Ok(None);
    }
    let (_, size, off): (FileMeta, u64, usize) = FileMeta::parse_filez_header(&buf).map_err(|e| verify_err(csum, e.to_string()))?;
    filez_size_bound(off as u64, size).map(Some).ok_or_else(|| verify_err(csum, format!("declared size of {size} bytes is impossible")))
}

impl Transport for Http {
    fn describe(&self) -> String {
        self.spec.clone()
    }

    fn get_file_resumable(&self, rel: &str, size: u64, stats: &Stats) -> Result<Option<Vec<u8>>> {
        // Named by the path's hash: delta paths have slashes and are long.
        let part = self.partial_dir.join(format!("delta-{}.part", Checksum::of(rel.as_bytes())));
        let io = |e: std::io::Error| Error::from(ostree_repo::Error::io(&part, e));
        let mut have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if have > size {
            let _ = fs::remove_file(&part);
            have = 0;
        }
        if have < size || size == 0 {
            let Some((resp, start, url)) = self.get_from(&self.base, rel, have)? else { return Ok(None) };
            if start > 0 {
                stats.bytes_resumed.fetch_add(start, std::sync::atomic::Ordering::Relaxed);
                log::debug!("resuming {url} at byte {start}");
            }
            fs::create_dir_all(&self.partial_dir).map_err(|e| ostree_repo::Error::io(&self.partial_dir, e))?;
            let mut f = OpenOptions::new().create(true).write(true).truncate(false).open(&part).map_err(io)?;
            f.set_len(start).map_err(io)?;
            f.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut r = resp.into_body().into_reader();
            let mut written = start;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match r.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) => {
                        // What arrived stays for the next attempt.
                        let _ = f.sync_data();
                        return Err(self.body_err(&url, e));
                    }
                };
                if n == 0 {
                    break;
                }
                written += n as u64;
                if written > size {
                    let _ = fs::remove_file(&part);
                    return Err(Error::Verify { object: url, what: format!("larger than the {size} bytes the superblock says") });
                }
                f.write_all(&chunk[..n]).map_err(io)?;
                stats.add_bytes(n as u64);
            }
            if written != size {
                let _ = fs::remove_file(&part);
                return Err(Error::Transport { url, what: format!("truncated: {written} of {size} bytes") });
            }
        }
        let bytes = fs::read(&part).map_err(io)?;
        // The caller verifies the bytes; a bad part is fetched afresh next time.
        let _ = fs::remove_file(&part);
        Ok(Some(bytes))
    }

    fn get_file(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        if let (Some(s), "summary") = (&self.summary, rel) {
            return Ok(Some(s.clone()));
        }
        match self.get_from(&self.base, rel, 0)? {
            Some((resp, _, url)) => Ok(Some(self.read_limited(&url, resp, max, None)?)),
            None => Ok(None),
        }
    }

    fn get_metadata(&self, csum: &Checksum, ty: ObjectType, max: u64) -> Result<Option<Vec<u8>>> {
        let (bases, rel) = self.object_rel(csum, ty.extension());
        match self.get_from(bases, &rel, 0)? {
            Some((resp, _, url)) => Ok(Some(self.read_limited(&url, resp, max, None)?)),
            None => Ok(None),
        }
    }

    fn fetch_content(&self, txn: &Transaction<'_>, csum: &Checksum, stats: &Stats) -> Result<u64> {
        let (_, rel) = self.object_rel(csum, "filez");
        let url = format!("{}/{rel}", self.content_base.first().map_or("", String::as_str));
        let part = self.partial_dir.join(format!("{csum}.filez.part"));
        let have = partial_len(&part)?;
        if have > 0 {
            match self.fetch_from(txn, csum, &rel, &part, have, stats) {
                // A cut connection keeps the partial for the next attempt.
                Err(e) if !discards_partial(&e) => return Err(e),
                Err(e) => {
                    // The partial is not a prefix of this object (a kill
                    // mid-write, a different object, garbage): start over,
                    // once. Only errors about the data get here, so a
                    // second failure is the server's and is reported.
                    log::warn!("{url}: discarding the partial download of {have} bytes: {e}");
                    remove_partial(&part)?;
                }
                r => return r,
            }
        }
        self.fetch_from(txn, csum, &rel, &part, 0, stats)
    }
}

impl Http {
    /// Fetch the object from byte `start` of its `.part` file (0: all of it)
    /// and store it.
    fn fetch_from(&self, txn: &Transaction<'_>, csum: &Checksum, rel: &str, part: &Path, start: u64, stats: &Stats) -> Result<u64> {
        let (resp, start, url) = match self.get_from(&self.content_base, rel, start) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(Error::NotFound { url: format!("{}/{rel}", self.content_base.first().map_or("", String::as_str)) }),
            Err(e) if matches!(e, Error::RangeNotSatisfiable { .. }) => {
                // Nothing after `start`: the partial may already be the whole
                // object (killed after its last byte, before it was stored).
                let r = store_filez_file(txn, csum, part, true);
                let _ = fs::remove_file(part);
                return r.map_err(|v| if discards_partial(&v) { e } else { v });
            }
            Err(e) => return Err(e),
        };
        let len = resp.body().content_length();
        if start == 0 && len.is_some_and(|n| n <= IN_MEMORY_MAX) {
            let _ = fs::remove_file(part);
            let mut bytes = Vec::new();
            if let Err(e) = self.read_body(&url, resp, IN_MEMORY_MAX, Some(stats), &mut bytes) {
                // What arrived is kept, so the next attempt (or pull) resumes.
                if e.is_transient() && !bytes.is_empty() && fs::create_dir_all(&self.partial_dir).is_ok() {
                    let _ = fs::write(part, &bytes);
                }
                return Err(e);
            }
            return store_filez_bytes(txn, csum, &bytes);
        }
        // Large or of unknown length: keep what arrives for a resume.
        fs::create_dir_all(&self.partial_dir).map_err(|e| ostree_repo::Error::io(&self.partial_dir, e))?;
        self.download_to_part(&url, csum, part, resp, start, txn, stats)?;
        let r = store_filez_file(txn, csum, part, true);
        // Stored (taken or copied) or corrupt: either way the next attempt starts afresh.
        let _ = fs::remove_file(part);
        r
    }
}

/// Errors that say a resumed partial was not a prefix of the object.
fn discards_partial(e: &Error) -> bool {
    matches!(e.root(), Error::Verify { .. } | Error::RangeNotSatisfiable { .. })
}

/// Bytes already in `part`. Anything there that is not a regular file
/// (a directory, a symlink, a FIFO) is removed: it cannot be ours.
fn partial_len(part: &Path) -> Result<u64> {
    match fs::symlink_metadata(part) {
        Ok(m) if m.is_file() => Ok(m.len()),
        Ok(_) => remove_partial(part).map(|()| 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(ostree_repo::Error::io(part, e).into()),
    }
}

/// Drop what in `tmp/uptree-partial` can never be resumed: partials of
/// objects the repository already has (killed after the store, before the
/// removal), names that are not ours, anything that is not a regular file,
/// and the directory itself if it is not one. Best effort: whatever stays
/// is handled again when its object is fetched.
fn sweep_partials(repo: &Repo, dir: &Path) {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let _ = remove_partial(dir);
            return;
        }
        Err(_) => return,
    }
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let csum =
            name.to_str().and_then(|n| n.strip_suffix(".filez.part")).and_then(|h| Checksum::is_valid_hex(h).then(|| h.parse::<Checksum>().ok()).flatten());
        let keep = csum.is_some_and(|c| !repo.has_object(&c, ObjectType::File)) && e.file_type().is_ok_and(|t| t.is_file());
        if !keep {
            if let Err(err) = remove_partial(&e.path()) {
                log::warn!("{err}");
            }
        }
    }
}

fn remove_partial(part: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(part) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(part),
        Ok(_) => fs::remove_file(part),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| ostree_repo::Error::io(part, e).into())
}
