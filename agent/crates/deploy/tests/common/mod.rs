//! Fixtures for deployment tests: OS trees from a tiny text description,
//! sysroots in temp dirs, and a checker that says what a board would boot.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ostree_repo::commit::{self, CommitSpec, Layer, TreeOptions};
use ostree_repo::Checksum;
use uptree_deploy::deploy::{self, DeployOptions};
use uptree_deploy::sysroot::{self, LockedSysroot, Sysroot};

/// Build a tree: `f PATH MODE CONTENT` (`\n` escapes), `d PATH MODE`, `l PATH TARGET`.
pub fn build(root: &Path, spec: &str) {
    use std::os::unix::fs::PermissionsExt;
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut it = line.splitn(4, ' ');
        let (kind, path) = (it.next().expect("kind"), root.join(it.next().expect("path")));
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).expect("parent");
        }
        match kind {
            "f" => {
                let mode = u32::from_str_radix(it.next().expect("mode"), 8).expect("mode");
                fs::write(&path, it.next().unwrap_or("").replace("\\n", "\n")).expect("write");
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            }
            "d" => fs::create_dir_all(&path).expect("mkdir"),
            "l" => std::os::unix::fs::symlink(it.next().expect("target"), &path).expect("symlink"),
            k => panic!("unknown fixture kind {k}"),
        }
    }
}

/// A bootable test OS; `gen` changes kernel, initramfs, device tree and defaults.
pub fn os_tree(root: &Path, gen: u32) {
    build(
        root,
        &format!(
            r#"
f usr/lib/os-release 644 NAME="Test OS"\nID=testos\nPRETTY_NAME="Test OS"\n
f usr/lib/modules/6.1.0-test/vmlinuz 644 kernel {gen} {}\n
f usr/lib/modules/6.1.0-test/initramfs.img 644 initramfs {gen}\n
f usr/lib/modules/6.1.0-test/devicetree 644 dtb {gen}\n
f usr/etc/hostname 644 board{gen}\n
f usr/etc/app.conf 644 a={gen}\n
f usr/bin/init 755 #!/bin/sh\n
l usr/sbin ../usr/bin
d var 755
"#,
            "x".repeat(3000)
        ),
    );
}

/// A sysroot in a temp dir with stateroot `testos` and commits of generations 1..=n.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub commits: Vec<Checksum>,
}

pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("uptree-deploy-test-").tempdir_in("/var/tmp").expect("tmp")
}

impl Lab {
    /// `boot_fs`: mount a fresh filesystem of this type on `boot/` ("vfat"), or none.
    pub fn new(gens: u32, boot_fs: Option<&str>) -> (Lab, Option<Mount>) {
        let dir = scratch();
        let root = dir.path().join("sysroot");
        fs::create_dir_all(&root).expect("mkdir");
        sysroot::init_fs(&root, false).expect("init-fs");
        sysroot::os_init(&root, "testos").expect("os-init");
        let mount = boot_fs.map(|t| Mount::new(dir.path(), &root.join("boot"), t));
        let mut repo = ostree_repo::Repo::open(&root.join("ostree/repo")).expect("repo");
        if boot_fs == Some("vfat") {
            // Detection looks for the kernel's vfat; FUSE reports fuseblk.
            repo.update_config(|c| c.set("uptree", "boot-layout", "fat")).expect("config");
        }
        let mut commits = Vec::new();
        for g in 1..=gens {
            let t = dir.path().join(format!("tree{g}"));
            os_tree(&t, g);
            let spec = CommitSpec {
                branch: Some("testos/stable".into()),
                subject: format!("gen {g}"),
                metadata_strings: vec![("version".into(), format!("{g}.0"))],
                timestamp: Some(1_700_000_000 + u64::from(g)),
                ..Default::default()
            };
            commits.push(commit::commit(&repo, &spec, &[Layer::Dir(t)], TreeOptions::default()).expect("commit").checksum);
        }
        (Lab { dir, root, commits }, mount)
    }

    /// A snapshot, to look at.
    pub fn sysroot(&self) -> Sysroot {
        Sysroot::load_unlocked(&self.root).expect("load sysroot")
    }

    /// The sysroot under its lock, to change.
    pub fn locked(&self) -> LockedSysroot {
        Sysroot::lock(&self.root).and_then(|l| l.load()).expect("lock and load sysroot")
    }

    pub fn deploy(&self, gen: usize) -> uptree_deploy::Result<deploy::DeployReport> {
        let mut s = Sysroot::lock(&self.root)?.load()?;
        let opts = DeployOptions {
            osname: Some("testos".into()),
            kargs: deploy::KargsSpec { replace: vec!["root=/dev/vda2".into(), "rw".into()], ..Default::default() },
            ..Default::default()
        };
        deploy::deploy(&mut s, &self.commits[gen - 1].to_hex(), &opts)
    }
}

