//! A small HTTP/1.1 test server on 127.0.0.1: an origin serving a
//! directory, or a reverse proxy in front of another server (nginx). Both
//! inject faults by rule and log every response: path, range, bytes sent,
//! and whether the body went out complete.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a response whose path ends with a rule's suffix.
#[derive(Debug, Clone)]
pub enum Fault {
    NotFound,
    Status(u16),
    /// Serve these bytes instead of the file.
    Replace(Vec<u8>),
    /// Announce the full length, send this many body bytes, close.
    CutAfter(usize),
    /// Send this many body bytes, then go silent for the duration.
    StallAfter(usize, Duration),
    /// Announce this Content-Length but send the real body.
    AnnounceLength(u64),
    /// Redirect to this URL.
    Redirect(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub suffix: String,
    pub fault: Fault,
    /// How many matching requests it applies to (then it is spent).
    pub times: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub path: String,
    pub range_start: u64,
    pub status: u16,
    pub body_sent: u64,
    pub body_len: u64,
    pub complete: bool,
}

#[derive(Debug, Clone)]
enum Backend {
    Dir(PathBuf),
    Proxy(SocketAddr),
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<LogEntry>>>,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    /// Body bytes written to clients so far, counted as each chunk goes out.
    served: Arc<AtomicU64>,
    /// Body bytes per second per connection (0: as fast as possible).
    pace: Arc<AtomicU64>,
}

impl TestServer {
    pub fn origin(root: PathBuf) -> TestServer {
        Self::start(Backend::Dir(root))
    }

    pub fn proxy(upstream: SocketAddr) -> TestServer {
        Self::start(Backend::Proxy(upstream))
    }

    fn start(backend: Backend) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let log: Arc<Mutex<Vec<LogEntry>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let served: Arc<AtomicU64> = Arc::default();
        let pace: Arc<AtomicU64> = Arc::default();
        let (r, l, sn, s) = (Arc::clone(&rules), Arc::clone(&log), Arc::clone(&seen), Arc::clone(&stop));
        let (sv, pc) = (Arc::clone(&served), Arc::clone(&pace));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (backend, r, l, sn) = (backend.clone(), Arc::clone(&r), Arc::clone(&l), Arc::clone(&sn));
                let counters = Counters { served: Arc::clone(&sv), pace: Arc::clone(&pc) };
                std::thread::spawn(move || serve_connection(conn, &backend, &r, &l, &sn, &counters));
            }
        });
        TestServer { addr, rules, log, seen, stop, served, pace }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_rule(&self, suffix: &str, fault: Fault, times: u32) {
        self.rules.lock().expect("rules").push(Rule { suffix: suffix.to_string(), fault, times });
    }

    pub fn clear_rules(&self) {
        self.rules.lock().expect("rules").clear();
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.log.lock().expect("log").clone()
    }

    pub fn clear_log(&self) {
        self.log.lock().expect("log").clear();
        self.seen.lock().expect("seen").clear();
    }

    /// Body bytes sent so far, over all connections (live, per 16 KiB chunk).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// Send bodies at most this fast per connection. Unpaced, the server
    /// writes megabytes into socket buffers ahead of a client, and
    /// [`TestServer::served`] says little about what the client has got;
    /// paced below what the client reads, the buffers stay near empty.
    pub fn set_pace(&self, bytes_per_sec: u64) {
        self.pace.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Paths requested so far, logged when the request arrives.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

struct Request {
    method: String,
    path: String,
    range_start: u64,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let mut path = parts.next()?.to_string();
    if let Some(rest) = path.strip_prefix("http://") {
        // Forward-proxy form: absolute URI.
        path = rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_else(|| "/".into());
    }
    let mut range_start = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range_start = v.trim().strip_prefix("bytes=").and_then(|x| x.split('-').next()).and_then(|x| x.parse().ok()).unwrap_or(0);
            }
        }
    }
    Some(Request { method, path, range_start })
}

fn take_rule(rules: &Mutex<Vec<Rule>>, path: &str) -> Option<Fault> {
    let mut rules = rules.lock().ok()?;
    let i = rules.iter().position(|r| r.times > 0 && path.ends_with(&r.suffix))?;
    rules[i].times -= 1;
    Some(rules[i].fault.clone())
}

/// Live counters shared by a server's connections.
struct Counters {
    served: Arc<AtomicU64>,
    pace: Arc<AtomicU64>,
}

