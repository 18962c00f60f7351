//! Simulated power cuts, for tests of the boot switch.
//!
//! Every durable step of a switch (a file written, a directory removed, a
//! rename) first calls [`step`]. A test arms a step number on its thread;
//! when that step is reached the switch stops as if the plug were pulled:
//! the step returns [`Error::PowerCut`], a "torn" write leaves only part of
//! its bytes, and nothing else runs (error paths check [`tripped`] and skip
//! their clean-up, which a real power cut would never get to do).
//! Disarmed (always, outside tests) a step is a counter increment.

use std::cell::Cell;

use crate::error::{Error, Result};

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

/// Outcome of reaching a step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Carry on.
    No,
    /// Write part of the data, then return [`Error::PowerCut`].
    Torn,
}

/// A durable step that is not a write: a torn cut is a plain cut.
pub(crate) fn step(what: &str) -> Result<()> {
    match write_step(what)? {
        Cut::No => Ok(()),
        Cut::Torn => Err(Error::PowerCut(what.to_string())),
    }
}

/// A durable write named `what`. `Err` when the power is cut here;
/// [`Cut::Torn`] when the caller must write part of its data, then fail.
pub(crate) fn write_step(what: &str) -> Result<Cut> {
    if TRIPPED.get() {
        return Err(Error::PowerCut(what.to_string()));
    }
    let n = COUNT.get() + 1;
    COUNT.set(n);
    match ARMED.get() {
        Some((at, torn)) if at == n => {
            TRIPPED.set(true);
            if torn {
                Ok(Cut::Torn)
            } else {
                Err(Error::PowerCut(what.to_string()))
            }
        }
        _ => Ok(Cut::No),
    }
}
