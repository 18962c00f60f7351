//! What blkid would tell, for the few formats a root can be found by,
//! read from raw bytes (pure; the caller reads the device):
//!
//! - filesystem type, UUID and label: ext2/3/4 (superblock at 1024) and
//!   FAT12/16/32 (boot sector);
//! - partition UUIDs and names: MBR (`SSSSSSSS-PP` from the disk
//!   signature, as the kernel and blkid print it) and GPT (unique GUID,
//!   UTF-16 name).
//!
//! A bare initramfs has no udev, so no `/dev/disk/by-*` links: this is
//! how `LABEL=`, `UUID=`, `PARTUUID=` and `PARTLABEL=` are resolved there.

/// Bytes to read from the start of a device for [`probe_fs`].
pub const FS_PROBE_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// The type to pass to mount(2) (`ext4` also mounts ext2/ext3).
    pub fstype: &'static str,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` of 16 bytes in stored order
/// (ext4 and most Linux filesystems).
fn uuid_be(b: &[u8; 16]) -> String {
    format!("{}-{}-{}-{}-{}", hex(&b[0..4]), hex(&b[4..6]), hex(&b[6..8]), hex(&b[8..10]), hex(&b[10..16]))
}

/// A GUID as stored by GPT/EFI: the first three fields little-endian.
fn guid_le(b: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    format!("{d1:08x}-{d2:04x}-{d3:04x}-{}-{}", hex(&b[8..10]), hex(&b[10..16]))
}

fn label_from(bytes: &[u8], trim_spaces: bool) -> Option<String> {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    let mut s = String::from_utf8_lossy(&bytes[..end]).into_owned();
    if trim_spaces {
        s.truncate(s.trim_end_matches(' ').len());
    }
    (!s.is_empty()).then_some(s)
}

/// Identify the filesystem in `head` (the first [`FS_PROBE_LEN`] bytes).
pub fn probe_fs(head: &[u8]) -> Option<FsInfo> {
    ext(head).or_else(|| fat(head))
}

fn ext(head: &[u8]) -> Option<FsInfo> {
    let sb = head.get(1024..2048)?;
    if le16(sb, 0x38)? != 0xEF53 {
        return None;
    }
    let uuid: [u8; 16] = sb[0x68..0x78].try_into().ok()?;
    Some(FsInfo { fstype: "ext4", uuid: (uuid != [0; 16]).then(|| uuid_be(&uuid)), label: label_from(&sb[0x78..0x88], false) })
}

fn fat(head: &[u8]) -> Option<FsInfo> {
    let bs = head.get(0..512)?;
    if bs[510..512] != [0x55, 0xAA] || le16(bs, 11)? == 0 || bs[13] == 0 {
        return None;
    }
    // FAT32 keeps its extended BPB at 0x40, FAT12/16 at 0x24.
    let ebpb = if &bs[0x52..0x5A] == b"FAT32   " {
        0x40
    } else if &bs[0x36..0x39] == b"FAT" {
        0x24
    } else {
        return None;
    };
    // Extended boot signature 0x29: volume id and label are present.
    if bs[ebpb + 2] != 0x29 {
        return Some(FsInfo { fstype: "vfat", uuid: None, label: None });
    }
    let id = &bs[ebpb + 3..ebpb + 7];
    let label = label_from(&bs[ebpb + 7..ebpb + 18], true).filter(|l| l != "NO NAME");
    Some(FsInfo { fstype: "vfat", uuid: Some(format!("{:02X}{:02X}-{:02X}{:02X}", id[3], id[2], id[1], id[0])), label })
}

/// One partition as the partition table describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Partition number as the kernel counts it (`vda2` → 2).
    pub number: u32,
    pub uuid: String,
    /// GPT name (MBR has none).
    pub name: Option<String>,
}

/// Where the GPT header may live: LBA 1 with 512- or 4096-byte sectors.
pub const GPT_HEADER_OFFSETS: [u64; 2] = [512, 4096];

