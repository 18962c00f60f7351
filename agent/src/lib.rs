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
    let cli = match cli::Cli::try_parse_from(options_after_subverb(options_after_verb(args.clone()))) {
        Ok(c) => c,
        Err(e) => {
            if let Some(code) = run_extension(&e, &args)? {
                return Ok(code);
            }
            return Ok(report_usage_error(&e));
        }
    };
    match cmd::dispatch(cli) {
        // A verb that parses part of its command line itself (`config -- set`).
        Err(e) => match e.downcast_ref::<clap::Error>() {
            Some(ce) => Ok(report_usage_error(ce)),
            None => Err(e),
        },
        r => r,
    }
}

/// Print a command-line error the way ostree words the ones scripts check
/// ("No command specified", "Unknown command 'x'"), with the usage; returns
/// the exit code (0 for --help and --version).
fn report_usage_error(e: &clap::Error) -> i32 {
    use clap::error::{ContextKind, ErrorKind};
    let usage = e.get(ContextKind::Usage).map(|u| u.to_string()).unwrap_or_default();
    let what = sub_of(&usage);
    let message = match e.kind() {
        ErrorKind::MissingSubcommand => format!("No {what}command specified"),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap's text here is the whole help; it names no command path.
            let help = e.render().to_string();
            let what = sub_of(help.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default());
            eprint!("{}\n\nerror: No {what}command specified\n", help.trim_end());
            return 1;
        }
        ErrorKind::InvalidSubcommand => match e.get(ContextKind::InvalidSubcommand) {
            Some(name) => format!("Unknown {what}command '{name}'"),
            None => return print_clap(e),
        },
        _ => return print_clap(e),
    };
    eprint!("{usage}\n\nerror: {message}\n");
    1
}

/// From "Usage: ostree remote [OPTIONS] <COMMAND>", ostree's qualifier
/// `"remote" sub` (as in `No "remote" subcommand`); empty at the top level.
fn sub_of(usage: &str) -> String {
    let path: Vec<&str> = usage.trim_start_matches("Usage:").split_whitespace().take_while(|w| !w.starts_with('[') && !w.starts_with('<')).collect();
    match path.as_slice() {
        [_, .., last] => format!("\"{last}\" sub"),
        _ => String::new(),
    }
}

fn print_clap(e: &clap::Error) -> i32 {
    let _ = e.print();
    // --help and --version are not errors.
    if e.use_stderr() {
        1
    } else {
        0
    }
}

/// ostree's CLI extensions: an unknown top-level command NAME execs
/// `ostree-NAME` from PATH with NAME and the arguments after it (as ostree
/// passes them). None when there is
/// no such program (then NAME is unknown).
fn run_extension(e: &clap::Error, args: &[OsString]) -> Result<Option<i32>> {
    use clap::error::{ContextKind, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand {
        return Ok(None);
    }
    let Some(name) = e.get(ContextKind::InvalidSubcommand).map(|v| v.to_string()) else { return Ok(None) };
    // Only a top-level command: nested unknown subcommands are plain errors.
    let Some(pos) = args.iter().skip(1).position(|a| !a.to_string_lossy().starts_with('-')) else { return Ok(None) };
    if args[pos + 1].to_str() != Some(name.as_str()) {
        return Ok(None);
    }
    let program = format!("ostree-{name}");
    let Some(found) = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join(&program)).find(|f| f.is_file())).unwrap_or_default() else {
        return Ok(None);
    };
    // As ostree: the extension replaces this process.
    let e = std::os::unix::process::CommandExt::exec(std::process::Command::new(&found).args(&args[pos + 1..]));
    Err(format!("{}: {e}", found.display()).into())
}

