//! The FAT layout's slot file (`loader.B/uEnv.txt` with a CRC, a length
//! and a sequence number). A slot that decodes is exactly its encoding
//! followed by trailing bytes; a generated slot decodes to itself, and any
//! cut or flipped byte of it is refused; the boot script's pick is the
//! highest valid sequence.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use uptree_deploy::uenv::slot::{self, Slot, HEADER_LEN};
use uptree_fuzz::check;

fn generated(u: &mut Unstructured) -> arbitrary::Result<()> {
    let seq: u32 = u.arbitrary()?;
    let bootversion = u32::from(u.arbitrary::<bool>()?);
    let text: String = u.arbitrary()?;
    let bytes = slot::encode(seq, bootversion, &text);
    if slot::reserved_line(&text).is_some() {
        // Fat::commit refuses to write such a slot; whatever it decodes to
        // must still be what the boot script reads.
        if let Some(s) = slot::decode(&bytes) {
            boot_script_agrees(&s);
        }
        return Ok(());
    }
    let s = slot::decode(&bytes);
    check!(s.as_ref().map(|s| (s.seq, s.bootversion)) == Some((seq, bootversion)), "slot ({seq}, {bootversion}, {text:?}) decodes as {s:?}");
    let s = s.expect("checked");
    check!(s.body.ends_with(&text), "body lost the uEnv text");
    let cut = u.int_in_range(0..=bytes.len() - 1)?;
    check!(slot::decode(&bytes[..cut]).is_none(), "a slot cut at {cut} of {} bytes was accepted", bytes.len());
    let mut flipped = bytes.clone();
    let i = u.int_in_range(0..=bytes.len() - 1)?;
    flipped[i] ^= 1u8 << u.int_in_range(0..=7)?;
    if let Some(f) = slot::decode(&flipped) {
        // U-Boot reads the header's hex case-insensitively, and so does
        // the decoder: that flip is the only one a slot survives.
        check!(i < HEADER_LEN && flipped[i].eq_ignore_ascii_case(&bytes[i]) && f == s, "slot with byte {i} flipped decoded as {f:?}");
    }
    Ok(())
}

/// The boot script reads the slot with `env import -t`: the last
/// `name=value` line of a name wins. The decoder must read the same
/// sequence and boot version, or uptree and U-Boot disagree on which slot
/// is live.
fn boot_script_agrees(s: &Slot) {
    let last = |k: &str| s.body.lines().rev().find_map(|l| l.strip_prefix(k)?.strip_prefix('='));
    check!(last("uptree_seq").and_then(|v| v.parse().ok()) == Some(s.seq), "decoded seq {} but the boot script reads {:?}", s.seq, last("uptree_seq"));
    check!(
        last("uptree_bootversion").and_then(|v| v.parse().ok()) == Some(s.bootversion),
        "decoded boot version {} but the boot script reads {:?}",
        s.bootversion,
        last("uptree_bootversion")
    );
}

fuzz_target!(|data: &[u8]| {
    if let Some(s) = slot::decode(data) {
        check!(s.bootversion <= 1, "bootversion {}", s.bootversion);
        boot_script_agrees(&s);
        // Re-encode: the body is the two uptree_ lines plus the uEnv text
        // when the decoder found them first, as encode writes them.
        let prefix = format!("uptree_seq={}\nuptree_bootversion={}\n", s.seq, s.bootversion);
        if let Some(rest) = s.body.strip_prefix(&prefix) {
            let enc = slot::encode(s.seq, s.bootversion, rest);
            // The header's hex digits may be in either case (U-Boot reads
            // both); the encoder writes lowercase.
            let same =
                data.len() >= enc.len() && data[..HEADER_LEN].eq_ignore_ascii_case(&enc[..HEADER_LEN]) && data[HEADER_LEN..enc.len()] == enc[HEADER_LEN..];
            check!(same, "decoded slot {s:?} does not re-encode to its bytes");
        }
        check!(data.len() >= HEADER_LEN + s.body.len(), "slot longer than its bytes");
        let other = Slot { seq: s.seq.wrapping_add(1), ..s.clone() };
        check!(slot::pick([Some(&s), Some(&other)]).map(|p| p.seq) == Some(s.seq.max(other.seq)), "pick is not the highest sequence");
    }
    let _ = generated(&mut Unstructured::new(data));
});
