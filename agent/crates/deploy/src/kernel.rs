//! Finding the kernel of a deployment and its boot checksum, as ostree
//! does (ostree-format.md §7.3): `usr/lib/modules/KVER/vmlinuz` (+
//! `initramfs.img` or `initramfs`, + `devicetree` file or `dtb/` dir), else
//! the legacy `usr/lib/ostree-boot/` or `boot/` layout with the checksum
//! in the file names. bootcsum = SHA-256(vmlinuz ‖ initramfs ‖ devicetree).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{At, Error, Result};

/// The boot files of a deployment, relative to the deployment root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLayout {
    /// Directory holding the files, relative to the deployment.
    pub dir: PathBuf,
    pub kernel_src: String,
    /// Name under `boot/ostree/OS-BOOTCSUM/`: `vmlinuz-KVER`.
    pub kernel_name: String,
    pub initramfs: Option<(String, String)>,
    /// A single file: (source, installed name).
    pub devicetree: Option<(String, String)>,
    /// A `dtb/` directory (installed as `dtb`).
    pub dtb_dir: Option<String>,
    pub bootcsum: String,
}

fn hash_file(h: &mut Sha256, p: &Path) -> Result<()> {
    let mut f = fs::File::open(p).at(p)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).at(p)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

/// Every regular file below `dir`, names in byte order, recursing into
/// subdirectories at their sorted position (ostree's `checksum_dir_recurse`).
fn hash_dir(h: &mut Sha256, dir: &Path) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir).at(dir)?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let m = fs::symlink_metadata(&p).at(&p)?;
        if m.is_dir() {
            hash_dir(h, &p)?;
        } else if m.is_file() {
            hash_file(h, &p)?;
        }
    }
    Ok(())
}

fn from_modules(deployment: &Path) -> Result<Option<KernelLayout>> {
    let modules = deployment.join("usr/lib/modules");
    let rd = match fs::read_dir(&modules) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(modules, e)),
    };
    // readdir order, like ostree: the first KVER directory with a regular vmlinuz.
    for e in rd {
        let e = e.at(&modules)?;
        if !e.file_type().at(&e.path())?.is_dir() {
            continue;
        }
        let kdir = e.path();
        if !fs::metadata(kdir.join("vmlinuz")).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let kver = e.file_name().to_string_lossy().into_owned();
        let mut h = Sha256::new();
        hash_file(&mut h, &kdir.join("vmlinuz"))?;
        let mut layout = KernelLayout {
            dir: PathBuf::from("usr/lib/modules").join(&kver),
            kernel_src: "vmlinuz".into(),
            kernel_name: format!("vmlinuz-{kver}"),
            initramfs: None,
            devicetree: None,
            dtb_dir: None,
            bootcsum: String::new(),
        };
        for name in ["initramfs.img", "initramfs"] {
            if kdir.join(name).exists() {
                hash_file(&mut h, &kdir.join(name))?;
                layout.initramfs = Some((name.to_string(), format!("initramfs-{kver}.img")));
                break;
            }
        }
        if kdir.join("devicetree").exists() {
            hash_file(&mut h, &kdir.join("devicetree"))?;
            layout.devicetree = Some(("devicetree".into(), format!("devicetree-{kver}")));
        } else if kdir.join("dtb").is_dir() {
            hash_dir(&mut h, &kdir.join("dtb"))?;
            layout.dtb_dir = Some("dtb".into());
        }
        layout.bootcsum = ostree_repo::Checksum(h.finalize().into()).to_hex();
        return Ok(Some(layout));
    }
    Ok(None)
}

fn from_legacy(deployment: &Path) -> Result<Option<KernelLayout>> {
    for dir in ["usr/lib/ostree-boot", "boot"] {
        let d = deployment.join(dir);
        let Ok(rd) = fs::read_dir(&d) else { continue };
        let mut kernel = None;
        let mut initramfs = None;
        let mut dt = None;
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("vmlinuz-") {
                kernel = Some(n);
            } else if n.starts_with("initramfs-") {
                initramfs = Some(n);
            } else if n.starts_with("devicetree-") {
                dt = Some(n);
            }
        }
        let Some(kernel) = kernel else { continue };
        let csum = kernel.rsplit('-').next().unwrap_or_default().to_string();
        if csum.len() != 64 {
            return Err(Error::Invalid(format!("{dir}/{kernel}: no boot checksum suffix in the kernel name")));
        }
        for other in [&initramfs, &dt].into_iter().flatten() {
            if !other.ends_with(&csum) {
                return Err(Error::Invalid(format!("{dir}/{other}: checksum suffix does not match the kernel's")));
            }
        }
        return Ok(Some(KernelLayout {
            dir: PathBuf::from(dir),
            kernel_name: kernel.clone(),
            kernel_src: kernel,
            initramfs: initramfs.map(|n| (n.clone(), n)),
            devicetree: dt.map(|n| (n.clone(), n)),
            dtb_dir: None,
            bootcsum: csum,
        }));
    }
    Ok(None)
}

/// Find the kernel of the checked-out deployment at `deployment`.
pub fn find(deployment: &Path) -> Result<KernelLayout> {
    if let Some(l) = from_modules(deployment)? {
        return Ok(l);
    }
    from_legacy(deployment)?.ok_or_else(|| Error::Invalid("Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootcsum_is_sha256_of_kernel_initramfs_devicetree() {
        let t = tempfile::tempdir().expect("tmp");
        let k = t.path().join("usr/lib/modules/5.10.0-test");
        fs::create_dir_all(&k).expect("mkdir");
        fs::write(k.join("vmlinuz"), "kernel1\n").expect("w");
        fs::write(k.join("initramfs.img"), "initrd1\n").expect("w");
        fs::write(k.join("devicetree"), "dtb1\n").expect("w");
        let l = find(t.path()).expect("found");
        // The layout observed with `ostree admin deploy` for these contents.
        assert_eq!(l.bootcsum, "322d808acba1035f71fb268ef5e9ed3621549c1100e1fbdbd6189bf1cc070ed6");
        assert_eq!(l.kernel_name, "vmlinuz-5.10.0-test");
        assert_eq!(l.initramfs.as_ref().map(|x| x.1.as_str()), Some("initramfs-5.10.0-test.img"));
        assert_eq!(l.devicetree.as_ref().map(|x| x.1.as_str()), Some("devicetree-5.10.0-test"));
        fs::remove_file(k.join("vmlinuz")).expect("rm");
        assert!(find(t.path()).is_err());
    }
}