/// Deployment roots are immutable (as ostree makes them): clear the flag so
/// the temp dir can be removed.
impl Drop for Lab {
    fn drop(&mut self) {
        let stateroots = self.root.join("ostree/deploy");
        for os in fs::read_dir(&stateroots).into_iter().flatten().flatten() {
            for d in fs::read_dir(os.path().join("deploy")).into_iter().flatten().flatten() {
                if let Ok(f) = fs::File::open(d.path()) {
                    use std::os::fd::AsFd;
                    let _ = uptree_sys::fs::set_immutable(f.as_fd(), false);
                }
            }
        }
        // A FUSE boot mount may still be going away (lazy unmount): retry.
        for _ in 0..50 {
            if fs::remove_dir_all(self.dir.path()).is_ok() || !self.dir.path().exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("warning: could not remove {}", self.dir.path().display());
    }
}

/// A loop-mounted filesystem (root only), unmounted on drop.
pub struct Mount {
    pub target: PathBuf,
    img: PathBuf,
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Mount {
    pub fn new(dir: &Path, target: &Path, fstype: &str) -> Mount {
        assert!(nix::unistd::geteuid().is_root(), "loop mounts need root (CI runs as root)");
        let img = dir.join(format!("{fstype}.img"));
        fs::File::create(&img).and_then(|f| f.set_len(64 << 20)).expect("image");
        let i = img.to_string_lossy().into_owned();
        match fstype {
            "vfat" => run("mkfs.vfat", &[&i]),
            "ext4" => run("mkfs.ext4", &["-q", "-F", &i]),
            t => panic!("fstype {t}"),
        }
        let m = Mount { target: target.to_path_buf(), img };
        m.mount(fstype);
        m
    }

    /// vfat goes through FUSE (`fusefat`): this machine's kernel has no
    /// vfat driver, and FUSE gives the same answer to what matters here —
    /// no symlinks (ENOSYS), no hard links (EPERM). Single-threaded (`-s`):
    /// fusefat is not safe with libfuse's concurrent requests, and under
    /// load it was twice seen spinning for ever inside an rmdir.
    fn mount(&self, fstype: &str) {
        let (i, t) = (self.img.to_string_lossy().into_owned(), self.target.to_string_lossy().into_owned());
        match fstype {
            "vfat" => run("fusefat", &["-s", "-o", "rw+", &i, &t]),
            _ => run("mount", &["-o", "loop", &i, &t]),
        }
    }

    /// Unmount and mount again: what a reboot sees is what reached the image.
    pub fn remount(&self, fstype: &str) {
        run("umount", &[&self.target.to_string_lossy()]);
        self.mount(fstype);
    }

    pub fn image(&self) -> &Path {
        &self.img
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let t = self.target.to_string_lossy().into_owned();
        if !Command::new("umount").arg(&t).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&t).status();
        }
        let _ = fs::remove_file(&self.img);
    }
}

/// The `uEnv` variables U-Boot would import: from the live `boot/loader/uEnv.txt`
/// (ostree layout) or the slot the boot script picks (FAT layout).
pub fn boot_vars(root: &Path) -> Option<Vec<(String, String)>> {
    let text = if fs::symlink_metadata(root.join("boot/loader")).is_ok() {
        fs::read_to_string(root.join("boot/loader/uEnv.txt")).ok()?
    } else {
        let slots = uptree_deploy::backend::fat::Fat::slots(root).expect("read slots");
        uptree_deploy::uenv::slot::pick([slots[0].as_ref(), slots[1].as_ref()])?.body.clone()
    };
    Some(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// What a board would boot from entry `sfx` ("" default, "2" fallback):
/// every file the entry names must exist on the boot partition with the
/// content of the deployment its `ostree=` link resolves to, and that
/// deployment must be complete. Returns the deployment's commit.
pub fn check_entry(root: &Path, vars: &[(String, String)], sfx: &str) -> Result<String, String> {
    let get = |k: &str| vars.iter().find(|(n, _)| *n == format!("{k}{sfx}")).map(|(_, v)| v.clone());
    let bootargs = get("bootargs").ok_or("no bootargs")?;
    let link = bootargs.split(' ').find_map(|a| a.strip_prefix("ostree=")).ok_or("no ostree= in bootargs")?;
    let dep = fs::canonicalize(root.join(link.trim_start_matches('/'))).map_err(|e| format!("ostree={link} does not resolve: {e}"))?;
    if !dep.starts_with(root.join("ostree/deploy")) || !dep.join("usr/lib/os-release").is_file() || !dep.join("etc/hostname").is_file() {
        return Err(format!("deployment {} is incomplete", dep.display()));
    }
    let kdir = dep.join("usr/lib/modules/6.1.0-test");
    for (var, file) in [("kernel_image", "vmlinuz"), ("ramdisk_image", "initramfs.img"), ("fdt_file", "devicetree")] {
        let path = get(var).ok_or(format!("no {var}{sfx}"))?;
        let on_boot = fs::read(root.join("boot").join(path.trim_start_matches('/'))).map_err(|e| format!("{var}{sfx}={path}: {e}"))?;
        let want = fs::read(kdir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        if on_boot != want {
            return Err(format!("{var}{sfx}={path} is not the deployment's {file} (torn or stale)"));
        }
    }
    let name = dep.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(name.split('.').next().unwrap_or_default().to_string())
}
