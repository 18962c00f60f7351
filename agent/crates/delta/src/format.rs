//! The static delta format (ostree-format.md §5), pure: names, the
//! superblock, part headers, part payloads, opcodes and varints.
//!
//! Nothing here trusts a length: every size from a superblock or part is
//! checked against the bytes actually present before it is used, and a
//! part's checksum is compared ([`verify_part`]) before its payload is
//! decompressed or decoded.

use std::io::{Read, Write};
use std::sync::OnceLock;

use ostree_repo::gvariant::{self, build, Type, Value};
use ostree_repo::object::{self, Checksum, ObjectType};
use ostree_repo::summary::{checksum_to_mbase64, mbase64_to_checksum};

use crate::error::{Error, Result};

/// Opcodes of a part's operation stream.
pub mod op {
    pub const OPEN_SPLICE_AND_CLOSE: u8 = b'S';
    pub const OPEN: u8 = b'o';
    pub const WRITE: u8 = b'w';
    pub const SET_READ_SOURCE: u8 = b'r';
    pub const UNSET_READ_SOURCE: u8 = b'R';
    pub const CLOSE: u8 = b'c';
    pub const BSPATCH: u8 = b'B';
}

/// Part compression byte: stored as is.
pub const COMPRESSION_NONE: u8 = 0;
/// Part compression byte: xz.
pub const COMPRESSION_XZ: u8 = b'x';

/// Largest uncompressed part we decode: a part is held in memory while it
/// runs, so this bounds peak memory (ostree's generator cuts parts at
/// 32 MB; a single larger file gets a part of its own).
pub const MAX_PART_SIZE: u64 = 256 * 1024 * 1024;
/// Memory the xz decoder may use for its dictionary (ostree caps it at
/// 100 MiB; its generator's preset 8 needs 32 MiB).
pub const XZ_MEM_LIMIT_KIB: u32 = 100 * 1024;
/// Largest superblock we read (ostree limits it to the same).
pub const MAX_SUPERBLOCK_SIZE: u64 = 64 * 1024 * 1024;

fn ty(cell: &'static OnceLock<Type>, s: &str) -> &'static Type {
    cell.get_or_init(|| Type::parse(s).unwrap_or_else(|e| unreachable!("static type {s}: {e}")))
}

fn superblock_members() -> &'static [Type] {
    static T: OnceLock<Vec<Type>> = OnceLock::new();
    T.get_or_init(|| {
        ["a{sv}", "t", "ay", "ay", "(a{sv}aya(say)sstayay)", "ay", "a(uayttay)", "a(yaytt)"]
            .iter()
            .map(|s| Type::parse(s).unwrap_or_else(|e| unreachable!("static type {s}: {e}")))
            .collect()
    })
}

fn part_header_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    ty(&T, "(uayttay)")
}

fn fallback_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    ty(&T, "(yaytt)")
}

fn payload_members() -> &'static [Type] {
    static T: OnceLock<Vec<Type>> = OnceLock::new();
    T.get_or_init(|| ["a(uuu)", "aa(ayay)", "ay", "ay"].iter().map(|s| Type::parse(s).unwrap_or_else(|e| unreachable!("static type {s}: {e}"))).collect())
}

fn inline_part_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    ty(&T, "(yay)")
}

/// A delta's identity: from a commit (or from nothing) to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeltaName {
    pub from: Option<Checksum>,
    pub to: Checksum,
}

impl DeltaName {
    /// Parse `FROM-TO` or `TO` (hex), as the CLI and the summary spell it.
    pub fn parse(s: &str) -> Result<DeltaName> {
        // ostree's words, naming the half that is not a checksum.
        let hex = |h: &str| h.parse::<Checksum>().map_err(|_| Error::Invalid(format!("Invalid rev {h}")));
        match s.split_once('-') {
            Some((f, t)) => Ok(DeltaName { from: Some(hex(f)?), to: hex(t)? }),
            None => Ok(DeltaName { from: None, to: hex(s)? }),
        }
    }

    /// The directory below `deltas/`: `fr/om-to` or `to/…` in modified base64.
    pub fn rel_dir(&self) -> String {
        let to = checksum_to_mbase64(&self.to);
        match &self.from {
            Some(f) => {
                let f = checksum_to_mbase64(f);
                format!("{}/{}-{to}", &f[..2], &f[2..])
            }
            None => format!("{}/{}", &to[..2], &to[2..]),
        }
    }

    /// Path of the delta directory relative to the repository.
    pub fn path(&self) -> String {
        format!("deltas/{}", self.rel_dir())
    }

