//! GVariant serialisation in normal form, for the types OSTree uses.
//!
//! Pure code over byte slices: [`Type::parse`] reads a type string,
//! [`Value::to_bytes`] serialises, [`Value::from_bytes`] deserialises and
//! rejects anything that is out of bounds. [`Value::from_bytes_normal`] also
//! rejects non-normal forms (by re-encoding and comparing), which is what
//! ostree requires of metadata it receives.
//!
//! Integers are written little-endian (what every ostree producer runs on);
//! OSTree's own big-endian fields (uid, gid, mode, timestamps) are byte-swapped
//! by the object layer, not here.

use std::fmt;

/// Error from decoding a serialised value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid GVariant type string {0:?}")]
    BadType(String),
    #[error("GVariant {ty}: {what}")]
    Malformed { ty: String, what: &'static str },
    #[error("GVariant {0} is not in normal form")]
    NotNormal(String),
}

fn malformed(ty: &Type, what: &'static str) -> Error {
    Error::Malformed { ty: ty.to_string(), what }
}

/// A GVariant type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Byte,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Handle,
    Double,
    Str,
    ObjectPath,
    Signature,
    Variant,
    Array(Box<Type>),
    Maybe(Box<Type>),
    Tuple(Vec<Type>),
    DictEntry(Box<Type>, Box<Type>),
}

impl Type {
    /// Parse a complete type string such as `(a{sv}aya(say)sstayay)`.
    pub fn parse(s: &str) -> Result<Type, Error> {
        let bytes = s.as_bytes();
        let (t, end) = Self::parse_at(bytes, 0).ok_or_else(|| Error::BadType(s.to_string()))?;
        if end != bytes.len() {
            return Err(Error::BadType(s.to_string()));
        }
        Ok(t)
    }

    fn parse_at(b: &[u8], i: usize) -> Option<(Type, usize)> {
        let c = *b.get(i)?;
        let basic = match c {
            b'b' => Some(Type::Bool),
            b'y' => Some(Type::Byte),
            b'n' => Some(Type::I16),
            b'q' => Some(Type::U16),
            b'i' => Some(Type::I32),
            b'u' => Some(Type::U32),
            b'x' => Some(Type::I64),
            b't' => Some(Type::U64),
            b'h' => Some(Type::Handle),
            b'd' => Some(Type::Double),
            b's' => Some(Type::Str),
            b'o' => Some(Type::ObjectPath),
            b'g' => Some(Type::Signature),
            b'v' => Some(Type::Variant),
            _ => None,
        };
        if let Some(t) = basic {
            return Some((t, i + 1));
        }
        match c {
            b'a' => {
                let (t, j) = Self::parse_at(b, i + 1)?;
                Some((Type::Array(Box::new(t)), j))
            }
            b'm' => {
                let (t, j) = Self::parse_at(b, i + 1)?;
                Some((Type::Maybe(Box::new(t)), j))
            }
            b'(' => {
                let mut members = Vec::new();
                let mut j = i + 1;
                while *b.get(j)? != b')' {
                    let (t, k) = Self::parse_at(b, j)?;
                    members.push(t);
                    j = k;
                }
                Some((Type::Tuple(members), j + 1))
            }
            b'{' => {
                let (k, j) = Self::parse_at(b, i + 1)?;
                if !k.is_basic() {
                    return None;
                }
                let (v, j) = Self::parse_at(b, j)?;
                if *b.get(j)? != b'}' {
                    return None;
                }
                Some((Type::DictEntry(Box::new(k), Box::new(v)), j + 1))
            }
            _ => None,
        }
    }

    fn is_basic(&self) -> bool {
        !matches!(self, Type::Variant | Type::Array(_) | Type::Maybe(_) | Type::Tuple(_) | Type::DictEntry(..))
    }

    /// Alignment in bytes (1, 2, 4 or 8).
    pub fn alignment(&self) -> usize {
        match self {
            Type::Bool | Type::Byte | Type::Str | Type::ObjectPath | Type::Signature => 1,
            Type::I16 | Type::U16 => 2,
            Type::I32 | Type::U32 | Type::Handle => 4,
            Type::I64 | Type::U64 | Type::Double | Type::Variant => 8,
            Type::Array(t) | Type::Maybe(t) => t.alignment(),
            Type::Tuple(m) => m.iter().map(Type::alignment).max().unwrap_or(1),
            Type::DictEntry(k, v) => k.alignment().max(v.alignment()),
        }
    }

