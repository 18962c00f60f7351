//! [`Store`]: the environment on its device(s), read and written as
//! libubootenv's `fw_printenv`/`fw_setenv` do. All file I/O of the crate is
//! here.
//!
//! # What a load does
//! Every copy is read (`size` bytes at its offset) and its CRC checked. One
//! copy: it is the environment if valid. Two copies: the valid one, or if
//! both are valid the one [`select_active`] picks from the flag bytes
//! (incremental scheme: files and block devices). A copy that cannot be
//! read, is short, or fails its CRC is reported in [`Loaded::faults`]; only
//! when no copy is valid does the load fail ([`Error::NoValidCopy`]), and
//! [`Store::load_or_default`] then hands back a default instead, as
//! `fw_printenv -f` and U-Boot do. (libubootenv 0.3.2 is stricter about
//! one thing: a copy that reads short, such as a truncated file, makes it
//! refuse the whole environment even when the other copy is good.)
//!
//! # What a save does
//! libubootenv's `libuboot_env_store`, step by step:
//!
//! * single copy: the block (flagless) replaces copy 0;
//! * redundant: the copies are read again and the active one chosen as a
//!   load would; the new block goes to the **other** copy with flag
//!   `active flag + 1` (mod 256). The active copy is not touched, so if the
//!   write is cut short the old environment stays the valid, selected one;
//!   once the new copy is complete its flag makes it the newer. With no
//!   valid copy, copy 0 counts as active with whatever flag byte it holds,
//!   so the write goes to copy 1, as libubootenv does.
//!
//! Re-reading at save time (instead of trusting an earlier load) keeps the
//! flag sequence right if `fw_setenv` ran in between.
//!
//! How the bytes reach the device:
//!
//! * **two copies**: the inactive copy is overwritten in place and
//!   fsynced (created, with its directory fsynced, if it is a missing
//!   file). It is never replaced by rename: on FAT that rewrites the
//!   directory holding the active copy's entry too, in several writes.
//!   A cut at any moment leaves the active copy as it was, so U-Boot and
//!   fw_printenv read the old environment or the new one.
//! * **one copy**, the whole of a regular file (offset 0, file no longer
//!   than the block): on a file system whose rename is atomic (ext4, …)
//!   temp file in the same directory, fsync, rename, fsync of the
//!   directory, mode and owner kept — old or new after a crash. On FAT
//!   and exFAT (`statfs`), where a rename is not atomic, the file is
//!   overwritten in place and fsynced like any other single copy: the
//!   file system's metadata is not touched (same size, same clusters),
//!   but a cut during the write leaves a torn block whose CRC fails, and
//!   U-Boot then boots its built-in default environment. That window is
//!   what a single copy risks; a redundant environment closes it.
//! * anything else (a block device, an offset inside a file): in place,
//!   fsynced, as libubootenv writes it.
//!
//! A missing file is created (libubootenv would refuse it), except under
//! `/dev`.
//!
//! Not supported: MTD and UBI devices (`/dev/mtd*`, `/dev/ubi*`), which need
//! erase/volume-update ioctls and NOR's boolean flags; libubootenv's lock
//! file (`/var/lock/fw_printenv.lock`) is not taken, so callers must not
//! run `fw_setenv` concurrently with a save.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::statfs::{FsType, MSDOS_SUPER_MAGIC};

use crate::block::{header_len, next_flag, select_active, FlagScheme};
use crate::config::{Config, Location};
use crate::env::Env;
use crate::error::{Error, Result};

/// The environment as found by [`Store::load`].
#[derive(Debug)]
pub struct Loaded {
    /// The variables of the active copy (or the default).
    pub env: Env,
    /// Index of the copy read (0 or 1); `None` when
    /// [`Store::load_or_default`] fell back to the default.
    pub active: Option<usize>,
    /// The active copy's flag byte (redundant environments only).
    pub flag: Option<u8>,
    /// What is wrong with the other copies: [`Error::Copy`] values (CRC
    /// mismatch, short read, I/O). Empty when every copy is valid.
    pub faults: Vec<Error>,
}

/// Where [`Store::save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// The copy written (0 or 1).
    pub copy: usize,
    /// The flag byte it carries (redundant environments only).
    pub flag: Option<u8>,
}

/// A file-backed U-Boot environment, as configured by `fw_env.config`.
#[derive(Debug, Clone)]
pub struct Store {
    config: Config,
}