    /// Decode a `deltas/XX/REST` directory name pair back to a name.
    pub fn from_dir(prefix: &str, rest: &str) -> Option<DeltaName> {
        let full = format!("{prefix}{rest}");
        match full.split_once('-') {
            Some((f, t)) => Some(DeltaName { from: Some(mbase64_to_checksum(f)?), to: mbase64_to_checksum(t)? }),
            None => Some(DeltaName { from: None, to: mbase64_to_checksum(&full)? }),
        }
    }
}

impl std::fmt::Display for DeltaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{from}-{}", self.to),
            None => write!(f, "{}", self.to),
        }
    }
}

/// One part as the superblock describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeader {
    pub version: u32,
    /// SHA-256 of the part file (compression byte included).
    pub checksum: Checksum,
    pub size: u64,
    pub uncompressed_size: u64,
    /// The objects the part writes, in order.
    pub objects: Vec<(ObjectType, Checksum)>,
}

/// An object the delta does not carry: fetched as a plain object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub kind: ObjectType,
    pub checksum: Checksum,
    pub size: u64,
    pub uncompressed_size: u64,
}

/// A decoded superblock. `commit` is the target commit object's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Superblock {
    /// User metadata, without `ostree.endianness`, inline parts and the
    /// detached commit metadata (those have their own fields).
    pub metadata: Vec<(String, Value)>,
    /// Seconds since the epoch.
    pub timestamp: u64,
    pub from: Option<Checksum>,
    pub to: Checksum,
    pub commit: Vec<u8>,
    pub parts: Vec<PartHeader>,
    pub fallbacks: Vec<Fallback>,
    /// Parts stored in the superblock (`--inline`): index → part file bytes.
    pub inline_parts: Vec<(usize, Vec<u8>)>,
    /// The target commit's detached metadata (`a{sv}` bytes), if carried.
    pub commitmeta: Option<Vec<u8>>,
    /// The generator's byte order for part and fallback sizes.
    pub big_endian: bool,
    /// The superblock has no `ostree.endianness` key (ostree before 2016):
    /// `big_endian` is ostree's guess from the sizes ([`guess_big_endian`]);
    /// when nothing looked swapped ostree calls the order "invalid".
    pub endianness_guessed: bool,
}

/// ostree's guess at the byte order of a superblock without
/// `ostree.endianness` (`_ostree_delta_get_endianness`), from the part
/// sizes as read little-endian: swapped when a part is more than 1.2
/// times its uncompressed size, or objects average over 4 GiB. Kept
/// exactly as ostree has it (it calls some little-endian deltas big) so
/// both read the same delta the same way.
pub fn guess_big_endian(parts: &[(u64, u64, usize)]) -> bool {
    let (mut total_size, mut total_objects) = (0u64, 0u64);
    for &(size, usize, objects) in parts {
        // As in ostree: sums wrap; the guess only needs their order of magnitude.
        total_size = total_size.wrapping_add(size);
        total_objects = total_objects.wrapping_add(objects as u64);
        if size > usize && size as f64 / usize as f64 > 1.2 {
            return true;
        }
    }
    total_objects > 0 && total_size / total_objects > u64::from(u32::MAX)
}

fn checksum_of(b: &[u8], what: &str) -> Result<Checksum> {
    Checksum::from_slice(b).ok_or_else(|| Error::superblock(format!("{what}: not a 32-byte checksum")))
}

fn parse_objects(b: &[u8]) -> Result<Vec<(ObjectType, Checksum)>> {
    if !b.len().is_multiple_of(33) {
        return Err(Error::superblock("part object list is not a multiple of 33 bytes"));
    }
    b.chunks(33)
        .map(|c| {
            let kind = ObjectType::from_u8(c[0]).ok_or_else(|| Error::superblock(format!("object type {} in a part's object list", c[0])))?;
            Ok((kind, checksum_of(&c[1..], "part object")?))
        })
        .collect()
}

impl Superblock {
    pub fn name(&self) -> DeltaName {
        DeltaName { from: self.from, to: self.to }
    }

