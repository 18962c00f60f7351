//! When the next round runs: an interval with random jitter (a fleet must
//! not hit the server in lockstep), exponential backoff with a cap after
//! failures, reset by a success; and the maintenance window for reboots.
//! Pure: the caller passes the time and the random numbers.

use std::time::Duration;

/// Timing settings (from the `[agent]` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub interval: Duration,
    /// Up to this much is added at random to every delay.
    pub jitter: Duration,
    /// The first retry after a failure; doubled for each further failure.
    pub backoff_min: Duration,
    /// Retries never wait longer than this (plus jitter).
    pub backoff_max: Duration,
}

/// The delay before the next round, from the results so far.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub timing: Timing,
    failures: u32,
}

impl Scheduler {
    pub fn new(timing: Timing) -> Scheduler {
        Scheduler { timing, failures: 0 }
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Record a round's result and return the delay until the next one.
    /// `random` is any u64 (uniform): it picks the jitter.
    pub fn next(&mut self, ok: bool, random: u64) -> Duration {
        let base = if ok {
            self.failures = 0;
            self.timing.interval
        } else {
            self.failures = self.failures.saturating_add(1);
            self.backoff()
        };
        base.saturating_add(jitter(self.timing.jitter, random))
    }

    /// `backoff_min * 2^(failures-1)`, capped.
    fn backoff(&self) -> Duration {
        let shift = self.failures.saturating_sub(1).min(31);
        let factor = 1u32 << shift;
        self.timing.backoff_min.checked_mul(factor).unwrap_or(self.timing.backoff_max).min(self.timing.backoff_max)
    }
}

/// A delay in `[0, max]` picked by `random`.
pub fn jitter(max: Duration, random: u64) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    match ms.checked_add(1) {
        Some(span) => Duration::from_millis(random % span),
        None => Duration::from_millis(random),
    }
}

/// A daily window in local time, `HH:MM-HH:MM`; it may span midnight
/// (`23:00-02:00`). The start is inside, the end is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

const DAY_MIN: u32 = 24 * 60;

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Window {
    pub fn parse(s: &str) -> Option<Window> {
        let (a, b) = s.split_once('-')?;
        let (start, end) = (hhmm(a)?, hhmm(b)?);
        (start != end).then_some(Window { start, end })
    }

    /// Whether `minute` of the day (0..1440, local time) is inside.
    pub fn contains(&self, minute: u32) -> bool {
        let m = minute % DAY_MIN;
        if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }

    /// Seconds from `second_of_day` (local) until the window opens; 0 inside.
    pub fn until_open(&self, second_of_day: u32) -> u32 {
        if self.contains(second_of_day / 60) {
            return 0;
        }
        let start = self.start * 60;
        let now = second_of_day % (DAY_MIN * 60);
        (start + DAY_MIN * 60 - now) % (DAY_MIN * 60)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

/// Second of the local day at `epoch`, given the local offset from UTC.
pub fn local_second_of_day(epoch: u64, utc_offset: i64) -> u32 {
    let day = i64::from(DAY_MIN * 60);
    let local = i64::try_from(epoch).unwrap_or(i64::MAX).saturating_add(utc_offset);
    u32::try_from(local.rem_euclid(day)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            interval: Duration::from_secs(3600),
            jitter: Duration::from_secs(300),
            backoff_min: Duration::from_secs(30),
            backoff_max: Duration::from_secs(600),
        }
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_covers_them() {
        let mut s = Scheduler::new(timing());
        let (lo, hi) = (Duration::from_secs(3600), Duration::from_secs(3900));
        for r in [0, 1, 299_999, 300_000, 300_001, u64::MAX, 0x1234_5678_9abc_def0] {
            let d = s.next(true, r);
            assert!(d >= lo && d <= hi, "random {r}: {d:?}");
        }
        assert_eq!(s.next(true, 0), lo);
        assert_eq!(s.next(true, 300_000), hi);
        // No jitter configured: exactly the interval.
        let mut s = Scheduler::new(Timing { jitter: Duration::ZERO, ..timing() });
        assert_eq!(s.next(true, u64::MAX), lo);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_a_success_resets_it() {
        let mut s = Scheduler::new(Timing { jitter: Duration::ZERO, ..timing() });
        let secs: Vec<u64> = (0..8).map(|_| s.next(false, 7).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(s.failures(), 8);
        assert_eq!(s.next(true, 7).as_secs(), 3600);
        assert_eq!(s.failures(), 0);
        assert_eq!(s.next(false, 7).as_secs(), 30, "the sequence starts again after a success");
        // Thousands of failures: no overflow, still the cap.
        for _ in 0..5000 {
            s.next(false, 0);
        }
        assert_eq!(s.next(false, 0).as_secs(), 600);
        // Jitter is added to backoff too, within its bound.
        let mut s = Scheduler::new(timing());
        let d = s.next(false, u64::MAX);
        assert!(d >= Duration::from_secs(30) && d <= Duration::from_secs(330), "{d:?}");
    }

    #[test]
    fn window_across_midnight() {
        let w = Window::parse("23:30-02:15").expect("window");
        assert_eq!(w.to_string(), "23:30-02:15");
        for (hm, inside) in [("23:29", false), ("23:30", true), ("23:59", true), ("00:00", true), ("02:14", true), ("02:15", false), ("12:00", false)] {
            let m = hhmm(hm).expect("time");
            assert_eq!(w.contains(m), inside, "{hm}");
        }
        // Opens at 23:30: from 22:00 that is 90 min; inside it is 0; from 02:15 it is 21h15.
        assert_eq!(w.until_open(22 * 3600), 90 * 60);
        assert_eq!(w.until_open(3600), 0);
        assert_eq!(w.until_open(2 * 3600 + 15 * 60), (21 * 60 + 15) * 60);
        let day = Window::parse("02:00-04:00").expect("window");
        assert!(day.contains(120) && day.contains(239) && !day.contains(240) && !day.contains(119));
        assert_eq!(day.until_open(5 * 3600), 21 * 3600);
    }

    #[test]
    fn bad_windows_are_refused() {
        for bad in ["", "02:00", "2-4", "24:00-01:00", "01:60-02:00", "01:00-01:00", "a1:00-02:00", "01:00-02:00-03:00", "+1:00-02:00"] {
            assert_eq!(Window::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn local_time_applies_the_offset_across_the_day_boundary() {
        // 1970-01-01 23:30 UTC is 01:30 the next day at UTC+2, 20:30 at UTC-3.
        let t = 23 * 3600 + 30 * 60;
        assert_eq!(local_second_of_day(t, 7200), 3600 + 1800);
        assert_eq!(local_second_of_day(t, -3 * 3600), 20 * 3600 + 1800);
        assert_eq!(local_second_of_day(0, -60), 24 * 3600 - 60);
    }
}
