//! The failure policy, in one place.
//!
//! 1. Say exactly what failed, on the console.
//! 2. If the kernel command line has `uptree.emergency` and a shell
//!    exists (`/bin/sh` of the initramfs, else of the deployment, run
//!    chrooted into it), run it; when it exits, go on to 3.
//! 3. `sync` (bounded) and reboot after `uptree.rebootdelay` (default
//!    3 s), so U-Boot's boot counter sees a failed attempt and, past
//!    `bootlimit`, boots the rollback entry.
//!
//! How the reboot is made sure of (retries, the SysRq trigger,
//! `kernel.panic`) is [`crate::restart`]. PID 1 never returns to a caller,
//! never exits and never spins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::console::Console;
use crate::resolve::{self, Confine};

/// Where an emergency shell could come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCandidate {
    /// Root to chroot into first (`None`: the current root).
    pub root: Option<PathBuf>,
    /// The shell, as seen inside `root`.
    pub shell: PathBuf,
}

/// What to do after printing the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Shell(ShellCandidate),
    Reboot { why_no_shell: Option<String> },
}

/// The decision, pure apart from checking that shells exist.
pub fn decide(emergency: bool, candidates: &[ShellCandidate]) -> Action {
    if !emergency {
        return Action::Reboot { why_no_shell: None };
    }
    for c in candidates {
        let root = c.root.clone().unwrap_or_else(|| PathBuf::from("/"));
        let shell = c.shell.to_string_lossy();
        // Resolve as the kernel will after the chroot (absolute links stay inside).
        if let Ok(rel) = resolve::resolve(&root, &shell, Confine::Clamp) {
            if std::fs::metadata(root.join(rel)).is_ok_and(|m| m.is_file()) {
                return Action::Shell(c.clone());
            }
        }
    }
    let looked: Vec<String> =
        candidates.iter().map(|c| format!("{}{}", c.root.as_deref().map(|r| r.display().to_string()).unwrap_or_default(), c.shell.display())).collect();
    Action::Reboot { why_no_shell: Some(format!("uptree.emergency is set but no shell exists (looked for {})", looked.join(", "))) }
}

/// Report `error` and follow the policy. Never returns.
pub fn fail(console: &Console, error: &dyn std::fmt::Display, emergency: bool, candidates: &[ShellCandidate], reboot_delay: Duration) -> ! {
    console.line(format_args!("FAILED: {error}"));
    match decide(emergency, candidates) {
        Action::Shell(c) => {
            let place = c.root.as_deref().map(|r| format!(" (in {})", r.display())).unwrap_or_default();
            console.line(format_args!("uptree.emergency: starting {}{place}; the board reboots when it exits", c.shell.display()));
            match uptree_sys::pid1::run_shell(c.root.as_deref(), &c.shell) {
                Ok(code) => console.line(format_args!("emergency shell exited with status {code}")),
                Err(e) => console.line(format_args!("emergency shell {} could not start: {e}", c.shell.display())),
            }
            reboot(console, Duration::ZERO)
        }
        Action::Reboot { why_no_shell } => {
            if let Some(w) = why_no_shell {
                console.line(w);
            }
            reboot(console, reboot_delay)
        }
    }
}

/// Sync and reboot (after `delay`). Never returns.
pub fn reboot(console: &Console, delay: Duration) -> ! {
    crate::restart::reboot(&mut crate::restart::System { console }, delay)
}

/// Shells to try before the switch: the initramfs's, then the deployment's.
pub fn candidates_before_switch(deployment: Option<&Path>) -> Vec<ShellCandidate> {
    let mut v = vec![ShellCandidate { root: None, shell: PathBuf::from("/bin/sh") }];
    if let Some(d) = deployment {
        v.push(ShellCandidate { root: Some(d.to_path_buf()), shell: PathBuf::from("/bin/sh") });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn reboot_unless_asked_and_a_shell_exists() {
        let dep = tempfile::tempdir().expect("tmp");
        let cands = vec![
            ShellCandidate { root: Some(PathBuf::from("/nonexistent-initramfs")), shell: PathBuf::from("/bin/sh") },
            ShellCandidate { root: Some(dep.path().to_path_buf()), shell: PathBuf::from("/bin/sh") },
        ];
        assert_eq!(decide(false, &cands), Action::Reboot { why_no_shell: None });
        match decide(true, &cands) {
            Action::Reboot { why_no_shell: Some(w) } => assert!(w.contains("/nonexistent-initramfs/bin/sh"), "{w}"),
            other => panic!("{other:?}"),
        }
        // A usrmerged deployment: /bin -> usr/bin, sh -> busybox.
        fs::create_dir_all(dep.path().join("usr/bin")).expect("mkdir");
        fs::write(dep.path().join("usr/bin/busybox"), b"").expect("write");
        symlink("busybox", dep.path().join("usr/bin/sh")).expect("ln");
        symlink("usr/bin", dep.path().join("bin")).expect("ln");
        assert_eq!(decide(true, &cands), Action::Shell(cands[1].clone()));
        assert_eq!(decide(false, &cands), Action::Reboot { why_no_shell: None }, "never without the switch");
    }

    #[test]
    fn candidates() {
        assert_eq!(candidates_before_switch(None).len(), 1);
        let c = candidates_before_switch(Some(Path::new("/sysroot.tmp")));
        assert_eq!(c[1].root.as_deref(), Some(Path::new("/sysroot.tmp")));
    }
}
