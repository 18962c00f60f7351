//! Small file-system helpers: atomic replace, directory fsync, unique
//! temporary names.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Length of a read buffer for an object of `size` bytes, between 1 and
/// `max`. `size` comes from an object header (an outside number): it is
/// never truncated to a 32-bit `usize` nor incremented unchecked.
pub fn buffer_len(size: u64, max: usize) -> usize {
    usize::try_from(size).map_or(max, |n| n.clamp(1, max))
}

/// A name for a temporary file that no other process or thread uses:
/// `.tmp-<pid>-<counter>-<suffix>`.
pub fn tmp_name(suffix: &str) -> String {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".tmp-{}-{n}-{suffix}", PID.get_or_init(std::process::id))
}

/// `n` random lowercase alphanumerics from the kernel's random pool.
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut buf = vec![0u8; n];
    let filled = File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut buf)).is_ok();
    if !filled {
        // No /dev/urandom (early boot): fall back on time and pid mixing.
        let mut x = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32)
            ^ TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        for b in &mut buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 32) as u8;
        }
    }
    buf.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// fsync a directory so entries created or renamed in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).at(dir)
}

/// `create_dir_all` whose new directories survive a power cut: each one
/// created is fsynced, and so is the directory it was created in.
pub fn create_dir_all_durable(dir: &Path, durable: bool) -> Result<()> {
    if !durable {
        return fs::create_dir_all(dir).at(dir);
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        missing.push(d);
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            // Another process made it first; its fsyncs are its own.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e).at(d),
        }
        fsync_dir(d)?;
        fsync_dir(d.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Replace `path` with `data`: write a temp file beside it, fsync, rename,
/// fsync the directory. Readers see the old or the new content, never a mix.
pub fn atomic_write(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    atomic_write_with(path, mode, durable, |f| f.write_all(data).at(path))
}

/// `atomic_write` for content streamed by `write` (a tar export): nothing
/// appears under `path` unless `write` succeeds.
pub fn atomic_write_with(path: &Path, mode: u32, durable: bool, write: impl FnOnce(&mut io::BufWriter<fs::File>) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(tmp_name(&name));
    let result = (|| -> Result<()> {
        let f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).at(&tmp)?;
        let mut w = io::BufWriter::new(f);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        if durable {
            f.sync_all().at(&tmp)?;
        }
        fs::rename(&tmp, path).at(path)?;
        if durable {
            fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The kernel's boot id (ostree names staging directories with it, so only
/// the same boot resumes them). `OSTREE_BOOTID` overrides, as in ostree.
pub fn boot_id() -> String {
    if let Ok(id) = std::env::var("OSTREE_BOOTID") {
        return id;
    }
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_else(|_| "noboot".to_string())
}

/// Remove a directory tree, tolerating that it is already gone.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at(path),
    }
}

/// Sizes as GLib's `g_format_size` prints them: "482 bytes", "1.5 kB".
pub fn format_size(n: u64) -> String {
    if n == 1 {
        return "1 byte".to_string();
    }
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    for unit in ["kB", "MB", "GB", "TB", "PB", "EB"] {
        v /= 1000.0;
        if v < 1000.0 || unit == "EB" {
            return format!("{v:.1} {unit}");
        }
    }
    unreachable!("loop returns at EB")
}

/// Exactly what ostree prints with `g_format_size`: GLib puts a no-break
/// space before the decimal units ("1.0\u{a0}kB", in every locale: it is
/// in the untranslated string), a plain one before "bytes".
pub fn format_size_glib(n: u64) -> String {
    let s = format_size(n);
    if s.ends_with("bytes") || s.ends_with("byte") {
        s
    } else {
        s.replace(' ', "\u{a0}")
    }
}

/// The bytes of a regular file of at most `max` bytes, opened with
/// [`uptree_sys::fs::open_regular`]: a symlink, FIFO or device where a
/// repository file should be is an error, never followed or waited on.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let f = uptree_sys::fs::open_regular(path)?;
    let mut buf = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than the {max} bytes allowed")));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_dirs() {
        let t = tempfile::tempdir().expect("tmp");
        let deep = t.path().join("refs/heads/a/b/c");
        fs::create_dir_all(t.path().join("refs/heads")).expect("mkdir");
        create_dir_all_durable(&deep, true).expect("creates");
        assert!(deep.is_dir());
        create_dir_all_durable(&deep, true).expect("exists already");
        let f = deep.join("x");
        fs::write(&f, "y").expect("w");
        assert!(create_dir_all_durable(&f.join("sub"), true).is_err(), "a file in the way");
    }
}
