//! OSTree objects: checksums, object types, and the typed forms of
//! dirmeta, dirtree, commit and content headers (ostree-format.md §3).
//!
//! Pure code: `to_bytes` / `from_bytes` over slices, no I/O. OSTree's own
//! integer fields (uid, gid, mode, timestamp, size) are big-endian inside
//! otherwise little-endian GVariants.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::gvariant::{self, build, Type, Value};
use crate::Error;

/// A SHA-256 object name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(pub [u8; 32]);

impl Checksum {
    pub fn of(data: &[u8]) -> Checksum {
        Checksum(Sha256::digest(data).into())
    }

    pub fn from_slice(b: &[u8]) -> Option<Checksum> {
        b.try_into().ok().map(Checksum)
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        s
    }

    /// True if `s` is 64 lowercase hex digits.
    pub fn is_valid_hex(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    }
}

impl FromStr for Checksum {
    type Err = Error;
    fn from_str(s: &str) -> Result<Checksum, Error> {
        if !Checksum::is_valid_hex(s) {
            return Err(Error::InvalidChecksum(s.to_string()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let hex = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
            out[i] = (hex(pair[0]) << 4) | hex(pair[1]);
        }
        Ok(Checksum(out))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

/// Object types and their loose-file extensions (ostree-format.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    File = 1,
    DirTree = 2,
    DirMeta = 3,
    Commit = 4,
    TombstoneCommit = 5,
    CommitMeta = 6,
    PayloadLink = 7,
}

impl ObjectType {
    pub fn extension(self) -> &'static str {
        match self {
            ObjectType::File => "file",
            ObjectType::DirTree => "dirtree",
            ObjectType::DirMeta => "dirmeta",
            ObjectType::Commit => "commit",
            ObjectType::TombstoneCommit => "tombstone-commit",
            ObjectType::CommitMeta => "commitmeta",
            ObjectType::PayloadLink => "payload-link",
        }
    }

    pub fn from_extension(ext: &str) -> Option<ObjectType> {
        Some(match ext {
            "file" | "filez" => ObjectType::File,
            "dirtree" => ObjectType::DirTree,
            "dirmeta" => ObjectType::DirMeta,
            "commit" => ObjectType::Commit,
            "tombstone-commit" => ObjectType::TombstoneCommit,
            "commitmeta" => ObjectType::CommitMeta,
            "payload-link" => ObjectType::PayloadLink,
            _ => return None,
        })
    }

    pub fn is_meta(self) -> bool {
        !matches!(self, ObjectType::File | ObjectType::PayloadLink)
    }

    pub fn from_u8(v: u8) -> Option<ObjectType> {
        Some(match v {
            1 => ObjectType::File,
            2 => ObjectType::DirTree,
            3 => ObjectType::DirMeta,
            4 => ObjectType::Commit,
            5 => ObjectType::TombstoneCommit,
            6 => ObjectType::CommitMeta,
            7 => ObjectType::PayloadLink,
            _ => return None,
        })
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Extended attributes: (name without trailing NUL, value), sorted by name.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Sort and check extended attributes as ostree stores them.
pub fn canonical_xattrs(mut x: Xattrs) -> Result<Xattrs, Error> {
    x.sort_by(|a, b| a.0.cmp(&b.0));
    for w in x.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(Error::Corrupt(format!("duplicate xattr {}", String::from_utf8_lossy(&w[0].0))));
        }
    }
    if x.iter().any(|(n, _)| n.is_empty() || n.contains(&0)) {
        return Err(Error::Corrupt("empty or NUL-containing xattr name".into()));
    }
    Ok(x)
}

/// Extended attributes as ostree serialises them: `a(ayay)`, each name
/// NUL-terminated.
pub fn xattrs_value(x: &Xattrs) -> Value {
    Value::Array(
        Type::Tuple(vec![Type::Array(Box::new(Type::Byte)), Type::Array(Box::new(Type::Byte))]),
        x.iter()
            .map(|(n, v)| {
                let mut name = n.clone();
                name.push(0);
                Value::Tuple(vec![Value::Bytes(name), Value::Bytes(v.clone())])
            })
            .collect(),
    )
}

fn xattrs_from_value(v: &Value) -> Result<Xattrs, Error> {
    let Value::Array(_, items) = v else { return Err(Error::Corrupt("xattrs are not an array".into())) };
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let (Value::Tuple(m), true) = (it, matches!(it, Value::Tuple(m) if m.len() == 2)) else {
            return Err(Error::Corrupt("xattr entry".into()));
        };
        let (Some(name), Some(val)) = (m[0].as_bytes(), m[1].as_bytes()) else {
            return Err(Error::Corrupt("xattr entry".into()));
        };
        let name = match name.split_last() {
            Some((0, n)) => n.to_vec(),
            _ => return Err(Error::Corrupt("xattr name is not NUL-terminated".into())),
        };
        out.push((name, val.to_vec()));
    }
    // Not checked: sort order. ostree sorts what it reads from disk but keeps
    // tar archive order, and it accepts both; so do we.
    if out.iter().any(|(n, _)| n.is_empty()) {
        return Err(Error::Corrupt("empty xattr name".into()));
    }
    Ok(out)
}

fn be32(v: u32) -> Value {
    Value::U32(v.swap_bytes())
}

fn get_be32(v: &Value) -> Result<u32, Error> {
    match v {
        Value::U32(n) => Ok(n.swap_bytes()),
        _ => Err(Error::Corrupt("expected uint32".into())),
    }
}

fn cached_type(cell: &'static OnceLock<Type>, s: &str) -> &'static Type {
    cell.get_or_init(|| Type::parse(s).unwrap_or_else(|e| unreachable!("static type {s}: {e}")))
}

pub fn dirmeta_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "(uuua(ayay))")
}
pub fn dirtree_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "(a(say)a(sayay))")
}
pub fn commit_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "(a{sv}aya(say)sstayay)")
}
pub fn file_header_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "(uuuusa(ayay))")
}
pub fn filez_header_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "(tuuuusa(ayay))")
}
pub fn vardict_type() -> &'static Type {
    static T: OnceLock<Type> = OnceLock::new();
    cached_type(&T, "a{sv}")
}

pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;

/// Directory metadata `(uuua(ayay))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirMeta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub xattrs: Xattrs,
}

impl DirMeta {
    pub fn to_bytes(&self) -> Vec<u8> {
        Value::Tuple(vec![be32(self.uid), be32(self.gid), be32(self.mode), xattrs_value(&self.xattrs)]).to_bytes()
    }

    pub fn from_bytes(data: &[u8]) -> Result<DirMeta, Error> {
        let v = Value::from_bytes(data, dirmeta_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        let meta = DirMeta { uid: get_be32(&m[0])?, gid: get_be32(&m[1])?, mode: get_be32(&m[2])?, xattrs: xattrs_from_value(&m[3])? };
        if meta.mode & S_IFMT != S_IFDIR {
            return Err(Error::Corrupt(format!("dirmeta mode {:o} is not a directory", meta.mode)));
        }
        if meta.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(Error::Corrupt(format!("dirmeta mode {:o} has invalid bits", meta.mode)));
        }
        Ok(meta)
    }
}

/// Validate one path component as ostree does (`ot_util_filename_validate`):
/// non-empty, not `.` or `..`, no `/`, no NUL.
pub fn validate_filename(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::HostileName(name.to_string()));
    }
    Ok(())
}

/// A directory listing `(a(say)a(sayay))`: files (content checksums) and
/// subdirectories (dirtree checksum, dirmeta checksum), each sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirTree {
    pub files: Vec<(String, Checksum)>,
    pub dirs: Vec<(String, Checksum, Checksum)>,
}

impl DirTree {
    pub fn to_bytes(&self) -> Vec<u8> {
        let files = Value::Array(
            Type::Tuple(vec![Type::Str, Type::Array(Box::new(Type::Byte))]),
            self.files.iter().map(|(n, c)| Value::Tuple(vec![Value::Str(n.clone()), Value::Bytes(c.0.to_vec())])).collect(),
        );
        let dirs = Value::Array(
            Type::Tuple(vec![Type::Str, Type::Array(Box::new(Type::Byte)), Type::Array(Box::new(Type::Byte))]),
            self.dirs.iter().map(|(n, t, m)| Value::Tuple(vec![Value::Str(n.clone()), Value::Bytes(t.0.to_vec()), Value::Bytes(m.0.to_vec())])).collect(),
        );
        Value::Tuple(vec![files, dirs]).to_bytes()
    }

