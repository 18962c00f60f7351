//! `admin instutil set-kargs`: the first deployment's kernel arguments,
//! built as ostree builds them: a base (`--import-proc-cmdline`, else
//! `--merge` with the current ones, else nothing), then `--replace`,
//! `--append`, then the arguments given.

use std::path::Path;

use uptree_deploy::kargs::Kargs;
use uptree_deploy::ops;
use uptree_deploy::sysroot::Sysroot;

use crate::cli::{InstutilCommand, InstutilOpts, SetKargsOpts};
use crate::Result;

pub fn run(root: &Path, o: &InstutilOpts) -> Result<i32> {
    match &o.command {
        InstutilCommand::SetKargs(k) => set_kargs(root, k),
    }
}

fn set_kargs(root: &Path, o: &SetKargsOpts) -> Result<i32> {
    let mut s = Sysroot::lock(root)?.load()?;
    let first = s.deployments.first().ok_or("Unable to find a deployment in sysroot")?;
    let mut k = if o.import_proc_cmdline {
        Kargs::parse(&super::proc_cmdline()?)
    } else if o.merge {
        Kargs::parse(first.bootconfig.get("options").unwrap_or(""))
    } else {
        Kargs::default()
    };
    for a in &o.replace {
        k.replace(a);
    }
    for a in o.append.iter().chain(&o.args) {
        k.append(a);
    }
    ops::set_kargs(&mut s, &[(0, k)])?;
    Ok(0)
}
