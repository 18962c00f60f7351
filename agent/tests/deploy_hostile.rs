//! `uptree admin deploy` of commits built to reach outside the deployment
//! (issue 10): symlinks to host files and `../..` escapes in `uEnv.txt`,
//! `os-release` and device trees, FIFOs, huge sparse files, an `/etc` whose
//! directories are links to the host's, and numbers in the sysroot past
//! what their types hold. Host data never appears in the sysroot, the host
//! is never written, and a refused deploy leaves the boot configuration as
//! it was. Each scenario runs twice: resolving paths with `openat2`, and
//! with the component walk kernels older than 5.6 get (`UPTREE_RESOLVE=walk`,
//! honoured by debug builds).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Contents of every host file the hostile commits point at.
const MARKER: &str = "HOST-SECRET-5b1e9";

struct Lab {
    // Unmounted before the directory holding it is removed (field order).
    _fs: LoopFs,
    dir: tempfile::TempDir,
    root: PathBuf,
    /// Files outside the sysroot that play the host's.
    host: PathBuf,
    walk: bool,
    trees: std::cell::Cell<u32>,
}

fn sysroot_arg(p: &Path) -> String {
    format!("--sysroot={}", p.display())
}

/// A bootable tree; `extra` adds or replaces entries (fixture lines).
fn spec(gen: u32, extra: &str) -> String {
    format!(
        r#"
f usr/lib/os-release 644 NAME="Test OS"\nID=testos\nPRETTY_NAME="Test OS"\n
f usr/lib/modules/5.10.0-test/vmlinuz 644 kernel{gen}\n
f usr/lib/modules/5.10.0-test/initramfs.img 644 initrd{gen}\n
f usr/etc/hostname 644 board{gen}\n
d var 755
{extra}
"#
    )
}

impl Lab {
    fn new(walk: bool) -> Lab {
        let dir = scratch();
        let fs_ = LoopFs::new(dir.path(), "s", 160, "ext4");
        let root = fs_.mnt.join("sysroot");
        fs::create_dir_all(&root).expect("mkdir");
        up(os_args!["admin", "init-fs", root.as_os_str()]);
        up(os_args!["admin", "os-init", "testos", sysroot_arg(&root)]);
        let host = dir.path().join("host");
        build_tree(
            &host,
            &format!(
                "f hostname 644 {MARKER}\\n\nf os-release 644 PRETTY_NAME=\"{MARKER}\"\\n\nf dtb/board.dtb 644 {MARKER}\nf etc/sub/deep.conf 644 {MARKER}\\n\nf etc/sub/gone.conf 644 {MARKER}\\n\n"
            ),
        );
        Lab { _fs: fs_, dir, root, host, walk, trees: std::cell::Cell::new(0) }
    }

    fn host_abs(&self, rel: &str) -> String {
        self.host.join(rel).to_string_lossy().into_owned()
    }

    /// `../` enough times to climb out of any deployment, then the host path.
    fn host_dots(&self, rel: &str) -> String {
        format!("{}{}", "../".repeat(40), self.host_abs(rel).trim_start_matches('/'))
    }

    /// Commit `spec(gen, extra)` to `testos/stable` of the sysroot's repo.
    fn commit(&self, gen: u32, extra: &str) -> String {
        self.commit_spec(gen, &spec(gen, extra))
    }

    /// Commit a tree to `testos/stable` of the sysroot's repo with the real ostree.
    fn commit_spec(&self, gen: u32, spec: &str) -> String {
        let n = self.trees.get() + 1;
        self.trees.set(n);
        let t = self.dir.path().join(format!("tree{n}"));
        build_tree(&t, spec);
        ostree(os_args![
            repo_arg(&self.root.join("ostree/repo")),
            "commit",
            "-b",
            "testos/stable",
            "-s",
            format!("gen {gen}"),
            format!("--add-metadata-string=version={gen}.0"),
            t.as_os_str()
        ])
        .trim()
        .to_string()
    }

