//! `diff`: compare two trees, each a commit or a local directory, as
//! ostree_diff_dirs does: entries of the same type whose object checksums
//! differ are modified (a directory by its dirmeta), and an added directory
//! lists everything under it while a removed one is listed alone.

use std::fs;
use std::path::PathBuf;

use crate::commit::checksum_path_owned;
use crate::error::{Error, IoContext, Result};
use crate::object::Checksum;
use crate::repo::Repo;
use crate::tree::{self, Entry};

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    Commit(Checksum),
    Dir(PathBuf),
}

/// Paths as ostree prints them: a commit's from its root (`/usr/bin`), a
/// directory's relative to it (`usr/bin`). Modified and removed paths name
/// the first tree's entry, added ones the second's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Regular,
    Symlink,
    Other,
}

#[derive(Debug)]
enum Node {
    Repo { shown: String, entry: Entry },
    Local { path: PathBuf, shown: String },
}

#[derive(Debug)]
struct Child {
    name: String,
    kind: Kind,
    node: Node,
}

/// How local directories are read (`--no-xattrs`, `--owner-uid`, `--owner-gid`);
/// a commit's entries are compared as recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    pub ignore_xattrs: bool,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
}

/// Compare `a` against `b`.
pub fn diff(repo: &Repo, a: &Tree, b: &Tree, opts: DiffOptions) -> Result<Diff> {
    let root = |t: &Tree| -> Result<Node> {
        Ok(match t {
            Tree::Commit(c) => Node::Repo { shown: "/".into(), entry: tree::lookup(repo, c, "/")? },
            Tree::Dir(p) => Node::Local { path: p.clone(), shown: String::new() },
        })
    };
    let mut out = Diff::default();
    let cx = Cx { repo, opts };
    cx.diff_dirs(&root(a)?, &root(b)?, &mut out)?;
    Ok(out)
}

struct Cx<'r> {
    repo: &'r Repo,
    opts: DiffOptions,
}

impl Cx<'_> {
    fn diff_dirs(&self, a: &Node, b: &Node, out: &mut Diff) -> Result<()> {
        let (ac, bc) = (self.children(a)?, self.children(b)?);
        for ca in &ac {
            let Some(cb) = bc.iter().find(|c| c.name == ca.name) else {
                out.removed.push(ca.node.shown().to_string());
                continue;
            };
            if ca.kind != cb.kind {
                out.modified.push(ca.node.shown().to_string());
                continue;
            }
            if self.checksum(&ca.node)? != self.checksum(&cb.node)? {
                out.modified.push(ca.node.shown().to_string());
            }
            if ca.kind == Kind::Dir {
                self.diff_dirs(&ca.node, &cb.node, out)?;
            }
        }
        for cb in bc.iter().filter(|cb| !ac.iter().any(|ca| ca.name == cb.name)) {
            self.add_recursive(cb, out)?;
        }
        Ok(())
    }

    fn add_recursive(&self, c: &Child, out: &mut Diff) -> Result<()> {
        out.added.push(c.node.shown().to_string());
        if c.kind == Kind::Dir {
            for cc in self.children(&c.node)? {
                self.add_recursive(&cc, out)?;
            }
        }
        Ok(())
    }

    fn checksum(&self, n: &Node) -> Result<Checksum> {
        match n {
            Node::Repo { entry: Entry::File(c), .. } => Ok(*c),
            Node::Repo { entry: Entry::Dir { meta, .. }, .. } => Ok(*meta),
            Node::Local { path, .. } => checksum_path_owned(path, self.opts.ignore_xattrs, self.opts.owner_uid, self.opts.owner_gid),
        }
    }

    /// A directory's entries in the order ostree walks a commit (files,
    /// then directories, each by name); a local directory's by name.
    fn children(&self, n: &Node) -> Result<Vec<Child>> {
        match n {
            Node::Repo { shown, entry: Entry::Dir { tree, .. } } => {
                let dt = self.repo.load_dirtree(tree)?;
                let mut v = Vec::with_capacity(dt.files.len() + dt.dirs.len());
                for (name, c) in &dt.files {
                    let (meta, _) = self.repo.load_file_info(c)?;
                    let kind = if meta.is_symlink() { Kind::Symlink } else { Kind::Regular };
                    v.push(Child { name: name.clone(), kind, node: Node::Repo { shown: join(shown, name), entry: Entry::File(*c) } });
                }
                for (name, t, m) in &dt.dirs {
                    v.push(Child {
                        name: name.clone(),
                        kind: Kind::Dir,
                        node: Node::Repo { shown: join(shown, name), entry: Entry::Dir { tree: *t, meta: *m } },
                    });
                }
                Ok(v)
            }
            Node::Repo { .. } => Ok(Vec::new()),
            Node::Local { path, shown } => {
                let mut v = Vec::new();
                for e in fs::read_dir(path).at(path)? {
                    let e = e.at(path)?;
                    let name = e.file_name().into_string().map_err(|n| Error::Invalid(format!("{}: file name {n:?} is not UTF-8", path.display())))?;
                    let ft = e.file_type().at(&e.path())?;
                    let kind = if ft.is_dir() {
                        Kind::Dir
                    } else if ft.is_symlink() {
                        Kind::Symlink
                    } else if ft.is_file() {
                        Kind::Regular
                    } else {
                        Kind::Other
                    };
                    let shown = if shown.is_empty() { name.clone() } else { format!("{shown}/{name}") };
                    v.push(Child { name, kind, node: Node::Local { path: e.path(), shown } });
                }
                v.sort_by(|x, y| x.name.cmp(&y.name));
                Ok(v)
            }
        }
    }
}

impl Node {
    fn shown(&self) -> &str {
        match self {
            Node::Repo { shown, .. } | Node::Local { shown, .. } => shown,
        }
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}
