//! `uuid` TfxdBox ([MS-SSTR] 2.2.4.4): the fragment's absolute time and duration.
//!
//! Written as version 1 (64-bit fields). The time is the decode time of the first sample,
//! equal to the manifest's `c@t`, which dash.js turns into `tfdt`.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

pub const TFXD_UUID: [u8; 16] = [
    0x6d, 0x1d, 0x9b, 0x05, 0x42, 0xd5, 0x44, 0xe6, 0x80, 0xe2, 0x14, 0x1d, 0xaf, 0xf7, 0x57, 0xb2,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tfxd {
    /// FragmentAbsoluteTime in the stream's timescale.
    pub time: u64,
    /// FragmentDuration in the stream's timescale.
    pub duration: u64,
}

impl Tfxd {
    pub const ENCODED_LEN: usize = 44;

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"uuid", |out| {
            out.extend_from_slice(&TFXD_UUID);
            put_version_flags(out, 1, 0);
            out.extend_from_slice(&self.time.to_be_bytes());
            out.extend_from_slice(&self.duration.to_be_bytes());
        });
    }

    /// Decodes the payload after the uuid (version 0 or 1).
    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            let version = r.u8()?;
            r.skip(3)?;
            if version == 1 {
                Some(Self {
                    time: r.u64()?,
                    duration: r.u64()?,
                })
            } else {
                Some(Self {
                    time: u64::from(r.u32()?),
                    duration: u64::from(r.u32()?),
                })
            }
        })();
        match parsed {
            Some(t) => Ok(t),
            None => err("truncated tfxd"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let t = Tfxd {
            time: 1 << 40,
            duration: 20_000_000,
        };
        let mut out = Vec::new();
        t.encode(&mut out);
        assert_eq!(out.len(), Tfxd::ENCODED_LEN);
        assert_eq!(&out[..8], &[0, 0, 0, 0x2c, b'u', b'u', b'i', b'd']);
        assert_eq!(&out[8..24], &TFXD_UUID);
        assert_eq!(Tfxd::decode(&out[24..]), Ok(t));
        assert_eq!(
            Tfxd::decode(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 6]),
            Ok(Tfxd {
                time: 5,
                duration: 6
            })
        );
        assert!(Tfxd::decode(&out[24..40]).is_err());
    }
}
