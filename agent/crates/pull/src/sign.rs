//! ed25519 commit and summary signatures, ostree's "signapi" format
//! (ostree-format.md §6.1): detached metadata `a{sv}` with
//! `ostree.sign.ed25519` → `aay` of 64-byte signatures over the exact bytes
//! of the commit (or summary). Keys are base64: public keys 32 bytes,
//! secret keys 64 bytes (seed ‖ public key, libsodium's layout).

use std::path::{Path, PathBuf};

use ostree_repo::gvariant::{self, build, Type, Value};
use ostree_repo::object::vardict_type;
use ostree_repo::remote::Remote;
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};

use crate::error::{Error, Result};

pub const ED25519_KEY: &str = "ostree.sign.ed25519";

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut bits, mut n) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

fn public_key(b64: &str, origin: &str) -> Result<[u8; 32]> {
    base64_decode(b64)
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or_else(|| Error::Signature(format!("{origin}: not a base64 ed25519 public key")))
}

fn keys_from_file(path: &Path) -> Result<Vec<[u8; 32]>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Signature(format!("reading keys from {}: {e}", path.display())))?;
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| public_key(l, &path.display().to_string())).collect()
}

fn keys_from_default_locations(sysroot: &Path, base: &str) -> Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for dir in ["etc/ostree", "usr/share/ostree"] {
        let file = sysroot.join(dir).join(base);
        if file.is_file() {
            keys.extend(keys_from_file(&file)?);
        }
        let d = sysroot.join(dir).join(format!("{base}.d"));
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            for f in files {
                keys.extend(keys_from_file(&f)?);
            }
        }
    }
    Ok(keys)
}

/// The trusted and revoked public keys for a remote.
#[derive(Debug, Clone, Default)]
pub struct Ed25519Verifier {
    keys: Vec<[u8; 32]>,
    revoked: Vec<[u8; 32]>,
}

