//! `usb-update DEVICE|MOUNTPOINT`: the policy is `uptree_update::usb`'s;
//! here the stick is mounted, the result printed and recorded in the
//! agent's state (`admin status --json` shows why a stick was refused).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use uptree_deploy::sysroot::Sysroot;
use uptree_update::agent::config::AgentConfig;
use uptree_update::agent::state::{Pending, State, UsbResult};
use uptree_update::agent::{chain, now};
use uptree_update::usb::{self, StickMount, UsbRequest};
use uptree_update::Outcome;

use super::out;
use crate::cli::UsbUpdateOpts;
use crate::Result;

/// Where sticks given as devices are mounted.
const MOUNT_BASE: &str = "/run/uptree";

pub fn run(o: &UsbUpdateOpts) -> Result<i32> {
    let mut cfg = AgentConfig::load(o.config.as_deref())?;
    if let Some(r) = &o.usb_ref {
        cfg.set("usb-ref", r)?;
    }
    if !cfg.usb {
        return Err("USB updates are off ([agent] usb=false)".into());
    }
    let is_device = std::fs::metadata(&o.source).map_err(|e| format!("{}: {e}", o.source.display()))?.file_type().is_block_device();
    // Unmounted when this guard drops, on every path out.
    let mount = if is_device { Some(StickMount::mount(&o.source, Path::new(MOUNT_BASE))?) } else { None };
    let top = mount.as_ref().map_or(o.source.as_path(), |m| m.path.as_path());
    let result = usb::find_repo(top, cfg.usb_repo_path.as_deref()).and_then(|repo| {
        let req = UsbRequest {
            repo,
            os: o.os.clone().or_else(|| cfg.os.clone()),
            allow_unsigned: o.allow_unsigned,
            extra_keys: cfg.trusted_keys.clone(),
            usb_ref: cfg.usb_ref.clone(),
            pull: uptree_pull::PullOptions::default(),
        };
        usb::usb_update(&o.sysroot, &req, &mut |r| {
            log::info!("from the stick: {} metadata, {} content objects", r.metadata_fetched, r.content_fetched);
        })
    });
    let source = o.source.display().to_string();
    let record = match &result {
        Ok(Outcome::Deployed(d)) => UsbResult { time: now(), source, result: "deployed".into(), error: None, commit: Some(d.checksum.to_hex()) },
        Ok(Outcome::UpToDate { checksum }) => UsbResult { time: now(), source, result: "up-to-date".into(), error: None, commit: Some(checksum.to_hex()) },
        Ok(Outcome::Pulled) => UsbResult { time: now(), source, result: "up-to-date".into(), error: None, commit: None },
        Err(e) => UsbResult { time: now(), source, result: "refused".into(), error: Some(chain(e)), commit: None },
    };
    let mut st = State::load(&o.sysroot).ok().flatten().unwrap_or_default();
    let line = format!(
        "uptree-usb-update result={} source={}{}",
        record.result,
        record.source,
        record.error.as_ref().map(|e| format!(" error={e:?}")).unwrap_or_default()
    );
    if let Ok(Outcome::Deployed(d)) = &result {
        // The agent reboots into it (its reboot policy), as into its own.
        let version = Sysroot::load_unlocked(&o.sysroot).ok().and_then(|s| s.repo.load_commit(&d.checksum).ok()).and_then(|c| c.version().map(str::to_string));
        st.pending = Some(Pending { checksum: d.checksum.to_hex(), deployserial: d.deployserial, version });
    }
    st.usb = Some(record);
    if let Err(e) = st.save(&o.sysroot) {
        log::warn!("saving the state: {e}");
    }
    log::warn!("{line}");
    drop(mount);
    match result? {
        Outcome::Deployed(d) => out(&format!(
            "Deployed {}.{} from the stick; it boots next (bootversion boot.{}.{})\n",
            d.checksum, d.deployserial, d.bootversion, d.subbootversion
        ))?,
        Outcome::UpToDate { .. } | Outcome::Pulled => out("No update on the stick.\n")?,
    }
    Ok(0)
}
