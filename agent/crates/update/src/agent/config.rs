//! The `[agent]` group of `/etc/uptree/agent.conf` (a GLib key file, as
//! ostree's own configs). Every key is optional; the command line
//! overrides each of them. README "Unattended updates" documents them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ostree_repo::keyfile::KeyFile;

use super::schedule::{Timing, Window};
use crate::error::{Error, Result};
use crate::usb::UsbRef;

pub const DEFAULT_PATH: &str = "/etc/uptree/agent.conf";

/// What the agent does after deploying an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootPolicy {
    /// Leave the deployment pending; whoever reboots next boots it.
    Never,
    Immediate,
    /// Inside the maintenance window (`window=`).
    Window,
}

impl RebootPolicy {
    pub fn parse(s: &str) -> Option<RebootPolicy> {
        match s {
            "never" => Some(RebootPolicy::Never),
            "immediate" => Some(RebootPolicy::Immediate),
            "window" => Some(RebootPolicy::Window),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RebootPolicy::Never => "never",
            RebootPolicy::Immediate => "immediate",
            RebootPolicy::Window => "window",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub timing: Timing,
    pub window: Option<Window>,
    pub reboot: RebootPolicy,
    /// Hot-plugged sticks are taken (`usb-update` refuses when off).
    pub usb: bool,
    /// Extra ed25519 public keys (base64) or files of them, for sticks.
    pub trusted_keys: Vec<String>,
    /// The repo's filesystem must have this much free before a pull.
    pub min_free_bytes: u64,
    /// Stateroot to update (default: the booted one).
    pub os: Option<String>,
    /// What `reboot=` runs.
    pub reboot_command: Vec<String>,
    /// The repository on a stick, relative to its top (default:
    /// `ostree_repo/`, else `ostree/repo/`).
    pub usb_repo_path: Option<PathBuf>,
    /// Which ref a stick's update comes from.
    pub usb_ref: UsbRef,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            timing: Timing {
                interval: Duration::from_secs(6 * 3600),
                jitter: Duration::from_secs(15 * 60),
                backoff_min: Duration::from_secs(60),
                backoff_max: Duration::from_secs(6 * 3600),
            },
            window: None,
            reboot: RebootPolicy::Never,
            usb: true,
            trusted_keys: Vec::new(),
            min_free_bytes: 64 << 20,
            os: None,
            reboot_command: vec!["reboot".into()],
            usb_repo_path: None,
            usb_ref: UsbRef::Origin,
        }
    }
}

/// `90`, `90s`, `15m`, `6h`, `1d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mul).map(Duration::from_secs)
}

/// `1048576`, `512K`, `64M`, `2G`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = num.parse().ok()?;
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn bad(key: &str, value: &str, what: &str) -> Error {
    Error::Config(format!("[agent] {key}={value}: {what}"))
}

