//! Creating deployments and switching the bootloader to them, the way
//! libostree does (ostree-format.md §7.7), so real `ostree admin` reads
//! what uptree writes and the reverse.
//!
//! A new deployment is a hardlink checkout of the commit with `etc` copied
//! from `usr/etc` and three-way merged, an `.origin` file, and the
//! immutable flag. Switching writes everything for the *other* bootversion
//! (kernels in `boot/ostree/OS-BOOTCSUM/`, BLS entries, `ostree/boot.B.S`
//! links, `uEnv.txt`), syncs, and then renames `boot/loader.tmp` over
//! `boot/loader` — the single atomic step. A pulled plug before it boots
//! the old set, after it the new one.

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use ostree_repo::checkout::{self, CheckoutOptions};
use ostree_repo::keyfile::KeyFile;
use ostree_repo::prune::{self, PruneOptions};
use ostree_repo::{Checksum, RefName};

use crate::backend;
use crate::bls::BootEntry;
use crate::bootcount::BootCounter;
use crate::deployfs::{self, DeployTree};
use crate::dfs;
use crate::error::{At, Error, Result};
use crate::etcmerge::{self, MergeReport};
use crate::kargs::Kargs;
use crate::kernel;
use crate::layout;
use crate::sysroot::{Deployment, LockedSysroot, Sysroot};

/// How kernel arguments of a new deployment are chosen (`admin deploy`).
#[derive(Debug, Clone, Default)]
pub struct KargsSpec {
    /// `--karg=K=V`: replace (start from the merge deployment's).
    pub replace: Vec<String>,
    /// `--karg-append=…`.
    pub append: Vec<String>,
    /// `--karg-delete=…`.
    pub delete: Vec<String>,
    /// `--karg-none`.
    pub none: bool,
    /// Start from these arguments instead of the merge deployment's
    /// (`--karg-proc-cmdline`).
    pub base: Option<String>,
}

/// Options of `admin deploy`.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub osname: Option<String>,
    pub kargs: KargsSpec,
    /// Keep every existing deployment.
    pub retain: bool,
    pub retain_pending: bool,
    pub retain_rollback: bool,
    /// Add the deployment after the booted one instead of as the default.
    pub not_as_default: bool,
    /// No /etc merge and no inherited kernel arguments.
    pub no_merge: bool,
    /// Skip the post-switch cleanup.
    pub no_clean: bool,
    /// The origin to write (upgrade, clones) instead of `refspec=REV`.
    pub origin: Option<KeyFile>,
    /// ostree's `--stage` (finish the deployment at shutdown): refused.
    /// uptree has no shutdown finalizer; a deployment is complete when
    /// `deploy` returns, which power cuts already cannot break.
    pub stage: bool,
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct DeployReport {
    pub osname: String,
    pub checksum: Checksum,
    pub deployserial: u32,
    pub etc: Option<MergeReport>,
    pub bootswap: bool,
    pub bootversion: u32,
    pub subbootversion: u32,
    /// Deployments after minus before (ostree's "deployment count change").
    pub count_change: i64,
    /// What went wrong after the switch was live (the clean-up): the
    /// deployment boots next all the same.
    pub warnings: Vec<String>,
}

