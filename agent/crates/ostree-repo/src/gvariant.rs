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
//!
//! Decoding is bounded, because every object a pull receives comes through
//! here before anything else looks at it: nesting deeper than GLib allows
//! ([`MAX_DEPTH`]) is refused as not normal form, exactly where GLib's
//! `g_variant_is_normal_form` refuses it, so recursion never goes deeper than
//! that; and one decode produces at most [`MAX_NODES`] values, counted before
//! anything is allocated, so a small input cannot become gigabytes of
//! [`Value`]s.

use std::fmt;

/// GLib's `G_VARIANT_MAX_RECURSION_DEPTH`: a value at this depth (the
/// outermost value is at depth 0) is not in normal form, and neither is a
/// type string nesting more containers than this.
pub const MAX_DEPTH: usize = 128;

/// Most values one decode may produce. `ay` counts as one value however
/// long; every other element counts, and so does every `Type` node parsed
/// from a variant's type string or kept by an array or maybe value. A
/// million covers a dirtree of over 300,000 entries while keeping a hostile
/// `ab` or `a()` (one byte per element, 64 bytes per decoded [`Value`]) to
/// tens of MiB.
pub const MAX_NODES: usize = 1 << 20;

/// Error from decoding a serialised value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid GVariant type string {0:?}")]
    BadType(String),
    #[error("GVariant {ty}: {what}")]
    Malformed { ty: String, what: &'static str },
    #[error("GVariant {0} is not in normal form")]
    NotNormal(String),
    #[error("GVariant nested more than {limit} levels deep is not in normal form ({ty} at depth {depth})", limit = MAX_DEPTH)]
    TooDeep { ty: String, depth: usize },
    #[error("GVariant {ty}: more than {limit} values in one object", limit = MAX_NODES)]
    TooManyValues { ty: String },
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
        let (t, end) = Self::parse_at(bytes, 0, MAX_DEPTH).ok_or_else(|| Error::BadType(s.to_string()))?;
        if end != bytes.len() {
            return Err(Error::BadType(s.to_string()));
        }
        Ok(t)
    }

    /// `limit` is how many more containers may open here: GLib's
    /// `g_variant_type_string_is_valid` accepts 128 nested `a` around a `y`
    /// and refuses 129, and the bound keeps this recursion shallow.
    pub(crate) fn parse_at(b: &[u8], i: usize, limit: usize) -> Option<(Type, usize)> {
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
        let limit = limit.checked_sub(1)?;
        match c {
            b'a' => {
                let (t, j) = Self::parse_at(b, i + 1, limit)?;
                Some((Type::Array(Box::new(t)), j))
            }
            b'm' => {
                let (t, j) = Self::parse_at(b, i + 1, limit)?;
                Some((Type::Maybe(Box::new(t)), j))
            }
            b'(' => {
                let mut members = Vec::new();
                let mut j = i + 1;
                while *b.get(j)? != b')' {
                    let (t, k) = Self::parse_at(b, j, limit)?;
                    members.push(t);
                    j = k;
                }
                Some((Type::Tuple(members), j + 1))
            }
            b'{' => {
                let (k, j) = Self::parse_at(b, i + 1, limit)?;
                if !k.is_basic() {
                    return None;
                }
                let (v, j) = Self::parse_at(b, j, limit)?;
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

    /// Nesting depth as GLib counts it (`g_variant_type_info_query_depth`):
    /// 1 for a basic type or `v`, 0 for `()`, otherwise one more than the
    /// deepest member. A variant at depth `d` holding this type is normal
    /// only if `d + depth < MAX_DEPTH`, even when the value is empty.
    pub fn depth(&self) -> usize {
        match self {
            Type::Array(t) | Type::Maybe(t) => 1 + t.depth(),
            Type::Tuple(m) => m.iter().map(|t| 1 + t.depth()).max().unwrap_or(0),
            Type::DictEntry(k, v) => 1 + k.depth().max(v.depth()),
            _ => 1,
        }
    }

    /// How many `Type` nodes this type is made of: what a copy of it costs.
    fn node_count(&self) -> usize {
        match self {
            Type::Array(t) | Type::Maybe(t) => 1 + t.node_count(),
            Type::Tuple(m) => m.iter().map(Type::node_count).fold(1, usize::saturating_add),
            Type::DictEntry(k, v) => 1usize.saturating_add(k.node_count()).saturating_add(v.node_count()),
            _ => 1,
        }
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
        Decoder { nodes_left: MAX_NODES }.decode(data, ty, 0)
    }

    /// Deserialise and require that `data` is exactly the normal form.
    pub fn from_bytes_normal(data: &[u8], ty: &Type) -> Result<Value, Error> {
        let v = Value::from_bytes(data, ty)?;
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
    // An offset a 32-bit usize cannot hold is out of range of any slice:
    // saturate so the caller's bounds check refuses it.
    usize::try_from(u64::from_le_bytes(buf)).unwrap_or(usize::MAX)
}

/// Split a serialised array of variable-size elements into element slices.
pub fn array_elements<'a>(data: &'a [u8], elem: &Type) -> Result<Vec<&'a [u8]>, Error> {
    ArrayFrame::new(data, elem)?.collect()
}

/// The framing of a serialised array, checked; yields element slices one at
/// a time so a caller can refuse the element count before allocating for it.
struct ArrayFrame<'a, 'b> {
    data: &'a [u8],
    elem: &'b Type,
    /// Element size for fixed-size elements, else the framing offset width.
    step: usize,
    fixed: bool,
    /// End of the element bodies (start of the framing table).
    body_end: usize,
    len: usize,
    next: usize,
    prev_end: usize,
}

impl<'a, 'b> ArrayFrame<'a, 'b> {
    fn new(data: &'a [u8], elem: &'b Type) -> Result<Self, Error> {
        let ty = || Type::Array(Box::new(elem.clone()));
        let mut f = ArrayFrame { data, elem, step: 0, fixed: false, body_end: 0, len: 0, next: 0, prev_end: 0 };
        if data.is_empty() {
            return Ok(f);
        }
        if let Some(fs) = elem.fixed_size() {
            if !data.len().is_multiple_of(fs) {
                return Err(malformed(&ty(), "length is not a multiple of the element size"));
            }
            f.fixed = true;
            f.step = fs;
            f.len = data.len() / fs;
            return Ok(f);
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
        f.step = w;
        f.body_end = last_end;
        f.len = table / w;
        Ok(f)
    }
}

impl<'a> Iterator for ArrayFrame<'a, '_> {
    type Item = Result<&'a [u8], Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.len {
            return None;
        }
        let i = self.next;
        self.next += 1;
        if self.fixed {
            return Some(Ok(&self.data[i * self.step..(i + 1) * self.step]));
        }
        let end = read_offset(self.data, self.body_end + i * self.step, self.step);
        let start = align_up(self.prev_end, self.elem.alignment());
        if start > end || end > self.body_end {
            self.next = self.len;
            return Some(Err(malformed(&Type::Array(Box::new(self.elem.clone())), "element bounds")));
        }
        self.prev_end = end;
        Some(Ok(&self.data[start..end]))
    }
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

