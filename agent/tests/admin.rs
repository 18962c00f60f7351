//! `uptree admin` against the real `ostree admin`: the same commits
//! deployed with both tools into two sysroots give the same bytes (boot
//! entries, `uEnv.txt`, links, origins, merged /etc), and each tool reads
//! and changes what the other wrote. ostree freezes the filesystem holding
//! `/boot`, so every sysroot here is on a loop-mounted filesystem of its own.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const KARGS: [&str; 2] = ["--karg=root=/dev/vda2", "--karg=rw"];

/// A small bootable OS tree; `gen` changes the kernel and the defaults.
fn os_tree(root: &Path, gen: u32) {
    let spec = format!(
        r#"
f usr/lib/os-release 644 NAME="Test OS"\nID=testos\nPRETTY_NAME="Test OS"\n
f usr/lib/modules/5.10.0-test/vmlinuz 644 kernel{gen}\n
f usr/lib/modules/5.10.0-test/initramfs.img 644 initrd{gen}\n
f usr/lib/modules/5.10.0-test/devicetree 644 dtb{gen}\n
f usr/lib/ostree-boot/uEnv.txt 644 bootcmd_extra=echo hi\n
f usr/etc/hostname 644 board{gen}\n
f usr/etc/app.conf 644 a=default{gen}\n
f usr/etc/gone.conf 644 x\n
f usr/etc/sub/deep.conf 644 d\n
f usr/etc/gen{gen}.conf 644 upstream\n
f usr/bin/hello 755 #!/bin/sh\necho hello {gen}\n
d var 755
"#
    );
    build_tree(root, &spec);
}

struct Lab {
    // Unmounted before the directory holding them is removed (field order).
    _fs: Vec<LoopFs>,
    _dir: tempfile::TempDir,
    src: PathBuf,
    /// Sysroot written by ostree.
    o: PathBuf,
    /// Sysroot written by uptree.
    u: PathBuf,
}

fn sysroot_arg(p: &Path) -> String {
    format!("--sysroot={}", p.display())
}

/// Commit `tree` to `testos/stable` of `repo` with `tool` (`ostree` or `up`).
fn commit_with(tool: fn(&[&std::ffi::OsStr]) -> String, repo: &Path, tree: &Path, version: &str, ts: &str) -> String {
    tool(os_args![
        repo_arg(repo),
        "commit",
        "-b",
        "testos/stable",
        "-s",
        format!("release {version}"),
        format!("--timestamp={ts}"),
        format!("--add-metadata-string=version={version}"),
        tree.as_os_str()
    ])
    .trim()
    .to_string()
}

fn commit(src: &Path, tree: &Path, version: &str, ts: &str) -> String {
    commit_with(ostree, src, tree, version, ts)
}

impl Lab {
    fn new() -> Lab {
        let dir = scratch();
        let src = dir.path().join("src");
        ostree(os_args![repo_arg(&src), "init", "--mode=archive"]);
        let (fo, fu) = (LoopFs::new(dir.path(), "o", 128, "ext4"), LoopFs::new(dir.path(), "u", 128, "ext4"));
        let (o, u) = (fo.mnt.join("sysroot"), fu.mnt.join("sysroot"));
        fs::create_dir_all(&o).expect("mkdir");
        ostree(os_args!["admin", "init-fs", o.as_os_str()]);
        up(os_args!["admin", "init-fs", u.as_os_str()]);
        // Without --sysroot both take $OSTREE_SYSROOT (libtest.sh relies on it).
        ostree_env(os_args!["admin", "os-init", "testos"], &[("OSTREE_SYSROOT", o.to_str().expect("utf-8 path"))]);
        up_env(os_args!["admin", "os-init", "testos"], &[("OSTREE_SYSROOT", u.to_str().expect("utf-8 path"))]);
        // ostree's U-Boot backend needs an existing uEnv.txt before its first
        // deploy; uptree's sysroot stays fresh (it must not need one).
        fs::create_dir_all(o.join("boot/loader.0")).expect("mkdir");
        fs::write(o.join("boot/loader.0/uEnv.txt"), "").expect("seed");
        std::os::unix::fs::symlink("loader.0", o.join("boot/loader")).expect("link");
        Lab { _fs: vec![fo, fu], _dir: dir, src, o, u }
    }

    fn tree(&self, gen: u32) -> PathBuf {
        let t = self.src.with_file_name(format!("tree{gen}"));
        os_tree(&t, gen);
        t
    }

