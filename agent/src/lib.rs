//! The `uptree` command: OSTree-compatible repository verbs for build
//! servers and devices. [`cli`] holds the parsed options (plain data);
//! `cmd::<verb>` turns them into calls on the `ostree-repo` crate.

pub mod cli;
mod cmd;

use std::ffi::OsString;

use clap::Parser;

/// Errors of any layer, printed with their context chain.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Parse `args` and run the command; returns the process exit code.
/// `--version`, with ostree's `Version:` and `Features:` lines after the
/// first, which scripts (and ostree's test suite: `- gpgme`) parse to
/// learn what a build can do. Only what this build really has is listed.
#[cfg(feature = "gpg")]
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\n Version: '", env!("CARGO_PKG_VERSION"), "'\n Features:\n  - gpgme");
#[cfg(not(feature = "gpg"))]
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\n Version: '", env!("CARGO_PKG_VERSION"), "'\n Features:");

pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> Result<i32> {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return Ok(code);
        }
    };
    cmd::dispatch(cli)
}
