//! Reading files of a deployment, which came from a commit and is not
//! trusted: every path is resolved inside the deployment as if it were `/`
//! (see [`uptree_sys::inroot`]), only regular files are read, and each kind
//! of file has a size bound checked before reading and while reading.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use uptree_sys::inroot::{self, Resolver};

use crate::error::{At, Error, Result};

/// One kind of boot-related file: its bound and whether a symlink as the
/// last component is followed (inside the deployment).
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub what: &'static str,
    pub max: u64,
    pub follow: bool,
}

/// `usr/lib/ostree-boot/uEnv.txt`, appended to the live `uEnv.txt`.
/// ostree opens it following links; U-Boot imports it whole into its
/// environment, which is a few KiB to 128 KiB on real boards.
pub const UENV: Kind = Kind { what: "uEnv.txt", max: 256 << 10, follow: true };
/// `usr/lib/os-release` / `etc/os-release` (often a link to the other).
pub const OS_RELEASE: Kind = Kind { what: "os-release", max: 64 << 10, follow: true };
/// Kernels: ostree opens them with `O_NOFOLLOW`, so a link is an error.
pub const KERNEL: Kind = Kind { what: "kernel", max: 256 << 20, follow: false };
pub const INITRAMFS: Kind = Kind { what: "initramfs", max: 1 << 30, follow: false };
/// The kernel's FIPS checksum file `.vmlinuz.hmac` (a line of hex).
pub const KERNEL_HMAC: Kind = Kind { what: "kernel HMAC", max: 64 << 10, follow: false };
/// One device tree file (`devicetree`, or each file below `dtb/`).
pub const DEVICETREE: Kind = Kind { what: "device tree", max: 16 << 20, follow: false };
/// All files below a `dtb/` directory together (a whole vendor tree of a
/// distribution kernel is ~100 MiB).
pub const DTB_DIR_MAX: u64 = 256 << 20;
/// Levels of subdirectories below a `dtb/` directory.
pub const DTB_MAX_DEPTH: usize = 8;

/// A deployment (or any untrusted tree) opened for reading.
#[derive(Debug)]
pub struct DeployTree {
    root: File,
    path: PathBuf,
    resolver: Resolver,
}

fn is_enoent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl DeployTree {
    pub fn open(path: &Path) -> Result<DeployTree> {
        DeployTree::open_with(path, Resolver::from_env())
    }

    /// `resolver`: [`Resolver::Walk`] forces the path older kernels take.
    pub fn open_with(path: &Path, resolver: Resolver) -> Result<DeployTree> {
        Ok(DeployTree { root: File::open(path).at(path)?, path: path.to_path_buf(), resolver })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_raw(&self, rel: &Path, flags: OFlag, follow: bool) -> io::Result<OwnedFd> {
        inroot::open(self.root.as_fd(), rel, flags, follow, self.resolver)
    }

    /// Whether `rel` exists (links followed inside the tree): `None` when
    /// not, else whether it is a regular file / a directory.
    pub fn probe(&self, rel: &Path) -> Result<Option<std::fs::FileType>> {
        match self.open_raw(rel, OFlag::O_PATH, true) {
            Ok(fd) => Ok(Some(File::from(fd).metadata().at(&self.path.join(rel))?.file_type())),
            Err(e) if is_enoent(&e) => Ok(None),
            Err(e) => Err(Error::io(self.path.join(rel), e)),
        }
    }

    /// Open a regular file of `kind`; `None` when it does not exist.
    /// Returns the file and its size (at most `kind.max`).
    pub fn file(&self, rel: &Path, kind: Kind) -> Result<Option<(File, u64)>> {
        let shown = self.path.join(rel);
        // O_NONBLOCK: opening a FIFO must not wait for a writer.
        let fd = match self.open_raw(rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK, kind.follow) {
            Ok(fd) => fd,
            Err(e) if is_enoent(&e) => return Ok(None),
            Err(e) if !kind.follow && e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
                return Err(Error::NotRegular { path: shown, what: kind.what, found: "symbolic link" })
            }
            Err(e) => return Err(Error::io(shown, e)),
        };
        let f = File::from(fd);
        let m = f.metadata().at(&shown)?;
        if !m.is_file() {
            return Err(Error::NotRegular { path: shown, what: kind.what, found: file_type_name(&m) });
        }
        if m.size() > kind.max {
            return Err(Error::TooLarge { path: shown, what: kind.what, size: m.size(), max: kind.max });
        }
        Ok(Some((f, m.size())))
    }

    /// Read a whole regular file of `kind`; `None` when it does not exist.
    pub fn read(&self, rel: &Path, kind: Kind) -> Result<Option<Vec<u8>>> {
        let Some((f, size)) = self.file(rel, kind)? else { return Ok(None) };
        Ok(Some(read_bounded(f, size, kind, &self.path.join(rel))?))
    }

    /// Read a whole regular text file of `kind`; `None` when it does not exist.
    pub fn read_utf8(&self, rel: &Path, kind: Kind) -> Result<Option<String>> {
        match self.read(rel, kind)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b).map(Some).map_err(|_| Error::Invalid(format!("{}: not UTF-8", self.path.join(rel).display()))),
        }
    }

    /// Open directory `rel` (links followed inside the tree); `None` when
    /// it does not exist.
    pub fn dir(&self, rel: &Path) -> Result<Option<OwnedFd>> {
        match self.open_raw(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY, true) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if is_enoent(&e) => Ok(None),
            Err(e) => Err(Error::io(self.path.join(rel), e)),
        }
    }
}