/// A copy's device, resolved on the file system.
#[derive(Debug)]
struct Target {
    path: PathBuf,
    offset: u64,
    /// Metadata of a regular file; `None` for a device, or a file that
    /// does not exist yet.
    regular: Option<Metadata>,
    exists: bool,
}

/// One copy as read.
#[derive(Debug)]
struct CopyRead {
    /// The parsed copy, or why it is unusable (an [`Error::Copy`]).
    parsed: Result<(Env, Option<u8>)>,
    /// Its flag byte, whatever its CRC (libubootenv uses it even then).
    raw_flag: u8,
}

impl Store {
    /// A store for `config`. Fails for copies this crate cannot write
    /// (MTD/UBI) or a block size too small for the header.
    pub fn new(config: Config) -> Result<Store> {
        let min = header_len(config.is_redundant()) + 1;
        if config.copies.is_empty() || config.copies.len() > 2 {
            return Err(Error::Config { line: 0, what: "one or two environment locations expected".into() });
        }
        for c in &config.copies {
            if c.size < min {
                return Err(Error::Config { line: 0, what: format!("environment size {:#x} is below the minimum {min}", c.size) });
            }
            if c.size != config.size() {
                return Err(Error::Config { line: 0, what: "the two copies differ in size".into() });
            }
            let dev = c.device.as_os_str().as_encoded_bytes();
            if dev.starts_with(b"/dev/mtd") || dev.starts_with(b"/dev/ubi") {
                return Err(Error::Device { path: c.device.clone(), what: "MTD and UBI devices are not supported (they need erase ioctls)".into() });
            }
        }
        Ok(Store { config })
    }

