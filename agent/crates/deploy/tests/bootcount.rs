//! Boot counting through a real U-Boot environment file (made by
//! `mkenvimage`, read and changed by `fw_printenv`/`fw_setenv` the way
//! U-Boot's bootcount would), the fallback detection, failure records and
//! the health checks of `mark-good`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use uptree_deploy::{failed, health};

struct Env {
    config: PathBuf,
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| panic!("{name}: {e} (install u-boot-tools and libubootenv-tool)"));
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Env {
    /// `uboot.env` as on a FAT boot partition: one copy of 0x4000 bytes.
    fn new(dir: &Path, vars: &str) -> Env {
        let (txt, img, config) = (dir.join("env.txt"), dir.join("uboot.env"), dir.join("fw_env.config"));
        fs::write(&txt, vars).expect("env text");
        tool("mkenvimage", &["-s", "0x4000", "-o", &img.to_string_lossy(), &txt.to_string_lossy()]);
        fs::write(&config, format!("{} 0x0 0x4000\n", img.display())).expect("config");
        Env { config }
    }

    fn get(&self, name: &str) -> Option<String> {
        let out = Command::new("fw_printenv").args(["-c", &self.config.to_string_lossy(), "-n", name]).output().expect("fw_printenv");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// What U-Boot's bootcount does at each boot while upgrade_available=1.
    fn set(&self, name: &str, value: &str) {
        tool("fw_setenv", &["-c", &self.config.to_string_lossy(), name, value]);
    }
}

fn lab_with_env(gens: u32) -> (Lab, Env) {
    let (lab, _) = Lab::new(gens, None);
    let env = Env::new(lab.dir.path(), "bootlimit=3\nbootcmd=run distro_bootcmd\naltbootcmd=setenv uptree_fallback 1; run bootcmd\n");
    let mut repo = ostree_repo::Repo::open(&lab.root.join("ostree/repo")).expect("repo");
    repo.update_config(|c| c.set("uptree", "fw-env-config", &env.config.to_string_lossy())).expect("config");
    (lab, env)
}

#[test]
fn deploy_arms_counting_and_a_fallback_boot_is_recorded() {
    let (lab, env) = lab_with_env(2);
    lab.deploy(1).expect("deploy 1");
    assert_eq!(env.get("upgrade_available").as_deref(), Some("1"));
    assert_eq!(env.get("bootcount").as_deref(), Some("0"));
    // Board boots generation 1 and is healthy.
    let mut s = lab.locked();
    s.set_booted(Some(0));
    let r = health::mark_good(&mut s, Path::new("/nonexistent"), Duration::from_secs(5)).expect("mark-good");
    assert!(r.healthy && r.cleared && r.fallback.is_none(), "{r:?}");
    drop(s); // the sysroot lock: the next deploy takes it
    assert_eq!(env.get("upgrade_available").as_deref(), Some("0"));
    // Other variables survive our writes.
    assert_eq!(env.get("altbootcmd").as_deref(), Some("setenv uptree_fallback 1; run bootcmd"));

    // Update to generation 2: counting is armed before the switch.
    lab.deploy(2).expect("deploy 2");
    assert_eq!((env.get("upgrade_available").as_deref(), env.get("bootcount").as_deref()), (Some("1"), Some("0")));
    let s = lab.sysroot();
    assert_eq!(s.deployments[0].csum, lab.commits[1]);
    // Before any reboot: generation 1 is still booted, nothing has failed.
    let mut s1 = lab.locked();
    s1.set_booted(Some(1));
    let st = uptree_deploy::bootcount::BootCounter::open(&s1).expect("open").expect("configured").state().expect("state");
    assert_eq!(health::fallback_from(&s1, &st), None, "a pending update is not a failure");
    let r = health::mark_good(&mut s1, Path::new("/nonexistent"), Duration::from_secs(5)).expect("mark-good");
    assert!(r.healthy && !r.cleared, "counting must stay armed for the pending update: {r:?}");
    drop(s1);
    assert_eq!(env.get("upgrade_available").as_deref(), Some("1"));

    // Generation 2 never comes up: U-Boot counts 4 boots (> bootlimit 3) and
    // its altbootcmd boots the fallback entry, generation 1.
    env.set("bootcount", "4");
    let mut s = lab.locked();
    s.set_booted(Some(1));
    let r = health::mark_good(&mut s, Path::new("/nonexistent"), Duration::from_secs(5)).expect("mark-good");
    let f = r.fallback.clone().expect("fallback noticed");
    assert_eq!(f.checksum, lab.commits[1].to_hex());
    assert!(f.reason.contains("4 boot(s)") && f.reason.contains("bootlimit 3"), "{}", f.reason);
    assert_eq!(f.version.as_deref(), Some("2.0"));
    assert!(r.cleared);
    assert_eq!((env.get("upgrade_available").as_deref(), env.get("bootcount").as_deref()), (Some("0"), Some("0")));
    // The booted generation 1 is the default again; the failed one is gone.
    let s = lab.sysroot();
    assert_eq!(s.deployments.len(), 1);
    assert_eq!(s.deployments[0].csum, lab.commits[0]);
    let vars = boot_vars(&lab.root).expect("uEnv");
    assert_eq!(check_entry(&lab.root, &vars, "").expect("boots"), lab.commits[0].to_hex());
    // Recorded, persistently.
    let rec = failed::find(&lab.root, &lab.commits[1].to_hex()).expect("load").expect("recorded");
    assert_eq!(rec.count, 1);
    assert!(failed::path(&lab.root).exists());
}

#[test]
fn failing_or_hanging_health_checks_keep_counting_armed() {
    let (lab, env) = lab_with_env(1);
    lab.deploy(1).expect("deploy");
    let hooks = lab.dir.path().join("health.d");
    build(&hooks, "f 10-ok 755 #!/bin/sh\\necho fine\\n\nf 20-fails 755 #!/bin/sh\\necho disk is full >&2\\nexit 3\\n\nf 30-hangs 755 #!/bin/sh\\nsleep 30\\n\nf README 644 not a check\\n");
    let mut s = lab.locked();
    s.set_booted(Some(0));
    let t = std::time::Instant::now();
    let r = health::mark_good(&mut s, &hooks, Duration::from_secs(1)).expect("mark-good");
    assert!(t.elapsed() < Duration::from_secs(10), "a hanging check was not stopped");
    let names: Vec<_> = r.checks.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(names, vec![("10-ok", true), ("20-fails", false), ("30-hangs", false)]);
    assert!(r.checks[1].detail.contains("disk is full"), "{:?}", r.checks[1]);
    assert!(r.checks[2].detail.contains("timed out"), "{:?}", r.checks[2]);
    assert!(!r.healthy && !r.cleared);
    assert_eq!(env.get("upgrade_available").as_deref(), Some("1"), "an unhealthy boot must stay on trial");
    // Fixed: the same call succeeds and clears.
    fs::remove_file(hooks.join("20-fails")).expect("rm");
    fs::remove_file(hooks.join("30-hangs")).expect("rm");
    let r = health::mark_good(&mut s, &hooks, Duration::from_secs(1)).expect("mark-good");
    assert!(r.healthy && r.cleared);
    assert_eq!(env.get("upgrade_available").as_deref(), Some("0"));
}

#[test]
fn a_corrupt_environment_is_an_error_not_a_silent_reset() {
    let (lab, env) = lab_with_env(1);
    let img = fs::read_to_string(&env.config).expect("config").split_whitespace().next().expect("dev").to_string();
    let mut bytes = fs::read(&img).expect("env");
    bytes[10] ^= 0xff;
    fs::write(&img, bytes).expect("corrupt");
    let e = lab.deploy(1).expect_err("must refuse");
    assert!(e.to_string().contains("U-Boot environment"), "{e}");
    // Nothing was switched.
    assert!(lab.sysroot().deployments.is_empty());
}

#[test]
fn counts_past_u32_saturate_and_garbage_is_unset() {
    let (lab, env) = lab_with_env(1);
    lab.deploy(1).expect("deploy 1");
    let state = || uptree_deploy::bootcount::BootCounter::open(&lab.sysroot()).expect("open").expect("configured").state().expect("state");
    env.set("bootcount", "99999999999999999999");
    env.set("bootlimit", "4294967296");
    let st = state();
    assert_eq!((st.bootcount, st.bootlimit), (u32::MAX, Some(u32::MAX)), "{st:?}");
    env.set("bootcount", "3x");
    env.set("bootlimit", "-1");
    let st = state();
    assert_eq!((st.bootcount, st.bootlimit), (0, None), "{st:?}");
}
