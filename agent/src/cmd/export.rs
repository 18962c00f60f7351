//! `export` (feature `tar`).

use std::io::Write;

use ostree_repo::export::{export_tar, ExportOptions};
use ostree_repo::{fsutil, Error, Repo};

use crate::cli::ExportOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &ExportOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    // GNU tar keeps no extended attributes, so --no-xattrs changes nothing.
    let opts = ExportOptions { subpath: o.subpath.clone(), prefix: o.prefix.clone().unwrap_or_default() };
    match &o.output {
        None => {
            let mut w = export_tar(repo, &csum, &opts, std::io::BufWriter::new(std::io::stdout().lock()))?;
            w.flush().map_err(|e| Error::io("<stdout>", e))?;
        }
        // No half-written tar under the requested name.
        Some(path) => fsutil::atomic_write_with(path, 0o644, repo.fsync_enabled(), |f| export_tar(repo, &csum, &opts, f).map(drop))?,
    }
    Ok(0)
}
