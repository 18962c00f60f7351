//! Members of the archives `commit --tree=tar=` reads, as libarchive hands
//! them to ostree: tar (through the `tar` crate, PAX uid/gid/xattrs) and
//! cpio "newc" (SVR4, `cpio -H newc`, as test-libarchive writes), read here.
//! The input is untrusted: sizes are checked before anything is allocated,
//! and a member that ends early is an error, never a short file.

use std::collections::HashMap;
use std::io::{self, Read};

use crate::error::{Error, Result};
use crate::object::Xattrs;

/// What a member is; a device node, FIFO or socket stays `Other` so the
/// importer can name it in its refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    Regular,
    Symlink(String),
    /// A hardlink to an earlier member (path as written in the archive).
    /// cpio carries the shared data on the last link, so it may have some.
    Hardlink(String),
    Other(String),
}

#[derive(Debug)]
pub(crate) struct Member {
    /// As written in the archive.
    pub path: String,
    pub kind: Kind,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only.
    pub perm: u32,
    pub xattrs: Xattrs,
    pub data: Vec<u8>,
}

pub(crate) trait Members {
    fn next_member(&mut self) -> Result<Option<Member>>;
}

fn bad(what: String) -> Error {
    Error::Invalid(what)
}

/// `len` bytes of `r`, allocated as they arrive (a declared size is not
/// trusted with an allocation); fewer is "truncated".
fn read_exact_vec(r: &mut dyn Read, len: u64, path: &str) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
    let got = r.take(len).read_to_end(&mut data).map_err(|e| bad(format!("entry {path:?}: {e}")))?;
    if got as u64 != len {
        return Err(bad(format!("entry {path:?} is truncated")));
    }
    Ok(data)
}

fn utf8(b: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(b).map_err(|_| bad(format!("{what} is not valid UTF-8")))
}

// ---- tar ----

pub(crate) struct TarMembers<'a> {
    entries: tar::Entries<'a, Box<dyn Read>>,
}

impl<'a> TarMembers<'a> {
    pub fn new(archive: &'a mut tar::Archive<Box<dyn Read>>) -> Result<Self> {
        Ok(TarMembers { entries: archive.entries().map_err(|e| bad(format!("reading tar: {e}")))? })
    }
}

impl Members for TarMembers<'_> {
    fn next_member(&mut self) -> Result<Option<Member>> {
        for entry in self.entries.by_ref() {
            let mut entry = entry.map_err(|e| bad(format!("reading tar: {e}")))?;
            let kind = entry.header().entry_type();
            if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink) {
                continue;
            }
            let path = utf8(entry.path_bytes().into_owned(), "entry path")?;
            let mut pax = TarPax::default();
            if let Some(exts) = entry.pax_extensions().map_err(|e| bad(format!("PAX header of {path:?}: {e}")))? {
                for ext in exts {
                    let ext = ext.map_err(|e| bad(format!("PAX header of {path:?}: {e}")))?;
                    pax.add(ext.key_bytes(), ext.value_bytes());
                }
            }
            let h = entry.header();
            let num = |r: io::Result<u64>| -> Result<u32> {
                let v = r.map_err(|e| bad(format!("entry {path:?}: {e}")))?;
                u32::try_from(v).map_err(|_| bad(format!("entry {path:?}: id {v} out of range")))
            };
            let uid = match pax.uid {
                Some(u) => u,
                None => num(h.uid())?,
            };
            let gid = match pax.gid {
                Some(g) => g,
                None => num(h.gid())?,
            };
            let perm = h.mode().map_err(|e| bad(format!("entry {path:?}: {e}")))? & 0o7777;
            let link = |entry: &tar::Entry<'_, Box<dyn Read>>, what: &str| -> Result<String> {
                let t = entry.link_name_bytes().ok_or_else(|| bad(format!("{what} {path:?} without target")))?;
                utf8(t.into_owned(), &format!("{what} target of {path:?}"))
            };
            let kind = match kind {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink(link(&entry, "symlink")?),
                tar::EntryType::Link => Kind::Hardlink(link(&entry, "hardlink")?),
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::Regular,
                other => Kind::Other(format!("unsupported tar entry type {other:?}")),
            };
            let data = if matches!(kind, Kind::Regular | Kind::Hardlink(_)) {
                let size = entry.size();
                read_exact_vec(&mut entry, size, &path)?
            } else {
                Vec::new()
            };
            return Ok(Some(Member { path, kind, uid, gid, perm, xattrs: pax.xattrs, data }));
        }
        Ok(None)
    }
}

#[derive(Default)]
struct TarPax {
    uid: Option<u32>,
    gid: Option<u32>,
    xattrs: Xattrs,
}

impl TarPax {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let num = || std::str::from_utf8(value).ok().and_then(|v| v.trim().parse::<u32>().ok());
        if key == b"uid" {
            self.uid = num();
        } else if key == b"gid" {
            self.gid = num();
        } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            // Not sorted: libarchive hands ostree the PAX xattr records in
            // reverse order (observed with ostree 2022.7: records b, c, a
            // become a, c, b in the object), and the checksum covers that order.
            self.xattrs.retain(|(n, _)| n.as_slice() != name);
            self.xattrs.insert(0, (name.to_vec(), value.to_vec()));
        }
    }
}

// ---- cpio newc ----

/// "070701" (newc) or "070702" (newc with checksums) at the start.
pub(crate) fn is_cpio_newc(magic: &[u8]) -> bool {
    magic.starts_with(b"070701") || magic.starts_with(b"070702")
}

