//! Finding the root device named by `root=`, under a root directory (`/`
//! at boot, a fake tree in tests).
//!
//! Sources, in order:
//! 1. a path that exists (`/dev/vda2`, or a `/dev/disk/by-*` link when
//!    udev made one);
//! 2. the kernel's view in `sys/class/block/NAME/` — `uevent` (`MAJOR`,
//!    `MINOR`, `DEVNAME`, `DEVTYPE`, `PARTN`, and `PARTNAME` = the GPT
//!    partition name), `size`, and the parent disk from where the
//!    class link points — combined with what the device itself says
//!    (superblock for `LABEL`/`UUID`, the parent disk's MBR/GPT for
//!    `PARTUUID`/`PARTLABEL`; see [`crate::probe`]).
//!
//! A bare initramfs has no udev and so no `by-*` links: (2) is what
//! normally answers. Two devices matching the same name is an error, not
//! a coin toss (a USB stick flashed with the board's image carries the
//! same labels and UUIDs).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::cmdline::RootSpec;
use crate::probe::{self, FsInfo, PartInfo};

/// A block device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDev {
    /// Kernel name (`vda1`); also the directory under `sys/class/block`.
    pub name: String,
    /// Node under `/dev` (`DEVNAME`).
    pub devname: String,
    pub major: u32,
    pub minor: u32,
    /// Partition number, for partitions.
    pub partn: Option<u32>,
    /// GPT partition name, if the kernel exported one.
    pub partname: Option<String>,
    /// The whole disk, for partitions.
    pub parent: Option<String>,
    /// Size in 512-byte sectors.
    pub sectors: Option<u64>,
}

impl BlockDev {
    /// `/dev/NAME` as seen at boot.
    pub fn node(&self) -> String {
        format!("/dev/{}", self.devname)
    }
}

fn parse_uevent(text: &str) -> BTreeMap<&str, &str> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

