//! Hostile delta parts: each is a clear, typed error and nothing of it
//! reaches `objects/` (the transaction is aborted as apply-offline does).

use std::io::Write;
use std::path::Path;

use ostree_repo::object::{content_checksum, Checksum, FileMeta, ObjectType, S_IFREG};
use ostree_repo::repo::ContentSource;
use ostree_repo::{Repo, RepoMode};
use uptree_delta::apply::execute_part;
use uptree_delta::format::{self, op, write_varint, PartHeader, Payload};
use uptree_delta::Error;

fn file_meta() -> FileMeta {
    FileMeta { uid: 0, gid: 0, mode: S_IFREG | 0o644, symlink_target: String::new(), xattrs: Vec::new() }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push(e);
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            v.push(e.path().display().to_string());
            v.extend(walk(&e.path()));
        }
    }
    v
}

/// A repository holding one content object (the read source of r/w/B).
fn repo_with_base(dir: &Path) -> (Repo, Checksum) {
    let repo = Repo::init(&dir.join("repo"), RepoMode::Archive).expect("init");
    let txn = repo.begin().expect("txn");
    let base = txn.write_content(&file_meta(), ContentSource::Bytes(b"0123456789"), &mut Vec::new()).expect("write");
    txn.commit().expect("commit");
    (repo, base)
}

fn ops(list: &[(u8, &[u64])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (code, args) in list {
        v.push(*code);
        for a in *args {
            write_varint(&mut v, *a);
        }
    }
    v
}

fn part(objects: Vec<(ObjectType, Checksum)>, blob: &[u8], opstream: &[u8]) -> (PartHeader, Vec<u8>) {
    let payload = Payload::to_bytes(&[(0, 0, S_IFREG | 0o644)], &[Vec::new()], blob, opstream);
    let mut file = vec![format::COMPRESSION_NONE];
    file.extend_from_slice(&payload);
    let h = PartHeader { version: 0, checksum: Checksum::of(&file), size: file.len() as u64, uncompressed_size: 0, objects };
    (h, file)
}

/// Run a part in a transaction, abort it, and check nothing was left.
fn run(repo: &Repo, h: &PartHeader, file: &[u8]) -> Result<(), Error> {
    let before = listing(&repo.path().join("objects"));
    let txn = repo.begin().expect("txn");
    let r = execute_part(&txn, 0, h, file);
    if r.is_err() {
        txn.abort().expect("abort");
        assert_eq!(listing(&repo.path().join("objects")), before, "nothing written");
        assert!(!listing(&repo.path().join("tmp")).iter().any(|p| p.contains("staging-")), "staging removed");
    } else {
        txn.commit().expect("commit");
    }
    r.map(|_| ())
}

#[test]
fn a_well_formed_part_applies() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, base) = repo_with_base(t.path());
    let new = content_checksum(&file_meta(), b"01234");
    let mut blob = base.0.to_vec();
    blob.extend_from_slice(b"hello");
    let hello = content_checksum(&file_meta(), b"hello");
    let o = ops(&[(op::SET_READ_SOURCE, &[0]), (op::OPEN, &[0, 0, 5]), (op::WRITE, &[5, 0]), (op::CLOSE, &[]), (op::OPEN_SPLICE_AND_CLOSE, &[0, 0, 5, 32])]);
    let (h, file) = part(vec![(ObjectType::File, new), (ObjectType::File, hello)], &blob, &o);
    run(&repo, &h, &file).expect("applies");
    assert!(repo.has_object(&new, ObjectType::File) && repo.has_object(&hello, ObjectType::File));
}

#[test]
fn unknown_opcode() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, _) = repo_with_base(t.path());
    let (h, file) = part(vec![(ObjectType::File, Checksum([1; 32]))], b"", b"Z");
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(matches!(e, Error::Opcode { opcode: b'Z', offset: 0, .. }), "{e}");
}