/// PATH_MAX: a longer name is not a file name.
const CPIO_MAX_NAME: u64 = 4096;

pub(crate) struct CpioMembers<R: Read> {
    r: R,
    /// Bytes consumed, for the 4-byte alignment newc pads to.
    pos: u64,
    /// (dev major, dev minor, inode) -> the first name of a multiply linked file.
    links: HashMap<(u32, u32, u32), String>,
    done: bool,
}

impl<R: Read> CpioMembers<R> {
    pub fn new(r: R) -> Self {
        CpioMembers { r, pos: 0, links: HashMap::new(), done: false }
    }

    fn read(&mut self, len: u64, what: &str) -> Result<Vec<u8>> {
        let v = read_exact_vec(&mut self.r, len, what)?;
        self.pos = self.pos.checked_add(len).ok_or_else(|| bad("cpio archive too large".into()))?;
        Ok(v)
    }

    fn align4(&mut self, what: &str) -> Result<()> {
        let pad = (4 - self.pos % 4) % 4;
        self.read(pad, what).map(drop)
    }
}

impl<R: Read> Members for CpioMembers<R> {
    fn next_member(&mut self) -> Result<Option<Member>> {
        if self.done {
            return Ok(None);
        }
        let header = self.read(110, "cpio header")?;
        if !is_cpio_newc(&header) {
            return Err(bad("cpio: bad header magic (only the newc format is read)".into()));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let start = 6 + 8 * i;
            let text = std::str::from_utf8(&header[start..start + 8]).map_err(|_| bad("cpio: header field is not hex".into()))?;
            *v = u32::from_str_radix(text, 16).map_err(|_| bad(format!("cpio: header field {text:?} is not hex")))?;
        }
        let [ino, mode, uid, gid, nlink, _mtime, size, devmajor, devminor, _rmaj, _rmin, namesize, _check] = f;
        if namesize == 0 || u64::from(namesize) > CPIO_MAX_NAME {
            return Err(bad(format!("cpio: name size {namesize} out of range")));
        }
        let mut name = self.read(namesize.into(), "cpio name")?;
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(bad("cpio: name is not NUL-terminated".into()));
        }
        let path = utf8(name, "cpio name")?;
        self.align4(&path)?;
        if path == "TRAILER!!!" {
            self.done = true;
            return Ok(None);
        }
        let data = self.read(size.into(), &path)?;
        self.align4(&path)?;
        let perm = mode & 0o7777;
        let kind = match mode & 0o170000 {
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink(utf8(data.clone(), &format!("symlink target of {path:?}"))?),
            0o100000 if nlink > 1 => match self.links.get(&(devmajor, devminor, ino)) {
                Some(first) => Kind::Hardlink(first.clone()),
                None => {
                    self.links.insert((devmajor, devminor, ino), path.clone());
                    Kind::Regular
                }
            },
            0o100000 => Kind::Regular,
            t => Kind::Other(format!("unsupported cpio entry type 0{t:o}")),
        };
        let data = if matches!(kind, Kind::Symlink(_)) { Vec::new() } else { data };
        Ok(Some(Member { path, kind, uid, gid, perm, xattrs: Vec::new(), data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newc(name: &str, mode: u32, ino: u32, nlink: u32, data: &[u8]) -> Vec<u8> {
        let namesize = name.len() + 1;
        let mut v = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{namesize:08X}{:08X}",
            0,
            0,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.resize(v.len().div_ceil(4) * 4, 0);
        v.extend_from_slice(data);
        v.resize(v.len().div_ceil(4) * 4, 0);
        v
    }

    fn all(bytes: &[u8]) -> Result<Vec<Member>> {
        let mut m = CpioMembers::new(bytes);
        let mut v = Vec::new();
        while let Some(x) = m.next_member()? {
            v.push(x);
        }
        Ok(v)
    }

    #[test]
    fn cpio_members_and_hardlinks() {
        let mut a = newc(".", 0o40755, 1, 2, b"");
        a.extend(newc("f", 0o100644, 2, 2, b""));
        a.extend(newc("g", 0o100644, 2, 2, b"shared"));
        a.extend(newc("l", 0o120777, 3, 1, b"f"));
        a.extend(newc("TRAILER!!!", 0, 0, 1, b""));
        let m = all(&a).expect("parse");
        assert_eq!(
            m.iter().map(|m| (m.path.as_str(), m.kind.clone())).collect::<Vec<_>>(),
            [(".", Kind::Dir), ("f", Kind::Regular), ("g", Kind::Hardlink("f".into())), ("l", Kind::Symlink("f".into()))]
        );
        assert_eq!(m[2].data, b"shared");
    }

    #[test]
    fn cpio_hostile_input_is_an_error() {
        let mut a = newc("f", 0o100644, 2, 1, b"0123456789");
        a.truncate(a.len() - 8);
        assert!(all(&a).is_err(), "truncated data");
        // A declared size of 4 GiB over a few bytes: refused without allocating it.
        let mut huge = newc("f", 0o100644, 2, 1, b"");
        huge[54..62].copy_from_slice(b"FFFFFFFF");
        assert!(all(&huge).is_err());
        let mut long = newc("f", 0o100644, 2, 1, b"");
        long[94..102].copy_from_slice(b"00100000");
        assert!(all(&long).is_err(), "name longer than PATH_MAX");
        assert!(all(b"070707not newc").is_err());
    }
}
