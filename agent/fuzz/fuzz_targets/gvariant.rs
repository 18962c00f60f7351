//! The GVariant codec, for every type ostree uses and for arbitrary types.
//!
//! Input: one selector byte, then the data.
//! * Raw: the data decoded as one of ostree's types (or, selector 0xff, as
//!   the type whose string ends the data after its last NUL, the way a
//!   variant carries it). Whatever decodes must re-encode to bytes that
//!   decode to the same value, and encoding is idempotent; bytes in normal
//!   form are exactly their re-encoding, and only those pass
//!   `from_bytes_normal`.
//! * Structured: the same bytes choose a type and a value of it;
//!   decode(encode(x)) == x in normal form, and the type string prints and
//!   parses back.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::{Type, Value};
use uptree_fuzz::{any_type, check, same, value_of, MAX_DEPTH};

/// Every type ostree serialises (ostree-format.md §2–4, plus the types
/// inside them that are decoded on their own).
const OSTREE_TYPES: &[&str] = &[
    "(a{sv}aya(say)sstayay)", // commit
    "(a(say)a(sayay))",       // dirtree
    "(uuua(ayay))",           // dirmeta, bare-user xattr
    "(uuuusa(ayay))",         // content header
    "(tuuuusa(ayay))",        // .filez header
    "(a(s(taya{sv}))a{sv})",  // summary
    "a{sv}",                  // commitmeta, summary.sig, metadata
    "v",
    "as",
    "aay",
    "a(ayay)",
    "(taya{sv})",
];

fn raw(selector: u8, data: &[u8]) {
    let ty = if selector == 0xff {
        // A type string chosen by the input: whatever Type::parse accepts
        // must print back to the same string.
        let Some(sep) = data.iter().rposition(|&b| b == 0) else { return };
        let Ok(s) = std::str::from_utf8(&data[sep + 1..]) else { return };
        let Ok(ty) = Type::parse(s) else { return };
        check!(ty.to_string() == s, "type {s:?} printed as {ty}");
        return raw_as(&ty, &data[..sep]);
    } else {
        OSTREE_TYPES[usize::from(selector) % OSTREE_TYPES.len()]
    };
    let ty = Type::parse(ty).expect("static type");
    raw_as(&ty, data);
}

fn raw_as(ty: &Type, data: &[u8]) {
    let normal = Value::from_bytes_normal(data, ty);
    let Ok(v) = Value::from_bytes(data, ty) else {
        check!(normal.is_err(), "{ty}: from_bytes_normal accepted what from_bytes refused");
        return;
    };
    check!(v.type_of() == *ty, "{ty}: decoded a value of type {}", v.type_of());
    let enc = v.to_bytes();
    let again = Value::from_bytes_normal(&enc, ty).unwrap_or_else(|e| panic!("invariant failed: {ty}: re-encoding does not decode: {e}"));
    check!(same(&again, &v), "{ty}: decode(encode(decode(b))) != decode(b): {v:?} vs {again:?}");
    check!(again.to_bytes() == enc, "{ty}: encoding is not idempotent");
    check!(normal.is_ok() == (enc == data), "{ty}: from_bytes_normal is {normal:?} but re-encoding equal: {}", enc == data);
}

fn structured(u: &mut Unstructured) -> arbitrary::Result<()> {
    let ty = any_type(u, MAX_DEPTH)?;
    let s = ty.to_string();
    check!(Type::parse(&s).ok().as_ref() == Some(&ty), "type {s:?} does not parse back");
    let v = value_of(u, &ty, MAX_DEPTH)?;
    check!(v.type_of() == ty, "generated a {} for {ty}", v.type_of());
    let enc = v.to_bytes();
    match Value::from_bytes_normal(&enc, &ty) {
        Ok(back) => check!(same(&back, &v), "{ty}: decode(encode(x)) != x: {v:?} -> {enc:02x?} -> {back:?}"),
        Err(e) => panic!("invariant failed: {ty}: encoding of {v:?} ({enc:02x?}) does not decode: {e}"),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    raw(selector, rest);
    let _ = structured(&mut Unstructured::new(data));
});
