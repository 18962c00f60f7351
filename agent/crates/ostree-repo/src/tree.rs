//! Reading committed trees: path lookup and recursive listing (`ls`, `cat`).

use crate::error::{Error, Result};
use crate::object::{Checksum, DirMeta, FileMeta};
use crate::repo::Repo;

/// An entry of a committed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { tree: Checksum, meta: Checksum },
    File(Checksum),
}

/// Find `path` (absolute or relative to the root) in a commit.
pub fn lookup(repo: &Repo, commit: &Checksum, path: &str) -> Result<Entry> {
    let c = repo.load_commit(commit)?;
    let mut cur = Entry::Dir { tree: c.root_tree, meta: c.root_meta };
    for comp in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        let Entry::Dir { tree, .. } = cur else { return Err(Error::Invalid(format!("Inspecting path '{path}': Not a directory"))) };
        let dt = repo.load_dirtree(&tree)?;
        cur = if let Some((_, f)) = dt.files.iter().find(|(n, _)| n == comp) {
            Entry::File(*f)
        } else if let Some((_, t, m)) = dt.dirs.iter().find(|(n, _, _)| n == comp) {
            Entry::Dir { tree: *t, meta: *m }
        } else {
            return Err(Error::Invalid(format!("No such file or directory: {path}")));
        };
    }
    Ok(cur)
}

/// Like [`lookup`], but a symlink is followed inside the commit (relative
/// to its directory, or from the root when absolute), as `ostree cat`
/// reads a file; at most 40 links, as the kernel allows.
pub fn lookup_follow(repo: &Repo, commit: &Checksum, path: &str) -> Result<Entry> {
    let mut path = path.to_string();
    for _ in 0..40 {
        let entry = lookup(repo, commit, &path)?;
        let Entry::File(f) = entry else { return Ok(entry) };
        let (meta, _) = repo.load_file_info(&f)?;
        if !meta.is_symlink() {
            return Ok(entry);
        }
        let base = if meta.symlink_target.starts_with('/') { String::new() } else { path.rsplit_once('/').map_or(String::new(), |(d, _)| d.to_string()) };
        let mut parts: Vec<&str> = Vec::new();
        for comp in base.split('/').chain(meta.symlink_target.split('/')) {
            match comp {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        path = format!("/{}", parts.join("/"));
    }
    Err(Error::Invalid(format!("{path}: Too many levels of symbolic links")))
}

/// One line of a listing.
#[derive(Debug, Clone)]
pub enum Listed {
    Dir { path: String, meta: DirMeta, tree: Checksum, meta_csum: Checksum },
    File { path: String, meta: FileMeta, size: u64, csum: Checksum },
}

/// List `entry` (itself first for directories), in ostree's order: a
/// directory's files, then its subdirectories (each recursed if `recursive`).
pub fn list(repo: &Repo, path: &str, entry: &Entry, recursive: bool, out: &mut dyn FnMut(Listed) -> Result<()>) -> Result<()> {
    match entry {
        Entry::File(c) => {
            let (meta, size) = repo.load_file_info(c)?;
            out(Listed::File { path: path.to_string(), meta, size, csum: *c })
        }
        Entry::Dir { tree, meta } => {
            out(Listed::Dir { path: path.to_string(), meta: repo.load_dirmeta(meta)?, tree: *tree, meta_csum: *meta })?;
            list_children(repo, path, tree, recursive, out)
        }
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn list_children(repo: &Repo, path: &str, tree: &Checksum, recursive: bool, out: &mut dyn FnMut(Listed) -> Result<()>) -> Result<()> {
    let dt = repo.load_dirtree(tree)?;
    for (name, c) in &dt.files {
        let (meta, size) = repo.load_file_info(c)?;
        out(Listed::File { path: child_path(path, name), meta, size, csum: *c })?;
    }
    for (name, t, m) in &dt.dirs {
        let p = child_path(path, name);
        out(Listed::Dir { path: p.clone(), meta: repo.load_dirmeta(m)?, tree: *t, meta_csum: *m })?;
        if recursive {
            list_children(repo, &p, t, true, out)?;
        }
    }
    Ok(())
}
