//! Progress of a pull: a one-line bar on a terminal, JSON lines for
//! machines, or nothing. The engine calls [`Progress::update`] from its
//! main loop; drawing is rate-limited here.

use std::io::Write;
use std::time::{Duration, Instant};

use ostree_repo::fsutil::format_size;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on stderr (callers pick this only when stderr is a terminal).
    Bar,
    /// One JSON object per line on stderr.
    Json,
    Quiet,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Objects known to be needed so far (grows while trees are scanned).
    pub requested: u64,
    /// Objects fetched or found present.
    pub done: u64,
    pub bytes: u64,
    pub metadata: u64,
    pub content: u64,
}

/// Called with the counters while objects are fetched (about five times
/// a second): the agent keeps its state file's progress current with it.
#[derive(Clone)]
pub struct Hook(pub std::sync::Arc<dyn Fn(Snapshot) + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("progress::Hook")
    }
}

#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    start: Instant,
    last: Option<Instant>,
    drew_bar: bool,
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        bytes as f64 / s
    } else {
        0.0
    }
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        Progress { mode, start: Instant::now(), last: None, drew_bar: false }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Show `s` unless the last update was less than a moment ago.
    pub fn update(&mut self, s: Snapshot) {
        let interval = if self.mode == Mode::Json { Duration::from_secs(1) } else { Duration::from_millis(200) };
        if self.last.is_some_and(|l| l.elapsed() < interval) {
            return;
        }
        self.last = Some(Instant::now());
        self.draw(s, false);
    }

    /// Final state, always shown.
    pub fn finish(&mut self, s: Snapshot) {
        self.draw(s, true);
    }

    fn draw(&mut self, s: Snapshot, last: bool) {
        let elapsed = self.start.elapsed();
        let bps = rate(s.bytes, elapsed);
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                let _ = writeln!(
                    err,
                    "{{\"event\":\"{}\",\"requested\":{},\"done\":{},\"metadata\":{},\"content\":{},\"bytes\":{},\"elapsed_ms\":{},\"bytes_per_sec\":{}}}",
                    if last { "done" } else { "progress" },
                    s.requested,
                    s.done,
                    s.metadata,
                    s.content,
                    s.bytes,
                    elapsed.as_millis(),
                    bps as u64
                );
            }
            Mode::Bar => {
                let frac = if s.requested > 0 { s.done as f64 / s.requested as f64 } else { 0.0 };
                let width = 24;
                let filled = ((frac * width as f64) as usize).min(width);
                let eta = if s.done > 0 && s.requested > s.done && elapsed.as_secs_f64() > 0.5 {
                    let per = elapsed.as_secs_f64() / s.done as f64;
                    let secs = (per * (s.requested - s.done) as f64) as u64;
                    format!(" ETA {}:{:02}", secs / 60, secs % 60)
                } else {
                    String::new()
                };
                let _ = write!(
                    err,
                    "\r[{}{}] {}/{} objects  {}  {}/s{}\x1b[K",
                    "=".repeat(filled),
                    " ".repeat(width - filled),
                    s.done,
                    s.requested,
                    format_size(s.bytes),
                    format_size(bps as u64),
                    eta
                );
                self.drew_bar = true;
                if last {
                    let _ = writeln!(err);
                }
            }
        }
        let _ = err.flush();
    }
}