    /// Run uptree with this lab's resolver, bounded in time and memory: the
    /// old code read /dev/zero and FIFOs forever.
    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "120", "prlimit", "--as=4294967296", "--", uptree_bin()]).args(args).arg(sysroot_arg(&self.root));
        c.env("LC_ALL", "C.UTF-8").env("RUST_BACKTRACE", "0");
        if self.walk {
            c.env("UPTREE_RESOLVE", "walk");
        }
        c.output().expect("run uptree")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} (walk: {}) failed: {:?}\n{}", self.walk, out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Must fail cleanly (exit 1, no panic) with `needle` in the message.
    fn refused(&self, args: &[&str], needle: &str) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?} (walk: {}): expected a clean error, got {:?}\n{err}", self.walk, out.status);
        assert!(!err.contains("panicked"), "panic: {err}");
        assert!(err.contains(needle), "{args:?} (walk: {}): expected {needle:?} in:\n{err}", self.walk);
        err
    }

    fn deploy(&self) -> String {
        self.ok(&["admin", "deploy", "--os=testos", "testos/stable"])
    }

    fn uenv(&self) -> String {
        fs::read_to_string(self.root.join("boot/loader/uEnv.txt")).expect("uEnv.txt")
    }

    /// The deployment `csum` (serial 0).
    fn dep(&self, csum: &str) -> PathBuf {
        self.root.join(format!("ostree/deploy/testos/deploy/{csum}.0"))
    }

    /// What boots, and which deployments exist: unchanged by a refused deploy.
    fn boot_state(&self) -> Vec<String> {
        let mut v = listing(&self.root, &["ostree/repo", "ostree/lock"]);
        v.retain(|l| !l.contains("/deploy/testos/deploy/") || l.matches('/').count() == 4);
        // Directories for uptree's own records may stay; files may not.
        v.retain(|l| !l.starts_with("d ostree/uptree"));
        v.push(self.uenv());
        v
    }

    /// No file of the sysroot holds host data; the host files are intact.
    fn assert_no_host_data(&self, step: &str) {
        fn walk(p: &Path, step: &str) {
            for e in fs::read_dir(p).expect("read_dir").map(|e| e.expect("entry")) {
                let t = e.file_type().expect("type");
                if t.is_dir() {
                    walk(&e.path(), step);
                } else if t.is_file() {
                    let data = fs::read(e.path()).expect("read");
                    assert!(!String::from_utf8_lossy(&data).contains(MARKER), "{step}: host data in {}", e.path().display());
                }
            }
        }
        walk(&self.root, step);
        for f in ["hostname", "os-release", "dtb/board.dtb", "etc/sub/deep.conf", "etc/sub/gone.conf"] {
            let t = fs::read_to_string(self.host.join(f)).unwrap_or_else(|e| panic!("{step}: host file {f}: {e}"));
            assert!(t.starts_with(MARKER) || t.contains(MARKER), "{step}: host file {f} changed: {t:?}");
        }
    }
}

fn both(test: impl Fn(&Lab)) {
    for walk in [false, true] {
        test(&Lab::new(walk));
    }
}

#[test]
fn uenv_txt_links_out_of_the_deployment_read_nothing_of_the_host() {
    both(|lab| {
        // A link inside the deployment is followed, as ostree does.
        lab.commit(1, "f usr/share/board/uEnv.txt 644 bootcmd_extra=inside\\n\nl usr/lib/ostree-boot/uEnv.txt ../../share/board/uEnv.txt");
        lab.deploy();
        assert!(lab.uenv().contains("bootcmd_extra=inside\n"), "{}", lab.uenv());
        for (gen, target) in [(2, lab.host_abs("hostname")), (3, lab.host_dots("hostname")), (4, "/dev/zero".to_string())] {
            lab.commit(gen, &format!("l usr/lib/ostree-boot/uEnv.txt {target}"));
            // Resolved inside the deployment the link dangles: no uEnv.txt to append.
            lab.deploy();
            let uenv = lab.uenv();
            assert!(uenv.contains("kernel_image=/boot/ostree/testos-"), "{uenv}");
            assert!(!uenv.contains("bootcmd_extra") && !uenv.contains('\0'), "{target}: {uenv:?}");
            lab.assert_no_host_data(&target);
        }
    });
}

#[test]
fn uenv_txt_fifo_or_huge_sparse_file_is_refused_and_nothing_changes() {
    both(|lab| {
        let c1 = lab.commit(1, "f usr/lib/ostree-boot/uEnv.txt 644 bootcmd_extra=one\\n");
        lab.deploy();
        let uenv = lab.dep(&c1).join("usr/lib/ostree-boot/uEnv.txt");
        lab.commit(2, "");
        // The existing deployment stays first (--not-as-default), so its
        // uEnv.txt is the one appended: a FIFO, then a 64 GiB sparse file.
        type Spoil = fn(&Path);
        let spoilers: [(Spoil, &str); 2] = [
            (
                |p| {
                    ok("mkfifo", os_args![p.as_os_str()], &[]);
                },
                "is a FIFO, not a regular file",
            ),
            (|p| fs::File::create(p).and_then(|f| f.set_len(64 << 30)).expect("sparse"), "more than the 262144 allowed"),
        ];
        for (spoil, why) in spoilers {
            fs::remove_file(&uenv).expect("rm");
            spoil(&uenv);
            let before = lab.boot_state();
            lab.refused(&["admin", "deploy", "--os=testos", "--not-as-default", "testos/stable"], why);
            assert_eq!(lab.boot_state(), before, "{why}: the refused deploy changed the sysroot");
        }
    });
}