/// One decode's budget: how many more values it may produce.
struct Decoder {
    nodes_left: usize,
}

impl Decoder {
    /// Account for `n` more values before allocating for them.
    fn reserve(&mut self, n: usize, ty: &Type) -> Result<(), Error> {
        self.nodes_left = self.nodes_left.checked_sub(n).ok_or_else(|| Error::TooManyValues { ty: ty.to_string() })?;
        Ok(())
    }

    /// Decode `data` as `ty`, found at nesting `depth` (the outermost value
    /// is at 0). Each value is accounted for by whoever allocates its slot:
    /// the outermost here, members and elements by their container before
    /// it allocates, so no allocation outgrows the budget.
    ///
    /// The recursion goes through this function and one small function per
    /// container kind, each kept out of line: one frame holding every arm's
    /// temporaries needed some 10 KiB per level in a debug build, so GLib's
    /// 128 levels overflowed even a 1 MiB thread stack.
    fn decode(&mut self, data: &[u8], ty: &Type, depth: usize) -> Result<Value, Error> {
        if depth == 0 {
            self.reserve(1, ty)?;
        }
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep { ty: ty.to_string(), depth });
        }
        match ty {
            Type::Variant => self.decode_variant(data, depth),
            Type::Array(elem) if **elem == Type::Byte => Ok(Value::Bytes(data.to_vec())),
            Type::Array(elem) => self.decode_array(data, elem, depth),
            Type::Maybe(elem) => self.decode_maybe(data, elem, depth),
            Type::Tuple(members) => self.decode_tuple(data, ty, members, depth),
            Type::DictEntry(k, v) => self.decode_dict_entry(data, ty, k, v, depth),
            _ => decode_basic(data, ty),
        }
    }

    #[inline(never)]
    fn decode_variant(&mut self, data: &[u8], depth: usize) -> Result<Value, Error> {
        let ty = &Type::Variant;
        let sep = data.iter().rposition(|&b| b == 0).ok_or_else(|| malformed(ty, "variant without type separator"))?;
        let tstr = std::str::from_utf8(&data[sep + 1..]).map_err(|_| malformed(ty, "variant type is not ASCII"))?;
        // A type costs up to one node per character while it is parsed,
        // and every array or maybe value inside keeps a copy of its element
        // type: both count against the budget, so a wide type string (a
        // tuple of a million members) cannot multiply memory either.
        self.reserve(tstr.len(), ty)?;
        let inner_ty = Type::parse(tstr)?;
        // GLib judges a variant by its type's depth, not by how deep the
        // (possibly empty) value inside actually goes.
        if depth.saturating_add(inner_ty.depth()) >= MAX_DEPTH {
            return Err(Error::TooDeep { ty: inner_ty.to_string(), depth: depth + 1 });
        }
        self.reserve(1, &inner_ty)?;
        Ok(Value::Variant(Box::new(self.decode(&data[..sep], &inner_ty, depth + 1)?)))
    }

    #[inline(never)]
    fn decode_array(&mut self, data: &[u8], elem: &Type, depth: usize) -> Result<Value, Error> {
        let frame = ArrayFrame::new(data, elem)?;
        self.reserve(frame.len.saturating_add(elem.node_count()), &Type::Array(Box::new(elem.clone())))?;
        let mut items = Vec::with_capacity(frame.len);
        for d in frame {
            items.push(self.decode(d?, elem, depth + 1)?);
        }
        Ok(Value::Array(elem.clone(), items))
    }

    #[inline(never)]
    fn decode_maybe(&mut self, data: &[u8], elem: &Type, depth: usize) -> Result<Value, Error> {
        self.reserve(elem.node_count(), elem)?;
        if data.is_empty() {
            return Ok(Value::Maybe(elem.clone(), None));
        }
        let body = match (elem.fixed_size(), data.split_last()) {
            (Some(_), _) => data,
            (None, Some((0, body))) => body,
            (None, _) => return Err(malformed(&Type::Maybe(Box::new(elem.clone())), "maybe without trailing zero")),
        };
        self.reserve(1, elem)?;
        Ok(Value::Maybe(elem.clone(), Some(Box::new(self.decode(body, elem, depth + 1)?))))
    }

    #[inline(never)]
    fn decode_tuple(&mut self, data: &[u8], ty: &Type, members: &[Type], depth: usize) -> Result<Value, Error> {
        if members.is_empty() {
            if data != [0] {
                return Err(malformed(ty, "unit must be one zero byte"));
            }
            return Ok(Value::Tuple(Vec::new()));
        }
        let parts = tuple_members(data, members)?;
        self.reserve(members.len(), ty)?;
        Ok(Value::Tuple(parts.into_iter().zip(members).map(|(d, t)| self.decode(d, t, depth + 1)).collect::<Result<_, _>>()?))
    }

    #[inline(never)]
    fn decode_dict_entry(&mut self, data: &[u8], ty: &Type, k: &Type, v: &Type, depth: usize) -> Result<Value, Error> {
        let parts = tuple_members(data, &[k.clone(), v.clone()])?;
        self.reserve(2, ty)?;
        Ok(Value::DictEntry(Box::new(self.decode(parts[0], k, depth + 1)?), Box::new(self.decode(parts[1], v, depth + 1)?)))
    }
}

