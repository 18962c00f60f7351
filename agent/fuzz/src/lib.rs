//! Helpers shared by the fuzz targets: structured inputs built with
//! `arbitrary` (GVariant types and values, ostree objects, names), and a
//! value comparison that treats doubles by their bits (NaN round-trips,
//! but is not `==` to itself).
//!
//! A target gets raw bytes from libFuzzer and uses them twice: as the bytes
//! a decoder is handed (a hostile repository, a corrupt flash), and through
//! [`Unstructured`] as the choices that build a valid value whose encoding
//! must decode back to it.

use arbitrary::{Result, Unstructured};
use ostree_repo::gvariant::{Type, Value};
use ostree_repo::object::{Checksum, DirMeta, DirTree, FileMeta, Xattrs, S_IFDIR, S_IFLNK, S_IFREG};

/// How deep generated types nest. GLib accepts 128; a handful is enough to
/// reach every framing case (the decoder's depth limit has its own target
/// input in the seed corpus).
pub const MAX_DEPTH: u32 = 5;

/// At most this many elements per generated array.
const MAX_ITEMS: usize = 6;

fn basic_type(u: &mut Unstructured) -> Result<Type> {
    Ok(match u.int_in_range(0..=12u8)? {
        0 => Type::Bool,
        1 => Type::Byte,
        2 => Type::I16,
        3 => Type::U16,
        4 => Type::I32,
        5 => Type::U32,
        6 => Type::I64,
        7 => Type::U64,
        8 => Type::Handle,
        9 => Type::Double,
        10 => Type::Str,
        11 => Type::ObjectPath,
        _ => Type::Signature,
    })
}

/// Any type the codec handles, at most `depth` containers deep.
pub fn any_type(u: &mut Unstructured, depth: u32) -> Result<Type> {
    if depth == 0 {
        return basic_type(u);
    }
    Ok(match u.int_in_range(0..=7u8)? {
        0 | 1 => basic_type(u)?,
        2 => Type::Variant,
        3 => Type::Array(Box::new(any_type(u, depth - 1)?)),
        4 => Type::Maybe(Box::new(any_type(u, depth - 1)?)),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Type::Tuple((0..n).map(|_| any_type(u, depth - 1)).collect::<Result<_>>()?)
        }
        6 => Type::Array(Box::new(Type::DictEntry(Box::new(basic_type(u)?), Box::new(any_type(u, depth - 1)?)))),
        _ => Type::Array(Box::new(Type::Byte)),
    })
}

/// A string with no NUL (GVariant strings are C strings).
pub fn c_string(u: &mut Unstructured) -> Result<String> {
    let s: String = u.arbitrary()?;
    Ok(s.replace('\0', ""))
}

fn items<T>(u: &mut Unstructured, mut f: impl FnMut(&mut Unstructured) -> Result<T>) -> Result<Vec<T>> {
    let n = u.int_in_range(0..=MAX_ITEMS)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if u.is_empty() {
            break;
        }
        out.push(f(u)?);
    }
    Ok(out)
}

/// A value of type `ty`, in the representation the decoder produces
/// (`ay` as [`Value::Bytes`]), with variants nesting at most `depth` deep.
pub fn value_of(u: &mut Unstructured, ty: &Type, depth: u32) -> Result<Value> {
    Ok(match ty {
        Type::Bool => Value::Bool(u.arbitrary()?),
        Type::Byte => Value::Byte(u.arbitrary()?),
        Type::I16 => Value::I16(u.arbitrary()?),
        Type::U16 => Value::U16(u.arbitrary()?),
        Type::I32 => Value::I32(u.arbitrary()?),
        Type::U32 => Value::U32(u.arbitrary()?),
        Type::I64 => Value::I64(u.arbitrary()?),
        Type::U64 => Value::U64(u.arbitrary()?),
        Type::Handle => Value::Handle(u.arbitrary()?),
        Type::Double => Value::Double(f64::from_bits(u.arbitrary()?)),
        Type::Str => Value::Str(c_string(u)?),
        Type::ObjectPath => Value::ObjectPath(c_string(u)?),
        Type::Signature => Value::Signature(c_string(u)?),
        Type::Variant => {
            let inner = any_type(u, depth.saturating_sub(1))?;
            Value::Variant(Box::new(value_of(u, &inner, depth.saturating_sub(1))?))
        }
        Type::Array(elem) if **elem == Type::Byte => {
            // Now and then a long one, so that the containers around it
            // need 2- and 4-byte framing offsets (inputs stay small).
            if u.ratio(1, 16)? {
                let n = u.int_in_range(200..=70_000)?;
                Value::Bytes(vec![u.arbitrary()?; n])
            } else {
                Value::Bytes(u.arbitrary()?)
            }
        }
        Type::Array(elem) => Value::Array((**elem).clone(), items(u, |u| value_of(u, elem, depth))?),
        Type::Maybe(elem) => {
            let inner = if u.arbitrary()? { Some(Box::new(value_of(u, elem, depth)?)) } else { None };
            Value::Maybe((**elem).clone(), inner)
        }
        Type::Tuple(members) => Value::Tuple(members.iter().map(|m| value_of(u, m, depth)).collect::<Result<_>>()?),
        Type::DictEntry(k, v) => Value::DictEntry(Box::new(value_of(u, k, depth)?), Box::new(value_of(u, v, depth)?)),
    })
}