pub(crate) fn set_immutable(path: &Path, on: bool) -> Result<()> {
    if mutable_deployments(std::env::var("OSTREE_SYSROOT_DEBUG").ok().as_deref()) {
        return Ok(());
    }
    let f = fs::File::open(path).at(path)?;
    match uptree_sys::fs::set_immutable(f.as_fd(), on) {
        Ok(()) => Ok(()),
        Err(e) if uptree_sys::fs::unsupported(&e) => {
            log::debug!("{}: no immutable attribute on this filesystem", path.display());
            Ok(())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Whether the GLib debug string `debug` (libostree's
/// `OSTREE_SYSROOT_DEBUG`: keys separated by `:;, \t`, any case, `all`
/// for every key) sets `key`.
fn debug_has(debug: Option<&str>, key: &str) -> bool {
    debug.is_some_and(|d| d.split([':', ';', ',', ' ', '\t']).any(|k| k.eq_ignore_ascii_case(key) || k.eq_ignore_ascii_case("all")))
}

/// `OSTREE_SYSROOT_DEBUG` of this process sets `key`.
pub(crate) fn debug_flag(key: &str) -> bool {
    debug_has(std::env::var("OSTREE_SYSROOT_DEBUG").ok().as_deref(), key)
}

/// `mutable-deployments`: deployments are not made immutable. Image
/// builders need it, as under Yocto's pseudo or fakeroot the flag cannot
/// be set.
fn mutable_deployments(debug: Option<&str>) -> bool {
    debug_has(debug, "mutable-deployments")
}

/// Remove a deployment directory (clearing the immutable flag first).
pub fn rmrf_deployment(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    set_immutable(path, false)?;
    fs::remove_dir_all(path).at(path)
}

/// ostree reads `usr/lib/os-release` when it exists, else `etc/os-release`,
/// following links (resolved inside the deployment here).
fn os_release_name(tree: &DeployTree) -> Result<String> {
    let text = match tree.read_utf8(Path::new("usr/lib/os-release"), deployfs::OS_RELEASE)? {
        Some(t) => t,
        None => tree
            .read_utf8(Path::new("etc/os-release"), deployfs::OS_RELEASE)?
            .ok_or_else(|| Error::io(tree.path().join("etc/os-release"), std::io::ErrorKind::NotFound.into()))?,
    };
    let mut vals = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))).unwrap_or(v);
            vals.insert(k.trim().to_string(), v.to_string());
        }
    }
    vals.get("PRETTY_NAME").or_else(|| vals.get("ID")).cloned().ok_or_else(|| Error::Invalid("No PRETTY_NAME or ID in /etc/os-release".into()))
}

