//! Which kernel modules to load, in which order.
//!
//! The initramfs carries `lib/modules/KVER/` with the `.ko` files, the
//! `modules.dep` that `depmod` wrote for them (and optionally
//! `modules.builtin`), and `etc/uptree-init/modules`: the names to load,
//! one per line, in the order they must be requested (`crc32c_generic`
//! before `ext4`: nothing services `request_module` in a bare initramfs).
//! Dependencies are resolved here at boot from `modules.dep`, the way
//! modprobe does, so an image builder (a Yocto recipe) only lists names
//! and never orders dependencies by hand. KVER comes from the running
//! kernel (`/proc/sys/kernel/osrelease`).
//!
//! Pure: text in, load order out.

use std::collections::{BTreeMap, BTreeSet};

/// Where the wanted list lives in the initramfs.
pub const WANTED_LIST: &str = "etc/uptree-init/modules";

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4`; `-` and `_` are the same to the kernel.
pub fn module_name(relpath: &str) -> String {
    let base = relpath.rsplit('/').next().unwrap_or(relpath);
    let base = base.split_once(".ko").map_or(base, |(n, _)| n);
    base.replace('-', "_")
}

/// Whether the file is compressed (the kernel must decompress it).
pub fn is_compressed(relpath: &str) -> bool {
    [".ko.xz", ".ko.zst", ".ko.gz"].iter().any(|s| relpath.ends_with(s))
}

/// `modules.dep`: module path → its dependencies, as depmod lists them
/// (the full closure, in an order that loads correctly from last to first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleDb {
    by_name: BTreeMap<String, (String, Vec<String>)>,
    builtin: BTreeSet<String>,
}

impl ModuleDb {
    pub fn parse(modules_dep: &str) -> ModuleDb {
        let mut by_name = BTreeMap::new();
        for line in modules_dep.lines() {
            let Some((path, deps)) = line.split_once(':') else { continue };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_ascii_whitespace().map(str::to_string).collect();
            by_name.insert(module_name(path), (path.to_string(), deps));
        }
        ModuleDb { by_name, builtin: BTreeSet::new() }
    }

    /// Add `modules.builtin` (paths of modules compiled into the kernel).
    pub fn with_builtin(mut self, modules_builtin: &str) -> ModuleDb {
        self.builtin = modules_builtin.lines().map(str::trim).filter(|l| !l.is_empty()).map(module_name).collect();
        self
    }

    /// Files to load for `wanted` (names), dependencies first, each once.
    /// Returns the order and the names found neither as a module nor built in.
    pub fn load_order(&self, wanted: &[String]) -> (Vec<String>, Vec<String>) {
        let mut order: Vec<String> = Vec::new();
        let mut missing = Vec::new();
        for w in wanted {
            let name = module_name(w);
            let Some((path, deps)) = self.by_name.get(&name) else {
                if !self.builtin.contains(&name) {
                    missing.push(w.clone());
                }
                continue;
            };
            // modprobe loads the dependency list from its end.
            for dep in deps.iter().rev().chain(std::iter::once(path)) {
                if !order.contains(dep) {
                    order.push(dep.clone());
                }
            }
        }
        (order, missing)
    }
}

/// The wanted list: one module name per line; `#` starts a comment.
pub fn parse_wanted(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // As depmod wrote it for Debian's 6.1 arm64 kernel (excerpt).
    const DEP: &str = "kernel/fs/mbcache.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/fat/fat.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/fs/overlayfs/overlay.ko:
kernel/crypto/crc32c_generic.ko:
kernel/lib/crc16.ko:
kernel/drivers/virtio/virtio_mmio.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz kernel/drivers/usb/common/usb-common.ko.xz
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_qemu_root_on_virtio() {
        let db = ModuleDb::parse(DEP);
        let wanted = parse_wanted("# root on virtio\ncrc32c_generic\next4   # needs crc32c\nvirtio_mmio\nvirtio_blk\n\n");
        let (order, missing) = db.load_order(&wanted);
        assert!(missing.is_empty());
        assert_eq!(
            order,
            names(&[
                "kernel/crypto/crc32c_generic.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/drivers/virtio/virtio_mmio.ko",
                "kernel/drivers/block/virtio_blk.ko",
            ])
        );
    }

    #[test]
    fn shared_dependencies_once_names_normalised() {
        let db = ModuleDb::parse(DEP).with_builtin("kernel/drivers/virtio/virtio.ko\nkernel/fs/squashfs/squashfs.ko\n");
        let (order, missing) = db.load_order(&names(&["vfat", "fat", "usb_storage", "virtio", "squashfs", "nope"]));
        assert_eq!(
            order,
            names(&[
                "kernel/fs/fat/fat.ko",
                "kernel/fs/fat/vfat.ko",
                "kernel/drivers/usb/common/usb-common.ko.xz",
                "kernel/drivers/usb/core/usbcore.ko.xz",
                "kernel/drivers/usb/storage/usb-storage.ko.xz",
            ])
        );
        assert_eq!(missing, names(&["nope"]), "built-in modules are not missing");
    }

    #[test]
    fn names_and_compression() {
        assert_eq!(module_name("kernel/drivers/usb/storage/usb-storage.ko.xz"), "usb_storage");
        assert_eq!(module_name("ext4.ko"), "ext4");
        assert_eq!(module_name("usb-storage"), "usb_storage");
        assert!(is_compressed("a/b.ko.zst") && is_compressed("b.ko.xz") && !is_compressed("b.ko"));
        assert_eq!(ModuleDb::parse("garbage\n: x\n"), ModuleDb::default());
    }
}
