//! `checksum`.

use ostree_repo::commit::checksum_path;

use super::out;
use crate::cli::ChecksumOpts;
use crate::Result;

pub fn run(o: &ChecksumOpts) -> Result<i32> {
    out(&format!("{}\n", checksum_path(&o.path, o.ignore_xattrs)?.to_hex()))?;
    Ok(0)
}
