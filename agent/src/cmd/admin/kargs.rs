//! `admin kargs edit-in-place`: add arguments to every deployment's
//! kernel command line unless one of that name is there.

use std::path::Path;

use uptree_deploy::kargs::Kargs;
use uptree_deploy::ops;
use uptree_deploy::sysroot::Sysroot;

use crate::cli::{AdminKargsCommand, AdminKargsOpts, EditInPlaceOpts};
use crate::Result;

pub fn run(root: &Path, o: &AdminKargsOpts) -> Result<i32> {
    match &o.command {
        AdminKargsCommand::EditInPlace(e) => edit_in_place(root, e),
    }
}

fn edit_in_place(root: &Path, o: &EditInPlaceOpts) -> Result<i32> {
    let mut s = Sysroot::lock(root)?.load()?;
    if s.deployments.is_empty() {
        return Err("Unable to find a deployment in sysroot".into());
    }
    let mut changes = Vec::new();
    for (i, d) in s.deployments.iter().enumerate() {
        let old = d.bootconfig.get("options").unwrap_or("");
        let mut k = Kargs::parse(old);
        for a in &o.append_if_missing {
            k.append_if_missing(a);
        }
        if k.to_string() != old {
            changes.push((i, k));
        }
    }
    if !changes.is_empty() {
        ops::set_kargs(&mut s, &changes)?;
    }
    Ok(0)
}
