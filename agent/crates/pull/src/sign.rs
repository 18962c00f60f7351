//! ed25519 commit and summary signatures, ostree's "signapi" format
//! (ostree-format.md §6.1): detached metadata `a{sv}` with
//! `ostree.sign.ed25519` → `aay` of 64-byte signatures over the exact bytes
//! of the commit (or summary). Keys are base64: public keys 32 bytes,
//! secret keys 64 bytes (seed ‖ public key, libsodium's layout).

use std::io::Read;
use std::path::{Path, PathBuf};

use ostree_repo::gvariant::{self, build, Type, Value};
use ostree_repo::object::vardict_type;
use ostree_repo::remote::Remote;
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};

use crate::error::{Error, Result};

pub const ED25519_KEY: &str = "ostree.sign.ed25519";

/// ostree's test-only sign type: the "signature" is the key string itself,
/// so it proves nothing. As in ostree it signs and verifies only while
/// [`DUMMY_ENABLED_ENV`] is `1`, and is never a default.
pub const DUMMY_KEY: &str = "ostree.sign.dummy";

/// The variable ostree reads to allow the dummy type (its test suite sets it).
pub const DUMMY_ENABLED_ENV: &str = "OSTREE_DUMMY_SIGN_ENABLED";

/// ostree's signapi types (`--sign-type`, `sign-verify=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Ed25519,
    Dummy,
}

impl SignType {
    /// Every type, in the order ostree tries them for `sign-verify=true`.
    pub const ALL: [SignType; 2] = [SignType::Ed25519, SignType::Dummy];

    /// ostree's wording for a name it does not know, so scripts that grep it keep working.
    pub fn from_name(name: &str) -> Result<SignType> {
        match name {
            "ed25519" => Ok(SignType::Ed25519),
            "dummy" => Ok(SignType::Dummy),
            _ => Err(Error::UnknownSignType { name: name.to_string() }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignType::Ed25519 => "ed25519",
            SignType::Dummy => "dummy",
        }
    }

    /// The detached-metadata key holding this type's `aay` of signatures.
    pub fn metadata_key(self) -> &'static str {
        match self {
            SignType::Ed25519 => ED25519_KEY,
            SignType::Dummy => DUMMY_KEY,
        }
    }

    /// The signature of `data` with `secret` (ed25519: a base64 secret key;
    /// dummy: any string, which is the signature).
    pub fn sign(self, data: &[u8], secret: &str) -> Result<Vec<u8>> {
        match self {
            SignType::Ed25519 => sign(data, secret),
            SignType::Dummy => {
                dummy_enabled()?;
                Ok(secret.as_bytes().to_vec())
            }
        }
    }

    /// Detached metadata with `sig` appended to this type's list.
    pub fn add_signature(self, existing: Option<&[u8]>, sig: &[u8]) -> Result<Vec<u8>> {
        add_signature_under(existing, self.metadata_key(), sig)
    }

    /// A verifier for public keys given as strings (ed25519: base64) and,
    /// for ed25519, the trusted and revoked keys under `keys_dir` (ostree's
    /// `--keys-dir`, laid out as `/etc/ostree`).
    pub fn verifier(self, keys: &[String], keys_dir: Option<&Path>) -> Result<Box<dyn Verify>> {
        Ok(match self {
            SignType::Ed25519 => {
                let v = Ed25519Verifier::with_keys(keys.iter().map(|k| public_key(k, "public key")).collect::<Result<_>>()?);
                Box::new(match keys_dir {
                    Some(d) => v.merged(Ed25519Verifier::from_dir(d)?),
                    None => v,
                })
            }
            SignType::Dummy if keys_dir.is_some() => return Err(Error::Config("dummy keys cannot be loaded from a directory: not implemented".into())),
            SignType::Dummy => Box::new(DummyVerifier::with_keys(keys.to_vec())),
        })
    }
}

