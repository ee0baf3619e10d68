//! The manifest's data model, named after its XML elements.

use alloc::string::String;
use alloc::vec::Vec;

use crate::media::{CodecConfig, TrackKind};

/// `SmoothStreamingMedia`, the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub major_version: u32,
    pub minor_version: u32,
    pub timescale: u64,
    /// Total duration; 0 for live.
    pub duration: u64,
    pub is_live: bool,
    /// `LookAheadFragmentCount`, live only.
    pub lookahead_count: Option<u32>,
    /// `DVRWindowLength` in timescale units, live only (0 = unbounded).
    pub dvr_window_length: Option<u64>,
    pub stream_indexes: Vec<StreamIndex>,
    /// `Protection/ProtectionHeader`: a protected presentation's one DRM header.
    pub protection: Option<ProtectionHeader>,
}

/// `ProtectionHeader`: a DRM system's header, opaque base64 (PlayReady: the PlayReady
/// Object, see [`crate::crypto::playready`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionHeader {
    /// Lowercase, without braces (Shaka looks it up lowercased).
    pub system_id: String,
    /// Base64 without line breaks.
    pub data: String,
}

/// `StreamIndex`: one media type, its quality levels and the shared chunk timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamIndex {
    pub kind: TrackKind,
    /// URL-safe and unique: players use it as the track's id, and it is in `Url`.
    pub name: String,
    /// ISO 639-2 code, when the source states one.
    pub language: Option<String>,
    /// Text only: `SUBT` (subtitles) or `CAPT` (captions), required by ExoPlayer.
    pub subtype: Option<String>,
    /// The URL template with `{bitrate}` and `{start time}`.
    pub url: String,
    pub timescale: u64,
    /// Largest picture among the quality levels (video only).
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub quality_levels: Vec<QualityLevel>,
    pub chunks: Vec<Chunk>,
}

/// `c`: one fragment time shared by every quality level of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Start time; substituted into the URL template as written.
    pub t: u64,
    pub d: u64,
}

/// `QualityLevel`: one bitrate of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityLevel {
    pub index: u32,
    pub bitrate: u32,
    pub fourcc: String,
    /// Hex, upper case.
    pub codec_private_data: String,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub sampling_rate: Option<u32>,
    pub channels: Option<u32>,
    pub bits_per_sample: Option<u32>,
    pub packet_size: Option<u32>,
    pub audio_tag: Option<u32>,
    pub nal_unit_length_field: Option<u32>,
}

impl QualityLevel {
    /// The quality level that describes a track of the given codec.
    pub fn for_codec(index: u32, bitrate: u32, codec: &CodecConfig) -> Self {
        match codec {
            CodecConfig::H264(avc) => {
                let mut cpd = String::new();
                for nal in avc.sps.iter().chain(avc.pps.iter()) {
                    // Annex B with 4-byte start codes: dash.js splits on 00000001 only.
                    cpd.push_str("00000001");
                    push_hex(&mut cpd, nal);
                }
                Self {
                    index,
                    bitrate,
                    fourcc: String::from("H264"),
                    codec_private_data: cpd,
                    max_width: Some(avc.width),
                    max_height: Some(avc.height),
                    sampling_rate: None,
                    channels: None,
                    bits_per_sample: None,
                    packet_size: None,
                    audio_tag: None,
                    nal_unit_length_field: Some(4),
                }
            }
            CodecConfig::Text(_) => Self {
                index,
                bitrate,
                fourcc: String::from("TTML"),
                codec_private_data: String::new(),
                max_width: None,
                max_height: None,
                sampling_rate: None,
                channels: None,
                bits_per_sample: None,
                packet_size: None,
                audio_tag: None,
                nal_unit_length_field: None,
            },
            CodecConfig::Aac(aac) => {
                let mut cpd = String::new();
                push_hex(&mut cpd, &aac.asc);
                // HE-AAC too is `AACL` with its real AudioSpecificConfig (SBR/PS signalled in
                // it): GStreamer, rx-player and GPAC do not map `AACH`, and every player
                // reads the object type from CodecPrivateData (as FFmpeg and Bento4 write).
                Self {
                    index,
                    bitrate,
                    fourcc: String::from("AACL"),
                    codec_private_data: cpd,
                    max_width: None,
                    max_height: None,
                    sampling_rate: Some(aac.sample_rate),
                    channels: Some(u32::from(aac.channels)),
                    bits_per_sample: Some(16),
                    packet_size: Some(4),
                    audio_tag: Some(255),
                    nal_unit_length_field: None,
                }
            }
        }
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AacConfig, AvcConfig};
    use alloc::vec;

    #[test]
    fn codec_private_data_is_annexb_and_asc() {
        let avc = CodecConfig::H264(AvcConfig {
            sps: vec![vec![0x67, 0x64]],
            pps: vec![vec![0x68, 0xeb]],
            width: 640,
            height: 360,
        });
        let q = QualityLevel::for_codec(0, 1_000_000, &avc);
        assert_eq!(q.codec_private_data, "0000000167640000000168EB");
        assert_eq!(q.fourcc, "H264");
        let aac = CodecConfig::Aac(AacConfig {
            asc: vec![0x11, 0x90],
            object_type: 2,
            sample_rate: 48000,
            channels: 2,
        });
        let q = QualityLevel::for_codec(0, 128_000, &aac);
        assert_eq!(
            (q.fourcc.as_str(), q.codec_private_data.as_str()),
            ("AACL", "1190")
        );
    }
}
