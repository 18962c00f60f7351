//! uptree-init: the initramfs `/init` (PID 1) of uptree boards.
//!
//! Mounts the API filesystems, reads the kernel command line
//! ([`cmdline`]), loads the kernel modules the initramfs lists
//! ([`modules`]), waits for the root device ([`device`], [`probe`]),
//! mounts it at `/sysroot`, resolves `ostree=` to a deployment without
//! ever leaving the sysroot ([`resolve`]), computes the mount plan as
//! data ([`plan`]) — ostree-prepare-root's binds, `/run/ostree-booted`
//! ([`booted`]) — executes it ([`exec`]), switches root and execs the
//! deployment's init ([`boot`]). Any failure goes through one policy
//! ([`failure`]): say what failed, optionally an emergency shell, reboot
//! — a reboot that PID 1 never gives up on ([`restart`]).
//!
//! Main types: [`cmdline::Cmdline`] and [`cmdline::RootSpec`] (what the
//! kernel command line asks for), [`device::Found`] (the root device and
//! how it was recognised), [`plan::Inspection`] and [`plan::Step`] (the
//! plan as data), [`modules::ModuleDb`], [`error::Error`].
//!
//! I/O enters in [`boot`] and [`exec`] (the real system, through
//! `uptree_sys`); [`device`], [`plan`], [`resolve`] and [`cleanup`] take a
//! root directory so tests run on fake trees; the rest is pure.
//! Dependencies stay small: deploy's pure layout code, the sys crate,
//! std. No TLS, HTTP or repository code.

pub mod boot;
pub mod booted;
pub mod cleanup;
pub mod cmdline;
pub mod console;
pub mod device;
pub mod dryrun;
pub mod error;
pub mod exec;
pub mod failure;
pub mod modules;
pub mod plan;
pub mod probe;
pub mod resolve;
pub mod restart;