fn dummy_enabled() -> Result<()> {
    if std::env::var_os(DUMMY_ENABLED_ENV).is_some_and(|v| v == "1") {
        Ok(())
    } else {
        Err(Error::DummyDisabled)
    }
}

/// A check of one signapi type's signatures.
pub trait Verify: std::fmt::Debug {
    /// Pass if a signature in `detached` (raw bytes, read before anything
    /// is decoded) verifies `data`; returns ostree's success message.
    fn check(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<String>;
}

/// The keys of ostree's test-only dummy type (see [`DUMMY_KEY`]).
#[derive(Debug, Clone, Default)]
pub struct DummyVerifier {
    keys: Vec<String>,
}

impl DummyVerifier {
    pub fn with_keys(keys: Vec<String>) -> DummyVerifier {
        DummyVerifier { keys }
    }

    /// From `verification-dummy-key`; `None` if the remote has none.
    /// ostree cannot load dummy keys from a file, so a
    /// `verification-dummy-file` is refused rather than ignored.
    pub fn for_remote(remote: &Remote) -> Result<Option<DummyVerifier>> {
        if remote.get("verification-dummy-file").is_some() {
            return Err(Error::DummyKeyFile { remote: remote.name.clone() });
        }
        Ok(remote.get("verification-dummy-key").map(|k| DummyVerifier::with_keys(vec![k.to_string()])))
    }
}

impl Verify for DummyVerifier {
    fn check(&self, object: &str, _data: &[u8], detached: Option<&[u8]>) -> Result<String> {
        dummy_enabled()?;
        let sigs = match detached {
            Some(d) => signatures_under(object, d, DUMMY_KEY)?,
            None => Vec::new(),
        };
        if sigs.is_empty() {
            return Err(Error::DummyUnsigned { object: object.to_string() });
        }
        if sigs.iter().any(|s| self.keys.iter().any(|k| k.as_bytes() == *s)) {
            return Ok("dummy: Signature verified".to_string());
        }
        Err(Error::DummyIncorrect { object: object.to_string(), checked: sigs.len() })
    }
}

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

/// Largest detached metadata (`.commitmeta`, `summary.sig`) read from a
/// source: a signature takes 64 bytes, so this leaves room for many plus
/// whatever else a publisher keeps there.
pub const MAX_DETACHED_SIZE: u64 = 16 * 1024 * 1024;

/// More signatures than this are refused rather than each tried against
/// each key (a cheap way to make a device spend minutes verifying).
pub const MAX_SIGNATURES: usize = 256;

/// Key files are a few lines; anything bigger is not one.
const MAX_KEY_FILE_SIZE: u64 = 1024 * 1024;

fn public_key(b64: &str, origin: &str) -> Result<[u8; 32]> {
    base64_decode(b64).and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok()).ok_or_else(|| Error::BadPublicKey { origin: origin.to_string() })
}

fn keys_from_file(path: &Path) -> Result<Vec<[u8; 32]>> {
    key_lines(path)?.iter().map(|l| public_key(l, &path.display().to_string())).collect()
}

/// The keys in a key file (`--keys-file`): one a line, blank lines and
/// `#` comments skipped; not decoded (they may be secret or public keys of
/// any type).
pub fn key_lines(path: &Path) -> Result<Vec<String>> {
    let key_err = |source| Error::KeyFile { path: path.to_path_buf(), source };
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_KEY_FILE_SIZE).read_to_string(&mut text)).map_err(key_err)?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

/// A key given as config (`trusted-keys=`): one base64 public key, else
/// a file of keys if it is an absolute path. The key is tried first: `/`
/// is a base64 digit, so one key in 64 starts with it. Only a canonical
/// encoding counts (44 characters, one `=`, 32 bytes), which no key file's
/// path is in practice.
pub fn keys_from_spec(spec: &str) -> Result<Vec<[u8; 32]>> {
    let spec = spec.trim();
    let canonical = spec.len() == 44 && spec.ends_with('=') && !spec.as_bytes()[..43].contains(&b'=');
    if let Some(key) = canonical.then(|| public_key(spec, "trusted-keys").ok()).flatten() {
        Ok(vec![key])
    } else if spec.starts_with('/') {
        keys_from_file(Path::new(spec))
    } else {
        Ok(vec![public_key(spec, "trusted-keys")?])
    }
}

