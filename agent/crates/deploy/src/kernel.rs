//! Finding the kernel of a deployment and its boot checksum, as ostree
//! does (ostree-format.md §7.3): `usr/lib/modules/KVER/vmlinuz` (+
//! `initramfs.img` or `initramfs`, + `devicetree` file or `dtb/` dir), else
//! the legacy `usr/lib/ostree-boot/` or `boot/` layout with the checksum
//! in the file names. bootcsum = SHA-256(vmlinuz ‖ initramfs ‖ devicetree).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::deployfs::{self, DeployTree, Dir, Entry, Kind};
use crate::dfs;
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
    /// The kernel's FIPS `.vmlinuz.hmac`: (source, installed name
    /// `.vmlinuz-KVER.hmac`). Not part of the bootcsum, as in ostree.
    pub hmac: Option<(String, String)>,
    pub bootcsum: String,
}

/// Hash `f` (`size` bytes when opened), never more than `kind.max` bytes.
fn hash_file(h: &mut Sha256, f: File, size: u64, kind: Kind, shown: &Path) -> Result<()> {
    let mut f = f.take(kind.max.saturating_add(1));
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = f.read(&mut buf).at(shown)?;
        if n == 0 {
            return Ok(());
        }
        total = total.saturating_add(n as u64);
        if total > kind.max {
            return Err(Error::TooLarge { path: shown.to_path_buf(), what: kind.what, size: total.max(size), max: kind.max });
        }
        h.update(&buf[..n]);
    }
}

fn hash_one(h: &mut Sha256, tree: &DeployTree, rel: &Path, kind: Kind) -> Result<()> {
    let (f, size) = tree.file(rel, kind)?.ok_or_else(|| Error::io(tree.path().join(rel), std::io::ErrorKind::NotFound.into()))?;
    hash_file(h, f, size, kind, &tree.path().join(rel))
}

fn open_dtb_dir(tree: &DeployTree, rel: &Path) -> Result<Dir> {
    let fd = tree.dir(rel)?.ok_or_else(|| Error::io(tree.path().join(rel), std::io::ErrorKind::NotFound.into()))?;
    Ok(Dir::new(fd, tree.path().join(rel)))
}

/// Every regular file below `dir`, names in byte order, recursing into
/// subdirectories at their sorted position (ostree's `checksum_dir_recurse`,
/// which also fails on a symlink in there).
/// `total` counts the bytes of the whole `dtb/` tree (at most
/// [`deployfs::DTB_DIR_MAX`]: the copy goes to a small boot partition).
fn hash_dir(h: &mut Sha256, dir: &Dir, depth: usize, total: &mut u64) -> Result<()> {
    if depth > deployfs::DTB_MAX_DEPTH {
        return Err(Error::Invalid(format!("{}: device tree directories nested too deep", dir.shown.display())));
    }
    for n in dir.names()? {
        match dir.entry(&n, deployfs::DEVICETREE)? {
            Entry::Dir(sub) => hash_dir(h, &sub, depth + 1, total)?,
            Entry::File(f, size) => {
                *total = total.saturating_add(size);
                if *total > deployfs::DTB_DIR_MAX {
                    return Err(Error::TooLarge { path: dir.shown.clone(), what: "device tree directory", size: *total, max: deployfs::DTB_DIR_MAX });
                }
                hash_file(h, f, size, deployfs::DEVICETREE, &dir.shown.join(&n))?
            }
        }
    }
    Ok(())
}

/// Is `rel` (links followed inside the deployment, as ostree's `fstatat`)
/// a regular file / a directory / anything?
fn is_file(tree: &DeployTree, rel: &Path) -> Result<bool> {
    Ok(tree.probe(rel)?.is_some_and(|t| t.is_file()))
}

fn from_modules(tree: &DeployTree) -> Result<Option<KernelLayout>> {
    let modules = Path::new("usr/lib/modules");
    let Some(fd) = tree.dir(modules)? else { return Ok(None) };
    let d = Dir::new(fd, tree.path().join(modules));
    // readdir order, like ostree: the first KVER directory with a regular
    // vmlinuz; anything not a directory (a symlinked KVER too) is skipped.
    let mut kvers = Vec::new();
    for name in d.names_readdir()? {
        if d.is_dir(&name)? {
            kvers.push(name.to_string_lossy().into_owned());
        }
    }
    for kver in kvers {
        let kdir = modules.join(&kver);
        if !is_file(tree, &kdir.join("vmlinuz"))? {
            continue;
        }
        let mut h = Sha256::new();
        hash_one(&mut h, tree, &kdir.join("vmlinuz"), deployfs::KERNEL)?;
        let mut layout = KernelLayout {
            dir: kdir.clone(),
            kernel_src: "vmlinuz".into(),
            kernel_name: format!("vmlinuz-{kver}"),
            initramfs: None,
            devicetree: None,
            dtb_dir: None,
            hmac: None,
            bootcsum: String::new(),
        };
        if tree.probe(&kdir.join(".vmlinuz.hmac"))?.is_some() {
            layout.hmac = Some((".vmlinuz.hmac".into(), format!(".vmlinuz-{kver}.hmac")));
        }
        for name in ["initramfs.img", "initramfs"] {
            if tree.probe(&kdir.join(name))?.is_some() {
                hash_one(&mut h, tree, &kdir.join(name), deployfs::INITRAMFS)?;
                layout.initramfs = Some((name.to_string(), format!("initramfs-{kver}.img")));
                break;
            }
        }
        // `OSTREE_SYSROOT_DEBUG=no-dtb`: as libostree, device trees are
        // neither installed nor part of the bootcsum.
        if !crate::deploy::debug_flag("no-dtb") {
            if tree.probe(&kdir.join("devicetree"))?.is_some() {
                hash_one(&mut h, tree, &kdir.join("devicetree"), deployfs::DEVICETREE)?;
                layout.devicetree = Some(("devicetree".into(), format!("devicetree-{kver}")));
            } else if tree.probe(&kdir.join("dtb"))?.is_some_and(|t| t.is_dir()) {
                hash_dir(&mut h, &open_dtb_dir(tree, &kdir.join("dtb"))?, 0, &mut 0)?;
                layout.dtb_dir = Some("dtb".into());
            }
        }
        layout.bootcsum = ostree_repo::Checksum(h.finalize().into()).to_hex();
        return Ok(Some(layout));
    }
    Ok(None)
}

