//! `saiz`: the size of each sample's auxiliary (encryption) information, so that ffmpeg and
//! Chrome's MSE parser, which never read the PIFF uuid box, find the IVs and subsamples
//! through `saio`. Written as nginx-vod and Bento4 write it: version 0, flags 0 (no
//! aux_info_type), a default size of 8 for audio (IV only), per-sample sizes for video.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Saiz {
    /// Non-zero: every sample's size, and `sizes` is empty.
    pub default_size: u8,
    pub sample_count: u32,
    /// One per sample when `default_size` is 0.
    pub sizes: Vec<u8>,
}

impl Saiz {
    pub fn encoded_len(&self) -> usize {
        17 + if self.default_size == 0 {
            self.sizes.len()
        } else {
            0
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"saiz", |out| {
            put_version_flags(out, 0, 0);
            out.push(self.default_size);
            out.extend_from_slice(&self.sample_count.to_be_bytes());
            if self.default_size == 0 {
                out.extend_from_slice(&self.sizes);
            }
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            r.u8()?;
            let flags = r.u24()?;
            if flags & 1 != 0 {
                // aux_info_type and its parameter.
                r.skip(8)?;
            }
            let default_size = r.u8()?;
            let sample_count = r.u32()?;
            let sizes = if default_size == 0 {
                r.bytes(sample_count as usize)?.to_vec()
            } else {
                Vec::new()
            };
            Some(Self {
                default_size,
                sample_count,
                sizes,
            })
        })();
        match parsed {
            Some(s) => Ok(s),
            None => err("truncated saiz"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn round_trip() {
        for s in [
            Saiz {
                default_size: 8,
                sample_count: 47,
                sizes: vec![],
            },
            Saiz {
                default_size: 0,
                sample_count: 3,
                sizes: vec![16, 22, 16],
            },
        ] {
            let mut out = Vec::new();
            s.encode(&mut out);
            assert_eq!(out.len(), s.encoded_len());
            assert_eq!(&out[4..8], b"saiz");
            assert_eq!(Saiz::decode(&out[8..]), Ok(s.clone()));
            if s.default_size == 0 {
                assert!(Saiz::decode(&out[8..out.len() - 1]).is_err());
            }
        }
    }
}
