//! GPG commit and summary signatures, as ostree writes them: detached
//! metadata `a{sv}` with `ostree.gpgsigs` → `aay`, each element one or
//! more binary OpenPGP signature packets over the exact bytes of the
//! commit (or summary). Verified with rpgp; built with the `gpg` feature.
//!
//! Keyrings are found where ostree 2022.7 looks
//! (`_ostree_repo_gpg_prepare_verifier`): the remote's
//! `<repo>/NAME.trustedkeys.gpg` (written by `remote gpg-import`), else
//! the same name in the remotes.d directory; the remote's `gpgkeypath=`
//! (files, or directories of key files; `;` or `,` separated); and, only
//! when no remote keyring file exists, the global directory
//! `$OSTREE_GPG_HOME` or `/usr/share/ostree/trusted.gpg.d/` (its `*.gpg`
//! files but `trustdb.gpg` and `secring.gpg`).

use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ostree_repo::remote::{self, Remote};
use ostree_repo::Repo;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey, SignedSecretKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{Fingerprint, KeyDetails, KeyId, PublicKeyTrait};

use crate::error::{Error, Result};
use crate::sign::{signatures_under, MAX_SIGNATURES};

/// The detached metadata key of ostree's GPG signatures.
pub const GPGSIGS_KEY: &str = "ostree.gpgsigs";

/// A keyring or key file larger than this is refused: real ones are
/// kilobytes, and each key is parsed and its self-signatures checked.
pub const MAX_KEYRING_SIZE: u64 = 16 * 1024 * 1024;

/// More keys than this in all keyrings together are refused.
pub const MAX_KEYS: usize = 4096;

/// Upper-case hex, as gpg prints key IDs and fingerprints.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The current time as rpgp's key and signature times are kept.
fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// The global keyring directory, as ostree's `_ostree_gpg_verifier_add_global_keyring_dir`.
pub fn global_keyring_dir() -> PathBuf {
    std::env::var_os("OSTREE_GPG_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/share/ostree/trusted.gpg.d"))
}

/// `<repo>/NAME.trustedkeys.gpg`: where `remote gpg-import` writes.
pub fn remote_keyring_path(repo: &Repo, remote_name: &str) -> PathBuf {
    repo.path().join(format!("{remote_name}.trustedkeys.gpg"))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let err = |source| Error::KeyFile { path: path.to_path_buf(), source };
    let mut data = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_KEYRING_SIZE + 1).read_to_end(&mut data)).map_err(err)?;
    if data.len() as u64 > MAX_KEYRING_SIZE {
        return Err(Error::GpgKeyring { origin: path.display().to_string(), what: "larger than 16 MiB".into() });
    }
    Ok(data)
}

/// The packets of a keyring or key file: binary (what gpg and ostree
/// write) or one ASCII-armoured block. GnuPG's trust packets, which sit
/// between a key's packets in its keyrings (and made rpgp drop every
/// subkey after them), are left out, as are markers and padding.
fn key_packets(origin: &str, data: &[u8]) -> Result<Vec<pgp::packet::Packet>> {
    use pgp::packet::{Packet, PacketParser};
    let bad = |what: String| Error::GpgKeyring { origin: origin.to_string(), what };
    let armored = data.trim_ascii_start().starts_with(b"-----BEGIN PGP");
    let binary = if armored {
        // Key files are often concatenated (`cat key1.asc key2.asc`): each
        // armoured block is decoded in turn.
        const BEGIN: &[u8] = b"-----BEGIN PGP";
        let starts: Vec<usize> = data.windows(BEGIN.len()).enumerate().filter(|(_, w)| *w == BEGIN).map(|(i, _)| i).collect();
        let mut out = Vec::new();
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(data.len());
            let block = data.get(start..end).unwrap_or_default();
            pgp::armor::Dearmor::new(BufReader::new(Cursor::new(block))).take(MAX_KEYRING_SIZE).read_to_end(&mut out).map_err(|e| bad(e.to_string()))?;
        }
        out
    } else {
        data.to_vec()
    };
    let mut out = Vec::new();
    for p in PacketParser::new(BufReader::new(Cursor::new(binary))) {
        match p {
            Ok(Packet::Trust(_) | Packet::Marker(_) | Packet::Padding(_)) => {}
            Ok(p) => out.push(p),
            // Packets of versions or kinds rpgp does not know: skipped as
            // rpgp itself skips them; a key made of them is not trusted.
            Err(pgp::errors::Error::Unsupported { .. }) => {}
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(out)
}

/// The public keys in `data` (see [`key_packets`]); secret keys in it are skipped.
pub fn parse_keys(origin: &str, data: &[u8]) -> Result<Vec<SignedPublicKey>> {
    let bad = |e: pgp::errors::Error| Error::GpgKeyring { origin: origin.to_string(), what: e.to_string() };
    let packets = key_packets(origin, data)?;
    let mut out = Vec::new();
    for k in SignedPublicKey::from_packets(packets.into_iter().map(Ok).peekable()) {
        out.push(k.map_err(bad)?);
        if out.len() > MAX_KEYS {
            return Err(Error::GpgKeyring { origin: origin.to_string(), what: format!("more than {MAX_KEYS} keys") });
        }
    }
    Ok(out)
}

/// Files of a keyring directory as ostree takes them: regular `*.gpg`
/// files, not the trust database or a secret keyring; in name order.
fn keyring_dir_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::KeyFile { path: dir.to_path_buf(), source }),
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".gpg") && name != "trustdb.gpg" && name != "secring.gpg"
        })
        .collect();
    files.sort();
    Ok(files)
}

