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
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> Result<i32> {
    let args: Vec<OsString> = args.into_iter().collect();
    // ostree takes --version anywhere before "--" and answers in YAML
    // (scripts read libostree.Version and grep the feature list).
    if args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--version") {
        use std::io::Write;
        std::io::stdout().write_all(version_yaml().as_bytes())?;
        return Ok(0);
    }
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

/// `--version`: ostree's YAML shape. `libostree.Version` is the ostree
/// release uptree follows (and names in its User-Agent); the feature list
/// stays empty so test suites and scripts do not assume GPG, libarchive or
/// other ostree build options; uptree's own version has its own key.
pub fn version_yaml() -> String {
    format!("libostree:\n Version: '{}'\n Features: []\nuptree:\n Version: '{}'\n", uptree_pull::transport::LIBOSTREE_VERSION, env!("CARGO_PKG_VERSION"))
}