fn keys_from_default_locations(sysroot: &Path, base: &str) -> Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for dir in ["etc/ostree", "usr/share/ostree"] {
        keys.extend(keys_from_dir(&sysroot.join(dir), base)?);
    }
    Ok(keys)
}

/// The keys of `DIR/BASE` and `DIR/BASE.d/*` (ostree's layout, also what
/// `--keys-dir` names).
fn keys_from_dir(dir: &Path, base: &str) -> Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    let file = dir.join(base);
    if file.is_file() {
        keys.extend(keys_from_file(&file)?);
    }
    if let Ok(rd) = std::fs::read_dir(dir.join(format!("{base}.d"))) {
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            keys.extend(keys_from_file(&f)?);
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
            return Err(Error::NoTrustedKeys { remote: remote.name.clone() });
        }
        let revoked = keys_from_default_locations(&sysroot, "revoked.ed25519")?;
        Ok(Ed25519Verifier { keys, revoked })
    }

    pub fn with_keys(keys: Vec<[u8; 32]>) -> Ed25519Verifier {
        Ed25519Verifier { keys, revoked: Vec::new() }
    }

    /// The trusted and revoked keys under `dir` (`trusted.ed25519{,.d}`,
    /// `revoked.ed25519{,.d}`), as ostree's `--keys-dir`.
    pub fn from_dir(dir: &Path) -> Result<Ed25519Verifier> {
        Ok(Ed25519Verifier { keys: keys_from_dir(dir, "trusted.ed25519")?, revoked: keys_from_dir(dir, "revoked.ed25519")? })
    }

    /// Also trust the keys of `other`, and honour its revocations.
    pub fn merged(mut self, other: Ed25519Verifier) -> Ed25519Verifier {
        self.keys.extend(other.keys);
        self.revoked.extend(other.revoked);
        self
    }

    /// Trust `extra` keys too (the agent's `trusted-keys`); revocations
    /// still apply to them.
    pub fn with_extra_keys(mut self, extra: &[[u8; 32]]) -> Ed25519Verifier {
        self.keys.extend_from_slice(extra);
        self
    }

    /// The revoked keys of the system locations, as [`Self::for_remote`]
    /// reads them; for a verifier built from explicit keys.
    pub fn with_system_revocations(mut self) -> Result<Ed25519Verifier> {
        let sysroot = std::env::var_os("OSTREE_SYSROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
        self.revoked.extend(keys_from_default_locations(&sysroot, "revoked.ed25519")?);
        Ok(self)
    }

    /// Pass if any signature in `detached` verifies `data` with any trusted,
    /// non-revoked key. Works on the raw bytes of both: nothing of `data`
    /// is decoded, and of `detached` only the framing that leads to the
    /// signatures (see [`signatures`]).
    pub fn verify(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<()> {
        self.check(object, data, detached).map(drop)
    }
}

impl Verify for Ed25519Verifier {
    fn check(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<String> {
        let sigs = match detached {
            Some(d) => signatures(object, d)?,
            None => Vec::new(),
        };
        if sigs.is_empty() {
            return Err(Error::Unsigned { object: object.to_string() });
        }
        let mut failed: Vec<&[u8; 32]> = Vec::new();
        for key in self.keys.iter().filter(|k| !self.revoked.contains(k)) {
            let pk = UnparsedPublicKey::new(&ED25519, key);
            if sigs.iter().any(|s| pk.verify(data, s).is_ok()) {
                return Ok(format!("ed25519: Signature verified successfully with key '{}'", hex(key)));
            }
            failed.extend(std::iter::repeat_n(key, sigs.len()));
        }
        // ostree's wording (scripts grep it): up to 3 keys by name, else a count.
        let detail = if failed.len() > 3 {
            format!("ed25519: Signature couldn't be verified; tried {} keys", failed.len())
        } else {
            format!("ed25519: Signature couldn't be verified with: {}", failed.iter().map(|k| format!("key '{}'", hex(&k[..]))).collect::<Vec<_>>().join("; "))
        };
        Err(Error::BadSignature { object: object.to_string(), checked: sigs.len(), detail })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The ed25519 signatures in detached metadata (an `a{sv}`), found without
/// decoding anything else: the array is split into entries and each entry
/// into key and variant by their framing offsets only; the one value read
/// is `ostree.sign.ed25519`, and only as an `aay`. Other values are never
/// looked into, so however deep or large they are they cost nothing; this
/// runs before the signed object or the rest of its metadata is decoded.
pub fn signatures<'a>(object: &str, detached: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    signatures_under(object, detached, ED25519_KEY)
}

/// The `aay` under `key` in detached metadata (`ostree.sign.ed25519`, or
/// `ostree.gpgsigs` for GPG), found as [`signatures`] finds it.
pub fn signatures_under<'a>(object: &str, detached: &'a [u8], key: &str) -> Result<Vec<&'a [u8]>> {
    let bad = |what| Error::MalformedSignatures { object: object.to_string(), what };
    let not_aay = match key {
        ED25519_KEY => "ostree.sign.ed25519 is not an aay",
        DUMMY_KEY => "ostree.sign.dummy is not an aay",
        _ => "ostree.gpgsigs is not an aay",
    };
    if detached.len() as u64 > MAX_DETACHED_SIZE {
        return Err(bad("larger than 16 MiB"));
    }
    let entry = Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant));
    let key = [key.as_bytes(), b"\0"].concat();
    let aay = Type::Array(Box::new(Type::Byte));
    let mut out = Vec::new();
    for e in gvariant::array_elements(detached, &entry).map_err(|_| bad("not an a{sv}"))? {
        let members = gvariant::tuple_members(e, &[Type::Str, Type::Variant]).map_err(|_| bad("an entry is not a {sv}"))?;
        let [k, v] = members.as_slice() else { return Err(bad("an entry is not a {sv}")) };
        if *k != key.as_slice() {
            continue;
        }
        // A variant is its value, a NUL, then its type string.
        let nul = v.iter().rposition(|&b| b == 0).ok_or_else(|| bad("a variant has no type"))?;
        if &v[nul + 1..] != b"aay" {
            return Err(bad(not_aay));
        }
        for sig in gvariant::array_elements(&v[..nul], &aay).map_err(|_| bad(not_aay))? {
            if out.len() == MAX_SIGNATURES {
                return Err(bad("more than 256 signatures"));
            }
            out.push(sig);
        }
    }
    Ok(out)
}