fn from_legacy(tree: &DeployTree) -> Result<Option<KernelLayout>> {
    for dir in ["usr/lib/ostree-boot", "boot"] {
        let Some(fd) = tree.dir(Path::new(dir))? else { continue };
        let d = Dir::new(fd, tree.path().join(dir));
        let mut kernel = None;
        let mut initramfs = None;
        let mut dt = None;
        for n in d.names()? {
            let n = n.to_string_lossy().into_owned();
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
            hmac: None,
            bootcsum: csum,
        }));
    }
    Ok(None)
}

/// Find the kernel of the checked-out deployment at `deployment`.
pub fn find(deployment: &Path) -> Result<KernelLayout> {
    find_in(&DeployTree::open(deployment)?)
}

/// [`find`] in an opened deployment.
pub fn find_in(tree: &DeployTree) -> Result<KernelLayout> {
    if let Some(l) = from_modules(tree)? {
        return Ok(l);
    }
    from_legacy(tree)?.ok_or_else(|| Error::Invalid("Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot".into()))
}

fn install_one(tree: &DeployTree, rel: &Path, kind: Kind, dst: &Path) -> Result<()> {
    let (f, _) = tree.file(rel, kind)?.ok_or_else(|| Error::io(tree.path().join(rel), std::io::ErrorKind::NotFound.into()))?;
    dfs::copy_file(f, &tree.path().join(rel), dst, true)
}

fn install_dir(dir: &Dir, dst: &Path, depth: usize) -> Result<()> {
    if depth > deployfs::DTB_MAX_DEPTH {
        return Err(Error::Invalid(format!("{}: device tree directories nested too deep", dir.shown.display())));
    }
    dfs::create_dir_all(dst)?;
    for n in dir.names()? {
        match dir.entry(&n, deployfs::DEVICETREE)? {
            Entry::Dir(sub) => install_dir(&sub, &dst.join(&n), depth + 1)?,
            Entry::File(f, _) => dfs::copy_file(f, &dir.shown.join(&n), &dst.join(&n), true)?,
        }
    }
    Ok(())
}

/// Copy the boot files `kl` names from the deployment into `kdir`.
pub fn install(tree: &DeployTree, kl: &KernelLayout, kdir: &Path) -> Result<()> {
    install_one(tree, &kl.dir.join(&kl.kernel_src), deployfs::KERNEL, &kdir.join(&kl.kernel_name))?;
    if let Some((src, name)) = &kl.initramfs {
        install_one(tree, &kl.dir.join(src), deployfs::INITRAMFS, &kdir.join(name))?;
    }
    if let Some((src, name)) = &kl.devicetree {
        install_one(tree, &kl.dir.join(src), deployfs::DEVICETREE, &kdir.join(name))?;
    }
    if let Some(dir) = &kl.dtb_dir {
        install_dir(&open_dtb_dir(tree, &kl.dir.join(dir))?, &kdir.join(dir), 0)?;
    }
    if let Some((src, name)) = &kl.hmac {
        install_one(tree, &kl.dir.join(src), deployfs::KERNEL_HMAC, &kdir.join(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn oversized_or_too_deep_boot_files_are_refused_with_both_resolvers() {
        use uptree_sys::inroot::Resolver;
        for r in [Resolver::Auto, Resolver::Walk] {
            let t = tempfile::tempdir().expect("tmp");
            let k = t.path().join("usr/lib/modules/6.1.0");
            fs::create_dir_all(&k).expect("mkdir");
            let vmlinuz = fs::File::create(k.join("vmlinuz")).expect("create");
            vmlinuz.set_len(deployfs::KERNEL.max + 1).expect("sparse");
            let err = find_in(&DeployTree::open_with(t.path(), r).expect("open")).expect_err("too large");
            assert!(matches!(err, Error::TooLarge { what: "kernel", .. }), "{r:?}: {err}");
            vmlinuz.set_len(4).expect("small");
            let deep = (0..=deployfs::DTB_MAX_DEPTH + 1).fold(k.join("dtb"), |p, i| p.join(format!("d{i}")));
            fs::create_dir_all(&deep).expect("mkdir");
            let err = find_in(&DeployTree::open_with(t.path(), r).expect("open")).expect_err("too deep");
            assert!(err.to_string().contains("nested too deep"), "{r:?}: {err}");
        }
    }

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
