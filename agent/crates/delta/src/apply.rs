//! Running delta parts into a repository transaction.
//!
//! [`execute_part`] checks the part file's SHA-256 against the superblock,
//! decompresses it to exactly its declared size, then runs the opcodes.
//! Every object a part produces is hashed against the part's object list
//! while it is staged; a mismatch, a bad opcode or an out-of-bounds offset
//! fails the part and nothing of the failing object reaches `objects/`.
//! [`apply_offline`] applies a whole delta from a directory and commits the
//! transaction only when every part and the commit are in; on failure the
//! transaction is aborted, so the repository is as before.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use ostree_repo::object::{content_checksum, Checksum, FileMeta, ObjectType};
use ostree_repo::repo::{Content, Transaction};
use ostree_repo::Repo;

use crate::bspatch::bspatch;
use crate::error::{Error, Result};
use crate::format::{self, op, PartHeader, Payload, Superblock};

/// Objects above this size are assembled in a temp file, not in memory.
const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// What one part did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PartStats {
    /// Objects written (not already present).
    pub written: u64,
    /// Objects skipped because the repository had them.
    pub present: u64,
}

/// Where an object being assembled by `o`/`w`/`B` goes until `c`.
enum Sink {
    Mem(Vec<u8>),
    File(File, u64),
}

impl Sink {
    fn new(dir: &Path, size: u64) -> Result<Sink> {
        if size <= IN_MEMORY_MAX {
            return Ok(Sink::Mem(Vec::with_capacity(size as usize)));
        }
        let f = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Sink::File(f, 0))
    }

    fn len(&self) -> u64 {
        match self {
            Sink::Mem(v) => v.len() as u64,
            Sink::File(_, n) => *n,
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Mem(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Sink::File(f, n) => {
                f.write_all(data)?;
                *n += data.len() as u64;
                Ok(())
            }
        }
    }
}

/// The object `o` opened.
struct Open {
    kind: ObjectType,
    csum: Checksum,
    meta: FileMeta,
    size: u64,
    /// None when the repository already has the object: ops still run
    /// their bounds checks but write nothing.
    sink: Option<Sink>,
}

/// The local object `r` named, read sequentially (archive objects are
/// inflated), reopened when a write seeks backwards.
struct Source {
    csum: Checksum,
    reader: Box<dyn Read + Send>,
    pos: u64,
    size: u64,
}

impl Source {
    fn open(repo: &Repo, csum: Checksum) -> Result<Source> {
        match repo.load_file(&csum)? {
            (_, Content::Regular(reader, size)) => Ok(Source { csum, reader, pos: 0, size }),
            (_, Content::Symlink) => Err(Error::Invalid(format!("read source {csum} is a symlink"))),
        }
    }

    fn copy_to(&mut self, repo: &Repo, offset: u64, len: u64, sink: &mut Sink) -> Result<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| Error::Invalid(format!("read of {len} bytes at {offset} is past the end of the {}-byte read source {}", self.size, self.csum)))?;
        if offset < self.pos {
            *self = Source::open(repo, self.csum)?;
        }
        let src = self.csum;
        let corrupt = |e: io::Error| Error::Invalid(format!("reading source object {src}: {e}"));
        let skipped = io::copy(&mut (&mut self.reader).take(offset - self.pos), &mut io::sink()).map_err(corrupt)?;
        self.pos += skipped;
        let mut buf = vec![0u8; len.min(256 * 1024) as usize];
        while self.pos < end {
            let want = (end - self.pos).min(buf.len() as u64) as usize;
            let n = self.reader.read(&mut buf[..want]).map_err(corrupt)?;
            if n == 0 {
                return Err(Error::Invalid(format!("read source {src} ended early")));
            }
            sink.write(&buf[..n]).map_err(|e| Error::io("<delta temp file>", e))?;
            self.pos += n as u64;
        }
        Ok(())
    }

    fn read_all(&mut self, repo: &Repo) -> Result<Vec<u8>> {
        let mut s = Sink::Mem(Vec::new());
        let size = self.size;
        if size > crate::format::MAX_PART_SIZE {
            return Err(Error::Invalid(format!("bspatch source {} of {size} bytes is too large", self.csum)));
        }
        self.copy_to(repo, 0, size, &mut s)?;
        match s {
            Sink::Mem(v) => Ok(v),
            Sink::File(..) => unreachable!("created in memory"),
        }
    }
}

