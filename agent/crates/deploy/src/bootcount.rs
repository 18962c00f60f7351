//! Boot counting through the U-Boot environment (`CONFIG_BOOTCOUNT_LIMIT`
//! with `CONFIG_BOOTCOUNT_ENV`): before a switch to a new default uptree
//! sets `upgrade_available=1 bootcount=0`; U-Boot then counts every boot
//! and, past `bootlimit`, runs `altbootcmd`, which boots the fallback
//! entry. `admin mark-good` clears both once the system is healthy.
//!
//! The environment is found through an `fw_env.config`: `[uptree]
//! fw-env-config` in the sysroot's repo config (relative paths are
//! relative to the sysroot), else `/etc/fw_env.config` when the sysroot is
//! `/`. `[uptree] boot-counting=false` turns counting off.

use std::path::{Path, PathBuf};

use uboot_env::{Env, Store};

use crate::error::{Error, Result};
use crate::sysroot::Sysroot;

/// The counting variables as U-Boot left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountState {
    pub upgrade_available: bool,
    pub bootcount: u32,
    pub bootlimit: Option<u32>,
}

/// A U-Boot environment used for boot counting.
#[derive(Debug)]
pub struct BootCounter {
    pub config_path: PathBuf,
    store: Store,
}

fn env_err(what: &Path, e: uboot_env::Error) -> Error {
    Error::Invalid(format!("U-Boot environment ({}): {e}", what.display()))
}

/// The `fw_env.config` for a sysroot, if boot counting is configured.
pub fn config_path(sysroot: &Sysroot) -> Result<Option<PathBuf>> {
    let cfg = sysroot.repo.config();
    if let Ok(Some(false)) = cfg.get_bool("uptree", "boot-counting") {
        return Ok(None);
    }
    if let Some(p) = cfg.get("uptree", "fw-env-config") {
        let p = PathBuf::from(p);
        return Ok(Some(if p.is_relative() { sysroot.path.join(p) } else { p }));
    }
    let is_root = std::fs::canonicalize(&sysroot.path).ok().as_deref() == Some(Path::new("/"));
    let default = Path::new("/etc/fw_env.config");
    Ok((is_root && default.exists()).then(|| default.to_path_buf()))
}

impl BootCounter {
    /// The counter of a sysroot; `None` when counting is not configured.
    pub fn open(sysroot: &Sysroot) -> Result<Option<BootCounter>> {
        let Some(p) = config_path(sysroot)? else { return Ok(None) };
        let store = Store::open(&p).map_err(|e| env_err(&p, e))?;
        Ok(Some(BootCounter { config_path: p, store }))
    }

    fn load(&self) -> Result<Env> {
        Ok(self.store.load().map_err(|e| env_err(&self.config_path, e))?.env)
    }

    pub fn state(&self) -> Result<CountState> {
        let env = self.load()?;
        let num = |k: &str| -> Option<u32> {
            let v = env.get_str(k).ok().flatten()?;
            let v = v.trim();
            match v.parse::<u32>() {
                Ok(n) => Some(n),
                // Digits beyond u32: U-Boot counted past anything a limit can be.
                Err(_) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some(u32::MAX),
                Err(_) => {
                    log::warn!("U-Boot environment: {k}={v:?} is not a number; taken as unset");
                    None
                }
            }
        };
        Ok(CountState { upgrade_available: num("upgrade_available").unwrap_or(0) != 0, bootcount: num("bootcount").unwrap_or(0), bootlimit: num("bootlimit") })
    }

    fn update(&self, vars: &[(&str, &str)]) -> Result<()> {
        let mut env = self.load()?;
        if vars.iter().all(|(k, v)| env.get_str(k).ok().flatten() == Some(*v)) {
            return Ok(()); // nothing to write: spare the flash
        }
        for (k, v) in vars {
            env.set(k, v).map_err(|e| env_err(&self.config_path, e))?;
        }
        // Named steps, so a power-cut lane can stop just before the write
        // and just after it (Store::save writes and fsyncs in one call).
        crate::failpoint::step("uboot-env write")?;
        self.store.save(&env).map_err(|e| env_err(&self.config_path, e))?;
        crate::failpoint::step("uboot-env written")?;
        Ok(())
    }

    /// Count the next boots: `upgrade_available=1 bootcount=0`. (Crate
    /// only: written under the sysroot lock, by deploy and mark-good.)
    pub(crate) fn arm(&self) -> Result<()> {
        log::info!("boot counting armed (upgrade_available=1, bootcount=0)");
        self.update(&[("upgrade_available", "1"), ("bootcount", "0")])
    }

    /// Stop counting: `upgrade_available=0 bootcount=0`.
    pub(crate) fn clear(&self) -> Result<()> {
        self.update(&[("upgrade_available", "0"), ("bootcount", "0")])
    }
}
