//! Environment blocks: the bytes U-Boot keeps on flash, a disk or in
//! `uboot.env`. Pure: byte slices in, byte vectors out.
//!
//! ```text
//! single copy (S bytes):  crc32 LE (4) | data (S-4)
//! redundant copy:         crc32 LE (4) | flag (1) | data (S-5)
//! data:                   name=value\0 name=value\0 … \0 padding
//! ```
//!
//! The CRC covers the whole data area, padding included. What pads it does
//! not matter to any reader: U-Boot's `saveenv` pads with 0x00, mkenvimage
//! with 0xFF (or `-p BYTE`), libubootenv 0.3 with whatever its heap buffer
//! held (in practice stale bytes of the block it read). [`Env::to_block`]
//! pads with 0x00.
//!
//! The flag byte says which of two redundant copies is newer; see
//! [`select_active`] and [`next_flag`].

use crate::crc32::crc32;
use crate::env::{check_name, check_value, lossy, Env};
use crate::error::{Error, Result};

/// Size of the CRC in front of every block.
pub const CRC_LEN: usize = 4;

/// Bytes in front of the data area: the CRC, plus the flag byte in a
/// redundant block.
pub const fn header_len(redundant: bool) -> usize {
    if redundant {
        CRC_LEN + 1
    } else {
        CRC_LEN
    }
}

/// How two redundant copies' flag bytes are compared and advanced;
/// libubootenv picks the scheme from the device type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagScheme {
    /// A serial number, incremented (mod 256) on every write. libubootenv
    /// uses it for files, block devices, NAND and UBI; U-Boot uses it
    /// everywhere except NOR flash.
    Incremental,
    /// NOR flash: 1 marks the active copy, 0 the obsolete one (a bit can be
    /// cleared without an erase), 0xFF an erased (just written) one.
    Boolean,
}

/// Which copy is active, given whether each copy's CRC is valid and its
/// flag byte; `None` if neither is valid. libubootenv's `libuboot_load`
/// rule, which is also U-Boot's for the incremental scheme:
///
/// * one valid copy: that one;
/// * both valid: copy 1 if its flag is greater, else copy 0 (equal flags
///   pick copy 0); then, incremental: flags (255, 0) pick copy 1 and
///   (0, 255) copy 0, the wrap-around of the serial. Only that exact pair
///   wraps: (255, 1) picks copy 0, because writers only ever produce
///   consecutive serials. Boolean: a flag of 0xFF wins, copy 1's first.
pub fn select_active(valid: [bool; 2], flags: [u8; 2], scheme: FlagScheme) -> Option<usize> {
    match valid {
        [false, false] => None,
        [true, false] => Some(0),
        [false, true] => Some(1),
        [true, true] => {
            let mut current = usize::from(flags[1] > flags[0]);
            match scheme {
                FlagScheme::Boolean => {
                    if flags[1] == 0xFF {
                        current = 1;
                    } else if flags[0] == 0xFF {
                        current = 0;
                    }
                }
                FlagScheme::Incremental => {
                    if flags == [0xFF, 0] {
                        current = 1;
                    } else if flags == [0, 0xFF] {
                        current = 0;
                    }
                }
            }
            Some(current)
        }
    }
}

/// The flag for the next write, given the active copy's flag:
/// `active + 1` wrapping 255 → 0 (incremental) or 1 (boolean), as
/// libubootenv's `libuboot_env_store` does.
pub fn next_flag(active_flag: u8, scheme: FlagScheme) -> u8 {
    match scheme {
        FlagScheme::Incremental => active_flag.wrapping_add(1),
        FlagScheme::Boolean => 1,
    }
}

/// The raw contents of a block with a valid CRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBlock<'a> {
    /// The flag byte of a redundant block.
    pub flag: Option<u8>,
    /// The NUL-terminated strings of the data area in stored order, up to
    /// the empty one that ends them (normally `name=value`; a reader skips
    /// others).
    pub entries: Vec<&'a [u8]>,
}

/// Checks the CRC and splits the data area into its strings.
///
/// The data area ends at the first empty string (two NULs in a row) or at
/// the end of the block, as U-Boot's `himport_r` reads it; a last string
/// without its NUL is [`Error::Unterminated`].
pub fn parse_block(block: &[u8], redundant: bool) -> Result<RawBlock<'_>> {
    let header = header_len(redundant);
    if block.len() < header + 1 {
        return Err(Error::BlockTooSmall { len: block.len(), min: header + 1 });
    }
    let stored = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
    let data = &block[header..];
    let actual = crc32(data);
    if stored != actual {
        return Err(Error::Crc { expected: stored, actual });
    }
    let flag = redundant.then(|| block[CRC_LEN]);
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < data.len() && data[pos] != 0 {
        let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
            return Err(Error::Unterminated { offset: pos });
        };
        entries.push(&data[pos..pos + len]);
        pos += len + 1;
    }
    Ok(RawBlock { flag, entries })
}

