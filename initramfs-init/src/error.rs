//! What can stop a boot, each with the context a person at the serial
//! console needs to act on it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("no root= on the kernel command line")]
    NoRoot,
    #[error("root={value}: not a block device name uptree-init understands (a path, LABEL=, UUID=, PARTUUID=, PARTLABEL= or MAJOR:MINOR)")]
    BadRoot { value: String },
    #[error("root device {spec} did not appear within {} s; block devices: {seen}{modules}", crate::console::secs(*waited))]
    RootNotFound { spec: String, waited: Duration, seen: String, modules: String },
    #[error("root device {spec} is ambiguous: {nodes} all match; refusing to guess")]
    RootAmbiguous { spec: String, nodes: String },
    #[error("mounting {node} on /sysroot failed ({tried})")]
    RootMount { node: String, tried: String },
    #[error("ostree={arg}: {reason}")]
    BootLink { arg: String, reason: String },
    #[error("deployment /{path}: {reason}")]
    Deployment { path: String, reason: String },
    #[error("{step}: {source}")]
    Step { step: String, source: io::Error },
    #[error("init {path} of {whose}: {reason}")]
    Init { path: String, whose: String, reason: String },
    #[error("exec {path}: {source}")]
    Exec { path: String, source: io::Error },
}

pub type Result<T> = std::result::Result<T, Error>;
