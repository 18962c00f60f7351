//! The implementation of [`crate::generate`] (feature `generate`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ostree_repo::object::{Checksum, FileMeta, ObjectType, Xattrs};
use ostree_repo::repo::Content;
use ostree_repo::{fsutil, Repo};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::format::{self, op, write_varint, DeltaName, Fallback, PartHeader, Payload, Superblock};
use crate::generate::{FallbackRule, GenerateOptions, GenerateStats};

/// xz dictionary of the parts. The encoder's match finder needs about
/// eleven times the dictionary: xz's preset 6 (8 MiB) costs ~94 MiB, 4 MiB
/// ~50 MiB, for 0.7% more bytes on the minbase update (ostree uses preset 8,
/// 32 MiB: most of its 390 MiB generating that delta).
const XZ_DICT_SIZE: u32 = 4 * 1024 * 1024;

/// The objects of a commit's tree: metadata in walk order, content files
/// with the first path each appears at.
#[derive(Default)]
struct Walked {
    meta: Vec<(ObjectType, Checksum)>,
    files: Vec<(String, Checksum)>,
    seen: HashSet<(Checksum, ObjectType)>,
}

fn walk(repo: &Repo, commit: &Checksum) -> Result<Walked> {
    let c = repo.load_commit(commit)?;
    let mut w = Walked::default();
    walk_dir(repo, "", &c.root_tree, &c.root_meta, &mut w)?;
    Ok(w)
}

fn walk_dir(repo: &Repo, path: &str, tree: &Checksum, meta: &Checksum, w: &mut Walked) -> Result<()> {
    if w.seen.insert((*meta, ObjectType::DirMeta)) {
        w.meta.push((ObjectType::DirMeta, *meta));
    }
    if !w.seen.insert((*tree, ObjectType::DirTree)) {
        return Ok(());
    }
    w.meta.push((ObjectType::DirTree, *tree));
    let dt = repo.load_dirtree(tree)?;
    for (name, c) in &dt.files {
        if w.seen.insert((*c, ObjectType::File)) {
            w.files.push((format!("{path}/{name}"), *c));
        }
    }
    for (name, t, m) in &dt.dirs {
        walk_dir(repo, &format!("{path}/{name}"), t, m, w)?;
    }
    Ok(())
}

/// The part being filled; its blob grows in an unnamed temp file.
#[derive(Default)]
struct PartBuilder {
    modes: Vec<(u32, u32, u32)>,
    mode_idx: HashMap<(u32, u32, u32), u64>,
    xattrs: Vec<Xattrs>,
    xattr_idx: HashMap<Xattrs, u64>,
    blob: Option<BufWriter<File>>,
    blob_len: u64,
    ops: Vec<u8>,
    objects: Vec<(ObjectType, Checksum)>,
    uncompressed: u64,
}

impl PartBuilder {
    fn mode(&mut self, m: (u32, u32, u32)) -> u64 {
        let next = self.modes.len() as u64;
        *self.mode_idx.entry(m).or_insert_with(|| {
            self.modes.push(m);
            next
        })
    }

    fn xattrs(&mut self, x: &Xattrs) -> u64 {
        if let Some(i) = self.xattr_idx.get(x) {
            return *i;
        }
        let i = self.xattrs.len() as u64;
        self.xattrs.push(x.clone());
        self.xattr_idx.insert(x.clone(), i);
        i
    }

    fn blob(&mut self, tmp: &Path) -> Result<&mut BufWriter<File>> {
        if self.blob.is_none() {
            self.blob = Some(BufWriter::new(tempfile::tempfile_in(tmp).map_err(|e| Error::io(tmp, e))?));
        }
        Ok(self.blob.as_mut().unwrap_or_else(|| unreachable!("set above")))
    }

    /// Append to the blob; returns the offset.
    fn data(&mut self, tmp: &Path, d: &[u8]) -> Result<u64> {
        self.copy(tmp, &mut &d[..], d.len() as u64, "part blob")
    }

    /// Append exactly `len` bytes of `r` to the blob; returns the offset.
    fn copy(&mut self, tmp: &Path, r: &mut impl Read, len: u64, what: &str) -> Result<u64> {
        let off = self.blob_len;
        let n = io::copy(&mut r.take(len), self.blob(tmp)?).map_err(|e| Error::io(tmp, e))?;
        if n != len {
            return Err(Error::Invalid(format!("{what}: read {n} of {len} bytes")));
        }
        self.blob_len += n;
        Ok(off)
    }

    fn op(&mut self, code: u8, args: &[u64]) {
        self.ops.push(code);
        for a in args {
            write_varint(&mut self.ops, *a);
        }
    }
}

