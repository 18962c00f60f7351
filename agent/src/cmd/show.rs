//! `show`, and the commit views `log` shares.

use ostree_repo::gvariant::{self, Value};
use ostree_repo::object::Commit;
use ostree_repo::{datetime, Checksum, Error, Repo};

use super::out;
use crate::cli::ShowOpts;
use crate::Result;

pub(super) fn format_commit(csum: &Checksum, c: &Commit) -> String {
    let mut s = format!("commit {csum}\n");
    if let Some(p) = c.parent {
        s.push_str(&format!("Parent:  {p}\n"));
    }
    s.push_str(&format!("ContentChecksum:  {}\n", c.content_checksum()));
    s.push_str(&format!("Date:  {}\n", datetime::format_utc(c.timestamp)));
    if let Some(v) = c.version() {
        s.push_str(&format!("Version: {v}\n"));
    }
    s.push('\n');
    if !c.subject.is_empty() {
        s.push_str(&format!("    {}\n\n", c.subject));
    }
    if !c.body.is_empty() {
        for line in c.body.lines() {
            s.push_str(&format!("    {line}\n"));
        }
        s.push('\n');
    }
    s
}

pub(super) fn commit_json(csum: &Checksum, c: &Commit, partial: bool) -> serde_json::Value {
    let meta: serde_json::Map<String, serde_json::Value> = c.metadata.iter().map(|(k, v)| (k.clone(), value_json(v))).collect();
    serde_json::json!({
        "checksum": csum.to_hex(),
        "parent": c.parent.map(|p| p.to_hex()),
        "subject": c.subject,
        "body": c.body,
        "timestamp": c.timestamp,
        "date": datetime::format_iso(c.timestamp),
        "version": c.version(),
        "content-checksum": c.content_checksum().to_hex(),
        "root-tree": c.root_tree.to_hex(),
        "root-meta": c.root_meta.to_hex(),
        "metadata": meta,
        "partial": partial,
    })
}

fn value_json(v: &Value) -> serde_json::Value {
    match v.unvariant() {
        Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => serde_json::Value::String(s.clone()),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Array(_, items) if items.iter().all(|i| i.as_str().is_some()) => serde_json::Value::Array(items.iter().map(value_json).collect()),
        other => serde_json::Value::String(gvariant::print(other)),
    }
}

pub fn run(repo: &Repo, o: &ShowOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    let c = repo.load_commit(&csum)?;
    if o.print_sizes {
        let s = ostree_repo::commit::size_summary(repo, &c)?;
        let f = ostree_repo::fsutil::format_size_glib;
        out(&format!(
            "Compressed size (needed/total): {}/{}\nUnpacked size (needed/total): {}/{}\nNumber of objects (needed/total): {}/{}\n",
            f(s.needed_stored),
            f(s.total_stored),
            f(s.needed_unpacked),
            f(s.total_unpacked),
            s.needed_objects,
            s.total_objects
        ))?;
    } else if let Some(key) = &o.print_metadata_key {
        let v = c.meta(key).ok_or_else(|| Error::Invalid(format!("No such metadata key '{key}'")))?;
        out(&format!("{}\n", print_value(v, o)))?;
    } else if let Some(key) = &o.print_detached_metadata_key {
        let path = repo.object_path(&csum, ostree_repo::object::ObjectType::CommitMeta);
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(format!("No detached metadata for commit {csum}").into()),
            r => r.map_err(|e| Error::io(&path, e))?,
        };
        let meta = Value::from_bytes(&bytes, ostree_repo::object::vardict_type())?;
        let entries = gvariant::vardict_entries(&meta);
        let v = entries.iter().find(|(k, _)| k == key).ok_or_else(|| Error::Invalid(format!("No such detached metadata key '{key}'")))?.1;
        out(&format!("{}\n", print_value(v, o)))?;
    } else if o.raw {
        // As ostree's ot_dump_variant: numbers in host order, annotated.
        let bytes = repo.read_metadata_verified(ostree_repo::ObjectType::Commit, &csum)?;
        let v = Value::from_bytes(&bytes, ostree_repo::object::commit_type())?;
        let mut text = format!("commit {csum}\n{}\n", gvariant::print_annotated(&gvariant::byteswap(&v)));
        text.push_str(&signatures(repo, &csum, o)?);
        out(&text)?;
    } else if o.json {
        out(&format!("{}\n", commit_json(&csum, &c, repo.is_partial(&csum))))?;
    } else {
        let mut text = format_commit(&csum, &c);
        text.push_str(&signatures(repo, &csum, o)?);
        out(&text)?;
    }
    Ok(0)
}

/// The commit's GPG signatures as ostree shows them: checked against the
/// global keyrings (or `--gpg-verify-remote`'s) and `--gpg-homedir`'s.
#[cfg(feature = "gpg")]
fn signatures(repo: &Repo, csum: &Checksum, o: &ShowOpts) -> Result<String> {
    use ostree_repo::object::ObjectType;
    use uptree_pull::gpg::{global_verifier, GpgVerifier};
    let mut v = match &o.gpg_verify_remote {
        Some(name) => GpgVerifier::for_remote(repo, name, Some(&ostree_repo::remote::get(repo, name)?))?,
        None => global_verifier()?,
    };
    if let Some(dir) = &o.gpg_homedir {
        v.add_keyring_dir(dir)?;
    }
    let bytes = repo.read_metadata_verified(ObjectType::Commit, csum)?;
    let detached = std::fs::read(repo.object_path(csum, ObjectType::CommitMeta)).ok();
    Ok(v.describe(&format!("commit {csum}"), &bytes, detached.as_deref())?.unwrap_or_default())
}

#[cfg(not(feature = "gpg"))]
fn signatures(_: &Repo, _: &Checksum, o: &ShowOpts) -> Result<String> {
    if o.gpg_verify_remote.is_some() {
        return Err("GPG has been disabled at build time (uptree built without the `gpg` feature)".into());
    }
    Ok(String::new())
}

/// A metadata value as ostree's `show` prints it: type-annotated, and
/// converted from big endian (ostree's convention for numbers in metadata)
/// unless `-B`.
fn print_value(v: &Value, o: &ShowOpts) -> String {
    if o.no_byteswap {
        gvariant::print_annotated(v)
    } else {
        gvariant::print_annotated(&gvariant::byteswap(v))
    }
}
