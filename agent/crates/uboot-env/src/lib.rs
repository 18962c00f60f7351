//! U-Boot environments, readable and writable by U-Boot, libubootenv's
//! `fw_printenv`/`fw_setenv` and u-boot-tools' `mkenvimage` alike.
//!
//! Pure format code (no I/O):
//! * [`Env`] — the variables (name → value bytes, ordered by name), with
//!   [`Env::from_block`]/[`Env::to_block`] for a block and
//!   [`Env::from_text`]/[`Env::to_text`] for the `name=value` lines
//!   mkenvimage reads and fw_printenv prints;
//! * [`block`] — the block layout (CRC32, flag byte of a redundant copy),
//!   [`encode_block`] in any entry order, and libubootenv's rules for which
//!   of two copies is newer ([`select_active`], [`next_flag`]);
//! * [`Config`] — `fw_env.config` (one line per copy);
//! * [`crc32()`] — zlib's CRC-32.
//!
//! I/O enters only in [`Store`] (and [`Config::load`]): it reads the copies
//! from their devices or files, picks the valid, newer one, and writes a new
//! environment as safely as the layout allows (the inactive copy of two in
//! place, with the next flag; a single `uboot.env` replaced by rename where
//! rename is atomic, overwritten in place on FAT).
//! The module docs of [`store`] give the exact semantics.
//!
//! ```
//! use uboot_env::Env;
//! let mut env = Env::new();
//! env.set("bootcmd", "run distro_bootcmd")?;
//! env.set("bootcount", "0")?;
//! let block = env.to_block(0x4000, Some(1))?; // a redundant copy, flag 1
//! let (back, flag) = Env::from_block(&block, true)?;
//! assert_eq!((back, flag), (env, Some(1)));
//! # Ok::<(), uboot_env::Error>(())
//! ```

pub mod block;
pub mod config;
pub mod crc32;
pub mod env;
pub mod error;
pub mod store;

pub use block::{encode_block, next_flag, select_active, FlagScheme};
pub use config::{Config, Location};
pub use crc32::crc32;
pub use env::Env;
pub use error::{Error, Result};
pub use store::{Loaded, Saved, Store};