/// Splits a stored `name=value` string; `None` for one that U-Boot and
/// fw_printenv ignore (no `=`, or an empty name).
pub fn split_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = entry.iter().position(|&b| b == b'=')?;
    (eq > 0).then(|| (&entry[..eq], &entry[eq + 1..]))
}

/// Builds a block of `size` bytes from `entries` in the order given: the
/// header (CRC, and `flag` if `Some`: a redundant block), each
/// `name=value\0`, the terminating `\0`, then `pad` up to `size`.
///
/// In stored order and with `pad` 0xFF (flag `Some(1)` for `-r`) this is
/// byte for byte what `mkenvimage -s size` makes of the same entries;
/// [`Env::to_block`] is the sorted form. Names and values are checked as
/// [`Env::set`] checks them; [`Error::TooLarge`] if they do not fit.
pub fn encode_block<'a, I>(entries: I, size: usize, flag: Option<u8>, pad: u8) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let header = header_len(flag.is_some());
    let mut block = Vec::with_capacity(size);
    block.resize(header, 0);
    if let Some(flag) = flag {
        block[CRC_LEN] = flag;
    }
    for (name, value) in entries {
        check_name(name)?;
        check_value(name, value)?;
        block.extend_from_slice(name);
        block.push(b'=');
        block.extend_from_slice(value);
        block.push(0);
    }
    block.push(0);
    if block.len() > size {
        return Err(Error::TooLarge { needed: block.len(), size });
    }
    block.resize(size, pad);
    let crc = crc32(&block[header..]);
    block[..CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(block)
}

impl Env {
    /// Reads a block (single copy, or one redundant copy when `redundant`),
    /// returning the variables and the flag byte of a redundant copy.
    ///
    /// Like fw_printenv, entries without `=` or with an empty name are
    /// skipped and the last of two entries with one name wins.
    pub fn from_block(block: &[u8], redundant: bool) -> Result<(Env, Option<u8>)> {
        let raw = parse_block(block, redundant)?;
        let mut env = Env::new();
        for entry in raw.entries {
            match split_entry(entry) {
                Some((name, value)) => {
                    env.set(name, value)?;
                }
                None => log::warn!("ignoring environment entry without a name: {:?}", lossy(entry)),
            }
        }
        Ok((env, raw.flag))
    }

    /// Writes the variables in name order into a block of `size` bytes,
    /// padded with 0x00 as U-Boot's `saveenv` pads: a single-copy block for
    /// `flag: None`, a redundant copy carrying `flag` for `Some`.
    /// [`Error::TooLarge`] if they do not fit.
    pub fn to_block(&self, size: usize, flag: Option<u8>) -> Result<Vec<u8>> {
        self.to_block_padded(size, flag, 0)
    }