/// Sign `data` with a base64 secret key (seed ‖ public, 64 bytes; a bare
/// 32-byte seed is accepted too). Returns the signature.
pub fn sign(data: &[u8], secret_b64: &str) -> Result<Vec<u8>> {
    let sk = base64_decode(secret_b64).ok_or_else(|| Error::BadSecretKey { what: "not base64".into() })?;
    let pair = match sk.len() {
        64 => Ed25519KeyPair::from_seed_and_public_key(&sk[..32], &sk[32..]),
        32 => Ed25519KeyPair::from_seed_unchecked(&sk),
        n => return Err(Error::BadSecretKey { what: format!("must be 64 (or 32) bytes, got {n}") }),
    }
    .map_err(|_| Error::BadSecretKey { what: "the public half does not match the seed".into() })?;
    Ok(pair.sign(data).as_ref().to_vec())
}

/// The public key of a base64 secret key, base64.
pub fn public_of(secret_b64: &str) -> Result<String> {
    use ring::signature::KeyPair;
    let sk = base64_decode(secret_b64).ok_or_else(|| Error::BadSecretKey { what: "not base64".into() })?;
    let pair = Ed25519KeyPair::from_seed_unchecked(sk.get(..32).ok_or_else(|| Error::BadSecretKey { what: "shorter than 32 bytes".into() })?)
        .map_err(|_| Error::BadSecretKey { what: "not an ed25519 seed".into() })?;
    Ok(base64_encode(pair.public_key().as_ref()))
}

