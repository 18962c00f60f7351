//! `ls`.

use ostree_repo::gvariant::{self, Value};
use ostree_repo::object::{S_IFDIR, S_IFLNK, S_IFMT};
use ostree_repo::tree::{self, Listed};
use ostree_repo::Repo;

use super::out;
use crate::cli::LsOpts;
use crate::Result;

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

pub fn run(repo: &Repo, o: &LsOpts) -> Result<i32> {
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
