//! `static-delta verify DELTA [KEY…]`: every part against its superblock
//! checksum and, with keys, the superblock's signature.

use std::path::Path;

use ostree_repo::Repo;
use uptree_pull::sign::SignType;

use crate::cmd::out;
use crate::Result;

pub fn run(repo: &Repo, delta: &str, keys: &[String], sign_type: &str, keys_file: Option<&Path>, keys_dir: Option<&Path>) -> Result<i32> {
    let name = super::parse_name(delta)?;
    uptree_delta::manage::verify(repo, &name)?;
    let keys = crate::cmd::sign::keys_with_file(keys, keys_file)?;
    if keys.is_empty() && keys_dir.is_none() {
        return Ok(0);
    }
    // ostree prints the verdict on stdout (scripts grep it), the reason as the error.
    let kind = SignType::from_name(sign_type).inspect_err(|_| {
        let _ = out("Sign-type not supported\n");
    })?;
    let verifier = kind.verifier(&keys, keys_dir)?;
    let path = uptree_delta::manage::dir(repo, &name)?.join("superblock");
    let (bytes, _) = uptree_delta::apply::read_superblock_file(&path)?;
    match uptree_pull::delta::verify_signed(&name, &bytes, verifier.as_ref()) {
        Ok(_) => out("Verification OK\n")?,
        Err(e) => {
            out("Verification fails\n")?;
            return Err(e.into());
        }
    }
    Ok(0)
}
