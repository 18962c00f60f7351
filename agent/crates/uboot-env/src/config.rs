//! `fw_env.config`: where the environment lives. Pure parsing; the file is
//! read by [`Config::load`].
//!
//! ```text
//! # device        offset    env size   [sector size  [sectors]]
//! /dev/mmcblk0    0x400000  0x4000
//! /dev/mmcblk0    0x404000  0x4000
//! ```
//!
//! One line is a single-copy environment, two lines are the two copies of a
//! redundant one (CONFIG_SYS_REDUNDAND_ENVIRONMENT). The numbers are parsed
//! as libubootenv 0.3 parses them (`sscanf("%ms %lli %zx %zx %lx")`), which
//! is not uniform, so copy this exactly:
//!
//! * the **offset** is C `strtoll(…, 0)`: `0x` hex, a leading `0` octal
//!   (`0400` is 256), decimal otherwise; negative counts back from the end
//!   of a block device;
//! * the **sizes and the sector count are always hexadecimal**, `0x` or
//!   not: `4000` means 0x4000, and a decimal `16384` would mean 0x16384.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One copy of the environment: one line of `fw_env.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Device or file (a plain file such as `uboot.env` on the boot
    /// partition counts as a device, with offset 0).
    pub device: PathBuf,
    /// Byte offset in the device; negative: from the end of a block
    /// device.
    pub offset: i64,
    /// Size of the environment block (the same for both copies).
    pub size: usize,
    /// Erase-block size (MTD only; kept, unused for files and block
    /// devices).
    pub sector_size: Option<u64>,
    /// Number of erase blocks (raw NAND only; kept, unused here).
    pub sectors: Option<u64>,
}

impl Location {
    /// A location with no sector information.
    pub fn new(device: impl Into<PathBuf>, offset: i64, size: usize) -> Location {
        Location { device: device.into(), offset, size, sector_size: None, sectors: None }
    }
}

/// A parsed `fw_env.config`: one copy, or two for a redundant environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// One or two locations, in file order (copy 0, copy 1).
    pub copies: Vec<Location>,
}

impl Config {
    /// A single-copy environment.
    pub fn single(location: Location) -> Config {
        Config { copies: vec![location] }
    }

    /// A redundant environment; [`Error::Config`] if the sizes differ.
    pub fn redundant(first: Location, second: Location) -> Result<Config> {
        let config = Config { copies: vec![first, second] };
        config.check()?;
        Ok(config)
    }

    /// Whether there are two copies.
    pub fn is_redundant(&self) -> bool {
        self.copies.len() == 2
    }

    /// The block size (every copy has the same).
    pub fn size(&self) -> usize {
        self.copies.first().map_or(0, |c| c.size)
    }

    fn check(&self) -> Result<()> {
        if self.copies.is_empty() {
            return Err(Error::Config { line: 0, what: "no environment location".into() });
        }
        if self.copies.len() > 2 {
            return Err(Error::Config { line: 0, what: "more than two locations".into() });
        }
        if let [a, b] = self.copies.as_slice() {
            if a.size != b.size {
                return Err(Error::Config { line: 0, what: format!("the two copies differ in size ({:#x} and {:#x})", a.size, b.size) });
            }
        }
        Ok(())
    }

    /// Parses `fw_env.config` text (the legacy format; libubootenv's YAML
    /// format is not supported).
    ///
    /// Lines are whitespace-separated fields; blank lines and lines whose
    /// first non-blank byte is `#` are skipped, and so is a trailing field
    /// starting with `#`. A sixth field (newer libubootenv's
    /// "disable lock", 0 or 1) is accepted and ignored.
    ///
    /// Stricter than libubootenv, which silently skips a line with fewer
    /// than three fields and ignores lines after the second: both are
    /// errors here, as are a zero size and copies of different sizes.
    pub fn parse(text: &str) -> Result<Config> {
        let mut copies = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |what: String| Error::Config { line, what };
            let fields: Vec<&str> = raw.split_ascii_whitespace().take_while(|f| !f.starts_with('#')).collect();
            if fields.is_empty() {
                continue;
            }
            if fields.len() < 3 {
                return Err(err(format!("expected DEVICE OFFSET ENV_SIZE [SECTOR_SIZE [SECTORS]], got {raw:?}")));
            }
            if fields.len() > 6 {
                return Err(err(format!("too many fields in {raw:?}")));
            }
            let offset = parse_offset(fields[1]).ok_or_else(|| err(format!("bad offset {:?}", fields[1])))?;
            let size = parse_hex(fields[2])
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| err(format!("bad environment size {:?} (always hexadecimal)", fields[2])))?;
            if size == 0 {
                return Err(err("environment size is zero".into()));
            }
            let sector_size = match fields.get(3) {
                None => None,
                Some(f) => Some(parse_hex(f).ok_or_else(|| err(format!("bad sector size {f:?} (hexadecimal)")))?),
            };
            let sectors = match fields.get(4) {
                None => None,
                Some(f) => Some(parse_hex(f).ok_or_else(|| err(format!("bad sector count {f:?} (hexadecimal)")))?),
            };
            if let Some(f) = fields.get(5) {
                if *f != "0" && *f != "1" {
                    return Err(err(format!("bad lock field {f:?} (0 or 1)")));
                }
            }
            if copies.len() == 2 {
                return Err(err("a third environment location".into()));
            }
            copies.push(Location { device: PathBuf::from(fields[0]), offset, size, sector_size, sectors });
        }
        let config = Config { copies };
        config.check()?;
        Ok(config)
    }

    /// Reads and parses a `fw_env.config` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Config { line: 0, what: format!("{} is not UTF-8", path.display()) })?;
        Config::parse(&text)
    }

    /// The config as `fw_env.config` text that libubootenv and
    /// [`Config::parse`] read back the same (sizes in `0x` hex).
    /// [`Error::Config`] for a device path fw_env.config cannot hold (not
    /// UTF-8, whitespace, a leading `#`).
    pub fn to_text(&self) -> Result<String> {
        self.check()?;
        let mut out = String::new();
        for (i, c) in self.copies.iter().enumerate() {
            let device = c
                .device
                .to_str()
                .filter(|d| !d.is_empty() && !d.starts_with('#') && !d.chars().any(char::is_whitespace))
                .ok_or_else(|| Error::Config { line: i + 1, what: format!("device path {:?} cannot be written", c.device) })?;
            let sign = if c.offset < 0 { "-" } else { "" };
            let _ = write!(out, "{device}\t{sign}{:#x}\t{:#x}", c.offset.unsigned_abs(), c.size);
            match (c.sector_size, c.sectors) {
                (Some(s), Some(n)) => {
                    let _ = write!(out, "\t{s:#x}\t{n:#x}");
                }
                (Some(s), None) => {
                    let _ = write!(out, "\t{s:#x}");
                }
                // A count without a sector size cannot be written; the
                // default sector size is the env size.
                (None, Some(n)) => {
                    let _ = write!(out, "\t{:#x}\t{n:#x}", c.size);
                }
                (None, None) => {}
            }
            out.push('\n');
        }
        Ok(out)
    }
}

