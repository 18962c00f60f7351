//! A pulled plug at every write step of a deploy: afterwards the board boots
//! the old deployment or the new one, never neither, and the next deploy
//! recovers. Run for the ostree layout (symlink swap) and for the FAT layout
//! (CRC'd slots on a real vfat filesystem, where symlinks are impossible).

mod common;

use std::fs;
use std::path::Path;

use common::*;
use uptree_deploy::failpoint;

/// Deploy generation 1, then generation 2 with the power cut at `cut`
/// (`None`: no cut). Returns the lab (and its mount) after the "reboot".
fn run_cut(fat: bool, cut: Option<(usize, bool)>) -> (Lab, Option<Mount>, Result<(), String>) {
    let (lab, mount) = Lab::new(2, fat.then_some("vfat"));
    failpoint::disarm();
    lab.deploy(1).expect("first deploy");
    match cut {
        Some((n, torn)) => failpoint::arm(n, torn),
        None => failpoint::disarm(),
    }
    let r = lab.deploy(2).map(|_| ()).map_err(|e| e.to_string());
    failpoint::disarm();
    (lab, mount, r)
}

/// After a cut: one of the two generations boots, with every file intact,
/// and its fallback entry (if any) is bootable too.
fn assert_boots(lab: &Lab, what: &str) -> String {
    let vars = boot_vars(&lab.root).unwrap_or_else(|| panic!("{what}: no valid boot configuration: the board would boot NEITHER"));
    let booted = check_entry(&lab.root, &vars, "").unwrap_or_else(|e| panic!("{what}: default entry broken: {e}"));
    assert!(lab.commits.iter().any(|c| c.to_hex() == booted), "{what}: boots an unknown commit {booted}");
    if vars.iter().any(|(k, _)| k == "bootargs2") {
        check_entry(&lab.root, &vars, "2").unwrap_or_else(|e| panic!("{what}: fallback entry broken: {e}"));
    }
    booted
}

fn no_leftovers(root: &Path, what: &str) {
    fn walk(p: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(p).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name == "loader.tmp" {
                out.push(e.path().display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) && name != "repo" && name != "deploy" {
                walk(&e.path(), out);
            }
        }
    }
    let mut left = Vec::new();
    walk(&root.join("boot"), &mut left);
    walk(&root.join("ostree"), &mut left);
    assert!(left.is_empty(), "{what}: leftovers after recovery: {left:?}");
    let s = Sysroot::load_unlocked(root).expect("load");
    let dirs: Vec<String> = fs::read_dir(root.join("ostree/deploy/testos/deploy"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".origin"))
        .collect();
    assert_eq!(dirs.len(), s.deployments.len(), "{what}: unreferenced deployment directories: {dirs:?}");
}

use uptree_deploy::sysroot::Sysroot;

fn every_step(fat: bool) {
    // How many steps a clean second deploy takes.
    let (lab, _m, r) = {
        let (lab, m) = Lab::new(2, fat.then_some("vfat"));
        lab.deploy(1).expect("first deploy");
        failpoint::disarm();
        let r = lab.deploy(2).map(|_| ()).map_err(|e| e.to_string());
        (lab, m, r)
    };
    let steps = failpoint::steps();
    r.expect("clean deploy");
    assert_eq!(assert_boots(&lab, "clean"), lab.commits[1].to_hex());
    assert_eq!(lab.sysroot().backend.name(), if fat { "fat" } else { "ostree" });
    assert!(steps > 10, "only {steps} steps counted");
    drop(_m); // unmount before the lab is removed
    drop(lab);

    let (mut old, mut new) = (0, 0);
    for n in 1..=steps {
        for torn in [false, true] {
            let what = format!("{} layout, cut at step {n}/{steps}{}", if fat { "FAT" } else { "ostree" }, if torn { " (torn write)" } else { "" });
            let (lab, m, r) = run_cut(fat, Some((n, torn)));
            assert!(r.as_ref().is_err_and(|e| e.contains("power cut")), "{what}: deploy did not stop at the cut: {r:?}");
            if let Some(m) = &m {
                m.remount("vfat");
            }
            let booted = assert_boots(&lab, &what);
            if booted == lab.commits[0].to_hex() {
                old += 1;
            } else {
                new += 1;
            }
            // The next deploy after the reboot completes and leaves nothing behind.
            lab.deploy(2).unwrap_or_else(|e| panic!("{what}: redeploy after the cut: {e}"));
            assert_eq!(assert_boots(&lab, &what), lab.commits[1].to_hex(), "{what}: after redeploy");
            no_leftovers(&lab.root, &what);
        }
    }
    eprintln!("{steps} steps, each cut plain and torn: {old} booted the old deployment, {new} the new one");
    // The cut points span the switch: some leave the old deployment, some the new.
    assert!(old > 0 && new > 0, "old={old} new={new}");
}

#[test]
fn ostree_layout_survives_a_cut_at_every_step() {
    every_step(false);
}

#[test]
fn fat_layout_survives_a_cut_at_every_step() {
    every_step(true);
}

#[test]
fn fat_layout_has_no_symlinks_on_the_boot_partition_and_is_detected() {
    let (lab, _m, r) = run_cut(true, None);
    r.expect("deploy");
    let s = lab.sysroot();
    assert_eq!(s.backend.name(), "fat");
    assert_eq!(s.deployments.len(), 2);
    assert_eq!(s.deployments[0].csum, lab.commits[1]);
    let vars = boot_vars(&lab.root).expect("vars");
    let kernel = &vars.iter().find(|(k, _)| k == "kernel_image").expect("kernel_image").1;
    assert!(kernel.starts_with(&format!("/loader.{}/ostree/testos-", s.bootversion)), "{kernel}");
    // Each slot holds its own copies of every kernel it names.
    assert!(fs::read_dir(lab.root.join(format!("boot/loader.{}/ostree", s.bootversion))).expect("kernels").count() == 2);
    // The old slot was invalidated by clean-up: the boot script cannot pick it.
    assert!(!lab.root.join(format!("boot/loader.{}/uEnv.txt", 1 - s.bootversion)).exists());
}
