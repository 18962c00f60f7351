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
    let cli = match cli::Cli::try_parse_from(options_after_verb(args.into_iter().collect())) {
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

#[cfg(test)]
mod tests {
    use super::options_after_verb;

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
}
