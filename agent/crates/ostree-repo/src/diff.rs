//! `diff`: compare two trees, each a commit's or a directory on disk, the
//! way `ostree_diff_dirs` does. Entries are matched by name; an entry of
//! another type, or with another object checksum (content and metadata;
//! a directory's is its dirmeta), is modified. Directories present on
//! both sides are compared further even when their own metadata differs.
//! Directories on disk are read here (the only I/O), in name order.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use crate::commit::checksum_path_as;
use crate::error::{Error, Result};
use crate::object::{Checksum, ObjectType};
use crate::repo::Repo;

/// One side of a diff.
#[derive(Debug, Clone)]
pub enum Tree {
    /// A committed tree: its dirtree and dirmeta.
    Commit { tree: Checksum, meta: Checksum },
    /// A directory on disk.
    Dir(PathBuf),
}

impl Tree {
    /// ostree's reading of a command-line argument: `/…` and `./…` are
    /// directories, anything else a revision.
    pub fn parse(repo: &Repo, arg: &str) -> Result<Tree> {
        if arg.starts_with('/') || arg.starts_with("./") {
            return Ok(Tree::Dir(PathBuf::from(arg)));
        }
        let c = repo.load_commit(&repo.resolve_rev(arg)?)?;
        Ok(Tree::Commit { tree: c.root_tree, meta: c.root_meta })
    }

    fn is_dir_on_disk(&self) -> bool {
        matches!(self, Tree::Dir(_))
    }
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Leave extended attributes of files on disk out of their checksums.
    pub ignore_xattrs: bool,
    /// Files on disk on the second side count as owned by this user…
    pub owner_uid: Option<u32>,
    /// …and this group.
    pub owner_gid: Option<u32>,
}

