//! `moov` of a Smooth live ingest stream: `mvhd`, one `trak` per track with empty sample
//! tables (every sample is in the fragments), and `mvex` with a `trex` per track. Media
//! timescale 10 MHz, as FFmpeg's `ismv` muxer forces ("assumed by some tools, such as
//! mp4split") and as the fragments' times are.
//!
//! ```text
//! moov          mod.rs
//!   mvhd        mod.rs
//!   trak        trak.rs  (tkhd, mdia: mdhd, hdlr, minf: vmhd|smhd, dinf, stbl)
//!     stsd      stsd.rs  (avc1 + avcC | mp4a + esds)
//!   mvex        mvex.rs  (trex)
//! ```

pub mod mvex;
pub mod stsd;
pub mod trak;

use alloc::vec::Vec;

use super::IsmlTrack;
use crate::bytes_util::{put_version_flags, write_box};

/// The movie timescale (`mvhd`), as FFmpeg writes it; only the media timescale matters.
pub const MOVIE_TIMESCALE: u32 = 1000;

/// The unity matrix of `mvhd` and `tkhd`.
pub(crate) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

pub fn encode(tracks: &[IsmlTrack], out: &mut Vec<u8>) {
    write_box(out, b"moov", |out| {
        let next_track_id = tracks.iter().map(|t| t.track_id).max().unwrap_or(0) + 1;
        encode_mvhd(next_track_id, out);
        for t in tracks {
            trak::encode(t, out);
        }
        mvex::encode(tracks, out);
    });
}

/// `mvhd` version 0: no times, duration 0 (unknown: a live stream), rate 1.0, volume 1.0.
fn encode_mvhd(next_track_id: u32, out: &mut Vec<u8>) {
    write_box(out, b"mvhd", |out| {
        put_version_flags(out, 0, 0);
        out.extend_from_slice(&[0; 8]); // creation, modification
        out.extend_from_slice(&MOVIE_TIMESCALE.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // duration
        out.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate
        out.extend_from_slice(&0x0100u16.to_be_bytes()); // volume
        out.extend_from_slice(&[0; 10]); // reserved
        for m in UNITY_MATRIX {
            out.extend_from_slice(&m.to_be_bytes());
        }
        out.extend_from_slice(&[0; 24]); // pre_defined
        out.extend_from_slice(&next_track_id.to_be_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::{aac_track, avc_track};
    use super::*;
    use crate::fragment::header::children;

    #[test]
    fn mvhd_layout() {
        let mut out = Vec::new();
        encode_mvhd(3, &mut out);
        assert_eq!(out.len(), 108, "a version 0 mvhd");
        assert_eq!(&out[20..24], &MOVIE_TIMESCALE.to_be_bytes());
        assert_eq!(&out[104..108], &3u32.to_be_bytes());
    }

    #[test]
    fn moov_children_in_order() {
        let mut out = Vec::new();
        encode(&[avc_track(1), aac_track(2)], &mut out);
        let kids: Vec<[u8; 4]> = children(&out[8..])
            .map(|c| c.expect("child").0.typ)
            .collect();
        assert_eq!(kids, [*b"mvhd", *b"trak", *b"trak", *b"mvex"]);
    }
}
