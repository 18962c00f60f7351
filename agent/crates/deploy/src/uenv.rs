//! `uEnv.txt` exactly as ostree's U-Boot backend writes it (2022.7):
//! entry 0 unsuffixed, entry i≥1 suffixed `i+1`; `kernel_image`,
//! `ramdisk_image`, `fdt_file`, `fdtdir`, `bootargs`; the default
//! deployment's `usr/lib/ostree-boot/uEnv.txt` appended after its
//! `bootargs`; lines joined by `_ostree_sysroot_join_lines` (empty lines
//! dropped at the start and collapsed).

use crate::bls::BootEntry;

/// Lines for one sorted list of entries. `appended` is the default
/// deployment's `usr/lib/ostree-boot/uEnv.txt`, if any. `prefix` goes
/// before every path: ostree writes `/boot` (valid on the boot partition
/// through its `boot -> .` link); the FAT layout has no prefix.
pub fn generate(entries: &[BootEntry], appended: Option<&str>, prefix: &str) -> Result<String, String> {
    let mut lines: Vec<String> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let sfx = if i == 0 { String::new() } else { (i + 1).to_string() };
        let linux = e.get("linux").ok_or_else(|| "No \"linux\" key in bootloader config".to_string())?;
        lines.push(format!("kernel_image{sfx}={prefix}{linux}"));
        if let Some(v) = e.get("initrd") {
            lines.push(format!("ramdisk_image{sfx}={prefix}{v}"));
        }
        if let Some(v) = e.get("devicetree") {
            lines.push(format!("fdt_file{sfx}={prefix}{v}"));
        }
        if let Some(v) = e.get("fdtdir") {
            lines.push(format!("fdtdir{sfx}={prefix}{v}"));
        }
        if let Some(v) = e.get("options") {
            lines.push(format!("bootargs{sfx}={v}"));
            if i == 0 {
                if let Some(a) = appended {
                    lines.push(a.to_string());
                }
            }
        }
    }
    Ok(join_lines(&lines))
}

/// `_ostree_sysroot_join_lines`: each line plus `\n`; an empty line is
/// dropped at the start or after another empty line.
pub fn join_lines(lines: &[String]) -> String {
    let mut out = String::new();
    let mut prev_empty = false;
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() {
            if prev_empty || i == 0 {
                continue;
            }
            prev_empty = true;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ostree_2022_7_output() {
        // Observed with `ostree admin deploy` (see ostree-format.md §7.6).
        let e = BootEntry::parse(
            "title Test OS 1.0 (ostree:0)\nversion 1\noptions root=/dev/vda2 rw ostree=/ostree/boot.1/testos/322d/0\ndevicetree /ostree/testos-322d/devicetree-5.10.0-test\nlinux /ostree/testos-322d/vmlinuz-5.10.0-test\ninitrd /ostree/testos-322d/initramfs-5.10.0-test.img\n",
        );
        let text = generate(&[e.clone(), e], Some("bootcmd_extra=echo hi\n"), "/boot").expect("generates");
        assert_eq!(
            text,
            "kernel_image=/boot/ostree/testos-322d/vmlinuz-5.10.0-test\nramdisk_image=/boot/ostree/testos-322d/initramfs-5.10.0-test.img\nfdt_file=/boot/ostree/testos-322d/devicetree-5.10.0-test\nbootargs=root=/dev/vda2 rw ostree=/ostree/boot.1/testos/322d/0\nbootcmd_extra=echo hi\n\nkernel_image2=/boot/ostree/testos-322d/vmlinuz-5.10.0-test\nramdisk_image2=/boot/ostree/testos-322d/initramfs-5.10.0-test.img\nfdt_file2=/boot/ostree/testos-322d/devicetree-5.10.0-test\nbootargs2=root=/dev/vda2 rw ostree=/ostree/boot.1/testos/322d/0\n"
        );
        assert!(generate(&[BootEntry::default()], None, "/boot").is_err());
    }
}

/// The FAT boot layout's slot file, `loader.B/uEnv.txt` on the boot
/// partition. There are no symlinks on FAT, so the switch is: write the
/// inactive slot completely, with a sequence number one above the live
/// one, and let the boot script pick the valid slot with the highest
/// sequence. A slot is valid when its CRC matches, so a slot cut short by a
/// pulled plug is ignored and the other one boots.
///
/// ```text
/// uptree_crc=XXXXXXXX\n      CRC-32 of the body, 8 lowercase hex digits (U-Boot's `crc32 ADDR LEN VAR`)
/// uptree_len=XXXXXXXX\n      body length in bytes, hex (U-Boot's setexpr is hex)
/// uptree_seq=N\n             body: sequence number (decimal, for `test -gt`)
/// uptree_bootversion=B\n
/// kernel_image=/loader.B/ostree/OS-CSUM/vmlinuz-KVER\n ... (uEnv.txt lines)
/// ```
pub mod slot {
    /// Bytes of the fixed header (two 20-byte lines).
    pub const HEADER_LEN: usize = 40;

    /// The highest sequence a slot may carry: the boot script compares
    /// with U-Boot's `test -gt`, which parses a `long`, 32 bits on ARM32.
    pub const MAX_SEQ: u32 = i32::MAX as u32;

    /// A decoded, valid slot.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Slot {
        pub seq: u32,
        pub bootversion: u32,
        /// The whole body (uEnv lines, including the two `uptree_` lines).
        pub body: String,
    }

    /// Encode a slot: `uenv` is the text `generate` made.
    pub fn encode(seq: u32, bootversion: u32, uenv: &str) -> Vec<u8> {
        let body = format!("uptree_seq={seq}\nuptree_bootversion={bootversion}\n{uenv}");
        let mut out = format!("uptree_crc={:08x}\nuptree_len={:08x}\n", uboot_env::crc32(body.as_bytes()), body.len()).into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }

    fn hex_field(line: &[u8], name: &str) -> Option<u32> {
        let rest = line.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        let digits = rest.strip_suffix(b"\n")?;
        if digits.len() != 8 {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }

    /// The variables the boot script imports from a slot (`env import -t`
    /// of the whole file, where the last assignment of a name wins): only
    /// the header and the two `uptree_` lines that open the body may set
    /// them.
    pub const RESERVED: [&str; 4] = ["uptree_crc", "uptree_len", "uptree_seq", "uptree_bootversion"];

    fn assigns(line: &str, name: &str) -> bool {
        line.strip_prefix(name).is_some_and(|rest| rest.starts_with('='))
    }

    /// The first line of `uenv` (the text that follows the two `uptree_`
    /// lines) that sets a [`RESERVED`] variable. A deployment's own
    /// `usr/lib/ostree-boot/uEnv.txt` is appended to that text, and a line
    /// of it like `uptree_seq=4000000000` would make the boot script pick
    /// that slot forever while uptree reads the slot's real sequence.
    pub fn reserved_line(uenv: &str) -> Option<&str> {
        uenv.lines().find(|l| RESERVED.iter().any(|r| assigns(l, r)))
    }

    /// Decode and verify; `None` for anything not a complete, valid slot.
    ///
    /// `seq` and `bootversion` are the body's last assignments, as the boot
    /// script's `env import` reads them; a body that assigns `uptree_crc`
    /// or `uptree_len` (the boot script would check the CRC against those)
    /// is not a slot uptree wrote, and is refused.
    pub fn decode(bytes: &[u8]) -> Option<Slot> {
        if bytes.len() < HEADER_LEN {
            return None;
        }
        let crc = hex_field(&bytes[..20], "uptree_crc")?;
        let len = hex_field(&bytes[20..40], "uptree_len")? as usize;
        let body = bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?)?;
        if uboot_env::crc32(body) != crc {
            return None;
        }
        let body = std::str::from_utf8(body).ok()?.to_string();
        if body.lines().any(|l| assigns(l, "uptree_crc") || assigns(l, "uptree_len")) {
            return None;
        }
        let field = |k: &str| body.lines().rfind(|l| assigns(l, k))?.get(k.len() + 1..)?.parse::<u32>().ok();
        let (seq, bootversion) = (field("uptree_seq")?, field("uptree_bootversion")?);
        (bootversion <= 1).then_some(Slot { seq, bootversion, body })
    }

    /// What the boot script picks from `loader.0` and `loader.1`: the valid
    /// slot with the highest sequence; on a tie the first.
    pub fn pick(slots: [Option<&Slot>; 2]) -> Option<&Slot> {
        let mut best: Option<&Slot> = None;
        for s in slots.into_iter().flatten() {
            if best.is_none_or(|b| s.seq > b.seq) {
                best = Some(s);
            }
        }
        best
    }
}