/// Paths relative to the compared roots ("a/b"), in ostree's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl Diff {
    /// ostree's text: `M`, then `D` (paths as on side `a`), then `A` (as
    /// on side `b`); a commit's paths start with `/`, a directory's are
    /// relative to it.
    pub fn to_text(&self, a: &Tree, b: &Tree) -> String {
        let path = |t: &Tree, p: &str| if t.is_dir_on_disk() { p.to_string() } else { format!("/{p}") };
        let mut s = String::new();
        for (c, side, list) in [('M', a, &self.modified), ('D', a, &self.removed), ('A', b, &self.added)] {
            for p in list {
                s.push_str(&format!("{c}    {}\n", path(side, p)));
            }
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    Symlink,
    Dir,
    /// A device, FIFO or socket on disk: never equal to anything.
    Other,
}

#[derive(Debug)]
enum Node {
    Object(Checksum),
    Subtree { tree: Checksum, meta: Checksum },
    Path(PathBuf),
}

struct Child {
    name: String,
    kind: Kind,
    node: Node,
}

fn children(repo: &Repo, node: &Node) -> Result<Vec<Child>> {
    match node {
        Node::Subtree { tree, .. } => {
            let dt = repo.load_dirtree(tree)?;
            let mut out = Vec::with_capacity(dt.files.len() + dt.dirs.len());
            for (name, f) in dt.files {
                let (meta, _) = repo.load_file_info(&f)?;
                out.push(Child { name, kind: if meta.is_symlink() { Kind::Symlink } else { Kind::Regular }, node: Node::Object(f) });
            }
            for (name, tree, meta) in dt.dirs {
                out.push(Child { name, kind: Kind::Dir, node: Node::Subtree { tree, meta } });
            }
            Ok(out)
        }
        Node::Path(dir) => {
            let mut out = Vec::new();
            for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
                let e = e.map_err(|e| Error::io(dir, e))?;
                let path = e.path();
                let ft = e.file_type().map_err(|e| Error::io(&path, e))?;
                let kind = if ft.is_dir() {
                    Kind::Dir
                } else if ft.is_symlink() {
                    Kind::Symlink
                } else if ft.is_file() {
                    Kind::Regular
                } else {
                    Kind::Other
                };
                let name = e.file_name().into_string().map_err(|_| Error::Invalid(format!("{}: file name is not UTF-8", path.display())))?;
                out.push(Child { name, kind, node: Node::Path(path) });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        }
        Node::Object(_) => Ok(Vec::new()),
    }
}

/// The object checksum an entry has or would get when committed.
fn checksum(node: &Node, opts: &DiffOptions, second_side: bool) -> Result<Checksum> {
    match node {
        Node::Object(c) => Ok(*c),
        Node::Subtree { meta, .. } => Ok(*meta),
        Node::Path(p) if second_side => checksum_path_as(p, opts.ignore_xattrs, opts.owner_uid, opts.owner_gid),
        Node::Path(p) => checksum_path_as(p, opts.ignore_xattrs, None, None),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn add_all(repo: &Repo, node: &Node, prefix: &str, out: &mut Diff) -> Result<()> {
    for c in children(repo, node)? {
        let p = join(prefix, &c.name);
        out.added.push(p.clone());
        if c.kind == Kind::Dir {
            add_all(repo, &c.node, &p, out)?;
        }
    }
    Ok(())
}

fn diff_dirs(repo: &Repo, a: &Node, b: &Node, prefix: &str, opts: &DiffOptions, out: &mut Diff) -> Result<()> {
    let (ca, cb) = (children(repo, a)?, children(repo, b)?);
    let in_a: HashSet<&str> = ca.iter().map(|c| c.name.as_str()).collect();
    for x in &ca {
        let p = join(prefix, &x.name);
        let Some(y) = cb.iter().find(|y| y.name == x.name) else {
            out.removed.push(p);
            continue;
        };
        if x.kind != y.kind || x.kind == Kind::Other {
            out.modified.push(p);
            continue;
        }
        if checksum(&x.node, opts, false)? != checksum(&y.node, opts, true)? {
            out.modified.push(p.clone());
        }
        if x.kind == Kind::Dir {
            diff_dirs(repo, &x.node, &y.node, &p, opts, out)?;
        }
    }
    for y in cb.iter().filter(|y| !in_a.contains(y.name.as_str())) {
        let p = join(prefix, &y.name);
        out.added.push(p.clone());
        if y.kind == Kind::Dir {
            add_all(repo, &y.node, &p, out)?;
        }
    }
    Ok(())
}

fn root(t: &Tree) -> Node {
    match t {
        Tree::Commit { tree, meta } => Node::Subtree { tree: *tree, meta: *meta },
        Tree::Dir(p) => Node::Path(p.clone()),
    }
}

/// Compare `a` (the old side) with `b`.
pub fn diff(repo: &Repo, a: &Tree, b: &Tree, opts: &DiffOptions) -> Result<Diff> {
    let mut out = Diff::default();
    diff_dirs(repo, &root(a), &root(b), "", opts, &mut out)?;
    Ok(out)
}

/// `diff --stats`: objects of each commit, and the ones they share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub a_objects: usize,
    pub b_objects: usize,
    pub common_objects: usize,
    /// Bytes the shared objects take in the repository.
    pub common_size: u64,
}

/// The objects of a commit that are present (its closure, depth 0).
fn closure(repo: &Repo, commit: &Checksum) -> Result<HashSet<(Checksum, ObjectType)>> {
    let mut keep = HashSet::new();
    crate::prune::mark_commit(repo, commit, &mut keep)?;
    keep.retain(|(c, t)| repo.has_object(c, *t));
    Ok(keep)
}

pub fn stats(repo: &Repo, a: &Checksum, b: &Checksum) -> Result<Stats> {
    let (ra, rb) = (closure(repo, a)?, closure(repo, b)?);
    let mut st = Stats { a_objects: ra.len(), b_objects: rb.len(), ..Stats::default() };
    for (c, t) in ra.intersection(&rb) {
        st.common_objects += 1;
        let p = repo.object_path(c, *t);
        st.common_size += fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?.len();
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::{commit, CommitSpec, Layer, TreeOptions};
    use crate::repo::RepoMode;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;

    fn write(root: &Path, rel: &str, data: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, data).expect("write");
    }

    fn commit_dir(repo: &Repo, dir: &Path) -> Tree {
        let spec = CommitSpec { branch: Some("t".into()), timestamp: Some(0), ..CommitSpec::default() };
        let c = commit(repo, &spec, &[Layer::Dir(dir.to_path_buf())], TreeOptions::default()).expect("commit").checksum;
        let c = repo.load_commit(&c).expect("load");
        Tree::Commit { tree: c.root_tree, meta: c.root_meta }
    }

    /// Modified, removed and added entries in ostree's order; an added
    /// directory lists its contents too; a type change is one "M" and is
    /// not descended into; a tree equals its own checkout.
    #[test]
    fn commit_to_commit_and_to_disk() {
        let t = tempfile::tempdir().expect("tmp");
        let repo = Repo::init(&t.path().join("repo"), RepoMode::Archive).expect("init");
        let d = t.path().join("d");
        write(&d, "a/keep", "same");
        write(&d, "a/5", "five");
        write(&d, "b", "old");
        write(&d, "four", "file");
        let a = commit_dir(&repo, &d);
        fs::remove_file(d.join("a/5")).expect("rm");
        write(&d, "b", "new");
        write(&d, "yet/another/green", "g");
        fs::remove_file(d.join("four")).expect("rm");
        write(&d, "four/other", "");
        symlink("b", d.join("ln")).expect("symlink");
        let b = commit_dir(&repo, &d);
        let o = DiffOptions::default();
        let got = diff(&repo, &a, &b, &o).expect("diff");
        assert_eq!(got.modified, ["b", "four"]);
        assert_eq!(got.removed, ["a/5"]);
        assert_eq!(got.added, ["ln", "yet", "yet/another", "yet/another/green"]);
        assert_eq!(got.to_text(&a, &b).lines().next(), Some("M    /b"));
        assert_eq!(diff(&repo, &b, &Tree::Dir(d.clone()), &o).expect("diff"), Diff::default());

        // Metadata counts: a mode change is a modification, and so is the
        // owner the second side is read as.
        fs::set_permissions(d.join("b"), fs::Permissions::from_mode(0o600)).expect("chmod");
        let disk = Tree::Dir(d.clone());
        assert_eq!(diff(&repo, &b, &disk, &o).expect("diff").modified, ["b"]);
        let other = DiffOptions { owner_uid: Some(nix::unistd::geteuid().as_raw() + 1), ..DiffOptions::default() };
        let all = diff(&repo, &b, &disk, &other).expect("diff");
        assert!(all.modified.contains(&"yet/another".to_string()) && all.modified.contains(&"a/keep".to_string()), "{all:?}");
        fs::write(d.join("new"), "x").expect("write");
        assert_eq!(diff(&repo, &b, &disk, &o).expect("diff").to_text(&b, &disk), "M    /b\nA    new\n");
    }
}
