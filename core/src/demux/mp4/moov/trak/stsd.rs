//! `stsd`: the codec of a track, from its first sample entry.
//!
//! Only H.264 (`avc1`/`avc3` + `avcC`) and AAC (`mp4a` + `esds`) are packaged; any other
//! entry makes the track unsupported, which the caller skips rather than failing the file.

use alloc::format;
use alloc::string::String;

use crate::bytes_util::Reader;
use crate::codec::{aac, h264};
use crate::demux::mp4::boxes::{self, full_box, short};
use crate::demux::DemuxError;
use crate::media::CodecConfig;

/// What a track's sample description says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Codec {
    /// A supported codec; `nal_length_size` is `Some` for H.264.
    Supported {
        config: CodecConfig,
        nal_length_size: Option<u8>,
    },
    /// A codec Smoothcast does not package, described for the warning (`ac-3`, `tx3g`).
    Unsupported(String),
}

/// VisualSampleEntry fields before its child boxes (ISO 14496-12 12.1.3).
const VISUAL_ENTRY_LEN: usize = 78;
/// AudioSampleEntry fields before its child boxes, QuickTime sound description version 0.
const AUDIO_ENTRY_LEN: usize = 28;

/// MPEG-4 audio, and the three MPEG-2 AAC profiles, as `esds` objectTypeIndication.
const AAC_OBJECT_TYPES: [u8; 4] = [0x40, 0x66, 0x67, 0x68];

pub(crate) fn parse_stsd(body: &[u8]) -> Result<Codec, DemuxError> {
    let (_, _, rest) = full_box(body, "stsd")?;
    let mut r = Reader::new(rest);
    let count = r.u32().ok_or_else(|| short("stsd"))?;
    if count == 0 {
        return Err(DemuxError::malformed("stsd has no sample entry"));
    }
    let entry = match boxes::children(r.rest()).next() {
        Some(entry) => entry?,
        None => return Err(DemuxError::malformed("stsd has no sample entry")),
    };
    match &entry.typ {
        b"avc1" | b"avc3" => parse_avc_entry(entry.body),
        b"mp4a" => parse_mp4a_entry(entry.body),
        other => Ok(Codec::Unsupported(format!(
            "codec {} (not H.264 or AAC)",
            String::from_utf8_lossy(other).trim()
        ))),
    }
}

fn parse_avc_entry(body: &[u8]) -> Result<Codec, DemuxError> {
    let kids = body
        .get(VISUAL_ENTRY_LEN..)
        .ok_or_else(|| DemuxError::malformed("avc1 sample entry is too short"))?;
    let avcc = boxes::find(kids, b"avcC")?
        .ok_or_else(|| DemuxError::malformed("H.264 track has no avcC box"))?;
    let (length_size, config) = h264::parse_avc_decoder_config(avcc.body)
        .ok_or_else(|| DemuxError::malformed("H.264 track has an invalid avcC box"))?;
    if length_size == 3 {
        return Err(DemuxError::malformed("avcC has a NAL length size of 3"));
    }
    Ok(Codec::Supported {
        config: CodecConfig::H264(config),
        nal_length_size: Some(length_size),
    })
}