fn serve_connection(conn: TcpStream, backend: &Backend, rules: &Mutex<Vec<Rule>>, log: &Mutex<Vec<LogEntry>>, seen: &Mutex<Vec<String>>, counters: &Counters) {
    let _ = conn.set_nodelay(true);
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader) {
        if req.method == "CONNECT" {
            // Acting as a forward proxy: accept the tunnel and serve the
            // requests that come through it ourselves.
            if let Ok(mut s) = seen.lock() {
                s.push(format!("CONNECT {}", req.path));
            }
            if writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
                return;
            }
            continue;
        }
        if let Ok(mut s) = seen.lock() {
            s.push(req.path.clone());
        }
        let fault = take_rule(rules, &req.path);
        let keep = respond(&mut writer, &req, backend, fault, log, counters);
        if !keep {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Fetch the full response (status, body) from the backend.
fn backend_get(backend: &Backend, req: &Request) -> (u16, Vec<u8>, u64) {
    match backend {
        Backend::Dir(root) => {
            let rel = req.path.trim_start_matches('/');
            if rel.split('/').any(|c| c == "..") {
                return (404, Vec::new(), 0);
            }
            match std::fs::read(root.join(rel)) {
                Ok(b) => {
                    let total = b.len() as u64;
                    if req.range_start > 0 {
                        if req.range_start >= total {
                            return (416, Vec::new(), total);
                        }
                        return (206, b[req.range_start as usize..].to_vec(), total);
                    }
                    (200, b, total)
                }
                Err(_) => (404, Vec::new(), 0),
            }
        }
        Backend::Proxy(up) => {
            let Ok(mut s) = TcpStream::connect(up) else { return (502, Vec::new(), 0) };
            let range = if req.range_start > 0 { format!("Range: bytes={}-\r\n", req.range_start) } else { String::new() };
            let _ = write!(s, "GET {} HTTP/1.1\r\nHost: {up}\r\n{range}Connection: close\r\n\r\n", req.path);
            let mut raw = Vec::new();
            let _ = s.read_to_end(&mut raw);
            let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
            let head = String::from_utf8_lossy(&raw[..split]).into_owned();
            let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(502);
            let body = raw.get(split + 4..).unwrap_or_default().to_vec();
            let total = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-range:"))
                .and_then(|l| l.rsplit('/').next())
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(body.len() as u64);
            (status, body, total)
        }
    }
}

/// Send one response; returns whether the connection stays usable.
fn respond(w: &mut TcpStream, req: &Request, backend: &Backend, fault: Option<Fault>, log: &Mutex<Vec<LogEntry>>, counters: &Counters) -> bool {
    let (mut status, mut body, total) = backend_get(backend, req);
    let mut announce = body.len() as u64;
    let mut cut: Option<usize> = None;
    let mut stall: Option<(usize, Duration)> = None;
    let mut location = None;
    match fault {
        None => {}
        Some(Fault::NotFound) => {
            status = 404;
            body.clear();
            announce = 0;
        }
        Some(Fault::Status(s)) => {
            status = s;
            body.clear();
            announce = 0;
        }
        Some(Fault::Replace(b)) => {
            status = 200;
            announce = b.len() as u64;
            body = b;
        }
        Some(Fault::CutAfter(n)) => cut = Some(n),
        Some(Fault::StallAfter(n, d)) => stall = Some((n, d)),
        Some(Fault::AnnounceLength(n)) => announce = n,
        Some(Fault::Redirect(to)) => {
            status = 301;
            body.clear();
            announce = 0;
            location = Some(to);
        }
    }
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {announce}\r\nConnection: keep-alive\r\n");
    if status == 206 {
        head.push_str(&format!("Content-Range: bytes {}-{}/{}\r\n", req.range_start, total.saturating_sub(1), total));
    }
    if let Some(l) = &location {
        head.push_str(&format!("Location: {l}\r\n"));
    }
    head.push_str("\r\n");
    if w.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let limit = cut.or(stall.map(|s| s.0)).unwrap_or(body.len()).min(body.len());
    let mut sent = 0usize;
    for chunk in body[..limit].chunks(16 * 1024) {
        if w.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len();
        counters.served.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        let pace = counters.pace.load(Ordering::Relaxed);
        if pace > 0 {
            std::thread::sleep(Duration::from_secs_f64(chunk.len() as f64 / pace as f64));
        }
    }
    let _ = w.flush();
    if let Some((_, d)) = stall {
        std::thread::sleep(d);
    }
    let complete = sent == body.len() && announce == body.len() as u64;
    if let Ok(mut l) = log.lock() {
        l.push(LogEntry { path: req.path.clone(), range_start: req.range_start, status, body_sent: sent as u64, body_len: body.len() as u64, complete });
    }
    complete && cut.is_none() && stall.is_none()
}