/// A content object's bytes in memory (for bsdiff and comparisons, so
/// bounded by `max_bsdiff_size`).
fn read_content(repo: &Repo, csum: &Checksum) -> Result<(FileMeta, Vec<u8>)> {
    let (meta, content) = repo.load_file(csum)?;
    let data = match content {
        Content::Symlink => meta.symlink_target.as_bytes().to_vec(),
        Content::Regular(mut r, size) => {
            let mut v = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            r.read_to_end(&mut v).map_err(|e| Error::Invalid(format!("reading {csum}: {e}")))?;
            v
        }
    };
    Ok((meta, data))
}

/// Whether two regular content objects have the same bytes, compared
/// streaming (they may be larger than `max_bsdiff_size`).
fn same_bytes(repo: &Repo, a: &Checksum, b: &Checksum) -> Result<bool> {
    let open = |c: &Checksum| -> Result<BufReader<Box<dyn Read>>> {
        match repo.load_file(c)?.1 {
            Content::Regular(r, _) => Ok(BufReader::new(Box::new(r) as Box<dyn Read>)),
            Content::Symlink => Err(Error::Invalid(format!("{c}: not a regular file"))),
        }
    };
    let (mut ra, mut rb) = (open(a)?, open(b)?);
    let read_err = |c: &Checksum, e: io::Error| Error::Invalid(format!("reading {c}: {e}"));
    loop {
        let ba = ra.fill_buf().map_err(|e| read_err(a, e))?;
        let bb = rb.fill_buf().map_err(|e| read_err(b, e))?;
        let n = ba.len().min(bb.len());
        if n == 0 {
            return Ok(ba.len() == bb.len());
        }
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        ra.consume(n);
        rb.consume(n);
    }
}

/// Write `part` as a part file at `path`: `x` and the payload through xz
/// (the blob streamed from its temp file), or `\0` and the payload when xz
/// does not make it smaller. Returns the file's checksum and size.
fn write_part(path: &Path, part: &mut PartBuilder) -> Result<(Checksum, u64)> {
    let io_err = |e: io::Error| Error::io(path, e);
    let mut blob = match part.blob.take() {
        Some(b) => b.into_inner().map_err(|e| io_err(e.into_error()))?,
        None => tempfile::tempfile().map_err(io_err)?,
    };
    let mut file = fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(io_err)?;
    let mut opts = lzma_rust2::XzOptions::with_preset(6);
    let approx = part.blob_len.saturating_add(part.ops.len() as u64).saturating_add(64 * 1024);
    opts.lzma_options.dict_size = u32::try_from(approx).unwrap_or(u32::MAX).clamp(4096, XZ_DICT_SIZE);
    let mut out = BufWriter::new(&mut file);
    out.write_all(&[format::COMPRESSION_XZ]).map_err(io_err)?;
    let mut xz = lzma_rust2::XzWriter::new(out, opts).map_err(|e| Error::Invalid(format!("xz: {e}")))?;
    blob.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let payload_len = Payload::write(&mut xz, &part.modes, &part.xattrs, &mut BufReader::new(&mut blob), part.blob_len, &part.ops).map_err(io_err)?;
    xz.finish().map_err(|e| Error::Invalid(format!("xz: {e}")))?.flush().map_err(io_err)?;
    let mut size = file.stream_position().map_err(io_err)?;
    if size > payload_len + 1 {
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        blob.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut out = BufWriter::new(&mut file);
        out.write_all(&[format::COMPRESSION_NONE]).map_err(io_err)?;
        Payload::write(&mut out, &part.modes, &part.xattrs, &mut BufReader::new(&mut blob), part.blob_len, &part.ops).map_err(io_err)?;
        out.flush().map_err(io_err)?;
        drop(out);
        size = file.stream_position().map_err(io_err)?;
    }
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut h = Sha256::new();
    io::copy(&mut file, &mut h).map_err(io_err)?;
    Ok((Checksum(h.finalize().into()), size))
}

/// Where parts and the superblock go, and what is written so far.
struct Out<'a> {
    opts: &'a GenerateOptions,
    durable: bool,
    /// Parts' directory.
    dir: PathBuf,
    /// The superblock's path.
    superblock: PathBuf,
    /// Temp files (part blobs).
    tmp: PathBuf,
    headers: Vec<PartHeader>,
    inline_parts: Vec<(usize, Vec<u8>)>,
    stats: GenerateStats,
}