    /// Size if every value of this type has the same size.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Bool | Type::Byte => Some(1),
            Type::I16 | Type::U16 => Some(2),
            Type::I32 | Type::U32 | Type::Handle => Some(4),
            Type::I64 | Type::U64 | Type::Double => Some(8),
            Type::Str | Type::ObjectPath | Type::Signature | Type::Variant | Type::Array(_) | Type::Maybe(_) => None,
            Type::Tuple(m) => tuple_fixed_size(m.iter()),
            Type::DictEntry(k, v) => tuple_fixed_size([k.as_ref(), v.as_ref()].into_iter()),
        }
    }
}

fn align_up(n: usize, a: usize) -> usize {
    (n + a - 1) & !(a - 1)
}

fn tuple_fixed_size<'a>(members: impl Iterator<Item = &'a Type> + Clone) -> Option<usize> {
    let mut size = 0;
    let mut align = 1;
    let mut any = false;
    for m in members {
        any = true;
        let fs = m.fixed_size()?;
        let a = m.alignment();
        align = align.max(a);
        size = align_up(size, a) + fs;
    }
    if !any {
        return Some(1); // the unit tuple is one zero byte
    }
    Some(align_up(size, align))
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = match self {
            Type::Bool => "b",
            Type::Byte => "y",
            Type::I16 => "n",
            Type::U16 => "q",
            Type::I32 => "i",
            Type::U32 => "u",
            Type::I64 => "x",
            Type::U64 => "t",
            Type::Handle => "h",
            Type::Double => "d",
            Type::Str => "s",
            Type::ObjectPath => "o",
            Type::Signature => "g",
            Type::Variant => "v",
            Type::Array(t) => return write!(f, "a{t}"),
            Type::Maybe(t) => return write!(f, "m{t}"),
            Type::Tuple(m) => {
                f.write_str("(")?;
                for t in m {
                    write!(f, "{t}")?;
                }
                return f.write_str(")");
            }
            Type::DictEntry(k, v) => return write!(f, "{{{k}{v}}}"),
        };
        f.write_str(c)
    }
}

/// A GVariant value. `Bytes` is the fast representation of `ay`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Handle(i32),
    Double(f64),
    Str(String),
    ObjectPath(String),
    Signature(String),
    Variant(Box<Value>),
    Bytes(Vec<u8>),
    /// Array with its element type (needed to encode an empty array).
    Array(Type, Vec<Value>),
    Maybe(Type, Option<Box<Value>>),
    Tuple(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
}