struct Exec<'a, 't, 'r> {
    txn: &'t Transaction<'r>,
    part: usize,
    objects: &'a [(ObjectType, Checksum)],
    payload: &'a Payload<'a>,
    tmpdir: PathBuf,
    next: usize,
    open: Option<Open>,
    source: Option<Source>,
    stats: PartStats,
}

fn blob_at(blob: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    blob.get(start..end)
}

impl Exec<'_, '_, '_> {
    fn next_object(&mut self) -> Option<(ObjectType, Checksum)> {
        self.objects.get(self.next).copied()
    }

    fn file_meta(&self, mode_idx: u64, xattr_idx: u64) -> Option<FileMeta> {
        let (uid, gid, mode) = *self.payload.modes.get(usize::try_from(mode_idx).ok()?)?;
        let xattrs = self.payload.xattrs.get(usize::try_from(xattr_idx).ok()?)?.clone();
        Some(FileMeta { uid, gid, mode, symlink_target: String::new(), xattrs })
    }

    fn object_err(&self, csum: &Checksum, kind: ObjectType, what: impl std::fmt::Display) -> Error {
        Error::Object { part: self.part, object: format!("{csum}.{kind}"), what: what.to_string() }
    }

    /// Verify and stage one whole content object.
    fn store_content(&mut self, csum: &Checksum, mut meta: FileMeta, data: ObjectData<'_>) -> Result<()> {
        let kind = ObjectType::File;
        if meta.mode & ostree_repo::object::S_IFMT == ostree_repo::object::S_IFLNK {
            let bytes = match &data {
                ObjectData::Bytes(b) => b.to_vec(),
                ObjectData::Sink(Sink::Mem(v)) => v.clone(),
                ObjectData::Sink(Sink::File(..)) => return Err(self.object_err(csum, kind, "symlink target too long")),
            };
            meta.symlink_target = String::from_utf8(bytes).map_err(|_| self.object_err(csum, kind, "symlink target is not UTF-8"))?;
            meta.validate().map_err(|e| self.object_err(csum, kind, e))?;
            // The store does not re-hash symlinks in every mode: check here.
            let actual = content_checksum(&meta, &[]);
            if actual != *csum {
                return Err(self.object_err(csum, kind, format!("checksum mismatch, contents hash to {actual}")));
            }
            self.txn.write_content_trusted(&meta, csum, &mut io::empty(), 0, true).map_err(|e| self.object_err(csum, kind, e))?;
            return Ok(());
        }
        meta.validate().map_err(|e| self.object_err(csum, kind, e))?;
        let r = match data {
            ObjectData::Bytes(b) => self.txn.write_content_trusted(&meta, csum, &mut io::Cursor::new(b), b.len() as u64, true),
            ObjectData::Sink(Sink::Mem(v)) => self.txn.write_content_trusted(&meta, csum, &mut io::Cursor::new(&v), v.len() as u64, true),
            ObjectData::Sink(Sink::File(mut f, n)) => {
                f.rewind().map_err(|e| Error::io("<delta temp file>", e))?;
                self.txn.write_content_trusted(&meta, csum, &mut f, n, true)
            }
        };
        r.map_err(|e| self.object_err(csum, kind, e.root()))
    }

    fn run(&mut self) -> Result<()> {
        let ops = self.payload.ops;
        let blob = self.payload.blob;
        let part = self.part;
        let mut pos = 0usize;
        while pos < ops.len() {
            let at = pos;
            let opcode = ops[pos];
            pos += 1;
            let fail = |what: String| Error::Opcode { part, offset: at, opcode, what };
            let mut arg = || format::read_varint(ops, &mut pos).ok_or_else(|| fail("truncated or oversized argument".into()));
            match opcode {
                op::OPEN_SPLICE_AND_CLOSE => {
                    let (kind, csum) = self.next_object().ok_or_else(|| fail("more objects than the part header lists".into()))?;
                    if self.open.is_some() {
                        return Err(fail("an object is already open".into()));
                    }
                    let present = self.txn.has_object(&csum, kind);
                    if kind.is_meta() {
                        let (len, off) = (arg()?, arg()?);
                        let data = blob_at(blob, off, len).ok_or_else(|| fail(format!("offset {off} length {len} is outside the {}-byte blob", blob.len())))?;
                        if !present {
                            ostree_repo::fsck::verify_metadata(kind, &csum, data).map_err(|e| self.object_err(&csum, kind, e.root()))?;
                            self.txn.write_metadata_trusted(kind, &csum, data).map_err(|e| self.object_err(&csum, kind, e))?;
                        }
                    } else {
                        let (mode_idx, xattr_idx, size, off) = (arg()?, arg()?, arg()?, arg()?);
                        let meta = self
                            .file_meta(mode_idx, xattr_idx)
                            .ok_or_else(|| fail(format!("mode {mode_idx} or xattrs {xattr_idx} not in the part's tables")))?;
                        let data =
                            blob_at(blob, off, size).ok_or_else(|| fail(format!("offset {off} length {size} is outside the {}-byte blob", blob.len())))?;
                        if !present {
                            self.store_content(&csum, meta, ObjectData::Bytes(data))?;
                        }
                    }
                    self.finish_object(present);
                }
                op::OPEN => {
                    let (kind, csum) = self.next_object().ok_or_else(|| fail("more objects than the part header lists".into()))?;
                    if self.open.is_some() {
                        return Err(fail("an object is already open".into()));
                    }
                    if kind != ObjectType::File {
                        return Err(fail(format!("opens {csum}.{kind}, which is not a content object")));
                    }
                    let (mode_idx, xattr_idx, size) = (arg()?, arg()?, arg()?);
                    let meta =
                        self.file_meta(mode_idx, xattr_idx).ok_or_else(|| fail(format!("mode {mode_idx} or xattrs {xattr_idx} not in the part's tables")))?;
                    if size > crate::format::MAX_PART_SIZE.saturating_mul(16) {
                        return Err(fail(format!("object size {size} is implausible")));
                    }
                    let sink = if self.txn.has_object(&csum, kind) { None } else { Some(Sink::new(&self.tmpdir, size)?) };
                    self.open = Some(Open { kind, csum, meta, size, sink });
                }
                op::WRITE => {
                    let (len, off) = (arg()?, arg()?);
                    let Some(open) = self.open.as_mut() else { return Err(fail("no object is open".into())) };
                    let room = open.size - open.sink.as_ref().map_or(0, Sink::len);
                    if len > room {
                        return Err(fail(format!("writes {len} bytes, {room} left of the object's {} bytes", open.size)));
                    }
                    match (self.source.as_mut(), open.sink.as_mut()) {
                        (Some(src), Some(sink)) => src.copy_to(self.txn.repo(), off, len, sink).map_err(|e| fail(e.to_string()))?,
                        (Some(_), None) => {}
                        (None, sink) => {
                            let data =
                                blob_at(blob, off, len).ok_or_else(|| fail(format!("offset {off} length {len} is outside the {}-byte blob", blob.len())))?;
                            if let Some(sink) = sink {
                                sink.write(data).map_err(|e| Error::io("<delta temp file>", e))?;
                            }
                        }
                    }
                }
                op::SET_READ_SOURCE => {
                    let off = arg()?;
                    let raw = blob_at(blob, off, 32).ok_or_else(|| fail(format!("offset {off} is outside the {}-byte blob", blob.len())))?;
                    let csum = Checksum::from_slice(raw).ok_or_else(|| fail("bad checksum".into()))?;
                    self.source = Some(Source::open(self.txn.repo(), csum).map_err(|e| fail(format!("read source {csum}: {e}")))?);
                }
                op::UNSET_READ_SOURCE => self.source = None,
                op::CLOSE => {
                    let Some(open) = self.open.take() else { return Err(fail("no object is open".into())) };
                    let present = open.sink.is_none();
                    if let Some(sink) = open.sink {
                        if sink.len() != open.size {
                            return Err(fail(format!("object {} closed after {} of its {} bytes", open.csum, sink.len(), open.size)));
                        }
                        self.store_content(&open.csum, open.meta, ObjectData::Sink(sink))?;
                    }
                    let _ = open.kind;
                    self.finish_object(present);
                }
                op::BSPATCH => {
                    let (off, len) = (arg()?, arg()?);
                    let patch = blob_at(blob, off, len).ok_or_else(|| fail(format!("offset {off} length {len} is outside the {}-byte blob", blob.len())))?;
                    let Some(open) = self.open.as_mut() else { return Err(fail("no object is open".into())) };
                    let Some(src) = self.source.as_mut() else { return Err(fail("no read source is set".into())) };
                    if let Some(sink) = open.sink.as_mut() {
                        if sink.len() != 0 {
                            return Err(fail("bspatch into an object that already has data".into()));
                        }
                        let size = usize::try_from(open.size).map_err(|_| fail("object too large".into()))?;
                        let old = src.read_all(self.txn.repo()).map_err(|e| fail(e.to_string()))?;
                        let new = bspatch(&old, patch, size).map_err(|e| fail(format!("object {}: {e}", open.csum)))?;
                        sink.write(&new).map_err(|e| Error::io("<delta temp file>", e))?;
                    }
                }
                other => return Err(Error::Opcode { part: self.part, offset: at, opcode: other, what: "unknown opcode".into() }),
            }
        }
        if self.open.is_some() {
            return Err(Error::Part { part: self.part, what: "the last object was never closed".into() });
        }
        if self.next != self.objects.len() {
            return Err(Error::Part { part: self.part, what: format!("wrote {} of the {} objects its header lists", self.next, self.objects.len()) });
        }
        Ok(())
    }

    fn finish_object(&mut self, present: bool) {
        self.next += 1;
        self.source = None;
        if present {
            self.stats.present += 1;
        } else {
            self.stats.written += 1;
        }
    }
}

