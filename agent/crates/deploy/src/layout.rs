//! Names and paths of an OSTree sysroot (ostree-format.md §7), as pure
//! functions: no I/O, usable from the initramfs.
//!
//! ```text
//! boot/loader -> loader.B            boot/loader.B/entries/ostree-N-OS.conf, uEnv.txt
//! boot/ostree/OS-BOOTCSUM/           vmlinuz-KVER, initramfs-KVER.img, devicetree-KVER
//! ostree/boot.B -> boot.B.S          ostree/boot.B.S/OS/BOOTCSUM/SERIAL -> ../../../deploy/OS/deploy/CSUM.DSERIAL
//! ostree/deploy/OS/deploy/CSUM.DSERIAL[.origin]    ostree/deploy/OS/var
//! ```

/// A parsed `ostree=` boot link: `/ostree/boot.B/OS/BOOTCSUM/SERIAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLink {
    pub bootversion: u32,
    pub osname: String,
    pub bootcsum: String,
    pub bootserial: u32,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// A stateroot name: one path component, no dots at the start.
pub fn valid_osname(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && !s.contains('/') && !s.contains('\0') && s.len() < 256
}

impl BootLink {
    /// Parse as ostree does: `^/ostree/boot.([01])/([^/]+)/([^/]+)/([0-9]+)$`.
    pub fn parse(s: &str) -> Option<BootLink> {
        let rest = s.strip_prefix("/ostree/boot.")?;
        let mut parts = rest.split('/');
        let bootversion = match parts.next()? {
            "0" => 0,
            "1" => 1,
            _ => return None,
        };
        let osname = parts.next()?.to_string();
        let bootcsum = parts.next()?.to_string();
        let serial = parts.next()?;
        if parts.next().is_some()
            || !valid_osname(&osname)
            || bootcsum.is_empty()
            || bootcsum.contains("..")
            || serial.is_empty()
            || !serial.bytes().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        Some(BootLink { bootversion, osname, bootcsum, bootserial: serial.parse().ok()? })
    }

    pub fn path(&self) -> String {
        format!("/ostree/boot.{}/{}/{}/{}", self.bootversion, self.osname, self.bootcsum, self.bootserial)
    }
}

/// `CSUM.SERIAL`, the name of a deployment directory.
pub fn deploy_dir_name(csum: &str, deployserial: u32) -> String {
    format!("{csum}.{deployserial}")
}

/// Parse `CSUM.SERIAL` (a deployment directory name).
pub fn parse_deploy_dir_name(name: &str) -> Option<(String, u32)> {
    let (csum, serial) = name.split_once('.')?;
    if !is_hex64(csum) || serial.is_empty() || !serial.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((csum.to_string(), serial.parse().ok()?))
}

/// `ostree/deploy/OS/deploy/CSUM.SERIAL`, relative to the sysroot.
pub fn deployment_relpath(osname: &str, csum: &str, deployserial: u32) -> String {
    format!("ostree/deploy/{osname}/deploy/{}", deploy_dir_name(csum, deployserial))
}

/// The target of a boot link symlink, relative to `ostree/boot.B.S/OS/BOOTCSUM/`.
pub fn bootlink_target(osname: &str, csum: &str, deployserial: u32) -> String {
    format!("../../../deploy/{osname}/deploy/{}", deploy_dir_name(csum, deployserial))
}

/// `ostree/deploy/OS/var`, the stateroot's shared /var.
pub fn stateroot_var_relpath(osname: &str) -> String {
    format!("ostree/deploy/{osname}/var")
}

/// `boot/ostree/OS-BOOTCSUM`, where kernels are installed.
pub fn boot_csum_dir(osname: &str, bootcsum: &str) -> String {
    format!("ostree/{osname}-{bootcsum}")
}

/// Deployment-root entries of the persistent `/usr` overlay that
/// `admin unlock --hotfix` creates; ostree-prepare-root mounts
/// `overlay lowerdir=usr,upperdir=.usr-ovl-upper,workdir=.usr-ovl-work`
/// on `/usr` at every boot when the work directory exists.
pub const HOTFIX_USR_OVL_UPPER: &str = ".usr-ovl-upper";
pub const HOTFIX_USR_OVL_WORK: &str = ".usr-ovl-work";