/// `admin deploy REFSPEC|CHECKSUM`.
pub fn deploy(sysroot: &mut LockedSysroot, rev: &str, opts: &DeployOptions) -> Result<DeployReport> {
    if opts.stage {
        let why = if sysroot.booted_deployment().is_none() {
            "Not currently booted into an OSTree system"
        } else {
            "uptree completes every deployment at once (no finalization at shutdown); deploy without staging"
        };
        return Err(Error::Invalid(format!("Cannot stage deployment: {why}")));
    }
    let csum = sysroot.repo.resolve_rev(rev)?;
    if sysroot.repo.is_partial(&csum) {
        return Err(Error::Invalid(format!("commit {csum} is partial (an interrupted pull); pull it completely before deploying")));
    }
    let osname = match &opts.osname {
        Some(o) => o.clone(),
        None => sysroot.default_osname()?,
    };
    if !sysroot.path.join("ostree/deploy").join(&osname).is_dir() {
        return Err(Error::Invalid(format!("stateroot {osname} does not exist: run 'admin os-init {osname}'")));
    }
    let merge = if opts.no_merge { None } else { sysroot.merge_deployment(&osname) };
    let merge_dep = merge.map(|i| sysroot.deployments[i].clone());

    // Kernel arguments, as `ostree admin deploy` computes them.
    let k = &opts.kargs;
    if k.none && k.base.is_some() {
        return Err(Error::Invalid("Can't specify both --karg-proc-cmdline and --karg-none".into()));
    }
    if k.none && !k.delete.is_empty() {
        return Err(Error::Invalid("Can't specify both --karg-none and --karg-delete".into()));
    }
    // `--karg-none` starts from nothing; `--karg`/`--karg-append` still apply.
    let kargs: Option<Kargs> = {
        let mut base = match (k.none, &k.base, &merge_dep, k.replace.is_empty() && k.append.is_empty() && k.delete.is_empty()) {
            (true, _, _, _) => Some(Kargs::default()),
            (false, Some(b), _, _) => Some(Kargs::parse(b)),
            (false, None, Some(m), false) => Some(Kargs::parse(m.bootconfig.get("options").unwrap_or(""))),
            _ => None,
        };
        for a in &k.replace {
            base.get_or_insert_with(Kargs::default).replace(a);
        }
        for a in &k.append {
            base.get_or_insert_with(Kargs::default).append(a);
        }
        for a in &k.delete {
            base.get_or_insert_with(Kargs::default).delete(a);
        }
        base
    };

    // Deployserial: one above any existing directory of the same commit.
    let deploy_dir = sysroot.path.join("ostree/deploy").join(&osname).join("deploy");
    fs::create_dir_all(&deploy_dir).at(&deploy_dir)?;
    let mut deployserial = 0;
    for e in fs::read_dir(&deploy_dir).at(&deploy_dir)?.flatten() {
        if let Some((c, s)) = layout::parse_deploy_dir_name(&e.file_name().to_string_lossy()) {
            if c == csum.to_hex() && e.path().is_dir() {
                let next = s.checked_add(1).ok_or_else(|| Error::Invalid(format!("{}: deployment serial {s} cannot be incremented", e.path().display())))?;
                deployserial = deployserial.max(next);
            }
        }
    }
    let rel = layout::deployment_relpath(&osname, &csum.to_hex(), deployserial);
    let dpath = sysroot.path.join(&rel);
    rmrf_deployment(&dpath)?;
    let prepared = (|| -> Result<(Deployment, Option<MergeReport>)> {
        crate::failpoint::step("check out")?;
        checkout::checkout(&sysroot.repo, &csum, &dpath, &CheckoutOptions { fsync: false, process_passthrough_whiteouts: true, ..CheckoutOptions::default() })?;
        let kl = kernel::find(&dpath)?;
        // /etc: from usr/etc (a tree with only /etc gets it moved there).
        // Through a symlink in the commit, the copy and the merge would read
        // and write outside the deployment (an absolute link is the host's).
        for rel in ["usr", "etc", "usr/etc"] {
            if fs::symlink_metadata(dpath.join(rel)).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Invalid(format!("/{rel} is a symbolic link in the commit; refusing to deploy it")));
            }
        }
        // The hotfix overlay's directories are the sysroot's own: shipped in
        // a commit, they would make the init mount a writable /usr at every
        // boot (`.usr-ovl-work`), or send `unlock --hotfix` through a link.
        for rel in [layout::HOTFIX_USR_OVL_UPPER, layout::HOTFIX_USR_OVL_WORK] {
            if fs::symlink_metadata(dpath.join(rel)).is_ok() {
                return Err(Error::Invalid(format!("/{rel} is reserved for the hotfix overlay; the commit carries it, refusing to deploy it")));
            }
        }
        let (etc, usretc) = (dpath.join("etc"), dpath.join("usr/etc"));
        if fs::symlink_metadata(&etc).is_ok() {
            if fs::symlink_metadata(&usretc).is_ok() {
                return Err(Error::Invalid("Tree contains both /etc and /usr/etc".into()));
            }
            fs::rename(&etc, &usretc).at(&usretc)?;
        }
        let mut merge_report = None;
        if usretc.is_dir() {
            etcmerge::copy_tree(&usretc, &etc)?;
            if let Some(m) = &merge_dep {
                let mpath = sysroot.path.join(m.relpath());
                merge_report = Some(etcmerge::merge(&mpath.join("usr/etc"), &mpath.join("etc"), &usretc, &etc).map_err(|e| e.context("During /etc merge"))?);
            }
        }
        // ostree marks the stateroot's /var as labelled on its first deploy.
        let selabeled = sysroot.path.join(layout::stateroot_var_relpath(&osname)).join(".ostree-selabeled");
        if !selabeled.exists() {
            fs::write(&selabeled, b"").at(&selabeled)?;
        }
        let _ = fs::remove_file(etc.join(".updated"));
        let _ = fs::remove_file(sysroot.path.join(layout::stateroot_var_relpath(&osname)).join(".updated"));
        // Origin.
        let mut origin = match &opts.origin {
            Some(o) => o.clone(),
            None => {
                let mut o = KeyFile::new();
                o.set("origin", "refspec", rev);
                o
            }
        };
        origin.remove_group_keep_separator("libostree-transient");
        origin.remove_key("origin", "unlocked");
        if let Some(r) = &merge_report {
            write_merge_report(&sysroot.path, &osname, &layout::deploy_dir_name(&csum.to_hex(), deployserial), r)?;
        }
        dfs::write_atomic(&sysroot.path.join(format!("{rel}.origin")), origin.to_string().as_bytes())?;
        set_immutable(&dpath, true)?;
        let mut bootconfig = BootEntry::default();
        match (&kargs, &merge_dep) {
            (Some(k), _) => bootconfig.set("options", &k.to_string()),
            (None, Some(m)) => bootconfig.set("options", m.bootconfig.get("options").unwrap_or("")),
            (None, None) => {}
        }
        let new = Deployment { osname: osname.clone(), csum, deployserial, bootcsum: kl.bootcsum, bootserial: 0, bootconfig, origin: Some(origin) };
        Ok((new, merge_report))
    })();
    let r = prepared.and_then(|(new, etc)| {
        let list = new_deployment_list(sysroot, &new, &osname, merge, opts);
        let count_change = count_change(sysroot.deployments.len(), list.len());
        let (bootswap, bootversion, subbootversion) = write_deployments(sysroot, list)?;
        Ok(DeployReport {
            osname: osname.clone(),
            checksum: csum,
            deployserial,
            etc,
            bootswap,
            bootversion,
            subbootversion,
            count_change,
            warnings: Vec::new(),
        })
    });
    match r {
        Ok(mut rep) => {
            if !opts.no_clean {
                rep.warnings.extend(cleanup_after_switch(sysroot)?);
            }
            Ok(rep)
        }
        Err(e) if crate::failpoint::tripped() => Err(e), // the power is off: nothing runs
        Err(e) => {
            // Remove the new deployment unless the switch got as far as
            // referencing it (then it is live and must stay).
            let referenced = Sysroot::read(&sysroot.path).map(|s| s.deployments.iter().any(|d| d.relpath() == rel)).unwrap_or(true);
            if !referenced {
                let _ = rmrf_deployment(&dpath);
                let _ = fs::remove_file(sysroot.path.join(format!("{rel}.origin")));
                let _ = fs::remove_file(merge_report_path(&sysroot.path, &osname, &layout::deploy_dir_name(&csum.to_hex(), deployserial)));
            }
            Err(e)
        }
    }
}

