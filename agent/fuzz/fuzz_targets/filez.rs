//! Content-object headers: the `.filez` prefix `u32be(len) ‖ pad ‖
//! (tuuuusa(ayay))` a pull reads before anything is verified, and the
//! uncompressed stream header `(uuuusa(ayay))`. A header that parses
//! describes a valid object and its re-encoding parses the same; a
//! normal-form header re-encodes to itself; a generated header round-trips.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ostree_repo::gvariant::Value;
use ostree_repo::object::{file_header_type, filez_header_type, unframe, FileMeta};
use uptree_fuzz::{check, filemeta};

fuzz_target!(|data: &[u8]| {
    if let Ok((meta, size, off)) = FileMeta::parse_filez_header(data) {
        check!(meta.validate().is_ok(), "accepted an invalid header {meta:?}");
        check!(off <= data.len(), "body offset {off} past the {} bytes", data.len());
        let enc = meta.filez_prefix(size);
        check!(FileMeta::parse_filez_header(&enc).ok() == Some((meta.clone(), size, enc.len())), "re-encoded header parses differently: {meta:?}");
        let (hdr, _) = unframe(data).expect("parsed above");
        if Value::from_bytes_normal(hdr, filez_header_type()).is_ok() && data[4..8] == [0; 4] {
            check!(enc == data[..off], "normal-form .filez header re-encodes differently");
        }
    }
    if let Ok((meta, off)) = FileMeta::parse_stream_header(data) {
        check!(meta.validate().is_ok(), "accepted an invalid header {meta:?}");
        let enc = meta.checksum_prefix();
        check!(FileMeta::parse_stream_header(&enc).ok() == Some((meta.clone(), enc.len())), "re-encoded stream header parses differently");
        let (hdr, _) = unframe(data).expect("parsed above");
        if Value::from_bytes_normal(hdr, file_header_type()).is_ok() && data[4..8] == [0; 4] {
            check!(enc == data[..off], "normal-form stream header re-encodes differently");
        }
    }
    let mut u = Unstructured::new(data);
    if let (Ok(meta), Ok(size)) = (filemeta(&mut u), u.arbitrary::<u64>()) {
        let enc = meta.filez_prefix(size);
        check!(FileMeta::parse_filez_header(&enc).ok() == Some((meta.clone(), size, enc.len())), "decode(encode(x)) != x for {meta:?}, size {size}");
        let enc = meta.checksum_prefix();
        check!(FileMeta::parse_stream_header(&enc).ok() == Some((meta.clone(), enc.len())), "stream header: decode(encode(x)) != x for {meta:?}");
    }
});
