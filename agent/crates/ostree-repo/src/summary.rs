//! The repository summary `(a(s(taya{sv}))a{sv})` (ostree-format.md §4.3):
//! refs with their commit size and checksum, plus repository metadata.
//!
//! [`Summary::to_bytes`]/[`Summary::from_bytes`] are pure; [`update`] writes
//! `summary` atomically the way `ostree summary -u` does.

use std::fs;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::gvariant::{self, build, Type, Value};
use crate::object::{Checksum, ObjectType};
use crate::repo::Repo;

/// One ref in a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRef {
    pub name: String,
    /// Size in bytes of the commit object (a download limit for clients).
    pub commit_size: u64,
    pub checksum: Checksum,
    /// Per-ref metadata (`ostree.commit.timestamp`, `ostree.commit.version`).
    pub metadata: Vec<(String, Value)>,
}

/// A decoded summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Sorted by name.
    pub refs: Vec<SummaryRef>,
    pub metadata: Vec<(String, Value)>,
}

fn summary_type() -> Type {
    Type::parse("(a(s(taya{sv}))a{sv})").unwrap_or_else(|e| unreachable!("static type: {e}"))
}

fn ref_entry_type() -> Type {
    Type::parse("(s(taya{sv}))").unwrap_or_else(|e| unreachable!("static type: {e}"))
}

/// Largest summary we accept from a server.
pub const MAX_SUMMARY_SIZE: u64 = 10 * 1024 * 1024;

impl Summary {
    pub fn to_bytes(&self) -> Vec<u8> {
        Value::Tuple(vec![refs_value(&self.refs), build::vardict(self.metadata.iter().cloned())]).to_bytes()
    }

    pub fn from_bytes(data: &[u8]) -> Result<Summary> {
        let v = Value::from_bytes(data, &summary_type())?;
        let Value::Tuple(m) = v else { unreachable!("decoded per type") };
        let refs = refs_from_value(&m[0])?;
        let metadata = gvariant::vardict_entries(&m[1]).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Ok(Summary { refs, metadata })
    }

    /// The refs of other collections (`ostree.summary.collection-map`), by
    /// collection ID; empty if there is none or it is malformed.
    pub fn collection_map(&self) -> Vec<(String, Vec<SummaryRef>)> {
        let Some(Value::Array(_, entries)) = self.meta("ostree.summary.collection-map") else { return Vec::new() };
        entries
            .iter()
            .filter_map(|e| match e {
                Value::DictEntry(k, v) => Some((k.as_str()?.to_string(), refs_from_value(v).ok()?)),
                _ => None,
            })
            .collect()
    }
}

/// `a(s(taya{sv}))`, the refs list of a summary or of a collection.
fn refs_value(refs: &[SummaryRef]) -> Value {
    let refs = refs
        .iter()
        .map(|r| {
            Value::Tuple(vec![
                Value::Str(r.name.clone()),
                Value::Tuple(vec![Value::U64(r.commit_size), Value::Bytes(r.checksum.0.to_vec()), build::vardict(r.metadata.iter().cloned())]),
            ])
        })
        .collect();
    Value::Array(ref_entry_type(), refs)
}

fn refs_from_value(v: &Value) -> Result<Vec<SummaryRef>> {
    {
        let Value::Array(_, entries) = v else { return Err(Error::Corrupt("summary: refs are not a(s(taya{sv}))".into())) };
        let mut refs = Vec::with_capacity(entries.len());
        for e in entries {
            let Value::Tuple(pair) = e else { unreachable!("decoded per type") };
            let Value::Tuple(inner) = &pair[1] else { unreachable!("decoded per type") };
            let name = pair[0].as_str().unwrap_or_default().to_string();
            crate::object::validate_ref_name(&name).map_err(|e| e.context("summary"))?;
            let Value::U64(size) = inner[0] else { unreachable!("decoded per type") };
            let checksum =
                inner[1].as_bytes().and_then(Checksum::from_slice).ok_or_else(|| Error::Corrupt(format!("summary: ref {name} has a malformed checksum")))?;
            let metadata = gvariant::vardict_entries(&inner[2]).into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            refs.push(SummaryRef { name, commit_size: size, checksum, metadata });
        }
        Ok(refs)
    }
}

