//! Building a delta on the build server (feature `generate`).
//!
//! Objects the source commit already has are left out; a file whose path
//! exists in the source with other content becomes a bsdiff against it
//! (`r`,`o`,`B`,`c`), or a copy when only its metadata changed
//! (`r`,`o`,`w`,`c`); other new objects are spliced in whole (`S`). Files
//! at least `min_fallback_size` big are left as fallbacks (plain object
//! fetches), as ostree does. Parts are cut at `max_chunk_size` bytes of
//! payload and xz-compressed (stored raw when that is smaller). One part
//! is in memory at a time.
//!
//! The delta is written into `deltas/…` part by part; the superblock goes
//! last, so an interrupted run never leaves a delta that is listed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};

use ostree_repo::object::{Checksum, ObjectType, Xattrs};
use ostree_repo::repo::Content;
use ostree_repo::{fsutil, Repo};

use crate::error::{Error, Result};
use crate::format::{self, op, write_varint, DeltaName, Fallback, PartHeader, Payload, Superblock};

const MB: u64 = 1000 * 1000;

/// Options of `static-delta generate`, in bytes.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// `None`: a delta from nothing (`--empty`).
    pub from: Option<Checksum>,
    pub to: Checksum,
    pub inline: bool,
    /// 0: no fallbacks.
    pub min_fallback_size: u64,
    pub max_bsdiff_size: u64,
    pub max_chunk_size: u64,
    pub disable_bsdiff: bool,
    /// Generation time recorded in the superblock (seconds since the epoch).
    pub timestamp: u64,
}

impl GenerateOptions {
    /// ostree's defaults: fallbacks from 4 MB, bsdiff up to 128 MB, 32 MB parts.
    pub fn new(from: Option<Checksum>, to: Checksum, timestamp: u64) -> GenerateOptions {
        GenerateOptions {
            from,
            to,
            inline: false,
            min_fallback_size: 4 * MB,
            max_bsdiff_size: 128 * MB,
            max_chunk_size: 32 * MB,
            disable_bsdiff: false,
            timestamp,
        }
    }
}

/// What a generation produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateStats {
    pub parts: usize,
    pub objects: usize,
    pub bsdiffs: usize,
    pub copies: usize,
    pub fallbacks: usize,
    pub bytes: u64,
}

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

/// The part being filled.
#[derive(Default)]
struct PartBuilder {
    modes: Vec<(u32, u32, u32)>,
    mode_idx: HashMap<(u32, u32, u32), u64>,
    xattrs: Vec<Xattrs>,
    xattr_idx: HashMap<Xattrs, u64>,
    blob: Vec<u8>,
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

    /// Append to the blob; returns the offset.
    fn data(&mut self, d: &[u8]) -> u64 {
        let off = self.blob.len() as u64;
        self.blob.extend_from_slice(d);
        off
    }

    fn op(&mut self, code: u8, args: &[u64]) {
        self.ops.push(code);
        for a in args {
            write_varint(&mut self.ops, *a);
        }
    }
}