#[test]
fn device_tree_links_out_of_the_deployment_copy_nothing_of_the_host() {
    both(|lab| {
        for (gen, target) in [(1, lab.host_abs("dtb")), (2, lab.host_dots("dtb"))] {
            lab.commit(gen, &format!("l usr/lib/modules/5.10.0-test/dtb {target}"));
            lab.deploy();
            assert!(!lab.uenv().contains("fdtdir"), "{target}: {}", lab.uenv());
            lab.assert_no_host_data(&target);
        }
        // A dtb directory inside the tree is used; a link in it is refused (ostree: ELOOP).
        lab.commit(3, "f usr/lib/modules/5.10.0-test/dtb/vendor/a.dtb 644 dtb-a");
        lab.deploy();
        assert!(lab.uenv().contains("fdtdir=/boot/ostree/testos-"), "{}", lab.uenv());
        lab.commit(4, &format!("f usr/lib/modules/5.10.0-test/dtb/a.dtb 644 dtb-a\nl usr/lib/modules/5.10.0-test/dtb/b.dtb {}", lab.host_abs("dtb/board.dtb")));
        let before = lab.boot_state();
        lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], "the device tree is a symbolic link");
        assert_eq!(lab.boot_state(), before);
        lab.assert_no_host_data("dtb/b.dtb link");
    });
}

/// `spec(gen, extra)` without its line starting with `drop`.
fn spec_without(gen: u32, drop: &str, extra: &str) -> String {
    spec(gen, extra).lines().filter(|l| !l.starts_with(drop)).collect::<Vec<_>>().join("\n")
}

#[test]
fn kernel_and_initramfs_links_never_reach_the_host() {
    both(|lab| {
        let vmlinuz = "f usr/lib/modules/5.10.0-test/vmlinuz ";
        // Resolved inside the deployment the link dangles: there is no kernel.
        lab.commit_spec(1, &spec_without(1, vmlinuz, &format!("l usr/lib/modules/5.10.0-test/vmlinuz {}", lab.host_abs("hostname"))));
        lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], "Failed to find kernel");
        lab.assert_no_host_data("vmlinuz -> host");
        // A link inside the deployment: ostree opens kernels O_NOFOLLOW and fails.
        lab.commit_spec(2, &spec_without(2, vmlinuz, "f usr/lib/kernel-real 644 k\nl usr/lib/modules/5.10.0-test/vmlinuz ../../kernel-real"));
        lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], "the kernel is a symbolic link");
        // An initramfs link out of the deployment dangles: booted without one.
        let initramfs = "f usr/lib/modules/5.10.0-test/initramfs.img ";
        lab.commit_spec(3, &spec_without(3, initramfs, &format!("l usr/lib/modules/5.10.0-test/initramfs.img {}", lab.host_dots("hostname"))));
        lab.deploy();
        assert!(!lab.uenv().contains("ramdisk_image"), "{}", lab.uenv());
        lab.assert_no_host_data("initramfs.img -> host");
    });
}

#[test]
fn os_release_links_out_of_the_deployment_read_nothing_of_the_host() {
    both(|lab| {
        // etc/os-release -> ../usr/lib/os-release, the usual layout.
        lab.commit(1, "l usr/etc/os-release ../usr/lib/os-release");
        lab.deploy();
        for (gen, target) in [(2, lab.host_abs("os-release")), (3, lab.host_dots("os-release"))] {
            // usr/lib/os-release dangles inside the deployment: etc/os-release is read, as ostree does on ENOENT.
            let extra = format!("l usr/lib/os-release {target}\nf usr/etc/os-release 644 PRETTY_NAME=\"Inside OS\"\\n");
            let spec = spec(gen, &extra);
            let regular = spec.lines().find(|l| l.starts_with("f usr/lib/os-release")).expect("os-release line").to_string();
            lab.commit_spec(gen, &spec.replace(&regular, ""));
            lab.deploy();
            let entries = lab.root.join("boot/loader/entries");
            let first = fs::read_to_string(entries.join(format!("ostree-{}-testos.conf", 2))).expect("entry");
            assert!(first.contains("title Inside OS"), "{target}: {first}");
            lab.assert_no_host_data(&target);
        }
    });
}