/// Every block device under `root/sys/class/block`, sorted by name.
pub fn scan(root: &Path) -> Vec<BlockDev> {
    let class = root.join("sys/class/block");
    let Ok(rd) = fs::read_dir(&class) else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = class.join(&name);
        let Ok(text) = fs::read_to_string(dir.join("uevent")) else { continue };
        let u = parse_uevent(&text);
        let (Some(major), Some(minor)) = (u.get("MAJOR").and_then(|v| v.parse().ok()), u.get("MINOR").and_then(|v| v.parse().ok())) else {
            continue;
        };
        let is_part = u.get("DEVTYPE") == Some(&"partition");
        // A partition's sysfs directory sits inside its disk's directory.
        let parent = if is_part {
            fs::canonicalize(&dir).ok().and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
        } else {
            None
        };
        out.push(BlockDev {
            devname: u.get("DEVNAME").map_or_else(|| name.clone(), |d| d.to_string()),
            name,
            major,
            minor,
            partn: if is_part { u.get("PARTN").and_then(|v| v.parse().ok()) } else { None },
            partname: u.get("PARTNAME").filter(|v| !v.is_empty()).map(|v| v.to_string()),
            parent,
            sectors: fs::read_to_string(dir.join("size")).ok().and_then(|s| s.trim().parse().ok()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn read_at(path: &Path, offset: u64, len: usize) -> Option<Vec<u8>> {
    let f = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(got);
    Some(buf)
}

/// The filesystem on the device node `node` (an absolute path as seen at boot).
pub fn probe_node(root: &Path, node: &str) -> Option<FsInfo> {
    probe::probe_fs(&read_at(&root.join(node.trim_start_matches('/')), 0, probe::FS_PROBE_LEN)?)
}

/// The partition table of the disk behind `node`: MBR, else GPT.
pub fn partition_table(root: &Path, node: &str) -> Vec<PartInfo> {
    let path = root.join(node.trim_start_matches('/'));
    let Some(head) = read_at(&path, 0, 512) else { return Vec::new() };
    if let Some(parts) = probe::mbr_partitions(&head) {
        return parts;
    }
    for at in probe::GPT_HEADER_OFFSETS {
        let Some(hdr) = read_at(&path, at, 512) else { continue };
        if let Some((entries, count, size)) = probe::gpt_header(&hdr, at) {
            if let Some(array) = read_at(&path, entries, count as usize * size as usize) {
                return probe::gpt_entries(&array, count, size);
            }
        }
    }
    Vec::new()
}

/// How the root device was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What to pass to mount(2): `/dev/vda2` or the `by-*` link.
    pub node: String,
    pub via: &'static str,
}

/// Why a name could not be resolved (beyond "not there yet").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More than one device answers to the name.
    Ambiguous(Vec<String>),
}

/// udev's escaping of `by-*` link names (`/` and spaces become `\x2f`, `\x20`).
fn udev_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

fn udev_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = s.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The tag a `/dev/disk/by-*/X` path stands for, so it can be found
/// without udev.
fn by_path_tag(path: &str) -> Option<RootSpec> {
    let rest = path.strip_prefix("/dev/disk/")?;
    let (kind, v) = rest.split_once('/')?;
    let v = udev_unescape(v);
    match kind {
        "by-label" => Some(RootSpec::Label(v)),
        "by-uuid" => Some(RootSpec::Uuid(v)),
        "by-partuuid" => Some(RootSpec::PartUuid { uuid: v, offset: 0 }),
        "by-partlabel" => Some(RootSpec::PartLabel(v)),
        _ => None,
    }
}

fn by_link(spec: &RootSpec) -> Option<String> {
    let (kind, v) = match spec {
        RootSpec::Label(v) => ("by-label", v),
        RootSpec::Uuid(v) => ("by-uuid", v),
        RootSpec::PartUuid { uuid, offset: 0 } => ("by-partuuid", uuid),
        RootSpec::PartLabel(v) => ("by-partlabel", v),
        _ => return None,
    };
    Some(format!("/dev/disk/{kind}/{}", udev_escape(v)))
}

fn exists(root: &Path, node: &str) -> bool {
    fs::metadata(root.join(node.trim_start_matches('/'))).is_ok()
}

/// Look for the device once. `Ok(None)`: not (yet) there.
pub fn find(root: &Path, spec: &RootSpec) -> Result<Option<Found>, Refusal> {
    if let RootSpec::Path(p) = spec {
        if exists(root, p) {
            return Ok(Some(Found { node: p.clone(), via: "device node" }));
        }
        return match by_path_tag(p) {
            Some(tag) => find_tag(root, &tag),
            None => Ok(None),
        };
    }
    if let Some(link) = by_link(spec) {
        if exists(root, &link) {
            return Ok(Some(Found { node: link, via: "udev link" }));
        }
    }
    find_tag(root, spec)
}

fn find_tag(root: &Path, spec: &RootSpec) -> Result<Option<Found>, Refusal> {
    let devs: Vec<BlockDev> = scan(root).into_iter().filter(|d| d.sectors != Some(0) && exists(root, &d.node())).collect();
    let mut tables: BTreeMap<String, Vec<PartInfo>> = BTreeMap::new();
    let mut table_of = |disk: &str| -> Vec<PartInfo> {
        tables
            .entry(disk.to_string())
            .or_insert_with(|| devs.iter().find(|d| d.name == disk).map(|d| partition_table(root, &d.node())).unwrap_or_default())
            .clone()
    };
    let mut matches: Vec<(&BlockDev, &'static str)> = Vec::new();
    for d in &devs {
        let hit = match spec {
            RootSpec::DevNum(a, b) => (d.major == *a && d.minor == *b).then_some("sysfs dev number"),
            RootSpec::Label(l) => probe_node(root, &d.node()).and_then(|fs| fs.label).filter(|x| x == l).map(|_| "superblock label"),
            RootSpec::Uuid(u) => probe_node(root, &d.node()).and_then(|fs| fs.uuid).filter(|x| x.eq_ignore_ascii_case(u)).map(|_| "superblock uuid"),
            RootSpec::PartLabel(l) => {
                if d.partn.is_none() {
                    None
                } else if d.partname.is_some() {
                    (d.partname.as_deref() == Some(l.as_str())).then_some("sysfs PARTNAME")
                } else {
                    let table = d.parent.as_deref().map(&mut table_of).unwrap_or_default();
                    table.iter().any(|p| Some(p.number) == d.partn && p.name.as_deref() == Some(l.as_str())).then_some("GPT partition name")
                }
            }
            RootSpec::PartUuid { uuid, offset } => match (d.partn, d.parent.as_deref()) {
                (Some(n), Some(disk)) => {
                    let table = table_of(disk);
                    table
                        .iter()
                        .find(|p| p.uuid.eq_ignore_ascii_case(uuid))
                        .filter(|p| i64::from(p.number) + i64::from(*offset) == i64::from(n))
                        .map(|_| "partition table")
                }
                _ => None,
            },
            RootSpec::Path(_) => None,
        };
        if let Some(via) = hit {
            matches.push((d, via));
        }
    }
    match matches.as_slice() {
        [] => Ok(None),
        [(d, via)] => Ok(Some(Found { node: d.node(), via })),
        many => Err(Refusal::Ambiguous(many.iter().map(|(d, _)| d.node()).collect())),
    }
}

/// One line per block device, for failure messages: what the kernel sees
/// and what we could read from it.
pub fn inventory(root: &Path) -> Vec<String> {
    scan(root)
        .iter()
        .map(|d| {
            let mut s = format!("{} ({}:{}", d.name, d.major, d.minor);
            if let Some(sectors) = d.sectors {
                s.push_str(&format!(", {}.{} MiB", sectors / 2048, sectors % 2048 * 10 / 2048));
            }
            if let Some(n) = &d.partname {
                s.push_str(&format!(", PARTNAME={n}"));
            }
            s.push(')');
            if !exists(root, &d.node()) {
                s.push_str(" no device node");
            } else if let Some(fs) = probe_node(root, &d.node()) {
                s.push_str(&format!(" {}", fs.fstype));
                if let Some(l) = fs.label {
                    s.push_str(&format!(" LABEL={l}"));
                }
                if let Some(u) = fs.uuid {
                    s.push_str(&format!(" UUID={u}"));
                }
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testdata;
    use std::os::unix::fs::symlink;

    /// A fake `/dev` + `/sys` tree: devices as (name, major, minor, partn,
    /// partname, image bytes).
    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().expect("tmp");
            fs::create_dir_all(dir.path().join("dev")).expect("dev");
            fs::create_dir_all(dir.path().join("sys/class/block")).expect("sys");
            Tree { dir }
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        fn disk(&self, name: &str, major: u32, minor: u32, image: &[u8]) {
            let d = self.root().join(format!("sys/devices/virtual/block/{name}"));
            fs::create_dir_all(&d).expect("mkdir");
            fs::write(d.join("uevent"), format!("MAJOR={major}\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE=disk\nDISKSEQ=1\n")).expect("uevent");
            fs::write(d.join("size"), format!("{}\n", image.len() / 512)).expect("size");
            symlink(format!("../../devices/virtual/block/{name}"), self.root().join(format!("sys/class/block/{name}"))).expect("link");
            fs::write(self.root().join("dev").join(name), image).expect("node");
        }

        fn part(&self, disk: &str, name: &str, minor: u32, partn: u32, partname: Option<&str>, image: &[u8]) {
            let d = self.root().join(format!("sys/devices/virtual/block/{disk}/{name}"));
            fs::create_dir_all(&d).expect("mkdir");
            let mut u = format!("MAJOR=254\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE=partition\nDISKSEQ=1\nPARTN={partn}\n");
            if let Some(n) = partname {
                u.push_str(&format!("PARTNAME={n}\n"));
            }
            fs::write(d.join("uevent"), u).expect("uevent");
            fs::write(d.join("partition"), format!("{partn}\n")).expect("partition");
            fs::write(d.join("size"), format!("{}\n", image.len() / 512)).expect("size");
            symlink(format!("../../devices/virtual/block/{disk}/{name}"), self.root().join(format!("sys/class/block/{name}"))).expect("link");
            fs::write(self.root().join("dev").join(name), image).expect("node");
        }
    }

    fn spec(s: &str) -> RootSpec {
        RootSpec::parse(s).expect(s)
    }

    fn found(t: &Tree, s: &str) -> Option<String> {
        find(t.root(), &spec(s)).expect("not ambiguous").map(|f| f.node)
    }

    const UUID_A: [u8; 16] = [0xaa; 16];
    const UUID_B: [u8; 16] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7];

    /// vda: MBR (sig 0c1f3e2a), vda1 FAT "BOOT", vda2 ext4 "rootfs".
    /// vdb: GPT, vdb1 "rootfs_a" (kernel exported PARTNAME), vdb2 "rootfs_b" (not exported).
    fn board() -> Tree {
        let t = Tree::new();
        t.disk("vda", 254, 0, &testdata::mbr_disk(0x0c1f_3e2a, [0x0c, 0x83, 0, 0]));
        t.part("vda", "vda1", 1, 1, None, &testdata::fat32(0xCAFE_F00D, b"BOOT       "));
        t.part("vda", "vda2", 2, 2, None, &testdata::ext4(UUID_B, "rootfs"));
        t.disk("vdb", 254, 16, &testdata::gpt_disk(&[(0, UUID_A, "rootfs_a"), (1, UUID_B, "rootfs_b")]));
        t.part("vdb", "vdb1", 17, 1, Some("rootfs_a"), &testdata::ext4([0x11; 16], "a"));
        t.part("vdb", "vdb2", 18, 2, None, &testdata::ext4([0x22; 16], "b"));
        t
    }

    #[test]
    fn sysfs_scan() {
        let t = board();
        let devs = scan(t.root());
        let names: Vec<_> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["vda", "vda1", "vda2", "vdb", "vdb1", "vdb2"]);
        let vdb1 = &devs[4];
        assert_eq!((vdb1.partn, vdb1.parent.as_deref(), vdb1.partname.as_deref()), (Some(1), Some("vdb"), Some("rootfs_a")));
        assert_eq!((devs[0].partn, devs[0].parent.as_deref()), (None, None));
        assert_eq!(devs[0].sectors, Some(8));
    }

    #[test]
    fn paths_and_numbers() {
        let t = board();
        assert_eq!(found(&t, "/dev/vda2").as_deref(), Some("/dev/vda2"));
        assert_eq!(found(&t, "vdb1").as_deref(), Some("/dev/vdb1"));
        assert_eq!(found(&t, "/dev/vdc"), None);
        assert_eq!(found(&t, "254:18").as_deref(), Some("/dev/vdb2"));
        assert_eq!(found(&t, "254:99"), None);
    }

    #[test]
    fn labels_and_uuids_from_superblocks() {
        let t = board();
        assert_eq!(found(&t, "LABEL=rootfs").as_deref(), Some("/dev/vda2"));
        assert_eq!(found(&t, "LABEL=BOOT").as_deref(), Some("/dev/vda1"));
        assert_eq!(found(&t, "UUID=01234567-89ab-cdef-0001-020304050607").as_deref(), Some("/dev/vda2"));
        assert_eq!(found(&t, "UUID=01234567-89AB-CDEF-0001-020304050607").as_deref(), Some("/dev/vda2"), "case-insensitive");
        assert_eq!(found(&t, "UUID=CAFE-F00D").as_deref(), Some("/dev/vda1"));
        assert_eq!(found(&t, "LABEL=nope"), None);
    }

    #[test]
    fn partitions_from_tables_and_sysfs() {
        let t = board();
        assert_eq!(found(&t, "PARTUUID=0c1f3e2a-02").as_deref(), Some("/dev/vda2"));
        assert_eq!(found(&t, "PARTUUID=0C1F3E2A-01").as_deref(), Some("/dev/vda1"));
        assert_eq!(found(&t, "PARTUUID=0c1f3e2a-02/PARTNROFF=-1").as_deref(), Some("/dev/vda1"));
        assert_eq!(found(&t, "PARTUUID=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa").as_deref(), Some("/dev/vdb1"));
        assert_eq!(found(&t, "PARTUUID=67452301-ab89-efcd-0001-020304050607").as_deref(), Some("/dev/vdb2"), "GPT GUIDs are mixed-endian");
        assert_eq!(found(&t, "PARTUUID=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/PARTNROFF=1").as_deref(), Some("/dev/vdb2"));
        assert_eq!(found(&t, "PARTUUID=0c1f3e2a-03"), None);
        assert_eq!(found(&t, "PARTLABEL=rootfs_a").as_deref(), Some("/dev/vdb1"), "from uevent PARTNAME");
        assert_eq!(found(&t, "PARTLABEL=rootfs_b").as_deref(), Some("/dev/vdb2"), "from the GPT entry");
        assert_eq!(found(&t, "PARTLABEL=rootfs"), None);
    }

    #[test]
    fn udev_links_win_and_by_paths_work_without_udev() {
        let t = board();
        // No udev: the by-* path is understood as its tag.
        assert_eq!(found(&t, "/dev/disk/by-partlabel/rootfs_b").as_deref(), Some("/dev/vdb2"));
        assert_eq!(found(&t, "/dev/disk/by-label/BOOT").as_deref(), Some("/dev/vda1"));
        // With udev links, they are used as they are.
        fs::create_dir_all(t.root().join("dev/disk/by-label")).expect("mkdir");
        symlink("../../vdb1", t.root().join("dev/disk/by-label/my\\x20root")).expect("link");
        assert_eq!(found(&t, "LABEL=my root").as_deref(), Some("/dev/disk/by-label/my\\x20root"));
        assert_eq!(find(t.root(), &spec("LABEL=my root")).expect("ok").map(|f| f.via), Some("udev link"));
        assert_eq!(udev_unescape("a\\x2fb\\x20c\\xzz"), "a/b c\\xzz");
        assert_eq!(udev_escape("a/b c"), "a\\x2fb\\x20c");
    }

    #[test]
    fn ambiguity_is_refused_and_missing_nodes_wait() {
        let t = board();
        // A second disk carrying the same filesystem (a stick flashed with the image).
        t.disk("sda", 8, 0, &testdata::ext4(UUID_B, "rootfs"));
        assert_eq!(find(t.root(), &spec("LABEL=rootfs")), Err(Refusal::Ambiguous(vec!["/dev/sda".into(), "/dev/vda2".into()])));
        // sysfs knows the device but devtmpfs has no node yet: not found (yet).
        fs::remove_file(t.root().join("dev/sda")).expect("rm");
        assert_eq!(found(&t, "LABEL=rootfs").as_deref(), Some("/dev/vda2"));
        // Empty devices (size 0: card reader without card) are skipped.
        t.disk("mmcblk1", 179, 0, &[]);
        assert!(find(t.root(), &spec("LABEL=x")).expect("ok").is_none());
    }

    #[test]
    fn inventory_lines() {
        let t = board();
        let inv = inventory(t.root());
        assert_eq!(inv.len(), 6);
        assert!(inv[2].starts_with("vda2 (254:2, 0.0 MiB) ext4 LABEL=rootfs UUID=01234567-89ab-cdef-0001-020304050607"), "{}", inv[2]);
        assert!(inv[4].contains("PARTNAME=rootfs_a"), "{}", inv[4]);
        fs::remove_file(t.root().join("dev/vdb2")).expect("rm");
        assert!(inventory(t.root())[5].ends_with("no device node"));
    }
}
