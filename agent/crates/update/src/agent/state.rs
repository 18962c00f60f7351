//! The agent's state file, `SYSROOT/ostree/uptree/agent-state.json`
//! (beside the failed-commit records): what `admin status --json` shows
//! under `"agent"`. Its schema is versioned (`schema-version`) and shipped
//! as agent/dist/status.schema.json.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};

pub const SCHEMA_VERSION: u64 = 1;

/// Download counters of the last pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub metadata: u64,
    pub content: u64,
    pub bytes: u64,
    pub bytes_resumed: u64,
}

/// A deployment the agent made that has not booted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub checksum: String,
    pub deployserial: u32,
    pub version: Option<String>,
}

/// The last `usb-update`: what the stick was and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbResult {
    pub time: u64,
    pub source: String,
    /// `up-to-date`, `deployed`, `refused`.
    pub result: String,
    pub error: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Start of the last round (seconds since 1970, UTC).
    pub last_check: Option<u64>,
    /// `up-to-date`, `deployed`, `skipped`, `failed`.
    pub result: Option<String>,
    pub error: Option<String>,
    pub next_check: Option<u64>,
    /// The origin refspec checked and the commit it names there.
    pub refspec: Option<String>,
    pub available: Option<String>,
    pub progress: Option<Progress>,
    pub pending: Option<Pending>,
    pub consecutive_failures: u32,
    pub usb: Option<UsbResult>,
}

