//! `trak` of one ingest track: `tkhd` (enabled, in movie), `mdia` with `mdhd` at 10 MHz and
//! the track's language, `hdlr`, and `minf` whose `stbl` holds the sample description and
//! empty tables (the samples are all in the fragments).

use alloc::vec::Vec;

use super::super::IsmlTrack;
use super::{stsd, UNITY_MATRIX};
use crate::bytes_util::{put_version_flags, write_box};
use crate::media::{CodecConfig, TrackKind};
use crate::time::MSS_TIMESCALE;

/// `tkhd` flags: track_enabled | track_in_movie.
const TKHD_FLAGS: u32 = 0x3;

pub fn encode(t: &IsmlTrack, out: &mut Vec<u8>) {
    write_box(out, b"trak", |out| {
        encode_tkhd(t, out);
        write_box(out, b"mdia", |out| {
            encode_mdhd(t, out);
            encode_hdlr(t.codec.kind(), out);
            write_box(out, b"minf", |out| {
                encode_media_header(t.codec.kind(), out);
                encode_dinf(out);
                write_box(out, b"stbl", |out| {
                    stsd::encode(t, out);
                    for typ in [b"stts", b"stsc", b"stco"] {
                        write_box(out, typ, |out| {
                            put_version_flags(out, 0, 0);
                            out.extend_from_slice(&0u32.to_be_bytes()); // entry_count
                        });
                    }
                    write_box(out, b"stsz", |out| {
                        put_version_flags(out, 0, 0);
                        out.extend_from_slice(&[0; 8]); // sample_size, sample_count
                    });
                });
            });
        });
    });
}

/// Version 0, duration 0 (a live stream has none yet).
fn encode_tkhd(t: &IsmlTrack, out: &mut Vec<u8>) {
    let (width, height) = match &t.codec {
        CodecConfig::H264(avc) => (avc.width, avc.height),
        _ => (0, 0),
    };
    let volume: u16 = match t.codec.kind() {
        TrackKind::Audio => 0x0100,
        _ => 0,
    };
    write_box(out, b"tkhd", |out| {
        put_version_flags(out, 0, TKHD_FLAGS);
        out.extend_from_slice(&[0; 8]); // creation, modification
        out.extend_from_slice(&t.track_id.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // reserved
        out.extend_from_slice(&0u32.to_be_bytes()); // duration
        out.extend_from_slice(&[0; 8]); // reserved
        out.extend_from_slice(&[0; 4]); // layer, alternate_group
        out.extend_from_slice(&volume.to_be_bytes());
        out.extend_from_slice(&[0; 2]); // reserved
        for m in UNITY_MATRIX {
            out.extend_from_slice(&m.to_be_bytes());
        }
        // 16.16 fixed point; sizes past 65535 cannot be said (and are not H.264).
        out.extend_from_slice(&(width.min(0xffff) << 16).to_be_bytes());
        out.extend_from_slice(&(height.min(0xffff) << 16).to_be_bytes());
    });
}

fn encode_mdhd(t: &IsmlTrack, out: &mut Vec<u8>) {
    // ISO 639-2/T packed as three 5-bit letters (`und` when unknown).
    let code = t.language.as_ref().map_or("und", |l| l.as_str()).as_bytes();
    let letter =
        |i: usize| u16::from(code.get(i).copied().unwrap_or(b'a').wrapping_sub(0x60) & 0x1f);
    let language = (letter(0) << 10) | (letter(1) << 5) | letter(2);
    write_box(out, b"mdhd", |out| {
        put_version_flags(out, 0, 0);
        out.extend_from_slice(&[0; 8]); // creation, modification
        out.extend_from_slice(&(MSS_TIMESCALE as u32).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // duration
        out.extend_from_slice(&language.to_be_bytes());
        out.extend_from_slice(&[0; 2]); // pre_defined
    });
}

fn encode_hdlr(kind: TrackKind, out: &mut Vec<u8>) {
    let (handler, name): (&[u8; 4], &[u8]) = match kind {
        TrackKind::Video => (b"vide", b"VideoHandler\0"),
        _ => (b"soun", b"SoundHandler\0"),
    };
    write_box(out, b"hdlr", |out| {
        put_version_flags(out, 0, 0);
        out.extend_from_slice(&[0; 4]); // pre_defined
        out.extend_from_slice(handler);
        out.extend_from_slice(&[0; 12]); // reserved
        out.extend_from_slice(name);
    });
}

fn encode_media_header(kind: TrackKind, out: &mut Vec<u8>) {
    match kind {
        TrackKind::Video => write_box(out, b"vmhd", |out| {
            put_version_flags(out, 0, 1);
            out.extend_from_slice(&[0; 8]); // graphicsmode, opcolor
        }),
        _ => write_box(out, b"smhd", |out| {
            put_version_flags(out, 0, 0);
            out.extend_from_slice(&[0; 4]); // balance, reserved
        }),
    }
}

/// `dinf` with one self-contained `url ` entry.
fn encode_dinf(out: &mut Vec<u8>) {
    write_box(out, b"dinf", |out| {
        write_box(out, b"dref", |out| {
            put_version_flags(out, 0, 0);
            out.extend_from_slice(&1u32.to_be_bytes());
            write_box(out, b"url ", |out| put_version_flags(out, 0, 1));
        });
    });
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{aac_track, avc_track};
    use super::*;
    use crate::fragment::header::children;

    fn child<'a>(body: &'a [u8], typ: &[u8; 4]) -> &'a [u8] {
        children(body)
            .map(|c| c.expect("child"))
            .find(|(h, _)| &h.typ == typ)
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("no {}", core::str::from_utf8(typ).unwrap_or("?")))
    }

    #[test]
    fn video_and_audio_tracks() {
        for (t, handler, width) in [(avc_track(1), b"vide", 1280u32), (aac_track(2), b"soun", 0)] {
            let mut out = Vec::new();
            encode(&t, &mut out);
            let trak = &out[8..];
            let tkhd = child(trak, b"tkhd");
            assert_eq!(tkhd.len(), 84, "a version 0 tkhd");
            assert_eq!(&tkhd[..4], &[0, 0, 0, 3]);
            assert_eq!(&tkhd[12..16], &t.track_id.to_be_bytes());
            assert_eq!(&tkhd[76..80], &(width << 16).to_be_bytes());
            let mdia = child(trak, b"mdia");
            let mdhd = child(mdia, b"mdhd");
            assert_eq!(&mdhd[12..16], &10_000_000u32.to_be_bytes());
            let hdlr = child(mdia, b"hdlr");
            assert_eq!(&hdlr[8..12], handler);
            let stbl = child(child(mdia, b"minf"), b"stbl");
            let kids: Vec<[u8; 4]> = children(stbl).map(|c| c.expect("box").0.typ).collect();
            assert_eq!(kids, [*b"stsd", *b"stts", *b"stsc", *b"stco", *b"stsz"]);
        }
    }

    #[test]
    fn language_is_packed() {
        let mut out = Vec::new();
        encode_mdhd(&aac_track(2), &mut out);
        // "eng": e=5, n=14, g=7.
        assert_eq!(&out[28..30], &((5u16 << 10) | (14 << 5) | 7).to_be_bytes());
        let mut t = avc_track(1);
        t.language = None;
        out.clear();
        encode_mdhd(&t, &mut out);
        assert_eq!(&out[28..30], &0x55c4u16.to_be_bytes(), "und");
    }
}