/// Metadata as ostree stores it (`a{sv}` entries, values unwrapped from
/// their variant), keys non-empty.
pub fn vardict(u: &mut Unstructured) -> Result<Vec<(String, Value)>> {
    items(u, |u| {
        let mut key = c_string(u)?;
        if key.is_empty() {
            key.push('k');
        }
        let ty = any_type(u, MAX_DEPTH - 1)?;
        Ok((key, value_of(u, &ty, MAX_DEPTH - 1)?))
    })
}

/// Equality with doubles compared by bits.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Variant(x), Value::Variant(y)) => same(x, y),
        (Value::Array(tx, x), Value::Array(ty, y)) => tx == ty && same_all(x, y),
        (Value::Maybe(tx, x), Value::Maybe(ty, y)) => {
            tx == ty
                && match (x, y) {
                    (Some(x), Some(y)) => same(x, y),
                    (None, None) => true,
                    _ => false,
                }
        }
        (Value::Tuple(x), Value::Tuple(y)) => same_all(x, y),
        (Value::DictEntry(kx, vx), Value::DictEntry(ky, vy)) => same(kx, ky) && same(vx, vy),
        _ => a == b,
    }
}

pub fn same_all(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// [`same`] over decoded metadata lists.
pub fn same_dict(a: &[(String, Value)], b: &[(String, Value)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

pub fn checksum(u: &mut Unstructured) -> Result<Checksum> {
    Ok(Checksum(u.arbitrary()?))
}

/// A valid file name for a dirtree (what `validate_filename` accepts).
pub fn filename(u: &mut Unstructured) -> Result<String> {
    let mut s = c_string(u)?.replace('/', "_");
    if s.is_empty() || s == "." || s == ".." {
        s.push('x');
    }
    Ok(s)
}

/// Extended attributes as ostree stores them: names non-empty, no NUL,
/// sorted, unique; values non-empty (ostree drops empty ones when it
/// commits, so whether an encoder keeps them is not this invariant's
/// business).
pub fn xattrs(u: &mut Unstructured) -> Result<Xattrs> {
    let mut x: Xattrs = items(u, |u| {
        let mut name: Vec<u8> = u.arbitrary()?;
        name.retain(|&b| b != 0);
        if name.is_empty() {
            name.push(b'u');
        }
        let mut value: Vec<u8> = u.arbitrary()?;
        if value.is_empty() {
            value.push(b'v');
        }
        Ok((name, value))
    })?;
    x.sort_by(|a, b| a.0.cmp(&b.0));
    x.dedup_by(|a, b| a.0 == b.0);
    Ok(x)
}

pub fn dirmeta(u: &mut Unstructured) -> Result<DirMeta> {
    Ok(DirMeta { uid: u.arbitrary()?, gid: u.arbitrary()?, mode: S_IFDIR | (u.arbitrary::<u32>()? & 0o7777), xattrs: xattrs(u)? })
}

/// A valid dirtree: names valid, sorted and unique across files and
/// directories.
pub fn dirtree(u: &mut Unstructured) -> Result<DirTree> {
    let mut names: Vec<String> = items(u, filename)?;
    names.extend(items(u, filename)?);
    names.sort();
    names.dedup();
    let mut tree = DirTree::default();
    for name in names {
        if u.arbitrary()? {
            tree.files.push((name, checksum(u)?));
        } else {
            tree.dirs.push((name, checksum(u)?, checksum(u)?));
        }
    }
    Ok(tree)
}

/// A valid content-object header: a regular file or a symlink.
pub fn filemeta(u: &mut Unstructured) -> Result<FileMeta> {
    let perms = u.arbitrary::<u32>()? & 0o7777;
    let (mode, symlink_target) = if u.arbitrary()? {
        let mut t = c_string(u)?;
        if t.is_empty() {
            t.push('t');
        }
        (S_IFLNK | perms, t)
    } else {
        (S_IFREG | perms, String::new())
    };
    Ok(FileMeta { uid: u.arbitrary()?, gid: u.arbitrary()?, mode, symlink_target, xattrs: xattrs(u)? })
}

/// Report a broken invariant with the values involved (libFuzzer saves the
/// input as a crash artifact).
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            panic!("invariant failed: {}: {}", stringify!($cond), format!($($fmt)+));
        }
    };
}
