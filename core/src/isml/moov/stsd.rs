//! `stsd` with the track's one sample entry: `avc1` + `avcC` for H.264, `mp4a` + `esds`
//! for AAC, from the decoder configuration the demuxer read.

use alloc::vec::Vec;

use super::super::IsmlTrack;
use crate::bytes_util::{put_version_flags, write_box};
use crate::codec::h264::avc_decoder_config_record;
use crate::media::{AacConfig, AvcConfig, CodecConfig};

pub fn encode(t: &IsmlTrack, out: &mut Vec<u8>) {
    write_box(out, b"stsd", |out| {
        put_version_flags(out, 0, 0);
        out.extend_from_slice(&1u32.to_be_bytes());
        match &t.codec {
            CodecConfig::H264(avc) => encode_avc1(avc, out),
            CodecConfig::Aac(aac) => encode_mp4a(t.track_id, t.bitrate, aac, out),
            // Refused by `IsmlMuxer::new`; an empty description rather than a panic.
            CodecConfig::Text(_) => {}
        }
    });
}

/// VisualSampleEntry (ISO 14496-12 12.1.3), 78 bytes before `avcC`.
fn encode_avc1(avc: &AvcConfig, out: &mut Vec<u8>) {
    write_box(out, b"avc1", |out| {
        out.extend_from_slice(&[0; 6]); // reserved
        out.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
        out.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined
        out.extend_from_slice(&(avc.width.min(0xffff) as u16).to_be_bytes());
        out.extend_from_slice(&(avc.height.min(0xffff) as u16).to_be_bytes());
        out.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // 72 dpi
        out.extend_from_slice(&0x0048_0000u32.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // reserved
        out.extend_from_slice(&1u16.to_be_bytes()); // frame_count
        out.extend_from_slice(&[0; 32]); // compressorname
        out.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
        out.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
        write_box(out, b"avcC", |out| {
            out.extend_from_slice(&avc_decoder_config_record(avc));
        });
    });
}

/// AudioSampleEntry version 0, 28 bytes before `esds`.
fn encode_mp4a(track_id: u32, bitrate: u32, aac: &AacConfig, out: &mut Vec<u8>) {
    write_box(out, b"mp4a", |out| {
        out.extend_from_slice(&[0; 6]); // reserved
        out.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
        out.extend_from_slice(&[0; 8]); // version, revision, vendor
        out.extend_from_slice(&u16::from(aac.channels).to_be_bytes());
        out.extend_from_slice(&16u16.to_be_bytes()); // samplesize
        out.extend_from_slice(&[0; 4]); // pre_defined, reserved
                                        // 16.16 fixed point: rates past 65535 Hz do not fit and are written as 0, as the
                                        // AudioSpecificConfig says the real one.
        let rate = if aac.sample_rate <= 0xffff {
            aac.sample_rate << 16
        } else {
            0
        };
        out.extend_from_slice(&rate.to_be_bytes());
        write_box(out, b"esds", |out| {
            put_version_flags(out, 0, 0);
            out.extend_from_slice(&es_descriptor(track_id, bitrate, &aac.asc));
        });
    });
}

/// ES_Descriptor (ISO 14496-1 7.2.6.5): DecoderConfigDescriptor (MPEG-4 audio) with the
/// AudioSpecificConfig, and the SLConfigDescriptor MP4 requires (predefined 2).
fn es_descriptor(track_id: u32, bitrate: u32, asc: &[u8]) -> Vec<u8> {
    let mut dsi = Vec::new();
    descriptor(0x05, asc, &mut dsi);
    let mut dcd = Vec::new();
    dcd.push(0x40); // objectTypeIndication: MPEG-4 audio
    dcd.push(0x15); // streamType audio (5) << 2 | reserved 1
    dcd.extend_from_slice(&[0; 3]); // bufferSizeDB
    dcd.extend_from_slice(&bitrate.to_be_bytes()); // maxBitrate
    dcd.extend_from_slice(&bitrate.to_be_bytes()); // avgBitrate
    dcd.extend_from_slice(&dsi);
    let mut es = Vec::new();
    es.extend_from_slice(&(track_id.min(0xffff) as u16).to_be_bytes()); // ES_ID
    es.push(0); // no dependsOn, URL, OCR
    descriptor(0x04, &dcd, &mut es);
    descriptor(0x06, &[0x02], &mut es);
    let mut out = Vec::new();
    descriptor(0x03, &es, &mut out);
    out
}

/// A descriptor: tag, the length as 7-bit groups (4 bytes, as most muxers write), body.
fn descriptor(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    let len = body.len() as u32 & 0x0fff_ffff;
    out.push(tag);
    out.extend_from_slice(&[
        0x80 | (len >> 21) as u8 & 0x7f,
        0x80 | (len >> 14) as u8 & 0x7f,
        0x80 | (len >> 7) as u8 & 0x7f,
        len as u8 & 0x7f,
    ]);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{aac_track, avc_track};
    use super::*;
    use crate::fragment::BoxHeader;

    #[test]
    fn sample_entries() {
        let mut out = Vec::new();
        encode(&avc_track(1), &mut out);
        let entry = BoxHeader::parse(&out[16..]).expect("entry");
        assert_eq!(&entry.typ, b"avc1");
        let avcc = BoxHeader::parse(&out[16 + 8 + 78..]).expect("avcC");
        assert_eq!(&avcc.typ, b"avcC");
        out.clear();
        encode(&aac_track(2), &mut out);
        let entry = BoxHeader::parse(&out[16..]).expect("entry");
        assert_eq!(&entry.typ, b"mp4a");
        let esds = BoxHeader::parse(&out[16 + 8 + 28..]).expect("esds");
        assert_eq!(&esds.typ, b"esds");
        // The AudioSpecificConfig (2 bytes) and the 6-byte SLConfigDescriptor end it.
        let end = 16 + entry.size;
        assert_eq!(
            &out[end - 13..end - 6],
            &[0x05, 0x80, 0x80, 0x80, 2, 0x11, 0x90]
        );
        assert_eq!(&out[end - 6..end], &[0x06, 0x80, 0x80, 0x80, 1, 2]);
    }

    #[test]
    fn descriptor_lengths() {
        let mut out = Vec::new();
        descriptor(0x05, &[0; 200], &mut out);
        assert_eq!(&out[..5], &[0x05, 0x80, 0x80, 0x81, 0x48]);
        assert_eq!(out.len(), 205);
    }
}