impl Ed25519Verifier {
    /// From `verification-ed25519-key` / `-file`, else the system locations
    /// `/etc/ostree/trusted.ed25519{,.d}` and `/usr/share/ostree/…` under
    /// the sysroot (`OSTREE_SYSROOT` or `/`).
    pub fn for_remote(remote: &Remote) -> Result<Ed25519Verifier> {
        let sysroot = std::env::var_os("OSTREE_SYSROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        let mut keys = Vec::new();
        if let Some(k) = remote.get("verification-ed25519-key") {
            keys.push(public_key(k, &format!("remote {} verification-ed25519-key", remote.name))?);
        }
        if let Some(f) = remote.get("verification-ed25519-file") {
            keys.extend(keys_from_file(Path::new(f))?);
        }
        if keys.is_empty() {
            keys = keys_from_default_locations(&sysroot, "trusted.ed25519")?;
        }
        if keys.is_empty() {
            return Err(Error::Signature(format!("remote {}: sign-verify is enabled but no ed25519 public key is configured", remote.name)));
        }
        let revoked = keys_from_default_locations(&sysroot, "revoked.ed25519")?;
        Ok(Ed25519Verifier { keys, revoked })
    }

    pub fn with_keys(keys: Vec<[u8; 32]>) -> Ed25519Verifier {
        Ed25519Verifier { keys, revoked: Vec::new() }
    }

    /// Pass if any signature in `detached` verifies `data` with any trusted,
    /// non-revoked key.
    pub fn verify(&self, what: &str, data: &[u8], detached: Option<&[u8]>) -> Result<()> {
        let sigs = match detached {
            Some(d) => signatures(d).map_err(|e| Error::Signature(format!("Can't verify {what}: {e}")))?,
            None => Vec::new(),
        };
        if sigs.is_empty() {
            return Err(Error::Signature(format!("Can't verify {what}: no ed25519 signatures found")));
        }
        for key in self.keys.iter().filter(|k| !self.revoked.contains(k)) {
            let pk = UnparsedPublicKey::new(&ED25519, key);
            if sigs.iter().any(|s| pk.verify(data, s).is_ok()) {
                return Ok(());
            }
        }
        Err(Error::Signature(format!("Can't verify {what}: no valid ed25519 signature from a trusted key ({} signatures checked)", sigs.len())))
    }
}

/// The ed25519 signatures in a detached metadata blob.
pub fn signatures(detached: &[u8]) -> Result<Vec<Vec<u8>>> {
    let v = Value::from_bytes_normal(detached, vardict_type()).map_err(|e| Error::Signature(format!("malformed detached metadata: {e}")))?;
    let mut out = Vec::new();
    for (k, val) in gvariant::vardict_entries(&v) {
        if k == ED25519_KEY {
            if let Value::Array(_, items) = val {
                out.extend(items.iter().filter_map(|i| i.as_bytes().map(<[u8]>::to_vec)));
            }
        }
    }
    Ok(out)
}

/// Sign `data` with a base64 secret key (seed ‖ public, 64 bytes; a bare
/// 32-byte seed is accepted too). Returns the signature.
pub fn sign(data: &[u8], secret_b64: &str) -> Result<Vec<u8>> {
    let sk = base64_decode(secret_b64).ok_or_else(|| Error::Signature("secret key is not base64".into()))?;
    let pair = match sk.len() {
        64 => Ed25519KeyPair::from_seed_and_public_key(&sk[..32], &sk[32..]),
        32 => Ed25519KeyPair::from_seed_unchecked(&sk),
        n => return Err(Error::Signature(format!("ed25519 secret key must be 64 (or 32) bytes, got {n}"))),
    }
    .map_err(|_| Error::Signature("invalid ed25519 secret key".into()))?;
    Ok(pair.sign(data).as_ref().to_vec())
}

/// The public key of a base64 secret key, base64.
pub fn public_of(secret_b64: &str) -> Result<String> {
    use ring::signature::KeyPair;
    let sk = base64_decode(secret_b64).ok_or_else(|| Error::Signature("secret key is not base64".into()))?;
    let pair = Ed25519KeyPair::from_seed_unchecked(sk.get(..32).ok_or_else(|| Error::Signature("secret key too short".into()))?)
        .map_err(|_| Error::Signature("invalid ed25519 secret key".into()))?;
    Ok(base64_encode(pair.public_key().as_ref()))
}

/// Detached metadata with `sig` appended to the ed25519 list; other keys
/// are kept in their order.
pub fn add_signature(existing: Option<&[u8]>, sig: &[u8]) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Value)> = match existing {
        Some(d) => {
            let v = Value::from_bytes(d, vardict_type()).map_err(|e| Error::Signature(format!("malformed detached metadata: {e}")))?;
            gvariant::vardict_entries(&v).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        }
        None => Vec::new(),
    };
    let aay = Type::Array(Box::new(Type::Byte));
    match entries.iter_mut().find(|(k, _)| k == ED25519_KEY) {
        Some((_, Value::Array(_, items))) => items.push(Value::Bytes(sig.to_vec())),
        Some((_, other)) => *other = Value::Array(aay, vec![Value::Bytes(sig.to_vec())]),
        None => entries.push((ED25519_KEY.to_string(), Value::Array(aay, vec![Value::Bytes(sig.to_vec())]))),
    }
    Ok(build::vardict(entries).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for n in 0..70 {
            let data: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).as_deref(), Some(&data[..]));
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn sign_and_verify() {
        let seed = [7u8; 32];
        let secret = base64_encode(&seed);
        let public = public_of(&secret).expect("public");
        let pk = <[u8; 32]>::try_from(base64_decode(&public).expect("b64").as_slice()).expect("32");
        let msg = b"commit bytes";
        let meta = add_signature(None, &sign(msg, &secret).expect("sign")).expect("meta");
        let v = Ed25519Verifier::with_keys(vec![pk]);
        v.verify("commit", msg, Some(&meta)).expect("verifies");
        assert!(v.verify("commit", b"other bytes", Some(&meta)).is_err());
        assert!(v.verify("commit", msg, None).is_err());
        let other = Ed25519Verifier::with_keys(vec![[9u8; 32]]);
        assert!(other.verify("commit", msg, Some(&meta)).is_err());
        // A second signature is appended, the first still counts.
        let meta2 = add_signature(Some(&meta), &sign(msg, &base64_encode(&[8u8; 32])).expect("sign")).expect("meta");
        assert_eq!(signatures(&meta2).expect("sigs").len(), 2);
        v.verify("commit", msg, Some(&meta2)).expect("still verifies");
    }
}
