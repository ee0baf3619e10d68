//! `trun`: the track fragment run, one entry per sample.
//!
//! Smooth players build their own `moov` with zero `trex` defaults (dash.js), so every sample
//! states its duration and size explicitly; video also states flags and composition offsets.

use alloc::vec::Vec;

use crate::bytes_util::{put_version_flags, write_box, Reader};
use crate::fragment::{err, ParseError};

pub const DATA_OFFSET: u32 = 0x001;
pub const FIRST_SAMPLE_FLAGS: u32 = 0x004;
pub const SAMPLE_DURATION: u32 = 0x100;
pub const SAMPLE_SIZE: u32 = 0x200;
pub const SAMPLE_FLAGS: u32 = 0x400;
pub const SAMPLE_CTS: u32 = 0x800;

/// A sync sample (an IDR picture): depends on no other sample.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// A non-sync sample: depends on others, `sample_is_non_sync_sample` set.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// Samples a `trun` without per-sample fields may declare, at most.
pub const MAX_SAMPLES_WITHOUT_FIELDS: u32 = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrunSample {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    /// Composition time minus decode time.
    pub cts_offset: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trun {
    /// 0 for unsigned composition offsets, 1 for signed.
    pub version: u8,
    /// Which optional fields are present ([`SAMPLE_DURATION`] etc.; data offset and first
    /// sample flags are implied by their `Option`s).
    pub fields: u32,
    pub data_offset: Option<i32>,
    pub first_sample_flags: Option<u32>,
    pub samples: Vec<TrunSample>,
}

impl Trun {
    /// A video run: duration, size, flags and composition offset per sample (`0xF01`).
    pub fn video(samples: Vec<TrunSample>) -> Self {
        let version = u8::from(samples.iter().any(|s| s.cts_offset < 0));
        Self {
            version,
            fields: SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS | SAMPLE_CTS,
            data_offset: Some(0),
            first_sample_flags: None,
            samples,
        }
    }

    /// An audio run: duration and size per sample (`0x301`).
    pub fn audio(samples: Vec<TrunSample>) -> Self {
        Self {
            version: 0,
            fields: SAMPLE_DURATION | SAMPLE_SIZE,
            data_offset: Some(0),
            first_sample_flags: None,
            samples,
        }
    }

    fn flags(&self) -> u32 {
        (self.fields & (SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS | SAMPLE_CTS))
            | if self.data_offset.is_some() {
                DATA_OFFSET
            } else {
                0
            }
            | if self.first_sample_flags.is_some() {
                FIRST_SAMPLE_FLAGS
            } else {
                0
            }
    }

    fn per_sample_len(&self) -> usize {
        (self.fields & (SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS | SAMPLE_CTS)).count_ones()
            as usize
            * 4
    }

    pub fn encoded_len(&self) -> usize {
        16 + self.data_offset.map_or(0, |_| 4)
            + self.first_sample_flags.map_or(0, |_| 4)
            + self.samples.len() * self.per_sample_len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"trun", |out| {
            put_version_flags(out, self.version, self.flags());
            out.extend_from_slice(&(self.samples.len() as u32).to_be_bytes());
            if let Some(v) = self.data_offset {
                out.extend_from_slice(&v.to_be_bytes());
            }
            if let Some(v) = self.first_sample_flags {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.reserve(self.samples.len() * self.per_sample_len());
            for s in &self.samples {
                if self.fields & SAMPLE_DURATION != 0 {
                    out.extend_from_slice(&s.duration.to_be_bytes());
                }
                if self.fields & SAMPLE_SIZE != 0 {
                    out.extend_from_slice(&s.size.to_be_bytes());
                }
                if self.fields & SAMPLE_FLAGS != 0 {
                    out.extend_from_slice(&s.flags.to_be_bytes());
                }
                if self.fields & SAMPLE_CTS != 0 {
                    out.extend_from_slice(&s.cts_offset.to_be_bytes());
                }
            }
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body);
        let Some((version, flags, count)) = (|| Some((r.u8()?, r.u24()?, r.u32()?)))() else {
            return err("truncated trun header");
        };
        let mut t = Trun {
            version,
            fields: flags & !(DATA_OFFSET | FIRST_SAMPLE_FLAGS),
            ..Trun::default()
        };
        if flags & DATA_OFFSET != 0 {
            t.data_offset = r.u32().map(|v| v as i32);
            if t.data_offset.is_none() {
                return err("truncated trun data offset");
            }
        }
        if flags & FIRST_SAMPLE_FLAGS != 0 {
            t.first_sample_flags = r.u32();
            if t.first_sample_flags.is_none() {
                return err("truncated trun first sample flags");
            }
        }
        let per = t.per_sample_len();
        // Check the count against the bytes present before allocating for it.
        if per > 0
            && (count as usize)
                .checked_mul(per)
                .is_none_or(|n| n > r.remaining())
        {
            return err("trun sample count exceeds the box");
        }
        // Without per-sample fields nothing in the box bounds the count (fuzzing: 2^32
        // default samples took gigabytes); no real fragment comes near this.
        if per == 0 && count > MAX_SAMPLES_WITHOUT_FIELDS {
            return err("trun declares too many samples without fields");
        }
        t.samples.reserve(count as usize);
        for _ in 0..count {
            let mut s = TrunSample::default();
            let field =
                |r: &mut Reader<'_>, bit: u32| if flags & bit != 0 { r.u32() } else { Some(0) };
            let parsed = (|| {
                s.duration = field(&mut r, SAMPLE_DURATION)?;
                s.size = field(&mut r, SAMPLE_SIZE)?;
                s.flags = field(&mut r, SAMPLE_FLAGS)?;
                s.cts_offset = field(&mut r, SAMPLE_CTS)? as i32;
                Some(())
            })();
            if parsed.is_none() {
                return err("truncated trun entry");
            }
            t.samples.push(s);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    // Fuzzing regression (fuzz target `fragment`): a trun with no per-sample fields and
    // a count of 2^32 - 1 made decode build billions of default samples (out of memory).
    #[test]
    fn count_without_fields_is_bounded() {
        let body = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(Trun::decode(&body).is_err());
        let body = [0, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(
            Trun::decode(&body)
                .expect("3 default samples")
                .samples
                .len(),
            3
        );
    }

    fn samples() -> Vec<TrunSample> {
        vec![
            TrunSample {
                duration: 333_667,
                size: 1000,
                flags: SYNC_SAMPLE_FLAGS,
                cts_offset: 667_334,
            },
            TrunSample {
                duration: 333_666,
                size: 20,
                flags: NON_SYNC_SAMPLE_FLAGS,
                cts_offset: 0,
            },
        ]
    }

    #[test]
    fn round_trip_video_and_audio() {
        for t in [
            Trun::video(samples()),
            Trun::audio(vec![TrunSample {
                duration: 213_333,
                size: 371,
                ..Default::default()
            }]),
        ] {
            let mut out = Vec::new();
            t.encode(&mut out);
            assert_eq!(out.len(), t.encoded_len());
            assert_eq!(Trun::decode(&out[8..]).as_ref(), Ok(&t));
        }
    }

    #[test]
    fn smooth_flags_and_signed_offsets() {
        let mut out = Vec::new();
        Trun::video(samples()).encode(&mut out);
        assert_eq!(&out[8..12], &[0, 0, 0x0f, 0x01]);
        let mut s = samples();
        s[1].cts_offset = -5;
        let t = Trun::video(s);
        assert_eq!(t.version, 1);
        let mut out = Vec::new();
        t.encode(&mut out);
        assert_eq!(
            Trun::decode(&out[8..]).map(|t| t.samples[1].cts_offset),
            Ok(-5)
        );
        let mut out = Vec::new();
        Trun::audio(Vec::new()).encode(&mut out);
        assert_eq!(&out[8..12], &[0, 0, 0x03, 0x01]);
    }

    #[test]
    fn hostile_count_does_not_allocate() {
        let body = [0, 0, 0x03, 0x00, 0xff, 0xff, 0xff, 0xff];
        assert!(Trun::decode(&body).is_err());
    }
}