/// C `strtoul(s, NULL, 16)` on a whole field, unsigned: optional `0x`.
fn parse_hex(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// C `strtoll(s, NULL, 0)` on a whole field: sign, then `0x` hex, `0`
/// octal or decimal.
fn parse_offset(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) = if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (h, 16)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (&rest[1..], 8)
    } else {
        (rest, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from(u64::from_str_radix(digits, radix).ok()?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_redundant() {
        let c = Config::parse("/boot/uboot.env 0 0x4000\n").expect("parses");
        assert_eq!(c, Config::single(Location::new("/boot/uboot.env", 0, 0x4000)));
        assert!(!c.is_redundant());

        let text = "# MMC, two copies\n\
                    \n\
                    /dev/mmcblk0\t0x400000  4000   # copy 0\n\
                    \x20  # indented comment\n\
                    /dev/mmcblk0 -0x4000 0x4000 0x200 2\n";
        let c = Config::parse(text).expect("parses");
        assert!(c.is_redundant());
        assert_eq!(c.size(), 0x4000);
        assert_eq!(c.copies[0].offset, 0x40_0000);
        assert_eq!(c.copies[1].offset, -0x4000);
        assert_eq!(c.copies[1].sector_size, Some(0x200));
        assert_eq!(c.copies[1].sectors, Some(2));
    }

    #[test]
    fn numbers_as_libubootenv_reads_them() {
        let one = |line: &str| Config::parse(line).map(|c| c.copies[0].clone());
        // Offsets: strtoll base 0.
        assert_eq!(one("f 256 100").expect("ok").offset, 256);
        assert_eq!(one("f 0x100 100").expect("ok").offset, 256);
        assert_eq!(one("f 0400 100").expect("ok").offset, 256);
        assert_eq!(one("f 0 100").expect("ok").offset, 0);
        // Sizes: always hex.
        assert_eq!(one("f 0 100").expect("ok").size, 0x100);
        assert_eq!(one("f 0 16384").expect("ok").size, 0x16384);
        assert_eq!(one("f 0 0X4000").expect("ok").size, 0x4000);
        assert_eq!(one("f 0 0x4000 0x1000 1 0").expect("ok").sectors, Some(1));
        for bad in ["f 0x 100", "f 09 100", "f 12a 100", "f 0 0", "f 0 -100", "f 0 0x", "f 0 xyz", "f 0 100 zz", "f 0 100 1 1 2", "f 0 100 1 1 0 extra"] {
            assert!(matches!(one(bad), Err(Error::Config { line: 1, .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn structural_errors() {
        for (text, line) in [("", 0), ("# only comments\n\n", 0), ("dev 0\n", 1), ("a 0 100\nb 0 100\nc 0 100\n", 3), ("a 0 100\nb 0 200\n", 0)] {
            match Config::parse(text) {
                Err(Error::Config { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn text_round_trip() {
        let mut second = Location::new("/dev/mmcblk0", -0x4000, 0x4000);
        second.sector_size = Some(0x200);
        let c = Config::redundant(Location::new("/dev/mmcblk0", 0x40_0000, 0x4000), second).expect("same sizes");
        let text = c.to_text().expect("writable");
        assert_eq!(text, "/dev/mmcblk0\t0x400000\t0x4000\n/dev/mmcblk0\t-0x4000\t0x4000\t0x200\n");
        assert_eq!(Config::parse(&text).expect("parses"), c);
        let bad = Config::single(Location::new("/with space", 0, 0x10));
        assert!(matches!(bad.to_text(), Err(Error::Config { .. })));
        assert!(Config::redundant(Location::new("a", 0, 1), Location::new("b", 0, 2)).is_err());
    }
}
