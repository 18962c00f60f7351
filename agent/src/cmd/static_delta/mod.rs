//! `static-delta list|show|delete|apply-offline|generate|indexes|reindex|verify`,
//! one verb per file; decisions live in the `uptree-delta` crate.

mod apply_offline;
mod delete;
mod generate;
mod indexes;
mod list;
mod reindex;
mod show;
mod verify;

use ostree_repo::Repo;
use uptree_delta::DeltaName;

use crate::cli::{StaticDeltaCommand, StaticDeltaOpts};
use crate::Result;

pub fn run(repo: Repo, o: &StaticDeltaOpts) -> Result<i32> {
    match &o.command {
        StaticDeltaCommand::List => list::run(&repo),
        StaticDeltaCommand::Show { delta } => show::run(&repo, delta),
        StaticDeltaCommand::Delete { delta } => delete::run(&repo, delta),
        StaticDeltaCommand::ApplyOffline(a) => apply_offline::run(&repo, a),
        StaticDeltaCommand::Generate(g) => generate::run(&repo, g),
        StaticDeltaCommand::Indexes => indexes::run(&repo),
        StaticDeltaCommand::Reindex { to } => reindex::run(&repo, to.as_deref()),
        StaticDeltaCommand::Verify { delta, keys, sign_type, keys_file, keys_dir } => {
            verify::run(&repo, delta, keys, sign_type, keys_file.as_deref(), keys_dir.as_deref())
        }
    }
}

/// A delta named as ostree's CLI names it: `FROM-TO` or `TO` (hex).
fn parse_name(s: &str) -> Result<DeltaName> {
    Ok(DeltaName::parse(s)?)
}