impl Value {
    /// The type of this value.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Byte(_) => Type::Byte,
            Value::I16(_) => Type::I16,
            Value::U16(_) => Type::U16,
            Value::I32(_) => Type::I32,
            Value::U32(_) => Type::U32,
            Value::I64(_) => Type::I64,
            Value::U64(_) => Type::U64,
            Value::Handle(_) => Type::Handle,
            Value::Double(_) => Type::Double,
            Value::Str(_) => Type::Str,
            Value::ObjectPath(_) => Type::ObjectPath,
            Value::Signature(_) => Type::Signature,
            Value::Variant(_) => Type::Variant,
            Value::Bytes(_) => Type::Array(Box::new(Type::Byte)),
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
            Value::Maybe(t, _) => Type::Maybe(Box::new(t.clone())),
            Value::Tuple(m) => Type::Tuple(m.iter().map(Value::type_of).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_of()), Box::new(v.type_of())),
        }
    }

    /// Serialise in normal form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Append the serialisation to `out`. The value starts at `out.len()`,
    /// which must be aligned to this value's alignment relative to the
    /// start of the outermost value (true for any fresh or fully built Vec).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Byte(b) => out.push(*b),
            Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I32(v) | Value::Handle(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::Variant(child) => {
                child.write_to(out);
                out.push(0);
                out.extend_from_slice(child.type_of().to_string().as_bytes());
            }
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Array(elem, items) => {
                let start = out.len();
                if elem.fixed_size().is_some() {
                    for it in items {
                        it.write_to(out);
                    }
                } else {
                    let align = elem.alignment();
                    let mut ends = Vec::with_capacity(items.len());
                    for it in items {
                        pad_to(out, start, align);
                        it.write_to(out);
                        ends.push(out.len() - start);
                    }
                    write_offsets(out, start, &ends);
                }
            }
            Value::Maybe(elem, inner) => {
                if let Some(v) = inner {
                    v.write_to(out);
                    if elem.fixed_size().is_none() {
                        out.push(0);
                    }
                }
            }
            Value::Tuple(members) => write_tuple(out, members.iter()),
            Value::DictEntry(k, v) => write_tuple(out, [k.as_ref(), v.as_ref()].into_iter()),
        }
    }

    /// Deserialise `data` as `ty`. Framing errors are reported; use
    /// [`Value::from_bytes_normal`] to also insist on normal form.
    pub fn from_bytes(data: &[u8], ty: &Type) -> Result<Value, Error> {
        decode(data, ty)
    }

    /// Deserialise and require that `data` is exactly the normal form.
    pub fn from_bytes_normal(data: &[u8], ty: &Type) -> Result<Value, Error> {
        let v = decode(data, ty)?;
        if v.to_bytes() != data {
            return Err(Error::NotNormal(ty.to_string()));
        }
        Ok(v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Unwrap one level of `v`.
    pub fn unvariant(&self) -> &Value {
        match self {
            Value::Variant(v) => v,
            other => other,
        }
    }
}

fn pad_to(out: &mut Vec<u8>, start: usize, align: usize) {
    let rel = out.len() - start;
    out.resize(start + align_up(rel, align), 0);
}

fn write_tuple<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = &'a Value> + Clone) {
    let start = out.len();
    let types: Vec<Type> = members.clone().map(Value::type_of).collect();
    if types.is_empty() {
        out.push(0);
        return;
    }
    let fixed = tuple_fixed_size(types.iter());
    let n = types.len();
    let mut ends = Vec::new();
    for (i, (m, t)) in members.zip(types.iter()).enumerate() {
        pad_to(out, start, t.alignment());
        m.write_to(out);
        if t.fixed_size().is_none() && i + 1 != n {
            ends.push(out.len() - start);
        }
    }
    if let Some(size) = fixed {
        out.resize(start + size, 0);
        return;
    }
    ends.reverse();
    write_offsets(out, start, &ends);
}

/// Width of framing offsets for a container whose body is `body` bytes and
/// which carries `n` offsets.
pub fn offset_width_for_body(body: usize, n: usize) -> usize {
    if body + n <= 0xff {
        1
    } else if body + 2 * n <= 0xffff {
        2
    } else if body as u64 + 4 * n as u64 <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// Width of framing offsets inside a container of total size `size`.
pub fn offset_width_for_size(size: usize) -> usize {
    if size == 0 {
        0
    } else if size <= 0xff {
        1
    } else if size <= 0xffff {
        2
    } else if size as u64 <= 0xffff_ffff {
        4
    } else {
        8
    }
}

fn write_offsets(out: &mut Vec<u8>, start: usize, ends: &[usize]) {
    if ends.is_empty() {
        return;
    }
    let w = offset_width_for_body(out.len() - start, ends.len());
    for &e in ends {
        out.extend_from_slice(&(e as u64).to_le_bytes()[..w]);
    }
}

fn read_offset(data: &[u8], pos: usize, w: usize) -> usize {
    let mut buf = [0u8; 8];
    buf[..w].copy_from_slice(&data[pos..pos + w]);
    u64::from_le_bytes(buf) as usize
}

/// Split a serialised array of variable-size elements into element slices.
pub fn array_elements<'a>(data: &'a [u8], elem: &Type) -> Result<Vec<&'a [u8]>, Error> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let ty = || Type::Array(Box::new(elem.clone()));
    if let Some(fs) = elem.fixed_size() {
        if !data.len().is_multiple_of(fs) {
            return Err(malformed(&ty(), "length is not a multiple of the element size"));
        }
        return Ok(data.chunks(fs).collect());
    }
    let w = offset_width_for_size(data.len());
    let last_end = read_offset(data, data.len() - w, w);
    if last_end > data.len() - w {
        return Err(malformed(&ty(), "framing offset out of range"));
    }
    let table = data.len() - last_end;
    if !table.is_multiple_of(w) {
        return Err(malformed(&ty(), "framing table size"));
    }
    let n = table / w;
    let align = elem.alignment();
    let mut out = Vec::with_capacity(n);
    let mut prev_end = 0usize;
    for i in 0..n {
        let end = read_offset(data, last_end + i * w, w);
        let start = align_up(prev_end, align);
        if start > end || end > last_end {
            return Err(malformed(&ty(), "element bounds"));
        }
        out.push(&data[start..end]);
        prev_end = end;
    }
    Ok(out)
}