/// The MBR of `sector0`: its partitions' `SSSSSSSS-PP` ids (primary
/// 1–4 only; logical partitions need the EBR chain). None if it is not
/// an MBR or is a GPT protective MBR.
pub fn mbr_partitions(sector0: &[u8]) -> Option<Vec<PartInfo>> {
    if sector0.get(510..512)? != [0x55, 0xAA] {
        return None;
    }
    let sig = le32(sector0, 440)?;
    let mut out = Vec::new();
    for i in 0..4u32 {
        let e = &sector0[446 + 16 * i as usize..446 + 16 * (i as usize + 1)];
        match e[4] {
            0 => continue,
            0xEE => return None, // protective MBR: the table is GPT
            _ => out.push(PartInfo { number: i + 1, uuid: format!("{sig:08x}-{:02x}", i + 1), name: None }),
        }
    }
    Some(out)
}

/// The GPT header at the start of `header` (one logical block): where the
/// entry array is, in bytes from the start of the disk, its count and entry size.
pub fn gpt_header(header: &[u8], block_size: u64) -> Option<(u64, u32, u32)> {
    if header.get(0..8)? != b"EFI PART" {
        return None;
    }
    let entries_lba = le64(header, 0x48)?;
    let count = le32(header, 0x50)?;
    let size = le32(header, 0x54)?;
    if !(128..=4096).contains(&size) || count == 0 || count > 1024 {
        return None;
    }
    Some((entries_lba.checked_mul(block_size)?, count, size))
}

