//! Fragment files (moof + mdat) as the origin and resume read them back; a fragment that
//! decodes must encode and decode again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::fragment::{BoxHeader, Fragment};

fuzz_target!(|data: &[u8]| {
    let _ = BoxHeader::parse(data);
    if let Ok(f) = Fragment::decode(data) {
        let again = f.encode();
        let back = Fragment::decode(&again).expect("an encoded fragment decodes");
        assert_eq!(back.mdat, f.mdat);
    }
});
