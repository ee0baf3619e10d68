//! What demuxers hand to the fragmenter: tracks and their samples, codec-neutral.

use alloc::vec::Vec;
use bytes::Bytes;

/// The kind of a track: a Smooth Streaming `StreamIndex@Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackKind {
    Video,
    Audio,
    /// Subtitles or captions, written as TTML documents.
    Text,
}

impl TrackKind {
    /// The name used in `StreamIndex@Type`, and the stream name (folder names and
    /// `Fragments(<name>=t)`) of the kind's first stream.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
            TrackKind::Text => "text",
        }
    }
}

/// An ISO 639-2/T language code (three lower-case ASCII letters), as MP4's `mdhd` and
/// MPEG-TS's ISO 639 descriptor carry it and as `StreamIndex@Language` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language([u8; 3]);

impl Language {
    /// A code of three ASCII letters (any case); `und` (undetermined) and anything else
    /// is `None`: an unknown language is stated by leaving it out.
    pub fn new(code: &[u8]) -> Option<Self> {
        let [a, b, c] = <[u8; 3]>::try_from(code).ok()?;
        let code = [a, b, c].map(|x| x.to_ascii_lowercase());
        (code.iter().all(u8::is_ascii_lowercase) && &code != b"und").then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        // Three ASCII letters, checked in `new`.
        core::str::from_utf8(&self.0).unwrap_or("und")
    }
}

/// A text track's format as the demuxer read it; the samples are cues (see [`Sample`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Srt,
    WebVtt,
}

/// H.264 decoder configuration as Smooth Streaming needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Sequence parameter sets, without start codes or length prefixes.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets, without start codes or length prefixes.
    pub pps: Vec<Vec<u8>>,
    /// Coded picture size after cropping, from the first SPS.
    pub width: u32,
    pub height: u32,
}

/// AAC decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    /// The raw AudioSpecificConfig (ISO 14496-3), as written in CodecPrivateData.
    pub asc: Vec<u8>,
    /// Audio object type after resolving explicit SBR/PS signalling (2 = LC, 5 = HE, 29 = HEv2).
    pub object_type: u8,
    /// Output sampling rate in Hz (the core rate for plain AAC).
    pub sample_rate: u32,
    pub channels: u8,
}

/// The codec of a track with the parameters the manifest needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecConfig {
    H264(AvcConfig),
    Aac(AacConfig),
    /// Subtitles, written out as TTML (FourCC `TTML`).
    Text(TextFormat),
}

impl CodecConfig {
    pub fn kind(&self) -> TrackKind {
        match self {
            CodecConfig::H264(_) => TrackKind::Video,
            CodecConfig::Aac(_) => TrackKind::Audio,
            CodecConfig::Text(_) => TrackKind::Text,
        }
    }
}

/// A track announced by a demuxer before any of its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The demuxer's own id for the track (MP4 track_ID, TS PID, FLV tag type); unique per input.
    pub id: u32,
    /// Ticks per second of this track's sample times.
    pub timescale: u32,
    pub codec: CodecConfig,
    /// Time to subtract from decode times to get presentation times on the input's timeline,
    /// in this track's timescale (an MP4 edit list's `media_time`; 0 elsewhere).
    pub edit_offset: i64,
    /// Average bitrate in bits/s when the demuxer knows it before the samples (MP4 sample tables).
    pub avg_bitrate: Option<u64>,
    /// The track's language when the container states one (MP4 `mdhd`, the MPEG-TS ISO 639
    /// descriptor; a sidecar subtitle file's name).
    pub language: Option<Language>,
}

impl TrackInfo {
    pub fn kind(&self) -> TrackKind {
        self.codec.kind()
    }
}

/// One access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// [`TrackInfo::id`] of the track this sample belongs to.
    pub track: u32,
    /// Decode time in the track's timescale. Monotonic per track (demuxers unwrap TS clocks).
    pub dts: i64,
    /// Presentation time minus decode time, in the track's timescale.
    pub cts_offset: i64,
    /// Duration in the track's timescale when the container states it (MP4). Others infer it
    /// from the next sample's decode time.
    pub duration: Option<u32>,
    /// A sync sample: an IDR picture for H.264; every AAC frame.
    pub keyframe: bool,
    /// The payload in MP4 form: H.264 as 4-byte length-prefixed NAL units, AAC as a raw frame;
    /// for text, one cue as TTML body content (escaped text, `<br/>` and `<span>`s), shown
    /// from `dts` for `duration`.
    pub data: Bytes,
}
