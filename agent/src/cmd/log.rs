//! `log`.

use ostree_repo::Repo;

use super::out;
use super::show::{commit_json, format_commit};
use crate::cli::LogOpts;
use crate::Result;

pub fn run(repo: &Repo, o: &LogOpts) -> Result<i32> {
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
