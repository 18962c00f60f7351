//! Commits that did not come up: recorded when a boot ends on the fallback
//! entry, shown by `status`, and never deployed again automatically
//! (`admin upgrade` refuses them; an explicit `admin deploy` warns).
//!
//! Stored as JSON in the sysroot, `ostree/uptree/failed-commits.json`
//! (ostree ignores the directory), written atomically.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::dfs;
use crate::error::{Error, Result};

/// One failed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub checksum: String,
    pub osname: String,
    pub refspec: Option<String>,
    pub version: Option<String>,
    /// Seconds since the epoch when the fallback boot was noticed.
    pub detected: u64,
    pub reason: String,
    /// How many times it failed.
    pub count: u32,
}

impl Failure {
    pub fn to_json(&self) -> Value {
        json!({
            "checksum": self.checksum,
            "osname": self.osname,
            "refspec": self.refspec,
            "version": self.version,
            "detected": ostree_repo::datetime::format_iso(self.detected),
            "detected-unix": self.detected,
            "reason": self.reason,
            "count": self.count,
        })
    }

    fn from_json(v: &Value) -> Option<Failure> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Failure {
            checksum: s("checksum")?,
            osname: s("osname").unwrap_or_default(),
            refspec: s("refspec"),
            version: s("version"),
            detected: v.get("detected-unix").and_then(Value::as_u64).unwrap_or(0),
            reason: s("reason").unwrap_or_default(),
            // A count beyond u32 (or beyond u64, a float to serde) still
            // means "failed many times": saturate rather than forget it.
            count: match v.get("count") {
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(c) => u32::try_from(c).unwrap_or(u32::MAX).max(1),
                    None if n.as_f64().is_some_and(|f| f > 0.0) => u32::MAX,
                    None => 1,
                },
                _ => 1,
            },
        })
    }
}

pub fn path(sysroot: &Path) -> PathBuf {
    sysroot.join("ostree/uptree/failed-commits.json")
}

/// All recorded failures (an absent file is none).
pub fn load(sysroot: &Path) -> Result<Vec<Failure>> {
    let p = path(sysroot);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(p, e)),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
    Ok(v.get("failed").and_then(Value::as_array).map(|a| a.iter().filter_map(Failure::from_json).collect()).unwrap_or_default())
}

fn save(sysroot: &Path, list: &[Failure]) -> Result<()> {
    let p = path(sysroot);
    if let Some(d) = p.parent() {
        dfs::create_dir_all(d)?;
    }
    let v = json!({ "failed": list.iter().map(Failure::to_json).collect::<Vec<_>>() });
    let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Invalid(e.to_string()))? + "\n";
    dfs::write_atomic(&p, text.as_bytes())
}

/// Record a failure (a repeat bumps the count and the reason).
pub fn record(sysroot: &Path, mut f: Failure) -> Result<()> {
    let mut list = load(sysroot)?;
    match list.iter_mut().find(|x| x.checksum == f.checksum) {
        Some(x) => {
            f.count = x.count.saturating_add(1);
            *x = f;
        }
        None => list.push(f),
    }
    save(sysroot, &list)
}

/// The failure recorded for `checksum`, if any.
pub fn find(sysroot: &Path, checksum: &str) -> Result<Option<Failure>> {
    Ok(load(sysroot)?.into_iter().find(|f| f.checksum == checksum))
}

/// Forget a failure (after an operator deployed the commit explicitly and it came up).
pub fn forget(sysroot: &Path, checksum: &str) -> Result<bool> {
    let mut list = load(sysroot)?;
    let before = list.len();
    list.retain(|f| f.checksum != checksum);
    if list.len() == before {
        return Ok(false);
    }
    save(sysroot, &list)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(path(t.path()).parent().expect("parent")).expect("mkdir");
        let c = |n: &str| format!(r#"{{"checksum":"{n}","count":COUNT}}"#);
        let text = format!(
            r#"{{"failed":[{},{},{},{}]}}"#,
            c("a").replace("COUNT", "4294967295"),
            c("b").replace("COUNT", "99999999999999999999"),
            c("c").replace("COUNT", "18446744073709551615"),
            c("d").replace("COUNT", "-3"),
        );
        std::fs::write(path(t.path()), text).expect("w");
        let counts: Vec<u32> = load(t.path()).expect("loads").iter().map(|f| f.count).collect();
        assert_eq!(counts, [u32::MAX, u32::MAX, u32::MAX, 1]);
        let f = Failure { checksum: "a".into(), osname: "os".into(), refspec: None, version: None, detected: u64::MAX, reason: "r".into(), count: 1 };
        record(t.path(), f).expect("records");
        assert_eq!(find(t.path(), "a").expect("reads").map(|f| f.count), Some(u32::MAX));
    }
}
