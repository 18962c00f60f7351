//! The crate's one error type.

use std::io;
use std::path::{Path, PathBuf};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything this crate can fail with. Format errors carry the numbers a
/// reader needs ("stored 0x…, computed 0x…"); store errors name the device,
/// the offset and the copy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stored CRC32 does not match the data area.
    #[error("bad CRC in U-Boot environment block (stored {expected:#010x}, computed {actual:#010x})")]
    Crc {
        /// The CRC stored in the block's first 4 bytes (little-endian).
        expected: u32,
        /// The CRC32 of the data area as read.
        actual: u32,
    },

    /// A block shorter than its header plus the terminating NUL.
    #[error("U-Boot environment block of {len} bytes is too small (minimum {min})")]
    BlockTooSmall {
        /// Bytes given.
        len: usize,
        /// Smallest possible block for this layout.
        min: usize,
    },

    /// A `name=value` string that runs into the end of the block without
    /// its NUL (possible only in a crafted block whose CRC is right).
    #[error("U-Boot environment entry at data offset {offset} is not NUL-terminated")]
    Unterminated {
        /// Offset of the entry inside the data area.
        offset: usize,
    },

    /// The environment does not fit the block.
    #[error("U-Boot environment does not fit: {needed} bytes needed, block size is {size}")]
    TooLarge {
        /// Bytes the block would need (header, entries, terminating NUL).
        needed: usize,
        /// The block size.
        size: usize,
    },

    /// A variable name U-Boot cannot store: empty, or with `=` or NUL.
    #[error("invalid U-Boot variable name {name:?}: {why}")]
    BadName {
        /// The name, lossily decoded.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// A value U-Boot cannot store (it contains NUL).
    #[error("invalid value for U-Boot variable {name:?}: {why}")]
    BadValue {
        /// The variable's name, lossily decoded.
        name: String,
        /// What is wrong with the value.
        why: &'static str,
    },

    /// A value asked for as text that is not UTF-8.
    #[error("value of U-Boot variable {name:?} is not UTF-8")]
    NotUtf8 {
        /// The variable's name, lossily decoded.
        name: String,
    },

    /// `name=value` text (mkenvimage input) with a line that is no entry.
    #[error("environment text line {line}: {what}")]
    Text {
        /// 1-based line where the entry starts.
        line: usize,
        /// What is wrong.
        what: String,
    },

    /// A variable the `name=value` text format cannot carry.
    #[error("U-Boot variable {name:?} cannot be written as mkenvimage text: {why}")]
    Unrepresentable {
        /// The name, lossily decoded.
        name: String,
        /// Why mkenvimage would read it back differently.
        why: &'static str,
    },

    /// A bad `fw_env.config`.
    #[error("fw_env.config{}: {what}", if *line == 0 { String::new() } else { format!(" line {line}") })]
    Config {
        /// 1-based line number; 0 for the file as a whole.
        line: usize,
        /// What is wrong.
        what: String,
    },

    /// A device that cannot be used as configured (MTD/UBI, a directory,
    /// an offset outside the device, …).
    #[error("{}: {what}", path.display())]
    Device {
        /// The device or file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },

    /// An I/O error on a device, a file or a directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A copy ended before the configured size.
    #[error("short read: {len} of {size} bytes")]
    ShortRead {
        /// Bytes there.
        len: usize,
        /// Bytes configured.
        size: usize,
    },

    /// What is wrong with one copy of the environment.
    #[error("environment copy {copy} ({} at offset {offset:#x}): {source}", path.display())]
    Copy {
        /// 0 for the first `fw_env.config` line, 1 for the second.
        copy: usize,
        /// Its device or file.
        path: PathBuf,
        /// Its resolved offset.
        offset: u64,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },

    /// No copy holds a valid environment (U-Boot would boot its built-in
    /// default); [`crate::Store::load_or_default`] starts from a default
    /// instead of failing.
    #[error("no valid U-Boot environment: {}", faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NoValidCopy {
        /// One [`Error::Copy`] per copy.
        faults: Vec<Error>,
    },
}

impl Error {
    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// The innermost error: for an [`Error::Copy`], what is wrong with the
    /// copy.
    pub fn root(&self) -> &Error {
        match self {
            Error::Copy { source, .. } => source.root(),
            other => other,
        }
    }
}