impl Summary {
    pub fn lookup(&self, name: &str) -> Option<&SummaryRef> {
        self.refs.iter().find(|r| r.name == name)
    }

    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `summary --view`, as ostree prints it (ot-dump.c): each ref with its
    /// commit and metadata, then the repository metadata, known keys named.
    pub fn view_text(&self) -> String {
        let iso = |v: &Value| match v {
            Value::U64(n) => {
                let t = crate::datetime::format_utc(n.swap_bytes()); // stored big-endian
                format!("{}T{}+00", &t[..10], &t[11..19])
            }
            other => gvariant::print(other),
        };
        let mut s = String::new();
        let main_id = self.meta("ostree.summary.collection-id").and_then(Value::as_str).map(str::to_string);
        let mut groups = vec![(main_id, self.refs.clone())];
        groups.extend(self.collection_map().into_iter().map(|(c, refs)| (Some(c), refs)));
        for (cid, r) in groups.iter().flat_map(|(c, refs)| refs.iter().map(move |r| (c, r))) {
            let name = match cid {
                Some(c) => format!("({c}, {})", r.name),
                None => r.name.clone(),
            };
            s.push_str(&format!("* {name}\n    Latest Commit ({}):\n      {}\n", crate::fsutil::format_size(r.commit_size), r.checksum));
            for (k, v) in &r.metadata {
                match (k.as_str(), v) {
                    ("ostree.commit.timestamp", v) => s.push_str(&format!("    Timestamp ({k}): {}\n", iso(v))),
                    ("ostree.commit.version", Value::Str(ver)) => s.push_str(&format!("    Version ({k}): {ver}\n")),
                    _ => s.push_str(&format!("    {k}: {}\n", gvariant::print(v))),
                }
            }
            s.push('\n');
        }
        for (k, v) in &self.metadata {
            let pretty = match (k.as_str(), v) {
                ("ostree.static-deltas", v) => Some(("Static Deltas", gvariant::print(v))),
                ("ostree.summary.last-modified", v) => Some(("Last-Modified", iso(v))),
                ("ostree.summary.expires", v) => Some(("Expires", iso(v))),
                ("ostree.summary.collection-id", Value::Str(c)) => Some(("Collection ID", c.clone())),
                ("ostree.summary.collection-map", _) => Some(("Collection Map", "(printed above)".to_string())),
                ("ostree.summary.mode", Value::Str(m)) => Some(("Repository Mode", m.clone())),
                ("ostree.summary.tombstone-commits", Value::Bool(b)) => Some(("Has Tombstone Commits", if *b { "Yes" } else { "No" }.to_string())),
                _ => None,
            };
            match pretty {
                Some((name, text)) => s.push_str(&format!("{name} ({k}): {text}\n")),
                None => s.push_str(&format!("{k}: {}\n", gvariant::print_unannotated(v))),
            }
        }
        s
    }

    /// `ostree.summary.mode`, if present.
    pub fn mode(&self) -> Option<&str> {
        self.meta("ostree.summary.mode").and_then(Value::as_str)
    }
}

/// `summary --raw`: the summary's GVariant text with type annotations,
/// byte-swapped as ostree prints it (its numbers are stored big-endian).
pub fn raw_text(data: &[u8]) -> Result<String> {
    let v = Value::from_bytes(data, &summary_type())?;
    Ok(gvariant::print_annotated(&gvariant::byteswap(&v)))
}

/// Build the summary of `repo`'s local refs, as `ostree summary -u` does:
/// the main list holds the local refs (with a collection ID: that
/// collection's refs), the collection map those of other collections
/// (mirrors, remotes with a collection ID).
pub fn generate(repo: &Repo, now: u64) -> Result<Summary> {
    generate_with(repo, now, &[])
}