    /// Decode a superblock file. Refuses signed superblocks (the caller
    /// unwraps those first) and anything whose sizes do not add up.
    pub fn from_bytes(data: &[u8]) -> Result<Superblock> {
        let m = gvariant::tuple_members(data, superblock_members()).map_err(|e| Error::superblock(e.to_string()))?;
        let meta = Value::from_bytes(m[0], object::vardict_type()).map_err(|e| Error::superblock(e.to_string()))?;
        let timestamp = u64::from_be_bytes(m[1].try_into().map_err(|_| Error::superblock("timestamp"))?);
        let from = if m[2].is_empty() { None } else { Some(checksum_of(m[2], "from")?) };
        let to = checksum_of(m[3], "to")?;
        let commit = m[4].to_vec();
        if Checksum::of(&commit) != to {
            return Err(Error::superblock(format!("the embedded commit does not hash to {to}")));
        }
        // As for any commit received: normal form only (it is stored as is).
        Value::from_bytes_normal(&commit, object::commit_type()).map_err(|e| Error::superblock(format!("embedded commit: {e}")))?;
        if !m[5].is_empty() {
            return Err(Error::superblock("recursive deltas are not supported"));
        }
        let name = DeltaName { from, to };
        let prefix = format!("{}/", name.path());
        let mut big_endian = None;
        let mut metadata = Vec::new();
        let mut inline_parts = Vec::new();
        let mut commitmeta = None;
        for (k, v) in gvariant::vardict_entries(&meta) {
            if k == "ostree.endianness" {
                big_endian = match v {
                    Value::Byte(b'l') => Some(false),
                    Value::Byte(b'B') => Some(true),
                    _ => return Err(Error::superblock("ostree.endianness is neither 'l' nor 'B'")),
                };
            } else if let Some(rest) = k.strip_prefix(&prefix) {
                if rest == "commitmeta" {
                    let Value::Array(..) = v else { return Err(Error::superblock("commitmeta is not an a{sv}")) };
                    commitmeta = Some(v.to_bytes());
                } else {
                    let idx: usize = rest.parse().map_err(|_| Error::superblock(format!("unknown key {k:?}")))?;
                    let Value::Tuple(t) = v else { return Err(Error::superblock(format!("inline part {idx} is not (yay)"))) };
                    let (Some(Value::Byte(c)), Some(Value::Bytes(d))) = (t.first(), t.get(1)) else {
                        return Err(Error::superblock(format!("inline part {idx} is not (yay)")));
                    };
                    let mut part = Vec::with_capacity(d.len() + 1);
                    part.push(*c);
                    part.extend_from_slice(d);
                    inline_parts.push((idx, part));
                }
            } else {
                metadata.push((k.to_string(), v.clone()));
            }
        }
        let endianness_guessed = big_endian.is_none();
        let big_endian = match big_endian {
            Some(b) => b,
            None => {
                let mut sizes = Vec::new();
                for e in gvariant::array_elements(m[6], part_header_type()).map_err(|e| Error::superblock(e.to_string()))? {
                    let Value::Tuple(t) = Value::from_bytes(e, part_header_type()).map_err(|e| Error::superblock(e.to_string()))? else {
                        unreachable!("decoded per type")
                    };
                    let (Value::U64(size), Value::U64(usize)) = (&t[2], &t[3]) else { unreachable!("decoded per type") };
                    sizes.push((*size, *usize, t[4].as_bytes().map_or(0, |b| b.len() / 33)));
                }
                guess_big_endian(&sizes)
            }
        };
        let u32_of = |v: &Value| match v {
            Value::U32(n) if big_endian => n.swap_bytes(),
            Value::U32(n) => *n,
            _ => unreachable!("decoded per type"),
        };
        let u64_of = |v: &Value| match v {
            Value::U64(n) if big_endian => n.swap_bytes(),
            Value::U64(n) => *n,
            _ => unreachable!("decoded per type"),
        };
        let mut parts = Vec::new();
        for e in gvariant::array_elements(m[6], part_header_type()).map_err(|e| Error::superblock(e.to_string()))? {
            let Value::Tuple(t) = Value::from_bytes(e, part_header_type()).map_err(|e| Error::superblock(e.to_string()))? else {
                unreachable!("decoded per type")
            };
            let version = u32_of(&t[0]);
            if version != 0 {
                return Err(Error::superblock(format!("part version {version} (only 0 is defined)")));
            }
            parts.push(PartHeader {
                version,
                checksum: checksum_of(t[1].as_bytes().unwrap_or_default(), "part checksum")?,
                size: u64_of(&t[2]),
                uncompressed_size: u64_of(&t[3]),
                objects: parse_objects(t[4].as_bytes().unwrap_or_default())?,
            });
        }
        let mut fallbacks = Vec::new();
        for e in gvariant::array_elements(m[7], fallback_type()).map_err(|e| Error::superblock(e.to_string()))? {
            let Value::Tuple(t) = Value::from_bytes(e, fallback_type()).map_err(|e| Error::superblock(e.to_string()))? else {
                unreachable!("decoded per type")
            };
            let Value::Byte(k) = t[0] else { unreachable!("decoded per type") };
            fallbacks.push(Fallback {
                kind: ObjectType::from_u8(k).ok_or_else(|| Error::superblock(format!("fallback object type {k}")))?,
                checksum: checksum_of(t[1].as_bytes().unwrap_or_default(), "fallback checksum")?,
                size: u64_of(&t[2]),
                uncompressed_size: u64_of(&t[3]),
            });
        }
        for (idx, _) in &inline_parts {
            if *idx >= parts.len() {
                return Err(Error::superblock(format!("inline part {idx} has no header")));
            }
        }
        Ok(Superblock { metadata, timestamp, from, to, commit, parts, fallbacks, inline_parts, commitmeta, big_endian, endianness_guessed })
    }