    fn pull_both(&self) {
        let src = self.src.to_string_lossy().into_owned();
        ostree(os_args![repo_arg(&self.o.join("ostree/repo")), "pull-local", src, "testos/stable"]);
        up(os_args![repo_arg(&self.u.join("ostree/repo")), "pull-local", src, "testos/stable"]);
    }

    /// Run an `admin` verb with both tools, each on its own sysroot.
    fn both(&self, args: &[&str]) {
        let mut a: Vec<String> = vec!["admin".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        let with = |p: &Path| {
            let mut v = a.clone();
            v.push(sysroot_arg(p));
            v
        };
        let (ao, au) = (with(&self.o), with(&self.u));
        ok("ostree", &ao.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>(), &[]);
        up(&au.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
    }

    /// Run an `admin` verb that must fail with both tools; their `error:`
    /// lines must be the same.
    fn both_fail(&self, args: &[&str]) -> String {
        let run = |tool: &str, root: &Path| {
            let mut a: Vec<String> = vec!["admin".into()];
            a.extend(args.iter().map(|s| s.to_string()));
            a.push(sysroot_arg(root));
            let err = fails(tool, &a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>(), &[]);
            err.lines().find(|l| l.starts_with("error: ")).map(str::to_string).unwrap_or_else(|| panic!("{tool}: no error line in {err}"))
        };
        let (eo, eu) = (run("ostree", &self.o), run(uptree_bin(), &self.u));
        assert_eq!(eu, eo, "admin {args:?}");
        eu
    }

    /// The sysroots hold the same boot files, links, entries and origins.
    fn assert_same(&self, step: &str) {
        // ostree deletes its lock file after use, uptree keeps it; ostree/uptree
        // holds uptree's own records (/etc merge reports, failed commits).
        let skip = ["ostree/repo", "ostree/lock", "ostree/uptree"];
        let (lo, lu) = (listing(&self.o, &skip), listing(&self.u, &skip));
        let only = |a: &[String], b: &[String]| a.iter().filter(|l| !b.contains(l)).cloned().collect::<Vec<_>>();
        assert!(lo == lu, "{step}: trees differ\nonly ostree: {:#?}\nonly uptree: {:#?}", only(&lo, &lu), only(&lu, &lo));
        // Byte-identical boot configuration.
        for rel in bootfiles(&self.o) {
            let (a, b) = (fs::read(self.o.join(&rel)).expect("read"), fs::read(self.u.join(&rel)).unwrap_or_default());
            assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{step}: {rel} differs");
        }
        // Deployments: same names, same origins, same merged /etc.
        let deploys = |root: &Path| {
            let d = root.join("ostree/deploy/testos/deploy");
            let mut v: Vec<String> = fs::read_dir(&d).expect("deploy dir").map(|e| e.expect("e").file_name().to_string_lossy().into_owned()).collect();
            v.sort();
            v
        };
        assert_eq!(deploys(&self.o), deploys(&self.u), "{step}: deployments differ");
        for name in deploys(&self.o) {
            let (a, b) = (self.o.join("ostree/deploy/testos/deploy").join(&name), self.u.join("ostree/deploy/testos/deploy").join(&name));
            if name.ends_with(".origin") {
                let strip = |t: String| t.lines().take_while(|l| *l != "[uptree-etc-merge]").collect::<Vec<_>>().join("\n");
                assert_eq!(
                    strip(fs::read_to_string(&a).expect("origin")).trim_end(),
                    strip(fs::read_to_string(&b).expect("origin")).trim_end(),
                    "{step}: {name}"
                );
            } else {
                assert_same_tree(&snapshot(&a.join("etc"), true, false), &snapshot(&b.join("etc"), true, false), &format!("{step}: {name}/etc"));
            }
        }
        // Each tool reads both sysroots the same way.
        let status = |tool: &str, root: &Path| ok(tool, os_args!["admin", "status", sysroot_arg(root)], &[]);
        let reference = status("ostree", &self.o);
        assert_eq!(status("ostree", &self.u), reference, "{step}: ostree admin status of uptree's sysroot");
        assert_eq!(status(uptree_bin(), &self.o), reference, "{step}: uptree admin status of ostree's sysroot");
        assert_eq!(status(uptree_bin(), &self.u), reference, "{step}: uptree admin status of its own sysroot");
        assert_eq!(
            ostree(os_args![repo_arg(&self.o.join("ostree/repo")), "refs"]),
            ostree(os_args![repo_arg(&self.u.join("ostree/repo")), "refs"]),
            "{step}: refs"
        );
    }

    fn edit_etc(&self) {
        for root in [&self.o, &self.u] {
            let d = fs::read_dir(root.join("ostree/deploy/testos/deploy"))
                .expect("dir")
                .map(|e| e.expect("e").path())
                .find(|p| p.is_dir() && ostree_default(root).is_some_and(|c| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&c))))
                .expect("default deployment");
            fs::write(d.join("etc/app.conf"), "a=LOCAL\n").expect("edit");
            fs::write(d.join("etc/local.conf"), "mine\n").expect("add");
            fs::remove_file(d.join("etc/gone.conf")).expect("rm");
        }
    }
}

