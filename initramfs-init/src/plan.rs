//! The mount plan as data: what to mount, bind, move and write, computed
//! from the command line and an inspection of the mounted sysroot, then
//! executed step by step by [`crate::exec`]. Tests compare plans without
//! root or a kernel.
//!
//! For a deployment this is ostree-prepare-root's sequence
//! (ostree-format.md §8; HEAD `ostree-prepare-root.c`) followed by
//! switch_root:
//!
//! ```text
//! make / rprivate                     (MS_MOVE refuses shared parents)
//! bind DEPLOY            -> /sysroot.tmp
//! bind /sysroot/boot     -> /sysroot.tmp/boot      if boot/loader is a symlink and DEPLOY/boot a dir
//! bind DEPLOY/etc        -> /sysroot.tmp/etc, rw   if sysroot.readonly
//! /usr: overlay (lower usr, upper .usr-ovl-upper, work .usr-ovl-work) if .usr-ovl-work exists,
//!       else bind /sysroot.tmp/usr onto itself, read-only
//! bind STATEROOT/var onto itself, rw                if sysroot.readonly
//! bind STATEROOT/var     -> /sysroot.tmp/var, then slave, then shared
//! write /run/ostree-booted
//! move /sysroot          -> /sysroot.tmp/sysroot   (read-only if sysroot.readonly)
//! move /dev /proc /sys /run into /sysroot.tmp
//! switch root to /sysroot.tmp
//! ```
//!
//! Without `ostree=` the plan is a plain switch_root to `/sysroot`.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use uptree_deploy::layout::{self, DeploymentPath};
pub use uptree_sys::switchroot::Propagation;

use crate::booted;
use crate::resolve::{self, Confine, ResolveError};

/// Where the physical root is mounted first.
pub const SYSROOT: &str = "/sysroot";
/// Where the deployment is assembled (ostree's name for it).
pub const NEWROOT: &str = "/sysroot.tmp";
/// The API filesystems carried into the new root.
pub const API_MOUNTS: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

/// Generic mount flags the plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl Flags {
    pub const NONE: Flags = Flags { readonly: false, nosuid: false, nodev: false, noexec: false };
    pub const API: Flags = Flags { readonly: false, nosuid: true, nodev: true, noexec: true };
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = vec![if self.readonly { "ro" } else { "rw" }];
        for (on, name) in [(self.nosuid, "nosuid"), (self.nodev, "nodev"), (self.noexec, "noexec")] {
            if on {
                v.push(name);
            }
        }
        f.write_str(&v.join(","))
    }
}

/// One action. Paths are absolute, as the init sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    Mount {
        source: String,
        target: PathBuf,
        fstype: String,
        flags: Flags,
        data: Option<String>,
    },
    Bind {
        source: PathBuf,
        target: PathBuf,
    },
    /// Change a bind mount's own read-only flag.
    RemountBind {
        target: PathBuf,
        readonly: bool,
    },
    Propagation {
        target: PathBuf,
        kind: Propagation,
        recursive: bool,
    },
    Move {
        source: PathBuf,
        target: PathBuf,
    },
    /// Lazily unmount (an API mount the new root has no directory for).
    Detach {
        target: PathBuf,
    },
    WriteFile {
        path: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    /// Delete the initramfs, move `new_root` onto `/`, chroot into it.
    SwitchRoot {
        new_root: PathBuf,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Mkdir { path, mode } => write!(f, "mkdir {} (mode {mode:o})", path.display()),
            Step::Mount { source, target, fstype, flags, data } => {
                write!(f, "mount {fstype} {source} on {} ({flags}", target.display())?;
                if let Some(d) = data {
                    write!(f, ",{d}")?;
                }
                f.write_str(")")
            }
            Step::Bind { source, target } => write!(f, "bind {} on {}", source.display(), target.display()),
            Step::RemountBind { target, readonly } => write!(f, "remount {} {}", target.display(), if *readonly { "read-only" } else { "read-write" }),
            Step::Propagation { target, kind, recursive } => {
                let k = match kind {
                    Propagation::Private => "private",
                    Propagation::Slave => "slave",
                    Propagation::Shared => "shared",
                };
                write!(f, "make {} {}{k}", target.display(), if *recursive { "recursively " } else { "" })
            }
            Step::Move { source, target } => write!(f, "move {} to {}", source.display(), target.display()),
            Step::Detach { target } => write!(f, "detach {}", target.display()),
            Step::WriteFile { path, contents, .. } => write!(f, "write {} ({} bytes)", path.display(), contents.len()),
            Step::SwitchRoot { new_root } => write!(f, "switch root to {}", new_root.display()),
        }
    }
}