    /// Serialise as the generator does (sizes in `big_endian` order, which
    /// the `ostree.endianness` key records).
    pub fn to_bytes(&self) -> Vec<u8> {
        let name = self.name();
        let mut meta = self.metadata.clone();
        meta.push(("ostree.endianness".to_string(), Value::Byte(if self.big_endian { b'B' } else { b'l' })));
        for (idx, bytes) in &self.inline_parts {
            let (c, d) = bytes.split_first().map(|(c, d)| (*c, d.to_vec())).unwrap_or((COMPRESSION_NONE, Vec::new()));
            meta.push((format!("{}/{idx}", name.path()), Value::Tuple(vec![Value::Byte(c), Value::Bytes(d)])));
        }
        if let Some(cm) = &self.commitmeta {
            if let Ok(v) = Value::from_bytes(cm, object::vardict_type()) {
                meta.push((format!("{}/commitmeta", name.path()), v));
            }
        }
        let u32_to = |n: u32| Value::U32(if self.big_endian { n.swap_bytes() } else { n });
        let u64_to = |n: u64| Value::U64(if self.big_endian { n.swap_bytes() } else { n });
        let parts = self
            .parts
            .iter()
            .map(|p| {
                let mut objs = Vec::with_capacity(p.objects.len() * 33);
                for (k, c) in &p.objects {
                    objs.push(*k as u8);
                    objs.extend_from_slice(&c.0);
                }
                Value::Tuple(vec![u32_to(p.version), build::ay(p.checksum.0.to_vec()), u64_to(p.size), u64_to(p.uncompressed_size), Value::Bytes(objs)])
            })
            .collect();
        let fallbacks = self
            .fallbacks
            .iter()
            .map(|f| Value::Tuple(vec![Value::Byte(f.kind as u8), build::ay(f.checksum.0.to_vec()), u64_to(f.size), u64_to(f.uncompressed_size)]))
            .collect();
        let commit = Value::from_bytes(&self.commit, object::commit_type()).unwrap_or_else(|_| Value::Tuple(Vec::new()));
        Value::Tuple(vec![
            build::vardict(meta),
            Value::U64(self.timestamp.swap_bytes()),
            build::ay(self.from.map(|f| f.0.to_vec()).unwrap_or_default()),
            build::ay(self.to.0.to_vec()),
            commit,
            build::ay(Vec::new()),
            Value::Array(part_header_type().clone(), parts),
            Value::Array(fallback_type().clone(), fallbacks),
        ])
        .to_bytes()
    }

    /// Bytes of an inline part, if the superblock carries it.
    pub fn inline_part(&self, idx: usize) -> Option<&[u8]> {
        self.inline_parts.iter().find(|(i, _)| *i == idx).map(|(_, b)| b.as_slice())
    }
}

/// First member of a signed superblock `(taya{sv})`: "OSTSGNDT", big-endian.
pub const SIGNED_MAGIC: u64 = 0x4F53_5453_474E_4454;

fn signed_members() -> &'static [Type] {
    static T: OnceLock<Vec<Type>> = OnceLock::new();
    T.get_or_init(|| ["t", "ay", "a{sv}"].iter().map(|s| Type::parse(s).unwrap_or_else(|e| unreachable!("static type {s}: {e}"))).collect())
}

/// Split a signed superblock file into (superblock, signatures `a{sv}`),
/// by framing only; `None` if the file is a plain superblock (ostree tells
/// them apart by the same magic).
pub fn unwrap_signed(data: &[u8]) -> Result<Option<(&[u8], &[u8])>> {
    if data.get(..8) != Some(&SIGNED_MAGIC.to_be_bytes()[..]) {
        return Ok(None);
    }
    let m = gvariant::tuple_members(data, signed_members()).map_err(|e| Error::superblock(format!("signed superblock: {e}")))?;
    Ok(Some((m[1], m[2])))
}

/// Wrap `superblock` with its signatures (an `a{sv}`, as detached metadata).
pub fn wrap_signed(superblock: &[u8], signatures: &[u8]) -> Result<Vec<u8>> {
    let sigs = Value::from_bytes(signatures, object::vardict_type()).map_err(|e| Error::superblock(format!("signatures: {e}")))?;
    Ok(Value::Tuple(vec![Value::U64(SIGNED_MAGIC.swap_bytes()), Value::Bytes(superblock.to_vec()), sigs]).to_bytes())
}

/// Check a part file against its header before anything reads it.
pub fn verify_part(idx: usize, header: &PartHeader, bytes: &[u8]) -> Result<()> {
    let actual = Checksum::of(bytes);
    if actual != header.checksum {
        return Err(Error::PartChecksum { part: idx, expected: header.checksum, actual });
    }
    Ok(())
}