/// The checksum of deployment 0, from its BLS entry's ostree= link.
fn ostree_default(root: &Path) -> Option<String> {
    let loader = root.join("boot/loader/entries");
    let mut best: Option<(u32, String)> = None;
    for e in fs::read_dir(loader).ok()?.flatten() {
        let t = fs::read_to_string(e.path()).ok()?;
        let v: u32 = t.lines().find_map(|l| l.strip_prefix("version "))?.parse().ok()?;
        let link = t.lines().find_map(|l| l.strip_prefix("options "))?.split(' ').find_map(|a| a.strip_prefix("ostree="))?.to_string();
        let target = fs::read_link(root.join(link.trim_start_matches('/'))).ok()?;
        let name = target.file_name()?.to_string_lossy().into_owned();
        if best.as_ref().is_none_or(|(bv, _)| v > *bv) {
            best = Some((v, name.split('.').next()?.to_string()));
        }
    }
    best.map(|b| b.1)
}

/// Boot configuration files of the live bootversion, relative to the sysroot.
fn bootfiles(root: &Path) -> Vec<String> {
    let mut v = vec!["boot/loader/uEnv.txt".to_string()];
    if let Ok(rd) = fs::read_dir(root.join("boot/loader/entries")) {
        let mut names: Vec<String> = rd.map(|e| format!("boot/loader/entries/{}", e.expect("e").file_name().to_string_lossy())).collect();
        names.sort();
        v.extend(names);
    }
    v
}