    /// A store configured by the `fw_env.config` at `path`.
    pub fn open(config_path: impl AsRef<Path>) -> Result<Store> {
        Store::new(Config::load(config_path)?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads the environment: the valid copy, or of two valid copies the
    /// newer. [`Error::NoValidCopy`] if no copy is valid.
    pub fn load(&self) -> Result<Loaded> {
        let mut reads = self.read_all()?;
        let redundant = self.config.is_redundant();
        let valid: Vec<bool> = reads.iter().map(|r| r.parsed.is_ok()).collect();
        let active = if redundant {
            let flags = [reads[0].raw_flag, reads[1].raw_flag];
            select_active([valid[0], valid[1]], flags, FlagScheme::Incremental)
        } else {
            valid[0].then_some(0)
        };
        let mut faults = Vec::new();
        let mut chosen = None;
        for (i, read) in reads.drain(..).enumerate() {
            match read.parsed {
                Ok(parsed) if Some(i) == active => chosen = Some(parsed),
                Ok(_) => {}
                Err(e) => faults.push(e),
            }
        }
        match (active, chosen) {
            (Some(i), Some((env, flag))) => {
                for f in &faults {
                    log::warn!("U-Boot environment: {f}");
                }
                Ok(Loaded { env, active: Some(i), flag, faults })
            }
            _ => Err(Error::NoValidCopy { faults }),
        }
    }

    /// [`Store::load`], but with no valid copy the result is `default`
    /// (`active: None`), as U-Boot boots its built-in environment. Other
    /// errors (configuration, unsupported devices) still fail.
    pub fn load_or_default(&self, default: Env) -> Result<Loaded> {
        match self.load() {
            Err(Error::NoValidCopy { faults }) => {
                log::warn!("no valid U-Boot environment, starting from the default");
                Ok(Loaded { env: default, active: None, flag: None, faults })
            }
            other => other,
        }
    }

    /// Writes `env`, sorted by name and padded with 0x00: over the single
    /// copy, or into the inactive one of two with the next flag (see the
    /// module docs). [`Error::TooLarge`] before any I/O if it does not fit.
    pub fn save(&self, env: &Env) -> Result<Saved> {
        let size = self.config.size();
        let redundant = self.config.is_redundant();
        let needed = header_len(redundant) + env.data_len();
        if needed > size {
            return Err(Error::TooLarge { needed, size });
        }
        let (copy, flag) = if redundant {
            let reads = self.read_all()?;
            let valid = [reads[0].parsed.is_ok(), reads[1].parsed.is_ok()];
            let flags = [reads[0].raw_flag, reads[1].raw_flag];
            let active = select_active(valid, flags, FlagScheme::Incremental).unwrap_or_else(|| {
                log::warn!("no valid U-Boot environment copy; writing copy 1");
                0
            });
            let flag = next_flag(flags[active], FlagScheme::Incremental);
            (1 - active, Some(flag))
        } else {
            (0, None)
        };
        let block = env.to_block(size, flag)?;
        let location = &self.config.copies[copy];
        let target = resolve(location)?;
        write_copy(&target, &block, redundant).map_err(|e| wrap(copy, &target, e))?;
        log::debug!("wrote U-Boot environment copy {copy} ({} at {:#x}), flag {flag:?}", target.path.display(), target.offset);
        Ok(Saved { copy, flag })
    }

    fn read_all(&self) -> Result<Vec<CopyRead>> {
        let redundant = self.config.is_redundant();
        let size = self.config.size();
        let mut reads = Vec::with_capacity(self.config.copies.len());
        for (i, location) in self.config.copies.iter().enumerate() {
            let target = resolve(location)?;
            let read = match read_copy(&target, size) {
                Ok(block) => {
                    CopyRead { raw_flag: if redundant { block[4] } else { 0 }, parsed: Env::from_block(&block, redundant).map_err(|e| wrap(i, &target, e)) }
                }
                Err(e) => CopyRead { raw_flag: 0, parsed: Err(wrap(i, &target, e)) },
            };
            reads.push(read);
        }
        Ok(reads)
    }
}

fn wrap(copy: usize, target: &Target, e: Error) -> Error {
    Error::Copy { copy, path: target.path.clone(), offset: target.offset, source: Box::new(e) }
}

/// Finds out what the device is and where the copy starts on it.
fn resolve(location: &Location) -> Result<Target> {
    let path = location.device.clone();
    let meta = match std::fs::metadata(&path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, e)),
    };
    let file_type = meta.as_ref().map(Metadata::file_type);
    if file_type.is_some_and(|t| t.is_dir()) {
        return Err(Error::Device { path, what: "is a directory".into() });
    }
    let is_regular = file_type.is_none_or(|t| t.is_file());
    let offset = if let Ok(offset) = u64::try_from(location.offset) {
        offset
    } else if !is_regular && file_type.is_some_and(|t| t.is_block_device()) {
        // Back from the end of the device, as libubootenv does with
        // BLKGETSIZE64; seeking to the end gives the same size.
        let mut f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = f.seek(SeekFrom::End(0)).map_err(|e| Error::io(&path, e))?;
        let back = location.offset.unsigned_abs();
        len.checked_sub(back).ok_or_else(|| Error::Device { path: path.clone(), what: format!("offset -{back:#x} is before the start ({len:#x} bytes)") })?
    } else {
        return Err(Error::Device { path, what: "a negative offset needs a block device".into() });
    };
    Ok(Target { exists: meta.is_some(), regular: meta.filter(|_| is_regular), path, offset })
}

fn read_copy(target: &Target, size: usize) -> Result<Vec<u8>> {
    let path = &target.path;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    f.seek(SeekFrom::Start(target.offset)).map_err(|e| Error::io(path, e))?;
    let mut block = Vec::with_capacity(size);
    f.take(size as u64).read_to_end(&mut block).map_err(|e| Error::io(path, e))?;
    if block.len() < size {
        return Err(Error::ShortRead { len: block.len(), size });
    }
    Ok(block)
}

fn write_copy(target: &Target, block: &[u8], redundant: bool) -> Result<()> {
    if !target.exists && target.path.starts_with("/dev") {
        // A missing device is a configuration error, not a file to create.
        return Err(Error::Device { path: target.path.clone(), what: "no such device".into() });
    }
    // Of two copies the inactive one is overwritten where it is, never
    // replaced by rename: a rename rewrites the directory that also holds
    // the active copy's entry (on FAT in several separate metadata writes),
    // and the active copy is what must come through a power cut untouched.
    let whole_file = target.offset == 0 && (!target.exists || target.regular.as_ref().is_some_and(|m| m.len() <= block.len() as u64));
    if !redundant && whole_file && rename_is_atomic(&parent_dir(&target.path))? {
        atomic_replace(&target.path, target.regular.as_ref(), block)
    } else {
        write_in_place(&target.path, target.offset, block, !target.exists)
    }
}

