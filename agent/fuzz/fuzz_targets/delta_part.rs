//! Static delta parts: the compression byte and payload (xz bounded by a
//! limit), the payload `(a(uuu)aa(ayay)ayay)`, its varint opcode
//! arguments, and bspatch. A payload that parses re-encodes to one that
//! parses the same; decompression never exceeds its limit; bspatch output
//! is exactly the size asked for.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use uptree_delta::bspatch::bspatch;
use uptree_delta::format::{decompress_part, read_varint, Payload};
use uptree_fuzz::check;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress_part(0, data, LIMIT) {
        check!(out.len() as u64 <= LIMIT, "decompressed {} bytes past the limit", out.len());
    }
    if let Ok(p) = Payload::parse(0, data) {
        let enc = Payload::to_bytes(&p.modes, &p.xattrs, p.blob, p.ops);
        match Payload::parse(0, &enc) {
            Ok(back) => check!((&back.modes, &back.xattrs, back.blob, back.ops) == (&p.modes, &p.xattrs, p.blob, p.ops), "payload decode(encode(x)) != x"),
            Err(e) => panic!("invariant failed: re-encoded payload does not parse: {e}"),
        }
        let mut pos = 0;
        while pos < p.ops.len() {
            let before = pos;
            if read_varint(p.ops, &mut pos).is_none() {
                break;
            }
            check!(pos > before && pos <= p.ops.len(), "varint did not advance within the stream");
        }
    }
    let mut u = Unstructured::new(data);
    if let (Ok(old_len), Ok(new_size)) = (u.int_in_range(0..=256usize), u.int_in_range(0..=4096usize)) {
        let rest = u.take_rest();
        let (old, patch) = rest.split_at(old_len.min(rest.len()));
        if let Ok(out) = bspatch(old, patch, new_size) {
            check!(out.len() == new_size, "bspatch wrote {} bytes, not {new_size}", out.len());
        }
    }
});