/// Written by the initramfs when it booted a deployment; its presence is
/// how ostree (and uptree) know `/` is a deployment.
pub const RUN_OSTREE_BOOTED: &str = "/run/ostree-booted";

/// A deployment named by its path relative to the sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentPath {
    pub osname: String,
    pub csum: String,
    pub deployserial: u32,
}

impl DeploymentPath {
    /// Accept exactly `ostree/deploy/OS/deploy/CSUM.SERIAL` (no leading
    /// `/`, no `.`/`..`/empty components, a valid stateroot name, a
    /// 64-hex checksum): what a boot link must end at.
    pub fn parse(relpath: &str) -> Option<DeploymentPath> {
        let parts: Vec<&str> = relpath.split('/').collect();
        match parts.as_slice() {
            ["ostree", "deploy", os, "deploy", name] if valid_osname(os) => {
                let (csum, deployserial) = parse_deploy_dir_name(name)?;
                Some(DeploymentPath { osname: os.to_string(), csum, deployserial })
            }
            _ => None,
        }
    }

    pub fn relpath(&self) -> String {
        deployment_relpath(&self.osname, &self.csum, self.deployserial)
    }
}

/// Last `ostree=` argument of a kernel command line.
pub fn ostree_karg(cmdline: &str) -> Option<&str> {
    cmdline.split_ascii_whitespace().rev().find_map(|a| a.strip_prefix("ostree="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootlinks() {
        let b = BootLink::parse("/ostree/boot.1/testos/5291a325/0").expect("parses");
        assert_eq!((b.bootversion, b.osname.as_str(), b.bootcsum.as_str(), b.bootserial), (1, "testos", "5291a325", 0));
        assert_eq!(b.path(), "/ostree/boot.1/testos/5291a325/0");
        for bad in [
            "/ostree/boot.2/os/c/0",
            "/ostree/boot.0/os/c",
            "/ostree/boot.0/../c/0",
            "/ostree/boot.0/os/../0",
            "/ostree/boot.0/os/c/0/x",
            "ostree/boot.0/os/c/0",
            "/ostree/boot.0/os/c/x",
        ] {
            assert!(BootLink::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(ostree_karg("root=/dev/vda2 ostree=/a ro ostree=/b quiet"), Some("/b"));
        let c = "7af2663972d05825f4e4dda0f854c7f8b4b17015d55e3b234606e10e485c1252";
        assert_eq!(parse_deploy_dir_name(&format!("{c}.3")), Some((c.to_string(), 3)));
        assert!(parse_deploy_dir_name("xyz.0").is_none());
        // Serials beyond u32 are not deployments (ignored), never a panic.
        for big in ["4294967296", "99999999999999999999"] {
            assert!(parse_deploy_dir_name(&format!("{c}.{big}")).is_none(), "{big}");
            assert!(BootLink::parse(&format!("/ostree/boot.0/os/c/{big}")).is_none(), "{big}");
        }
        assert_eq!(parse_deploy_dir_name(&format!("{c}.4294967295")), Some((c.to_string(), u32::MAX)));
        assert_eq!(bootlink_target("os", c, 0), format!("../../../deploy/os/deploy/{c}.0"));
    }

    #[test]
    fn deployment_paths() {
        let c = "7af2663972d05825f4e4dda0f854c7f8b4b17015d55e3b234606e10e485c1252";
        let rel = format!("ostree/deploy/os/deploy/{c}.2");
        let d = DeploymentPath::parse(&rel).expect("parses");
        assert_eq!((d.osname.as_str(), d.csum.as_str(), d.deployserial), ("os", c, 2));
        assert_eq!(d.relpath(), rel);
        for bad in [
            format!("/ostree/deploy/os/deploy/{c}.2"),
            format!("ostree/deploy/os/deploy/{c}.2/usr"),
            format!("ostree/deploy/../deploy/{c}.2"),
            format!("ostree/deploy/.os/deploy/{c}.2"),
            format!("ostree/deploy/os/backing/{c}.2"),
            "ostree/deploy/os/deploy/abc.0".to_string(),
            format!("ostree/deploy/os/deploy/{c}"),
            format!("ostree/deploy/os/var/{c}.0"),
        ] {
            assert!(DeploymentPath::parse(&bad).is_none(), "{bad}");
        }
    }
}