enum ObjectData<'a> {
    Bytes(&'a [u8]),
    Sink(Sink),
}

/// Verify, decompress and run one part file into `txn`.
pub fn execute_part(txn: &Transaction<'_>, idx: usize, header: &PartHeader, part_file: &[u8]) -> Result<PartStats> {
    format::verify_part(idx, header, part_file)?;
    let payload_bytes = format::decompress_part(idx, part_file, format::MAX_PART_SIZE)?;
    let payload = Payload::parse(idx, &payload_bytes)?;
    let tmpdir = txn.repo().path().join("tmp");
    let mut exec = Exec { txn, part: idx, objects: &header.objects, payload: &payload, tmpdir, next: 0, open: None, source: None, stats: PartStats::default() };
    exec.run()?;
    Ok(exec.stats)
}

/// Read a superblock: `path` is a delta directory or a superblock file.
/// A signed superblock is unwrapped (its signatures are checked by
/// `static-delta verify` and by pulls from remotes that require them).
pub fn read_superblock(path: &Path) -> Result<(Superblock, PathBuf)> {
    let (bytes, dir) = read_superblock_file(path)?;
    let sb = match format::unwrap_signed(&bytes)? {
        Some((inner, _)) => Superblock::from_bytes(inner)?,
        None => Superblock::from_bytes(&bytes)?,
    };
    Ok((sb, dir))
}