#[test]
fn deploys_match_ostree_byte_for_byte_and_interoperate() {
    let lab = Lab::new();
    let t1 = lab.tree(1);
    commit(&lab.src, &t1, "1.0", "2024-01-01 00:00:00 +0000");
    lab.pull_both();
    // First deploy: uptree's sysroot is fresh (no boot/loader at all).
    let mut first = vec!["deploy", "--os=testos"];
    first.extend(KARGS);
    first.push("testos/stable");
    // Daemons watch ostree/deploy's mtime: every deploy touches it.
    let mtime = |root: &Path| fs::metadata(root.join("ostree/deploy")).expect("ostree/deploy").modified().expect("mtime");
    let before = [mtime(&lab.o), mtime(&lab.u)];
    lab.both(&first);
    lab.assert_same("first deploy");
    assert!(mtime(&lab.o) > before[0] && mtime(&lab.u) > before[1], "ostree/deploy touched");
    // Staging needs a booted system (and uptree stages nothing at all).
    assert_eq!(
        lab.both_fail(&["deploy", "--stage", "--os=testos", "testos/stable"]),
        "error: Cannot stage deployment: Not currently booted into an OSTree system"
    );
    // ostree's hidden `admin --print-current-dir`: the first deployment's absolute directory.
    let current = |tool: &str, root: &Path| ok(tool, os_args!["admin", sysroot_arg(root), "--print-current-dir"], &[]);
    let dir_o = current("ostree", &lab.o);
    assert!(dir_o.starts_with(&lab.o.display().to_string()) && dir_o.contains("/ostree/deploy/testos/deploy/"), "{dir_o}");
    assert_eq!(current(uptree_bin(), &lab.u), dir_o.replacen(&lab.o.display().to_string(), &lab.u.display().to_string(), 1));
    let uenv = fs::read_to_string(lab.u.join("boot/loader/uEnv.txt")).expect("uEnv.txt");
    assert!(uenv.starts_with("kernel_image=/boot/ostree/testos-") && uenv.contains("bootcmd_extra=echo hi\n"), "{uenv}");

    // Local /etc changes, then an upgrade to a new kernel and new defaults.
    lab.edit_etc();
    let t2 = lab.tree(2);
    commit(&lab.src, &t2, "2.0", "2024-02-01 00:00:00 +0000");
    lab.pull_both();
    lab.both(&["deploy", "--os=testos", "testos/stable"]);
    lab.assert_same("upgrade with /etc merge");
    let uenv = fs::read_to_string(lab.u.join("boot/loader/uEnv.txt")).expect("uEnv.txt");
    for key in ["kernel_image=", "ramdisk_image=", "fdt_file=", "bootargs=", "kernel_image2=", "ramdisk_image2=", "fdt_file2=", "bootargs2="] {
        assert!(uenv.lines().any(|l| l.starts_with(key)), "{key} missing:\n{uenv}");
    }
    let st: serde_json::Value = serde_json::from_str(&up(os_args!["admin", "status", "--json", sysroot_arg(&lab.u)])).expect("json");
    let merge = &st["deployments"][0]["etc-merge"];
    assert_eq!(merge["kept"], serde_json::json!(["app.conf"]), "{st:#}");
    assert_eq!(merge["added"], serde_json::json!(["local.conf"]), "{st:#}");
    assert_eq!(merge["removed"], serde_json::json!(["gone.conf"]), "{st:#}");
    assert_eq!(merge["updated"], serde_json::json!(["gen1.conf", "gen2.conf", "hostname"]), "{st:#}");

    lab.both(&["pin", "1"]);
    lab.assert_same("pin");
    lab.both(&["pin", "--unpin", "1"]);
    lab.assert_same("unpin");
    // ostree 2022.7 has no set-default: uptree on both sysroots (one written by ostree).
    for root in [&lab.o, &lab.u] {
        up(os_args!["admin", "set-default", "1", sysroot_arg(root)]);
    }
    lab.assert_same("set-default");
    let uenv = fs::read_to_string(lab.u.join("boot/loader/uEnv.txt")).expect("uEnv.txt");
    assert!(uenv.contains("/vmlinuz-5.10.0-test\n") && uenv.contains("bootargs2="), "{uenv}");
    lab.both(&["undeploy", "1"]);
    lab.assert_same("undeploy");

    // `admin upgrade` of a local ref: deploy the ref's new commit.
    let t3 = lab.tree(3);
    commit(&lab.src, &t3, "3.0", "2024-03-01 00:00:00 +0000");
    lab.pull_both();
    lab.both(&["upgrade", "--os=testos"]);
    lab.assert_same("upgrade");
    assert!(up(os_args!["admin", "upgrade", sysroot_arg(&lab.u)]).contains("No update available"));

    // `admin switch` to another branch: same origin, same deployments.
    let td = lab.tree(5);
    ostree(os_args![repo_arg(&lab.src), "commit", "-b", "testos/devel", "-s", "devel", "--timestamp=2024-03-15 00:00:00 +0000", td.as_os_str()]);
    let src = lab.src.to_string_lossy().into_owned();
    ostree(os_args![repo_arg(&lab.o.join("ostree/repo")), "pull-local", src.as_str(), "testos/devel"]);
    up(os_args![repo_arg(&lab.u.join("ostree/repo")), "pull-local", src.as_str(), "testos/devel"]);
    lab.both(&["switch", "--os=testos", "testos/devel"]);
    lab.assert_same("switch");
    assert_eq!(lab.both_fail(&["switch", "--os=testos", "testos/devel"]), "error: Old and new refs are equal: testos/devel");
    let origin = fs::read_dir(lab.u.join("ostree/deploy/testos/deploy"))
        .expect("deploy dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "origin"))
        .map(|p| fs::read_to_string(p).expect("origin"))
        .collect::<Vec<_>>();
    assert!(origin.iter().any(|o| o.contains("refspec=testos/devel")), "{origin:?}");
    // Both deleted the old ref (so it can be pruned): fetch it again.
    lab.pull_both();
    lab.both(&["switch", "--os=testos", "testos/stable"]);
    lab.assert_same("switch back");

    // An origin the vendor marked unconfigured: upgrade refuses with its message.
    let origins: Vec<PathBuf> = [&lab.o, &lab.u]
        .iter()
        .flat_map(|root| fs::read_dir(root.join("ostree/deploy/testos/deploy")).expect("dir").map(|e| e.expect("e").path()))
        .filter(|p| p.extension().is_some_and(|x| x == "origin"))
        .collect();
    let saved: Vec<String> = origins.iter().map(|p| fs::read_to_string(p).expect("origin")).collect();
    for (p, text) in origins.iter().zip(&saved) {
        fs::write(p, format!("{text}unconfigured-state=Use the vendor's tool to enable updates\n")).expect("origin");
    }
    assert_eq!(lab.both_fail(&["upgrade", "--os=testos"]), "error: origin unconfigured-state: Use the vendor's tool to enable updates");
    for (p, text) in origins.iter().zip(&saved) {
        fs::write(p, text).expect("origin");
    }

    // Each tool deploys onto the sysroot the other wrote.
    let t4 = lab.tree(4);
    commit(&lab.src, &t4, "4.0", "2024-04-01 00:00:00 +0000");
    lab.pull_both();
    ostree(os_args!["admin", "deploy", "--os=testos", "testos/stable", sysroot_arg(&lab.u)]);
    up(os_args!["admin", "deploy", "--os=testos", "testos/stable", sysroot_arg(&lab.o)]);
    lab.assert_same("cross deploy");
    ostree(os_args!["admin", "cleanup", sysroot_arg(&lab.u)]);
    up(os_args!["admin", "cleanup", sysroot_arg(&lab.o)]);
    lab.assert_same("cross cleanup");
    up(os_args![repo_arg(&lab.u.join("ostree/repo")), "fsck"]);
    ostree(os_args![repo_arg(&lab.o.join("ostree/repo")), "fsck"]);
}

/// The `options` line of the default deployment's boot entry.
fn first_entry_options(root: &Path) -> String {
    let dir = root.join("boot/loader/entries");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir).expect("entries").map(|e| e.expect("e").path()).collect();
    names.sort();
    let text = fs::read_to_string(names.last().expect("an entry")).expect("entry");
    text.lines().find_map(|l| l.strip_prefix("options ")).expect("options").to_string()
}

