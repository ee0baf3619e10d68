//! `uuid` LiveServerManifestBox ([MS-SSTR] 2.2.7.3): version 0, flags 0, then a SMIL 2.0
//! document to the end of the box (UTF-8, no terminator), one `video` or `audio` element
//! per track of the stream, each with the client manifest's QualityLevel attributes as
//! `param`s, as FFmpeg's `ismv` muxer and RMS write it (`reference/smooth-ingest.md` §4).
//!
//! Written only: parsing belongs to the receiving side.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use super::IsmlTrack;
use crate::bytes_util::{put_version_flags, write_box};
use crate::demux::mp4::lsm::LSM_UUID as LIVE_SERVER_MANIFEST_UUID;
use crate::manifest::QualityLevel;
use crate::media::TrackKind;
use crate::time::MSS_TIMESCALE;

pub fn encode(creator: &str, tracks: &[IsmlTrack], out: &mut Vec<u8>) {
    let xml = smil(creator, tracks);
    write_box(out, b"uuid", |out| {
        out.extend_from_slice(&LIVE_SERVER_MANIFEST_UUID);
        put_version_flags(out, 0, 0);
        out.extend_from_slice(xml.as_bytes());
    });
}

/// The SMIL document. `systemBitrate` is never 0: servers that need bitrates (USP) refuse
/// it, so the caller passes a measured or configured one (RMS wrote 500000/64000).
pub fn smil(creator: &str, tracks: &[IsmlTrack]) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<smil xmlns=\"http://www.w3.org/2001/SMIL20/Language\">\n");
    x.push_str("  <head>\n");
    let _ = writeln!(
        x,
        "    <meta name=\"creator\" content=\"{}\" />",
        escape(creator)
    );
    x.push_str("  </head>\n  <body>\n    <switch>\n");
    for t in tracks {
        let element = match t.codec.kind() {
            TrackKind::Video => "video",
            // Text tracks are refused by `IsmlMuxer::new`.
            TrackKind::Audio | TrackKind::Text => "audio",
        };
        let bitrate = t.bitrate.max(1);
        let language = t.language.as_ref().map_or("und", |l| l.as_str());
        let _ = writeln!(
            x,
            "      <{element} src=\"Stream\" systemBitrate=\"{bitrate}\" systemLanguage=\"{language}\">"
        );
        let q = QualityLevel::for_codec(0, bitrate, &t.codec);
        let mut param = |name: &str, value: &str| {
            let _ = writeln!(
                x,
                "        <param name=\"{name}\" value=\"{}\" valuetype=\"data\" />",
                escape(value)
            );
        };
        param("systemBitrate", &bitrate.to_string());
        param("trackID", &t.track_id.to_string());
        param("trackName", &t.name);
        param("timescale", &MSS_TIMESCALE.to_string());
        param("FourCC", &q.fourcc);
        param("CodecPrivateData", &q.codec_private_data);
        let numbers = [
            ("MaxWidth", q.max_width),
            ("MaxHeight", q.max_height),
            ("DisplayWidth", q.max_width),
            ("DisplayHeight", q.max_height),
            ("AudioTag", q.audio_tag),
            ("Channels", q.channels),
            ("SamplingRate", q.sampling_rate),
            ("BitsPerSample", q.bits_per_sample),
            ("PacketSize", q.packet_size),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                param(name, &v.to_string());
            }
        }
        let _ = writeln!(x, "      </{element}>");
    }
    x.push_str("    </switch>\n  </body>\n</smil>\n");
    x
}

/// Escaped as the client manifest's attributes are; control characters (not allowed in
/// XML 1.0) are left out.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let clean: String = s.chars().filter(|c| *c as u32 >= 0x20).collect();
    crate::manifest::write::escape(&clean, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{aac_track, avc_track};
    use super::*;
    use crate::fragment::BoxHeader;

    #[test]
    fn box_layout_and_params() {
        let tracks = [avc_track(1), aac_track(2)];
        let mut out = Vec::new();
        encode("Smoothcast <test> & co", &tracks, &mut out);
        let h = BoxHeader::parse(&out).expect("header");
        assert_eq!(h.size, out.len());
        assert_eq!(&h.typ, b"uuid");
        assert_eq!(h.uuid, Some(LIVE_SERVER_MANIFEST_UUID));
        assert_eq!(&out[h.header_len..h.header_len + 4], &[0, 0, 0, 0]);
        let xml = core::str::from_utf8(&out[h.header_len + 4..]).expect("utf-8");
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(!xml.contains('\0'));
        assert!(
            xml.contains("content=\"Smoothcast &lt;test&gt; &amp; co\""),
            "{xml}"
        );
        for needle in [
            "<video src=\"Stream\" systemBitrate=\"500000\"",
            "<param name=\"trackID\" value=\"1\" valuetype=\"data\" />",
            "<param name=\"trackName\" value=\"video\"",
            "<param name=\"FourCC\" value=\"H264\"",
            "<param name=\"CodecPrivateData\" value=\"00000001",
            "<param name=\"MaxWidth\" value=\"1280\"",
            "<param name=\"MaxHeight\" value=\"720\"",
            "<audio src=\"Stream\" systemBitrate=\"64000\" systemLanguage=\"eng\">",
            "<param name=\"trackID\" value=\"2\"",
            "<param name=\"FourCC\" value=\"AACL\"",
            "<param name=\"CodecPrivateData\" value=\"1190\"",
            "<param name=\"AudioTag\" value=\"255\"",
            "<param name=\"SamplingRate\" value=\"48000\"",
            "<param name=\"Channels\" value=\"2\"",
            "<param name=\"BitsPerSample\" value=\"16\"",
            "<param name=\"PacketSize\" value=\"4\"",
            "<param name=\"timescale\" value=\"10000000\"",
        ] {
            assert!(xml.contains(needle), "{needle} missing in {xml}");
        }
        assert!(!xml.contains("clientManifestRelativePath"));
    }

    #[test]
    fn zero_bitrate_is_never_written() {
        let mut t = avc_track(1);
        t.bitrate = 0;
        let xml = smil("x", &[t]);
        assert!(xml.contains("systemBitrate=\"1\""), "{xml}");
    }
}
