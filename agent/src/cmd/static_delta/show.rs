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
    let endianness = match (sb.big_endian, sb.endianness_guessed) {
        (true, false) => "big",
        (false, false) => "little",
        (true, true) => "big (heuristic)",
        // ostree's name for "no key, and nothing looked swapped".
        (false, true) => "invalid",
    };
    s.push_str(&format!("Endianness: {endianness}\n"));
    s.push_str(&format!("Timestamp: {}\n", sb.timestamp));
    s.push_str("Number of parents: 0\n");
    // Sums wrap as ostree's guint64 ones do: the sizes are the file's
    // numbers (garbled when the byte order was misguessed), printed only.
    let total = |it: &mut dyn Iterator<Item = u64>| it.fold(0u64, u64::wrapping_add);
    let fb_size = total(&mut sb.fallbacks.iter().map(|f| f.size));
    let fb_usize = total(&mut sb.fallbacks.iter().map(|f| f.uncompressed_size));
    s.push_str(&format!("Number of fallback entries: {}\n", sb.fallbacks.len()));
    for f in &sb.fallbacks {
        s.push_str(&format!("  {}\n", f.checksum));
    }
    s.push_str(&format!("Total Fallback Size: {fb_size} ({})\n", format_size(fb_size)));
    s.push_str(&format!("Total Fallback Uncompressed Size: {fb_usize} ({})\n", format_size(fb_usize)));
    s.push_str(&format!("Number of parts: {}\n", sb.parts.len()));
    for (i, p) in sb.parts.iter().enumerate() {
        s.push_str(&format!("PartMeta{i}: nobjects={} size={} usize={}\n", p.objects.len(), p.size, p.uncompressed_size));
        let ps = uptree_delta::manage::part_summary(repo, &name, &sb, i)?;
        s.push_str(&format!("PartPayload{i}: nmodes={} nxattrs={} blobsize={} opsize={}\n", ps.modes, ps.xattrs, ps.blob_size, ps.ops_size));
        let [sc, o, w, r, ur, c, b] = ps.op_counts;
        s.push_str(&format!("PartPayloadOps{i}: openspliceclose={sc} open={o} write={w} setread={r} unsetread={ur} close={c} bspatch={b}\n"));
    }
    let size = total(&mut sb.parts.iter().map(|p| p.size));
    let usize = total(&mut sb.parts.iter().map(|p| p.uncompressed_size));
    s.push_str(&format!("Total Part Size: {size} ({})\n", format_size(size)));
    s.push_str(&format!("Total Part Uncompressed Size: {usize} ({})\n", format_size(usize)));
    let (all, uall) = (size.wrapping_add(fb_size), usize.wrapping_add(fb_usize));
    s.push_str(&format!("Total Size: {all} ({})\n", format_size(all)));
    s.push_str(&format!("Total Uncompressed Size: {uall} ({})\n", format_size(uall)));
    out(&s)?;
    Ok(0)
}
