//! The `/etc` three-way merge, with ostree's semantics (ostree-format.md
//! §7.8): diff the merge deployment's `usr/etc` (its defaults) against its
//! `etc` (what the admin made of them), ignoring xattrs; delete what was
//! removed locally from the new `etc`; copy what was modified or added
//! locally over it. Local changes always win; there is no content merge.
//!
//! On top of ostree, the merge reports what happened per path: `kept`
//! (local modification carried over), `added` (local file carried over),
//! `removed` (locally deleted, deleted again), and `updated` (a default
//! that changed upstream and was not touched locally, so the new one is in
//! effect).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{At, Error, Result};

/// What the merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub kept: Vec<String>,
    pub updated: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Do two paths hold the same thing (type, content, mode, owner)?
fn same_entry(a: &Path, b: &Path) -> Result<bool> {
    let (ma, mb) = (fs::symlink_metadata(a).at(a)?, fs::symlink_metadata(b).at(b)?);
    if ma.file_type() != mb.file_type() {
        return Ok(false);
    }
    if ma.file_type().is_symlink() {
        return Ok(fs::read_link(a).at(a)? == fs::read_link(b).at(b)?);
    }
    if ma.mode() != mb.mode() || ma.uid() != mb.uid() || ma.gid() != mb.gid() {
        return Ok(false);
    }
    if ma.is_file() {
        if ma.len() != mb.len() {
            return Ok(false);
        }
        if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
            return Ok(true);
        }
        return same_content(a, b);
    }
    Ok(true)
}

/// Compare two files of equal length chunk by chunk: the new /etc comes
/// from a commit, and a file the size of memory must not be read whole.
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (fs::File::open(a).at(a)?, fs::File::open(b).at(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba).at(a)?;
        if n == 0 {
            // Equal lengths were checked: b must end here too.
            return Ok(fb.read(&mut bb[..1]).at(b)? == 0);
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn names(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(dir, e)),
    };
    v.sort();
    Ok(v)
}

fn is_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// ostree_diff_dirs(orig, modified): (modified, removed, added) relative paths.
pub fn diff(orig: &Path, modified: &Path) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let (mut m, mut r, mut a) = (Vec::new(), Vec::new(), Vec::new());
    diff_rec(orig, modified, "", &mut m, &mut r, &mut a)?;
    Ok((m, r, a))
}

fn diff_rec(orig: &Path, modified: &Path, rel: &str, m: &mut Vec<String>, r: &mut Vec<String>, a: &mut Vec<String>) -> Result<()> {
    let join = |n: &str| if rel.is_empty() { n.to_string() } else { format!("{rel}/{n}") };
    let on = names(&orig.join(rel))?;
    let mn = names(&modified.join(rel))?;
    for n in &on {
        let p = join(n);
        let (op, mp) = (orig.join(&p), modified.join(&p));
        if fs::symlink_metadata(&mp).is_err() {
            r.push(p);
        } else if is_dir(&op) && is_dir(&mp) {
            diff_rec(orig, modified, &p, m, r, a)?;
        } else if !same_entry(&op, &mp)? {
            m.push(p);
        }
    }
    for n in mn.iter().filter(|n| !on.contains(n)) {
        a.push(join(n));
    }
    Ok(())
}

fn copy_attrs(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).at(src)?;
    nix::unistd::fchownat(nix::fcntl::AT_FDCWD, dst, Some(m.uid().into()), Some(m.gid().into()), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).at(dst)?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777)).at(dst)?;
        for name in uptree_sys::xattr::list(uptree_sys::xattr::Target::Path(src)).at(src)? {
            if let Some(v) = uptree_sys::xattr::get(uptree_sys::xattr::Target::Path(src), &name).at(src)? {
                uptree_sys::xattr::set(uptree_sys::xattr::Target::Path(dst), &name, &v).at(dst)?;
            }
        }
    }
    Ok(())
}

/// Copy a file, symlink or directory tree, never following symlinks.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src).at(src)?;
    if m.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).at(src)?, dst).at(dst)?;
    } else if m.is_dir() {
        fs::create_dir(dst).at(dst)?;
        for n in names(src)? {
            copy_tree(&src.join(&n), &dst.join(&n))?;
        }
    } else if m.is_file() {
        fs::copy(src, dst).at(dst)?;
    } else {
        log::info!("ignoring non-regular/non-symlink file during /etc merge: {}", src.display());
        return Ok(());
    }
    copy_attrs(src, dst)
}

