//! A repository on a mounted filesystem (`file://`, `pull-local`): any
//! mode, read directly. Objects are re-hashed unless the source is trusted
//! (`pull-local` without `--untrusted`); a USB stick never is.

use std::path::Path;

use ostree_repo::object::{content_checksum, Checksum, ObjectType};
use ostree_repo::repo::{Content, RepoMode, Transaction};
use ostree_repo::Repo;

use super::{mismatch_err, store_err, verify_err, verify_filez, Stats, Transport};
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Local {
    src: Repo,
    trusted: bool,
}

impl Local {
    pub fn open(path: &Path, trusted: bool) -> Result<Local> {
        let src = Repo::open(path).map_err(|e| Error::from(e).context(format!("opening source repository {}", path.display())))?;
        Ok(Local { src, trusted })
    }
}

impl Local {
    /// What `pull-local SRC [REF…]` pulls, checked before anything is
    /// copied, in ostree's words: no REF means every ref of the source,
    /// refusing a remote-tracking one (`origin:main`); a branch the source
    /// lacks is refused; a checksum or `REF@COMMIT` goes to the pull as is.
    pub fn pull_local_refs(&self, refs: &[String]) -> Result<Vec<String>> {
        let have = self.src.list_refs()?;
        if refs.is_empty() {
            if let Some(bad) = have.keys().find(|r| ostree_repo::object::validate_ref_name(r).is_err()) {
                return Err(Error::InvalidRefName { name: bad.clone() });
            }
            return Ok(have.into_keys().collect());
        }
        if let Some(missing) = refs.iter().find(|r| !r.contains('@') && !Checksum::is_valid_hex(r) && !have.contains_key(r.as_str())) {
            return Err(Error::RefspecNotFound { refspec: missing.clone() });
        }
        Ok(refs.to_vec())
    }

    /// Whether the repository has content object `csum` (`--localcache-repo`).
    pub fn has_content(&self, csum: &Checksum) -> bool {
        self.src.has_object(csum, ObjectType::File)
    }
}

impl Transport for Local {
    fn describe(&self) -> String {
        format!("file://{}", self.src.path().display())
    }

    fn trusted(&self) -> bool {
        self.trusted
    }

    fn is_local(&self) -> bool {
        true
    }

    fn collection_id(&self) -> Option<String> {
        self.src.config().get("core", "collection-id")
    }

    fn linkable_metadata(&self, csum: &Checksum, ty: ObjectType) -> Option<std::path::PathBuf> {
        self.trusted.then(|| self.src.object_path(csum, ty))
    }

    fn get_file(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>> {
        // A stick's files are opened without following symlinks, regular
        // files only, and read up to `max`: `summary` as a symlink to
        // /dev/zero or a FIFO is an error, not an endless read or a hang.
        let p = self.src.path().join(rel);
        match ostree_repo::fsutil::read_regular(&p, max) {
            Ok(buf) => Ok(Some(buf)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Verify { object: p.display().to_string(), what: e.to_string() }),
        }
    }

    fn get_metadata(&self, csum: &Checksum, ty: ObjectType, max: u64) -> Result<Option<Vec<u8>>> {
        let rel = self.src.object_rel_path(csum, ty);
        self.get_file(&rel, max)
    }

    fn fetch_content(&self, txn: &Transaction<'_>, csum: &Checksum, stats: &Stats) -> Result<u64> {
        let dest_archive = txn.repo().mode() == RepoMode::Archive;
        if self.src.mode() == RepoMode::Archive && dest_archive {
            // Same stored form: verify, then hardlink or copy the file as is.
            let p = self.src.object_path(csum, ObjectType::File);
            let f = match uptree_sys::fs::open_regular(&p) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound { url: p.display().to_string() }),
                Err(e) => return Err(verify_err(csum, format!("{}: {e}", p.display()))),
            };
            let len = f.metadata().map_err(|e| ostree_repo::Error::io(&p, e))?.len();
            // As in ostree, only objects that went through the write path
            // (here: re-hashed) count as content written, not trusted copies.
            let (meta, written) = if self.trusted {
                (self.src.load_file_info(csum).map_err(|e| verify_err(csum, e.root().to_string()))?.0, 0)
            } else {
                verify_filez(csum, std::io::BufReader::new(f))?
            };
            txn.check_content_mode(csum, &meta)?;
            txn.import_filez(csum, &p, false)?;
            stats.add_bytes(len);
            return Ok(written);
        }
        let same_mode = self.src.mode() == txn.repo().mode();
        if same_mode || (self.src.mode() == RepoMode::BareUser && txn.repo().mode() == RepoMode::BareUserOnly) {
            let p = self.src.object_path(csum, ObjectType::File);
            // --bareuseronly-files applies to linked objects too.
            let meta = match self.src.load_file_info(csum) {
                Ok((meta, _)) => meta,
                Err(e) if e.is_not_found() => return Err(Error::NotFound { url: p.display().to_string() }),
                Err(e) => return Err(verify_err(csum, e.root().to_string())),
            };
            txn.check_content_mode(csum, &meta)?;
            // bare-user to bare-user-only, as ostree converts: a regular file
            // whose metadata is what bare-user-only records (owned by 0:0, no
            // xattrs) is the same object, stored the same way.
            let linkable = same_mode || (meta.is_regular() && meta.uid == 0 && meta.gid == 0 && meta.xattrs.is_empty());
            if linkable {
                let linked = txn.link_content(csum, &p, !self.trusted).map_err(|e| match e {
                    ostree_repo::Error::ChecksumMismatch { actual, .. } => mismatch_err(csum, actual),
                    e => verify_err(csum, e.root().to_string()),
                })?;
                if linked {
                    return Ok(0);
                }
            }
        }
        let (meta, content) = match self.src.load_file(csum) {
            Ok(x) => x,
            Err(e) if e.is_not_found() => return Err(Error::NotFound { url: self.src.object_path(csum, ObjectType::File).display().to_string() }),
            Err(e) => return Err(verify_err(csum, e.root().to_string())),
        };
        match content {
            Content::Symlink => {
                let actual = content_checksum(&meta, &[]);
                if !self.trusted && actual != *csum {
                    return Err(mismatch_err(csum, actual));
                }
                txn.write_content_trusted(&meta, csum, &mut std::io::empty(), 0, false)?;
                Ok(0)
            }
            Content::Regular(mut r, size) => {
                txn.write_content_trusted(&meta, csum, &mut r, size, !self.trusted).map_err(|e| store_err(csum, e))?;
                stats.add_bytes(size);
                Ok(size)
            }
        }
    }
}