/// Decompress a verified part file into its payload, refusing payloads
/// over `limit` bytes (an xz bomb stops there; callers pass
/// [`MAX_PART_SIZE`]). The header's
/// "uncompressed size" is the total of the objects' sizes, not the
/// payload's (ostree's generator counts it so), so it cannot bound this.
pub fn decompress_part(idx: usize, bytes: &[u8], limit: u64) -> Result<Vec<u8>> {
    let (&kind, body) = bytes.split_first().ok_or_else(|| Error::Part { part: idx, what: "empty part file".into() })?;
    let out = match kind {
        COMPRESSION_NONE => body.to_vec(),
        COMPRESSION_XZ => {
            let mut out = Vec::new();
            let r = lzma_rust2::XzReader::new_mem_limit(body, false, XZ_MEM_LIMIT_KIB);
            // One byte more than the limit tells a bomb from an exact fit.
            r.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(|e| Error::Part { part: idx, what: format!("xz: {e}") })?;
            out
        }
        other => return Err(Error::Part { part: idx, what: format!("unknown compression {other:#04x}") }),
    };
    if out.len() as u64 > limit {
        return Err(Error::PartTooLarge { part: idx, size: out.len() as u64, limit });
    }
    Ok(out)
}

/// A decoded part payload `(a(uuu)aa(ayay)ayay)`, borrowing its blob and ops.
#[derive(Debug)]
pub struct Payload<'a> {
    /// (uid, gid, mode), host order.
    pub modes: Vec<(u32, u32, u32)>,
    pub xattrs: Vec<object::Xattrs>,
    pub blob: &'a [u8],
    pub ops: &'a [u8],
}

impl<'a> Payload<'a> {
    pub fn parse(idx: usize, data: &'a [u8]) -> Result<Payload<'a>> {
        let bad = |e: gvariant::Error| Error::Part { part: idx, what: e.to_string() };
        let m = gvariant::tuple_members(data, payload_members()).map_err(bad)?;
        let modes_v = Value::from_bytes(m[0], &payload_members()[0]).map_err(bad)?;
        let xattrs_v = Value::from_bytes(m[1], &payload_members()[1]).map_err(bad)?;
        let Value::Array(_, modes_v) = modes_v else { unreachable!("decoded per type") };
        let modes = modes_v
            .iter()
            .map(|t| match t {
                Value::Tuple(v) => match (&v[0], &v[1], &v[2]) {
                    (Value::U32(u), Value::U32(g), Value::U32(m)) => (u.swap_bytes(), g.swap_bytes(), m.swap_bytes()),
                    _ => unreachable!("decoded per type"),
                },
                _ => unreachable!("decoded per type"),
            })
            .collect();
        let Value::Array(_, xattrs_v) = xattrs_v else { unreachable!("decoded per type") };
        let mut xattrs = Vec::with_capacity(xattrs_v.len());
        for x in &xattrs_v {
            let Value::Array(_, entries) = x else { unreachable!("decoded per type") };
            let mut list = Vec::with_capacity(entries.len());
            for e in entries {
                let Value::Tuple(nv) = e else { unreachable!("decoded per type") };
                let (Some(n), Some(v)) = (nv[0].as_bytes(), nv[1].as_bytes()) else { unreachable!("decoded per type") };
                let n = match n.split_last() {
                    Some((0, n)) => n.to_vec(),
                    _ => return Err(Error::Part { part: idx, what: "xattr name is not NUL-terminated".into() }),
                };
                list.push((n, v.to_vec()));
            }
            xattrs.push(object::canonical_xattrs(list).map_err(|e| Error::Part { part: idx, what: e.to_string() })?);
        }
        Ok(Payload { modes, xattrs, blob: m[2], ops: m[3] })
    }

    /// Serialise a payload (the generator's side).
    pub fn to_bytes(modes: &[(u32, u32, u32)], xattrs: &[object::Xattrs], blob: &[u8], ops: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut src = blob;
        Payload::write(&mut out, modes, xattrs, &mut src, blob.len() as u64, ops).unwrap_or_else(|e| unreachable!("writing to a Vec: {e}"));
        out
    }

    /// Serialise a payload to `out` with its blob streamed from `blob`
    /// (exactly `blob_len` bytes), so the generator never holds a part's
    /// blob (up to the chunk size) in memory. The payload is the GVariant
    /// `(a(uuu)aa(ayay)ayay)`: its members back to back (none needs
    /// padding: the first is 4-aligned at 0, the others 1-aligned), then
    /// the ends of the first three, last first.
    pub fn write(
        out: &mut impl Write,
        modes: &[(u32, u32, u32)],
        xattrs: &[object::Xattrs],
        blob: &mut impl Read,
        blob_len: u64,
        ops: &[u8],
    ) -> std::io::Result<u64> {
        let mode_t = Type::parse("(uuu)").unwrap_or_else(|e| unreachable!("static type: {e}"));
        let xa_t = Type::parse("a(ayay)").unwrap_or_else(|e| unreachable!("static type: {e}"));
        let modes =
            modes.iter().map(|(u, g, m)| Value::Tuple(vec![Value::U32(u.swap_bytes()), Value::U32(g.swap_bytes()), Value::U32(m.swap_bytes())])).collect();
        let mut head = Value::Array(mode_t, modes).to_bytes();
        let end_modes = head.len() as u64;
        Value::Array(xa_t, xattrs.iter().map(object::xattrs_value).collect()).write_to(&mut head);
        let end_xattrs = head.len() as u64;
        let too_big = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "part payload larger than memory can address");
        let end_blob = end_xattrs.checked_add(blob_len).ok_or_else(too_big)?;
        let body = end_blob.checked_add(ops.len() as u64).ok_or_else(too_big)?;
        out.write_all(&head)?;
        let copied = std::io::copy(&mut blob.take(blob_len), out)?;
        if copied != blob_len {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("part blob: {copied} of {blob_len} bytes")));
        }
        out.write_all(ops)?;
        let w = gvariant::offset_width_for_body(usize::try_from(body).map_err(|_| too_big())?, 3);
        for end in [end_blob, end_xattrs, end_modes] {
            out.write_all(&end.to_le_bytes()[..w])?;
        }
        Ok(body + 3 * w as u64)
    }
}

