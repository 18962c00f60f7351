//! bspatch for the header-less bsdiff stream ostree embeds in delta parts
//! (Matthew Endsley's bsdiff: records of three 8-byte sign-magnitude
//! integers — add length, copy length, seek — then `add` bytes added to the
//! old file, then `copy` bytes taken verbatim).
//!
//! The output is exactly `new_size` bytes (the loop ends when it is full);
//! a patch that would write past it, seek outside `i64`, or end early is an
//! error, never a larger buffer.

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("bsdiff patch is truncated")]
    Truncated,
    #[error("bsdiff record at patch offset {at} writes past the {size}-byte target")]
    PastTarget { at: usize, size: usize },
    #[error("bsdiff record at patch offset {at} has a negative length")]
    NegativeLength { at: usize },
    #[error("bsdiff seek out of range at patch offset {at}")]
    Seek { at: usize },
}

fn offtin(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    let raw = u64::from_le_bytes(a);
    let mag = (raw & !(1u64 << 63)) as i64;
    if raw & (1u64 << 63) != 0 {
        -mag
    } else {
        mag
    }
}

/// Apply `patch` to `old`, producing exactly `new_size` bytes.
pub fn bspatch(old: &[u8], patch: &[u8], new_size: usize) -> Result<Vec<u8>, PatchError> {
    let mut new = vec![0u8; new_size];
    let mut newpos = 0usize;
    let mut oldpos: i64 = 0;
    let mut p = 0usize;
    while newpos < new_size {
        let at = p;
        let ctrl = patch.get(p..p + 24).ok_or(PatchError::Truncated)?;
        p += 24;
        let (add, copy, seek) = (offtin(&ctrl[..8]), offtin(&ctrl[8..16]), offtin(&ctrl[16..24]));
        let (add, copy) = match (usize::try_from(add), usize::try_from(copy)) {
            (Ok(a), Ok(c)) => (a, c),
            _ => return Err(PatchError::NegativeLength { at }),
        };
        let add_end = newpos.checked_add(add).filter(|&e| e <= new_size).ok_or(PatchError::PastTarget { at, size: new_size })?;
        let diff = patch.get(p..).and_then(|d| d.get(..add)).ok_or(PatchError::Truncated)?;
        p += add;
        new[newpos..add_end].copy_from_slice(diff);
        // Bytes whose old position is outside the old file are kept as is,
        // as the reference bspatch does.
        for (i, b) in new[newpos..add_end].iter_mut().enumerate() {
            let o = oldpos.checked_add(i as i64).ok_or(PatchError::Seek { at })?;
            if let Some(ob) = usize::try_from(o).ok().and_then(|o| old.get(o)) {
                *b = b.wrapping_add(*ob);
            }
        }
        newpos = add_end;
        oldpos = oldpos.checked_add(add as i64).ok_or(PatchError::Seek { at })?;
        let copy_end = newpos.checked_add(copy).filter(|&e| e <= new_size).ok_or(PatchError::PastTarget { at, size: new_size })?;
        let extra = patch.get(p..).and_then(|d| d.get(..copy)).ok_or(PatchError::Truncated)?;
        p += copy;
        new[newpos..copy_end].copy_from_slice(extra);
        newpos = copy_end;
        oldpos = oldpos.checked_add(seek).ok_or(PatchError::Seek { at })?;
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(add: i64, copy: i64, seek: i64) -> Vec<u8> {
        let enc = |v: i64| if v < 0 { ((-v) as u64 | (1 << 63)).to_le_bytes() } else { (v as u64).to_le_bytes() };
        [enc(add), enc(copy), enc(seek)].concat()
    }

    #[test]
    fn applies_add_and_copy() {
        let old = b"hello world";
        let mut p = rec(5, 3, 1);
        p.extend_from_slice(&[0, 0, 0, 0, 1]); // "hellp"
        p.extend_from_slice(b"XYZ");
        assert_eq!(bspatch(old, &p, 8).expect("patch"), b"hellpXYZ");
    }

    #[test]
    fn refuses_writing_past_target() {
        let mut p = rec(4, 0, 0);
        p.extend_from_slice(&[0; 4]);
        assert_eq!(bspatch(b"abcd", &p, 3), Err(PatchError::PastTarget { at: 0, size: 3 }));
        let mut p = rec(1, i64::MAX, 0);
        p.push(0);
        assert!(matches!(bspatch(b"abcd", &p, 3), Err(PatchError::PastTarget { .. })));
        assert_eq!(bspatch(b"abcd", &rec(-1, 0, 0), 3), Err(PatchError::NegativeLength { at: 0 }));
    }

    #[test]
    fn refuses_truncated_and_short() {
        assert_eq!(bspatch(b"abcd", &rec(2, 0, 0), 2), Err(PatchError::Truncated));
        assert_eq!(bspatch(b"abcd", &[], 2), Err(PatchError::Truncated));
        let mut p = rec(1, 0, 0);
        p.push(0);
        assert_eq!(bspatch(b"abcd", &p, 2), Err(PatchError::Truncated));
    }

    #[cfg(feature = "generate")]
    #[test]
    fn roundtrips_with_the_bsdiff_crate() {
        let old: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut new = old.clone();
        new[100] ^= 1;
        new.extend_from_slice(b"tail");
        let mut patch = Vec::new();
        bsdiff::diff(&old, &new, &mut patch).expect("diff");
        assert_eq!(bspatch(&old, &patch, new.len()).expect("patch"), new);
    }
}