impl Out<'_> {
    fn part_path(&self, idx: usize) -> PathBuf {
        self.dir.join(idx.to_string())
    }

    /// Write `part` out as the next part (`force`: even with no objects,
    /// when it would be the only part: ostree always writes one, empty if
    /// only the commit changed). Returns the part's file size.
    fn flush(&mut self, part: &mut PartBuilder, force: bool) -> Result<Option<u64>> {
        if part.objects.is_empty() && !(force && self.headers.is_empty()) {
            *part = PartBuilder::default();
            return Ok(None);
        }
        let idx = self.headers.len();
        let path = self.part_path(idx);
        let tmp = self.dir.join(fsutil::tmp_name(&idx.to_string()));
        let written = write_part(&tmp, part);
        let (checksum, size) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let PartBuilder { objects, uncompressed, .. } = std::mem::take(part);
        if self.opts.inline {
            let bytes = fs::read(&tmp).map_err(|e| Error::io(&tmp, e))?;
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
            self.inline_parts.push((idx, bytes));
        } else {
            if self.durable {
                File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
            }
            fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        }
        self.headers.push(PartHeader { version: 0, checksum, size, uncompressed_size: uncompressed, objects });
        self.stats.parts += 1;
        self.stats.bytes += size;
        Ok(Some(size))
    }

    /// Take back the last part written (a big file that a part does not
    /// carry in fewer bytes than its plain object).
    fn unflush_last(&mut self) -> Result<()> {
        let Some(h) = self.headers.pop() else { return Ok(()) };
        let idx = self.headers.len();
        if self.opts.inline {
            self.inline_parts.retain(|(i, _)| *i != idx);
        } else {
            let path = self.part_path(idx);
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        drop(h);
        Ok(())
    }
}