fn ensure_parent(modified: &Path, new: &Path, rel: &str) -> Result<()> {
    let Some((parent, _)) = rel.rsplit_once('/') else { return Ok(()) };
    let dst = new.join(parent);
    match fs::symlink_metadata(&dst) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Conflict(format!("/etc merge: {parent} is not a directory in the new /etc"))),
        Err(_) => {
            ensure_parent(modified, new, parent)?;
            fs::create_dir(&dst).at(&dst)?;
            copy_attrs(&modified.join(parent), &dst)
        }
    }
}

/// The first directory component of `rel` (its last component excluded)
/// that is a symlink in `base`. The new /etc comes from the commit: going
/// through such a link would write or delete outside it (an absolute link
/// resolves against the host's `/`). ostree follows it; uptree refuses.
fn linked_component(base: &Path, rel: &str) -> Result<Option<String>> {
    let Some((parent, _)) = rel.rsplit_once('/') else { return Ok(None) };
    let mut prefix = String::new();
    for c in parent.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(c);
        let p = base.join(&prefix);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return Ok(Some(prefix)),
            Ok(m) if m.is_dir() => {}
            // Not a directory (ensure_parent reports it), or absent (created).
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(None)
}

fn copy_modified(modified: &Path, new: &Path, rel: &str) -> Result<bool> {
    if let Some(link) = linked_component(new, rel)? {
        return Err(Error::Conflict(format!("/etc merge: {link} is a symbolic link in the new /etc, cannot carry the local change to {rel} through it")));
    }
    ensure_parent(modified, new, rel)?;
    let (src, dst) = (modified.join(rel), new.join(rel));
    if let Ok(nm) = fs::symlink_metadata(&dst) {
        if nm.is_dir() {
            if !is_dir(&src) {
                return Err(Error::Conflict(format!("Modified config file newly defaults to directory '{rel}', cannot merge")));
            }
            return Ok(false);
        }
        fs::remove_file(&dst).at(&dst)?;
    }
    copy_tree(&src, &dst)?;
    Ok(true)
}

