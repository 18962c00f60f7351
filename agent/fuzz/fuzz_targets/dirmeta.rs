//! Directory metadata `(uuua(ayay))` (also the bare-user `user.ostreemeta`
//! xattr): what decodes re-encodes to the same object, bytes in normal form
//! re-encode to themselves, and a generated valid dirmeta round-trips.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::Value;
use ostree_repo::object::{dirmeta_type, DirMeta, FileMeta};
use uptree_fuzz::check;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = DirMeta::from_bytes(data) {
        let enc = m.to_bytes();
        check!(DirMeta::from_bytes(&enc).ok().as_ref() == Some(&m), "decode(encode(decode(b))) != decode(b) for {m:?}");
        if Value::from_bytes_normal(data, dirmeta_type()).is_ok() {
            check!(enc == data, "normal-form dirmeta re-encodes differently: {data:02x?} -> {enc:02x?}");
        }
    }
    if let Ok(f) = FileMeta::from_bareuser_bytes(data) {
        let enc = f.bareuser_bytes();
        check!(FileMeta::from_bareuser_bytes(&enc).ok().as_ref() == Some(&f), "bare-user meta does not round-trip: {f:?}");
        if Value::from_bytes_normal(data, dirmeta_type()).is_ok() {
            check!(enc == data, "normal-form bare-user meta re-encodes differently");
        }
    }
    if let Ok(m) = uptree_fuzz::dirmeta(&mut Unstructured::new(data)) {
        let enc = m.to_bytes();
        check!(DirMeta::from_bytes(&enc).ok().as_ref() == Some(&m), "decode(encode(x)) != x for {m:?}");
        check!(Value::from_bytes_normal(&enc, dirmeta_type()).is_ok(), "encoding of {m:?} is not in normal form");
    }
});