/// Record the /etc merge report in the origin (an uptree group ostree ignores).
/// Where the /etc merge report of a deployment is kept: beside ostree's
/// files, not in the origin (which stays byte-identical to ostree's).
fn merge_report_path(sysroot: &Path, osname: &str, dirname: &str) -> PathBuf {
    sysroot.join("ostree/uptree/etc-merge").join(osname).join(format!("{dirname}.json"))
}

fn write_merge_report(sysroot: &Path, osname: &str, dirname: &str, r: &MergeReport) -> Result<()> {
    let p = merge_report_path(sysroot, osname, dirname);
    if let Some(d) = p.parent() {
        dfs::create_dir_all(d)?;
    }
    let v = serde_json::json!({ "kept": r.kept, "updated": r.updated, "added": r.added, "removed": r.removed });
    dfs::write_atomic(&p, format!("{v}\n").as_bytes())
}

/// Read back the /etc merge report of a deployment, if it has one.
pub fn merge_report(sysroot: &Sysroot, d: &Deployment) -> Option<MergeReport> {
    let text = fs::read_to_string(merge_report_path(&sysroot.path, &d.osname, &layout::deploy_dir_name(&d.csum.to_hex(), d.deployserial))).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let list = |k: &str| v.get(k).and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
    Some(MergeReport { kept: list("kept"), updated: list("updated"), added: list("added"), removed: list("removed") })
}

/// ostree_sysroot_simple_write_deployment's choice of what to keep.
fn new_deployment_list(sysroot: &Sysroot, new: &Deployment, osname: &str, merge: Option<usize>, opts: &DeployOptions) -> Vec<Deployment> {
    let booted = sysroot.booted;
    let mut out = Vec::new();
    let mut added = false;
    if !opts.not_as_default {
        out.push(new.clone());
        added = true;
    }
    let retain = opts.retain || (booted.is_none() && merge.is_none() && (opts.retain_pending || opts.retain_rollback));
    let (mut before_booted, mut before_merge) = (true, true);
    for (i, d) in sysroot.deployments.iter().enumerate() {
        let is_booted = Some(i) == booted;
        let is_merge = Some(i) == merge;
        if is_booted {
            before_booted = false;
        }
        if is_merge {
            before_merge = false;
        }
        let crossed = if booted.is_some() { !before_booted } else { !before_merge };
        if retain || d.is_pinned() || d.osname != osname || (opts.retain_pending && !crossed) || is_booted || is_merge || (opts.retain_rollback && crossed) {
            out.push(d.clone());
        }
        if !added && crossed {
            out.push(new.clone());
            added = true;
        }
    }
    if !added {
        out.push(new.clone());
    }
    out
}