#[test]
fn etc_merge_never_writes_or_deletes_through_a_linked_directory() {
    both(|lab| {
        let c1 = lab.commit(1, "f usr/etc/sub/deep.conf 644 d\nf usr/etc/sub/gone.conf 644 x");
        lab.deploy();
        let etc = lab.dep(&c1).join("etc");
        fs::write(etc.join("sub/deep.conf"), "LOCAL\n").expect("edit");
        fs::remove_file(etc.join("sub/gone.conf")).expect("rm");
        for (gen, extra, why) in [
            (2, format!("l usr/etc/sub {}", lab.host_abs("etc/sub")), "sub is a symbolic link in the new /etc"),
            (3, format!("l usr/etc/sub {}", lab.host_dots("etc/sub")), "sub is a symbolic link in the new /etc"),
            (4, format!("l usr/etc {}", lab.host_abs("etc")), "/usr/etc is a symbolic link in the commit"),
        ] {
            if gen == 4 {
                // spec() has a usr/etc directory: here usr/etc itself is the link.
                lab.commit_spec(gen, &spec(gen, &extra).replace("f usr/etc/hostname 644 board4\\n", ""));
            } else {
                lab.commit(gen, &extra);
            }
            let before = lab.boot_state();
            lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], why);
            assert_eq!(lab.boot_state(), before, "{why}");
            lab.assert_no_host_data(why);
        }
    });
}

#[test]
fn deployment_serials_past_u32_are_ignored_or_refused_never_a_panic() {
    both(|lab| {
        let c = lab.commit(1, "");
        lab.deploy();
        let deploy_dir = lab.root.join("ostree/deploy/testos/deploy");
        for big in ["4294967296", "99999999999999999999"] {
            fs::create_dir(deploy_dir.join(format!("{c}.{big}"))).expect("mkdir");
        }
        lab.deploy();
        assert!(deploy_dir.join(format!("{c}.1")).is_dir(), "the next serial after .0");
        fs::create_dir(deploy_dir.join(format!("{c}.4294967295"))).expect("mkdir");
        let before = lab.boot_state();
        lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], "deployment serial 4294967295 cannot be incremented");
        assert_eq!(lab.boot_state(), before);
        lab.ok(&["admin", "status"]);
    });
}

#[test]
fn failed_commits_with_huge_counts_are_read_not_wrapped() {
    let lab = Lab::new(false);
    let c = lab.commit(1, "");
    lab.deploy();
    let dir = lab.root.join("ostree/uptree");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(
        dir.join("failed-commits.json"),
        format!(
            r#"{{"failed":[{{"checksum":"{c}","osname":"testos","count":99999999999999999999,"detected-unix":18446744073709551615,"reason":"r"}},{{"checksum":"{}","count":4294967295}}]}}"#,
            "0".repeat(64)
        ),
    )
    .expect("write");
    let st: serde_json::Value = serde_json::from_str(&lab.ok(&["admin", "status", "--json"])).expect("json");
    let counts: Vec<_> = st["failed-commits"].as_array().expect("failed-commits").iter().map(|f| f["count"].as_u64()).collect();
    assert_eq!(counts, [Some(u64::from(u32::MAX)), Some(u64::from(u32::MAX))], "{st:#}");
    let text = lab.ok(&["admin", "status"]);
    assert!(text.contains("4294967295 time(s)"), "{text}");
}

#[test]
fn a_commit_carrying_the_hotfix_overlay_directories_is_refused() {
    // `.usr-ovl-work` in a deployment makes the init mount a writable /usr
    // overlay at every boot; a link there would send `unlock --hotfix`'s
    // overlay to the host. Only `admin unlock --hotfix` may create them.
    let lab = Lab::new(false);
    lab.commit(1, "");
    lab.deploy();
    for (gen, extra) in [(2, "d .usr-ovl-work 755".to_string()), (3, format!("l .usr-ovl-upper {}", lab.host_abs("etc")))] {
        lab.commit(gen, &extra);
        let before = lab.boot_state();
        lab.refused(&["admin", "deploy", "--os=testos", "testos/stable"], "is reserved for the hotfix overlay");
        assert_eq!(lab.boot_state(), before, "{extra}");
    }
}
