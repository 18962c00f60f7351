//! The update policy, one for every path that leads to a deployment:
//! `admin upgrade`/`switch`, the `uptree agent` daemon and USB sticks.
//!
//! [`upgrade::upgrade`] resolves the origin, pulls (through the pull
//! crate's trust policy), refuses downgrades and commits that failed to
//! boot, and deploys. The CLI only parses and prints around it.

pub mod agent;
pub mod error;
pub mod upgrade;
pub mod usb;

pub use error::{Error, Result};
pub use upgrade::{upgrade, Deployed, Outcome, Plan, Request};