fn parse_mp4a_entry(body: &[u8]) -> Result<Codec, DemuxError> {
    // QuickTime sound descriptions version 1 and 2 insert extra fields before the children.
    let version = body
        .get(8..10)
        .map(|v| u16::from_be_bytes([v[0], v[1]]))
        .ok_or_else(|| DemuxError::malformed("mp4a sample entry is too short"))?;
    let skip = match version {
        0 => AUDIO_ENTRY_LEN,
        1 => AUDIO_ENTRY_LEN + 16,
        2 => AUDIO_ENTRY_LEN + 36,
        v => {
            return Err(DemuxError::malformed(format!(
                "mp4a sample entry has unknown version {v}"
            )))
        }
    };
    let kids = body
        .get(skip..)
        .ok_or_else(|| DemuxError::malformed("mp4a sample entry is too short"))?;
    let esds = match boxes::find(kids, b"esds")? {
        Some(esds) => Some(esds),
        // QuickTime nests it in a `wave` box.
        None => match boxes::find(kids, b"wave")? {
            Some(wave) => boxes::find(wave.body, b"esds")?,
            None => None,
        },
    };
    let esds = esds.ok_or_else(|| DemuxError::malformed("mp4a sample entry has no esds box"))?;
    let (_, _, descriptors) = full_box(esds.body, "esds")?;
    let (object_type, dsi) = parse_es_descriptor(descriptors)?;
    if !AAC_OBJECT_TYPES.contains(&object_type) {
        // MP3 and friends also live in mp4a entries.
        return Ok(Codec::Unsupported(format!(
            "mp4a object type {object_type:#04x} (not AAC)"
        )));
    }
    let dsi = dsi.ok_or_else(|| DemuxError::malformed("AAC esds has no DecoderSpecificInfo"))?;
    let config = aac::parse_asc(dsi)
        .ok_or_else(|| DemuxError::malformed("AAC esds has an invalid AudioSpecificConfig"))?;
    Ok(Codec::Supported {
        config: CodecConfig::Aac(config),
        nal_length_size: None,
    })
}

const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_TAG: u8 = 0x04;
const DECODER_SPECIFIC_TAG: u8 = 0x05;

/// Reads an ES_Descriptor (ISO 14496-1 7.2.6.5): the objectTypeIndication and the
/// DecoderSpecificInfo bytes, if present.
fn parse_es_descriptor(data: &[u8]) -> Result<(u8, Option<&[u8]>), DemuxError> {
    let bad = || DemuxError::malformed("esds has a malformed ES_Descriptor");
    let mut r = Reader::new(data);
    let es = descriptor(&mut r, ES_DESCR_TAG).ok_or_else(bad)?;
    let mut r = Reader::new(es);
    r.skip(2).ok_or_else(bad)?; // ES_ID
    let flags = r.u8().ok_or_else(bad)?;
    if flags & 0x80 != 0 {
        r.skip(2).ok_or_else(bad)?; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        let len = r.u8().ok_or_else(bad)?;
        r.skip(usize::from(len)).ok_or_else(bad)?; // URL
    }
    if flags & 0x20 != 0 {
        r.skip(2).ok_or_else(bad)?; // OCR_ES_Id
    }
    let dc = descriptor(&mut r, DECODER_CONFIG_TAG).ok_or_else(bad)?;
    let mut r = Reader::new(dc);
    let object_type = r.u8().ok_or_else(bad)?;
    // streamType, bufferSizeDB, maxBitrate, avgBitrate
    r.skip(12).ok_or_else(bad)?;
    let dsi = if r.remaining() > 0 {
        descriptor(&mut r, DECODER_SPECIFIC_TAG)
    } else {
        None
    };
    Ok((object_type, dsi))
}