/// Decode a value of a basic (non-container) type.
#[inline(never)]
fn decode_basic(data: &[u8], ty: &Type) -> Result<Value, Error> {
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
        _ => unreachable!("containers are decoded by Decoder"),
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

/// `[a, b]`, or `{k: v, …}` for an array of dict entries, each element
/// printed by `each` (given its index).
/// `(a, b)`, and `(a,)` for one member, each member printed by `each`.
fn print_tuple(items: &[Value], out: &mut String, mut each: impl FnMut(&Value, &mut String)) {
    out.push('(');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(it, out);
    }
    if items.len() == 1 {
        out.push(',');
    }
    out.push(')');
}

/// `key: value`, both printed by `each`.
fn print_entry(k: &Value, v: &Value, out: &mut String, mut each: impl FnMut(&Value, &mut String)) {
    each(k, out);
    out.push_str(": ");
    each(v, out);
}

fn print_array(elem: &Type, items: &[Value], out: &mut String, mut each: impl FnMut(usize, &Value, &mut String)) {
    let dict = matches!(elem, Type::DictEntry(..));
    out.push(if dict { '{' } else { '[' });
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(i, it, out);
    }
    out.push(if dict { '}' } else { ']' });
}

/// A double as GLib prints it: `g_ascii_dtostr` (C's `%.17g`: 17
/// significant digits, trailing zeros dropped, exponent from 1e-5 or
/// 1e17) and a `.0` when that left neither `.` nor an exponent.
fn glib_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() };
    let text = if !(-4..17).contains(&exp) {
        format!("{}e{}{:02}", trim(mantissa), if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
    } else {
        trim(&format!("{d:.*}", usize::try_from(16 - exp).unwrap_or(0)))
    };
    if text.contains(['.', 'e', 'n', 'N']) {
        text
    } else {
        text + ".0"
    }
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
        Value::Double(n) => out.push_str(&glib_double(*n)),
        Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => quote(s, out),
        // GLib annotates a variant's content whatever it was told.
        Value::Variant(inner) => {
            out.push('<');
            print_typed_into(inner, true, out);
            out.push('>');
        }
        // GLib annotates an empty array with its type even when told not to
        // annotate (`ls -X` prints `{ @a(ayay) [] }`), or it would not parse back.
        Value::Bytes(b) if b.is_empty() => out.push_str("@ay []"),
        Value::Array(elem, items) if items.is_empty() => {
            let _ = write!(out, "@a{elem} {}", if matches!(elem, Type::DictEntry(..)) { "{}" } else { "[]" });
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
        Value::Array(elem, items) => print_array(elem, items, out, |_, it, out| print_into(it, out)),
        Value::Maybe(_, inner) => match inner {
            None => out.push_str("nothing"),
            Some(v) => print_into(v, out),
        },
        Value::Tuple(m) => print_tuple(m, out, print_into),
        Value::DictEntry(k, v) => print_entry(k, v, out, print_into),
    }
}

