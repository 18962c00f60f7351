//! Static delta superblocks `(a{sv}tayay(commit)aya(uayttay)a(yaytt))`
//! and their signed wrapper: what decodes embeds the commit it names and
//! re-encodes to bytes that decode the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ostree_repo::object::Checksum;
use uptree_delta::format::{unwrap_signed, Superblock};
use uptree_fuzz::{check, same_dict};

fn same(a: &Superblock, b: &Superblock) -> bool {
    same_dict(&a.metadata, &b.metadata)
        && (a.timestamp, a.from, a.to, &a.commit, &a.parts, &a.fallbacks, &a.inline_parts, &a.commitmeta, a.big_endian)
            == (b.timestamp, b.from, b.to, &b.commit, &b.parts, &b.fallbacks, &b.inline_parts, &b.commitmeta, b.big_endian)
}

fuzz_target!(|data: &[u8]| {
    let plain = match unwrap_signed(data) {
        Ok(Some((inner, _))) => inner,
        Ok(None) => data,
        Err(_) => return,
    };
    if let Ok(sb) = Superblock::from_bytes(plain) {
        check!(Checksum::of(&sb.commit) == sb.to, "decoded a superblock whose commit is not {}", sb.to);
        for (i, _) in &sb.inline_parts {
            check!(*i < sb.parts.len(), "inline part {i} without a header");
        }
        let enc = sb.to_bytes();
        match Superblock::from_bytes(&enc) {
            Ok(back) => check!(same(&back, &sb), "decode(encode(decode(b))) != decode(b)"),
            Err(e) => panic!("invariant failed: re-encoded superblock does not decode: {e}"),
        }
    }
});