/// Entries of a GPT entry array (`count` entries of `size` bytes).
pub fn gpt_entries(array: &[u8], count: u32, size: u32) -> Vec<PartInfo> {
    let mut out = Vec::new();
    for i in 0..count as usize {
        let Some(e) = array.get(i * size as usize..(i + 1) * size as usize) else { break };
        if e[0..16] == [0; 16] {
            continue; // unused slot
        }
        let Ok(guid) = <[u8; 16]>::try_from(&e[16..32]) else { continue };
        let units: Vec<u16> = e[56..128].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        let name = String::from_utf16_lossy(&units);
        out.push(PartInfo { number: i as u32 + 1, uuid: guid_le(&guid), name: (!name.is_empty()).then_some(name) });
    }
    out
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Builders of raw images for tests (also used by the device tests).

    /// An ext4 superblock image with this UUID (stored order) and label.
    pub fn ext4(uuid: [u8; 16], label: &str) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[1024 + 0x38..1024 + 0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[1024 + 0x68..1024 + 0x78].copy_from_slice(&uuid);
        b[1024 + 0x78..1024 + 0x78 + label.len()].copy_from_slice(label.as_bytes());
        b
    }

    /// A FAT32 boot sector with volume id and an 11-byte label.
    pub fn fat32(id: u32, label: &[u8; 11]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 8;
        b[0x42] = 0x29;
        b[0x43..0x47].copy_from_slice(&id.to_le_bytes());
        b[0x47..0x52].copy_from_slice(label);
        b[0x52..0x5A].copy_from_slice(b"FAT32   ");
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// A disk with an MBR: signature and partition types (0 = empty).
    pub fn mbr_disk(sig: u32, types: [u8; 4]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[440..444].copy_from_slice(&sig.to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[446 + 16 * i + 4] = *t;
        }
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    /// A disk with a protective MBR and a GPT (512-byte sectors, entries
    /// at LBA 2): (slot, unique GUID bytes, name) for each used entry.
    pub fn gpt_disk(parts: &[(usize, [u8; 16], &str)]) -> Vec<u8> {
        let mut b = mbr_disk(0, [0xEE, 0, 0, 0]);
        b.resize(1024 + 128 * 128, 0);
        b[512..520].copy_from_slice(b"EFI PART");
        b[512 + 0x48..512 + 0x50].copy_from_slice(&2u64.to_le_bytes());
        b[512 + 0x50..512 + 0x54].copy_from_slice(&128u32.to_le_bytes());
        b[512 + 0x54..512 + 0x58].copy_from_slice(&128u32.to_le_bytes());
        for (slot, guid, name) in parts {
            let e = 1024 + slot * 128;
            b[e] = 0xAF; // any non-zero type GUID
            b[e + 16..e + 32].copy_from_slice(guid);
            for (i, u) in name.encode_utf16().enumerate() {
                b[e + 56 + 2 * i..e + 58 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    const U: [u8; 16] = [0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0];

    #[test]
    fn ext4_superblock() {
        let info = probe_fs(&ext4(U, "uptree-root")).expect("ext4");
        assert_eq!(info.fstype, "ext4");
        assert_eq!(info.uuid.as_deref(), Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
        assert_eq!(info.label.as_deref(), Some("uptree-root"));
        // A 16-byte label has no NUL terminator.
        assert_eq!(probe_fs(&ext4(U, "0123456789abcdef")).and_then(|i| i.label).as_deref(), Some("0123456789abcdef"));
        let unlabeled = probe_fs(&ext4([0; 16], "")).expect("ext4");
        assert_eq!((unlabeled.uuid, unlabeled.label), (None, None));
        // Truncated or wrong magic: nothing.
        assert_eq!(probe_fs(&ext4(U, "x")[..1500]), None);
        let mut broken = ext4(U, "x");
        broken[1024 + 0x38] = 0;
        assert_eq!(probe_fs(&broken), None);
    }

    #[test]
    fn fat_boot_sector() {
        let info = probe_fs(&fat32(0x1234_ABCD, b"BOOT       ")).expect("fat");
        assert_eq!(info, FsInfo { fstype: "vfat", uuid: Some("1234-ABCD".into()), label: Some("BOOT".into()) });
        assert_eq!(probe_fs(&fat32(1, b"NO NAME    ")).and_then(|i| i.label), None);
        let mut fat16 = vec![0u8; 4096];
        fat16[11..13].copy_from_slice(&512u16.to_le_bytes());
        fat16[13] = 4;
        fat16[0x26] = 0x29;
        fat16[0x27..0x2B].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
        fat16[0x2B..0x36].copy_from_slice(b"SD CARD    ");
        fat16[0x36..0x3E].copy_from_slice(b"FAT16   ");
        fat16[510] = 0x55;
        fat16[511] = 0xAA;
        let info = probe_fs(&fat16).expect("fat16");
        assert_eq!((info.uuid.as_deref(), info.label.as_deref()), (Some("DEAD-BEEF"), Some("SD CARD")));
        // An MBR is not a FAT boot sector.
        assert_eq!(probe_fs(&mbr_disk(7, [0x83, 0, 0, 0])), None);
    }

    #[test]
    fn mbr() {
        let parts = mbr_partitions(&mbr_disk(0x0c1f_3e2a, [0x0c, 0x83, 0, 0x83])).expect("mbr");
        let ids: Vec<_> = parts.iter().map(|p| (p.number, p.uuid.as_str())).collect();
        assert_eq!(ids, vec![(1, "0c1f3e2a-01"), (2, "0c1f3e2a-02"), (4, "0c1f3e2a-04")]);
        assert_eq!(mbr_partitions(&mbr_disk(1, [0xEE, 0, 0, 0])), None, "protective MBR");
        assert_eq!(mbr_partitions(&[0u8; 512]), None);
    }

    #[test]
    fn gpt() {
        let disk = gpt_disk(&[(0, U, "boot"), (2, [0x11; 16], "rootfs_b")]);
        let (at, count, size) = gpt_header(&disk[512..1024], 512).expect("header");
        assert_eq!((at, count, size), (1024, 128, 128));
        let parts = gpt_entries(&disk[at as usize..], count, size);
        assert_eq!(
            parts,
            vec![
                PartInfo { number: 1, uuid: "3c2d1e0f-5a4b-7869-8796-a5b4c3d2e1f0".into(), name: Some("boot".into()) },
                PartInfo { number: 3, uuid: "11111111-1111-1111-1111-111111111111".into(), name: Some("rootfs_b".into()) },
            ]
        );
        assert_eq!(gpt_header(&disk[0..512], 512), None);
        // Short arrays end the list instead of panicking.
        assert_eq!(gpt_entries(&disk[at as usize..at as usize + 200], count, size).len(), 1);
    }
}
