//! Demuxers: container bytes in, [`TrackInfo`]s and [`Sample`]s out.
//!
//! Every demuxer is sans-I/O: the caller pushes bytes in any chunking with
//! [`Demuxer::push`], calls [`Demuxer::finish`] at end of input, and drains
//! [`Demuxer::poll`] after each call until it returns `None`.

use alloc::string::String;
use core::fmt;

use crate::media::{Sample, TrackInfo};

pub mod flv;
pub mod mp4;
pub mod rtp;
pub mod text;
pub mod ts;

/// What a demuxer produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxEvent {
    /// A new track. Always announced before its first sample.
    Track(TrackInfo),
    /// A track's configuration changed mid-stream (new SPS/PPS or AudioSpecificConfig).
    TrackChanged(TrackInfo),
    Sample(Sample),
    /// A track the container holds that is not packaged (a codec Smoothcast does not carry):
    /// said, so that nothing is dropped without a word.
    Ignored {
        track: u32,
        reason: String,
    },
    /// The caller should continue pushing bytes from this absolute input offset
    /// (only from demuxers created as seekable, e.g. an MP4 whose `moov` follows `mdat`).
    Seek(u64),
}

/// Why demuxing failed. The message names the problem; the host adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxError {
    pub kind: DemuxErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemuxErrorKind {
    /// The bytes are not this container, or the container is malformed.
    Malformed,
    /// The input ended before a structure it had started was complete.
    Truncated,
    /// A well-formed input with a codec or feature the core does not package.
    Unsupported,
}

impl DemuxError {
    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            kind: DemuxErrorKind::Malformed,
            message: message.into(),
        }
    }
    pub fn truncated(message: impl Into<String>) -> Self {
        Self {
            kind: DemuxErrorKind::Truncated,
            message: message.into(),
        }
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self {
            kind: DemuxErrorKind::Unsupported,
            message: message.into(),
        }
    }
}

impl fmt::Display for DemuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DemuxErrorKind::Malformed => "malformed input",
            DemuxErrorKind::Truncated => "truncated input",
            DemuxErrorKind::Unsupported => "unsupported input",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DemuxError {}

/// The common interface of the container demuxers.
pub trait Demuxer {
    /// Feeds the next bytes of the input.
    fn push(&mut self, data: &[u8]) -> Result<(), DemuxError>;
    /// Feeds the next bytes as an owned buffer that samples may share instead of copying
    /// from (the MP4 demuxer does, for samples the buffer holds whole). Worth it where a
    /// copy costs more than keeping the buffer alive: wasm, where the host's bytes are
    /// copied into linear memory anyway. Same meaning as [`Demuxer::push`] otherwise.
    fn push_shared(&mut self, data: bytes::Bytes) -> Result<(), DemuxError> {
        self.push(&data)
    }
    /// Declares the end of the input; reports truncation of anything started.
    fn finish(&mut self) -> Result<(), DemuxError>;
    /// The next event, or `None` when more input is needed.
    fn poll(&mut self) -> Option<DemuxEvent>;
    /// Hollow demuxing (the just-in-time index, see [`mp4::Mp4Demuxer::hollow`]): the file
    /// offset of the sample [`Demuxer::poll`] returned last. `None` from other demuxers.
    fn take_hollow_offset(&mut self) -> Option<u64> {
        None
    }
    /// Whether the demuxer wants more bytes of its input. Only a hollow demuxer says no
    /// (once its sample tables are read), so the host stops reading and ends the input.
    fn wants_more(&self) -> bool {
        true
    }
}

/// Containers the core can demux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    MpegTs,
    Flv,
    /// A subtitle file (SRT or WebVTT).
    Text(crate::media::TextFormat),
}

/// Guesses the container from the first bytes of an input (at least 16 are best).
pub fn sniff(head: &[u8]) -> Option<Container> {
    if head.len() >= 8 {
        let typ = &head[4..8];
        if matches!(
            typ,
            b"ftyp"
                | b"moov"
                | b"mdat"
                | b"free"
                | b"wide"
                | b"skip"
                | b"moof"
                | b"styp"
                | b"uuid"
                | b"sidx"
        ) {
            return Some(Container::Mp4);
        }
    }
    if head.starts_with(b"FLV") {
        return Some(Container::Flv);
    }
    if sniff_ts(head) {
        return Some(Container::MpegTs);
    }
    text::sniff(head).map(Container::Text)
}

/// A sync byte where a packet starts, with the next one a stride on if the head reaches that
/// far; or, for M2TS, after a 4-byte timecode and confirmed by the next packet's.
fn sniff_ts(head: &[u8]) -> bool {
    use ts::packet::{STRIDES, SYNC_BYTE};
    let sync_at = |i: usize| head.get(i) == Some(&SYNC_BYTE);
    let plain = sync_at(0)
        && STRIDES
            .iter()
            .any(|&stride| head.get(stride).is_none_or(|&b| b == SYNC_BYTE));
    plain || (sync_at(4) && sync_at(4 + 192))
}

/// Creates the demuxer for a container. `seekable` says whether the caller can honour
/// [`DemuxEvent::Seek`] (a file) or not (a live socket, a one-way stream).
pub fn for_container(
    container: Container,
    seekable: bool,
) -> alloc::boxed::Box<dyn Demuxer + Send> {
    match container {
        Container::Mp4 => alloc::boxed::Box::new(mp4::Mp4Demuxer::new(seekable)),
        Container::MpegTs => alloc::boxed::Box::new(ts::TsDemuxer::new()),
        Container::Flv => alloc::boxed::Box::new(flv::FlvDemuxer::new()),
        Container::Text(format) => alloc::boxed::Box::new(text::TextDemuxer::new(format)),
    }
}
