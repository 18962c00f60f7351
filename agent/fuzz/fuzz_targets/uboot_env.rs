//! U-Boot environment blocks, single and redundant, the text mkenvimage
//! reads, and `fw_env.config`.
//!
//! * A block that parses re-encodes (sorted, same size and flag) to a block
//!   that parses to the same variables; a block in normal form (entries
//!   sorted and unique, uniform padding) is exactly its re-encoding.
//! * Two redundant copies: the copy `select_active` picks is a valid one,
//!   and writing the next environment the way `Store::save` does (the
//!   other copy, next flag) makes the new copy the active one.
//! * Generated environments round-trip through blocks and through text.
//! * `fw_env.config` that parses prints back to text that parses the same.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use uboot_env::block::{header_len, parse_block, split_entry};
use uboot_env::{encode_block, next_flag, select_active, Config, Env, FlagScheme};
use uptree_fuzz::check;

fn single_or_copy(block: &[u8], redundant: bool) {
    let Ok((env, flag)) = Env::from_block(block, redundant) else { return };
    check!(flag.is_some() == redundant, "flag {flag:?} on a redundant={redundant} block");
    let again = env.to_block(block.len(), flag).unwrap_or_else(|e| panic!("invariant failed: a parsed env does not fit its own block: {e}"));
    check!(Env::from_block(&again, redundant).ok() == Some((env.clone(), flag)), "decode(encode(decode(b))) != decode(b)");
    // Normal form: what encode_block makes of the stored entries.
    let raw = parse_block(block, redundant).expect("parsed above");
    let entries: Option<Vec<(&[u8], &[u8])>> = raw.entries.iter().map(|e| split_entry(e)).collect();
    let Some(entries) = entries else { return };
    let used = header_len(redundant) + raw.entries.iter().map(|e| e.len() + 1).sum::<usize>() + 1;
    // Only a data area ended by its empty string has a normal form (one
    // running to the end of the block re-encodes one byte longer).
    if block.get(used - 1) != Some(&0) {
        return;
    }
    let padding = &block[used..];
    let pad = padding.first().copied().unwrap_or(0);
    if padding.iter().all(|&b| b == pad) {
        let sorted_unique = entries.windows(2).all(|w| w[0].0 < w[1].0);
        let enc = encode_block(entries.iter().copied(), block.len(), flag, pad).expect("entries were valid");
        check!(enc == block, "normal-form block re-encodes differently");
        if sorted_unique {
            check!(env.to_block_padded(block.len(), flag, pad).ok().as_deref() == Some(block), "sorted block is not Env::to_block's");
        }
    }
}

fn redundant_pair(a: &[u8], b: &[u8]) {
    let copies = [Env::from_block(a, true), Env::from_block(b, true)];
    let valid = [copies[0].is_ok(), copies[1].is_ok()];
    let flags = [a.get(4).copied().unwrap_or(0), b.get(4).copied().unwrap_or(0)];
    let Some(active) = select_active(valid, flags, FlagScheme::Incremental) else {
        check!(valid == [false, false], "no active copy although one is valid");
        return;
    };
    check!(valid[active], "picked copy {active}, which is invalid");
    // A save writes the other copy with the next flag; a load must then
    // pick it, whatever the old inactive copy held.
    let new_flag = next_flag(flags[active], FlagScheme::Incremental);
    let other = 1 - active;
    let mut new_flags = flags;
    new_flags[other] = new_flag;
    let mut new_valid = valid;
    new_valid[other] = true;
    check!(
        select_active(new_valid, new_flags, FlagScheme::Incremental) == Some(other),
        "after a save over copy {other} with flag {new_flag}, flags {new_flags:?} do not select it"
    );
}

fn generated(u: &mut Unstructured) -> arbitrary::Result<()> {
    let mut env = Env::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let name: Vec<u8> = u.arbitrary()?;
        let value: Vec<u8> = u.arbitrary()?;
        let _ = env.set(name, value);
    }
    let flag: Option<u8> = u.arbitrary()?;
    let size = header_len(flag.is_some()) + env.data_len() + u.int_in_range(0..=16)?;
    let block = env.to_block(size, flag).unwrap_or_else(|e| panic!("invariant failed: env does not fit {size} bytes: {e}"));
    check!(Env::from_block(&block, flag.is_some()).ok() == Some((env.clone(), flag)), "decode(encode(x)) != x for {env:?}");
    let needed = header_len(flag.is_some()) + env.data_len();
    check!(env.to_block(needed, flag).is_ok() && env.to_block(needed - 1, flag).is_err(), "{needed} bytes is not the exact fit of {env:?}");
    if let Ok(text) = env.to_text() {
        check!(Env::from_text(&text).ok().as_ref() == Some(&env), "text does not round-trip for {env:?}: {:?}", String::from_utf8_lossy(&text));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => single_or_copy(rest, false),
        1 => single_or_copy(rest, true),
        2 => {
            let (a, b) = rest.split_at(rest.len() / 2);
            redundant_pair(a, b);
        }
        _ => {
            if let Ok(env) = Env::from_text(rest) {
                if let Ok(text) = env.to_text() {
                    check!(Env::from_text(&text).ok().as_ref() == Some(&env), "text -> env -> text -> env differs");
                }
            }
            if let Some(c) = std::str::from_utf8(rest).ok().and_then(|t| Config::parse(t).ok()) {
                if let Ok(text) = c.to_text() {
                    check!(Config::parse(&text).ok().as_ref() == Some(&c), "fw_env.config does not round-trip: {text:?}");
                }
            }
        }
    }
    let _ = generated(&mut Unstructured::new(data));
});