/// Merge: `old_defaults` = merge deployment's `usr/etc`, `old_etc` = its
/// `etc`, `new_defaults` = the new deployment's `usr/etc`, `new_etc` = the
/// new deployment's `etc` (a fresh copy of `new_defaults`), changed in place.
pub fn merge(old_defaults: &Path, old_etc: &Path, new_defaults: &Path, new_etc: &Path) -> Result<MergeReport> {
    let (modified, removed, added) = diff(old_defaults, old_etc)?;
    log::info!("Copying /etc changes: {} modified, {} removed, {} added", modified.len(), removed.len(), added.len());
    let mut report = MergeReport::default();
    for r in &removed {
        let p = new_etc.join(r);
        if let Some(link) = linked_component(new_etc, r)? {
            // Not in the new /etc proper: nothing of it to delete there.
            log::info!("/etc merge: {link} is a symbolic link in the new /etc; locally removed {r} not removed through it");
        } else if fs::symlink_metadata(&p).is_ok() {
            if is_dir(&p) {
                fs::remove_dir_all(&p).at(&p)?;
            } else {
                fs::remove_file(&p).at(&p)?;
            }
        }
        report.removed.push(r.clone());
    }
    for m in &modified {
        copy_modified(old_etc, new_etc, m)?;
        report.kept.push(m.clone());
    }
    for a in &added {
        copy_modified(old_etc, new_etc, a)?;
        report.added.push(a.clone());
    }
    // Defaults that changed upstream and were left alone locally.
    let (up_changed, up_removed, up_added) = diff(old_defaults, new_defaults)?;
    let local: std::collections::HashSet<&String> = modified.iter().chain(&removed).chain(&added).collect();
    let touched_locally = |p: &String| local.iter().any(|l| p == *l || p.starts_with(&format!("{l}/")));
    report.updated = up_changed.into_iter().chain(up_removed).chain(up_added).filter(|p| !touched_locally(p)).collect();
    report.updated.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &Path, s: &str) {
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(p, s).expect("write");
    }

    #[test]
    fn never_writes_or_deletes_through_a_linked_directory_of_the_new_etc() {
        let t = tempfile::tempdir().expect("tmp");
        let (od, oe, nd, ne, out) = (t.path().join("od"), t.path().join("oe"), t.path().join("nd"), t.path().join("ne"), t.path().join("outside"));
        for d in [&od, &oe] {
            w(&d.join("sub/keep.conf"), "k\n");
            w(&d.join("sub/gone.conf"), "g\n");
        }
        w(&oe.join("sub/keep.conf"), "LOCAL\n");
        fs::remove_file(oe.join("sub/gone.conf")).expect("rm");
        w(&out.join("keep.conf"), "outside\n");
        w(&out.join("gone.conf"), "outside\n");
        for d in [&nd, &ne] {
            fs::create_dir_all(d).expect("mkdir");
            std::os::unix::fs::symlink(&out, d.join("sub")).expect("ln");
        }
        let err = merge(&od, &oe, &nd, &ne).expect_err("refused");
        assert!(matches!(&err, Error::Conflict(m) if m.contains("sub is a symbolic link")), "{err}");
        assert_eq!(fs::read_to_string(out.join("keep.conf")).expect("r"), "outside\n");
        assert_eq!(fs::read_to_string(out.join("gone.conf")).expect("r"), "outside\n");
        // Only a removal: skipped, nothing outside deleted.
        w(&oe.join("sub/keep.conf"), "k\n");
        let r = merge(&od, &oe, &nd, &ne).expect("merges");
        assert_eq!(r.removed, vec!["sub/gone.conf"]);
        assert!(out.join("gone.conf").exists());
    }

    #[test]
    fn same_content_compares_in_chunks() {
        let t = tempfile::tempdir().expect("tmp");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::write(&a, &big).expect("w");
        fs::write(&b, &big).expect("w");
        assert!(same_content(&a, &b).expect("cmp"));
        let mut other = big.clone();
        other[150_000] ^= 1;
        fs::write(&b, &other).expect("w");
        assert!(!same_content(&a, &b).expect("cmp"));
        fs::write(&b, &big[..100]).expect("w");
        assert!(!same_content(&a, &b).expect("cmp"));
    }

    #[test]
    fn ostree_semantics_and_report() {
        // The case of ostree-format.md §7.8.
        let t = tempfile::tempdir().expect("tmp");
        let (od, oe, nd, ne) = (t.path().join("od"), t.path().join("oe"), t.path().join("nd"), t.path().join("ne"));
        for d in [&od, &oe] {
            w(&d.join("app.conf"), "a=default\n");
            w(&d.join("hostname"), "board1\n");
            w(&d.join("gone.conf"), "x\n");
            w(&d.join("sub/deep.conf"), "d\n");
        }
        w(&oe.join("app.conf"), "a=LOCAL\n");
        w(&oe.join("local.conf"), "mine\n");
        w(&oe.join("newdir/inner.conf"), "mine too\n");
        fs::remove_file(oe.join("gone.conf")).expect("rm");
        for d in [&nd, &ne] {
            w(&d.join("app.conf"), "a=default2\n");
            w(&d.join("hostname"), "board2\n");
            w(&d.join("gone.conf"), "x\n");
            w(&d.join("new.conf"), "upstream\n");
            w(&d.join("sub/deep.conf"), "d\n");
        }
        let r = merge(&od, &oe, &nd, &ne).expect("merge");
        assert_eq!(fs::read_to_string(ne.join("app.conf")).expect("r"), "a=LOCAL\n", "local change wins");
        assert_eq!(fs::read_to_string(ne.join("hostname")).expect("r"), "board2\n", "untouched default updated");
        assert_eq!(fs::read_to_string(ne.join("local.conf")).expect("r"), "mine\n");
        assert_eq!(fs::read_to_string(ne.join("newdir/inner.conf")).expect("r"), "mine too\n");
        assert!(ne.join("new.conf").exists() && !ne.join("gone.conf").exists());
        assert_eq!(r.kept, vec!["app.conf"]);
        assert_eq!(r.added, vec!["local.conf", "newdir"]);
        assert_eq!(r.removed, vec!["gone.conf"]);
        assert_eq!(r.updated, vec!["hostname", "new.conf"]);
    }
}
