//! `tfhd`: the track fragment header.
//!
//! Written as PIFF/Smooth players expect (FFmpeg's ISM mode): only `default_sample_flags`.
//! No default size (Silverlight refuses it), no default duration (Windows Media Player), no
//! base data offset (PIFF), so every sample carries its own values in `trun`.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

/// The tf_flags bits of the optional fields.
pub const BASE_DATA_OFFSET: u32 = 0x01;
pub const SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
pub const DEFAULT_SAMPLE_DURATION: u32 = 0x08;
pub const DEFAULT_SAMPLE_SIZE: u32 = 0x10;
pub const DEFAULT_SAMPLE_FLAGS: u32 = 0x20;

/// Non-sync, depends on others: the usual video sample.
pub const VIDEO_DEFAULT_FLAGS: u32 = 0x0101_0000;
/// Depends on no other sample: every audio frame.
pub const AUDIO_DEFAULT_FLAGS: u32 = 0x0200_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tfhd {
    pub track_id: u32,
    pub base_data_offset: Option<u64>,
    pub sample_description_index: Option<u32>,
    pub default_sample_duration: Option<u32>,
    pub default_sample_size: Option<u32>,
    pub default_sample_flags: Option<u32>,
    /// The tf_flags bits not modelled above (e.g. 0x020000 default-base-is-moof), kept for
    /// round trips of fragments from other packagers.
    pub other_flags: u32,
}

impl Tfhd {
    pub fn video(track_id: u32) -> Self {
        Self {
            track_id,
            default_sample_flags: Some(VIDEO_DEFAULT_FLAGS),
            ..Self::default()
        }
    }

    pub fn audio(track_id: u32) -> Self {
        Self {
            track_id,
            default_sample_flags: Some(AUDIO_DEFAULT_FLAGS),
            ..Self::default()
        }
    }

    /// A text track: every sample (one TTML document) is a sync sample, as audio's are.
    pub fn text(track_id: u32) -> Self {
        Self::audio(track_id)
    }

    fn flags(&self) -> u32 {
        let mut f = self.other_flags & !0x3b;
        f |= if self.base_data_offset.is_some() {
            BASE_DATA_OFFSET
        } else {
            0
        };
        f |= if self.sample_description_index.is_some() {
            SAMPLE_DESCRIPTION_INDEX
        } else {
            0
        };
        f |= if self.default_sample_duration.is_some() {
            DEFAULT_SAMPLE_DURATION
        } else {
            0
        };
        f |= if self.default_sample_size.is_some() {
            DEFAULT_SAMPLE_SIZE
        } else {
            0
        };
        f |= if self.default_sample_flags.is_some() {
            DEFAULT_SAMPLE_FLAGS
        } else {
            0
        };
        f
    }

    pub fn encoded_len(&self) -> usize {
        16 + self.base_data_offset.map_or(0, |_| 8)
            + [
                self.sample_description_index,
                self.default_sample_duration,
                self.default_sample_size,
                self.default_sample_flags,
            ]
            .iter()
            .filter(|v| v.is_some())
            .count()
                * 4
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"tfhd", |out| {
            put_version_flags(out, 0, self.flags());
            out.extend_from_slice(&self.track_id.to_be_bytes());
            if let Some(v) = self.base_data_offset {
                out.extend_from_slice(&v.to_be_bytes());
            }
            for v in [
                self.sample_description_index,
                self.default_sample_duration,
                self.default_sample_size,
                self.default_sample_flags,
            ]
            .into_iter()
            .flatten()
            {
                out.extend_from_slice(&v.to_be_bytes());
            }
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let parsed = (|| {
            let flags = r.u32()? & 0x00ff_ffff;
            let track_id = r.u32()?;
            let base_data_offset = if flags & BASE_DATA_OFFSET != 0 {
                Some(r.u64()?)
            } else {
                None
            };
            let mut next = |bit: u32| -> Option<Option<u32>> {
                if flags & bit != 0 {
                    r.u32().map(Some)
                } else {
                    Some(None)
                }
            };
            Some(Self {
                track_id,
                base_data_offset,
                sample_description_index: next(SAMPLE_DESCRIPTION_INDEX)?,
                default_sample_duration: next(DEFAULT_SAMPLE_DURATION)?,
                default_sample_size: next(DEFAULT_SAMPLE_SIZE)?,
                default_sample_flags: next(DEFAULT_SAMPLE_FLAGS)?,
                other_flags: flags & !0x3b,
            })
        })();
        match parsed {
            Some(t) => Ok(t),
            None => err("truncated tfhd"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_smooth_and_general() {
        for t in [
            Tfhd::video(1),
            Tfhd::audio(2),
            Tfhd {
                track_id: 7,
                base_data_offset: Some(1 << 40),
                sample_description_index: Some(1),
                default_sample_duration: Some(1001),
                default_sample_size: Some(9),
                default_sample_flags: None,
                other_flags: 0x02_0000,
            },
        ] {
            let mut out = Vec::new();
            t.encode(&mut out);
            assert_eq!(out.len(), t.encoded_len());
            assert_eq!(Tfhd::decode(&out[8..]), Ok(t));
            assert!(Tfhd::decode(&out[8..out.len() - 1]).is_err());
        }
    }

    #[test]
    fn smooth_video_tfhd_bytes() {
        let mut out = Vec::new();
        Tfhd::video(1).encode(&mut out);
        assert_eq!(
            out,
            [0, 0, 0, 20, b't', b'f', b'h', b'd', 0, 0, 0, 0x20, 0, 0, 0, 1, 1, 1, 0, 0]
        );
    }
}