/// One `gpgkeypath=` entry: a directory's regular files, or the file.
fn keyfile_path(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|source| Error::KeyFile { path: path.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|source| Error::KeyFile { path: path.to_path_buf(), source })?;
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok()).filter(|e| e.file_type().is_ok_and(|t| t.is_file())).map(|e| e.path()).collect();
    files.sort();
    Ok(files)
}

/// A keyring file to read, and whether one that is not a keyring is
/// skipped (a file found in a `gpgkeypath=` directory: gpgme's import, which
/// ostree uses, passes over such files) rather than an error.
pub type KeyringFile = (PathBuf, bool);

/// The keyring files a remote's signatures are checked against, in
/// ostree's order (see the module comment).
pub fn keyring_files(repo: &Repo, remote_name: &str, r: Option<&Remote>) -> Result<Vec<KeyringFile>> {
    keyring_files_of(repo, remote_name, r, true)
}

/// [`keyring_files`], the global directory left out unless `global`
/// (`remote gpg-list-keys NAME` lists only the remote's own keys).
fn keyring_files_of(repo: &Repo, remote_name: &str, r: Option<&Remote>, global: bool) -> Result<Vec<KeyringFile>> {
    let mut files = Vec::new();
    let own = remote_keyring_path(repo, remote_name);
    let in_remotes_d = remote::remotes_dir(repo).map(|d| d.join(format!("{remote_name}.trustedkeys.gpg")));
    let found = [Some(own), in_remotes_d].into_iter().flatten().find(|p| p.is_file());
    let have_remote_keyring = found.is_some();
    files.extend(found.map(|f| (f, false)));
    if let Some(list) = r.and_then(|r| r.get("gpgkeypath")).filter(|l| !l.is_empty()) {
        if list.contains(';') && list.contains(',') {
            return Err(Error::GpgKeyring {
                origin: format!("remote {remote_name} gpgkeypath"),
                what: "key value list contains more than one separator".into(),
            });
        }
        // Split as GLib's string lists are: a separator ends an entry, so
        // one trailing separator adds nothing, while an empty entry before
        // it stays (and fails as a missing path, as in ostree).
        let list = list.strip_suffix([';', ',']).unwrap_or(list);
        for p in list.split([';', ',']).map(str::trim) {
            let is_dir = Path::new(p).is_dir();
            files.extend(keyfile_path(Path::new(p))?.into_iter().map(|f| (f, is_dir)));
        }
    }
    if global && !have_remote_keyring {
        files.extend(keyring_dir_files(&global_keyring_dir())?.into_iter().map(|f| (f, false)));
    }
    Ok(files)
}

/// Why a trusted key cannot vouch for a signature (ostree's wording).
fn key_state(key: &SignedPublicKey, now: DateTime<Utc>) -> Option<&'static str> {
    let primary = &key.primary_key;
    let revoked = key.details.revocation_signatures.iter().any(|s| s.verify_key(primary).is_ok());
    if revoked {
        return Some("Key revoked");
    }
    if key.expires_at().is_some_and(|t| t <= now) {
        return Some("Key expired");
    }
    None
}

/// A subkey may sign for its primary if a binding signature from the
/// primary holds, says it signs, and it is neither revoked nor expired.
fn subkey_state(primary: &SignedPublicKey, sub: &SignedPublicSubKey, now: DateTime<Utc>) -> std::result::Result<(), &'static str> {
    let pk = &primary.primary_key;
    let valid = |s: &&Signature| s.verify_subkey_binding(pk, &sub.key).is_ok();
    if sub.signatures.iter().filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation)).any(|s| valid(&s)) {
        return Err("Key revoked");
    }
    let binding = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(valid)
        .max_by_key(|s| s.created().copied())
        .ok_or("no valid subkey binding")?;
    if !binding.key_flags().sign() {
        return Err("subkey not for signing");
    }
    // A signing subkey must have signed its primary back (RFC 9580 5.2.3.34).
    let back = binding.embedded_signature().is_some_and(|b| b.verify_primary_key_binding(&sub.key, pk).is_ok());
    if !back {
        return Err("subkey without a valid back signature");
    }
    if let Some(exp) = binding.key_expiration_time() {
        let expiry = sub.key.created_at().checked_add_signed(*exp);
        if expiry.is_some_and(|t| t <= now) {
            return Err("Key expired");
        }
    }
    Ok(())
}

