//! Dates for `--timestamp`, `--keep-younger-than` and `show`/`log` output.
//!
//! ostree uses gnulib's `parse_datetime`; this accepts the forms build
//! scripts use: `@EPOCH`, `YYYY-MM-DD[( |T)HH:MM[:SS]][Z|±HH[:MM]]`, `now`,
//! `today`, `yesterday`, and `N (second|minute|hour|day|week|month|year)s ago`.
//! Times without a zone are UTC (build servers and devices run in UTC;
//! gnulib would use the local zone).

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:MM:SS +0000`, as ostree prints commit dates.
pub fn format_utc(ts: u64) -> String {
    let secs = ts as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// C's `%c` in the C locale, UTC (`Tue Dec  1 21:26:37 2026`), as ostree
/// prints signature times.
pub fn format_c(ts: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = ts as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = DAYS[(days + 4).rem_euclid(7) as usize];
    let mon = MONTHS[(m as usize).saturating_sub(1) % 12];
    format!("{wd} {mon} {d:>2} {:02}:{:02}:{:02} {y}", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// ISO 8601 (`YYYY-MM-DDTHH:MM:SSZ`) for JSON output.
pub fn format_iso(ts: u64) -> String {
    let s = format_utc(ts);
    format!("{}T{}Z", &s[..10], &s[11..19])
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A month's name, full or abbreviated to at least three letters.
fn month(word: &str) -> Option<u32> {
    const FULL: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];
    let w = word.trim_end_matches('.').to_ascii_lowercase();
    let i = (w.len() >= 3).then(|| FULL.iter().position(|f| f.starts_with(w.as_str()))).flatten()?;
    u32::try_from(i + 1).ok()
}

/// `October 25 1985`, `Oct 25, 1985`, `25 October 1985` (as GNU date
/// reads them), then the rest (time, zone).
fn month_name_date(s: &str) -> Option<(u32, u32, u32, &str)> {
    let mut words = s.splitn(4, ' ').filter(|w| !w.is_empty());
    let (a, b, c) = (words.next()?, words.next()?.trim_end_matches(','), words.next()?);
    let rest = words.next().unwrap_or("");
    let (m, d) = match (month(a), month(b)) {
        (Some(m), None) => (m, num(b)?),
        (None, Some(m)) => (m, num(a)?),
        _ => return None,
    };
    Some((num(c)?, m, d, rest))
}

/// Parse a date; `now` is the reference for relative forms.
pub fn parse(input: &str, now: u64) -> Option<u64> {
    let s = input.trim();
    let lower = s.to_ascii_lowercase();
    if let Some(e) = s.strip_prefix('@') {
        return e.trim().parse::<u64>().ok();
    }
    match lower.as_str() {
        "now" => return Some(now),
        "today" => return Some(now - now % 86_400),
        "yesterday" => return Some((now - now % 86_400).saturating_sub(86_400)),
        _ => {}
    }
    if let Some(rel) = lower.strip_suffix(" ago") {
        let mut it = rel.split_whitespace();
        let (n, unit) = match (it.next(), it.next(), it.next()) {
            (Some(n), Some(u), None) => (n.parse::<u64>().ok()?, u),
            (Some(u), None, None) => (1, u),
            _ => return None,
        };
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let secs = match unit {
            "sec" | "second" => 1,
            "min" | "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            "week" => 7 * 86_400,
            "fortnight" => 14 * 86_400,
            "month" => 30 * 86_400,
            "year" => 365 * 86_400,
            _ => return None,
        };
        return Some(now.saturating_sub(n.saturating_mul(secs)));
    }
    // Date, optional time, optional zone.
    let (y, m, d, rest) = match month_name_date(s) {
        Some(v) => v,
        None => {
            let (date, rest) = s.split_at(s.find([' ', 'T']).unwrap_or(s.len()));
            let mut dp = date.split('-');
            let (y, m, d) = (dp.next().and_then(num)?, dp.next().and_then(num)?, dp.next().and_then(num)?);
            if dp.next().is_some() {
                return None;
            }
            (y, m, d, rest)
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let rest = rest.trim_start_matches(['T', ' ']);
    let (time, zone) = match rest.find(['Z', 'z', '+', '-', ' ']) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if !time.is_empty() {
        let mut tp = time.split(':');
        hh = tp.next().and_then(num)?;
        mm = tp.next().and_then(num)?;
        ss = match tp.next() {
            Some(x) => num(x.split('.').next().unwrap_or(x))?,
            None => 0,
        };
        if tp.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
    }
    let offset: i64 = match zone {
        "" | "Z" | "z" | "UTC" | "utc" => 0,
        z => {
            let sign = if z.starts_with('-') {
                -1
            } else if z.starts_with('+') {
                1
            } else {
                return None;
            };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            let (h, mi) = match digits.len() {
                2 => (num(&digits)?, 0),
                4 => (num(&digits[..2])?, num(&digits[2..])?),
                _ => return None,
            };
            sign * (i64::from(h) * 3600 + i64::from(mi) * 60)
        }
    };
    let t = days_from_civil(i64::from(y), m, d) * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss) - offset;
    // Before 1970: ostree stores time_t in the commit's guint64 as is, so
    // the suite's "November 05 1955" commits wrap; compare the same way.
    Some(t as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_locale_dates() {
        assert_eq!(format_c(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(format_c(1_796_160_397), "Tue Dec  1 21:26:37 2026");
    }

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 +0000");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(parse("2023-11-14 22:13:20", 0), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T22:13:20Z", 0), Some(1_700_000_000));
        assert_eq!(parse("2023-11-14T23:13:20+01:00", 0), Some(1_700_000_000));
        assert_eq!(parse("@1700000000", 0), Some(1_700_000_000));
        assert_eq!(parse("2000-02-29", 0), Some(951_782_400));
        assert_eq!(parse("2 weeks ago", 1_700_000_000), Some(1_700_000_000 - 14 * 86_400));
        assert_eq!(parse("1 day ago", 100_000), Some(13_600));
        assert_eq!(parse("not a date", 0), None);
        assert_eq!(parse("2023-13-01", 0), None);
        // GNU date's month names (ostree's test suite commits with 'October 25 1985').
        assert_eq!(parse("October 25 1985", 0), Some(499_046_400));
        assert_eq!(parse("Oct 25, 1985", 0), Some(499_046_400));
        assert_eq!(parse("25 october 1985 01:00:00", 0), Some(499_050_000));
        assert_eq!(parse("Octember 25 1985", 0), None);
        assert_eq!(parse("October 32 1985", 0), None);
        assert_eq!(parse("November 05 1955", 0), Some(18_446_744_073_262_777_216), "two's complement, as ostree stores it");
        assert_eq!(format_utc(18_446_744_073_262_777_216), "1955-11-05 00:00:00 +0000");
        for ts in [0u64, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse(&format_utc(ts), 0), Some(ts), "{ts}");
        }
    }
}
