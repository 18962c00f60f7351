//! `static-delta show DELTA`: the superblock, as ostree prints it.

use ostree_repo::fsutil::format_size_glib as format_size;
use ostree_repo::Repo;

use crate::cmd::out;
use crate::Result;

pub fn run(repo: &Repo, delta: &str) -> Result<i32> {
    let name = super::parse_name(delta)?;
    let sb = uptree_delta::manage::load(repo, &name)?;
    let mut s = format!("Delta: {name}\nSigned: no\n");
    match &sb.from {
        Some(f) => s.push_str(&format!("From: {f}\n")),
        None => s.push_str("From <scratch>\n"),
    }
    s.push_str(&format!("To: {}\n", sb.to));
    s.push_str(&format!("Endianness: {}\n", if sb.big_endian { "big" } else { "little" }));
    s.push_str(&format!("Timestamp: {}\n", sb.timestamp));
    s.push_str("Number of parents: 0\n");
    let fb_size: u64 = sb.fallbacks.iter().map(|f| f.size).sum();
    let fb_usize: u64 = sb.fallbacks.iter().map(|f| f.uncompressed_size).sum();
    s.push_str(&format!("Number of fallback entries: {}\n", sb.fallbacks.len()));
    s.push_str(&format!("Total Fallback Size: {fb_size} ({})\n", format_size(fb_size)));
    s.push_str(&format!("Total Fallback Uncompressed Size: {fb_usize} ({})\n", format_size(fb_usize)));
    s.push_str(&format!("Number of parts: {}\n", sb.parts.len()));
    for (i, p) in sb.parts.iter().enumerate() {
        s.push_str(&format!("PartMeta{i}: nobjects={} size={} usize={}\n", p.objects.len(), p.size, p.uncompressed_size));
    }
    let size: u64 = sb.parts.iter().map(|p| p.size).sum();
    let usize: u64 = sb.parts.iter().map(|p| p.uncompressed_size).sum();
    s.push_str(&format!("Total Part Size: {size} ({})\n", format_size(size)));
    s.push_str(&format!("Total Part Uncompressed Size: {usize} ({})\n", format_size(usize)));
    s.push_str(&format!("Total Size: {} ({})\n", size + fb_size, format_size(size + fb_size)));
    s.push_str(&format!("Total Uncompressed Size: {} ({})\n", usize + fb_usize, format_size(usize + fb_usize)));
    out(&s)?;
    Ok(0)
}