/// When a subkey expires: per its newest valid binding signature.
fn subkey_expires_at(primary: &SignedPublicKey, sub: &SignedPublicSubKey) -> Option<DateTime<Utc>> {
    let binding = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding) && s.verify_subkey_binding(&primary.primary_key, &sub.key).is_ok())
        .max_by_key(|s| s.created().copied())?;
    sub.key.created_at().checked_add_signed(*binding.key_expiration_time()?)
}

/// The trusted GPG keys of one source.
#[derive(Debug, Clone, Default)]
pub struct GpgVerifier {
    keys: Vec<SignedPublicKey>,
    /// Where they came from, for the error when none verifies.
    origins: Vec<PathBuf>,
}

impl GpgVerifier {
    /// The keys of remote `remote_name` (configured as `r`, if it is).
    pub fn for_remote(repo: &Repo, remote_name: &str, r: Option<&Remote>) -> Result<GpgVerifier> {
        let mut v = GpgVerifier::default();
        for (f, lenient) in keyring_files(repo, remote_name, r)? {
            match v.add_keyring(&f) {
                Err(e) if lenient => log::info!("{}: not a key file, skipped: {e}", f.display()),
                other => other?,
            }
        }
        Ok(v)
    }

    pub fn with_keys(keys: Vec<SignedPublicKey>) -> GpgVerifier {
        GpgVerifier { keys, origins: Vec::new() }
    }

    fn add_keyring(&mut self, path: &Path) -> Result<()> {
        let data = read_bounded(path)?;
        let keys = parse_keys(&path.display().to_string(), &data)?;
        if self.keys.len() + keys.len() > MAX_KEYS {
            return Err(Error::GpgKeyring { origin: path.display().to_string(), what: format!("more than {MAX_KEYS} keys in all keyrings") });
        }
        self.keys.extend(keys);
        self.origins.push(path.to_path_buf());
        Ok(())
    }

    pub fn keys(&self) -> &[SignedPublicKey] {
        &self.keys
    }