/// Split a serialised tuple into member slices.
pub fn tuple_members<'a>(data: &'a [u8], members: &[Type]) -> Result<Vec<&'a [u8]>, Error> {
    let ty = || Type::Tuple(members.to_vec());
    if members.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(fs) = tuple_fixed_size(members.iter()) {
        if data.len() != fs {
            return Err(malformed(&ty(), "fixed-size tuple has the wrong length"));
        }
    }
    let w = offset_width_for_size(data.len());
    let mut out = Vec::with_capacity(members.len());
    let mut pos = 0usize;
    // Offsets are stored at the end, in reverse member order.
    let mut offsets_used = 0usize;
    let n = members.len();
    for (i, m) in members.iter().enumerate() {
        pos = align_up(pos, m.alignment());
        let end = if let Some(fs) = m.fixed_size() {
            pos + fs
        } else if i + 1 == n {
            data.len().checked_sub(offsets_used * w).ok_or_else(|| malformed(&ty(), "framing table larger than tuple"))?
        } else {
            offsets_used += 1;
            let at = data.len().checked_sub(offsets_used * w).ok_or_else(|| malformed(&ty(), "framing table larger than tuple"))?;
            read_offset(data, at, w)
        };
        let limit = data.len().saturating_sub(offsets_used * w);
        if pos > end || end > limit {
            return Err(malformed(&ty(), "member bounds"));
        }
        out.push(&data[pos..end]);
        pos = end;
    }
    Ok(out)
}

fn fixed<const N: usize>(data: &[u8], ty: &Type) -> Result<[u8; N], Error> {
    data.try_into().map_err(|_| malformed(ty, "wrong size for fixed type"))
}

fn string(data: &[u8], ty: &Type) -> Result<String, Error> {
    match data.split_last() {
        Some((0, body)) if !body.contains(&0) => std::str::from_utf8(body).map(str::to_string).map_err(|_| malformed(ty, "string is not UTF-8")),
        _ => Err(malformed(ty, "string is not NUL-terminated or has an inner NUL")),
    }
}

fn decode(data: &[u8], ty: &Type) -> Result<Value, Error> {
    Ok(match ty {
        Type::Bool => match fixed::<1>(data, ty)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return Err(malformed(ty, "boolean is not 0 or 1")),
        },
        Type::Byte => Value::Byte(fixed::<1>(data, ty)?[0]),
        Type::I16 => Value::I16(i16::from_le_bytes(fixed(data, ty)?)),
        Type::U16 => Value::U16(u16::from_le_bytes(fixed(data, ty)?)),
        Type::I32 => Value::I32(i32::from_le_bytes(fixed(data, ty)?)),
        Type::Handle => Value::Handle(i32::from_le_bytes(fixed(data, ty)?)),
        Type::U32 => Value::U32(u32::from_le_bytes(fixed(data, ty)?)),
        Type::I64 => Value::I64(i64::from_le_bytes(fixed(data, ty)?)),
        Type::U64 => Value::U64(u64::from_le_bytes(fixed(data, ty)?)),
        Type::Double => Value::Double(f64::from_le_bytes(fixed(data, ty)?)),
        Type::Str => Value::Str(string(data, ty)?),
        Type::ObjectPath => Value::ObjectPath(string(data, ty)?),
        Type::Signature => Value::Signature(string(data, ty)?),
        Type::Variant => {
            let sep = data.iter().rposition(|&b| b == 0).ok_or_else(|| malformed(ty, "variant without type separator"))?;
            let tstr = std::str::from_utf8(&data[sep + 1..]).map_err(|_| malformed(ty, "variant type is not ASCII"))?;
            let inner_ty = Type::parse(tstr)?;
            Value::Variant(Box::new(decode(&data[..sep], &inner_ty)?))
        }
        Type::Array(elem) if **elem == Type::Byte => Value::Bytes(data.to_vec()),
        Type::Array(elem) => {
            let items = array_elements(data, elem)?.into_iter().map(|d| decode(d, elem)).collect::<Result<_, _>>()?;
            Value::Array((**elem).clone(), items)
        }
        Type::Maybe(elem) => {
            if data.is_empty() {
                Value::Maybe((**elem).clone(), None)
            } else if elem.fixed_size().is_some() {
                Value::Maybe((**elem).clone(), Some(Box::new(decode(data, elem)?)))
            } else {
                match data.split_last() {
                    Some((0, body)) => Value::Maybe((**elem).clone(), Some(Box::new(decode(body, elem)?))),
                    _ => return Err(malformed(ty, "maybe without trailing zero")),
                }
            }
        }
        Type::Tuple(members) => {
            if members.is_empty() {
                if data != [0] {
                    return Err(malformed(ty, "unit must be one zero byte"));
                }
                return Ok(Value::Tuple(Vec::new()));
            }
            let parts = tuple_members(data, members)?;
            Value::Tuple(parts.into_iter().zip(members).map(|(d, t)| decode(d, t)).collect::<Result<_, _>>()?)
        }
        Type::DictEntry(k, v) => {
            let members = [(**k).clone(), (**v).clone()];
            let parts = tuple_members(data, &members)?;
            Value::DictEntry(Box::new(decode(parts[0], k)?), Box::new(decode(parts[1], v)?))
        }
    })
}