/// [`generate`] with `summary --add-metadata` entries, which come first
/// (in command-line order) so that a well-known key given there is
/// overwritten, as ostree does.
pub fn generate_with(repo: &Repo, now: u64, extra: &[(String, Value)]) -> Result<Summary> {
    let own = repo.config().get("core", "collection-id");
    let mut refs = Vec::new();
    let mut others: std::collections::BTreeMap<String, Vec<SummaryRef>> = Default::default();
    if own.is_none() {
        for (name, csum) in repo.list_refs()? {
            if !name.contains(':') {
                refs.push(summary_ref(repo, name, csum)?); // remote refs only by collection ID
            }
        }
    }
    for ((cid, name), csum) in repo.list_collection_refs()? {
        let r = summary_ref(repo, name, csum)?;
        if Some(&cid) == own.as_ref() {
            refs.push(r);
        } else {
            others.entry(cid).or_default().push(r);
        }
    }
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    for v in others.values_mut() {
        v.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let tombstones = repo.config().get_bool("core", "tombstone-commits").ok().flatten().unwrap_or(false);
    // ostree's insertion order into its GVariantDict; the file has them in
    // that hash table's order ([`glib_dict_order`]).
    let mut metadata = extra.to_vec();
    // `core.no-deltas-in-summary`: clients find the deltas through
    // `delta-indexes/` only.
    let no_deltas = repo.config().get_bool("core", "no-deltas-in-summary").ok().flatten().unwrap_or(false);
    let deltas = if no_deltas { Vec::new() } else { static_deltas(repo)? };
    if !deltas.is_empty() {
        let entries = deltas.into_iter().map(|(name, digest)| (name, Value::Bytes(digest.0.to_vec())));
        metadata.push(("ostree.static-deltas".to_string(), build::vardict(entries)));
    }
    metadata.push(("ostree.summary.last-modified".to_string(), Value::U64(now.swap_bytes())));
    metadata.push(("ostree.summary.mode".to_string(), build::s(repo.mode().config_name())));
    metadata.push(("ostree.summary.tombstone-commits".to_string(), Value::Bool(tombstones)));
    metadata.push(("ostree.summary.indexed-deltas".to_string(), Value::Bool(true)));
    if !others.is_empty() {
        let map = others.into_iter().map(|(cid, refs)| Value::DictEntry(Box::new(Value::Str(cid)), Box::new(refs_value(&refs)))).collect();
        let entry = Type::DictEntry(Box::new(Type::Str), Box::new(Type::Array(Box::new(ref_entry_type()))));
        metadata.push(("ostree.summary.collection-map".to_string(), Value::Array(entry, map)));
    }
    if let Some(own) = own {
        metadata.push(("ostree.summary.collection-id".to_string(), build::s(own)));
    }
    Ok(Summary { refs, metadata: glib_dict_order(metadata) })
}

/// Entries in the order GLib's `GVariantDict` (a `GHashTable` of string
/// keys, GLib 2.74 as in Debian's ostree 2022.7) gives them back after
/// they were inserted in this order: a later entry with the same key
/// replaces the value and keeps the slot. ostree writes a summary's
/// metadata in that order, so a byte-identical summary needs it.
///
/// The table: `g_str_hash` (djb2 over signed chars), 8 buckets to start,
/// bucket `(hash * 11) % prime`, quadratic probing, grown when 15/16 full
/// to the power of two above `4/3 * entries`, rehashed in bucket order.
pub fn glib_dict_order(entries: Vec<(String, Value)>) -> Vec<(String, Value)> {
    const PRIMES: [u32; 32] = [
        1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593,
        16777213, 33554393, 67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
    ];
    fn str_hash(k: &str) -> u32 {
        // GLib hashes `signed char`s: bytes from 0x80 count negative.
        let h = k.bytes().fold(5381u32, |h, b| h.wrapping_mul(33).wrapping_add(b as i8 as u32));
        h.max(2) // 0 and 1 mark empty and deleted buckets
    }
    struct Table {
        shift: usize,
        slots: Vec<Option<(u32, String, Value)>>,
        nodes: usize,
    }
    impl Table {
        fn mask(&self) -> usize {
            (1 << self.shift) - 1
        }
        fn bucket(&self, hash: u32) -> usize {
            (hash.wrapping_mul(11) % PRIMES[self.shift]) as usize
        }
        /// Where `hash` lands, skipping the buckets `taken` says are done.
        fn probe(&self, hash: u32, taken: impl Fn(usize) -> bool) -> usize {
            let (mut i, mut step) = (self.bucket(hash), 0);
            while taken(i) {
                step += 1;
                i = (i + step) & self.mask();
            }
            i
        }
        fn insert(&mut self, key: String, value: Value) {
            let hash = str_hash(&key);
            let i = self.probe(hash, |i| matches!(&self.slots[i], Some((h, k, _)) if !(*h == hash && *k == key)));
            if let Some(slot) = &mut self.slots[i] {
                slot.2 = value;
                return;
            }
            self.slots[i] = Some((hash, key, value));
            self.nodes += 1;
            let size = self.slots.len();
            if size <= self.nodes + self.nodes / 16 {
                self.grow();
            }
        }
        /// GLib's in-place rehash: old buckets in order, each entry placed
        /// at its first free-of-rehashed bucket, evicting what was there
        /// (which is then placed the same way).
        fn grow(&mut self) {
            let old = self.slots.len();
            let target = self.nodes * 1333 / 1000;
            self.shift = (usize::BITS - target.leading_zeros()).max(3) as usize;
            let size = 1usize << self.shift;
            self.slots.resize_with(size.max(old), || None);
            let mut done = vec![false; size.max(old)];
            for i in 0..old {
                if done[i] {
                    continue;
                }
                let Some(mut carried) = self.slots[i].take() else { continue };
                loop {
                    let j = self.probe(carried.0, |j| done[j]);
                    done[j] = true;
                    match self.slots[j].replace(carried) {
                        Some(evicted) => carried = evicted,
                        None => break,
                    }
                }
            }
            self.slots.truncate(size);
        }
    }
    let mut t = Table { shift: 3, slots: (0..8).map(|_| None).collect(), nodes: 0 };
    for (k, v) in entries {
        t.insert(k, v);
    }
    t.slots.into_iter().flatten().map(|(_, k, v)| (k, v)).collect()
}

/// One ref's summary entry: its commit's size, version and timestamp.
fn summary_ref(repo: &Repo, name: String, csum: Checksum) -> Result<SummaryRef> {
    let bytes = repo.read_metadata_verified(ObjectType::Commit, &csum).map_err(|e| e.context(format!("ref {name}")))?;
    let commit = crate::object::Commit::from_bytes(&bytes)?;
    // ostree's GVariantDict order for these two keys.
    let mut metadata = Vec::new();
    if let Some(v) = commit.version() {
        metadata.push(("ostree.commit.version".to_string(), build::s(v)));
    }
    metadata.push(("ostree.commit.timestamp".to_string(), Value::U64(commit.timestamp.swap_bytes())));
    Ok(SummaryRef { name, commit_size: bytes.len() as u64, checksum: csum, metadata })
}

/// `summary -u`: write `summary` atomically, drop a stale `summary.sig`,
/// and record `core.indexed-deltas=true` as ostree does.
pub fn update(repo: &mut Repo, now: u64) -> Result<Summary> {
    update_with(repo, now, &[])
}

/// [`update`] with `--add-metadata` entries ([`generate_with`]).
pub fn update_with(repo: &mut Repo, now: u64, extra: &[(String, Value)]) -> Result<Summary> {
    if repo.config().get("core", "indexed-deltas").as_deref() != Some("true") {
        repo.update_config(|kf| kf.set("core", "indexed-deltas", "true"))?;
    }
    if let Some(cid) = repo.config().get("core", "collection-id") {
        write_metadata_commit(repo, &cid, now, extra)?;
    }
    write(repo, now, extra)
}

/// The ref ostree keeps a repository's `--add-metadata` history on.
pub const METADATA_REF: &str = "ostree-metadata";

/// With a collection ID, ostree's `summary -u` first records the extra
/// metadata as a new commit on `(COLLECTION, ostree-metadata)`: an empty
/// root (0:0, 0755), the previous such commit as parent, bound to that
/// ref and collection. Clients that find the repository by collection
/// (USB sticks, LAN peers) read the metadata from there, signed like any
/// commit; the summary then lists the ref.
fn write_metadata_commit(repo: &Repo, cid: &str, now: u64, extra: &[(String, Value)]) -> Result<Checksum> {
    use crate::object::{Commit, DirMeta, DirTree};
    let mut metadata = extra.to_vec();
    metadata.push(("ostree.collection-binding".to_string(), build::s(cid)));
    metadata.push(("ostree.ref-binding".to_string(), build::strv(&[METADATA_REF])));
    let name = crate::repo::RefName::parse(METADATA_REF)?;
    let parent = repo.read_ref(&name)?;
    let txn = repo.begin()?;
    let written = (|| {
        let root_meta = txn.write_metadata(ObjectType::DirMeta, &DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Vec::new() }.to_bytes())?;
        let root_tree = txn.write_metadata(ObjectType::DirTree, &DirTree::default().to_bytes())?;
        let c = Commit { metadata: glib_dict_order(metadata), parent, subject: String::new(), body: String::new(), timestamp: now, root_tree, root_meta };
        txn.write_metadata(ObjectType::Commit, &c.to_bytes())
    })();
    let csum = match written {
        Ok(c) => c,
        Err(e) => {
            if let Err(abort_err) = txn.abort() {
                log::warn!("cleaning up after a failed ostree-metadata commit: {abort_err}");
            }
            return Err(e);
        }
    };
    txn.commit()?;
    repo.set_collection_ref(cid, METADATA_REF, Some(&csum))?;
    Ok(csum)
}