    /// Parse and validate: names must be valid filenames, sorted, unique
    /// across files and directories, and checksums 32 bytes.
    pub fn from_bytes(data: &[u8]) -> Result<DirTree, Error> {
        let v = Value::from_bytes(data, dirtree_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        let (Value::Array(_, files), Value::Array(_, dirs)) = (&m[0], &m[1]) else { unreachable!("decoded per type") };
        let csum = |v: &Value| -> Result<Checksum, Error> {
            v.as_bytes().and_then(Checksum::from_slice).ok_or_else(|| Error::Corrupt("dirtree checksum is not 32 bytes".into()))
        };
        let mut tree = DirTree::default();
        for f in files {
            let Value::Tuple(e) = f else { unreachable!("decoded per type") };
            let name = e[0].as_str().unwrap_or_default().to_string();
            validate_filename(&name)?;
            tree.files.push((name, csum(&e[1])?));
        }
        for d in dirs {
            let Value::Tuple(e) = d else { unreachable!("decoded per type") };
            let name = e[0].as_str().unwrap_or_default().to_string();
            validate_filename(&name)?;
            tree.dirs.push((name, csum(&e[1])?, csum(&e[2])?));
        }
        if tree.files.windows(2).any(|w| w[0].0 >= w[1].0) || tree.dirs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Corrupt("dirtree entries are not sorted and unique".into()));
        }
        if tree.dirs.iter().any(|(n, _, _)| tree.files.binary_search_by(|(f, _)| f.as_str().cmp(n)).is_ok()) {
            return Err(Error::Corrupt("dirtree has a name that is both a file and a directory".into()));
        }
        Ok(tree)
    }
}

/// A commit `(a{sv}aya(say)sstayay)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The `a{sv}` metadata in stored order (values unwrapped from `v`).
    pub metadata: Vec<(String, Value)>,
    pub parent: Option<Checksum>,
    pub subject: String,
    pub body: String,
    /// Seconds since the epoch, UTC.
    pub timestamp: u64,
    pub root_tree: Checksum,
    pub root_meta: Checksum,
}

impl Commit {
    pub fn to_bytes(&self) -> Vec<u8> {
        Value::Tuple(vec![
            build::vardict(self.metadata.iter().cloned()),
            Value::Bytes(self.parent.map(|p| p.0.to_vec()).unwrap_or_default()),
            Value::Array(Type::Tuple(vec![Type::Str, Type::Array(Box::new(Type::Byte))]), Vec::new()),
            Value::Str(self.subject.clone()),
            Value::Str(self.body.clone()),
            Value::U64(self.timestamp.swap_bytes()),
            Value::Bytes(self.root_tree.0.to_vec()),
            Value::Bytes(self.root_meta.0.to_vec()),
        ])
        .to_bytes()
    }

    pub fn from_bytes(data: &[u8]) -> Result<Commit, Error> {
        let v = Value::from_bytes(data, commit_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        let metadata = gvariant::vardict_entries(&m[0]).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>();
        if metadata.iter().any(|(k, _)| k.is_empty()) {
            return Err(Error::Corrupt("commit metadata has an empty key".into()));
        }
        let parent = match m[1].as_bytes().unwrap_or_default() {
            [] => None,
            b => Some(Checksum::from_slice(b).ok_or_else(|| Error::Corrupt("commit parent is not 32 bytes".into()))?),
        };
        let csum = |v: &Value, what: &str| {
            v.as_bytes().and_then(Checksum::from_slice).ok_or_else(|| Error::Corrupt(format!("commit {what} checksum is not 32 bytes")))
        };
        let Value::U64(ts) = m[5] else { unreachable!("decoded per type") };
        Ok(Commit {
            metadata,
            parent,
            subject: m[3].as_str().unwrap_or_default().to_string(),
            body: m[4].as_str().unwrap_or_default().to_string(),
            timestamp: ts.swap_bytes(),
            root_tree: csum(&m[6], "root tree")?,
            root_meta: csum(&m[7], "root meta")?,
        })
    }

    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `version` metadata, if it is a string.
    pub fn version(&self) -> Option<&str> {
        self.meta("version").and_then(Value::as_str)
    }

    /// SHA-256(root dirtree ‖ root dirmeta), shown as "ContentChecksum".
    pub fn content_checksum(&self) -> Checksum {
        let mut h = Sha256::new();
        h.update(self.root_tree.0);
        h.update(self.root_meta.0);
        Checksum(h.finalize().into())
    }
}

/// Header of a content object: everything but the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileMeta {
    pub uid: u32,
    pub gid: u32,
    /// Full `st_mode`, file type included.
    pub mode: u32,
    /// Target for symlinks, empty otherwise.
    pub symlink_target: String,
    pub xattrs: Xattrs,
}

