//! The `uptree` command: OSTree-compatible repository verbs for build
//! servers and devices. [`cli`] holds the parsed options (plain data);
//! `cmd::<verb>` turns them into calls on the `ostree-repo` crate.

pub mod cli;
mod cmd;

use std::ffi::OsString;

use clap::Parser;

pub use ostree_repo::{Error, Result};

/// Parse `args` and run the command; returns the process exit code.
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