#[cfg(test)]
mod slot_tests {
    use super::slot::*;

    #[test]
    fn encode_decode_and_every_cut() {
        let text = "kernel_image=/loader.1/ostree/os-c/vmlinuz-6.1\nbootargs=root=/dev/vda2 ostree=/ostree/boot.1/os/c/0\n";
        let bytes = encode(7, 1, text);
        assert_eq!(&bytes[..11], b"uptree_crc=");
        let s = decode(&bytes).expect("valid");
        assert_eq!((s.seq, s.bootversion), (7, 1));
        assert!(s.body.ends_with(text));
        // A slot cut at any length, or with any byte flipped, is invalid.
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_none(), "prefix of {n} bytes accepted");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(decode(&b).is_none(), "flipped byte {i} accepted");
        }
        // Trailing bytes (a longer old file partly overwritten) do not matter.
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"garbage");
        assert_eq!(decode(&longer), Some(s.clone()));
        let older = decode(&encode(6, 0, text)).expect("valid");
        assert_eq!(pick([Some(&older), Some(&s)]), Some(&s));
        assert_eq!(pick([Some(&s), Some(&older)]), Some(&s));
        assert_eq!(pick([None, Some(&older)]), Some(&older));
        assert_eq!(pick([None, None]), None);
    }

    #[test]
    fn fuzz_appended_uenv_cannot_override_the_slot_sequence() {
        // Found writing the fat_slot fuzz target's model of the boot script:
        // U-Boot's `env import -t` keeps the last `uptree_seq=` of the file,
        // the decoder took the first. A deployment's appended uEnv.txt
        // setting it made the boot script prefer that slot forever while
        // uptree went on reading the real sequence.
        let text = "bootargs=root=/dev/vda2\nuptree_seq=4000000000\n";
        let bytes = encode(5, 1, text);
        let s = decode(&bytes).expect("valid slot");
        assert_eq!((s.seq, s.bootversion), (4_000_000_000, 1), "the sequence the boot script reads");
        assert_eq!(reserved_line(text), Some("uptree_seq=4000000000"));
        assert_eq!(reserved_line("uptree_seqx=1\nbootargs=uptree_seq=1\n"), None);
        // Overriding the CRC or the length the boot script checks: refused.
        assert_eq!(decode(&encode(5, 1, "uptree_len=00000010\n")), None);
        assert_eq!(decode(&encode(5, 1, "uptree_crc=00000000\n")), None);
    }
}
