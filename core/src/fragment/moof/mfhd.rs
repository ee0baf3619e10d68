//! `mfhd`: the movie fragment header, a sequence number.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mfhd {
    pub sequence_number: u32,
}

impl Mfhd {
    pub const ENCODED_LEN: usize = 16;

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"mfhd", |out| {
            put_version_flags(out, 0, 0);
            out.extend_from_slice(&self.sequence_number.to_be_bytes());
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        r.skip(4);
        match r.u32() {
            Some(sequence_number) => Ok(Self { sequence_number }),
            None => err("truncated mfhd"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Mfhd {
            sequence_number: 42,
        };
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out.len(), Mfhd::ENCODED_LEN);
        assert_eq!(Mfhd::decode(&out[8..]), Ok(m));
        assert!(Mfhd::decode(&out[8..12]).is_err());
    }
}
