//! OSTree-compatible deployments on U-Boot boards.
//!
//! Pure, always built (also for the initramfs, `default-features = false`):
//! [`layout`] (sysroot names and the `ostree=` boot link), [`kargs`],
//! [`bls`] (boot entries), [`uenv`] (`uEnv.txt` as ostree writes it).
//!
//! With the `full` feature: [`sysroot`] (load deployments from the current
//! boot entries; where file I/O enters), [`deploy`] (check out, merge
//! /etc, install kernels, write entries and `uEnv.txt`, swap
//! `boot/loader` atomically, clean up), [`deployfs`] (files of a
//! deployment read inside it, bounded), [`backend`] (the ostree layout and
//! the FAT layout behind one trait), [`etcmerge`], [`kernel`],
//! [`failpoint`] (simulated power cuts; only with the `failpoints` feature).

pub mod bls;
pub mod kargs;
pub mod layout;
pub mod uenv;

#[cfg(feature = "full")]
pub mod backend;
#[cfg(feature = "full")]
pub mod bootcount;
#[cfg(feature = "full")]
pub mod deploy;
#[cfg(feature = "full")]
pub mod deployfs;
#[cfg(feature = "full")]
mod dfs;
#[cfg(feature = "full")]
mod error;
#[cfg(feature = "full")]
pub mod etcmerge;
#[cfg(feature = "full")]
pub mod failed;
#[cfg(feature = "full")]
pub mod failpoint;
#[cfg(feature = "full")]
pub mod health;
#[cfg(feature = "full")]
pub mod kernel;
#[cfg(feature = "full")]
pub mod ops;
#[cfg(feature = "full")]
pub mod sysroot;

#[cfg(feature = "full")]
pub use error::{Error, Result};