    /// Pass if one signature in `detached`'s `ostree.gpgsigs` verifies
    /// `data` with a trusted, valid key. Like the ed25519 check it works on
    /// raw bytes: only the signature list of `detached` is parsed, and
    /// nothing of `data`.
    pub fn verify(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<()> {
        let blobs = match detached.map(|d| signatures_under(object, d, GPGSIGS_KEY)) {
            Some(Ok(b)) => b,
            // ostree reads what is not an a{sv} as holding no signatures
            // (and says so); refused either way.
            Some(Err(Error::MalformedSignatures { what: "not an a{sv}", .. })) | None => Vec::new(),
            Some(Err(e)) => return Err(e),
        };
        let mut sigs = Vec::new();
        for blob in blobs {
            let parsed = DetachedSignature::from_bytes_many(Cursor::new(blob))
                .map_err(|_| Error::MalformedSignatures { object: object.to_string(), what: "an ostree.gpgsigs entry is not OpenPGP" })?;
            for s in parsed {
                let s = s.map_err(|_| Error::MalformedSignatures { object: object.to_string(), what: "an ostree.gpgsigs entry is not OpenPGP" })?;
                if sigs.len() == MAX_SIGNATURES {
                    return Err(Error::MalformedSignatures { object: object.to_string(), what: "more than 256 signatures" });
                }
                sigs.push(s.signature);
            }
        }
        if sigs.is_empty() {
            return Err(Error::GpgUnsigned { object: object.to_string() });
        }
        let now = now();
        let mut problems = Vec::new();
        for sig in &sigs {
            match self.check_one(sig, data, now) {
                Ok(()) => return Ok(()),
                Err(p) => problems.push(p),
            }
        }
        Err(Error::GpgBadSignature { object: object.to_string(), problems })
    }

    /// One signature against the keyring: `Err` says why it does not count.
    fn check_one(&self, sig: &Signature, data: &[u8], now: DateTime<Utc>) -> std::result::Result<(), String> {
        let issuers: Vec<String> = sig.issuer().iter().map(|k| hex(k.as_ref())).chain(sig.issuer_fingerprint().iter().map(|f| hex(f.as_ref()))).collect();
        let named = |id: &str| issuers.is_empty() || issuers.iter().any(|i| i.eq_ignore_ascii_case(id));
        let who = issuers.first().cloned().unwrap_or_else(|| "an unnamed key".into());
        for key in &self.keys {
            let ids = [hex(key.key_id().as_ref()), hex(key.fingerprint().as_ref())];
            if ids.iter().any(|i| named(i)) {
                if let Some(state) = key_state(key, now) {
                    return Err(format!("signature by {who}: {state}"));
                }
                return sig.verify(&key.primary_key, data).map_err(|_| format!("BAD signature from key {who}"));
            }
            for sub in &key.public_subkeys {
                let ids = [hex(sub.key_id().as_ref()), hex(sub.fingerprint().as_ref())];
                if !ids.iter().any(|i| named(i)) {
                    continue;
                }
                if let Some(state) = key_state(key, now) {
                    return Err(format!("signature by {who}: primary {state}"));
                }
                subkey_state(key, sub, now).map_err(|state| format!("signature by {who}: {state}"))?;
                return sig.verify(&sub.key, data).map_err(|_| format!("BAD signature from key {who}"));
            }
        }
        Err(format!("signature by {who}: public key not found in {}", self.describe_keyrings()))
    }

    fn describe_keyrings(&self) -> String {
        if self.origins.is_empty() {
            return "the trusted keyrings (none found)".into();
        }
        self.origins.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// `remote gpg-import`: merge the keys of `source` (all, or those whose
/// key ID or fingerprint ends with one of `key_ids`) into
/// `<repo>/NAME.trustedkeys.gpg`, written atomically. Returns how many
/// keys were new.
pub fn import(repo: &Repo, remote_name: &str, source: &[u8], key_ids: &[String]) -> Result<usize> {
    use pgp::ser::Serialize;
    let mut wanted = parse_keys("the imported keys", source)?;
    if !key_ids.is_empty() {
        for id in key_ids {
            let matches = |k: &SignedPublicKey| {
                let id = id.trim_start_matches("0x").to_ascii_uppercase();
                hex(k.fingerprint().as_ref()).ends_with(&id) || hex(k.key_id().as_ref()).ends_with(&id)
            };
            if !wanted.iter().any(matches) {
                return Err(Error::GpgKeyring { origin: "the imported keys".into(), what: format!("Unable to find key \"{id}\"") });
            }
        }
        wanted.retain(|k| {
            key_ids.iter().any(|id| {
                let id = id.trim_start_matches("0x").to_ascii_uppercase();
                hex(k.fingerprint().as_ref()).ends_with(&id) || hex(k.key_id().as_ref()).ends_with(&id)
            })
        });
    }
    let path = remote_keyring_path(repo, remote_name);
    let mut keys = if path.is_file() { parse_keys(&path.display().to_string(), &read_bounded(&path)?)? } else { Vec::new() };
    let mut imported = 0;
    for k in wanted {
        match keys.iter_mut().find(|e| e.fingerprint() == k.fingerprint()) {
            // Same key again: take the newer copy (new revocations, expiry).
            Some(existing) => *existing = k,
            None => {
                keys.push(k);
                imported += 1;
            }
        }
    }
    let mut out = Vec::new();
    for k in &keys {
        k.to_writer(&mut out).map_err(|e| Error::GpgKeyring { origin: path.display().to_string(), what: e.to_string() })?;
    }
    ostree_repo::fsutil::atomic_write(&path, &out, 0o644, repo.fsync_enabled())?;
    Ok(imported)
}

/// `--gpg-homedir`, else `$GNUPGHOME`, else `~/.gnupg`, as gpg picks it.
pub fn default_homedir() -> PathBuf {
    if let Some(h) = std::env::var_os("GNUPGHOME") {
        return PathBuf::from(h);
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".gnupg")
}

/// The secret keys of a GnuPG home (all, or those `key_id` names), as
/// gpgme gets them: from GnuPG 2.1+ itself (`gpg --export-secret-keys`: its
/// agent holds them in `private-keys-v1.d/`, in a format of its own, and
/// moves a GnuPG 1 `secring.gpg` there on first use, which later gpg calls
/// on the home count on). The home's `secring.gpg` (OpenPGP packets) is read
/// directly where gpg is not installed or has no such key.
pub fn secret_keys(homedir: &Path, key_id: Option<&str>) -> Result<Vec<SignedSecretKey>> {
    let path = homedir.join("secring.gpg");
    let (origin, data) = match export_secret_keys(homedir, key_id) {
        Ok(data) if !data.is_empty() => (homedir.display().to_string(), data),
        _ if path.is_file() => (path.display().to_string(), read_bounded(&path)?),
        // Nothing exported: the "no secret key" error below names the key.
        Ok(data) => (homedir.display().to_string(), data),
        Err(e) => return Err(e),
    };
    let packets = key_packets(&origin, &data)?;
    let bad = |e: pgp::errors::Error| Error::GpgKeyring { origin: origin.clone(), what: e.to_string() };
    SignedSecretKey::from_packets(packets.into_iter().map(Ok).peekable()).map(|k| k.map_err(bad)).collect()
}

/// `gpg --homedir HOMEDIR --batch --export-secret-keys [KEY-ID]`. Keys
/// without a passphrase (a build server's) export as they are; a key with
/// one fails in gpg, which says why.
fn export_secret_keys(homedir: &Path, key_id: Option<&str>) -> Result<Vec<u8>> {
    let fail = |what: String| Error::GpgTool { homedir: homedir.to_path_buf(), what };
    let mut cmd = std::process::Command::new("gpg");
    cmd.arg("--homedir").arg(homedir).args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", "--export-secret-keys"]);
    cmd.args(key_id.map(|k| format!("0x{}", k.trim_start_matches("0x"))));
    let out = cmd.stdin(std::process::Stdio::null()).output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("gpg (GnuPG 2) is not installed, and the home has no secring.gpg".into()),
        _ => fail(format!("running gpg: {e}")),
    })?;
    if !out.status.success() {
        return Err(fail(format!("gpg --export-secret-keys failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())));
    }
    if out.stdout.len() as u64 > MAX_KEYRING_SIZE {
        return Err(fail("gpg exported more than 16 MiB of secret keys".into()));
    }
    Ok(out.stdout)
}

fn id_matches(id: &str, key_id: &KeyId, fpr: &Fingerprint) -> bool {
    let id = id.trim_start_matches("0x").to_ascii_uppercase();
    !id.is_empty() && (hex(fpr.as_ref()).ends_with(&id) || hex(key_id.as_ref()).ends_with(&id))
}

/// A detached binary signature (SHA-256) of `data` by the key `key_id`
/// names in `homedir`: that subkey if it names one, else the primary key's
/// newest signing subkey, else the primary key. Keys with a passphrase are
/// not supported (a build server's signing key has none, as in ostree's
/// test suite).
pub fn sign(homedir: &Path, key_id: &str, data: &[u8]) -> Result<Vec<u8>> {
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::ser::Serialize;
    use pgp::types::Password;
    let keys = secret_keys(homedir, Some(key_id))?;
    let fail = |e: pgp::errors::Error| Error::GpgKeyring { origin: format!("signing with {key_id}"), what: e.to_string() };
    let rng = rand::thread_rng();
    let pw = Password::empty();
    let sig = 'found: {
        for k in &keys {
            if let Some(sub) = k.secret_subkeys.iter().find(|s| id_matches(key_id, &s.key.key_id(), &s.key.fingerprint())) {
                break 'found DetachedSignature::sign_binary_data(rng, &sub.key, &pw, HashAlgorithm::Sha256, data).map_err(fail)?;
            }
            if id_matches(key_id, &k.primary_key.key_id(), &k.primary_key.fingerprint()) {
                let signing = k
                    .secret_subkeys
                    .iter()
                    .filter(|s| s.signatures.iter().any(|b| b.typ() == Some(SignatureType::SubkeyBinding) && b.key_flags().sign()))
                    .max_by_key(|s| *s.key.public_key().created_at());
                break 'found match signing {
                    Some(sub) => DetachedSignature::sign_binary_data(rng, &sub.key, &pw, HashAlgorithm::Sha256, data),
                    None => DetachedSignature::sign_binary_data(rng, &k.primary_key, &pw, HashAlgorithm::Sha256, data),
                }
                .map_err(fail)?;
            }
        }
        return Err(Error::GpgKeyring { origin: homedir.display().to_string(), what: format!("no secret key \"{key_id}\"") });
    };
    sig.to_bytes().map_err(fail)
}

/// Whether a signature blob (one `ostree.gpgsigs` element) was made by a
/// key `key_id` names, for `gpg-sign --delete`.
pub fn signed_by(blob: &[u8], key_id: &str) -> bool {
    let Ok(sigs) = DetachedSignature::from_bytes_many(Cursor::new(blob)) else { return false };
    sigs.flatten().any(|s| {
        let id = key_id.trim_start_matches("0x").to_ascii_uppercase();
        s.signature.issuer().iter().any(|k| hex(k.as_ref()).ends_with(&id)) || s.signature.issuer_fingerprint().iter().any(|f| hex(f.as_ref()).ends_with(&id))
    })
}

/// Detached metadata with `ostree.gpgsigs` entries made by any of
/// `key_ids` removed (the list itself goes when it ends up empty);
/// returns it and how many were removed.
pub fn delete_signatures(existing: &[u8], key_ids: &[String]) -> Result<(Vec<u8>, usize)> {
    use ostree_repo::gvariant::{self, build, Value};
    let v = Value::from_bytes(existing, ostree_repo::object::vardict_type()).map_err(ostree_repo::Error::from)?;
    let mut deleted = 0;
    let mut entries = Vec::new();
    for (k, v) in gvariant::vardict_entries(&v) {
        let mut v = v.clone();
        if k == GPGSIGS_KEY {
            if let Value::Array(_, items) = &mut v {
                let before = items.len();
                items.retain(|i| !matches!(i, Value::Bytes(b) if key_ids.iter().any(|id| signed_by(b, id))));
                deleted += before - items.len();
                if items.is_empty() {
                    continue;
                }
            }
        }
        entries.push((k.to_string(), v));
    }
    Ok((build::vardict(entries).to_bytes(), deleted))
}

/// gpgme's name for a signature's public key algorithm, as ostree prints it.
fn algo_name(sig: &Signature) -> &'static str {
    use pgp::crypto::public_key::PublicKeyAlgorithm as A;
    match sig.config().map(|c| c.pub_alg) {
        Some(A::RSA | A::RSASign | A::RSAEncrypt) => "RSA",
        Some(A::DSA) => "DSA",
        Some(A::ECDSA) => "ECDSA",
        Some(A::EdDSALegacy | A::Ed25519) => "EdDSA",
        Some(A::Ed448) => "Ed448",
        _ => "unknown",
    }
}

/// `"Name <email>"` of a key's first user ID, as gpgme splits it.
fn user_of(key: &SignedPublicKey) -> String {
    let uid = key.details.users.first().map(|u| String::from_utf8_lossy(u.id.id()).into_owned()).unwrap_or_default();
    match (uid.rfind(" <"), uid.ends_with('>')) {
        (Some(_), true) => uid,
        _ if uid.starts_with('<') && uid.ends_with('>') => format!(" {uid}"),
        _ => format!("{uid} <>"),
    }
}

/// A verifier with only the global keyring directory's keys (what ostree
/// checks a commit against when no remote is named).
pub fn global_verifier() -> Result<GpgVerifier> {
    let mut v = GpgVerifier::default();
    v.add_keyring_dir(&global_keyring_dir())?;
    Ok(v)
}

impl GpgVerifier {
    /// Also trust the keyrings of a GnuPG-style directory (`--gpg-homedir`):
    /// its `*.gpg` files but `trustdb.gpg` and `secring.gpg`.
    pub fn add_keyring_dir(&mut self, dir: &Path) -> Result<()> {
        for f in keyring_dir_files(dir)? {
            self.add_keyring(&f)?;
        }
        Ok(())
    }

