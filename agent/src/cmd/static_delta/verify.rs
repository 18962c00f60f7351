//! `static-delta verify DELTA [KEY…]`: every part against its superblock
//! checksum and, with keys, the superblock's ed25519 signature.

use ostree_repo::Repo;
use uptree_pull::sign::{base64_decode, Ed25519Verifier};

use crate::cmd::out;
use crate::Result;

pub fn run(repo: &Repo, delta: &str, keys: &[String], sign_type: &str) -> Result<i32> {
    let name = super::parse_name(delta)?;
    uptree_delta::manage::verify(repo, &name)?;
    if keys.is_empty() {
        return Ok(0);
    }
    if sign_type != "ed25519" {
        return Err(format!("unsupported signature type {sign_type:?}").into());
    }
    let mut pks = Vec::new();
    for k in keys {
        let pk: [u8; 32] = base64_decode(k).and_then(|b| b.try_into().ok()).ok_or_else(|| format!("{k:?} is not a base64 ed25519 public key"))?;
        pks.push(pk);
    }
    let path = uptree_delta::manage::dir(repo, &name)?.join("superblock");
    let (bytes, _) = uptree_delta::apply::read_superblock_file(&path)?;
    uptree_pull::delta::verify_signed(&name, &bytes, &Ed25519Verifier::with_keys(pks))?;
    out("Verification OK\n")?;
    Ok(0)
}
