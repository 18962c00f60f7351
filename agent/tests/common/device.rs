//! A device for update tests: a sysroot of its own on a loop-mounted
//! filesystem, an archive "server" repo committed to by the real ostree,
//! and the shipped status JSON Schema checked with Python's `jsonschema`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::*;
use crate::os_args;

pub const REF: &str = "testos/stable";

/// A bootable tree; `big` adds a large incompressible file.
pub fn os_tree(dir: &Path, gen: &str, big: bool) -> PathBuf {
    let t = dir.join(format!("os-{gen}"));
    build_tree(
        &t,
        &format!(
            "f usr/lib/os-release 644 NAME=\"Test OS\"\\nID=testos\\n\n\
             f usr/lib/modules/5.10.0-test/vmlinuz 644 kernel {gen}\\n\n\
             f usr/lib/modules/5.10.0-test/initramfs.img 644 initrd {gen}\\n\n\
             f usr/etc/hostname 644 board\\n\n\
             f usr/share/gen 644 {gen}\\n\n\
             d var 755"
        ),
    );
    if big {
        for i in 0..40u64 {
            fs::write(t.join(format!("usr/share/blob{i}")), noise(64 << 10, i + 1)).expect("blob");
        }
        fs::write(t.join("usr/share/big.bin"), noise(4 << 20, 99)).expect("big");
    }
    t
}

pub struct Device {
    _fs: LoopFs,
    pub root: PathBuf,
    pub server: PathBuf,
    pub dir: PathBuf,
}

impl Device {
    pub fn new(dir: &Path) -> Device {
        let fs_ = LoopFs::new(dir, "sysroot", 192, "ext4");
        let root = fs_.mnt.join("sysroot");
        fs::create_dir_all(&root).expect("sysroot");
        up(os_args!["admin", "init-fs", root.as_os_str()]);
        up(os_args!["admin", "os-init", "testos", self_arg(&root)]);
        let server = dir.join("server");
        ostree(os_args![repo_arg(&server), "init", "--mode=archive"]);
        Device { _fs: fs_, root, server, dir: dir.to_path_buf() }
    }

    pub fn commit(&self, gen: &str, ts: &str, big: bool) -> String {
        let tree = os_tree(&self.dir, gen, big);
        let c = ostree(os_args![
            repo_arg(&self.server),
            "commit",
            "-b",
            REF,
            "-s",
            gen,
            format!("--timestamp={ts}"),
            format!("--add-metadata-string=version={gen}"),
            tree.display().to_string()
        ]);
        ostree(os_args![repo_arg(&self.server), "summary", "-u"]);
        c
    }

    pub fn repo(&self) -> PathBuf {
        self.root.join("ostree/repo")
    }

    /// Add `origin`, pull and deploy what it has now.
    pub fn first_deploy(&self, url: &str, extra: &[String]) {
        let mut a = vec![repo_arg(&self.repo()), "remote".into(), "add".into(), "--no-gpg-verify".into(), "origin".into(), url.into()];
        a.extend(extra.iter().cloned());
        up(&a.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>());
        up(os_args![repo_arg(&self.repo()), "pull", "origin", REF]);
        up(os_args!["admin", "deploy", "--os=testos", "--karg=root=/dev/vda2", format!("origin:{REF}"), self_arg(&self.root)]);
    }

    pub fn status(&self) -> Value {
        let out = up(os_args!["admin", "status", "--json", self_arg(&self.root)]);
        serde_json::from_str(&out).expect("status json")
    }

    pub fn agent_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(uptree_bin());
        c.arg("agent").arg(self_arg(&self.root)).arg(format!("--config={}", self.dir.join("agent.conf").display())).args(args);
        c.env("RUST_LOG", "warn").env("TZ", "UTC");
        c
    }

    pub fn config(&self, text: &str) {
        fs::write(self.dir.join("agent.conf"), text).expect("agent.conf");
    }
}

pub fn self_arg(root: &Path) -> String {
    format!("--sysroot={}", root.display())
}

pub fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/status.schema.json")
}

/// Validate `v` against the shipped schema; `Err(message)` if invalid.
pub fn validate(v: &Value, dir: &Path) -> Result<(), String> {
    let f = dir.join("status.json");
    fs::write(&f, serde_json::to_vec(v).expect("json")).expect("write");
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json,sys,jsonschema\njsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
            &f.display().to_string(),
            &schema_path().display().to_string(),
        ])
        .output()
        .expect("/usr/bin/python3 (Debian's, with python3-jsonschema from .ci/test.sh)");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("ModuleNotFoundError"), "python3 has no jsonschema module (install python3-jsonschema): {err}");
    if out.status.success() {
        Ok(())
    } else {
        Err(err)
    }
}