/// Convenience builders for the shapes OSTree uses.
pub mod build {
    use super::{Type, Value};

    pub fn s(v: impl Into<String>) -> Value {
        Value::Str(v.into())
    }

    pub fn ay(v: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(v.into())
    }

    pub fn variant(v: Value) -> Value {
        Value::Variant(Box::new(v))
    }

    /// `a{sv}` from key/value pairs, in the given order.
    pub fn vardict(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
        Value::Array(
            Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant)),
            entries.into_iter().map(|(k, v)| Value::DictEntry(Box::new(Value::Str(k)), Box::new(variant(v)))).collect(),
        )
    }

    pub fn strv<S: AsRef<str>>(items: &[S]) -> Value {
        Value::Array(Type::Str, items.iter().map(|s| Value::Str(s.as_ref().to_string())).collect())
    }
}

/// Read an `a{sv}` into (key, value) pairs, values unwrapped from their variant.
pub fn vardict_entries(v: &Value) -> Vec<(&str, &Value)> {
    match v {
        Value::Array(_, items) => items
            .iter()
            .filter_map(|e| match e {
                Value::DictEntry(k, v) => Some((k.as_str()?, v.unvariant())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// GVariant text format (as `g_variant_print` with type annotations off),
/// used by `show` and `ls -X` output.
pub fn print(v: &Value) -> String {
    let mut s = String::new();
    print_into(v, &mut s);
    s
}

fn quote(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c)
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
}

fn print_into(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(b) => {
            let _ = write!(out, "0x{b:02x}");
        }
        Value::I16(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U16(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I32(n) | Value::Handle(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Double(n) => {
            let _ = write!(out, "{n:?}");
        }
        Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => quote(s, out),
        Value::Variant(inner) => {
            out.push('<');
            print_into(inner, out);
            out.push('>');
        }
        Value::Bytes(b) => {
            // A printable NUL-terminated byte string prints as b'...'.
            if let Some((0, body)) = b.split_last() {
                if body.iter().all(|&c| (0x20..0x7f).contains(&c)) {
                    out.push_str("b'");
                    for &c in body {
                        if c == b'\'' || c == b'\\' {
                            out.push('\\');
                        }
                        out.push(c as char);
                    }
                    out.push('\'');
                    return;
                }
            }
            out.push('[');
            for (i, c) in b.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "0x{c:02x}");
            }
            out.push(']');
        }
        Value::Array(elem, items) => {
            let dict = matches!(elem, Type::DictEntry(..));
            out.push(if dict { '{' } else { '[' });
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_into(it, out);
            }
            out.push(if dict { '}' } else { ']' });
        }
        Value::Maybe(_, inner) => match inner {
            None => out.push_str("nothing"),
            Some(v) => print_into(v, out),
        },
        Value::Tuple(m) => {
            out.push('(');
            for (i, it) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_into(it, out);
            }
            if m.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::DictEntry(k, v) => {
            print_into(k, out);
            out.push_str(": ");
            print_into(v, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn t(s: &str) -> Type {
        Type::parse(s).expect("valid type")
    }

    #[test]
    fn type_strings_roundtrip() {
        for s in ["(a{sv}aya(say)sstayay)", "(a(say)a(sayay))", "(uuua(ayay))", "(tuuuusa(ayay))", "(a(s(taya{sv}))a{sv})", "maay", "()"] {
            assert_eq!(t(s).to_string(), s);
        }
        assert!(Type::parse("(a").is_err());
        assert!(Type::parse("{vs}").is_err());
        assert!(Type::parse("uu").is_err());
    }

    #[test]
    fn sizes_and_alignment() {
        assert_eq!(t("(uuu)").fixed_size(), Some(12));
        assert_eq!(t("(yu)").fixed_size(), Some(8));
        assert_eq!(t("()").fixed_size(), Some(1));
        assert_eq!(t("(ty)").fixed_size(), Some(16));
        assert_eq!(t("(uuuusa(ayay))").fixed_size(), None);
        assert_eq!(t("a{sv}").alignment(), 8);
        let v = Value::Tuple(vec![Value::Byte(1), Value::U32(2)]);
        assert_eq!(v.to_bytes(), [1, 0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn two_byte_offsets() {
        // spec §2.3: as ["x"*300] -> body 301, W=2, total 303
        let v = strv(&["x".repeat(300)]);
        let b = v.to_bytes();
        assert_eq!(b.len(), 303);
        assert_eq!(&b[301..], &[0x2d, 0x01]);
        assert_eq!(Value::from_bytes_normal(&b, &t("as")).expect("decode"), v);
    }

    #[test]
    fn variant_and_maybe() {
        let v = variant(s("1.0"));
        assert_eq!(v.to_bytes(), b"1.0\0\0s");
        assert_eq!(Value::from_bytes_normal(b"1.0\0\0s", &Type::Variant).expect("decode"), v);
        let m = Value::Maybe(Type::Str, Some(Box::new(s("a"))));
        assert_eq!(m.to_bytes(), b"a\0\0");
        let n = Value::Maybe(Type::U32, None);
        assert!(n.to_bytes().is_empty());
    }

    #[test]
    fn non_normal_is_rejected() {
        // A boolean 2, an un-terminated string, offsets pointing outside.
        assert!(Value::from_bytes(&[2], &Type::Bool).is_err());
        assert!(Value::from_bytes(b"ab", &Type::Str).is_err());
        assert!(Value::from_bytes(&[b'a', 0, 9], &t("as")).is_err());
        // Valid framing but a padded (non-normal) struct: (yu) with junk padding.
        let junk = [1u8, 7, 0, 0, 2, 0, 0, 0];
        assert!(Value::from_bytes(&junk, &t("(yu)")).is_ok());
        assert!(matches!(Value::from_bytes_normal(&junk, &t("(yu)")), Err(Error::NotNormal(_))));
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let types = ["(a{sv}aya(say)sstayay)", "(a(say)a(sayay))", "(uuua(ayay))", "(tuuuusa(ayay))", "a{sv}", "v", "(a(s(taya{sv}))a{sv})"];
        let mut seed = 0x1234_5678_u64;
        for ty in types {
            let ty = t(ty);
            for len in 0..80 {
                for _ in 0..40 {
                    let data: Vec<u8> = (0..len)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            (seed >> 24) as u8
                        })
                        .collect();
                    if let Ok(v) = Value::from_bytes(&data, &ty) {
                        // Whatever decodes must re-encode and decode to the same value.
                        let again = Value::from_bytes(&v.to_bytes(), &ty).expect("re-encoded value decodes");
                        assert_eq!(format!("{again:?}"), format!("{v:?}"));
                    }
                }
            }
        }
    }

    #[test]
    fn text_format() {
        let d = vardict([("version".to_string(), s("1.0")), ("ostree.ref-binding".to_string(), strv(&["test/main"]))]);
        assert_eq!(print(&d), "{'version': <'1.0'>, 'ostree.ref-binding': <['test/main']>}");
    }
}