/// GVariant text as `g_variant_print(v, FALSE)` prints it (`ostree summary
/// --view` for keys it does not know): like [`print`] but an empty array
/// outside a variant is a bare `[]` or `{}` (`map: {}`).
pub fn print_unannotated(v: &Value) -> String {
    let mut out = String::new();
    print_unannotated_into(v, &mut out);
    out
}

fn print_unannotated_into(v: &Value, out: &mut String) {
    match v {
        Value::Bytes(b) if b.is_empty() => out.push_str("[]"),
        Value::Array(elem, items) => print_array(elem, items, out, |_, it, out| print_unannotated_into(it, out)),
        Value::Maybe(_, Some(inner)) => print_unannotated_into(inner, out),
        Value::Tuple(m) => print_tuple(m, out, print_unannotated_into),
        Value::DictEntry(k, val) => print_entry(k, val, out, print_unannotated_into),
        other => print_into(other, out),
    }
}

/// GVariant text format with type annotations, as `g_variant_print(v, TRUE)`
/// (`ostree summary --raw`): numbers other than int32/double say their
/// type, an array's first element only, a variant's content again.
pub fn print_annotated(v: &Value) -> String {
    let mut s = String::new();
    print_typed_into(v, true, &mut s);
    s
}

fn print_typed_into(v: &Value, annotate: bool, out: &mut String) {
    let prefix = match v {
        Value::Byte(_) => "byte ",
        Value::I16(_) => "int16 ",
        Value::U16(_) => "uint16 ",
        Value::U32(_) => "uint32 ",
        Value::I64(_) => "int64 ",
        Value::U64(_) => "uint64 ",
        Value::Handle(_) => "handle ",
        Value::ObjectPath(_) => "objectpath ",
        Value::Signature(_) => "signature ",
        _ => "",
    };
    match v {
        Value::Variant(inner) => {
            out.push('<');
            print_typed_into(inner, true, out);
            out.push('>');
        }
        Value::Bytes(b) if !b.is_empty() => {
            let mut plain = String::new();
            print_into(v, &mut plain);
            if annotate && plain.starts_with('[') {
                out.push_str("[byte ");
                out.push_str(&plain[1..]);
            } else {
                out.push_str(&plain);
            }
        }
        Value::Bytes(_) => out.push_str(if annotate { "@ay []" } else { "[]" }),
        Value::Array(elem, items) if items.is_empty() => {
            let dict = matches!(elem, Type::DictEntry(..));
            if annotate {
                out.push_str(&format!("@a{elem} "));
            }
            out.push_str(if dict { "{}" } else { "[]" });
        }
        Value::Array(elem, items) => print_array(elem, items, out, |i, it, out| print_typed_into(it, annotate && i == 0, out)),
        Value::Maybe(t, None) => {
            if annotate {
                out.push_str(&format!("@m{t} "));
            }
            out.push_str("nothing");
        }
        Value::Maybe(_, Some(inner)) => {
            if matches!(**inner, Value::Maybe(..)) {
                out.push_str("just ");
            }
            print_typed_into(inner, annotate, out);
        }
        Value::Tuple(m) => print_tuple(m, out, |it, out| print_typed_into(it, annotate, out)),
        Value::DictEntry(k, val) => print_entry(k, val, out, |x, out| print_typed_into(x, annotate, out)),
        scalar => {
            if annotate {
                out.push_str(prefix);
            }
            print_into(scalar, out);
        }
    }
}