fn bootconfigs_equal(sysroot: &Sysroot, a: &Deployment, b: &Deployment) -> bool {
    let version = |d: &Deployment| sysroot.repo.load_commit(&d.csum).ok().and_then(|c| c.version().map(str::to_string));
    a.osname == b.osname && a.bootcsum == b.bootcsum && a.kargs_without_ostree() == b.kargs_without_ostree() && version(a) == version(b)
}

fn count_change(before: usize, after: usize) -> i64 {
    let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
    n(after).saturating_sub(n(before))
}

/// How ostree words a finished `write_deployments`: "Bootloader updated"
/// after a bootversion swap without a boot loader configuration
/// (`sysroot.bootloader=none`), else "Transaction complete".
pub fn done_word(sysroot: &Sysroot, bootswap: bool) -> &'static str {
    if bootswap && !sysroot.backend.writes_bootloader_config() {
        "Bootloader updated"
    } else {
        "Transaction complete"
    }
}

/// Make `list` the deployments, in order (index 0 boots next). Returns
/// (bootconfig swapped, bootversion, subbootversion) and reloads `sysroot`.
///
/// Nothing the live bootversion uses is touched until the backend's
/// commit; a power cut at any step boots either the old list or the new.
/// The bootversion written is the one the lock holder read, so it is
/// never the live one.
pub fn write_deployments(sysroot: &mut LockedSysroot, mut list: Vec<Deployment>) -> Result<(bool, u32, u32)> {
    if let Some(b) = sysroot.booted_deployment() {
        if !list.iter().any(|d| d.same(b)) {
            return Err(Error::Invalid("Attempting to remove booted deployment".into()));
        }
    }
    // Bootserials: position among deployments sharing a bootcsum.
    let mut counts = std::collections::HashMap::new();
    for d in &mut list {
        let c = counts.entry(d.bootcsum.clone()).or_insert(0u32);
        d.bootserial = *c;
        *c += 1;
    }
    for d in &list {
        if !sysroot.path.join(d.relpath()).is_dir() {
            return Err(Error::Invalid(format!("Unable to find expected deployment root: {}", d.relpath())));
        }
    }
    let needs_bootswap = list.len() != sysroot.deployments.len() || list.iter().zip(&sysroot.deployments).any(|(n, c)| !bootconfigs_equal(sysroot, n, c));
    let root = sysroot.path.clone();
    // A new default that has never booted: count its boots (armed before
    // the switch, so a cut in between only makes the old default count).
    let new_default =
        list.first().is_some_and(|n| sysroot.deployments.first().is_none_or(|c| !c.same(n)) && sysroot.booted_deployment().is_none_or(|b| !b.same(n)));
    if new_default {
        if let Some(c) = BootCounter::open(sysroot)? {
            c.arm()?;
        }
    }
    let (bootversion, subbootversion) = if !needs_bootswap {
        // Same entries: only which deployment each boot link names changes.
        let b = sysroot.bootversion;
        let s = 1 - sysroot.subbootversion;
        create_bootlinks(&root, b, s, &list)?;
        backend::full_sync(&root)?;
        dfs::symlink_replace(&format!("boot.{b}.{s}"), &root.join(format!("ostree/boot.{b}")))?;
        (b, s)
    } else {
        let b = 1 - sysroot.bootversion;
        let s = match fs::read_link(root.join(format!("ostree/boot.{b}"))) {
            Ok(t) if t.to_string_lossy() == format!("boot.{b}.1") => 0,
            _ => 1,
        };
        // Read (and check) before anything of bootversion b is written.
        let appended = match list.first() {
            Some(d) => DeployTree::open(&root.join(d.relpath()))?.read_utf8(Path::new("usr/lib/ostree-boot/uEnv.txt"), deployfs::UENV)?,
            None => None,
        };
        sysroot.backend.begin(&root, b)?;
        let show_osname = list.iter().any(|d| d.osname != list[0].osname);
        let n = list.len();
        let mut written = Vec::new();
        for (i, d) in list.iter_mut().enumerate() {
            install_kernel_and_entry(sysroot, b, d, i, n, show_osname)?;
            written.push(d.bootconfig.clone());
        }
        create_bootlinks(&root, b, s, &list)?;
        dfs::symlink_replace(&format!("boot.{b}.{s}"), &root.join(format!("ostree/boot.{b}")))?;
        sysroot.backend.commit(&root, b, &written, appended.as_deref())?;
        (b, s)
    };
    log::info!(
        "{}; bootconfig swap: {}; bootversion: boot.{bootversion}.{subbootversion}, deployment count change: {}",
        done_word(sysroot, needs_bootswap),
        if needs_bootswap { "yes" } else { "no" },
        count_change(sysroot.deployments.len(), list.len())
    );
    crate::sysroot::bump_mtime(&root)?;
    sysroot.reload()?;
    Ok((needs_bootswap, bootversion, subbootversion))
}