fn read_content(repo: &Repo, csum: &Checksum) -> Result<(ostree_repo::object::FileMeta, Vec<u8>)> {
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

/// Compress a payload as a part file: xz preset 6 (an 8 MiB dictionary,
/// not ostree's preset 8 with 32 MiB: the encoder's match finder needs
/// about ten times the dictionary, which is most of ostree's 366 MiB peak
/// generating the minbase delta, and the device decodes with ~9 MiB),
/// the dictionary no larger than the payload; stored raw when xz does not
/// help.
fn compress(payload: &[u8]) -> Result<Vec<u8>> {
    let mut opts = lzma_rust2::XzOptions::with_preset(6);
    let dict = u32::try_from(payload.len()).unwrap_or(u32::MAX).clamp(4096, opts.lzma_options.dict_size);
    opts.lzma_options.dict_size = dict;
    let mut out = vec![format::COMPRESSION_XZ];
    let mut w = lzma_rust2::XzWriter::new(&mut out, opts).map_err(|e| Error::Invalid(format!("xz: {e}")))?;
    w.write_all(payload).map_err(|e| Error::Invalid(format!("xz: {e}")))?;
    w.finish().map_err(|e| Error::Invalid(format!("xz: {e}")))?;
    if out.len() > payload.len() {
        let mut raw = Vec::with_capacity(payload.len() + 1);
        raw.push(format::COMPRESSION_NONE);
        raw.extend_from_slice(payload);
        return Ok(raw);
    }
    Ok(out)
}

/// Generate the delta `opts.from` → `opts.to` into the repository.
pub fn generate(repo: &Repo, opts: &GenerateOptions) -> Result<(DeltaName, GenerateStats)> {
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
    let dir = repo.path().join(name.path());
    if dir.exists() {
        fsutil::remove_tree(&dir)?;
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut stats = GenerateStats::default();
    let mut headers = Vec::new();
    let mut inline_parts = Vec::new();
    let mut fallbacks = Vec::new();
    let mut part = PartBuilder::default();
    // `force`: ostree always writes at least one part, empty if only the
    // commit changed; so do we.
    let mut flush = |part: &mut PartBuilder, stats: &mut GenerateStats, force: bool| -> Result<()> {
        if part.objects.is_empty() && !(force && headers.is_empty()) {
            return Ok(());
        }
        let PartBuilder { modes, xattrs, blob, ops, objects, uncompressed, .. } = std::mem::take(part);
        let payload = Payload::into_bytes(&modes, &xattrs, blob, ops);
        let file = compress(&payload)?;
        drop(payload);
        let idx = headers.len();
        headers.push(PartHeader { version: 0, checksum: Checksum::of(&file), size: file.len() as u64, uncompressed_size: uncompressed, objects });
        stats.parts += 1;
        stats.bytes += file.len() as u64;
        if opts.inline {
            inline_parts.push((idx, file));
        } else {
            fsutil::atomic_write(&dir.join(idx.to_string()), &file, 0o644, repo.fsync_enabled())?;
        }
        Ok(())
    };
    let room = |part: &PartBuilder, add: u64| !part.objects.is_empty() && part.blob.len() as u64 + add > opts.max_chunk_size;

    for (kind, csum) in &target.meta {
        if old.contains(&(*csum, *kind)) {
            continue;
        }
        let data = repo.read_metadata(*kind, csum)?;
        if room(&part, data.len() as u64) {
            flush(&mut part, &mut stats, false)?;
        }
        let off = part.data(&data);
        part.op(op::OPEN_SPLICE_AND_CLOSE, &[data.len() as u64, off]);
        part.objects.push((*kind, *csum));
        part.uncompressed += data.len() as u64;
        stats.objects += 1;
    }
    for (path, csum) in &target.files {
        if old.contains(&(*csum, ObjectType::File)) {
            continue;
        }
        let (meta, size) = repo.load_file_info(csum)?;
        if opts.min_fallback_size > 0 && meta.is_regular() && size >= opts.min_fallback_size {
            let stored = fs::metadata(repo.object_path(csum, ObjectType::File)).map_err(|e| Error::io(repo.object_path(csum, ObjectType::File), e))?.len();
            fallbacks.push(Fallback { kind: ObjectType::File, checksum: *csum, size: stored, uncompressed_size: size });
            stats.fallbacks += 1;
            continue;
        }
        let (meta, data) = read_content(repo, csum)?;
        let base = old_paths.get(path).filter(|_| meta.is_regular());
        let base = match base {
            Some(b) => match repo.load_file_info(b) {
                Ok((bm, bsize)) if bm.is_regular() => Some((*b, bsize)),
                _ => None,
            },
            None => None,
        };
        let old_data = match base {
            Some((b, _)) => Some(read_content(repo, &b)?.1),
            None => None,
        };
        let same_bytes = old_data.as_deref() == Some(data.as_slice());
        let patch = match (&base, &old_data) {
            (Some((_, bsize)), Some(od))
                if !same_bytes && !opts.disable_bsdiff && *bsize > 0 && *bsize <= opts.max_bsdiff_size && size <= opts.max_bsdiff_size =>
            {
                let mut p = Vec::new();
                bsdiff::diff(od, &data, &mut p).map_err(|e| Error::Invalid(format!("bsdiff {path}: {e}")))?;
                Some(p)
            }
            _ => None,
        };
        let add = patch.as_ref().map_or(data.len(), Vec::len) as u64;
        if room(&part, add) {
            flush(&mut part, &mut stats, false)?;
        }
        let mode = part.mode((meta.uid, meta.gid, meta.mode));
        let xattrs = part.xattrs(&meta.xattrs);
        match (base, same_bytes, patch) {
            (Some((b, _)), true, _) => {
                let src = part.data(&b.0);
                part.op(op::SET_READ_SOURCE, &[src]);
                part.op(op::OPEN, &[mode, xattrs, size]);
                part.op(op::WRITE, &[size, 0]);
                part.op(op::CLOSE, &[]);
                part.op(op::UNSET_READ_SOURCE, &[]);
                stats.copies += 1;
            }
            (Some((b, _)), false, Some(p)) => {
                let src = part.data(&b.0);
                let off = part.data(&p);
                part.op(op::SET_READ_SOURCE, &[src]);
                part.op(op::OPEN, &[mode, xattrs, size]);
                part.op(op::BSPATCH, &[off, p.len() as u64]);
                part.op(op::CLOSE, &[]);
                part.op(op::UNSET_READ_SOURCE, &[]);
                stats.bsdiffs += 1;
            }
            _ => {
                let off = part.data(&data);
                part.op(op::OPEN_SPLICE_AND_CLOSE, &[mode, xattrs, data.len() as u64, off]);
            }
        }
        part.objects.push((ObjectType::File, *csum));
        part.uncompressed += size;
        stats.objects += 1;
    }
    flush(&mut part, &mut stats, true)?;
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
        parts: headers,
        fallbacks,
        inline_parts,
        commitmeta,
        big_endian: false,
    };
    let bytes = sb.to_bytes();
    stats.bytes += bytes.len() as u64;
    fsutil::atomic_write(&dir.join("superblock"), &bytes, 0o644, repo.fsync_enabled())?;
    Ok((name, stats))
}