/// Reads one descriptor with the expected tag: its payload. Lengths use 7 bits a byte.
fn descriptor<'a>(r: &mut Reader<'a>, tag: u8) -> Option<&'a [u8]> {
    if r.u8()? != tag {
        return None;
    }
    let mut len = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return r.bytes(len);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::{mk, mk_full};
    use alloc::vec;
    use alloc::vec::Vec;

    pub(crate) const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];

    pub(crate) fn avcc(length_size: u8) -> Vec<u8> {
        let mut rec = vec![
            1,
            0x64,
            0,
            0x1f,
            0xfc | (length_size - 1),
            0xe1,
            0,
            SPS.len() as u8,
        ];
        rec.extend_from_slice(&SPS);
        rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        rec
    }

    pub(crate) fn avc1_stsd(length_size: u8) -> Vec<u8> {
        let mut entry = vec![0u8; VISUAL_ENTRY_LEN];
        entry.extend(mk(b"avcC", &avcc(length_size)));
        let mut body = 1u32.to_be_bytes().to_vec();
        body.extend(mk(b"avc1", &entry));
        mk_full(b"stsd", 0, 0, &body)
    }

    pub(crate) fn esds(object_type: u8, asc: &[u8]) -> Vec<u8> {
        let mut dc = vec![object_type, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        dc.push(DECODER_SPECIFIC_TAG);
        dc.push(asc.len() as u8);
        dc.extend_from_slice(asc);
        // The ES_Descriptor's length written in the 4-byte form some muxers use.
        let mut es = vec![
            0,
            1,
            0,
            DECODER_CONFIG_TAG,
            0x80,
            0x80,
            0x80,
            dc.len() as u8,
        ];
        es.extend(dc);
        let mut d = vec![ES_DESCR_TAG, es.len() as u8];
        d.extend(es);
        mk_full(b"esds", 0, 0, &d)
    }

    pub(crate) fn mp4a_stsd(version: u16, object_type: u8, in_wave: bool) -> Vec<u8> {
        let mut entry = vec![0u8; AUDIO_ENTRY_LEN];
        entry[8..10].copy_from_slice(&version.to_be_bytes());
        entry.extend(vec![0u8; if version == 1 { 16 } else { 0 }]);
        let e = esds(object_type, &[0x12, 0x10]);
        if in_wave {
            let mut wave = mk(b"frma", b"mp4a");
            wave.extend(e);
            entry.extend(mk(b"wave", &wave));
        } else {
            entry.extend(e);
        }
        let mut body = 1u32.to_be_bytes().to_vec();
        body.extend(mk(b"mp4a", &entry));
        mk_full(b"stsd", 0, 0, &body)
    }

    fn body(b: &[u8]) -> &[u8] {
        &b[8..]
    }

    #[test]
    fn avc1_with_avcc() {
        let stsd = avc1_stsd(2);
        match parse_stsd(body(&stsd)).unwrap() {
            Codec::Supported {
                config: CodecConfig::H264(c),
                nal_length_size,
            } => {
                assert_eq!((c.width, c.height), (1280, 720));
                assert_eq!(nal_length_size, Some(2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn avc1_without_avcc_is_malformed() {
        let mut body_bytes = 1u32.to_be_bytes().to_vec();
        body_bytes.extend(mk(b"avc1", &[0u8; VISUAL_ENTRY_LEN]));
        let stsd = mk_full(b"stsd", 0, 0, &body_bytes);
        assert!(parse_stsd(body(&stsd)).is_err());
    }

    #[test]
    fn mp4a_variants() {
        for (version, wave) in [(0, false), (1, true), (1, false)] {
            let stsd = mp4a_stsd(version, 0x40, wave);
            match parse_stsd(body(&stsd)).unwrap() {
                Codec::Supported {
                    config: CodecConfig::Aac(c),
                    ..
                } => assert_eq!((c.sample_rate, c.channels), (44100, 2)),
                other => panic!("{other:?}"),
            }
        }
        // MP3 in mp4a is not AAC.
        let stsd = mp4a_stsd(0, 0x6b, false);
        assert!(matches!(
            parse_stsd(body(&stsd)).unwrap(),
            Codec::Unsupported(_)
        ));
    }

    #[test]
    fn other_entries_are_unsupported() {
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend(mk(b"tmcd", &[0u8; 20]));
        let stsd = mk_full(b"stsd", 0, 0, &b);
        assert!(matches!(
            parse_stsd(body(&stsd)).unwrap(),
            Codec::Unsupported(_)
        ));
    }

    #[test]
    fn truncated_stsd_never_panics() {
        let full = mp4a_stsd(0, 0x40, false);
        for n in 8..full.len() {
            let _ = parse_stsd(&full[8..n]);
        }
        let full = avc1_stsd(4);
        for n in 8..full.len() {
            let _ = parse_stsd(&full[8..n]);
        }
    }
}