/// The bytes of a superblock file (signed or not), bounded, and its directory.
pub fn read_superblock_file(path: &Path) -> Result<(Vec<u8>, PathBuf)> {
    let (file, dir) =
        if path.is_dir() { (path.join("superblock"), path.to_path_buf()) } else { (path.to_path_buf(), path.parent().unwrap_or(Path::new(".")).to_path_buf()) };
    let f = File::open(&file).map_err(|e| Error::io(&file, e))?;
    let mut bytes = Vec::new();
    f.take(format::MAX_SUPERBLOCK_SIZE + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&file, e))?;
    if bytes.len() as u64 > format::MAX_SUPERBLOCK_SIZE {
        return Err(Error::superblock(format!("{} is larger than {} bytes", file.display(), format::MAX_SUPERBLOCK_SIZE)));
    }
    Ok((bytes, dir))
}

/// Read one part file from disk, bounded by its header's size.
fn read_part(dir: &Path, idx: usize, header: &PartHeader) -> Result<Vec<u8>> {
    let p = dir.join(idx.to_string());
    let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
    let mut bytes = Vec::new();
    f.take(header.size.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(&p, e))?;
    if bytes.len() as u64 != header.size {
        return Err(Error::Part { part: idx, what: format!("{} is not the {} bytes its header says", p.display(), header.size) });
    }
    Ok(bytes)
}

