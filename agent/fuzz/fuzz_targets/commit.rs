//! Commits `(a{sv}aya(say)sstayay)`: what decodes re-encodes to a commit
//! that decodes the same; normal-form bytes re-encode to themselves (when
//! the related-objects list is empty: uptree, like ostree, never writes
//! one); a generated commit round-trips.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::Value;
use ostree_repo::object::{commit_type, Commit};
use uptree_fuzz::{check, checksum, same_dict, vardict};

fn same_commit(a: &Commit, b: &Commit) -> bool {
    same_dict(&a.metadata, &b.metadata)
        && (a.parent, &a.subject, &a.body, a.timestamp, a.root_tree, a.root_meta) == (b.parent, &b.subject, &b.body, b.timestamp, b.root_tree, b.root_meta)
}

fn generated(u: &mut Unstructured) -> arbitrary::Result<Commit> {
    Ok(Commit {
        metadata: vardict(u)?,
        parent: if u.arbitrary()? { Some(checksum(u)?) } else { None },
        subject: uptree_fuzz::c_string(u)?,
        body: uptree_fuzz::c_string(u)?,
        timestamp: u.arbitrary()?,
        root_tree: checksum(u)?,
        root_meta: checksum(u)?,
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Commit::from_bytes(data) {
        let enc = c.to_bytes();
        match Commit::from_bytes(&enc) {
            Ok(back) => check!(same_commit(&back, &c), "decode(encode(decode(b))) != decode(b): {c:?} vs {back:?}"),
            Err(e) => panic!("invariant failed: re-encoded commit does not decode: {e}"),
        }
        if let Ok(Value::Tuple(m)) = Value::from_bytes_normal(data, commit_type()) {
            if matches!(&m[2], Value::Array(_, related) if related.is_empty()) {
                check!(enc == data, "normal-form commit re-encodes differently: {data:02x?} -> {enc:02x?}");
            }
        }
    }
    if let Ok(c) = generated(&mut Unstructured::new(data)) {
        let enc = c.to_bytes();
        match Commit::from_bytes(&enc) {
            Ok(back) => check!(same_commit(&back, &c), "decode(encode(x)) != x: {c:?} vs {back:?}"),
            Err(e) => panic!("invariant failed: encoding of {c:?} does not decode: {e}"),
        }
        check!(Value::from_bytes_normal(&enc, commit_type()).is_ok(), "commit encoding is not in normal form");
    }
});