impl FileMeta {
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    pub fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// Only regular files and symlinks with permission bits in 07777.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.is_regular() || self.is_symlink()) || self.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(Error::Corrupt(format!("invalid content object mode {:o}", self.mode)));
        }
        if self.is_symlink() && self.symlink_target.is_empty() {
            return Err(Error::Corrupt("symlink with empty target".into()));
        }
        if self.is_regular() && !self.symlink_target.is_empty() {
            return Err(Error::Corrupt("regular file with a symlink target".into()));
        }
        Ok(())
    }

    fn header_members(&self) -> Vec<Value> {
        vec![be32(self.uid), be32(self.gid), be32(self.mode), be32(0), Value::Str(self.symlink_target.clone()), xattrs_value(&self.xattrs)]
    }

    /// `(uuuusa(ayay))`, the header hashed into the content checksum.
    pub fn header_bytes(&self) -> Vec<u8> {
        Value::Tuple(self.header_members()).to_bytes()
    }

    /// The hash-stream prefix: `u32be(len(H)) ‖ 0u32 ‖ H`.
    pub fn checksum_prefix(&self) -> Vec<u8> {
        framed(&self.header_bytes())
    }

    /// `.filez` prefix: `u32be(len(Z)) ‖ 0u32 ‖ Z` with `Z = (tuuuusa(ayay))`.
    pub fn filez_prefix(&self, size: u64) -> Vec<u8> {
        let mut members = vec![Value::U64(size.swap_bytes())];
        members.extend(self.header_members());
        framed(&Value::Tuple(members).to_bytes())
    }

    /// Bare-user `user.ostreemeta` value: `(uuua(ayay))`.
    pub fn bareuser_bytes(&self) -> Vec<u8> {
        Value::Tuple(vec![be32(self.uid), be32(self.gid), be32(self.mode), xattrs_value(&self.xattrs)]).to_bytes()
    }

    pub fn from_bareuser_bytes(data: &[u8]) -> Result<FileMeta, Error> {
        let v = Value::from_bytes(data, dirmeta_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        Ok(FileMeta { uid: get_be32(&m[0])?, gid: get_be32(&m[1])?, mode: get_be32(&m[2])?, symlink_target: String::new(), xattrs: xattrs_from_value(&m[3])? })
    }

    fn from_members(m: &[Value]) -> Result<FileMeta, Error> {
        if get_be32(&m[3])? != 0 {
            return Err(Error::Corrupt("content object has a non-zero rdev".into()));
        }
        let meta = FileMeta {
            uid: get_be32(&m[0])?,
            gid: get_be32(&m[1])?,
            mode: get_be32(&m[2])?,
            symlink_target: m[4].as_str().unwrap_or_default().to_string(),
            xattrs: xattrs_from_value(&m[5])?,
        };
        meta.validate()?;
        Ok(meta)
    }

    /// Parse a `.filez` header. Returns (meta, declared size, body offset).
    pub fn parse_filez_header(data: &[u8]) -> Result<(FileMeta, u64, usize), Error> {
        let (hdr, body_off) = unframe(data)?;
        let v = Value::from_bytes(hdr, filez_header_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        let Value::U64(size) = m[0] else { unreachable!("decoded per type") };
        let meta = FileMeta::from_members(&m[1..])?;
        Ok((meta, size.swap_bytes(), body_off))
    }

    /// Parse the uncompressed content-stream header (`.file` in archive's
    /// uncompressed form, or the hash stream). Returns (meta, payload offset).
    pub fn parse_stream_header(data: &[u8]) -> Result<(FileMeta, usize), Error> {
        let (hdr, off) = unframe(data)?;
        let v = Value::from_bytes(hdr, file_header_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        Ok((FileMeta::from_members(&m)?, off))
    }
}

/// Largest header we accept in a content object (ostree caps metadata too).
pub const MAX_CONTENT_HEADER: usize = 10 * 1024 * 1024;

fn framed(h: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + h.len());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(h);
    out
}

/// Split `u32be(len) ‖ pad ‖ header ‖ rest`; returns (header, offset of rest).
pub fn unframe(data: &[u8]) -> Result<(&[u8], usize), Error> {
    let len_bytes: [u8; 4] = data.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| Error::Corrupt("content object shorter than its header".into()))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_CONTENT_HEADER {
        return Err(Error::Corrupt(format!("content header of {len} bytes is too large")));
    }
    let end = 8 + len;
    let hdr = data.get(8..end).ok_or_else(|| Error::Corrupt("content object shorter than its header".into()))?;
    Ok((hdr, end))
}