pub(crate) fn generate(repo: &Repo, opts: &GenerateOptions) -> Result<(DeltaName, GenerateStats)> {
    let name = DeltaName { from: opts.from, to: opts.to };
    let commit = repo.read_metadata_verified(ObjectType::Commit, &opts.to)?;
    let target = walk(repo, &opts.to)?;
    let (old, old_paths) = match &opts.from {
        Some(f) => {
            let w = walk(repo, f)?;
            let paths: HashMap<String, Checksum> = w.files.iter().cloned().collect();
            (w.seen, paths)
        }
        None => (HashSet::new(), HashMap::new()),
    };
    let (dir, superblock) = match &opts.filename {
        Some(file) => {
            let dir = match file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            (dir, file.clone())
        }
        None => {
            let dir = repo.path().join(name.path());
            if dir.exists() {
                fsutil::remove_tree(&dir)?;
            }
            (dir.clone(), dir.join("superblock"))
        }
    };
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = repo.path().join("tmp");
    let mut out = Out {
        opts,
        durable: repo.fsync_enabled(),
        dir,
        superblock,
        tmp: tmp.clone(),
        headers: Vec::new(),
        inline_parts: Vec::new(),
        stats: GenerateStats::default(),
    };
    let mut fallbacks = Vec::new();
    let mut part = PartBuilder::default();
    let full = |part: &PartBuilder, add: u64| !part.objects.is_empty() && part.blob_len + add > opts.max_chunk_size;

    for (kind, csum) in &target.meta {
        if old.contains(&(*csum, *kind)) {
            continue;
        }
        let data = repo.read_metadata(*kind, csum)?;
        if full(&part, data.len() as u64) {
            out.flush(&mut part, false)?;
        }
        let off = part.data(&out.tmp, &data)?;
        part.op(op::OPEN_SPLICE_AND_CLOSE, &[data.len() as u64, off]);
        part.objects.push((*kind, *csum));
        part.uncompressed += data.len() as u64;
        out.stats.objects += 1;
    }
    for (path, csum) in &target.files {
        if old.contains(&(*csum, ObjectType::File)) {
            continue;
        }
        let (meta, size) = repo.load_file_info(csum)?;
        let big = match opts.fallback {
            FallbackRule::AtLeast(min) => min > 0 && meta.is_regular() && size >= min,
            FallbackRule::WhenSmaller(min) => meta.is_regular() && size >= min,
        };
        let stored = || -> Result<u64> {
            let p = repo.object_path(csum, ObjectType::File);
            Ok(fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len())
        };
        let fallback = Fallback { kind: ObjectType::File, checksum: *csum, size: 0, uncompressed_size: size };
        if big && (matches!(opts.fallback, FallbackRule::AtLeast(_)) || size > opts.max_chunk_size) {
            fallbacks.push(Fallback { size: stored()?, ..fallback });
            out.stats.fallbacks += 1;
            continue;
        }
        if !big {
            add_file(repo, opts, &mut out, &mut part, &old_paths, path, csum, &meta, size)?;
            continue;
        }
        // A big file is tried in a part of its own, while the current part
        // stays open for the files after it.
        let before = out.stats.clone();
        let mut solo = PartBuilder::default();
        add_file(repo, opts, &mut out, &mut solo, &old_paths, path, csum, &meta, size)?;
        let carried = out.flush(&mut solo, false)?.unwrap_or(u64::MAX);
        let plain = stored()?;
        if carried >= plain {
            out.unflush_last()?;
            out.stats = before;
            fallbacks.push(Fallback { size: plain, ..fallback });
            out.stats.fallbacks += 1;
        }
    }
    out.flush(&mut part, true)?;
    let commitmeta = match repo.read_metadata(ObjectType::CommitMeta, &opts.to) {
        Ok(b) => Some(b),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let sb = Superblock {
        metadata: Vec::new(),
        timestamp: opts.timestamp,
        from: opts.from,
        to: opts.to,
        commit,
        parts: out.headers,
        fallbacks,
        inline_parts: out.inline_parts,
        commitmeta,
        big_endian: opts.big_endian,
        endianness_guessed: false,
    };
    let bytes = sb.to_bytes();
    let mut stats = out.stats;
    stats.bytes += bytes.len() as u64;
    fsutil::atomic_write(&out.superblock, &bytes, 0o644, out.durable)?;
    Ok((name, stats))
}

/// Add one content object to `part`: a copy or a bsdiff against the file
/// at the same path in the source, else its bytes (streamed). Flushes
/// `part` first when the object does not fit.
#[allow(clippy::too_many_arguments)]
fn add_file(
    repo: &Repo,
    opts: &GenerateOptions,
    out: &mut Out<'_>,
    part: &mut PartBuilder,
    old_paths: &HashMap<String, Checksum>,
    path: &str,
    csum: &Checksum,
    meta: &FileMeta,
    size: u64,
) -> Result<()> {
    let base = match old_paths.get(path).filter(|_| meta.is_regular()) {
        Some(b) => match repo.load_file_info(b) {
            Ok((bm, bsize)) if bm.is_regular() => Some((*b, bsize)),
            _ => None,
        },
        None => None,
    };
    let same = match base {
        Some((b, bsize)) if bsize == size => same_bytes(repo, &b, csum)?,
        _ => false,
    };
    let patch = match base {
        Some((b, bsize)) if !same && !opts.disable_bsdiff && bsize > 0 && bsize <= opts.max_bsdiff_size && size <= opts.max_bsdiff_size => {
            let (_, od) = read_content(repo, &b)?;
            let (_, nd) = read_content(repo, csum)?;
            let mut p = Vec::new();
            bsdiff::diff(&od, &nd, &mut p).map_err(|e| Error::Invalid(format!("bsdiff {path}: {e}")))?;
            Some(p)
        }
        _ => None,
    };
    let add = if same { 0 } else { patch.as_ref().map_or(size, |p| p.len() as u64) };
    if !part.objects.is_empty() && part.blob_len + add > opts.max_chunk_size {
        out.flush(part, false)?;
    }
    let tmp = out.tmp.clone();
    let mode = part.mode((meta.uid, meta.gid, meta.mode));
    let xattrs = part.xattrs(&meta.xattrs);
    match (base, same, patch) {
        (Some((b, _)), true, _) => {
            let src = part.data(&tmp, &b.0)?;
            part.op(op::SET_READ_SOURCE, &[src]);
            part.op(op::OPEN, &[mode, xattrs, size]);
            part.op(op::WRITE, &[size, 0]);
            part.op(op::CLOSE, &[]);
            part.op(op::UNSET_READ_SOURCE, &[]);
            out.stats.copies += 1;
        }
        (Some((b, _)), false, Some(p)) => {
            let src = part.data(&tmp, &b.0)?;
            let off = part.data(&tmp, &p)?;
            part.op(op::SET_READ_SOURCE, &[src]);
            part.op(op::OPEN, &[mode, xattrs, size]);
            part.op(op::BSPATCH, &[off, p.len() as u64]);
            part.op(op::CLOSE, &[]);
            part.op(op::UNSET_READ_SOURCE, &[]);
            out.stats.bsdiffs += 1;
        }
        _ => {
            let (len, off) = match repo.load_file(csum)?.1 {
                Content::Symlink => (meta.symlink_target.len() as u64, part.data(&tmp, meta.symlink_target.as_bytes())?),
                Content::Regular(r, n) => (n, part.copy(&tmp, &mut BufReader::new(r), n, &format!("reading {csum}"))?),
            };
            part.op(op::OPEN_SPLICE_AND_CLOSE, &[mode, xattrs, len, off]);
        }
    }
    part.objects.push((ObjectType::File, *csum));
    part.uncompressed += size;
    out.stats.objects += 1;
    Ok(())
}
