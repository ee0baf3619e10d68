//! `saio`: where the sample auxiliary information starts. One offset, counted from the start
//! of the `moof` (Smooth's `tfhd` has neither base-data-offset nor default-base-is-moof, so
//! the moof is the base, as for `trun.data_offset`), pointing at the first IV inside the
//! PIFF sample encryption box. [`crate::fragment::Fragment::encode_head`] sets it, so it
//! stays right when a live rewrite grows the `tfrf` in front of it.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Saio {
    pub offset: u64,
}

impl Saio {
    /// Version 0, one 32-bit entry.
    pub const ENCODED_LEN: usize = 20;

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"saio", |out| {
            put_version_flags(out, 0, 0);
            out.extend_from_slice(&1u32.to_be_bytes());
            // A moof is far below 4 GiB: the offset fits (encode_head computes it).
            out.extend_from_slice(&(self.offset as u32).to_be_bytes());
        });
    }

    /// Reads the first offset (Smooth fragments have one `trun`, so one entry).
    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            let version = r.u8()?;
            let flags = r.u24()?;
            if flags & 1 != 0 {
                r.skip(8)?;
            }
            if r.u32()? == 0 {
                return None;
            }
            let offset = if version == 0 {
                u64::from(r.u32()?)
            } else {
                r.u64()?
            };
            Some(Self { offset })
        })();
        match parsed {
            Some(s) => Ok(s),
            None => err("truncated or empty saio"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Saio { offset: 1234 };
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(out.len(), Saio::ENCODED_LEN);
        assert_eq!(&out[4..8], b"saio");
        assert_eq!(&out[12..16], &[0, 0, 0, 1]);
        assert_eq!(Saio::decode(&out[8..]), Ok(s));
        assert!(Saio::decode(&out[8..out.len() - 1]).is_err());
    }
}