#[test]
fn kernel_argument_verbs_match_ostree() {
    let lab = Lab::new();
    let t1 = lab.tree(1);
    commit(&lab.src, &t1, "1.0", "2024-01-01 00:00:00 +0000");
    lab.pull_both();
    let mut first = vec!["deploy", "--os=testos"];
    first.extend(KARGS);
    first.push("testos/stable");
    lab.both(&first);
    // set-kargs writes a new bootversion in both.
    lab.both(&["instutil", "set-kargs", "FOO=BAZ", "FOO=BIF", "KEYWORD", "EMPTY="]);
    lab.assert_same("instutil set-kargs");
    lab.both(&["instutil", "set-kargs", "--merge", "--replace=FOO=XXX", "--append=A=1", "--append=A=2", "LAST"]);
    lab.assert_same("instutil set-kargs --merge");
    assert!(first_entry_options(&lab.u).starts_with("FOO=XXX KEYWORD EMPTY= "), "{}", first_entry_options(&lab.u));
    // --karg-none drops the merge deployment's arguments; --karg still applies.
    lab.both(&["deploy", "--os=testos", "--karg-none", "--karg=root=LABEL=rootfs", "testos/stable"]);
    lab.assert_same("deploy --karg-none --karg");
    assert!(first_entry_options(&lab.u).starts_with("root=LABEL=rootfs ostree="), "{}", first_entry_options(&lab.u));
    // Without --repo (and outside a repository) both use $OSTREE_SYSROOT's repository.
    // (ostree lists refs in hash order.)
    let sorted = |t: String| {
        let mut v: Vec<String> = t.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let refs_o = sorted(ostree_env(os_args!["refs"], &[("OSTREE_SYSROOT", lab.o.to_str().expect("utf-8"))]));
    assert_eq!(sorted(up_env(os_args!["refs"], &[("OSTREE_SYSROOT", lab.u.to_str().expect("utf-8"))])), refs_o);
    assert!(refs_o.iter().any(|r| r == "testos/stable"), "{refs_o:?}");
    // edit-in-place: ostree rewrites the live entry, uptree writes a new
    // bootversion; the arguments are the same.
    lab.both(&["kargs", "edit-in-place", "--append-if-missing=FOO=no", "--append-if-missing=NEW=1", "--append-if-missing=quiet2"]);
    let without_ostree = |root: &Path| first_entry_options(root).split(' ').filter(|a| !a.starts_with("ostree=")).collect::<Vec<_>>().join(" ");
    assert_eq!(without_ostree(&lab.u), without_ostree(&lab.o));
    assert_eq!(without_ostree(&lab.u), "root=LABEL=rootfs FOO=no NEW=1 quiet2");
}

#[test]
fn upgrade_follows_an_end_of_life_rebase_as_ostree() {
    let lab = Lab::new();
    let t1 = lab.tree(1);
    commit(&lab.src, &t1, "1.0", "2024-01-01 00:00:00 +0000");
    lab.pull_both();
    let mut first = vec!["deploy", "--os=testos"];
    first.extend(KARGS);
    first.push("testos/stable");
    lab.both(&first);
    // The product moves to testos/next; testos/stable ends with an empty
    // commit pointing there.
    let t2 = lab.tree(2);
    let next = ostree(os_args![
        repo_arg(&lab.src),
        "commit",
        "-b",
        "testos/next",
        "-s",
        "next",
        "--timestamp=2024-02-01 00:00:00 +0000",
        "--add-metadata-string=ostree.source-title=built from the next branch",
        t2.as_os_str()
    ]);
    let empty = lab.src.with_file_name("empty");
    fs::create_dir_all(&empty).expect("empty");
    ostree(os_args![
        repo_arg(&lab.src),
        "commit",
        "-b",
        "testos/stable",
        "-s",
        "EOL",
        "--timestamp=2024-02-02 00:00:00 +0000",
        "--add-metadata-string=ostree.endoflife=Product discontinued",
        "--add-metadata-string=ostree.endoflife-rebase=testos/next",
        empty.as_os_str()
    ]);
    lab.pull_both();
    let src = lab.src.to_string_lossy().into_owned();
    ostree(os_args![repo_arg(&lab.o.join("ostree/repo")), "pull-local", src.as_str(), "testos/next"]);
    up(os_args![repo_arg(&lab.u.join("ostree/repo")), "pull-local", src.as_str(), "testos/next"]);
    lab.both(&["upgrade", "--os=testos"]);
    lab.assert_same("end-of-life rebase");
    let st = status_json(&lab.u);
    assert_eq!(st["deployments"][0]["checksum"], next.as_str(), "{st:#}");
    assert_eq!(st["deployments"][0]["refspec"], "testos/next", "{st:#}");
    assert!(up(os_args!["admin", "status", sysroot_arg(&lab.u)]).contains("\n    `- built from the next branch\n"));

    // set-origin: the remote is added, the deployment follows it.
    lab.both(&["set-origin", "--index=0", "bacon", "--set=gpg-verify=false", "http://tasty.com"]);
    lab.assert_same("set-origin");
    assert_eq!(status_json(&lab.u)["deployments"][0]["refspec"], "bacon:testos/next");
    let remotes = |tool: &str, root: &Path| ok(tool, os_args![repo_arg(&root.join("ostree/repo")), "remote", "list", "-u"], &[]);
    assert_eq!(remotes(uptree_bin(), &lab.u), remotes("ostree", &lab.o));
}

#[test]
fn no_dtb_debug_flag_leaves_device_trees_out_as_ostree() {
    let lab = Lab::new();
    let t1 = lab.tree(1);
    commit(&lab.src, &t1, "1.0", "2024-01-01 00:00:00 +0000");
    lab.pull_both();
    let env = [("OSTREE_SYSROOT_DEBUG", "no-dtb")];
    for (tool, root) in [("ostree", &lab.o), (uptree_bin(), &lab.u)] {
        ok(tool, os_args!["admin", "deploy", "--os=testos", KARGS[0], KARGS[1], "testos/stable", sysroot_arg(root)], &env);
    }
    lab.assert_same("deploy with no-dtb");
    let boot = listing(&lab.u.join("boot"), &[]);
    assert!(!boot.iter().any(|l| l.contains("devicetree")), "{boot:#?}");
}

#[test]
fn remote_add_with_sysroot_writes_where_ostree_does() {
    let dir = scratch();
    let mut seen = Vec::new();
    for (tool, name) in [("ostree", "o"), (uptree_bin(), "u")] {
        let root = dir.path().join(name).join("sysroot");
        fs::create_dir_all(&root).expect("mkdir");
        ok(tool, os_args!["admin", "init-fs", root.as_os_str()], &[]);
        // A physical sysroot: the repo config.
        ok(tool, os_args![format!("--sysroot={}", root.display()), "remote", "add", "--set=gpg-verify=false", "phys", "file:///srv/repo"], &[]);
        // A deployment (it has a sysroot/ directory): its /etc/ostree/remotes.d.
        let depl = dir.path().join(name).join("deployment");
        fs::create_dir_all(&depl).expect("mkdir");
        std::os::unix::fs::symlink(&root, depl.join("sysroot")).expect("symlink");
        std::os::unix::fs::symlink(root.join("ostree"), depl.join("ostree")).expect("symlink");
        ok(tool, os_args!["remote", "add", format!("--sysroot={}", depl.display()), "--set=gpg-verify=false", "nonphys", "file:///srv/repo"], &[]);
        let config = fs::read_to_string(root.join("ostree/repo/config")).expect("config");
        let dropin = fs::read_to_string(depl.join("etc/ostree/remotes.d/nonphys.conf")).expect("remotes.d");
        assert!(config.contains("[remote \"phys\"]") && !config.contains("nonphys"), "{tool}: {config}");
        assert!(!root.join("etc").exists(), "{tool}: nothing in the physical sysroot's /etc");
        seen.push((config, dropin));
    }
    assert_eq!(seen[1], seen[0]);
}

#[test]
fn bootloader_none_and_the_kernel_hmac_as_ostree() {
    let lab = Lab::new();
    let t1 = lab.tree(1);
    fs::write(t1.join("usr/lib/modules/5.10.0-test/.vmlinuz.hmac"), "0123abcd  vmlinuz\n").expect("hmac");
    commit(&lab.src, &t1, "1.0", "2024-01-01 00:00:00 +0000");
    lab.pull_both();
    let mut said = Vec::new();
    for (tool, root) in [("ostree", &lab.o), (uptree_bin(), &lab.u)] {
        ok(tool, os_args![repo_arg(&root.join("ostree/repo")), "config", "set", "sysroot.bootloader", "none"], &[]);
        let out = ok(tool, os_args!["admin", "deploy", "--os=testos", KARGS[0], KARGS[1], "testos/stable", sysroot_arg(root)], &[]);
        said.push(out.lines().last().unwrap_or_default().to_string());
    }
    assert_eq!(said[1], said[0]);
    assert!(said[0].starts_with("Bootloader updated; bootconfig swap: yes;"), "{}", said[0]);
    let boot = |root: &Path| listing(&root.join("boot/ostree"), &[]);
    assert_eq!(boot(&lab.u), boot(&lab.o));
    assert!(boot(&lab.u).iter().any(|l| l.contains("/.vmlinuz-5.10.0-test.hmac ")), "{:#?}", boot(&lab.u));
}

#[test]
fn init_fs_modern_makes_only_boot_and_ostree_as_ostree_does() {
    let dir = scratch();
    let (o, u) = (dir.path().join("o"), dir.path().join("u"));
    for (tool, root) in [("ostree", &o), (uptree_bin(), &u)] {
        fs::create_dir(root).expect("mkdir");
        ok(tool, os_args!["admin", "init-fs", "--modern", root.as_os_str()], &[]);
    }
    let (lo, lu) = (listing(&o, &["ostree/repo"]), listing(&u, &["ostree/repo"]));
    assert_eq!(lu, lo);
    assert!(lo.iter().any(|l| l.starts_with("d boot ")) && !lo.iter().any(|l| l.starts_with("d home ")), "{lo:#?}");
    assert!(u.join("ostree/repo/config").is_file());
}

/// A sysroot written only by uptree, its repo fed by `uptree commit`.
fn uptree_sysroot(dir: &Path) -> (LoopFs, PathBuf) {
    let fs_ = LoopFs::new(dir, "s", 128, "ext4");
    let root = fs_.mnt.join("sysroot");
    fs::create_dir_all(&root).expect("mkdir");
    up(os_args!["admin", "init-fs", root.as_os_str()]);
    up(os_args!["admin", "os-init", "testos", sysroot_arg(&root)]);
    (fs_, root)
}

fn uptree_commit(root: &Path, tree: &Path, version: &str, ts: &str) -> String {
    commit_with(up, &root.join("ostree/repo"), tree, version, ts)
}

fn status_json(root: &Path) -> serde_json::Value {
    serde_json::from_str(&up(os_args!["admin", "status", "--json", sysroot_arg(root)])).expect("status json")
}

#[test]
fn upgrade_never_redeploys_a_failed_commit() {
    let dir = scratch();
    let (_fs, root) = uptree_sysroot(dir.path());
    let tree = |g| {
        let t = dir.path().join(format!("tree{g}"));
        os_tree(&t, g);
        t
    };
    uptree_commit(&root, &tree(1), "1.0", "2024-01-01 00:00:00 +0000");
    let mut first = vec!["admin", "deploy", "--os=testos"];
    first.extend(KARGS);
    first.push("testos/stable");
    let mut a: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    a.push(sysroot_arg(&root));
    up(&a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());

    // Commit 2 is what a fallback boot recorded as failed.
    let bad = uptree_commit(&root, &tree(2), "2.0", "2024-02-01 00:00:00 +0000");
    uptree_deploy::failed::record(
        &root,
        uptree_deploy::failed::Failure {
            checksum: bad.clone(),
            osname: "testos".into(),
            refspec: Some("testos/stable".into()),
            version: Some("2.0".into()),
            detected: 1_706_800_000,
            reason: "bootcount 4 passed bootlimit 3; U-Boot booted the fallback".into(),
            count: 1,
        },
    )
    .expect("record");
    let err = up_fails(os_args!["admin", "upgrade", "--os=testos", sysroot_arg(&root)]);
    assert!(err.contains(&bad) && err.contains("not deploying it automatically"), "{err}");
    let st = status_json(&root);
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "{st:#}");
    assert_eq!(st["failed-commits"][0]["checksum"], serde_json::json!(bad), "{st:#}");
    assert!(st["failed-commits"][0]["reason"].as_str().is_some_and(|r| r.contains("bootlimit")), "{st:#}");
    let text = up(os_args!["admin", "status", sysroot_arg(&root)]);
    assert!(text.contains(&format!("Failed commit: {bad}")), "{text}");

    // An operator may still deploy the failed commit explicitly (here
    // through the ref, which still points at it).
    up(os_args!["admin", "deploy", "--os=testos", "testos/stable", sysroot_arg(&root)]);
    let st = status_json(&root);
    assert_eq!(st["deployments"][0]["checksum"], serde_json::json!(bad), "{st:#}");
    assert!(st["deployments"][0]["failed"]["reason"].is_string(), "{st:#}");

    // A newer commit on the ref is deployed as usual.
    let good = uptree_commit(&root, &tree(3), "3.0", "2024-03-01 00:00:00 +0000");
    up(os_args!["admin", "upgrade", "--os=testos", sysroot_arg(&root)]);
    let st = status_json(&root);
    assert_eq!(st["deployments"][0]["checksum"], serde_json::json!(good), "{st:#}");
}