impl AgentConfig {
    /// Apply one `key=value` (from the file or the command line).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let dur = || parse_duration(value).ok_or_else(|| bad(key, value, "not a duration (90, 90s, 15m, 6h, 1d)"));
        match key {
            "interval" => {
                self.timing.interval = dur()?;
                if self.timing.interval.is_zero() {
                    return Err(bad(key, value, "must be more than 0"));
                }
            }
            "jitter" => self.timing.jitter = dur()?,
            "backoff-min" => self.timing.backoff_min = dur()?,
            "backoff-max" => self.timing.backoff_max = dur()?,
            "window" => self.window = if value.is_empty() { None } else { Some(Window::parse(value).ok_or_else(|| bad(key, value, "not HH:MM-HH:MM"))?) },
            "reboot" => self.reboot = RebootPolicy::parse(value).ok_or_else(|| bad(key, value, "not never, immediate or window"))?,
            "usb" => {
                self.usb = match value {
                    "true" | "yes" | "1" => true,
                    "false" | "no" | "0" => false,
                    _ => return Err(bad(key, value, "not true or false")),
                }
            }
            "trusted-keys" => self.trusted_keys = value.split(';').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect(),
            "min-free-space" => self.min_free_bytes = parse_size(value).ok_or_else(|| bad(key, value, "not a size (64M)"))?,
            "os" => self.os = (!value.is_empty()).then(|| value.to_string()),
            "reboot-command" => self.reboot_command = value.split_ascii_whitespace().map(str::to_string).collect(),
            "usb-ref" => self.usb_ref = UsbRef::parse(value).map_err(|_| bad(key, value, "not origin, stick or a ref name"))?,
            "usb-repo-path" => self.usb_repo_path = (!value.is_empty()).then(|| PathBuf::from(value)),
            _ => return Err(Error::Config(format!("[agent] {key}: unknown key"))),
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<AgentConfig> {
        let kf = KeyFile::parse(text).map_err(|e| Error::Config(format!("{e}")))?;
        let mut c = AgentConfig::default();
        for key in kf.keys("agent") {
            let value = kf.get("agent", key).unwrap_or_default();
            c.set(key, &value)?;
        }
        c.check()?;
        Ok(c)
    }

    /// The file at `path`; a missing file at the default path means the
    /// defaults, a missing file named explicitly is an error.
    pub fn load(path: Option<&Path>) -> Result<AgentConfig> {
        let (p, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&p) {
            Ok(t) => AgentConfig::parse(&t).map_err(|e| e.context(p.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(AgentConfig::default()),
            Err(e) => Err(Error::io(p, e)),
        }
    }

    /// Settings that only make sense together.
    pub fn check(&self) -> Result<()> {
        if self.reboot == RebootPolicy::Window && self.window.is_none() {
            return Err(Error::Config("[agent] reboot=window needs window=HH:MM-HH:MM".into()));
        }
        if self.timing.backoff_min > self.timing.backoff_max {
            return Err(Error::Config("[agent] backoff-min is more than backoff-max".into()));
        }
        if self.reboot_command.is_empty() {
            return Err(Error::Config("[agent] reboot-command is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_the_defaults() {
        let c = AgentConfig::parse(include_str!("../../../../dist/agent.conf")).expect("agent/dist/agent.conf");
        let d = AgentConfig::default();
        assert_eq!(
            (c.timing, c.window, c.reboot, c.usb, c.min_free_bytes, c.os, c.reboot_command, c.usb_ref),
            (d.timing, d.window, d.reboot, d.usb, d.min_free_bytes, d.os, d.reboot_command, d.usb_ref)
        );
    }

    #[test]
    fn parses_every_key_and_refuses_nonsense() {
        let c = AgentConfig::parse(
            "# board config\n[agent]\ninterval=30m\njitter=90\nbackoff-min=10s\nbackoff-max=1h\nwindow=23:00-01:30\nreboot=window\nusb=false\nusb-ref=stick\ntrusted-keys=AAAA;/etc/k.pub\nmin-free-space=128M\nos=testos\n",
        )
        .expect("config");
        assert_eq!(c.timing.interval, Duration::from_secs(1800));
        assert_eq!(c.timing.jitter, Duration::from_secs(90));
        assert_eq!(c.timing.backoff_min, Duration::from_secs(10));
        assert_eq!(c.timing.backoff_max, Duration::from_secs(3600));
        assert_eq!(c.window.map(|w| w.to_string()).as_deref(), Some("23:00-01:30"));
        assert_eq!(c.reboot, RebootPolicy::Window);
        assert!(!c.usb);
        assert_eq!(c.usb_ref, UsbRef::Stick);
        assert_eq!(AgentConfig::parse("[agent]\nusb-ref=testos/usb\n").expect("named").usb_ref, UsbRef::Named("testos/usb".into()));
        assert_eq!(AgentConfig::parse("[agent]\nusb-ref=origin\n").expect("origin").usb_ref, UsbRef::Origin);
        assert_eq!(c.trusted_keys, ["AAAA", "/etc/k.pub"]);
        assert_eq!(c.min_free_bytes, 128 << 20);
        assert_eq!(c.os.as_deref(), Some("testos"));
        for bad in [
            "[agent]\ninterval=0\n",
            "[agent]\ninterval=5x\n",
            "[agent]\nreboot=sometimes\n",
            "[agent]\nreboot=window\n",
            "[agent]\nwhat=1\n",
            "[agent]\nmin-free-space=99999999999999999999G\n",
            "[agent]\nusb-ref=../heads\n",
            "[agent]\nusb-ref=\n",
        ] {
            assert!(AgentConfig::parse(bad).is_err(), "{bad:?}");
        }
        // Other groups are someone else's.
        assert!(AgentConfig::parse("[other]\nx=1\n").is_ok());
    }
}
