//! Repository summaries `(a(s(taya{sv}))a{sv})`: what decodes (ref names
//! valid, checksums 32 bytes) re-encodes to a summary that decodes the
//! same, normal-form bytes re-encode to themselves, a generated summary
//! round-trips.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::{Type, Value};
use ostree_repo::object::validate_ref_name;
use ostree_repo::summary::{Summary, SummaryRef};
use uptree_fuzz::{check, checksum, same_dict, vardict};

fn same_summary(a: &Summary, b: &Summary) -> bool {
    same_dict(&a.metadata, &b.metadata)
        && a.refs.len() == b.refs.len()
        && a.refs
            .iter()
            .zip(&b.refs)
            .all(|(x, y)| (&x.name, x.commit_size, x.checksum) == (&y.name, y.commit_size, y.checksum) && same_dict(&x.metadata, &y.metadata))
}

fn ref_name(u: &mut Unstructured) -> arbitrary::Result<String> {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    const REST: &[u8] = b"abz09_-./";
    let mut s = String::new();
    for _ in 0..u.int_in_range(1..=3)? {
        if !s.is_empty() {
            s.push('/');
        }
        s.push(char::from(*u.choose(FIRST)?));
        for _ in 0..u.int_in_range(0..=4)? {
            let c = *u.choose(REST)?;
            if c != b'/' {
                s.push(char::from(c));
            }
        }
    }
    Ok(s)
}

fn generated(u: &mut Unstructured) -> arbitrary::Result<Summary> {
    let mut refs = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        refs.push(SummaryRef { name: ref_name(u)?, commit_size: u.arbitrary()?, checksum: checksum(u)?, metadata: vardict(u)? });
    }
    Ok(Summary { refs, metadata: vardict(u)? })
}

fuzz_target!(|data: &[u8]| {
    let ty = Type::parse("(a(s(taya{sv}))a{sv})").expect("static type");
    if let Ok(s) = Summary::from_bytes(data) {
        for r in &s.refs {
            check!(validate_ref_name(&r.name).is_ok(), "decoded an invalid ref name {:?}", r.name);
        }
        let enc = s.to_bytes();
        match Summary::from_bytes(&enc) {
            Ok(back) => check!(same_summary(&back, &s), "decode(encode(decode(b))) != decode(b)"),
            Err(e) => panic!("invariant failed: re-encoded summary does not decode: {e}"),
        }
        if Value::from_bytes_normal(data, &ty).is_ok() {
            check!(enc == data, "normal-form summary re-encodes differently: {data:02x?} -> {enc:02x?}");
        }
    }
    if let Ok(s) = generated(&mut Unstructured::new(data)) {
        if s.refs.iter().all(|r| validate_ref_name(&r.name).is_ok()) {
            let enc = s.to_bytes();
            match Summary::from_bytes(&enc) {
                Ok(back) => check!(same_summary(&back, &s), "decode(encode(x)) != x: {s:?} vs {back:?}"),
                Err(e) => panic!("invariant failed: encoding of {s:?} does not decode: {e}"),
            }
        }
    }
});