/// `/proc`, `/sys`, `/dev` (devtmpfs) and `/run` (tmpfs), before anything else.
pub fn early_mounts() -> Vec<Step> {
    let mut steps: Vec<Step> = API_MOUNTS.iter().map(|p| Step::Mkdir { path: PathBuf::from(p), mode: 0o755 }).collect();
    let api = |source: &str, target: &str, fstype: &str, flags: Flags, data: Option<&str>| Step::Mount {
        source: source.into(),
        target: target.into(),
        fstype: fstype.into(),
        flags,
        data: data.map(str::to_string),
    };
    steps.push(api("proc", "/proc", "proc", Flags::API, None));
    steps.push(api("sysfs", "/sys", "sysfs", Flags::API, None));
    steps.push(api("devtmpfs", "/dev", "devtmpfs", Flags { nosuid: true, ..Flags::NONE }, Some("mode=0755")));
    steps.push(api("tmpfs", "/run", "tmpfs", Flags { nosuid: true, nodev: true, ..Flags::NONE }, Some("mode=0755")));
    steps
}

/// What the plan needs to know about the mounted sysroot and the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub deployment: DeploymentPath,
    /// (st_dev, st_ino) of the deployment directory, for `/run/ostree-booted`.
    pub dev_ino: (u64, u64),
    /// The deployment has `.usr-ovl-work`: mount the hotfix overlay.
    pub hotfix: bool,
    /// The sysroot's `boot/loader` is a symlink and the deployment has `boot/`.
    pub bind_boot: bool,
    /// `[sysroot] readonly=true` in the repo config or prepare-root.conf.
    pub sysroot_readonly: bool,
    /// Which of [`API_MOUNTS`] the deployment has a directory for.
    pub api_dirs: Vec<bool>,
}

/// Resolve `ostree=` inside the sysroot mounted at `sysroot`: component
/// by component, never leaving the sysroot, ending exactly at
/// `ostree/deploy/OS/deploy/CSUM.SERIAL`. Errors are reasons (the caller
/// adds the argument).
pub fn resolve_boot_link(sysroot: &Path, arg: &str) -> Result<DeploymentPath, String> {
    if layout::BootLink::parse(arg).is_none() {
        return Err("not of the form /ostree/boot.B/OS/BOOTCSUM/SERIAL".into());
    }
    let link = sysroot.join(arg.trim_start_matches('/'));
    match fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {}
        Ok(_) => return Err(format!("{arg} is not a symbolic link")),
        // Resolve anyway for a precise reason (which component is missing).
        Err(_) => {}
    }
    let rel = resolve::resolve(sysroot, arg, Confine::Refuse).map_err(|e| match e {
        ResolveError::NotFound { at } => format!("/{at} does not exist in the sysroot"),
        other => other.to_string(),
    })?;
    let dep = DeploymentPath::parse(&rel).ok_or_else(|| format!("resolves to /{rel}, which is not a deployment (ostree/deploy/OS/deploy/CSUM.SERIAL)"))?;
    if !fs::metadata(sysroot.join(&rel)).is_ok_and(|m| m.is_dir()) {
        return Err(format!("resolves to /{rel}, which is not a directory"));
    }
    Ok(dep)
}

/// GKeyFile boolean `[group] key` (`true`/`false`/`1`/`0`); absent → false.
pub fn keyfile_bool(text: &str, group: &str, key: &str) -> bool {
    let mut in_group = false;
    let mut val = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_group = line == format!("[{group}]");
        } else if in_group {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    val = matches!(v.trim(), "true" | "1");
                }
            }
        }
    }
    val
}