/// Streaming content checksum: header prefix, then payload bytes.
#[derive(Debug, Clone)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    pub fn new(meta: &FileMeta) -> ContentHasher {
        let mut h = Sha256::new();
        h.update(meta.checksum_prefix());
        ContentHasher(h)
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> Checksum {
        Checksum(self.0.finalize().into())
    }
}

/// Checksum of a whole content object given its metadata and payload.
pub fn content_checksum(meta: &FileMeta, payload: &[u8]) -> Checksum {
    let mut h = ContentHasher::new(meta);
    h.update(payload);
    h.finish()
}

/// Validate a ref name: `([\w\d][-._\w\d]*/)*[\w\d][-._\w\d]*`.
pub fn validate_ref_name(r: &str) -> Result<(), Error> {
    let ok = !r.is_empty()
        && r.split('/').all(|c| {
            let mut chars = c.chars();
            matches!(chars.next(), Some(ch) if ch.is_ascii_alphanumeric() || ch == '_')
                && chars.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRef(r.to_string()))
    }
}

/// Validate a collection ID as ostree does (`ostree_validate_collection_id`):
/// a reverse DNS name of at least two elements of `[A-Za-z0-9_]`, none
/// starting with a digit, at most 255 bytes.
pub fn validate_collection_id(id: &str) -> Result<(), Error> {
    let elements: Vec<&str> = id.split('.').collect();
    let ok = id.len() <= 255
        && elements.len() >= 2
        && elements.iter().all(|e| {
            let mut chars = e.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("Invalid collection ID {id}")))
    }
}

