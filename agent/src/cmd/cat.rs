//! `cat`.

use std::io::Read;

use ostree_repo::repo::Content;
use ostree_repo::tree::{self, Entry};
use ostree_repo::{Error, Repo};

use super::out;
use crate::cli::CatOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &CatOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    for p in &o.paths {
        // ostree's words: scripts grep "open directory".
        let Entry::File(f) = tree::lookup_follow(repo, &csum, p)? else {
            return Err(Error::Invalid(format!("{p}: Can't open directory")).into());
        };
        match repo.load_file(&f)? {
            (_, Content::Regular(mut r, _)) => {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = r.read(&mut buf).map_err(|e| Error::io(p, e))?;
                    if n == 0 {
                        break;
                    }
                    use std::io::Write;
                    match std::io::stdout().lock().write_all(&buf[..n]) {
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
                        r => r.map_err(|e| Error::io("<stdout>", e))?,
                    }
                }
            }
            (m, Content::Symlink) => out(&m.symlink_target)?,
        }
    }
    Ok(0)
}