/// Look at the mounted sysroot (`sysroot` is where it is mounted, `/sysroot`
/// at boot) and the initramfs root (`initramfs`, for prepare-root.conf).
pub fn inspect(sysroot: &Path, initramfs: &Path, dep: &DeploymentPath) -> Result<Inspection, String> {
    let dir = sysroot.join(dep.relpath());
    let meta = fs::symlink_metadata(&dir).map_err(|e| format!("stat: {e}"))?;
    for required in ["usr", "var", "sysroot"] {
        if !fs::metadata(dir.join(required)).is_ok_and(|m| m.is_dir()) {
            return Err(format!("has no /{required} directory"));
        }
    }
    let var = sysroot.join(layout::stateroot_var_relpath(&dep.osname));
    if !fs::metadata(&var).is_ok_and(|m| m.is_dir()) {
        return Err(format!("its stateroot has no /{} directory", layout::stateroot_var_relpath(&dep.osname)));
    }
    let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
    let sysroot_readonly = keyfile_bool(&read(sysroot.join("ostree/repo/config")), "sysroot", "readonly")
        || keyfile_bool(&read(initramfs.join("usr/lib/ostree/prepare-root.conf")), "sysroot", "readonly")
        || keyfile_bool(&read(initramfs.join("etc/ostree/prepare-root.conf")), "sysroot", "readonly");
    let bind_boot = fs::symlink_metadata(sysroot.join("boot/loader")).is_ok_and(|m| m.file_type().is_symlink())
        && fs::symlink_metadata(dir.join("boot")).is_ok_and(|m| m.is_dir());
    Ok(Inspection {
        deployment: dep.clone(),
        dev_ino: (meta.dev(), meta.ino()),
        hotfix: fs::symlink_metadata(dir.join(layout::HOTFIX_USR_OVL_WORK)).is_ok(),
        bind_boot,
        sysroot_readonly,
        api_dirs: API_MOUNTS.iter().map(|m| fs::symlink_metadata(dir.join(&m[1..])).is_ok_and(|m| m.is_dir())).collect(),
    })
}

fn p(s: impl AsRef<str>) -> PathBuf {
    PathBuf::from(s.as_ref())
}

fn carry_api_mounts(steps: &mut Vec<Step>, new_root: &str, has_dir: &[bool]) {
    for (m, present) in API_MOUNTS.iter().zip(has_dir) {
        steps.push(if *present { Step::Move { source: p(m), target: p(format!("{new_root}{m}")) } } else { Step::Detach { target: p(m) } });
    }
}

/// The steps that turn a mounted sysroot into the deployment's root.
/// `fs_read_only`: the root filesystem was mounted read-only (`ro`).
pub fn deployment_plan(insp: &Inspection, fs_read_only: bool) -> Result<Vec<Step>, String> {
    let dep = format!("{SYSROOT}/{}", insp.deployment.relpath());
    let var = format!("{SYSROOT}/{}", layout::stateroot_var_relpath(&insp.deployment.osname));
    let t = NEWROOT;
    let mut s = vec![
        Step::Propagation { target: p("/"), kind: Propagation::Private, recursive: true },
        Step::Mkdir { path: p("/run/ostree"), mode: 0o755 },
        Step::Mkdir { path: p(t), mode: 0o755 },
        Step::Bind { source: p(&dep), target: p(t) },
    ];
    if insp.bind_boot {
        s.push(Step::Bind { source: p(format!("{SYSROOT}/boot")), target: p(format!("{t}/boot")) });
    }
    if insp.sysroot_readonly {
        s.push(Step::Bind { source: p(format!("{dep}/etc")), target: p(format!("{t}/etc")) });
        s.push(Step::RemountBind { target: p(format!("{t}/etc")), readonly: false });
    }
    if insp.hotfix {
        // overlayfs splits its options at ',' and ':'.
        if dep.contains([',', ':']) {
            return Err(format!("{dep} contains ',' or ':', which overlayfs options cannot carry"));
        }
        let data = format!("lowerdir={t}/usr,upperdir={dep}/{},workdir={dep}/{}", layout::HOTFIX_USR_OVL_UPPER, layout::HOTFIX_USR_OVL_WORK);
        s.push(Step::Mount {
            source: "overlay".into(),
            target: p(format!("{t}/usr")),
            fstype: "overlay".into(),
            flags: Flags { readonly: fs_read_only, ..Flags::NONE },
            data: Some(data),
        });
    } else {
        s.push(Step::Bind { source: p(format!("{t}/usr")), target: p(format!("{t}/usr")) });
        s.push(Step::RemountBind { target: p(format!("{t}/usr")), readonly: true });
    }
    if insp.sysroot_readonly {
        s.push(Step::Bind { source: p(&var), target: p(&var) });
        s.push(Step::RemountBind { target: p(&var), readonly: false });
    }
    s.push(Step::Bind { source: p(&var), target: p(format!("{t}/var")) });
    // Slave, then shared: mounts made under /var later do not propagate
    // back into the stateroot's copy (as prepare-root does).
    s.push(Step::Propagation { target: p(format!("{t}/var")), kind: Propagation::Slave, recursive: false });
    s.push(Step::Propagation { target: p(format!("{t}/var")), kind: Propagation::Shared, recursive: false });
    s.push(Step::WriteFile {
        path: p(layout::RUN_OSTREE_BOOTED),
        contents: booted::ostree_booted(insp.dev_ino.0, insp.dev_ino.1, insp.sysroot_readonly),
        mode: 0o644,
    });
    s.push(Step::Move { source: p(SYSROOT), target: p(format!("{t}/sysroot")) });
    if insp.sysroot_readonly {
        s.push(Step::RemountBind { target: p(format!("{t}/sysroot")), readonly: true });
    }
    carry_api_mounts(&mut s, t, &insp.api_dirs);
    s.push(Step::SwitchRoot { new_root: p(t) });
    Ok(s)
}