/// Detached metadata with `sig` appended to the ed25519 list; other keys
/// are kept in their order.
pub fn add_signature(existing: Option<&[u8]>, sig: &[u8]) -> Result<Vec<u8>> {
    add_signature_under(existing, ED25519_KEY, sig)
}

/// Detached metadata with `sig` appended to the `aay` under `list`
/// (`ostree.sign.ed25519`, `ostree.gpgsigs`).
pub fn add_signature_under(existing: Option<&[u8]>, list: &str, sig: &[u8]) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Value)> = match existing {
        Some(d) => {
            let v = Value::from_bytes(d, vardict_type()).map_err(ostree_repo::Error::from)?;
            gvariant::vardict_entries(&v).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        }
        None => Vec::new(),
    };
    let aay = Type::Array(Box::new(Type::Byte));
    match entries.iter_mut().find(|(k, _)| k == list) {
        Some((_, Value::Array(_, items))) => items.push(Value::Bytes(sig.to_vec())),
        Some((_, other)) => *other = Value::Array(aay, vec![Value::Bytes(sig.to_vec())]),
        None => entries.push((list.to_string(), Value::Array(aay, vec![Value::Bytes(sig.to_vec())]))),
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
    fn trusted_keys_spec_takes_a_key_that_starts_with_a_slash() {
        let key = [0xff_u8; 32];
        let b64 = base64_encode(&key);
        assert!(b64.starts_with('/'), "{b64}");
        assert_eq!(keys_from_spec(&b64).expect("key"), vec![key]);

        let dir = std::env::temp_dir().join(format!("uptree-keys-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("trusted.ed25519");
        std::fs::write(&file, format!("# comment\n{}\n", base64_encode(&[1u8; 32]))).expect("write");
        assert_eq!(keys_from_spec(&file.display().to_string()).expect("file"), vec![[1u8; 32]]);
        let missing = keys_from_spec(&dir.join("missing").display().to_string()).expect_err("missing");
        assert!(matches!(missing, Error::KeyFile { .. }), "{missing}");
        assert!(matches!(keys_from_spec("AAAA").expect_err("short"), Error::BadPublicKey { .. }));
        // 44 bytes, not ASCII at the cut: refused, not a panic.
        assert!(keys_from_spec(&format!("{}é=", "A".repeat(41))).is_err());
        std::fs::remove_dir_all(&dir).expect("rm");
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
        assert_eq!(signatures("commit", &meta2).expect("sigs").len(), 2);
        v.verify("commit", msg, Some(&meta2)).expect("still verifies");
    }

    #[test]
    fn signatures_skip_other_keys_and_check_the_type() {
        let sig = vec![5u8; 64];
        let aay = Type::Array(Box::new(Type::Byte));
        let entries = |v: Value| {
            build::vardict([
                ("other".to_string(), Value::Array(Type::Str, vec![build::s("a"), build::s("b")])),
                (ED25519_KEY.to_string(), v),
                ("later".to_string(), build::s("x")),
            ])
            .to_bytes()
        };
        let good = entries(Value::Array(aay.clone(), vec![Value::Bytes(sig.clone()), Value::Bytes(vec![6u8; 64])]));
        assert_eq!(signatures("c", &good).expect("sigs"), vec![&sig[..], &[6u8; 64][..]]);
        let wrong = entries(build::s("not signatures"));
        assert!(matches!(signatures("c", &wrong), Err(Error::MalformedSignatures { what: "ostree.sign.ed25519 is not an aay", .. })));
        assert!(signatures("c", &build::vardict([]).to_bytes()).expect("empty").is_empty());
        assert!(matches!(signatures("c", &[0xff, 0x07]), Err(Error::MalformedSignatures { .. })));
        let many = entries(Value::Array(aay, vec![Value::Bytes(sig); MAX_SIGNATURES + 1]));
        assert!(matches!(signatures("c", &many), Err(Error::MalformedSignatures { what: "more than 256 signatures", .. })));
    }

    /// The only test that touches `OSTREE_DUMMY_SIGN_ENABLED`, so no other
    /// test sees it change.
    #[test]
    fn dummy_type_signs_with_the_key_string_and_only_when_enabled() {
        let msg = b"commit bytes";
        std::env::remove_var(DUMMY_ENABLED_ENV);
        assert!(matches!(SignType::Dummy.sign(msg, "k"), Err(Error::DummyDisabled)));
        let meta = SignType::Dummy.add_signature(None, b"dummysign").expect("meta");
        let v = SignType::Dummy.verifier(&["dummysign".to_string()], None).expect("verifier");
        assert!(matches!(v.check("c", msg, Some(&meta)), Err(Error::DummyDisabled)));
        std::env::set_var(DUMMY_ENABLED_ENV, "1");
        assert_eq!(SignType::Dummy.sign(msg, "dummysign").expect("sign"), b"dummysign");
        assert_eq!(v.check("c", msg, Some(&meta)).expect("verifies"), "dummy: Signature verified");
        let wrong = SignType::Dummy.verifier(&["other".to_string()], None).expect("verifier");
        assert!(matches!(wrong.check("c", msg, Some(&meta)), Err(Error::DummyIncorrect { checked: 1, .. })));
        assert!(matches!(v.check("c", msg, None), Err(Error::DummyUnsigned { .. })));
        // The two types keep to their own keys in the same metadata.
        let both = add_signature(Some(&meta), &sign(msg, &base64_encode(&[3u8; 32])).expect("sign")).expect("meta");
        assert_eq!(signatures_under("c", &both, DUMMY_KEY).expect("sigs"), vec![&b"dummysign"[..]]);
        assert_eq!(signatures("c", &both).expect("sigs").len(), 1);
        v.check("c", msg, Some(&both)).expect("dummy still verifies");
        assert!(matches!(SignType::Dummy.verifier(&[], Some(Path::new("/"))), Err(Error::Config(_))));
        std::env::remove_var(DUMMY_ENABLED_ENV);
        assert!(matches!(SignType::from_name("nosuch"), Err(Error::UnknownSignType { .. })));
    }

    #[test]
    fn ed25519_failures_use_ostrees_wording() {
        let msg = b"commit bytes";
        let meta = add_signature(None, &sign(msg, &base64_encode(&[7u8; 32])).expect("sign")).expect("meta");
        let few = Ed25519Verifier::with_keys(vec![[1u8; 32]]);
        let err = few.check("c", msg, Some(&meta)).expect_err("wrong key").to_string();
        assert!(err.ends_with(&format!("ed25519: Signature couldn't be verified with: key '{}'", "01".repeat(32))), "{err}");
        let many = Ed25519Verifier::with_keys(vec![[1u8; 32], [2u8; 32], [4u8; 32], [5u8; 32]]);
        let err = many.check("c", msg, Some(&meta)).expect_err("wrong keys").to_string();
        assert!(err.ends_with("ed25519: Signature couldn't be verified; tried 4 keys"), "{err}");
        let pk = <[u8; 32]>::try_from(base64_decode(&public_of(&base64_encode(&[7u8; 32])).expect("pk")).expect("b64").as_slice()).expect("32");
        let ok = many.merged(Ed25519Verifier::with_keys(vec![pk])).check("c", msg, Some(&meta)).expect("verifies");
        assert_eq!(ok, format!("ed25519: Signature verified successfully with key '{}'", hex(&pk)));
    }
}