fn create_bootlinks(root: &Path, b: u32, s: u32, list: &[Deployment]) -> Result<()> {
    let dir = root.join(format!("ostree/boot.{b}.{s}"));
    dfs::remove(&dir)?;
    for d in list {
        let parent = dir.join(&d.osname).join(&d.bootcsum);
        dfs::create_dir_all(&parent)?;
        dfs::symlink(&layout::bootlink_target(&d.osname, &d.csum.to_hex(), d.deployserial), &parent.join(d.bootserial.to_string()))?;
    }
    Ok(())
}

fn install_kernel_and_entry(sysroot: &Sysroot, b: u32, d: &mut Deployment, index: usize, n: usize, show_osname: bool) -> Result<()> {
    let root = &sysroot.path;
    let tree = DeployTree::open(&root.join(d.relpath()))?;
    let kl = kernel::find_in(&tree)?;
    let kdir_rel = sysroot.backend.kernel_dir(b, &d.osname, &d.bootcsum);
    let kdir = root.join("boot").join(&kdir_rel);
    dfs::create_dir_all(&kdir)?;
    kernel::install(&tree, &kl, &kdir)?;
    let mut title = os_release_name(&tree)?;
    if let Ok(c) = sysroot.repo.load_commit(&d.csum) {
        if let Some(v) = c.version().filter(|v| !v.is_empty() && !title.contains(*v)) {
            title.push(' ');
            title.push_str(v);
        }
    }
    title.push_str(" (ostree");
    if show_osname {
        title.push(':');
        title.push_str(&d.osname);
    }
    title.push_str(&format!(":{index})"));
    let e = &mut d.bootconfig;
    e.set("title", &title);
    e.set("version", &(n - index).to_string());
    e.set("linux", &format!("/{kdir_rel}/{}", kl.kernel_name));
    let mut kargs = Kargs::parse(e.get("options").unwrap_or(""));
    match &kl.initramfs {
        Some((_, name)) => e.set("initrd", &format!("/{kdir_rel}/{name}")),
        None => kargs.replace(&format!("init=/ostree/boot.{b}/{}/{}/{}/usr/lib/ostree/ostree-prepare-root", d.osname, d.bootcsum, d.bootserial)),
    }
    if let Some((_, name)) = &kl.devicetree {
        e.set("devicetree", &format!("/{kdir_rel}/{name}"));
    } else if let Some(dir) = &kl.dtb_dir {
        e.set("fdtdir", &format!("/{kdir_rel}/{dir}"));
    }
    kargs.replace(&format!("ostree=/ostree/boot.{b}/{}/{}/{}", d.osname, d.bootcsum, d.bootserial));
    e.set("options", &kargs.to_string());
    dfs::write_atomic(&root.join(format!("boot/loader.{b}/entries/ostree-{}-{}.conf", n - index, d.osname)), e.to_text().as_bytes())
}

/// The clean-up after a switch that is already live: a failure there is a
/// warning (logged, and returned for the caller's report), not a failed
/// deploy. The next clean-up removes what this one left.
pub(crate) fn cleanup_after_switch(sysroot: &mut LockedSysroot) -> Result<Option<String>> {
    match cleanup(sysroot) {
        Ok(()) => Ok(None),
        Err(e) if crate::failpoint::tripped() => Err(e), // the power is off: nothing runs
        Err(e) => {
            let w = format!("the new boot configuration is live, but cleaning up after it failed: {e}");
            log::warn!("{w}");
            Ok(Some(w))
        }
    }
}

