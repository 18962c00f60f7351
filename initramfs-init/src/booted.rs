//! `/run/ostree-booted`: the marker that tells ostree (and uptree) that
//! `/` is a deployment.
//!
//! ostree 2022.7 only checks that the file exists; newer ostree reads it
//! as a GVariant `a{sv}` and, when it has `backing-root-device-inode`
//! `(tt)`, compares that (device, inode) pair with each deployment
//! directory instead of `stat("/")`. We write what HEAD's
//! ostree-prepare-root writes without composefs, in its order:
//! `backing-root-device-inode`, `root.transient`, `root.transient-ro`,
//! `sysroot-ro`. An empty file would also parse (an empty array), but the
//! device/inode pair keeps working if `/` is ever not the plain bind mount.
//!
//! Pure: a tiny GVariant encoder for exactly these value types.

/// A value in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    /// `(tt)`: two u64, little-endian.
    U64Pair(u64, u64),
}

impl Value {
    fn data(&self) -> Vec<u8> {
        match self {
            Value::Bool(b) => vec![u8::from(*b)],
            Value::U64Pair(a, b) => [a.to_le_bytes(), b.to_le_bytes()].concat(),
        }
    }

    fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::U64Pair(..) => "(tt)",
        }
    }
}

/// Bytes per framing offset for a container whose body is `body` bytes
/// with `n` offsets (GVariant: the smallest width that can address the
/// whole container).
fn offset_width(body: usize, n: usize) -> usize {
    for w in [1usize, 2, 4] {
        if body + n * w < (1usize << (8 * w)) {
            return w;
        }
    }
    8
}

fn push_offset(out: &mut Vec<u8>, v: usize, width: usize) {
    out.extend_from_slice(&(v as u64).to_le_bytes()[..width]);
}

fn pad_to(out: &mut Vec<u8>, start: usize, align: usize) {
    while !(out.len() - start).is_multiple_of(align) {
        out.push(0);
    }
}

/// Serialise an `a{sv}` in GVariant normal form, entries in the given order.
pub fn encode_vardict(entries: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    for (key, value) in entries {
        // Dict entries {sv} are 8-aligned (the variant's alignment).
        pad_to(&mut out, 0, 8);
        let start = out.len();
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        let key_end = out.len() - start;
        pad_to(&mut out, start, 8);
        out.extend_from_slice(&value.data());
        out.push(0);
        out.extend_from_slice(value.signature().as_bytes());
        // One framing offset: where the key (not the last member) ends.
        let w = offset_width(out.len() - start, 1);
        push_offset(&mut out, key_end, w);
        ends.push(out.len());
    }
    let w = offset_width(out.len(), ends.len());
    for e in ends {
        push_offset(&mut out, e, w);
    }
    out
}

/// The contents of `/run/ostree-booted` for a bind-mounted deployment
/// whose directory has this (device, inode).
pub fn ostree_booted(deploy_dev: u64, deploy_ino: u64, sysroot_readonly: bool) -> Vec<u8> {
    encode_vardict(&[
        ("backing-root-device-inode", Value::U64Pair(deploy_dev, deploy_ino)),
        ("root.transient", Value::Bool(false)),
        ("root.transient-ro", Value::Bool(false)),
        ("sysroot-ro", Value::Bool(sysroot_readonly)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ostree_repo::gvariant::{self, build, Type, Value as GValue};

    fn reference(entries: &[(&str, Value)]) -> Vec<u8> {
        build::vardict(entries.iter().map(|(k, v)| {
            let gv = match v {
                Value::Bool(b) => GValue::Bool(*b),
                Value::U64Pair(a, b) => GValue::Tuple(vec![GValue::U64(*a), GValue::U64(*b)]),
            };
            (k.to_string(), gv)
        }))
        .to_bytes()
    }

    #[test]
    fn matches_the_gvariant_codec() {
        let bytes = ostree_booted(0xfe01, 0x1234_5678_9abc, false);
        let entries = [
            ("backing-root-device-inode", Value::U64Pair(0xfe01, 0x1234_5678_9abc)),
            ("root.transient", Value::Bool(false)),
            ("root.transient-ro", Value::Bool(false)),
            ("sysroot-ro", Value::Bool(false)),
        ];
        assert_eq!(bytes, reference(&entries));
        // And it decodes back to what we meant.
        let v = GValue::from_bytes_normal(&bytes, &Type::parse("a{sv}").expect("type")).expect("normal form");
        let got = gvariant::vardict_entries(&v);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, "backing-root-device-inode");
        assert_eq!(got[0].1, &GValue::Tuple(vec![GValue::U64(0xfe01), GValue::U64(0x1234_5678_9abc)]));
        assert_eq!(got[3], ("sysroot-ro", &GValue::Bool(false)));
        assert_eq!(encode_vardict(&[]), reference(&[]), "empty dict is empty");
        assert!(encode_vardict(&[]).is_empty());
    }

    #[test]
    fn wide_offsets_match_too() {
        // Keys long enough that entries and the array need 2-byte offsets.
        let long = "k".repeat(300);
        let entries = [(long.as_str(), Value::Bool(true)), ("x", Value::U64Pair(u64::MAX, 0))];
        assert_eq!(encode_vardict(&entries), reference(&entries));
        assert_eq!(offset_width(250, 1), 1);
        assert_eq!(offset_width(255, 1), 2);
        assert_eq!(offset_width(70000, 2), 4);
    }
}
