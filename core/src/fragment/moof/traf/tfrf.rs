//! `uuid` TfrfBox ([MS-SSTR] 2.2.4.5): the times of the fragments that follow this one, so a
//! live client can extend its timeline without reloading the manifest.
//!
//! FragmentCount is one byte, as FFmpeg, nginx-vod, GPAC and dash.js read it (the spec's prose
//! says four; every implementation disagrees).
//!
//! A box may keep room for entries it does not have yet ([`Tfrf::room`]): a `free` box after
//! it takes the place of the missing ones, so the tfrf and its padding keep one size from
//! the first version of a live fragment to the last, and a host can rewrite the fragment's
//! head in place instead of writing the whole file again. Smooth encoders already reserve
//! space in a traf with `free` (their tfxd is written later), and parsers skip it.

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
    /// Entries room is kept for: fewer entries are followed by a `free` box of 16 bytes per
    /// missing one. Not read back (a decoded tfrf has none).
    pub room: u8,
}

impl Tfrf {
    /// The box and the `free` box that keeps its room, if any.
    pub fn encoded_len(&self) -> usize {
        29 + 16 * self.count().max(usize::from(self.room))
    }

    fn count(&self) -> usize {
        self.entries.len().min(255)
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
        let missing = usize::from(self.room).saturating_sub(self.count());
        if missing > 0 {
            // 16 bytes per missing entry: always room for the free box's own 8-byte header.
            write_box(out, b"free", |out| {
                out.resize(out.len() + 16 * missing - 8, 0)
            });
        }
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
            Some(Self { entries, room: 0 })
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
            room: 0,
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

    #[test]
    fn room_keeps_one_size_with_a_free_box() {
        let mut t = Tfrf {
            entries: vec![],
            room: 2,
        };
        let entry = TfrfEntry {
            time: 10,
            duration: 20,
        };
        let mut sizes = Vec::new();
        for n in 0..=3 {
            let mut out = Vec::new();
            t.encode(&mut out);
            assert_eq!(out.len(), t.encoded_len());
            sizes.push(out.len());
            let tfrf_len = 29 + 16 * n;
            assert_eq!(out[28], n as u8);
            assert_eq!(
                Tfrf::decode(&out[24..tfrf_len]).map(|d| d.entries),
                Ok(t.entries.clone())
            );
            if n < 2 {
                let free = &out[tfrf_len..];
                assert_eq!(&free[4..8], b"free");
                assert_eq!(
                    u32::from_be_bytes([free[0], free[1], free[2], free[3]]) as usize,
                    free.len()
                );
            } else {
                assert_eq!(out.len(), tfrf_len, "no free box once the room is used");
            }
            t.entries.push(entry);
        }
        assert_eq!(sizes[..3], [61, 61, 61]);
        assert_eq!(sizes[3], 77, "past its room the box grows");
    }
}