/// Validate a remote name (a single ref component).
pub fn validate_remote_name(r: &str) -> Result<(), Error> {
    if r.contains('/') {
        return Err(Error::InvalidRef(r.to_string()));
    }
    validate_ref_name(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Checksum {
        s.parse().expect("valid hex")
    }

    fn root_0644(target: &str, mode: u32) -> FileMeta {
        FileMeta { uid: 0, gid: 0, mode, symlink_target: target.into(), xattrs: vec![] }
    }

    // Golden bytes from ostree-format.md §2–3, produced by ostree 2022.7.

    #[test]
    fn golden_dirmeta_root_0755() {
        let m = DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: vec![] };
        let b = m.to_bytes();
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]);
        assert_eq!(Checksum::of(&b), h("446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488"));
        assert_eq!(DirMeta::from_bytes(&b).expect("parse"), m);
    }

    #[test]
    fn golden_empty_dirtree() {
        let b = DirTree::default().to_bytes();
        assert_eq!(b, [0]);
        assert_eq!(Checksum::of(&b), h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    }

    #[test]
    fn golden_file_hello_world() {
        let m = root_0644("", 0o100644);
        assert_eq!(m.header_bytes(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0, 0x11]);
        assert_eq!(&m.checksum_prefix()[..8], &[0, 0, 0, 0x12, 0, 0, 0, 0]);
        let c = content_checksum(&m, b"hello world\n");
        assert_eq!(c, h("81381808c56d4f3d643ec12f6a18fcf2993af8daba7c2a1b2cbfc315b39424c6"));
        // .filez prefix from §3.5
        let z = m.filez_prefix(12);
        assert_eq!(z[..8], [0, 0, 0, 0x1a, 0, 0, 0, 0]);
        assert_eq!(z[8..16], [0, 0, 0, 0, 0, 0, 0, 12]);
        assert_eq!(*z.last().expect("nonempty"), 0x19);
        let (meta, size, off) = FileMeta::parse_filez_header(&z).expect("parse");
        assert_eq!((meta, size, off), (m, 12, z.len()));
    }

    #[test]
    fn golden_symlink() {
        let m = root_0644("hello.txt", 0o120777);
        let hb = m.header_bytes();
        assert_eq!(&hb[16..], b"hello.txt\0\x1a");
        assert_eq!(content_checksum(&m, b""), h("f66efa496a72379413c44593de510dc344beb045294f1a543da87b2b6118db35"));
    }

    #[test]
    fn golden_dirtree_one_file() {
        // §2.4: sub/ containing a.txt ("abc", root 0644) -> bd6b7485…6d224e, 41 bytes.
        let a = content_checksum(&root_0644("", 0o100644), b"abc");
        let t = DirTree { files: vec![("a.txt".into(), a)], dirs: vec![] };
        let b = t.to_bytes();
        assert_eq!(b.len(), 41);
        assert_eq!(&b[..6], b"a.txt\0");
        assert_eq!(&b[38..], &[0x06, 0x27, 0x28]);
        assert!(Checksum::of(&b).to_hex().starts_with("bd6b7485"));
        assert!(Checksum::of(&b).to_hex().ends_with("6d224e"));
        assert_eq!(DirTree::from_bytes(&b).expect("parse"), t);
    }

    #[test]
    fn golden_commit() {
        // §2.5 and §10: the commit of the worked tree is 08ea7108….
        let hello = content_checksum(&root_0644("", 0o100644), b"hello world\n");
        let link = content_checksum(&root_0644("hello.txt", 0o120777), b"");
        let a = content_checksum(&root_0644("", 0o100644), b"abc");
        let dirmeta = Checksum::of(&DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: vec![] }.to_bytes());
        let sub = DirTree { files: vec![("a.txt".into(), a)], dirs: vec![] };
        let root =
            DirTree { files: vec![("hello.txt".into(), hello), ("link".into(), link)], dirs: vec![("sub".into(), Checksum::of(&sub.to_bytes()), dirmeta)] };
        let c = Commit {
            metadata: vec![("version".into(), build::s("1.0")), ("ostree.ref-binding".into(), build::strv(&["test/main"]))],
            parent: None,
            subject: "Subject line".into(),
            body: "Body text".into(),
            timestamp: 1_700_000_000,
            root_tree: Checksum::of(&root.to_bytes()),
            root_meta: dirmeta,
        };
        let b = c.to_bytes();
        assert_eq!(b.len(), 158);
        assert_eq!(&b[152..], &[0x78, 0x50, 0x46, 0x39, 0x39, 0x39]);
        assert_eq!(&b[80..88], &[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0]);
        assert_eq!(Checksum::of(&b), h("08ea7108887a661a02f0f3ec6c97ad09df830239cdcdea6f0538bda21843698b"));
        let back = Commit::from_bytes(&b).expect("parse");
        assert_eq!(back, c);
        assert_eq!(back.version(), Some("1.0"));
    }

    #[test]
    fn bareuser_meta_matches_ostree() {
        // user.ostreemeta seen on a bare-user object for uid 1000, gid 1001, 0104755.
        let m = FileMeta { uid: 1000, gid: 1001, mode: 0o104755, symlink_target: String::new(), xattrs: vec![] };
        assert_eq!(m.bareuser_bytes(), [0, 0, 3, 0xe8, 0, 0, 3, 0xe9, 0, 0, 0x89, 0xed]);
        assert_eq!(FileMeta::from_bareuser_bytes(&m.bareuser_bytes()).expect("parse").mode, 0o104755);
    }

    #[test]
    fn hostile_dirtree_names_rejected() {
        let c = Checksum([7; 32]);
        for bad in ["", ".", "..", "a/b", "../etc"] {
            let t = DirTree { files: vec![(bad.into(), c)], dirs: vec![] };
            assert!(DirTree::from_bytes(&t.to_bytes()).is_err(), "{bad:?} must be refused");
            let t = DirTree { files: vec![], dirs: vec![(bad.into(), c, c)] };
            assert!(DirTree::from_bytes(&t.to_bytes()).is_err(), "{bad:?} must be refused");
        }
        let unsorted = DirTree { files: vec![("b".into(), c), ("a".into(), c)], dirs: vec![] };
        assert!(DirTree::from_bytes(&unsorted.to_bytes()).is_err());
    }

    #[test]
    fn refs() {
        for ok in ["test/main", "exampleos/aarch64/stable", "a", "ostree/0/1/0", "x_y.z-1"] {
            validate_ref_name(ok).expect(ok);
        }
        for bad in ["", "/a", "a/", "a//b", "-a", ".a", "a/../b", "a b"] {
            assert!(validate_ref_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksum_hex() {
        let s = "08ea7108887a661a02f0f3ec6c97ad09df830239cdcdea6f0538bda21843698b";
        assert_eq!(h(s).to_hex(), s);
        assert!("08EA7108887a661a02f0f3ec6c97ad09df830239cdcdea6f0538bda21843698b".parse::<Checksum>().is_err());
        assert!("08ea".parse::<Checksum>().is_err());
    }
}