fn write(repo: &Repo, now: u64, extra: &[(String, Value)]) -> Result<Summary> {
    let s = generate_with(repo, now, extra)?;
    fsutil::atomic_write(&repo.path().join("summary"), &s.to_bytes(), 0o644, repo.fsync_enabled())?;
    let sig = repo.path().join("summary.sig");
    match fs::remove_file(&sig) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(sig, e)),
    }
    Ok(s)
}

/// After refs changed: rewrite the summary if the repository asks for it
/// (`core.auto-update-summary`, or `core.commit-update-summary` when
/// `by_commit`), as ostree does. An unsigned summary, like `summary -u`.
pub fn refs_changed(repo: &Repo, by_commit: bool) -> Result<()> {
    let on = |key| repo.config().get_bool("core", key).ok().flatten().unwrap_or(false);
    if on("auto-update-summary") || (by_commit && on("commit-update-summary")) {
        write(repo, crate::commit::default_timestamp()?, &[])?;
    }
    Ok(())
}

/// Decode ostree's "modified base64" (`_` for `/`, no padding) to 32 bytes.
pub fn mbase64_to_checksum(s: &str) -> Option<Checksum> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    Checksum::from_slice(&out)
}

/// Encode 32 bytes as ostree's "modified base64" (43 characters).
pub fn checksum_to_mbase64(c: &Checksum) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_";
    let mut out = String::with_capacity(43);
    let mut bits = 0u32;
    let mut nbits = 0;
    for &b in &c.0 {
        bits = (bits << 8) | u32::from(b);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(char::from(ALPHABET[((bits >> nbits) & 63) as usize]));
        }
    }
    if nbits > 0 {
        out.push(char::from(ALPHABET[((bits << (6 - nbits)) & 63) as usize]));
    }
    out
}

