//! One timestamped line per step on the console:
//! `[   0.912] uptree-init: mounted /sysroot (ext4 /dev/vda, rw)`.
//!
//! The stamp is `CLOCK_MONOTONIC`, which at boot is the kernel's own
//! time base, so our lines sort in with the kernel's `[    0.912345]`.

use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

/// Where lines go (stderr, unbuffered: one write per line), and when we started.
#[derive(Debug, Clone)]
pub struct Console {
    start: Duration,
    pub debug: bool,
}

/// `1.234`: seconds with milliseconds, without floating point (whose
/// formatting code costs ~18 KiB in a static binary).
pub fn secs(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// `10`, `2.5`, `0.25`: a setting in seconds, trailing zeros dropped.
pub fn secs_short(d: Duration) -> String {
    let s = secs(d);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `[   0.123] uptree-init: MSG`
pub fn format_line(now: Duration, msg: &str) -> String {
    format!("[{:>4}.{:03}] uptree-init: {msg}\n", now.as_secs(), now.subsec_millis())
}

impl Console {
    pub fn new(now: Duration) -> Console {
        Console { start: now, debug: false }
    }

    /// The monotonic time at which the init started.
    pub fn start(&self) -> Duration {
        self.start
    }

    pub fn now(&self) -> Duration {
        uptree_sys::pid1::monotonic()
    }

    /// Time since the init started.
    pub fn elapsed(&self) -> Duration {
        self.now().saturating_sub(self.start)
    }

    pub fn line(&self, msg: impl Display) {
        let text = format_line(self.now(), &msg.to_string());
        // Nothing sensible to do if the console is gone.
        let _ = std::io::stderr().write_all(text.as_bytes());
    }

    /// Only with `uptree.debug`.
    pub fn debug(&self, msg: impl Display) {
        if self.debug {
            self.line(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        assert_eq!(format_line(Duration::from_millis(123), "x"), "[   0.123] uptree-init: x\n");
        assert_eq!(format_line(Duration::new(12345, 6_000_000), "y"), "[12345.006] uptree-init: y\n");
        assert_eq!(secs(Duration::from_micros(412_900)), "0.412");
        assert_eq!(secs(Duration::from_secs(61)), "61.000");
        assert_eq!(secs_short(Duration::from_secs(10)), "10");
        assert_eq!(secs_short(Duration::from_millis(2500)), "2.5");
        assert_eq!(secs_short(Duration::from_millis(250)), "0.25");
        assert_eq!(secs_short(Duration::ZERO), "0");
    }
}
