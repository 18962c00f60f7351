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
    if let Some(key) = &o.print_metadata_key {
        let v = c.meta(key).ok_or_else(|| Error::Invalid(format!("No such metadata key '{key}'")))?;
        out(&format!("{}\n", gvariant::print(v)))?;
    } else if o.json {
        out(&format!("{}\n", commit_json(&csum, &c, repo.is_partial(&csum))))?;
    } else {
        out(&format_commit(&csum, &c))?;
    }
    Ok(0)
}
