//! `export`: a commit's tree as a GNU tar stream, as ostree writes it with
//! libarchive (ostree_repo_export_tree_to_archive): every entry carries the
//! commit's timestamp and its recorded uid/gid/mode, directories end in `/`,
//! the root is `./` (or the prefix), a directory's files come before its
//! subdirectories, and hardlinked files are written as separate files.
//! GNU tar has no place for extended attributes, so none are written.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};
use crate::object::Checksum;
use crate::repo::{Content, Repo};
use crate::tree::{self, Entry};

/// `--subpath` and `--prefix`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Export this directory of the commit instead of its root.
    pub subpath: Option<String>,
    /// Prepended to every member name as is (ostree adds no `/`).
    pub prefix: String,
}

/// Write `commit`'s tree to `out` and finish the archive.
pub fn export_tar<W: Write>(repo: &Repo, commit: &Checksum, opts: &ExportOptions, out: W) -> Result<W> {
    let c = repo.load_commit(commit)?;
    let start = opts.subpath.as_deref().unwrap_or("/");
    let Entry::Dir { tree, meta } = tree::lookup(repo, commit, start)? else {
        return Err(Error::Invalid(format!("{start}: not a directory")));
    };
    let mut ex = Exporter { repo, mtime: c.timestamp, prefix: &opts.prefix, ar: tar::Builder::new(out) };
    let root = if opts.prefix.is_empty() { "./".to_string() } else { format!("{}/", opts.prefix.trim_end_matches('/')) };
    ex.dir(&root, "", &tree, &meta)?;
    ex.ar.into_inner().map_err(|e| Error::io("<tar output>", e))
}

struct Exporter<'a, W: Write> {
    repo: &'a Repo,
    mtime: u64,
    prefix: &'a str,
    ar: tar::Builder<W>,
}

impl<W: Write> Exporter<'_, W> {
    fn header(&self, kind: tar::EntryType, uid: u32, gid: u32, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mode(mode & 0o7777);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    /// `name` is the member name of this directory, `rel` its path below
    /// the exported root (empty for the root).
    fn dir(&mut self, name: &str, rel: &str, tree: &Checksum, meta: &Checksum) -> Result<()> {
        let dm = self.repo.load_dirmeta(meta)?;
        let mut h = self.header(tar::EntryType::Directory, dm.uid, dm.gid, dm.mode, 0);
        self.ar.append_data(&mut h, name, io::empty()).map_err(|e| member_error(name, e))?;
        let dt = self.repo.load_dirtree(tree)?;
        for (fname, c) in &dt.files {
            let rel = format!("{rel}{fname}");
            let name = format!("{}{rel}", self.prefix);
            let (fm, content) = self.repo.load_file(c)?;
            match content {
                Content::Symlink => {
                    let mut h = self.header(tar::EntryType::Symlink, fm.uid, fm.gid, fm.mode, 0);
                    self.ar.append_link(&mut h, &name, &fm.symlink_target).map_err(|e| member_error(&name, e))?;
                }
                Content::Regular(r, size) => {
                    let mut h = self.header(tar::EntryType::Regular, fm.uid, fm.gid, fm.mode, size);
                    // The tar crate pads by what it copied: a short read must fail, not shift every later member.
                    let data = Exact { inner: r, left: size };
                    self.ar.append_data(&mut h, &name, data).map_err(|e| member_error(&name, e).context(format!("content object {c}")))?;
                }
            }
        }
        for (dname, t, m) in &dt.dirs {
            let rel = format!("{rel}{dname}/");
            let name = format!("{}{rel}", self.prefix);
            self.dir(&name, &rel, t, m)?;
        }
        Ok(())
    }
}

fn member_error(name: &str, e: io::Error) -> Error {
    Error::io("<tar output>", e).context(format!("exporting {name}"))
}

/// Exactly `left` bytes of `inner`; fewer is an error.
struct Exact {
    inner: Box<dyn Read + Send>,
    left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("content ended {} bytes early", self.left)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
