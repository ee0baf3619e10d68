//! `ftyp` of a Smooth live ingest stream: major brand `isml`, minor version 0x200,
//! compatible `isml` and `piff`, as FFmpeg's `ismv` muxer writes it (IIS, Azure and Unified
//! Origin accept it; RMS wrote `piff`/`iso2`).

use alloc::vec::Vec;

use crate::bytes_util::write_box;

pub const MAJOR_BRAND: &[u8; 4] = b"isml";
pub const MINOR_VERSION: u32 = 0x200;
pub const COMPATIBLE_BRANDS: [&[u8; 4]; 2] = [b"isml", b"piff"];

pub fn encode(out: &mut Vec<u8>) {
    write_box(out, b"ftyp", |out| {
        out.extend_from_slice(MAJOR_BRAND);
        out.extend_from_slice(&MINOR_VERSION.to_be_bytes());
        for b in COMPATIBLE_BRANDS {
            out.extend_from_slice(b);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::BoxHeader;

    #[test]
    fn layout() {
        let mut out = Vec::new();
        encode(&mut out);
        assert_eq!(out.len(), 24, "the size ffmpeg writes");
        let h = BoxHeader::parse(&out).expect("header");
        assert_eq!((&h.typ, h.size), (b"ftyp", 24));
        assert_eq!(&out[8..12], b"isml");
        assert_eq!(&out[12..16], &[0, 0, 2, 0]);
        assert_eq!(&out[16..24], b"ismlpiff");
    }
}
