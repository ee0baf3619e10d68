//! `uuid` TfrfBox ([MS-SSTR] 2.2.4.5): the times of the fragments that follow this one, so a
//! live client can extend its timeline without reloading the manifest.
//!
//! FragmentCount is one byte, as FFmpeg, nginx-vod, GPAC and dash.js read it (the spec's prose
//! says four; every implementation disagrees).

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

pub const TFRF_UUID: [u8; 16] = [
    0xd4, 0x80, 0x7e, 0xf2, 0xca, 0x39, 0x46, 0x95, 0x8e, 0x54, 0x26, 0xcb, 0x9e, 0x46, 0xa7, 0x9f,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TfrfEntry {
    pub time: u64,
    pub duration: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tfrf {
    /// At most 255 entries; more are not written.
    pub entries: Vec<TfrfEntry>,
}

impl Tfrf {
    pub fn encoded_len(&self) -> usize {
        29 + 16 * self.entries.len().min(255)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"uuid", |out| {
            out.extend_from_slice(&TFRF_UUID);
            put_version_flags(out, 1, 0);
            let n = self.entries.len().min(255);
            out.push(n as u8);
            for e in &self.entries[..n] {
                out.extend_from_slice(&e.time.to_be_bytes());
                out.extend_from_slice(&e.duration.to_be_bytes());
            }
        });
    }

    /// Decodes the payload after the uuid (version 0 or 1).
    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            let version = r.u8()?;
            r.skip(3)?;
            let count = r.u8()?;
            let mut entries = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                entries.push(if version == 1 {
                    TfrfEntry {
                        time: r.u64()?,
                        duration: r.u64()?,
                    }
                } else {
                    TfrfEntry {
                        time: u64::from(r.u32()?),
                        duration: u64::from(r.u32()?),
                    }
                });
            }
            Some(Self { entries })
        })();
        match parsed {
            Some(t) => Ok(t),
            None => err("truncated tfrf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip_and_layout() {
        let t = Tfrf {
            entries: vec![
                TfrfEntry {
                    time: 10,
                    duration: 20,
                },
                TfrfEntry {
                    time: 30,
                    duration: 20,
                },
            ],
        };
        let mut out = Vec::new();
        t.encode(&mut out);
        assert_eq!(out.len(), 29 + 32);
        assert_eq!(out.len(), t.encoded_len());
        assert_eq!(&out[8..24], &TFRF_UUID);
        assert_eq!(out[28], 2);
        assert_eq!(Tfrf::decode(&out[24..]), Ok(t));
        assert!(Tfrf::decode(&out[24..out.len() - 1]).is_err());
    }
}