/// Read `f` (of `size` bytes at open) to the end, failing once it holds
/// more than `kind.max` (a file that grows after the check).
pub fn read_bounded(f: File, size: u64, kind: Kind, shown: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(kind.max.saturating_add(1)).read_to_end(&mut buf).at(shown)?;
    let n = buf.len() as u64;
    if n > kind.max {
        return Err(Error::TooLarge { path: shown.to_path_buf(), what: kind.what, size: n, max: kind.max });
    }
    Ok(buf)
}

pub(crate) fn file_type_name(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "regular file"
    }
}

/// One open directory of a tree being walked without following links.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    pub shown: PathBuf,
}

/// An entry of a [`Dir`].
#[derive(Debug)]
pub enum Entry {
    Dir(Dir),
    File(File, u64),
}

impl Dir {
    pub fn new(fd: OwnedFd, shown: PathBuf) -> Dir {
        Dir { fd, shown }
    }

    /// Names in byte order (ostree's `checksum_dir_recurse` order).
    pub fn names(&self) -> Result<Vec<std::ffi::OsString>> {
        let mut v = self.names_readdir()?;
        v.sort();
        Ok(v)
    }

    /// Whether entry `name` is a directory itself (not a link to one).
    pub fn is_dir(&self, name: &std::ffi::OsStr) -> Result<bool> {
        let st = nix::sys::stat::fstatat(self.fd.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).at(&self.shown.join(name))?;
        Ok(nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT == nix::sys::stat::SFlag::S_IFDIR)
    }

    /// Names in readdir order (which ostree's kernel search follows).
    pub fn names_readdir(&self) -> Result<Vec<std::ffi::OsString>> {
        use std::os::unix::ffi::OsStrExt;
        let dup = self.fd.try_clone().at(&self.shown)?;
        let mut d = nix::dir::Dir::from_fd(dup).at(&self.shown)?;
        let mut v = Vec::new();
        for e in d.iter() {
            let e = e.at(&self.shown)?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                v.push(std::ffi::OsStr::from_bytes(n).to_os_string());
            }
        }
        Ok(v)
    }

    /// Open entry `name`: a directory, or a regular file of `kind`. Links
    /// are never followed (ostree fails on them with `ELOOP`).
    pub fn entry(&self, name: &std::ffi::OsStr, kind: Kind) -> Result<Entry> {
        let shown = self.shown.join(name);
        let fd = nix::fcntl::openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| match e {
            nix::errno::Errno::ELOOP => Error::NotRegular { path: shown.clone(), what: kind.what, found: "symbolic link" },
            e => Error::io(&shown, e.into()),
        })?;
        let f = File::from(fd);
        let m = f.metadata().at(&shown)?;
        if m.is_dir() {
            return Ok(Entry::Dir(Dir { fd: f.into(), shown }));
        }
        if !m.is_file() {
            return Err(Error::NotRegular { path: shown, what: kind.what, found: file_type_name(&m) });
        }
        if m.size() > kind.max {
            return Err(Error::TooLarge { path: shown, what: kind.what, size: m.size(), max: kind.max });
        }
        Ok(Entry::File(f, m.size()))
    }
}
