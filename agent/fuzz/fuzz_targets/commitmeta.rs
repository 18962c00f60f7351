//! Detached commit metadata (`.commitmeta`, `summary.sig`): `a{sv}` with
//! variants of any type, as `pull` decodes it for signatures. What decodes
//! re-encodes to bytes that decode the same; normal-form bytes re-encode to
//! themselves; generated metadata round-trips through the vardict helpers.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::{build, vardict_entries, Value};
use ostree_repo::object::vardict_type;
use uptree_fuzz::{check, same, same_dict, vardict};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = Value::from_bytes(data, vardict_type()) {
        let entries: Vec<(String, Value)> = vardict_entries(&v).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let rebuilt = build::vardict(entries.iter().cloned());
        check!(same(&rebuilt, &v), "vardict_entries/build::vardict lose something: {v:?} vs {rebuilt:?}");
        let enc = v.to_bytes();
        if Value::from_bytes_normal(data, vardict_type()).is_ok() {
            check!(enc == data, "normal-form a{{sv}} re-encodes differently");
        }
        // What `ostree show --print-detached-metadata` style printing does
        // with hostile strings must not panic either.
        let _ = ostree_repo::gvariant::print(&v);
    }
    if let Ok(entries) = vardict(&mut Unstructured::new(data)) {
        let enc = build::vardict(entries.iter().cloned()).to_bytes();
        match Value::from_bytes_normal(&enc, vardict_type()) {
            Ok(v) => {
                let back: Vec<(String, Value)> = vardict_entries(&v).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
                check!(same_dict(&back, &entries), "decode(encode(x)) != x: {entries:?} vs {back:?}");
            }
            Err(e) => panic!("invariant failed: encoding of {entries:?} does not decode: {e}"),
        }
    }
});