#[test]
fn unlock_hotfix_keeps_a_clean_rollback_and_ostree_sees_it() {
    let dir = scratch();
    let (_fs, root) = uptree_sysroot(dir.path());
    let t = dir.path().join("tree1");
    os_tree(&t, 1);
    let csum = uptree_commit(&root, &t, "1.0", "2024-01-01 00:00:00 +0000");
    up(os_args!["admin", "deploy", "--os=testos", "--karg=root=/dev/vda2", "testos/stable", sysroot_arg(&root)]);
    let before = status_json(&root);
    let serial = before["deployments"][0]["deployserial"].as_u64().expect("serial");

    // Not booted here: the deployment is named by index.
    let err = up_fails(os_args!["admin", "unlock", "--hotfix", sysroot_arg(&root)]);
    assert!(err.contains("INDEX"), "{err}");
    up(os_args!["admin", "unlock", "--hotfix", "0", sysroot_arg(&root)]);

    let st = status_json(&root);
    let deps = st["deployments"].as_array().expect("deployments");
    assert_eq!(deps.len(), 2, "{st:#}");
    assert_eq!(deps[0]["unlocked"], serde_json::json!("hotfix"), "{st:#}");
    assert_eq!(deps[0]["deployserial"].as_u64(), Some(serial), "{st:#}");
    assert!(deps[1]["unlocked"].is_null() && deps[1]["checksum"] == serde_json::json!(csum), "clean copy is the rollback: {st:#}");
    let dpath = root.join(format!("ostree/deploy/testos/deploy/{csum}.{serial}"));
    for d in [".usr-ovl-upper", ".usr-ovl-work"] {
        assert!(dpath.join(d).is_dir(), "{d} missing");
    }
    let origin = fs::read_to_string(dpath.with_extension(format!("{serial}.origin"))).expect("origin");
    assert!(origin.contains("unlocked=hotfix"), "{origin}");
    // The real ostree reads the unlocked state uptree wrote.
    let ost = ostree(os_args!["admin", "status", sysroot_arg(&root)]);
    assert!(ost.contains("Unlocked: hotfix"), "{ost}");
    let again = up_fails(os_args!["admin", "unlock", "--hotfix", "0", sysroot_arg(&root)]);
    assert!(again.contains("already in unlocked state"), "{again}");
}

#[test]
fn status_reports_an_unreadable_boot_environment_instead_of_failing() {
    let dir = scratch();
    let (_fs, root) = uptree_sysroot(dir.path());
    let t = dir.path().join("tree1");
    os_tree(&t, 1);
    uptree_commit(&root, &t, "1.0", "2024-01-01 00:00:00 +0000");
    up(os_args!["admin", "deploy", "--os=testos", "testos/stable", sysroot_arg(&root)]);
    // The boot partition holding uboot.env is not mounted.
    fs::write(root.join("fw_env.config"), "/nonexistent/uboot.env 0x0 0x4000\n").expect("config");
    up(os_args![repo_arg(&root.join("ostree/repo")), "config", "set", "uptree.fw-env-config", "fw_env.config"]);
    let st = status_json(&root);
    assert_eq!(st["deployments"].as_array().map(Vec::len), Some(1), "{st:#}");
    let err = st["boot-counting"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("/nonexistent/uboot.env"), "{st:#}");
    let text = up(os_args!["admin", "status", sysroot_arg(&root)]);
    assert!(text.contains("Boot counting: unavailable"), "{text}");
}
