//! Directory listings `(a(say)a(sayay))`: what decodes (names valid,
//! sorted, unique) re-encodes to the same tree, normal-form bytes
//! re-encode to themselves, and a generated valid tree round-trips.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::Value;
use ostree_repo::object::{dirtree_type, validate_filename, DirTree};
use uptree_fuzz::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = DirTree::from_bytes(data) {
        for name in t.files.iter().map(|f| &f.0).chain(t.dirs.iter().map(|d| &d.0)) {
            check!(validate_filename(name).is_ok(), "decoded a hostile name {name:?}");
        }
        let enc = t.to_bytes();
        check!(DirTree::from_bytes(&enc).ok().as_ref() == Some(&t), "decode(encode(decode(b))) != decode(b) for {t:?}");
        if Value::from_bytes_normal(data, dirtree_type()).is_ok() {
            check!(enc == data, "normal-form dirtree re-encodes differently: {data:02x?} -> {enc:02x?}");
        }
    }
    if let Ok(t) = uptree_fuzz::dirtree(&mut Unstructured::new(data)) {
        let enc = t.to_bytes();
        check!(DirTree::from_bytes(&enc).ok().as_ref() == Some(&t), "decode(encode(x)) != x for {t:?}");
        check!(Value::from_bytes_normal(&enc, dirtree_type()).is_ok(), "encoding of {t:?} is not in normal form");
    }
});