/// How many of each operation a part's stream holds, in the order
/// `static-delta show` prints them (ostree's opcode table): open-splice-close,
/// open, write, set-read-source, unset-read-source, close, bspatch. The
/// stream is walked as the applier walks it (an open-splice-close takes two
/// arguments for a metadata object, four for a file) without running it.
pub fn count_ops(idx: usize, objects: &[(ObjectType, Checksum)], ops: &[u8]) -> Result<[u32; 7]> {
    let mut counts = [0u32; 7];
    let (mut pos, mut next) = (0usize, 0usize);
    while let Some(&opcode) = ops.get(pos) {
        let at = pos;
        pos += 1;
        let fail = |what: &str| Error::Opcode { part: idx, offset: at, opcode, what: what.into() };
        let mut next_object = || {
            let o = objects.get(next).ok_or_else(|| fail("more objects than the part header lists"))?;
            next += 1;
            Ok::<_, Error>(o.0)
        };
        let (slot, args) = match opcode {
            op::OPEN_SPLICE_AND_CLOSE => (0, if next_object()?.is_meta() { 2 } else { 4 }),
            op::OPEN => {
                next_object()?;
                (1, 3)
            }
            op::WRITE => (2, 2),
            op::SET_READ_SOURCE => (3, 1),
            op::UNSET_READ_SOURCE => (4, 0),
            op::CLOSE => (5, 0),
            op::BSPATCH => (6, 2),
            _ => return Err(fail("unknown opcode")),
        };
        for _ in 0..args {
            read_varint(ops, &mut pos).ok_or_else(|| fail("truncated or oversized argument"))?;
        }
        counts[slot] = counts[slot].checked_add(1).ok_or_else(|| fail("too many operations"))?;
    }
    Ok(counts)
}

/// Read an unsigned LEB128 varint at `*pos`, advancing it. `None` on
/// truncation or a value over 64 bits.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift >= 64 || (shift == 63 && b & 0x7e != 0) {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// Append `v` as an unsigned LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Decode a delta index `a{sv}` (`ostree.static-deltas` → name → digest).
pub fn parse_index(data: &[u8]) -> Result<Vec<(String, Checksum)>> {
    let v = Value::from_bytes(data, object::vardict_type()).map_err(|e| Error::Invalid(format!("delta index: {e}")))?;
    let mut out = Vec::new();
    for (k, v) in gvariant::vardict_entries(&v) {
        if k != "ostree.static-deltas" {
            continue;
        }
        for (name, digest) in gvariant::vardict_entries(v) {
            if let Some(d) = digest.as_bytes().and_then(Checksum::from_slice) {
                out.push((name.to_string(), d));
            }
        }
    }
    Ok(out)
}

/// Encode a delta index for the deltas that lead to one commit.
pub fn index_bytes(deltas: &[(String, Checksum)]) -> Vec<u8> {
    let entries = deltas.iter().map(|(n, d)| (n.clone(), Value::Bytes(d.0.to_vec())));
    build::vardict([("ostree.static-deltas".to_string(), build::vardict(entries))]).to_bytes()
}