pub fn path(sysroot: &Path) -> PathBuf {
    sysroot.join("ostree/uptree/agent-state.json")
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl State {
    pub fn to_json(&self) -> Value {
        json!({
            "schema-version": SCHEMA_VERSION,
            "last-check": self.last_check,
            "result": self.result,
            "error": self.error,
            "next-check": self.next_check,
            "refspec": self.refspec,
            "available": self.available,
            "progress": self.progress.as_ref().map(|p| json!({
                "metadata": p.metadata, "content": p.content, "bytes": p.bytes, "bytes-resumed": p.bytes_resumed,
            })),
            "pending": self.pending.as_ref().map(|p| json!({
                "checksum": p.checksum, "deployserial": p.deployserial, "version": p.version,
            })),
            "consecutive-failures": self.consecutive_failures,
            "usb": self.usb.as_ref().map(|x| json!({
                "time": x.time, "source": x.source, "result": x.result, "error": x.error, "commit": x.commit,
            })),
        })
    }

    /// From the file's JSON; a file of another schema version is an error
    /// (never silently misread).
    pub fn from_json(v: &Value) -> Result<State> {
        if u(v, "schema-version") != Some(SCHEMA_VERSION) {
            return Err(Error::Config(format!("agent state: schema-version {:?}, this uptree reads {SCHEMA_VERSION}", v.get("schema-version"))));
        }
        let progress = v.get("progress").filter(|p| p.is_object()).map(|p| Progress {
            metadata: u(p, "metadata").unwrap_or(0),
            content: u(p, "content").unwrap_or(0),
            bytes: u(p, "bytes").unwrap_or(0),
            bytes_resumed: u(p, "bytes-resumed").unwrap_or(0),
        });
        let pending = v
            .get("pending")
            .filter(|p| p.is_object())
            .and_then(|p| Some(Pending { checksum: s(p, "checksum")?, deployserial: u32::try_from(u(p, "deployserial")?).ok()?, version: s(p, "version") }));
        let usb = v.get("usb").filter(|p| p.is_object()).and_then(|p| {
            Some(UsbResult { time: u(p, "time")?, source: s(p, "source")?, result: s(p, "result")?, error: s(p, "error"), commit: s(p, "commit") })
        });
        Ok(State {
            usb,
            last_check: u(v, "last-check"),
            result: s(v, "result"),
            error: s(v, "error"),
            next_check: u(v, "next-check"),
            refspec: s(v, "refspec"),
            available: s(v, "available"),
            progress,
            pending,
            consecutive_failures: u(v, "consecutive-failures").and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        })
    }

    /// The state saved for `sysroot`; `None` if the agent never ran there.
    pub fn load(sysroot: &Path) -> Result<Option<State>> {
        let p = path(sysroot);
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(p, e)),
        };
        let v: Value = serde_json::from_slice(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
        State::from_json(&v).map(Some).map_err(|e| e.context(p.display().to_string()))
    }

    /// Atomically (temp file, fsync, rename, fsync the directory).
    /// Once the board runs the pending deployment it is no longer pending
    /// (else the agent would keep rebooting "into" it). `booted` is the
    /// booted deployment's checksum. True if something changed.
    pub fn settle_pending(&mut self, booted: Option<&str>) -> bool {
        let booted_now = matches!((&self.pending, booted), (Some(p), Some(b)) if p.checksum == b);
        if booted_now {
            self.pending = None;
        }
        booted_now
    }

    /// Before a round saves its state: `usb-update` may have written the
    /// file since the round loaded it. Its record wins, and what a stick
    /// deployed after the round started is what is pending now.
    pub fn merge_usb_update(&mut self, on_disk: &State, round_started: u64) {
        self.usb = on_disk.usb.clone();
        let stick_deployed_since = on_disk.usb.as_ref().is_some_and(|u| u.result == "deployed" && u.time >= round_started);
        if stick_deployed_since && on_disk.pending.is_some() {
            self.pending = on_disk.pending.clone();
        }
    }

    pub fn save(&self, sysroot: &Path) -> Result<()> {
        let p = path(sysroot);
        if let Some(dir) = p.parent() {
            ostree_repo::fsutil::create_dir_all_durable(dir, true)?;
        }
        let mut text = serde_json::to_vec_pretty(&self.to_json()).map_err(|e| Error::Config(e.to_string()))?;
        text.push(b'\n');
        ostree_repo::fsutil::atomic_write(&p, &text, 0o644, true)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(c: &str) -> Option<Pending> {
        Some(Pending { checksum: c.repeat(32), deployserial: 1, version: None })
    }

    #[test]
    fn pending_is_cleared_once_booted_only() {
        let mut st = State { pending: pending("ab"), ..State::default() };
        assert!(!st.settle_pending(None), "not booted into a deployment: kept");
        assert!(!st.settle_pending(Some(&"cd".repeat(32))), "still running the old one: kept");
        assert_eq!(st.pending, pending("ab"));
        assert!(st.settle_pending(Some(&"ab".repeat(32))));
        assert_eq!(st.pending, None);
    }

    #[test]
    fn a_stick_deployed_during_a_round_is_not_lost_when_the_round_saves() {
        let usb = |time: u64, result: &str| Some(UsbResult { time, source: "/dev/sda".into(), result: result.into(), error: None, commit: None });
        let on_disk = State { pending: pending("cd"), usb: usb(100, "deployed"), ..State::default() };
        let mut round = State { result: Some("up-to-date".into()), ..State::default() };
        round.merge_usb_update(&on_disk, 90);
        assert_eq!((round.pending.clone(), round.usb.clone()), (pending("cd"), on_disk.usb.clone()));
        // A stick deployed before the round started: the round's own view of pending wins.
        let mut round = State { pending: None, ..State::default() };
        round.merge_usb_update(&on_disk, 101);
        assert_eq!(round.pending, None);
        let refused = State { pending: pending("cd"), usb: usb(100, "refused"), ..State::default() };
        let mut round = State { pending: pending("ab"), ..State::default() };
        round.merge_usb_update(&refused, 90);
        assert_eq!((round.pending, round.usb), (pending("ab"), refused.usb));
    }

    #[test]
    fn round_trips_and_refuses_another_schema_version() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(State::load(dir.path()).expect("load"), None);
        let st = State {
            last_check: Some(1_700_000_000),
            result: Some("deployed".into()),
            error: None,
            next_check: Some(1_700_003_600),
            refspec: Some("origin:os/stable".into()),
            available: Some("ab".repeat(32)),
            progress: Some(Progress { metadata: 3, content: 9, bytes: 1000, bytes_resumed: 10 }),
            pending: Some(Pending { checksum: "ab".repeat(32), deployserial: 0, version: Some("2".into()) }),
            consecutive_failures: 0,
            usb: Some(UsbResult { time: 1_700_000_100, source: "/dev/sda1".into(), result: "refused".into(), error: Some("unsigned".into()), commit: None }),
        };
        st.save(dir.path()).expect("save");
        assert_eq!(State::load(dir.path()).expect("load"), Some(st.clone()));
        let mut v = st.to_json();
        v["schema-version"] = json!(2);
        assert!(State::from_json(&v).is_err());
    }
}
