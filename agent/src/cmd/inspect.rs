//! Read-only views of commits: `show`, `log`, `ls`, `cat`.

use std::io::Read;

use ostree_repo::gvariant::{self, Value};
use ostree_repo::object::{Commit, S_IFDIR, S_IFLNK, S_IFMT};
use ostree_repo::repo::Content;
use ostree_repo::tree::{self, Entry, Listed};
use ostree_repo::{datetime, Checksum, Error, Repo};

use super::out;
use crate::cli::{CatOpts, LogOpts, LsOpts, ShowOpts};
use crate::Result;

fn format_commit(csum: &Checksum, c: &Commit) -> String {
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

fn commit_json(csum: &Checksum, c: &Commit, partial: bool) -> serde_json::Value {
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

pub fn show(repo: &Repo, o: &ShowOpts) -> Result<i32> {
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

pub fn log(repo: &Repo, o: &LogOpts) -> Result<i32> {
    let mut cur = Some(repo.resolve_rev(&o.rev)?);
    let mut json = Vec::new();
    while let Some(csum) = cur {
        let c = match repo.load_commit(&csum) {
            Ok(c) => c,
            Err(e) if e.is_not_found() => {
                if !o.json {
                    out("<< History beyond this commit not fetched >>\n")?;
                }
                break;
            }
            Err(e) => return Err(e.into()),
        };
        if o.json {
            json.push(commit_json(&csum, &c, repo.is_partial(&csum)));
        } else {
            out(&format_commit(&csum, &c))?;
        }
        cur = c.parent;
    }
    if o.json {
        out(&format!("{}\n", serde_json::Value::Array(json)))?;
    }
    Ok(0)
}

fn mode_column(mode: u32) -> String {
    let t = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        _ => '-',
    };
    format!("{t}0{:04o}", mode & 0o7777)
}

fn xattr_text(x: &ostree_repo::object::Xattrs) -> String {
    let items: Vec<String> = x
        .iter()
        .map(|(n, v)| format!("({}, {})", gvariant::print(&Value::Bytes([n.as_slice(), &[0]].concat())), gvariant::print(&Value::Bytes(v.clone()))))
        .collect();
    format!("{{ [{}] }} ", items.join(", "))
}

pub fn ls(repo: &Repo, o: &LsOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    let paths = if o.paths.is_empty() { vec!["/".to_string()] } else { o.paths.clone() };
    let mut s = String::new();
    for p in paths {
        let abs = if p.starts_with('/') { p.clone() } else { format!("/{p}") };
        let entry = tree::lookup(repo, &csum, &abs)?;
        let mut first = true;
        let mut line = |l: Listed| -> ostree_repo::Result<()> {
            let is_self = std::mem::take(&mut first);
            if o.dironly && !is_self {
                return Ok(());
            }
            match l {
                Listed::Dir { path, meta, tree, meta_csum } => {
                    let cs = if o.checksum { format!("{tree} {meta_csum} ") } else { String::new() };
                    let x = if o.xattrs { xattr_text(&meta.xattrs) } else { String::new() };
                    s.push_str(&format!("{} {} {} {:>6} {cs}{x}{path}\n", mode_column(meta.mode), meta.uid, meta.gid, 0));
                }
                Listed::File { path, meta, size, csum } => {
                    let cs = if o.checksum { format!("{csum} ") } else { String::new() };
                    let x = if o.xattrs { xattr_text(&meta.xattrs) } else { String::new() };
                    let target = if meta.is_symlink() { format!(" -> {}", meta.symlink_target) } else { String::new() };
                    s.push_str(&format!("{} {} {} {:>6} {cs}{x}{path}{target}\n", mode_column(meta.mode), meta.uid, meta.gid, size));
                }
            }
            Ok(())
        };
        tree::list(repo, &abs, &entry, o.recursive && !o.dironly, &mut line)?;
    }
    out(&s)?;
    Ok(0)
}

pub fn cat(repo: &Repo, o: &CatOpts) -> Result<i32> {
    let csum = repo.resolve_rev(&o.rev)?;
    for p in &o.paths {
        let Entry::File(f) = tree::lookup(repo, &csum, p)? else {
            return Err(Error::Invalid(format!("{p}: is a directory")).into());
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