/// `(yay)` type of an inline part, for callers that decode one alone.
pub fn inline_part_value_type() -> &'static Type {
    inline_part_type()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_roundtrip_and_refuse_overflow() {
        for v in [0u64, 1, 127, 128, 300, 409447, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos), Some(v));
            assert_eq!(pos, b.len());
        }
        // 11 continuation bytes: more than 64 bits.
        let mut pos = 0;
        assert_eq!(read_varint(&[0xff; 11], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_varint(&[0x80], &mut pos), None, "truncated");
    }

    /// The streamed payload is the generic GVariant encoding byte for
    /// byte, on both sides of each framing-offset width (1, 2 and 4 bytes).
    #[test]
    fn streamed_payload_matches_the_gvariant_encoding() {
        let mode_t = Type::parse("(uuu)").expect("type");
        let xa_t = Type::parse("a(ayay)").expect("type");
        let modes = [(0, 0, 0o100644), (1000, 1000, 0o100755)];
        let xattrs = vec![Vec::new(), vec![(b"user.a".to_vec(), b"v".to_vec())]];
        for blob_len in [0usize, 10, 200, 260, 65_000, 65_600, 70_000] {
            let blob: Vec<u8> = (0..blob_len).map(|i| (i % 251) as u8).collect();
            let ops = vec![op::OPEN_SPLICE_AND_CLOSE, 0, 0, 1, 0];
            let generic = Value::Tuple(vec![
                Value::Array(
                    mode_t.clone(),
                    modes
                        .iter()
                        .map(|(u, g, m): &(u32, u32, u32)| {
                            Value::Tuple(vec![Value::U32(u.swap_bytes()), Value::U32(g.swap_bytes()), Value::U32(m.swap_bytes())])
                        })
                        .collect(),
                ),
                Value::Array(xa_t.clone(), xattrs.iter().map(object::xattrs_value).collect()),
                Value::Bytes(blob.clone()),
                Value::Bytes(ops.clone()),
            ])
            .to_bytes();
            let mut out = Vec::new();
            let n = Payload::write(&mut out, &modes, &xattrs, &mut blob.as_slice(), blob_len as u64, &ops).expect("write");
            assert_eq!(out, generic, "blob of {blob_len} bytes");
            assert_eq!(n, out.len() as u64);
            let p = Payload::parse(0, &out).expect("parses");
            assert_eq!((p.blob, p.ops, p.modes), (blob.as_slice(), ops.as_slice(), modes.to_vec()));
        }
        let mut short: &[u8] = b"abc";
        assert!(Payload::write(&mut Vec::new(), &modes, &xattrs, &mut short, 4, &[]).is_err(), "a blob shorter than announced is an error");
    }

    #[test]
    fn names() {
        let to: Checksum = "c33a6c2f".repeat(8).parse().expect("hex");
        let n = DeltaName { from: None, to };
        assert!(n.path().starts_with("deltas/wz/"));
        let back = DeltaName::from_dir(&n.rel_dir()[..2], &n.rel_dir()[3..]).expect("decodes");
        assert_eq!(back, n);
        let full = DeltaName { from: Some(to), to };
        assert_eq!(DeltaName::parse(&full.to_string()).expect("parse"), full);
    }
}

/// Golden bytes: superblocks and a part written by ostree 2022.7
/// (`testdata/`, made with `ostree static-delta generate`): decoded as
/// ostree wrote them, and re-encoded byte for byte.
#[cfg(test)]
mod golden {
    use super::*;

    const SCRATCH_INLINE: &[u8] = include_bytes!("../testdata/scratch-inline.superblock");
    const FROM: &[u8] = include_bytes!("../testdata/from.superblock");
    const FROM_PART0: &[u8] = include_bytes!("../testdata/from.part0");
    const C1: &str = "40569b3c44535e8976d8f19e063c8ae90f40622184004fff80d6c92fb2ab5cb1";
    const C2: &str = "54fec25d56d2d431caf55d040d97924c281198f0dca16fcb021f59b2396e5d9f";

    #[test]
    fn scratch_inline_superblock() {
        let sb = Superblock::from_bytes(SCRATCH_INLINE).expect("decodes");
        assert_eq!(sb.to.to_hex(), C1);
        assert_eq!(sb.from, None);
        assert!(!sb.big_endian);
        assert_eq!(sb.parts.len(), 1);
        assert_eq!(sb.inline_parts.len(), 1);
        let h = &sb.parts[0];
        assert_eq!(h.objects.len(), 5, "dirtree x2, dirmeta, a file and a symlink");
        assert_eq!(h.size, 273);
        assert_eq!(h.uncompressed_size, 170);
        let part = sb.inline_part(0).expect("inline");
        verify_part(0, h, part).expect("the inline part's checksum covers the compression byte");
        let payload = decompress_part(0, part, MAX_PART_SIZE).expect("xz");
        let p = Payload::parse(0, &payload).expect("payload");
        assert_eq!(p.ops.iter().filter(|&&o| o == op::OPEN_SPLICE_AND_CLOSE).count(), 5, "scratch deltas are all S ops");
        assert_eq!(Payload::to_bytes(&p.modes, &p.xattrs, p.blob, p.ops), payload, "payload re-encodes byte for byte");
        assert_eq!(sb.to_bytes(), SCRATCH_INLINE, "superblock re-encodes byte for byte");
        let name = sb.name();
        assert_eq!(name.path(), "deltas/QF/abPERTXol22PGeBjyK6Q9AYiGEAE__gNbJL7KrXLE");
    }