/// `static-delta apply-offline PATH`: apply a delta from a directory (or a
/// superblock file with its parts beside it). Returns the target commit.
pub fn apply_offline(repo: &Repo, path: &Path) -> Result<Checksum> {
    let (bytes, dir) = read_superblock_file(path)?;
    apply_offline_superblock(repo, &bytes, &dir)
}

/// [`apply_offline`] of superblock bytes already read (and, where a
/// signature is required, verified by the caller: so what runs is exactly
/// what was checked); the parts are read from `dir`.
pub fn apply_offline_superblock(repo: &Repo, bytes: &[u8], dir: &Path) -> Result<Checksum> {
    let sb = match format::unwrap_signed(bytes)? {
        Some((inner, _)) => Superblock::from_bytes(inner)?,
        None => Superblock::from_bytes(bytes)?,
    };
    if let Some(from) = &sb.from {
        if !repo.has_object(from, ObjectType::Commit) {
            return Err(Error::MissingSource(*from));
        }
    }
    for fb in &sb.fallbacks {
        if !repo.has_object(&fb.checksum, fb.kind) {
            return Err(Error::MissingFallback { object: format!("{}.{}", fb.checksum, fb.kind) });
        }
    }
    let txn = repo.begin()?;
    match apply_parts(&txn, &sb, |idx, h| match sb.inline_part(idx) {
        Some(b) => Ok(b.to_vec()),
        None => read_part(dir, idx, h),
    }) {
        Ok(()) => {
            txn.commit()?;
            Ok(sb.to)
        }
        Err(e) => {
            if let Err(abort) = txn.abort() {
                log::warn!("discarding the failed delta's staged objects: {abort}");
            }
            Err(e)
        }
    }
}

/// Run every part, then write the commit (and its detached metadata) last.
pub fn apply_parts(txn: &Transaction<'_>, sb: &Superblock, mut part: impl FnMut(usize, &PartHeader) -> Result<Vec<u8>>) -> Result<()> {
    for (idx, h) in sb.parts.iter().enumerate() {
        if h.objects.iter().all(|(k, c)| txn.has_object(c, *k)) {
            continue;
        }
        let bytes = part(idx, h)?;
        let st = execute_part(txn, idx, h, &bytes)?;
        log::debug!("delta part {idx}: {} objects written, {} present", st.written, st.present);
    }
    write_commit(txn, sb)
}

/// Store the superblock's commit and detached metadata, verified.
pub fn write_commit(txn: &Transaction<'_>, sb: &Superblock) -> Result<()> {
    ostree_repo::fsck::verify_metadata(ObjectType::Commit, &sb.to, &sb.commit).map_err(|e| Error::superblock(format!("commit {}: {}", sb.to, e.root())))?;
    if let Some(cm) = &sb.commitmeta {
        ostree_repo::gvariant::Value::from_bytes_normal(cm, ostree_repo::object::vardict_type()).map_err(|e| Error::superblock(format!("commitmeta: {e}")))?;
        txn.write_metadata_trusted(ObjectType::CommitMeta, &sb.to, cm)?;
    }
    txn.write_metadata_trusted(ObjectType::Commit, &sb.to, &sb.commit)?;
    Ok(())
}
