//! Pulling commits into an OSTree repository: over HTTPS (or plain HTTP
//! where a remote is configured so), and from local repositories such as
//! one on a USB stick (`file://`, `pull-local`).
//!
//! [`transport::Transport`] is the seam: [`transport::http`] (ureq + rustls)
//! and [`transport::local`] implement it. [`engine`] resolves refs, fetches
//! and verifies commits (hash, ed25519 signature, ref binding), walks trees
//! with parallel workers, and moves refs only once every object is durable.
//! [`trust::Policy`] is what a source must prove (signatures checked over
//! raw bytes before decoding, no ref moved to an older commit of a signed
//! remote), the same for `pull` and `pull-local --remote`.
//! [`delta`] pulls through a static delta when the remote offers one.
//! Every object is hashed before it enters `objects/`; nothing a server
//! sends is trusted.

pub mod create_usb;
pub mod delta;
pub mod engine;
pub mod error;
pub mod find;
#[cfg(feature = "gpg")]
pub mod gpg;
pub mod metalink;
pub mod progress;
pub mod sign;
pub mod summary;
pub mod transport;
pub mod trust;

pub use engine::{pull, pull_local, pull_local_with_policy, PullOptions, PullReport};
pub use error::{Error, Result};