/// exFAT's `statfs` magic (nix names FAT's, not this one).
const EXFAT_SUPER_MAGIC: FsType = FsType(0x2011_bab0);

/// Whether a single-copy file in `dir` is better replaced by rename (old
/// or new after a crash) than overwritten in place (torn by a crash).
fn rename_is_atomic(dir: &Path) -> Result<bool> {
    let fs = nix::sys::statfs::statfs(dir).map_err(|e| Error::io(dir, e.into()))?;
    Ok(replace_by_rename(fs.filesystem_type()))
}

/// False for FAT (vfat/msdos) and exFAT, whose rename is not one atomic
/// update: replacing a file frees the old clusters, rewrites one directory
/// entry and removes another in separate writes, in an order fsync does
/// not fix; a cut in between leaves a file system that needs `fsck` and an
/// environment file that may point at freed clusters.
fn replace_by_rename(fs: FsType) -> bool {
    fs != MSDOS_SUPER_MAGIC && fs != EXFAT_SUPER_MAGIC
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `block` at `offset` and fsyncs it; a file created here also gets
/// its directory fsynced, so the new entry is as durable as its data.
fn write_in_place(path: &Path, offset: u64, block: &[u8], create: bool) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut f = OpenOptions::new().write(true).create(create).truncate(false).open(path).map_err(io)?;
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    f.write_all(block).map_err(io)?;
    f.sync_all().map_err(io)?;
    if create {
        sync_dir(&parent_dir(path))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match d.sync_all() {
        // Some file systems cannot fsync a directory (EINVAL); the entry
        // is then as durable as they make it.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other.map_err(|e| Error::io(dir, e)),
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temp file in the same directory, fsync, rename over `path`, fsync the
/// directory: after a crash `path` holds the old block or the new one.
fn atomic_replace(path: &Path, old: Option<&Metadata>, block: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| Error::Device { path: path.to_path_buf(), what: "not a file name".into() })?;
    let dir = parent_dir(path);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let io = |e| Error::io(&tmp, e);
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io)?;
        if let Some(old) = old {
            f.set_permissions(old.permissions()).map_err(io)?;
            let new = f.metadata().map_err(io)?;
            if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
                if let Err(e) = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid())) {
                    log::warn!("{}: cannot keep owner: {e}", path.display());
                }
            }
        }
        f.write_all(block).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::env::tests::env;

    #[test]
    fn single_file_is_replaced_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("uboot.env");
        let store = Store::new(Config::single(Location::new(&path, 0, 0x100))).expect("store");
        assert!(matches!(store.load(), Err(Error::NoValidCopy { .. })));
        let e = env(&[("a", "1")]);
        assert_eq!(store.save(&e).expect("save"), Saved { copy: 0, flag: None });
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).expect("chmod");
        let ino = std::fs::metadata(&path).expect("stat").ino();
        store.save(&env(&[("a", "2")])).expect("save");
        let meta = std::fs::metadata(&path).expect("stat");
        assert_ne!(meta.ino(), ino, "not replaced by rename");
        assert_eq!(meta.mode() & 0o777, 0o640, "mode not kept");
        assert_eq!(meta.len(), 0x100);
        let loaded = store.load().expect("load");
        assert_eq!(loaded.env, env(&[("a", "2")]));
        assert_eq!((loaded.active, loaded.flag), (Some(0), None));
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("readdir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["uboot.env"]);
    }

    #[test]
    fn offset_inside_a_file_is_written_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk.img");
        std::fs::write(&path, vec![0xA5u8; 0x400]).expect("write");
        let ino = std::fs::metadata(&path).expect("stat").ino();
        let store = Store::new(Config::single(Location::new(&path, 0x100, 0x80))).expect("store");
        store.save(&env(&[("k", "v")])).expect("save");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(std::fs::metadata(&path).expect("stat").ino(), ino);
        assert_eq!(bytes.len(), 0x400);
        assert!(bytes[..0x100].iter().all(|&b| b == 0xA5));
        assert!(bytes[0x180..].iter().all(|&b| b == 0xA5));
        assert_eq!(store.load().expect("load").env, env(&[("k", "v")]));
    }

    #[test]
    fn redundant_alternates_and_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("env.img");
        std::fs::write(&path, vec![0xFFu8; 0x200]).expect("write");
        let config = Config::redundant(Location::new(&path, 0, 0x100), Location::new(&path, 0x100, 0x100)).expect("config");
        let store = Store::new(config).expect("store");
        let default = env(&[("d", "1")]);
        let loaded = store.load_or_default(default.clone()).expect("default");
        assert_eq!((loaded.env, loaded.active), (default.clone(), None));
        assert_eq!(loaded.faults.len(), 2);
        // No valid copy: copy 0 counts as active with its raw flag 0xFF.
        assert_eq!(store.save(&default).expect("save"), Saved { copy: 1, flag: Some(0) });
        let mut expect = Vec::new();
        for i in 0..5u8 {
            let e = env(&[("i", &i.to_string())]);
            let saved = store.save(&e).expect("save");
            expect.push(saved);
            let loaded = store.load().expect("load");
            assert_eq!(loaded.env, e);
            assert_eq!(Some(saved.copy), loaded.active);
            assert_eq!(saved.flag, loaded.flag);
            assert!(loaded.faults.is_empty());
        }
        let copies: Vec<_> = expect.iter().map(|s| s.copy).collect();
        let flags: Vec<_> = expect.iter().filter_map(|s| s.flag).collect();
        assert_eq!(copies, [0, 1, 0, 1, 0]);
        assert_eq!(flags, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn redundant_files_are_overwritten_in_place_and_the_active_is_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("uboot.env"), dir.path().join("uboot-redund.env"));
        let config = Config::redundant(Location::new(&a, 0, 0x100), Location::new(&b, 0, 0x100)).expect("config");
        let store = Store::new(config).expect("store");
        // The second file does not exist yet (an image that shipped one):
        // the first save creates it and leaves copy 0 alone.
        std::fs::write(&a, env(&[("g", "0")]).to_block(0x100, Some(1)).expect("fits")).expect("write");
        assert_eq!(store.save(&env(&[("g", "1")])).expect("save"), Saved { copy: 1, flag: Some(2) });
        let files = [a, b];
        let inodes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).expect("stat").ino()).collect();
        for g in 2..6 {
            let active = store.load().expect("load").active.expect("active");
            let before = std::fs::read(&files[active]).expect("read");
            let saved = store.save(&env(&[("g", &g.to_string())])).expect("save");
            assert_eq!(saved.copy, 1 - active);
            assert_eq!(std::fs::read(&files[active]).expect("read"), before, "save {g} touched the active copy");
            let now: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).expect("stat").ino()).collect();
            assert_eq!(now, inodes, "save {g} replaced a copy instead of writing it in place");
            assert_eq!(store.load().expect("load").env, env(&[("g", &g.to_string())]));
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).expect("readdir").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        assert_eq!(names, ["uboot-redund.env", "uboot.env"], "no temp files");
    }

    #[test]
    fn single_copy_on_fat_is_not_replaced_by_rename() {
        assert!(!replace_by_rename(MSDOS_SUPER_MAGIC), "vfat");
        assert!(!replace_by_rename(EXFAT_SUPER_MAGIC), "exfat");
        assert!(replace_by_rename(nix::sys::statfs::EXT4_SUPER_MAGIC), "ext4");
        assert!(replace_by_rename(nix::sys::statfs::TMPFS_MAGIC), "tmpfs");
    }

    #[test]
    fn unsupported_and_bad_configs() {
        let mtd = Config::single(Location::new("/dev/mtd1", 0, 0x1000));
        assert!(matches!(Store::new(mtd), Err(Error::Device { .. })));
        let tiny = Config::redundant(Location::new("a", 0, 5), Location::new("b", 0, 5)).expect("config");
        assert!(matches!(Store::new(tiny), Err(Error::Config { .. })));
        let dir = tempfile::tempdir().expect("tempdir");
        let neg = Config::single(Location::new(dir.path().join("f"), -0x100, 0x100));
        let store = Store::new(neg).expect("store");
        assert!(matches!(store.load(), Err(Error::Device { .. })));
        let big = env(&[("x", &"y".repeat(300))]);
        let store = Store::new(Config::single(Location::new(dir.path().join("f"), 0, 0x100))).expect("ok");
        assert!(matches!(store.save(&big), Err(Error::TooLarge { needed: 308, size: 0x100 })));
        assert!(!dir.path().join("f").exists(), "TooLarge must not touch the device");
    }
}