/// No `ostree=`: the root filesystem itself becomes `/` (a plain
/// switch_root, for images that are not OSTree deployments).
pub fn plain_plan(sysroot: &Path) -> Vec<Step> {
    let has: Vec<bool> = API_MOUNTS.iter().map(|m| fs::symlink_metadata(sysroot.join(&m[1..])).is_ok_and(|m| m.is_dir())).collect();
    let mut s = vec![Step::Propagation { target: p("/"), kind: Propagation::Private, recursive: true }];
    carry_api_mounts(&mut s, SYSROOT, &has);
    s.push(Step::SwitchRoot { new_root: p(SYSROOT) });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const C: &str = "7af2663972d05825f4e4dda0f854c7f8b4b17015d55e3b234606e10e485c1252";

    /// A sysroot as `uptree admin deploy` lays it out.
    fn sysroot() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tmp");
        let r = t.path();
        let dep = r.join(format!("ostree/deploy/os/deploy/{C}.0"));
        for d in ["usr/sbin", "etc", "var", "sysroot", "boot", "dev", "proc", "sys", "run"] {
            fs::create_dir_all(dep.join(d)).expect("mkdir");
        }
        fs::create_dir_all(r.join("ostree/deploy/os/var")).expect("mkdir");
        fs::create_dir_all(r.join("ostree/boot.1.0/os/bc")).expect("mkdir");
        fs::create_dir_all(r.join("ostree/repo")).expect("mkdir");
        fs::write(r.join("ostree/repo/config"), "[core]\nrepo_version=1\nmode=bare\n").expect("config");
        symlink("boot.1.0", r.join("ostree/boot.1")).expect("ln");
        symlink(format!("../../../deploy/os/deploy/{C}.0"), r.join("ostree/boot.1.0/os/bc/0")).expect("ln");
        fs::create_dir_all(r.join("boot/loader.1")).expect("mkdir");
        symlink("loader.1", r.join("boot/loader")).expect("ln");
        t
    }

    fn dp() -> DeploymentPath {
        DeploymentPath::parse(&format!("ostree/deploy/os/deploy/{C}.0")).expect("path")
    }

    #[test]
    fn boot_link_resolution() {
        let t = sysroot();
        let r = t.path();
        assert_eq!(resolve_boot_link(r, "/ostree/boot.1/os/bc/0"), Ok(dp()));
        let e = resolve_boot_link(r, "/ostree/boot.1/os/bc/7").expect_err("missing");
        assert_eq!(e, "/ostree/boot.1.0/os/bc/7 does not exist in the sysroot");
        assert!(resolve_boot_link(r, "/ostree/boot.0/os/bc/0").expect_err("no boot.0").contains("ostree/boot.0 does not exist"));
        assert!(resolve_boot_link(r, "/etc/passwd").expect_err("form").contains("not of the form"));
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/../0").expect_err("form").contains("not of the form"));
        // Links that resolve inside the sysroot but not to a deployment.
        symlink("../../../repo", r.join("ostree/boot.1.0/os/bc/1")).expect("ln");
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/bc/1").expect_err("repo").contains("not a deployment"));
        symlink("../../../../../../../../../../etc", r.join("ostree/boot.1.0/os/bc/2")).expect("ln");
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/bc/2").expect_err("escape").contains("outside the sysroot"));
        symlink(format!("/ostree/deploy/os/deploy/{C}.0"), r.join("ostree/boot.1.0/os/bc/3")).expect("ln");
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/bc/3").expect_err("absolute").contains("absolute symlink"));
        // The boot link itself must be a symlink (as ostree-prepare-root requires).
        fs::create_dir_all(r.join("ostree/boot.1.0/os/bc/4")).expect("mkdir");
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/bc/4").expect_err("dir").contains("not a symbolic link"));
        // A deployment name that is a file, not a directory.
        fs::write(r.join(format!("ostree/deploy/os/deploy/{C}.5")), b"").expect("write");
        symlink(format!("../../../deploy/os/deploy/{C}.5"), r.join("ostree/boot.1.0/os/bc/5")).expect("ln");
        assert!(resolve_boot_link(r, "/ostree/boot.1/os/bc/5").expect_err("file").contains("not a directory"));
    }

    #[test]
    fn the_plan_for_a_plain_deployment() {
        let t = sysroot();
        let insp = inspect(t.path(), Path::new("/nonexistent"), &dp()).expect("inspect");
        assert!(insp.bind_boot && !insp.hotfix && !insp.sysroot_readonly);
        assert_eq!(insp.api_dirs, vec![true; 4]);
        let plan = deployment_plan(&insp, false).expect("plan");
        let text: Vec<String> = plan.iter().map(|s| s.to_string()).collect();
        let d = format!("/sysroot/ostree/deploy/os/deploy/{C}.0");
        assert_eq!(
            text,
            vec![
                "make / recursively private".to_string(),
                "mkdir /run/ostree (mode 755)".into(),
                "mkdir /sysroot.tmp (mode 755)".into(),
                format!("bind {d} on /sysroot.tmp"),
                "bind /sysroot/boot on /sysroot.tmp/boot".into(),
                "bind /sysroot.tmp/usr on /sysroot.tmp/usr".into(),
                "remount /sysroot.tmp/usr read-only".into(),
                "bind /sysroot/ostree/deploy/os/var on /sysroot.tmp/var".into(),
                "make /sysroot.tmp/var slave".into(),
                "make /sysroot.tmp/var shared".into(),
                "write /run/ostree-booted (136 bytes)".into(),
                "move /sysroot to /sysroot.tmp/sysroot".into(),
                "move /dev to /sysroot.tmp/dev".into(),
                "move /proc to /sysroot.tmp/proc".into(),
                "move /sys to /sysroot.tmp/sys".into(),
                "move /run to /sysroot.tmp/run".into(),
                "switch root to /sysroot.tmp".into(),
            ]
        );
        let booted = plan.iter().find_map(|s| match s {
            Step::WriteFile { contents, .. } => Some(contents.clone()),
            _ => None,
        });
        assert_eq!(booted, Some(booted::ostree_booted(insp.dev_ino.0, insp.dev_ino.1, false)));
        let m = fs::metadata(t.path().join(dp().relpath())).expect("stat");
        assert_eq!(insp.dev_ino, (m.dev(), m.ino()));
    }

    #[test]
    fn hotfix_readonly_and_missing_dirs() {
        let t = sysroot();
        let r = t.path();
        let dep = r.join(dp().relpath());
        fs::create_dir(dep.join(".usr-ovl-upper")).expect("mkdir");
        fs::create_dir(dep.join(".usr-ovl-work")).expect("mkdir");
        fs::write(r.join("ostree/repo/config"), "[core]\nmode=bare\n\n[sysroot]\nreadonly = true\n").expect("config");
        fs::remove_dir(dep.join("run")).expect("rmdir");
        fs::remove_dir(dep.join("boot")).expect("rmdir");
        let insp = inspect(r, Path::new("/nonexistent"), &dp()).expect("inspect");
        assert!(insp.hotfix && insp.sysroot_readonly && !insp.bind_boot);
        let plan = deployment_plan(&insp, false).expect("plan");
        let text: Vec<String> = plan.iter().map(|s| s.to_string()).collect();
        let d = format!("/sysroot/ostree/deploy/os/deploy/{C}.0");
        let v = "/sysroot/ostree/deploy/os/var";
        let want = [
            format!("bind {d}/etc on /sysroot.tmp/etc"),
            "remount /sysroot.tmp/etc read-write".into(),
            format!("mount overlay overlay on /sysroot.tmp/usr (rw,lowerdir=/sysroot.tmp/usr,upperdir={d}/.usr-ovl-upper,workdir={d}/.usr-ovl-work)"),
            format!("bind {v} on {v}"),
            format!("remount {v} read-write"),
            format!("bind {v} on /sysroot.tmp/var"),
        ];
        let at = text.iter().position(|l| *l == want[0]).expect("etc bind");
        assert_eq!(&text[at..at + want.len()], &want[..]);
        assert!(!text.iter().any(|l| l.contains("/boot on")), "no /boot bind without DEPLOY/boot: {text:?}");
        let mv = text.iter().position(|l| l == "move /sysroot to /sysroot.tmp/sysroot").expect("move");
        assert_eq!(text[mv + 1], "remount /sysroot.tmp/sysroot read-only");
        assert!(text.contains(&"detach /run".to_string()), "{text:?}");
        // Read-only root filesystem: the overlay is mounted read-only too.
        let ro = deployment_plan(&insp, true).expect("plan");
        assert!(ro.iter().any(|s| matches!(s, Step::Mount { fstype, flags, .. } if fstype == "overlay" && flags.readonly)));
    }

    #[test]
    fn inspection_refuses_incomplete_deployments() {
        let t = sysroot();
        let r = t.path();
        fs::remove_dir(r.join(dp().relpath()).join("sysroot")).expect("rmdir");
        assert_eq!(inspect(r, r, &dp()), Err("has no /sysroot directory".into()));
        fs::create_dir(r.join(dp().relpath()).join("sysroot")).expect("mkdir");
        fs::remove_dir(r.join("ostree/deploy/os/var")).expect("rmdir");
        assert!(inspect(r, r, &dp()).expect_err("var").contains("ostree/deploy/os/var"));
    }

    #[test]
    fn prepare_root_conf_in_the_initramfs() {
        let t = sysroot();
        let initramfs = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(initramfs.path().join("usr/lib/ostree")).expect("mkdir");
        fs::write(initramfs.path().join("usr/lib/ostree/prepare-root.conf"), "[sysroot]\nreadonly=1\n").expect("write");
        assert!(inspect(t.path(), initramfs.path(), &dp()).expect("inspect").sysroot_readonly);
    }

    #[test]
    fn keyfile_booleans() {
        assert!(keyfile_bool("[sysroot]\nreadonly=true\n", "sysroot", "readonly"));
        assert!(!keyfile_bool("[sysroot]\nreadonly=false\n", "sysroot", "readonly"));
        assert!(!keyfile_bool("[core]\nreadonly=true\n[sysroot]\n", "sysroot", "readonly"));
        assert!(!keyfile_bool("", "sysroot", "readonly"));
        assert!(keyfile_bool("[sysroot]\nreadonly=0\nreadonly = true\n", "sysroot", "readonly"), "last wins");
    }

    #[test]
    fn plain_switch_root_and_early_mounts() {
        let t = tempfile::tempdir().expect("tmp");
        fs::create_dir(t.path().join("proc")).expect("mkdir");
        let text: Vec<String> = plain_plan(t.path()).iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            vec!["make / recursively private", "detach /dev", "move /proc to /sysroot/proc", "detach /sys", "detach /run", "switch root to /sysroot"]
        );
        let early: Vec<String> = early_mounts().iter().map(|s| s.to_string()).collect();
        assert_eq!(early[4], "mount proc proc on /proc (rw,nosuid,nodev,noexec)");
        assert_eq!(early[6], "mount devtmpfs devtmpfs on /dev (rw,nosuid,mode=0755)");
        assert_eq!(early.len(), 8);
    }
}
