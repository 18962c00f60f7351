//! The kernel command line as uptree-init (PID 1) reads it: any text
//! parses without a panic (a panic in PID 1 is a kernel panic); splitting
//! is stable (the words, re-quoted, split to themselves); a `root=` that
//! parses prints back to itself; generated settings survive being written
//! as a command line and parsed.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use uptree_fuzz::check;
use uptree_init::cmdline::{parse, split, RootSpec};

/// A word as the kernel would need it written: quoted if it has blanks.
fn quote(w: &str) -> String {
    if w.chars().any(|c| c.is_ascii_whitespace()) || w.is_empty() {
        format!("\"{w}\"")
    } else {
        w.to_string()
    }
}

fn generated(u: &mut Unstructured) -> arbitrary::Result<()> {
    let rootdelay: u64 = u.arbitrary()?;
    let rootwait: u64 = u.arbitrary()?;
    let ostree: String = u.arbitrary()?;
    let ostree = ostree.replace(['"', '\0'], "");
    let module: String = u.arbitrary()?;
    let module = module.replace(['"', '.', '=', '\0'], "").replace(|c: char| c.is_ascii_whitespace(), "");
    let line = format!("console=ttyS0 rootdelay={rootdelay} rootwait={rootwait} ostree={} m{module}.p=1 -- ostree=/init/only", quote(&ostree));
    let (c, warnings) = parse(&line);
    check!(warnings.is_empty(), "warnings for {line:?}: {warnings:?}");
    check!(c.rootdelay == rootdelay && c.rootwait == Some(Some(rootwait)), "numbers lost in {line:?}: {c:?}");
    check!(c.ostree.as_deref() == Some(ostree.as_str()), "ostree= lost in {line:?}: {c:?}");
    let _ = (c.root_timeout(), c.reboot_delay());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (c, _warnings) = parse(text);
    // What the boot path computes from it must not panic either.
    let _ = (c.root_timeout(), c.reboot_delay(), c.params_for("usb-storage"));
    if let Some(root) = &c.root {
        check!(RootSpec::parse(&root.to_string()).as_ref() == Some(root), "root={root} does not parse back");
    }
    let words = split(text);
    if words.iter().all(|w| !w.contains('"')) {
        let rejoined = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        check!(split(&rejoined) == words, "split is not stable: {words:?} -> {rejoined:?}");
    }
    let _ = generated(&mut Unstructured::new(data));
});