/// Static deltas present in `deltas/`: (hex name `FROM-TO` or `TO`, SHA-256 of the superblock).
pub fn static_deltas(repo: &Repo) -> Result<Vec<(String, Checksum)>> {
    let root = repo.path().join("deltas");
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(&root) else { return Ok(out) };
    for prefix in rd.flatten() {
        let p = prefix.file_name().to_string_lossy().into_owned();
        let Ok(inner) = fs::read_dir(prefix.path()) else { continue };
        for d in inner.flatten() {
            let rest = d.file_name().to_string_lossy().into_owned();
            let full = format!("{p}{rest}");
            let name = match full.split_once('-') {
                Some((from, to)) => match (mbase64_to_checksum(from), mbase64_to_checksum(to)) {
                    (Some(f), Some(t)) => format!("{f}-{t}"),
                    _ => continue,
                },
                None => match mbase64_to_checksum(&full) {
                    Some(t) => t.to_hex(),
                    None => continue,
                },
            };
            let sb = d.path().join("superblock");
            if let Ok(bytes) = fs::read(&sb) {
                out.push((name, Checksum::of(&bytes)));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_lookup() {
        let s = Summary {
            refs: vec![
                SummaryRef {
                    name: "a/b".into(),
                    commit_size: 134,
                    checksum: Checksum([1; 32]),
                    metadata: vec![("ostree.commit.version".into(), build::s("3"))],
                },
                SummaryRef { name: "x".into(), commit_size: 118, checksum: Checksum([2; 32]), metadata: vec![] },
            ],
            metadata: vec![("ostree.summary.mode".into(), build::s("archive-z2")), ("ostree.summary.indexed-deltas".into(), Value::Bool(true))],
        };
        let b = s.to_bytes();
        let back = Summary::from_bytes(&b).expect("decode");
        assert_eq!(back, s);
        assert_eq!(back.lookup("x").map(|r| r.commit_size), Some(118));
        assert_eq!(back.mode(), Some("archive-z2"));
        assert!(Summary::from_bytes(&b[..b.len() - 3]).is_err());
    }

    #[test]
    fn delta_names() {
        // spec §5.1: c33a6c2f… -> wzpsL9KLuNhecE1lCSuQE_2lp1ahkizBsgEDk7aXNUQ
        let c = mbase64_to_checksum("wzpsL9KLuNhecE1lCSuQE_2lp1ahkizBsgEDk7aXNUQ").expect("decodes");
        assert!(c.to_hex().starts_with("c33a6c2f"));
        assert_eq!(checksum_to_mbase64(&c), "wzpsL9KLuNhecE1lCSuQE_2lp1ahkizBsgEDk7aXNUQ");
    }
}