#[test]
fn out_of_bounds_offsets() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, base) = repo_with_base(t.path());
    let c = content_checksum(&file_meta(), b"abc");
    for o in [
        ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[0, 0, 3, 1])]),
        ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[0, 0, u64::MAX, 2])]),
        ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[7, 0, 3, 0])]),
        ops(&[(op::OPEN, &[0, 0, 3]), (op::WRITE, &[3, u64::MAX])]),
        ops(&[(op::SET_READ_SOURCE, &[1])]),
    ] {
        let (h, file) = part(vec![(ObjectType::File, c)], b"abc", &o);
        let e = run(&repo, &h, &file).expect_err("refused");
        assert!(matches!(e, Error::Opcode { .. }), "{e}");
    }
    // A write from the read source past its end.
    let o = ops(&[(op::SET_READ_SOURCE, &[0]), (op::OPEN, &[0, 0, 3]), (op::WRITE, &[3, 9])]);
    let (h, file) = part(vec![(ObjectType::File, c)], &base.0, &o);
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(e.to_string().contains("past the end"), "{e}");
    // Writing more than the object's declared size.
    let o = ops(&[(op::OPEN, &[0, 0, 2]), (op::WRITE, &[3, 0])]);
    let (h, file) = part(vec![(ObjectType::File, c)], b"abc", &o);
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(e.to_string().contains("writes 3 bytes, 2 left"), "{e}");
    // Truncated varint.
    let (h, file) = part(vec![(ObjectType::File, c)], b"abc", &[op::OPEN_SPLICE_AND_CLOSE, 0x80]);
    assert!(matches!(run(&repo, &h, &file), Err(Error::Opcode { .. })));
}

#[test]
fn wrong_content_is_not_committed() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, _) = repo_with_base(t.path());
    let claimed = content_checksum(&file_meta(), b"abd");
    let (h, file) = part(vec![(ObjectType::File, claimed)], b"abc", &ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[0, 0, 3, 0])]));
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(matches!(e, Error::Object { .. }) && e.to_string().contains("checksum mismatch"), "{e}");
    // Metadata that does not hash to its name.
    let (h, file) = part(vec![(ObjectType::DirMeta, Checksum([7; 32]))], b"abc", &ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[3, 0])]));
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(matches!(e, Error::Object { .. }), "{e}");
}

#[test]
fn object_list_and_ops_must_agree() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, _) = repo_with_base(t.path());
    let c = content_checksum(&file_meta(), b"abc");
    let s = ops(&[(op::OPEN_SPLICE_AND_CLOSE, &[0, 0, 3, 0])]);
    let (h, file) = part(vec![(ObjectType::File, c), (ObjectType::File, Checksum([2; 32]))], b"abc", &s);
    assert!(run(&repo, &h, &file).expect_err("refused").to_string().contains("wrote 1 of the 2 objects"));
    let two = [s.clone(), s].concat();
    let (h, file) = part(vec![(ObjectType::File, c)], b"abc", &two);
    assert!(run(&repo, &h, &file).expect_err("refused").to_string().contains("more objects than the part header lists"));
    let (h, file) = part(vec![(ObjectType::File, c)], b"abc", &ops(&[(op::OPEN, &[0, 0, 3]), (op::WRITE, &[3, 0])]));
    assert!(run(&repo, &h, &file).expect_err("refused").to_string().contains("never closed"));
}

#[test]
fn bspatch_writing_past_its_target() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, base) = repo_with_base(t.path());
    let c = content_checksum(&file_meta(), b"0123");
    let mut blob = base.0.to_vec();
    // One record: add 10 bytes into a 4-byte target.
    blob.extend_from_slice(&10u64.to_le_bytes());
    blob.extend_from_slice(&0u64.to_le_bytes());
    blob.extend_from_slice(&0u64.to_le_bytes());
    blob.extend_from_slice(&[0; 10]);
    let o = ops(&[(op::SET_READ_SOURCE, &[0]), (op::OPEN, &[0, 0, 4]), (op::BSPATCH, &[32, 34]), (op::CLOSE, &[])]);
    let (h, file) = part(vec![(ObjectType::File, c)], &blob, &o);
    let e = run(&repo, &h, &file).expect_err("refused");
    assert!(e.to_string().contains("writes past the 4-byte target"), "{e}");
}