    #[test]
    fn from_superblock_and_part() {
        let sb = Superblock::from_bytes(FROM).expect("decodes");
        assert_eq!(sb.from.map(|c| c.to_hex()).as_deref(), Some(C1));
        assert_eq!(sb.to.to_hex(), C2);
        assert_eq!(sb.name().rel_dir(), "QF/abPERTXol22PGeBjyK6Q9AYiGEAE__gNbJL7KrXLE-VP7CXVbS1DHK9V0EDZeSTCgRmPDcoW_LAh9ZsjluXZ8");
        assert_eq!(sb.parts.len(), 1);
        assert!(sb.parts[0].objects.is_empty(), "only the commit changed: an empty part");
        verify_part(0, &sb.parts[0], FROM_PART0).expect("checksum");
        assert_eq!(FROM_PART0[0], COMPRESSION_XZ);
        let payload = decompress_part(0, FROM_PART0, MAX_PART_SIZE).expect("xz");
        assert!(Payload::parse(0, &payload).expect("payload").ops.is_empty());
        assert_eq!(sb.to_bytes(), FROM);
        let mut bad = FROM_PART0.to_vec();
        bad[10] ^= 1;
        assert!(matches!(verify_part(0, &sb.parts[0], &bad), Err(Error::PartChecksum { .. })));
    }

    #[test]
    fn every_single_byte_change_decodes_or_fails_cleanly() {
        for sb in [FROM, SCRATCH_INLINE] {
            for i in 0..sb.len() {
                for v in [0u8, 0xff, sb[i].wrapping_add(1)] {
                    let mut b = sb.to_vec();
                    b[i] = v;
                    if let Ok(d) = Superblock::from_bytes(&b) {
                        // Whatever decodes names the commit it embeds.
                        assert_eq!(Checksum::of(&d.commit), d.to);
                    }
                }
            }
        }
    }

    /// ostree's guess, including the little-endian delta it calls big
    /// (593 bytes for 482: a ratio over 1.2).
    #[test]
    fn endianness_guess_as_ostree() {
        assert!(!guess_big_endian(&[(100, 400, 2), (50, 50, 1)]));
        assert!(guess_big_endian(&[(593, 482, 3)]));
        assert!(guess_big_endian(&[(10, 10, 1), (100u64.swap_bytes(), 400u64.swap_bytes(), 1)]));
        assert!(guess_big_endian(&[(5 << 32, 6 << 32, 1)]), "objects average over 4 GiB");
        assert!(!guess_big_endian(&[]));
        assert!(!guess_big_endian(&[(u64::MAX, u64::MAX, 0), (u64::MAX, u64::MAX, 0)]), "sums wrap, no panic");
    }

    #[test]
    fn ops_are_counted_as_the_applier_walks_them() {
        let file = (ObjectType::File, Checksum([1; 32]));
        let meta = (ObjectType::DirTree, Checksum([2; 32]));
        let mut ops = vec![op::OPEN_SPLICE_AND_CLOSE, 5, 0, op::OPEN_SPLICE_AND_CLOSE, 0, 0, 3, 5];
        ops.extend([op::SET_READ_SOURCE, 0, op::OPEN, 0, 0, 9, op::WRITE, 9, 0, op::BSPATCH, 0, 1, op::CLOSE, op::UNSET_READ_SOURCE]);
        assert_eq!(count_ops(0, &[meta, file, file], &ops).expect("counts"), [2, 1, 1, 1, 1, 1, 1]);
        assert!(count_ops(0, &[meta], &ops).is_err(), "more objects than listed");
        assert!(count_ops(0, &[meta], &[op::OPEN_SPLICE_AND_CLOSE, 5]).is_err(), "truncated");
        assert!(count_ops(0, &[], b"?").is_err(), "unknown opcode");
    }

    #[test]
    fn truncated_superblocks_are_errors() {
        for n in [0, 1, 8, FROM.len() / 2, FROM.len() - 1] {
            assert!(Superblock::from_bytes(&FROM[..n]).is_err(), "{n} bytes");
        }
    }
}