/// `--version`: ostree's YAML shape. `libostree.Version` is the ostree
/// release uptree follows (and names in its User-Agent); the feature list
/// names only the ostree build options this build really has, so test
/// suites and scripts do not assume the others; uptree's own version has
/// its own key.
pub fn version_yaml() -> String {
    // Only what this build really has: `- gpgme` switches on GPG sections
    // of scripts (and of ostree's own test suite), `- sign-ed25519` the
    // ed25519 ones (ostree's name when built with libsodium).
    // `- libarchive` (ostree's name) promises `export`, so only a `tar` build lists it.
    let mut features = String::new();
    if cfg!(feature = "gpg") {
        features.push_str("\n  - gpgme");
    }
    if cfg!(feature = "tar") {
        features.push_str("\n  - libarchive");
    }
    // `- p2p` (ostree's name) promises `create-usb` and `find-remotes`.
    if cfg!(feature = "p2p") {
        features.push_str("\n  - p2p");
    }
    features.push_str("\n  - sign-ed25519");
    format!("libostree:\n Version: '{}'\n Features:{features}\nuptree:\n Version: '{}'\n", uptree_pull::transport::LIBOSTREE_VERSION, env!("CARGO_PKG_VERSION"))
}

/// ostree takes the first argument that is not an option as the verb and
/// parses every option, before the verb or after it, as the verb's
/// (`ostree --repo=R --print-metadata-key=K show REV`); clap wants a
/// verb's options after the verb, so the ones before it move there.
/// `--repo PATH` (the value apart) stays where it is: clap knows it there.
fn options_after_verb(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return args;
        }
        if a == "--repo" {
            i += 2;
            continue;
        }
        if !a.as_encoded_bytes().starts_with(b"-") {
            break;
        }
        i += 1;
    }
    if i >= args.len() {
        return args;
    }
    let (mut before, mut moved) = (Vec::new(), Vec::new());
    let mut it = args.drain(1..i).peekable();
    while let Some(a) = it.next() {
        if a == "--repo" {
            before.push(a);
            before.extend(it.next());
        } else {
            moved.push(a);
        }
    }
    drop(it);
    let verb = args.remove(1);
    let mut out = vec![args.remove(0)];
    out.extend(before);
    out.push(verb);
    out.extend(moved);
    out.extend(args);
    out
}

/// The same for the verbs with verbs of their own (`ostree remote
/// --set=K=V add NAME URL`): `--name=value` options between the two move
/// after the second. An option written apart from its value stops this,
/// as nothing here knows which options take one.
fn options_after_subverb(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(verb) = args.iter().skip(1).position(|a| !a.as_encoded_bytes().starts_with(b"-")).map(|p| p + 1) else { return args };
    if !["remote", "admin", "static-delta"].iter().any(|v| args[verb] == *v) {
        return args;
    }
    let mut j = verb + 1;
    while let Some(a) = args.get(j) {
        let b = a.as_encoded_bytes();
        if !b.starts_with(b"-") {
            break;
        }
        if a == "--" || !b.starts_with(b"--") || !b.contains(&b'=') {
            return args;
        }
        j += 1;
    }
    if j < args.len() && j > verb + 1 {
        let sub = args.remove(j);
        args.insert(verb + 1, sub);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::{options_after_subverb, options_after_verb};

    #[test]
    fn options_before_a_subverb_are_the_subverbs() {
        assert_eq!(
            options_after_subverb(v(&["ostree", "--repo=r", "remote", "--set=a=b", "add", "n", "u"])),
            v(&["ostree", "--repo=r", "remote", "add", "--set=a=b", "n", "u"])
        );
        for same in [&["ostree", "remote", "--repo", "r", "add", "n"][..], &["ostree", "show", "--x=y", "rev"], &["ostree", "remote", "add", "--set=a=b", "n"]]
        {
            assert_eq!(options_after_subverb(v(same)), v(same));
        }
    }

    fn v(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn options_before_the_verb_are_the_verbs() {
        assert_eq!(
            options_after_verb(v(&["ostree", "--repo=r", "--print-metadata-key=k", "show", "rev"])),
            v(&["ostree", "show", "--repo=r", "--print-metadata-key=k", "rev"])
        );
        assert_eq!(options_after_verb(v(&["ostree", "--repo", "r", "-v", "show", "x"])), v(&["ostree", "--repo", "r", "show", "-v", "x"]));
        for same in [&["ostree", "show", "--print-metadata-key=k", "rev"][..], &["ostree", "--version"], &["ostree", "--", "-x"]] {
            assert_eq!(options_after_verb(v(same)), v(same));
        }
    }

    /// `- libarchive` promises `export`: listed exactly when it is built in.
    #[test]
    fn version_lists_libarchive_only_with_tar() {
        assert_eq!(super::version_yaml().lines().any(|l| l == "  - libarchive"), cfg!(feature = "tar"));
    }
}
