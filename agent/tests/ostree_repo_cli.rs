//! The repository verbs' command-line surface as ostree's own test suite
//! uses it, checked against the real `ostree` on the same input.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

/// `config -- set KEY -1` (test-config.sh): the verb may follow `--`.
#[test]
fn config_verb_after_double_dash() {
    let t = scratch();
    let (orepo, urepo) = init_both(t.path(), "archive");
    ostree(os_args![repo_arg(&orepo), "config", "--", "set", "core.lock-timeout-secs", "-1"]);
    up(os_args![repo_arg(&urepo), "config", "--", "set", "core.lock-timeout-secs", "-1"]);
    assert_eq!(fs::read_to_string(orepo.join("config")).expect("config"), fs::read_to_string(urepo.join("config")).expect("config"));
    assert_eq!(up(os_args![repo_arg(&urepo), "config", "--", "get", "core.lock-timeout-secs"]), "-1");
}

/// A missing or unknown (sub)command is reported in ostree's words
/// (test-help.sh, test-cli-extensions.sh), usage included.
#[test]
fn missing_and_unknown_commands_as_ostree() {
    for (args, words) in [
        (&["remote"][..], "No \"remote\" subcommand specified"),
        (&["remote", "frob"], "Unknown \"remote\" subcommand 'frob'"),
        (&["nosuchcommand"], "Unknown command 'nosuchcommand'"),
        (&[], "No command specified"),
    ] {
        let a: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        for program in ["ostree", uptree_bin()] {
            let err = fails(program, &a, &[]);
            assert!(err.contains(words), "{program} {args:?}: {err}");
            assert_eq!(err.lines().filter(|l| l.starts_with("Usage")).count(), 1, "{program} {args:?}: {err}");
        }
    }
    let help = up(os_args!["--help"]);
    assert!(help.contains("\nBuiltin Commands:\n  init "), "{help}");
    assert!(!help.contains("\n  help "), "no `help` verb, as ostree: {help}");
}

/// An unknown command NAME runs `ostree-NAME` from PATH with the remaining
/// arguments (NAME first), as ostree's CLI extensions do.
#[test]
fn cli_extension_from_path() {
    let t = scratch();
    let bin = t.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let ext = bin.join("ostree-hello");
    fs::write(&ext, "#!/bin/sh\necho \"hello $*\"\nexit 3\n").expect("write");
    fs::set_permissions(&ext, fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for program in ["ostree", uptree_bin()] {
        let out = std::process::Command::new(program).args(["hello", "a", "--b"]).env("PATH", &path).output().expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello hello a --b\n", "{program}");
        assert_eq!(out.status.code(), Some(3), "{program}");
    }
}