/// The value with every number byte-swapped, as `g_variant_byteswap`
/// (ostree prints big-endian summaries through it).
pub fn byteswap(v: &Value) -> Value {
    match v {
        Value::I16(n) => Value::I16(n.swap_bytes()),
        Value::U16(n) => Value::U16(n.swap_bytes()),
        Value::I32(n) => Value::I32(n.swap_bytes()),
        Value::U32(n) => Value::U32(n.swap_bytes()),
        Value::I64(n) => Value::I64(n.swap_bytes()),
        Value::U64(n) => Value::U64(n.swap_bytes()),
        Value::Handle(n) => Value::Handle(n.swap_bytes()),
        Value::Double(n) => Value::Double(f64::from_bits(n.to_bits().swap_bytes())),
        Value::Variant(inner) => Value::Variant(Box::new(byteswap(inner))),
        Value::Array(t, items) => Value::Array(t.clone(), items.iter().map(byteswap).collect()),
        Value::Maybe(t, inner) => Value::Maybe(t.clone(), inner.as_ref().map(|i| Box::new(byteswap(i)))),
        Value::Tuple(m) => Value::Tuple(m.iter().map(byteswap).collect()),
        Value::DictEntry(k, val) => Value::DictEntry(Box::new(byteswap(k)), Box::new(byteswap(val))),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn t(s: &str) -> Type {
        Type::parse(s).expect("valid type")
    }

    /// C's `%.17g` (as Python's `'%.17g' %`) with GLib's `.0`.
    #[test]
    fn doubles_print_as_glib() {
        for (d, want) in [
            (0.1, "0.10000000000000001"),
            (-2.5, "-2.5"),
            (1e20, "1e+20"),
            (100.0, "100.0"),
            (f64::from_bits(1216), "6.007838253429558e-321"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(print(&Value::Double(d)), want, "{d:?}");
        }
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

    /// Serialised bytes of `levels` variants nested around `leaf` (a
    /// serialised variant), outermost type `v`. Built by hand because
    /// encoding a value this deep would itself recurse that deep.
    fn nested_variants(levels: usize, leaf: &[u8]) -> Vec<u8> {
        let mut d = leaf.to_vec();
        for _ in 0..levels {
            d.extend_from_slice(b"\0v");
        }
        d
    }

    /// Wrap a serialised variant in `<[that]>` (a variant holding an `av`).
    fn wrap_av(mut d: Vec<u8>) -> Vec<u8> {
        let w = offset_width_for_body(d.len(), 1);
        let end = d.len() as u64;
        d.extend_from_slice(&end.to_le_bytes()[..w]);
        d.extend_from_slice(b"\0av");
        d
    }

    /// Wrap a serialised variant in `<{'k': that}>` (a variant holding an `a{sv}`).
    fn wrap_asv(inner: Vec<u8>) -> Vec<u8> {
        let mut e = b"k\0\0\0\0\0\0\0".to_vec();
        e.extend_from_slice(&inner);
        let w = offset_width_for_body(e.len(), 1);
        e.extend_from_slice(&2u64.to_le_bytes()[..w]);
        let w = offset_width_for_body(e.len(), 1);
        let end = e.len() as u64;
        e.extend_from_slice(&end.to_le_bytes()[..w]);
        e.extend_from_slice(b"\0a{sv}");
        e
    }

    fn is_too_deep(r: Result<Value, Error>) -> bool {
        matches!(r, Err(Error::TooDeep { .. }))
    }

    #[test]
    fn hand_built_nesting_matches_the_encoder() {
        let leaf = variant(Value::Byte(1));
        let av = variant(Value::Array(Type::Variant, vec![variant(Value::Array(Type::Variant, vec![leaf.clone()]))]));
        assert_eq!(wrap_av(wrap_av(leaf.to_bytes())), av.to_bytes());
        let asv = variant(vardict([("k".to_string(), vardict([("k".to_string(), Value::Byte(1))]))]));
        assert_eq!(wrap_asv(wrap_asv(leaf.to_bytes())), asv.to_bytes());
        assert_eq!(nested_variants(2, &leaf.to_bytes()), variant(variant(leaf)).to_bytes());
    }

    /// The boundaries below were read off GLib 2.74's
    /// `g_variant_is_normal_form` and `g_variant_type_string_is_valid` on
    /// the same bytes: depth 0 is the outermost value, a value at depth 128
    /// is refused, and a variant at depth d holding a type of depth t is
    /// refused unless d + t < 128 (even when the value inside is empty).
    #[test]
    fn nesting_limit_is_glibs() {
        let v = Type::Variant;
        // 127 variants (depths 0..=126) around a variant holding `y` at
        // depth 127+1: the `y` sits at 127 when 126 wrappers are used.
        let byte = b"\x01\0y";
        assert!(Value::from_bytes_normal(&nested_variants(126, byte), &v).is_ok());
        assert!(is_too_deep(Value::from_bytes_normal(&nested_variants(127, byte), &v)));
        assert!(is_too_deep(Value::from_bytes(&nested_variants(127, byte), &v)));
        // An empty `ay` has type depth 2: refused one level earlier.
        assert!(Value::from_bytes_normal(&nested_variants(125, b"\0ay"), &v).is_ok());
        assert!(is_too_deep(Value::from_bytes_normal(&nested_variants(126, b"\0ay"), &v)));
        // `()` has type depth 0, so an empty `a()` has depth 1.
        assert!(Value::from_bytes_normal(&nested_variants(126, b"\0a()"), &v).is_ok());
        assert!(is_too_deep(Value::from_bytes_normal(&nested_variants(127, b"\0a()"), &v)));
        // `(y)` has depth 2; `(())` has depth 1 but its `()` member sits one deeper.
        assert!(Value::from_bytes_normal(&nested_variants(125, b"\x01\0(y)"), &v).is_ok());
        assert!(is_too_deep(Value::from_bytes_normal(&nested_variants(126, b"\x01\0(y)"), &v)));
        assert!(Value::from_bytes_normal(&nested_variants(125, b"\0\0(())"), &v).is_ok());
        assert!(is_too_deep(Value::from_bytes_normal(&nested_variants(126, b"\0\0(())"), &v)));
        // Type strings: 128 containers around a basic type are valid, 129 are not.
        assert!(Type::parse(&format!("{}y", "a".repeat(128))).is_ok());
        assert!(Type::parse(&format!("{}y", "a".repeat(129))).is_err());
        assert!(Type::parse(&format!("{}y{}", "(".repeat(128), ")".repeat(128))).is_ok());
        assert!(Type::parse(&format!("{}y{}", "(".repeat(129), ")".repeat(129))).is_err());
    }

    /// A MiB of nesting of each shape (half that for type strings) is refused without overflowing a
    /// small thread stack: pull's workers get Rust's default 2 MiB, this
    /// gives the decoder a quarter of that, in a debug build (which needs
    /// some 300 KiB for GLib's deepest value; a release build far less).
    #[test]
    fn deep_nesting_is_refused_on_a_small_stack() {
        const MIB: usize = 1 << 20;
        let leaf = variant(Value::Byte(1)).to_bytes();
        let mut av = leaf.clone();
        while av.len() < MIB {
            av = wrap_av(av);
        }
        let mut asv = leaf.clone();
        while asv.len() < MIB {
            asv = wrap_asv(asv);
        }
        let vs = nested_variants(MIB / 2, &leaf);
        // Type strings under the value budget, so the nesting is what refuses them.
        let levels = MIB / 4;
        let mut tuples = b"\x01\0".to_vec();
        tuples.extend(std::iter::repeat_n(b'(', levels).chain([b'y']).chain(std::iter::repeat_n(b')', levels)));
        let arrays = [b"\0".as_slice(), &vec![b'a'; MIB / 2], b"y"].concat();
        // The deepest value GLib accepts must still decode on that stack.
        let deepest = nested_variants(126, b"\x01\0y");
        let worker = std::thread::Builder::new().stack_size(512 * 1024);
        worker
            .spawn(move || {
                for data in [&av, &asv, &vs] {
                    assert!(is_too_deep(Value::from_bytes_normal(data, &Type::Variant)));
                }
                for data in [&tuples, &arrays] {
                    assert!(matches!(Value::from_bytes_normal(data, &Type::Variant), Err(Error::BadType(_))));
                }
                assert!(Value::from_bytes_normal(&deepest, &Type::Variant).is_ok());
            })
            .expect("spawn")
            .join()
            .expect("decoding deep input on a small stack");
    }

    /// One byte per element must not become one 64-byte `Value` per byte:
    /// past `MAX_NODES` the decode is refused before allocating for it.
    #[test]
    fn value_count_is_bounded() {
        let big = vec![0u8; 2 * MAX_NODES];
        for ty in ["ab", "a()", "a(yy)"] {
            let r = Value::from_bytes(&big, &t(ty));
            assert!(matches!(r, Err(Error::TooManyValues { .. })), "{ty}: {:?}", r.map(|_| "decoded"));
        }
        assert!(Value::from_bytes_normal(&big, &t("ay")).is_ok(), "ay stays one value");
        // The outer array, its copy of the element type and its elements
        // count: MAX_NODES - 2 bools fit.
        assert!(Value::from_bytes_normal(&big[..MAX_NODES - 2], &t("ab")).is_ok());
        assert!(matches!(Value::from_bytes(&big[..MAX_NODES - 1], &t("ab")), Err(Error::TooManyValues { .. })));
        // `av` of tiny variants: each element is a variant and its unit.
        let tiny = Value::Array(Type::Variant, vec![variant(Value::Tuple(Vec::new())); MAX_NODES / 2 + 1]);
        assert!(matches!(Value::from_bytes(&tiny.to_bytes(), &t("av")), Err(Error::TooManyValues { .. })));
        // Each counts its type string too: `()` is two characters.
        let fits = Value::Array(Type::Variant, vec![variant(Value::Tuple(Vec::new())); MAX_NODES / 4 - 1]);
        assert_eq!(Value::from_bytes_normal(&fits.to_bytes(), &t("av")).expect("fits"), fits);
        // Wide types: every empty `a(y…y)` keeps a copy of its 100-member
        // element type, 3 KiB of `Type` from some 110 bytes of input.
        let wide = Type::Tuple(vec![Type::Byte; 100]);
        let many = Value::Array(Type::Variant, vec![variant(Value::Array(wide.clone(), vec![])); 10_000]);
        assert!(matches!(Value::from_bytes(&many.to_bytes(), &t("av")), Err(Error::TooManyValues { .. })));
        let few = Value::Array(Type::Variant, vec![variant(Value::Array(wide, vec![])); 1_000]);
        assert_eq!(Value::from_bytes_normal(&few.to_bytes(), &t("av")).expect("a thousand fit"), few);
    }

    #[test]
    fn text_format() {
        let d = vardict([("version".to_string(), s("1.0")), ("ostree.ref-binding".to_string(), strv(&["test/main"]))]);
        assert_eq!(print(&d), "{'version': <'1.0'>, 'ostree.ref-binding': <['test/main']>}");
        // Empty arrays carry their type, as ostree's `ls -X` and `show` print them.
        assert_eq!(print(&Value::Tuple(vec![vardict([]), ay(Vec::new()), Value::Array(t("(ayay)"), vec![])])), "(@a{sv} {}, @ay [], @a(ayay) [])");
    }
}