#[test]
fn corrupt_part_is_refused_before_decoding() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, _) = repo_with_base(t.path());
    let (h, mut file) = part(vec![(ObjectType::File, Checksum([1; 32]))], b"", b"Z");
    file[3] ^= 1;
    assert!(matches!(run(&repo, &h, &file), Err(Error::PartChecksum { part: 0, .. })));
}

#[test]
fn xz_bomb_stops_at_the_limit() {
    // 4 MiB of zeros compress to a few hundred bytes.
    let mut enc = Vec::new();
    {
        let mut w = lzma_rust2::XzWriter::new(&mut enc, lzma_rust2::XzOptions::with_preset(1)).expect("xz");
        w.write_all(&vec![0u8; 4 << 20]).expect("write");
        w.finish().expect("finish");
    }
    let mut file = vec![format::COMPRESSION_XZ];
    file.extend_from_slice(&enc);
    assert!(file.len() < 4096, "a bomb: {} bytes", file.len());
    let e = format::decompress_part(0, &file, 1 << 20).expect_err("refused");
    assert!(matches!(e, Error::PartTooLarge { limit: 1048576, .. }), "{e}");
    assert_eq!(format::decompress_part(0, &file, 4 << 20).expect("fits").len(), 4 << 20);
    // Garbage after the compression byte is an error too.
    assert!(matches!(format::decompress_part(0, b"xnot xz", 1 << 20), Err(Error::Part { .. })));
    assert!(matches!(format::decompress_part(0, b"qraw", 1 << 20), Err(Error::Part { .. })));
}

/// Deterministic mutation "fuzzing" of a valid part: every mutant is
/// either applied (and then every object it wrote hashes to its name) or
/// refused with an error; none panics or leaves a staged object behind.
#[test]
fn mutated_parts_never_panic_or_leave_objects() {
    let t = tempfile::tempdir().expect("tmp");
    let (repo, base) = repo_with_base(t.path());
    let new = content_checksum(&file_meta(), b"01234");
    let hello = content_checksum(&file_meta(), b"hello");
    let mut blob = base.0.to_vec();
    blob.extend_from_slice(b"hello");
    let o = ops(&[(op::SET_READ_SOURCE, &[0]), (op::OPEN, &[0, 0, 5]), (op::WRITE, &[5, 0]), (op::CLOSE, &[]), (op::OPEN_SPLICE_AND_CLOSE, &[0, 0, 5, 32])]);
    let payload = Payload::to_bytes(&[(0, 0, S_IFREG | 0o644)], &[Vec::new()], &blob, &o);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..400 {
        let mut p = payload.clone();
        for _ in 0..=(next() % 3) {
            let i = (next() as usize) % p.len();
            p[i] = next() as u8;
        }
        let mut file = vec![format::COMPRESSION_NONE];
        file.extend_from_slice(&p);
        let h = PartHeader {
            version: 0,
            checksum: Checksum::of(&file),
            size: file.len() as u64,
            uncompressed_size: 0,
            objects: vec![(ObjectType::File, new), (ObjectType::File, hello)],
        };
        let _ = run(&repo, &h, &file);
    }
    // Whatever was committed is exactly what the object list names, intact.
    for (c, kind) in repo.list_objects(None).expect("list") {
        if kind == ObjectType::File {
            assert!(c == base || c == new || c == hello, "unexpected object {c}");
            ostree_repo::fsck::verify_content(&repo, &c, &mut vec![0u8; 4096]).expect("intact");
        }
    }
}
