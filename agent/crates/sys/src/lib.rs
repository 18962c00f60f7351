//! The one crate in uptree that may use `unsafe` and raw syscalls.
//!
//! Everything here is a thin, safe wrapper: callers get `std::io::Result`
//! values and never see a raw pointer. Each `unsafe` block carries a
//! `// SAFETY:` paragraph. Modules:
//!
//! - [`xattr`]: list/get/set extended attributes on paths (no-follow) and fds;
//! - [`fs`]: immutable attribute and freeze/thaw ioctls;
//! - [`inroot`]: open a path inside an untrusted tree as if it were `/`
//!   (`openat2` `RESOLVE_IN_ROOT`, or a component walk on older kernels);
//! - [`mount`]: overlay and bind mounts;
//! - [`lock`]: open-file-description (OFD) record locks, the locking scheme
//!   libostree uses on `REPO/.lock`, so uptree and ostree exclude each other;
//! - [`switchroot`]: binds, moves, propagation, chroot (the initramfs);
//! - [`pid1`]: console fds, `finit_module`, monotonic clock, reboot, a
//!   shell in another root (the initramfs);
//! - [`time`]: the local time's offset from UTC (the agent's window).

pub mod fs;
pub mod inroot;
pub mod lock;
pub mod mount;
pub mod pid1;
pub mod switchroot;
pub mod time;
pub mod xattr;
