//! `mdat`: the samples of a fragment back to back. Only its header is written here; the
//! payload is appended (or scatter-written) by the caller.

use alloc::vec::Vec;

/// Appends an `mdat` header for a payload of `len` bytes (largesize past 4 GiB).
pub fn encode_header(len: usize, out: &mut Vec<u8>) {
    let size = len as u64 + 8;
    if let Ok(size) = u32::try_from(size) {
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(b"mdat");
    } else {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(size + 8).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::BoxHeader;

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode_header(3, &mut out);
        out.extend_from_slice(&[1, 2, 3]);
        let h = BoxHeader::parse(&out).expect("header");
        assert_eq!((&h.typ, h.size, h.header_len), (b"mdat", 11, 8));
    }
}
