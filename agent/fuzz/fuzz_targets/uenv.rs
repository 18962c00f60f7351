//! What the U-Boot backends read and write as text: BLS entries
//! (`loader.B/entries/*.conf`), the `uEnv.txt` generated from them (with a
//! deployment's own `usr/lib/ostree-boot/uEnv.txt` appended), and the
//! sysroot names parsed on the way (`ostree=` boot links, `CSUM.SERIAL`
//! deployment directories, kernel arguments).
//!
//! Printing a parsed entry is a fixed point; every generated `uEnv.txt`
//! line is `name=value` or comes from the appended file; names parse back
//! from what they print.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uptree_deploy::bls::BootEntry;
use uptree_deploy::kargs::Kargs;
use uptree_deploy::layout::{parse_deploy_dir_name, BootLink, DeploymentPath};
use uptree_deploy::uenv;
use uptree_fuzz::check;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // An entry file, optionally followed by the appended uEnv.txt after a
    // NUL (neither can contain one).
    let (entry_text, appended) = match text.split_once('\0') {
        Some((e, a)) => (e, Some(a)),
        None => (text, None),
    };
    // Printing is a fixed point, except that a line ending in '\r' loses
    // one '\r' per round once printed with '\n'.
    let entry = BootEntry::parse(entry_text);
    let printed = entry.to_text();
    check!(BootEntry::parse(&printed).to_text() == printed || printed.contains("\r\n"), "BLS entry printing is not a fixed point: {printed:?}");
    let entries = [entry.clone(), BootEntry::parse(&printed)];
    for prefix in ["/boot", ""] {
        match uenv::generate(&entries, appended, prefix) {
            Ok(out) => {
                check!(entry.get("linux").is_some(), "generated uEnv.txt without a linux key");
                check!(out.is_empty() || out.ends_with('\n'), "uEnv.txt does not end with a newline");
                match appended {
                    // The appended file goes in verbatim, as ostree copies it.
                    Some(a) => check!(entry.get("options").is_none() || out.contains(a), "appended uEnv.txt lost: {out:?}"),
                    None => check!(!out.contains("\n\n\n") && !out.starts_with('\n'), "empty lines were not collapsed: {out:?}"),
                }
            }
            Err(_) => check!(entry.get("linux").is_none(), "refused an entry with a linux key"),
        }
    }

    if let Some(link) = BootLink::parse(text) {
        check!(BootLink::parse(&link.path()).as_ref() == Some(&link), "boot link {link:?} does not parse back from {}", link.path());
    }
    if let Some(d) = DeploymentPath::parse(text) {
        check!(DeploymentPath::parse(&d.relpath()).as_ref() == Some(&d), "deployment path {d:?} does not parse back");
    }
    if let Some((csum, serial)) = parse_deploy_dir_name(text) {
        check!(parse_deploy_dir_name(&format!("{csum}.{serial}")) == Some((csum.clone(), serial)), "{csum}.{serial} does not parse back");
    }
    let kargs = Kargs::parse(text);
    let joined = kargs.iter().collect::<Vec<_>>().join(" ");
    check!(Kargs::parse(&joined) == kargs, "kernel arguments do not re-parse: {joined:?}");
});