    /// ostree's account of each signature (`show`): `None` if there are
    /// none. Says what each signature is; refuses nothing.
    pub fn describe(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<Option<String>> {
        let each = self.describe_each(object, data, detached, "  ")?;
        if each.is_empty() {
            return Ok(None);
        }
        let n = each.len();
        Ok(Some(format!("\nFound {n} signature{}:\n\n{}", if n == 1 { "" } else { "s" }, each.join("\n"))))
    }

    /// As ostree prints a verification result (`remote summary`): a
    /// count, then each signature.
    pub fn describe_result(&self, object: &str, data: &[u8], detached: Option<&[u8]>) -> Result<String> {
        let each = self.describe_each(object, data, detached, "  ")?;
        let n = each.len();
        Ok(format!("GPG: Verification enabled, found {n} signature{}:\n\n{}", if n == 1 { "" } else { "s" }, each.join("\n")))
    }

    /// Each signature's lines, each line starting with `prefix` (`admin
    /// status` prints them as `    GPG: …`).
    pub fn describe_each(&self, object: &str, data: &[u8], detached: Option<&[u8]>, prefix: &str) -> Result<Vec<String>> {
        let blobs = match detached {
            Some(d) => signatures_under(object, d, GPGSIGS_KEY)?,
            None => Vec::new(),
        };
        let mut sigs = Vec::new();
        for blob in blobs {
            let parsed = DetachedSignature::from_bytes_many(Cursor::new(blob))
                .map_err(|_| Error::MalformedSignatures { object: object.to_string(), what: "an ostree.gpgsigs entry is not OpenPGP" })?;
            sigs.extend(parsed.flatten().map(|s| s.signature).take(MAX_SIGNATURES));
        }
        let now = now();
        Ok(sigs.iter().map(|sig| self.describe_one(sig, data, now, prefix)).collect())
    }

    fn describe_one(&self, sig: &Signature, data: &[u8], now: DateTime<Utc>, p: &str) -> String {
        let mut out = String::new();
        let fpr = sig.issuer_fingerprint().first().map(|f| hex(f.as_ref()));
        let key_id =
            fpr.as_ref().map(|f| f[f.len().saturating_sub(16)..].to_string()).or_else(|| sig.issuer().first().map(|k| hex(k.as_ref()))).unwrap_or_default();
        let made = sig.created().map(|t| ostree_repo::datetime::format_c(u64::try_from(t.timestamp()).unwrap_or(0))).unwrap_or_default();
        out.push_str(&format!("{p}Signature made {made} using {} key ID {key_id}\n", algo_name(sig)));
        let mut found = None;
        for key in &self.keys {
            if hex(key.key_id().as_ref()) == key_id {
                found = Some((key, None));
                break;
            }
            if let Some(sub) = key.public_subkeys.iter().find(|s| hex(s.key_id().as_ref()) == key_id) {
                found = Some((key, Some(sub)));
                break;
            }
        }
        let Some((key, sub)) = found else {
            out.push_str(&format!("{p}Can't check signature: public key not found\n"));
            return out;
        };
        let user = user_of(key);
        let revoked = key_state(key, now) == Some("Key revoked") || sub.is_some_and(|s| subkey_state(key, s, now) == Err("Key revoked"));
        let expired = key_state(key, now) == Some("Key expired") || sub.is_some_and(|s| subkey_state(key, s, now) == Err("Key expired"));
        let good = match sub {
            Some(s) => sig.verify(&s.key, data).is_ok(),
            None => sig.verify(&key.primary_key, data).is_ok(),
        };
        if good && !revoked && !expired {
            out.push_str(&format!("{p}Good signature from \"{user}\"\n"));
        } else if revoked {
            out.push_str(&format!("{p}Key revoked\n"));
        } else {
            out.push_str(&format!("{p}BAD signature from \"{user}\"\n"));
        }
        if sub.is_some() {
            out.push_str(&format!("{p}Primary key ID {}\n", hex(key.key_id().as_ref())));
        }
        // As gpgme reports it: the signing key's expiry, then (for a
        // subkey) its primary's.
        let expiry = |what: &str, exp: DateTime<Utc>| format!("{p}{what} {} {}\n", if exp <= now { "expired" } else { "expires" }, format_time(&exp));
        let signing_expiry = match sub {
            Some(s) => subkey_expires_at(key, s),
            None => key.expires_at(),
        };
        if let Some(exp) = signing_expiry {
            out.push_str(&expiry("Key", exp));
        }
        if let (Some(_), Some(exp)) = (sub, key.expires_at()) {
            out.push_str(&expiry("Primary key", exp));
        }
        out
    }
}

/// `remote gpg-list-keys`: the keys remote `remote_name` trusts (its own
/// keyring and `gpgkeypath=`, not the global directory), or with no name
/// the global directory's, listed as ostree lists them.
pub fn list_keys(repo: &Repo, remote_name: Option<&str>) -> Result<String> {
    let keys = match remote_name {
        Some(name) => {
            let r = remote::get(repo, name)?;
            let mut v = GpgVerifier::default();
            for (f, lenient) in keyring_files_of(repo, name, Some(&r), false)? {
                match v.add_keyring(&f) {
                    Err(e) if lenient => log::info!("{}: not a key file, skipped: {e}", f.display()),
                    other => other?,
                }
            }
            v.keys
        }
        None => global_verifier()?.keys,
    };
    let now = now();
    let mut out = String::new();
    for key in &keys {
        let revoked = key_state(key, now) == Some("Key revoked");
        let mark = |r: bool| if r { " (revoked)" } else { "" };
        out.push_str(&format!("Key: {}{}\n", hex(key.fingerprint().as_ref()), mark(revoked)));
        out.push_str(&format!("  Created: {}\n", format_time(key.primary_key.created_at())));
        if let Some(exp) = key.expires_at() {
            out.push_str(&format!("  {}: {}\n", if exp <= now { "Expired" } else { "Expires" }, format_time(&exp)));
        }
        for user in &key.details.users {
            let uid = String::from_utf8_lossy(user.id.id()).into_owned();
            // A revoked key's user IDs are revoked with it, as gpg lists them.
            let uid_revoked = revoked
                || user.signatures.iter().any(|s| {
                    s.typ() == Some(SignatureType::CertRevocation) && s.verify_certification(&key.primary_key, pgp::types::Tag::UserId, &user.id).is_ok()
                });
            out.push_str(&format!("  UID: {uid}{}\n", mark(uid_revoked)));
            if let Some((advanced, direct)) = wkd_urls(&uid) {
                out.push_str(&format!("  Advanced update URL: {advanced}\n  Direct update URL: {direct}\n"));
            }
        }
        for sub in &key.public_subkeys {
            let state = subkey_state(key, sub, now);
            out.push_str(&format!("  Subkey: {}{}\n", hex(sub.fingerprint().as_ref()), mark(revoked || state == Err("Key revoked"))));
            out.push_str(&format!("    Created: {}\n", format_time(sub.key.created_at())));
            if let Some(exp) = subkey_expires_at(key, sub) {
                out.push_str(&format!("    {}: {}\n", if exp <= now { "Expired" } else { "Expires" }, format_time(&exp)));
            }
        }
    }
    Ok(out)
}

fn format_time(t: &DateTime<Utc>) -> String {
    ostree_repo::datetime::format_c(u64::try_from(t.timestamp()).unwrap_or(0))
}

/// The OpenPGP Web Key Directory URLs (advanced, direct) of a user ID's
/// e-mail address, where ostree's `remote update-gpg-keys` looks for a
/// newer copy of the key: the z-base-32 SHA-1 of the lower-cased local part.
pub fn wkd_urls(uid: &str) -> Option<(String, String)> {
    let email = match (uid.rfind('<'), uid.ends_with('>')) {
        (Some(i), true) => uid.get(i + 1..uid.len() - 1)?,
        _ => uid,
    };
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains(['/', ' ', '?', '#']) {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, local.to_ascii_lowercase().as_bytes());
    let hash = zbase32(digest.as_ref());
    let l: String =
        local.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    Some((
        format!("https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/hu/{hash}?l={l}"),
        format!("https://{domain}/.well-known/openpgpkey/hu/{hash}?l={l}"),
    ))
}

/// z-base-32 (RFC 6189 alphabet), most significant bits first.
fn zbase32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = ((buf << 8) | u32::from(b)) & 0xFFFF;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Whether `detached` already holds a GPG signature by `key_id` (ostree
/// refuses to sign a commit twice with one key).
pub fn signed_already(object: &str, detached: &[u8], key_id: &str) -> Result<bool> {
    Ok(signatures_under(object, detached, GPGSIGS_KEY)?.iter().any(|b| signed_by(b, key_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ostree's test suite ships GnuPG 1 keyrings (installed by .ci/test.sh
    /// with ostree-tests): trust packets between each key's packets.
    const SUITE_GPGHOME: &str = "/usr/libexec/installed-tests/libostree/gpghome";

    /// ostree's test-remote-gpg-list-keys.sh has these URLs for its key.
    #[test]
    fn wkd_urls_as_ostree_lists_them() {
        let (advanced, direct) = wkd_urls("Ostree Tester <test@test.com>").expect("an address");
        assert_eq!(advanced, "https://openpgpkey.test.com/.well-known/openpgpkey/test.com/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test");
        assert_eq!(direct, "https://test.com/.well-known/openpgpkey/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test");
        assert_eq!(wkd_urls("Test Key 1"), None);
    }

    /// rpgp alone dropped every packet after a trust packet up to the next
    /// key: subkeys were lost, and a secret keyring's subkeys too.
    #[test]
    fn gnupg1_keyrings_keep_their_subkeys_and_sign() {
        let path = Path::new(SUITE_GPGHOME).join("trusted/pubring.gpg");
        let data = std::fs::read(&path).expect("the suite's keyring (apt-get install ostree-tests)");
        let keys = parse_keys("pubring.gpg", &data).expect("parse");
        assert_eq!(keys.len(), 3);
        for k in &keys {
            assert_eq!(k.public_subkeys.len(), 1, "{}", user_of(k));
            assert!(user_of(k).starts_with("Ostree Tester"), "{}", user_of(k));
        }
        // A copy, as the suite's libtest.sh makes one: gpg writes into a home
        // it uses (an agent's sockets, the keys it migrates from secring.gpg).
        let tmp = tempfile::Builder::new().prefix("uptree-gpghome-").tempdir_in("/var/tmp").expect("tmp");
        let home = tmp.path().join("gpghome");
        assert!(std::process::Command::new("cp").arg("-a").arg(SUITE_GPGHOME).arg(&home).status().expect("cp").success());
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let secret = secret_keys(&home, None).expect("secret keys");
        assert_eq!(secret.len(), 3);
        assert!(secret.iter().all(|k| k.secret_subkeys.len() == 1));
        let sig = sign(&home, "7FCA23D8472CDAFA", b"commit bytes").expect("sign");
        let _ = std::process::Command::new("gpgconf").arg("--homedir").arg(&home).args(["--kill", "gpg-agent"]).status();
        let meta = crate::sign::add_signature_under(None, GPGSIGS_KEY, &sig).expect("meta");
        let v = GpgVerifier::with_keys(keys);
        v.verify("commit", b"commit bytes", Some(&meta)).expect("verifies");
        assert!(matches!(v.verify("commit", b"commit bytez", Some(&meta)), Err(Error::GpgBadSignature { .. })));
        assert!(matches!(v.verify("commit", b"commit bytes", None), Err(Error::GpgUnsigned { .. })));
        let (kept, n) = delete_signatures(&meta, &["472CDAFA".to_string()]).expect("delete");
        assert_eq!(n, 1);
        assert!(matches!(v.verify("commit", b"commit bytes", Some(&kept)), Err(Error::GpgUnsigned { .. })));
    }
}