    /// [`Env::to_block`] with another padding byte (mkenvimage's default is
    /// 0xFF, the erased state of flash).
    pub fn to_block_padded(&self, size: usize, flag: Option<u8>, pad: u8) -> Result<Vec<u8>> {
        let needed = header_len(flag.is_some()) + self.data_len();
        if needed > size {
            return Err(Error::TooLarge { needed, size });
        }
        encode_block(self.iter(), size, flag, pad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::env::tests::env;

    #[test]
    fn golden_single_block() {
        // `printf 'zeta=1\nalpha=two words\n' | mkenvimage -s 0x40 -p 0 -o - -`
        // keeps input order; this is the same layout, checked by hand.
        let block = encode_block([(&b"zeta"[..], &b"1"[..]), (b"alpha", b"two words")], 0x40, None, 0).expect("fits");
        assert_eq!(&block[4..28], b"zeta=1\0alpha=two words\0\0");
        assert!(block[28..].iter().all(|&b| b == 0));
        assert_eq!(u32::from_le_bytes([block[0], block[1], block[2], block[3]]), crc32(&block[4..]));
    }

    #[test]
    fn round_trips() {
        let e = env(&[("bootcmd", "run a; run b"), ("x", "a=b"), ("empty", "")]);
        for flag in [None, Some(0), Some(7), Some(255)] {
            let block = e.to_block(0x100, flag).expect("fits");
            assert_eq!(block.len(), 0x100);
            let (back, f) = Env::from_block(&block, flag.is_some()).expect("valid");
            assert_eq!(back, e);
            assert_eq!(f, flag);
        }
        let block = e.to_block(0x100, None).expect("fits");
        let sorted = b"bootcmd=run a; run b\0empty=\0x=a=b\0\0";
        assert_eq!(&block[4..4 + sorted.len()], sorted);
    }

    #[test]
    fn exact_fit_and_too_large() {
        let e = env(&[("a", "12345")]);
        // 4 (crc) + "a=12345\0" (8) + "\0" (1) = 13.
        assert_eq!(e.data_len(), 9);
        let block = e.to_block(13, None).expect("exact fit");
        assert_eq!(Env::from_block(&block, false).expect("valid").0, e);
        match e.to_block(12, None) {
            Err(Error::TooLarge { needed, size }) => assert_eq!((needed, size), (13, 12)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(matches!(e.to_block(13, Some(1)), Err(Error::TooLarge { needed: 14, size: 13 })));
        let empty = Env::new().to_block(5, None).expect("empty env fits");
        assert_eq!(Env::from_block(&empty, false).expect("valid").0, Env::new());
    }

    #[test]
    fn corrupt_and_short_blocks_are_errors() {
        let e = env(&[("a", "1"), ("b", "2")]);
        let block = e.to_block(64, Some(3)).expect("fits");
        for i in 0..block.len() {
            let mut bad = block.clone();
            bad[i] ^= 0x20;
            let r = Env::from_block(&bad, true);
            if i == CRC_LEN {
                // The flag byte is outside the CRC, as in U-Boot.
                assert_eq!(r.expect("flag is not covered").1, Some(3 ^ 0x20));
            } else {
                assert!(matches!(r, Err(Error::Crc { .. })), "byte {i}: {r:?}");
            }
        }
        for len in 0..6 {
            assert!(matches!(Env::from_block(&block[..len], true), Err(Error::BlockTooSmall { .. }) | Err(Error::Crc { .. })));
        }
        // The wrong layout is a CRC error, not garbage variables.
        assert!(matches!(Env::from_block(&block, false), Err(Error::Crc { .. })));
    }

    fn with_crc(mut block: Vec<u8>, header: usize) -> Vec<u8> {
        let crc = crc32(&block[header..]);
        block[..4].copy_from_slice(&crc.to_le_bytes());
        block
    }

    #[test]
    fn crafted_data_areas() {
        // No terminator at all: the end of the block ends the data.
        let block = with_crc(b"\0\0\0\0a=1\0b=2\0".to_vec(), 4);
        let (e, _) = Env::from_block(&block, false).expect("valid");
        assert_eq!(e, env(&[("a", "1"), ("b", "2")]));
        // A last string without its NUL.
        let block = with_crc(b"\0\0\0\0a=1\0b=2".to_vec(), 4);
        assert!(matches!(Env::from_block(&block, false), Err(Error::Unterminated { offset: 4 })));
        // Entries U-Boot and fw_printenv ignore; duplicates: last wins.
        let block = with_crc(b"\0\0\0\0noeq\0=v\0a=1\0a=2\0\0junk".to_vec(), 4);
        let raw = parse_block(&block, false).expect("valid");
        assert_eq!(raw.entries.len(), 4);
        let (e, _) = Env::from_block(&block, false).expect("valid");
        assert_eq!(e, env(&[("a", "2")]));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = env(&[("a", "1"), ("bootcmd", "boot")]).to_block(48, None).expect("fits");
        for round in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut block: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                // Mostly-valid blocks with random damage, CRC fixed up so
                // the parser sees the damage.
                block = good.clone();
                for _ in 0..(next() % 4) {
                    let i = (next() % block.len() as u64) as usize;
                    block[i] = next() as u8;
                }
                if block.len() >= 4 && round % 4 == 0 {
                    block = with_crc(block, 4);
                }
                block.truncate((next() % 60) as usize);
            }
            for redundant in [false, true] {
                if let Ok((e, _)) = Env::from_block(&block, redundant) {
                    // Whatever parses, re-encodes and parses the same.
                    let again = e.to_block(block.len() + 1, None).expect("fits again");
                    assert_eq!(Env::from_block(&again, false).expect("valid").0, e);
                }
            }
        }
    }

    #[test]
    fn selection_rules() {
        use FlagScheme::*;
        let inc = |v, f| select_active(v, f, Incremental);
        assert_eq!(inc([false, false], [1, 2]), None);
        assert_eq!(inc([true, false], [1, 2]), Some(0));
        assert_eq!(inc([false, true], [2, 1]), Some(1));
        assert_eq!(inc([true, true], [1, 2]), Some(1));
        assert_eq!(inc([true, true], [2, 1]), Some(0));
        assert_eq!(inc([true, true], [5, 5]), Some(0));
        assert_eq!(inc([true, true], [255, 0]), Some(1));
        assert_eq!(inc([true, true], [0, 255]), Some(0));
        // Not serial-number arithmetic: only 255/0 wraps.
        assert_eq!(inc([true, true], [255, 1]), Some(0));
        assert_eq!(inc([true, true], [1, 255]), Some(1));
        let boolean = |f| select_active([true, true], f, Boolean);
        assert_eq!(boolean([1, 0]), Some(0));
        assert_eq!(boolean([0, 1]), Some(1));
        assert_eq!(boolean([1, 0xFF]), Some(1));
        assert_eq!(boolean([0xFF, 1]), Some(0));
        assert_eq!(next_flag(4, Incremental), 5);
        assert_eq!(next_flag(255, Incremental), 0);
        assert_eq!(next_flag(0, Boolean), 1);
    }
}