/// `admin cleanup`: remove what no boot entry references — the other
/// bootversion, old deployments, unused kernels — regenerate the
/// `ostree/B/S/N` refs, and prune the repo (refs only, depth 0).
pub fn cleanup(sysroot: &mut LockedSysroot) -> Result<()> {
    let root = sysroot.path.clone();
    let (b, s) = (sysroot.bootversion, sysroot.subbootversion);
    let ob = 1 - b;
    // The other bootversion first: it names deployments deleted below.
    let used: HashSet<String> = sysroot.deployments.iter().map(|d| sysroot.backend.kernel_dir(b, &d.osname, &d.bootcsum)).collect();
    sysroot.backend.cleanup(&root, b, &used)?;
    for p in [
        root.join(format!("ostree/boot.{ob}.0")),
        root.join(format!("ostree/boot.{ob}.1")),
        root.join(format!("ostree/boot.{ob}")),
        root.join(format!("ostree/boot.{b}.{}", 1 - s)),
    ] {
        dfs::remove(&p)?;
    }
    // Temp files a power cut left behind (never live: they are renamed into place).
    remove_temps(&root.join("boot"), true)?;
    remove_temps(&root.join("ostree"), false)?;
    for os in fs::read_dir(root.join("ostree/deploy")).into_iter().flatten().flatten() {
        remove_temps(&os.path().join("deploy"), false)?;
    }
    // Deployments not in the list.
    let keep: HashSet<String> = sysroot.deployments.iter().map(Deployment::relpath).collect();
    let deploy = root.join("ostree/deploy");
    for os in fs::read_dir(&deploy).at(&deploy)?.flatten() {
        let dir = os.path().join("deploy");
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".origin").unwrap_or(&name);
            if layout::parse_deploy_dir_name(base).is_none() {
                continue;
            }
            let rel = format!("ostree/deploy/{}/deploy/{base}", os.file_name().to_string_lossy());
            if keep.contains(&rel) {
                continue;
            }
            if name.ends_with(".origin") {
                dfs::remove(&e.path())?;
            } else {
                rmrf_deployment(&e.path())?;
            }
        }
    }
    let reports = root.join("ostree/uptree/etc-merge");
    for os in fs::read_dir(&reports).into_iter().flatten().flatten() {
        for e in fs::read_dir(os.path()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("ostree/deploy/{}/deploy/{}", os.file_name().to_string_lossy(), name.trim_end_matches(".json"));
            if !keep.contains(&rel) {
                dfs::remove(&e.path())?;
            }
        }
    }
    // ostree/B/S/N refs keep deployed commits alive.
    let repo = &sysroot.repo;
    let mut wanted = std::collections::BTreeMap::new();
    for (i, d) in sysroot.deployments.iter().enumerate() {
        wanted.insert(format!("ostree/{b}/{s}/{i}"), d.csum);
    }
    for (name, _) in repo.list_refs()? {
        if name.starts_with("ostree/") && !wanted.contains_key(&name) && name.split('/').count() == 4 {
            repo.set_ref(&RefName::parse(&name)?, None)?;
        }
    }
    for (name, csum) in &wanted {
        let r = RefName::parse(name)?;
        if repo.read_ref(&r)? != Some(*csum) {
            repo.set_ref(&r, Some(csum))?;
        }
    }
    prune::prune(repo, &PruneOptions { refs_only: true, depth: 0, ..PruneOptions::default() })?;
    Ok(())
}

fn remove_temps(dir: &Path, recurse: bool) -> Result<()> {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".tmp-") || name == "loader.tmp" {
            dfs::remove(&e.path())?;
        } else if recurse && e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_temps(&e.path(), true)?;
        }
    }
    Ok(())
}

/// The physical path of a deployment.
pub fn deployment_path(sysroot: &Sysroot, d: &Deployment) -> PathBuf {
    sysroot.path.join(d.relpath())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutable_deployments_is_read_as_glib_reads_debug_strings() {
        for on in ["mutable-deployments", "no-xattrs,mutable-deployments", "MUTABLE-DEPLOYMENTS", "all", "x: mutable-deployments"] {
            assert!(mutable_deployments(Some(on)), "{on}");
        }
        for off in ["", "no-xattrs", "mutable-deployment", "mutable-deploymentsx"] {
            assert!(!mutable_deployments(Some(off)), "{off}");
        }
        assert!(!mutable_deployments(None));
    }
}
