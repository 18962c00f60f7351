//! Simulated power cuts, for tests of the boot switch.
//!
//! Every durable step of a switch (a file written, a directory removed, a
//! rename, a U-Boot environment write) first calls [`step`]. Without the
//! `failpoints` cargo feature (release builds) a step is an inlined no-op:
//! nothing of this module is in the binary.
//!
//! With the feature, two ways to stop at a step:
//!
//! * in-process (`tests/switch.rs`): a test arms a step number on its
//!   thread; when that step is reached the switch stops as if the plug were
//!   pulled: the step returns `Error::PowerCut`, a "torn" write leaves only
//!   part of its bytes, and nothing else runs (error paths check
//!   `tripped()` and skip their clean-up, which a real power cut would never
//!   get to do);
//! * process-level (race tests, the QEMU power-cut lane), from the
//!   environment: `UPTREE_FAILPOINT=<N>:<action>` (N: 1-based step number,
//!   counted per thread from the start of the process) or
//!   `UPTREE_FAILPOINT=<what>:<action>` (a step's name, exactly as
//!   `UPTREE_FAILPOINT_LIST=1` prints it). `pause` prints
//!   `uptree-failpoint: paused at step N (what)` on stderr and sleeps
//!   forever (the test kills the process, or the VM); `exit` prints
//!   `uptree-failpoint: exiting at step N (what)` and exits with status 137
//!   at once, no clean-up. `UPTREE_FAILPOINT_LIST=1` prints
//!   `uptree-failpoint: step N (what)` for every step reached.

use std::fmt::Display;

use crate::error::Result;

/// Outcome of reaching a write step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Carry on.
    No,
    /// Write part of the data, then return `Error::PowerCut`.
    #[cfg(feature = "failpoints")]
    Torn,
}

#[cfg(not(feature = "failpoints"))]
mod imp {
    use super::{Cut, Display, Result};

    #[inline(always)]
    pub(crate) fn step(_what: impl Display) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn write_step(_what: impl Display) -> Result<Cut> {
        Ok(Cut::No)
    }

    #[inline(always)]
    pub(crate) fn tripped() -> bool {
        false
    }
}

#[cfg(feature = "failpoints")]
mod imp {
    use std::cell::Cell;
    use std::io::Write;
    use std::sync::OnceLock;

    use super::{Cut, Display, Result};
    use crate::error::Error;

    thread_local! {
        static ARMED: Cell<Option<(usize, bool)>> = const { Cell::new(None) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
        static TRIPPED: Cell<bool> = const { Cell::new(false) };
    }

    /// Cut the power at step `n` (1-based) of this thread; `torn`: a write at
    /// that step leaves half its bytes.
    pub fn arm(n: usize, torn: bool) {
        ARMED.set(Some((n, torn)));
        COUNT.set(0);
        TRIPPED.set(false);
    }

    /// Count steps without cutting.
    pub fn disarm() {
        ARMED.set(None);
        COUNT.set(0);
        TRIPPED.set(false);
    }

    /// Steps counted since `arm`/`disarm`.
    pub fn steps() -> usize {
        COUNT.get()
    }

    /// Whether the armed cut happened.
    pub fn tripped() -> bool {
        TRIPPED.get()
    }

    #[derive(Debug)]
    enum Target {
        Step(usize),
        Name(String),
    }

    #[derive(Debug, Clone, Copy)]
    enum Action {
        Pause,
        Exit,
    }

    #[derive(Debug)]
    struct FromEnv {
        target: Option<(Target, Action)>,
        list: bool,
    }

    fn parse(v: &str) -> Option<(Target, Action)> {
        // The action is last: a step's name may itself contain ':'.
        let (at, action) = v.rsplit_once(':')?;
        let action = match action {
            "pause" => Action::Pause,
            "exit" => Action::Exit,
            _ => return None,
        };
        let target = match at.parse::<usize>() {
            Ok(0) => return None,
            Ok(n) => Target::Step(n),
            Err(_) if at.is_empty() => return None,
            Err(_) => Target::Name(at.to_string()),
        };
        Some((target, action))
    }

    fn from_env() -> &'static FromEnv {
        static ENV: OnceLock<FromEnv> = OnceLock::new();
        ENV.get_or_init(|| {
            let list = std::env::var_os("UPTREE_FAILPOINT_LIST").is_some_and(|v| v == "1");
            let target = match std::env::var("UPTREE_FAILPOINT") {
                Ok(v) if !v.is_empty() => Some(parse(&v).unwrap_or_else(|| {
                    // A lane with a typo must not silently run through.
                    eprintln!("uptree-failpoint: invalid UPTREE_FAILPOINT={v:?}: expected <step number or name>:<pause|exit>");
                    std::process::exit(2)
                })),
                _ => None,
            };
            FromEnv { target, list }
        })
    }

    fn env_step(n: usize, what: &str) {
        let env = from_env();
        let mut err = std::io::stderr().lock();
        if env.list {
            let _ = writeln!(err, "uptree-failpoint: step {n} ({what})");
        }
        let Some((target, action)) = &env.target else { return };
        let hit = match target {
            Target::Step(at) => *at == n,
            Target::Name(name) => name == what,
        };
        if !hit {
            return;
        }
        match action {
            Action::Pause => {
                let _ = writeln!(err, "uptree-failpoint: paused at step {n} ({what})");
                let _ = err.flush();
                // Holding stderr's lock keeps other threads quiet too.
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            Action::Exit => {
                let _ = writeln!(err, "uptree-failpoint: exiting at step {n} ({what})");
                let _ = err.flush();
                std::process::exit(137);
            }
        }
    }

    /// A durable step that is not a write: a torn cut is a plain cut.
    pub(crate) fn step(what: impl Display) -> Result<()> {
        let what = what.to_string();
        match write_step(&what)? {
            Cut::No => Ok(()),
            Cut::Torn => Err(Error::PowerCut(what)),
        }
    }

    /// A durable write named `what`. `Err` when the power is cut here;
    /// [`Cut::Torn`] when the caller must write part of its data, then fail.
    pub(crate) fn write_step(what: impl Display) -> Result<Cut> {
        let what = what.to_string();
        if TRIPPED.get() {
            return Err(Error::PowerCut(what));
        }
        let n = COUNT.get() + 1;
        COUNT.set(n);
        env_step(n, &what);
        match ARMED.get() {
            Some((at, torn)) if at == n => {
                TRIPPED.set(true);
                if torn {
                    Ok(Cut::Torn)
                } else {
                    Err(Error::PowerCut(what))
                }
            }
            _ => Ok(Cut::No),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn env_values() {
            assert!(matches!(parse("3:pause"), Some((Target::Step(3), Action::Pause))));
            assert!(matches!(parse("uboot-env write:exit"), Some((Target::Name(n), Action::Exit)) if n == "uboot-env write"));
            assert!(matches!(parse("rename /a:b/boot/loader:exit"), Some((Target::Name(n), _)) if n == "rename /a:b/boot/loader"));
            for bad in ["", "3", "3:stop", ":pause", "0:exit"] {
                assert!(parse(bad).is_none(), "{bad}");
            }
        }
    }
}

#[cfg(not(feature = "failpoints"))]
pub(crate) use imp::tripped;
#[cfg(feature = "failpoints")]
pub use imp::{arm, disarm, steps, tripped};
pub(crate) use imp::{step, write_step};
