//! `uuid` PIFF SampleEncryptionBox (PIFF 1.1 §5.3.2.1): the per-sample IVs and, for video,
//! the clear/protected byte ranges of each sample.
//!
//! Written as the reference packagers write it for Smooth (nginx-vod, Bento4): version 0,
//! flags 0x2 (subsamples) for video and 0 for audio, never 0x1 (the AlgorithmID/IV size/KID
//! override: EXO refuses it, dash.js and Shaka misread it), IVs of 8 bytes (what dash.js,
//! Shaka and ExoPlayer put in the `tenc` they synthesize), one entry per `trun` sample.
//! dash.js and Shaka rename this box to `senc`; ffmpeg and Chrome find the same bytes
//! through `saiz`/`saio`.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

pub const SENC_UUID: [u8; 16] = [
    0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14, 0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4,
];

/// Flag: each sample lists its subsamples.
pub const USE_SUBSAMPLES: u32 = 0x2;
/// Flag: the box overrides the track's AlgorithmID, IV size and KID (read, never written).
pub const OVERRIDE_TRACK_DEFAULTS: u32 = 0x1;

/// Bytes from the start of the box to the first IV: size, type, uuid, version/flags, count.
/// `saio` points there.
pub const FIRST_IV_OFFSET: usize = 8 + 16 + 4 + 4;

/// One run of a sample: `clear` bytes left as they are, then `protected` bytes encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SencSample {
    pub iv: [u8; 8],
    /// Empty without [`USE_SUBSAMPLES`]: the whole sample is protected.
    pub subsamples: Vec<Subsample>,
}

impl SencSample {
    /// The size of this sample's auxiliary information, as `saiz` states it.
    pub fn info_size(&self, subsamples: bool) -> usize {
        if subsamples {
            8 + 2 + 6 * self.subsamples.len()
        } else {
            8
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Senc {
    pub flags: u32,
    pub samples: Vec<SencSample>,
}

impl Senc {
    pub fn subsamples(&self) -> bool {
        self.flags & USE_SUBSAMPLES != 0
    }

    pub fn encoded_len(&self) -> usize {
        let sub = self.subsamples();
        FIRST_IV_OFFSET + self.samples.iter().map(|s| s.info_size(sub)).sum::<usize>()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let sub = self.subsamples();
        write_box(out, b"uuid", |out| {
            out.extend_from_slice(&SENC_UUID);
            put_version_flags(out, 0, self.flags & USE_SUBSAMPLES);
            out.extend_from_slice(&(self.samples.len() as u32).to_be_bytes());
            for s in &self.samples {
                out.extend_from_slice(&s.iv);
                if sub {
                    out.extend_from_slice(&(s.subsamples.len() as u16).to_be_bytes());
                    for ss in &s.subsamples {
                        out.extend_from_slice(&ss.clear.to_be_bytes());
                        out.extend_from_slice(&ss.protected.to_be_bytes());
                    }
                }
            }
        });
    }

    /// Decodes the payload after the uuid. Only 8-byte IVs are read (the size every MSS
    /// player assumes); an override (flag 0x1) with another IV size is an error.
    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let Some((_version, flags)) = (|| Some((r.u8()?, r.u24()?)))() else {
            return err("truncated PIFF sample encryption header");
        };
        if flags & OVERRIDE_TRACK_DEFAULTS != 0 {
            let iv_size = (|| {
                r.skip(3)?;
                let n = r.u8()?;
                r.skip(16)?;
                Some(n)
            })();
            match iv_size {
                Some(8) => {}
                Some(_) => return err("PIFF sample encryption with an IV size other than 8"),
                None => return err("truncated PIFF sample encryption override"),
            }
        }
        let Some(count) = r.u32() else {
            return err("truncated PIFF sample encryption count");
        };
        // Each sample takes at least its 8-byte IV: check before allocating.
        if (count as usize).saturating_mul(8) > r.remaining() {
            return err("PIFF sample encryption count exceeds the box");
        }
        let sub = flags & USE_SUBSAMPLES != 0;
        let mut samples = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let parsed = (|| {
                let mut iv = [0u8; 8];
                iv.copy_from_slice(r.bytes(8)?);
                let mut subsamples = Vec::new();
                if sub {
                    let n = r.u16()?;
                    if usize::from(n) * 6 > r.remaining() {
                        return None;
                    }
                    for _ in 0..n {
                        subsamples.push(Subsample {
                            clear: r.u16()?,
                            protected: r.u32()?,
                        });
                    }
                }
                Some(SencSample { iv, subsamples })
            })();
            match parsed {
                Some(s) => samples.push(s),
                None => return err("truncated PIFF sample encryption entry"),
            }
        }
        Ok(Self {
            flags: flags & USE_SUBSAMPLES,
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn video() -> Senc {
        Senc {
            flags: USE_SUBSAMPLES,
            samples: vec![
                SencSample {
                    iv: [1, 2, 3, 4, 5, 6, 7, 8],
                    subsamples: vec![
                        Subsample {
                            clear: 20,
                            protected: 0,
                        },
                        Subsample {
                            clear: 5,
                            protected: 4096,
                        },
                    ],
                },
                SencSample {
                    iv: [1, 2, 3, 4, 5, 6, 7, 9],
                    subsamples: vec![Subsample {
                        clear: 7,
                        protected: 32,
                    }],
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        for s in [
            video(),
            Senc {
                flags: 0,
                samples: vec![SencSample {
                    iv: [9; 8],
                    subsamples: vec![],
                }],
            },
        ] {
            let mut out = Vec::new();
            s.encode(&mut out);
            assert_eq!(out.len(), s.encoded_len());
            assert_eq!(&out[8..24], &SENC_UUID);
            assert_eq!(&out[24..28], &[0, 0, 0, s.flags as u8]);
            assert_eq!(
                u32::from_be_bytes([out[28], out[29], out[30], out[31]]) as usize,
                s.samples.len()
            );
            assert_eq!(&out[FIRST_IV_OFFSET..FIRST_IV_OFFSET + 8], &s.samples[0].iv);
            assert_eq!(Senc::decode(&out[24..]), Ok(s.clone()));
            for n in 24..out.len() - 1 {
                assert!(Senc::decode(&out[24..n]).is_err(), "cut at {n}");
            }
        }
        // 8 + 2 + 6 × 2 and 8 + 2 + 6: what saiz states.
        let v = video();
        assert_eq!(v.samples[0].info_size(true), 22);
        assert_eq!(v.samples[1].info_size(true), 16);
    }

    #[test]
    fn hostile_count_does_not_allocate() {
        assert!(Senc::decode(&[0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
