//! FLV demuxer: H.264 (AVC) video and AAC audio, from FLV files or RTMP messages.
//!
//! Track ids are the FLV tag types (video 9, audio 8) and times are milliseconds. A file needs
//! its `FLV` header; [`FlvDemuxer::tags_only`] reads bare tags (no file header, no
//! PreviousTagSize fields), and [`FlvDemuxer::push_tag`] takes one tag's payload at a time, as
//! an RTMP server receives them. At most one tag is buffered.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{DemuxError, DemuxEvent, Demuxer};
use crate::codec::{aac, h264};
use crate::media::{AacConfig, AvcConfig, CodecConfig, Sample, TrackInfo};

/// FLV times are milliseconds.
pub const TIMESCALE: u32 = 1000;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

/// Track ids: the tag type that carries the track.
pub const AUDIO_TRACK_ID: u32 = TAG_AUDIO as u32;
pub const VIDEO_TRACK_ID: u32 = TAG_VIDEO as u32;

const CODEC_AVC: u8 = 7;
const SOUND_FORMAT_AAC: u8 = 10;
const FRAME_TYPE_KEY: u8 = 1;
const FRAME_TYPE_COMMAND: u8 = 5;

const FILE_HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;
const PREV_TAG_SIZE_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FileHeader,
    PrevTagSize,
    TagHeader,
    TagBody {
        tag_type: u8,
        timestamp: u32,
        size: usize,
    },
    /// Bytes nobody needs (the rest of a long file header, script and unknown tags).
    Skip {
        remaining: u64,
    },
}

#[derive(Debug)]
struct Video {
    length_size: u8,
    config: AvcConfig,
    /// Pictures before the first keyframe cannot be decoded and are dropped.
    waiting_for_key: bool,
}

/// The FLV demuxer. See the module documentation.
#[derive(Debug)]
pub struct FlvDemuxer {
    tags_only: bool,
    state: State,
    /// The part of the current header or tag that arrived so far (when split across pushes).
    buf: Vec<u8>,
    /// Input bytes consumed, for messages.
    offset: u64,
    video: Option<Video>,
    audio: Option<AacConfig>,
    /// The first unsupported codec ids seen, to explain a stream with no usable track.
    other_video_codec: Option<u8>,
    other_audio_format: Option<u8>,
    events: VecDeque<DemuxEvent>,
    failed: Option<DemuxError>,
    finished: bool,
}

impl Default for FlvDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvDemuxer {
    /// A demuxer for FLV files: the input must start with the `FLV` file header.
    pub fn new() -> Self {
        Self::with_mode(false)
    }

    /// A demuxer for a stream of bare tags: 11-byte tag headers and bodies, without the file
    /// header and without PreviousTagSize fields.
    pub fn tags_only() -> Self {
        Self::with_mode(true)
    }

    fn with_mode(tags_only: bool) -> Self {
        Self {
            tags_only,
            state: if tags_only {
                State::TagHeader
            } else {
                State::FileHeader
            },
            buf: Vec::new(),
            offset: 0,
            video: None,
            audio: None,
            other_video_codec: None,
            other_audio_format: None,
            events: VecDeque::new(),
            failed: None,
            finished: false,
        }
    }

    /// Feeds one tag's payload (an RTMP audio, video or data message): `tag_type` 8 is audio,
    /// 9 video; anything else is ignored. `timestamp_ms` includes the extended upper 8 bits.
    pub fn push_tag(
        &mut self,
        tag_type: u8,
        timestamp_ms: u32,
        payload: &[u8],
    ) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.tag(tag_type, timestamp_ms, Payload::copied(payload))
            .map_err(|e| self.fail(e))
    }

    /// [`FlvDemuxer::push_tag`] for a payload in a shared buffer (an RTMP message as it was
    /// received): a sample whose bytes are the payload's as they are (AAC frames, H.264 with
    /// 4-byte NAL lengths and no access unit delimiters: what encoders send) is a slice of
    /// it, not a copy. Those copies were one in three of the bytes a live server copies.
    pub fn push_tag_shared(
        &mut self,
        tag_type: u8,
        timestamp_ms: u32,
        payload: &Bytes,
    ) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.tag(tag_type, timestamp_ms, Payload::shared(payload))
            .map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: DemuxError) -> DemuxError {
        self.failed = Some(e.clone());
        e
    }

    fn after_tag(&self) -> State {
        if self.tags_only {
            State::TagHeader
        } else {
            State::PrevTagSize
        }
    }

    /// Bytes the current state needs before it can be handled.
    fn need(&self) -> usize {
        match self.state {
            State::FileHeader => FILE_HEADER_LEN,
            State::PrevTagSize => PREV_TAG_SIZE_LEN,
            State::TagHeader => TAG_HEADER_LEN,
            State::TagBody { size, .. } => size,
            State::Skip { .. } => 0,
        }
    }

    fn push_bytes(&mut self, mut input: &[u8]) -> Result<(), DemuxError> {
        while !input.is_empty() {
            if let State::Skip { remaining } = self.state {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                input = &input[n..];
                self.offset += n as u64;
                self.state = if remaining == n as u64 {
                    self.after_tag()
                } else {
                    State::Skip {
                        remaining: remaining - n as u64,
                    }
                };
                continue;
            }
            let need = self.need();
            if self.buf.is_empty() && input.len() >= need {
                // The common case: the whole unit is in this push; no copy.
                let (unit, rest) = input.split_at(need);
                input = rest;
                self.offset += need as u64;
                self.handle(unit)?;
            } else {
                let take = (need - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                self.offset += take as u64;
                if self.buf.len() == need {
                    let unit = core::mem::take(&mut self.buf);
                    let result = self.handle(&unit);
                    // Keep the allocation for the next split unit.
                    self.buf = unit;
                    self.buf.clear();
                    result?;
                }
            }
        }
        Ok(())
    }

    fn handle(&mut self, unit: &[u8]) -> Result<(), DemuxError> {
        match self.state {
            State::FileHeader => {
                if &unit[..3] != b"FLV" {
                    return Err(DemuxError::malformed("not an FLV file"));
                }
                let data_offset = u32::from_be_bytes([unit[5], unit[6], unit[7], unit[8]]);
                if (data_offset as usize) < FILE_HEADER_LEN {
                    return Err(DemuxError::malformed(format!(
                        "not an FLV file (header size {data_offset})"
                    )));
                }
                let extra = u64::from(data_offset) - FILE_HEADER_LEN as u64;
                self.state = if extra > 0 {
                    State::Skip { remaining: extra }
                } else {
                    State::PrevTagSize
                };
            }
            // Often wrong in files written by live tools, and never needed going forward.
            State::PrevTagSize => self.state = State::TagHeader,
            State::TagHeader => {
                let tag_type = unit[0] & 0x1f;
                let filtered = unit[0] & 0x20 != 0;
                let size = (usize::from(unit[1]) << 16)
                    | (usize::from(unit[2]) << 8)
                    | usize::from(unit[3]);
                let timestamp = u32::from_be_bytes([unit[7], unit[4], unit[5], unit[6]]);
                if !matches!(tag_type, TAG_AUDIO | TAG_VIDEO | TAG_SCRIPT) || unit[0] & 0xc0 != 0 {
                    return Err(DemuxError::malformed(format!(
                        "invalid FLV tag header (type byte {:#04x}) at byte {}",
                        unit[0],
                        self.offset - TAG_HEADER_LEN as u64
                    )));
                }
                if filtered || tag_type == TAG_SCRIPT {
                    // Encrypted bodies are useless; script data (onMetaData) is not needed.
                    self.state = State::Skip {
                        remaining: size as u64,
                    };
                } else {
                    self.state = State::TagBody {
                        tag_type,
                        timestamp,
                        size,
                    };
                    if size == 0 {
                        self.handle(&[])?;
                    }
                }
            }
            State::TagBody {
                tag_type,
                timestamp,
                ..
            } => {
                self.state = self.after_tag();
                self.tag(tag_type, timestamp, Payload::copied(unit))?;
            }
            State::Skip { .. } => {}
        }
        Ok(())
    }

    fn tag(&mut self, tag_type: u8, timestamp: u32, payload: Payload) -> Result<(), DemuxError> {
        match tag_type {
            TAG_AUDIO => self.audio_tag(timestamp, payload),
            TAG_VIDEO => self.video_tag(timestamp, payload),
            _ => Ok(()),
        }
    }

    fn audio_tag(&mut self, timestamp: u32, payload: Payload) -> Result<(), DemuxError> {
        let Some((&head, rest)) = payload.bytes.split_first() else {
            return Ok(());
        };
        let format = head >> 4;
        if format != SOUND_FORMAT_AAC {
            if self.other_audio_format.is_none() {
                self.other_audio_format = Some(format);
                self.events.push_back(DemuxEvent::Ignored {
                    track: AUDIO_TRACK_ID,
                    reason: format!("FLV sound format {format} (not AAC)"),
                });
            }
            return Ok(());
        }
        let Some((&packet_type, data)) = rest.split_first() else {
            return Ok(());
        };
        match packet_type {
            0 => {
                let config = aac::parse_asc(data).ok_or_else(|| {
                    DemuxError::malformed(format!(
                        "invalid AAC AudioSpecificConfig in the FLV audio tag at {timestamp} ms"
                    ))
                })?;
                // Servers resend the same header; only a different one is news.
                if self.audio.as_ref() != Some(&config) {
                    let info = track_info(AUDIO_TRACK_ID, CodecConfig::Aac(config.clone()));
                    self.events.push_back(if self.audio.is_none() {
                        DemuxEvent::Track(info)
                    } else {
                        DemuxEvent::TrackChanged(info)
                    });
                    self.audio = Some(config);
                }
            }
            1 if self.audio.is_some() && !data.is_empty() => {
                self.events.push_back(DemuxEvent::Sample(Sample {
                    track: AUDIO_TRACK_ID,
                    dts: i64::from(timestamp),
                    cts_offset: 0,
                    duration: None,
                    keyframe: true,
                    data: payload.take(data),
                }));
            }
            _ => {}
        }
        Ok(())
    }

    /// Notes a video codec that is not packaged, said once.
    fn ignore_video(&mut self, codec: u8, reason: &str) {
        if self.other_video_codec.is_none() {
            self.other_video_codec = Some(codec);
            self.events.push_back(DemuxEvent::Ignored {
                track: VIDEO_TRACK_ID,
                reason: alloc::string::String::from(reason),
            });
        }
    }

    fn video_tag(&mut self, timestamp: u32, payload: Payload) -> Result<(), DemuxError> {
        let Some((&head, rest)) = payload.bytes.split_first() else {
            return Ok(());
        };
        if head & 0x80 != 0 {
            // Enhanced RTMP's FourCC header (HEVC, AV1, VP9): not packaged.
            self.ignore_video(0x80, "an enhanced FLV FourCC codec (not H.264)");
            return Ok(());
        }
        let frame_type = head >> 4;
        let codec = head & 0x0f;
        if codec != CODEC_AVC {
            self.ignore_video(codec, &format!("FLV video codec id {codec} (not H.264)"));
            return Ok(());
        }
        if frame_type == FRAME_TYPE_COMMAND || rest.len() < 4 {
            return Ok(());
        }
        let packet_type = rest[0];
        // Signed 24-bit composition time offset.
        let cts = i64::from(i32::from_be_bytes([rest[1], rest[2], rest[3], 0]) >> 8);
        let data = &rest[4..];
        match packet_type {
            0 => {
                let (length_size, config) =
                    h264::parse_avc_decoder_config(data).ok_or_else(|| {
                        DemuxError::malformed(format!(
                            "invalid AVC sequence header in the FLV video tag at {timestamp} ms"
                        ))
                    })?;
                match &mut self.video {
                    Some(v) if v.config == config => v.length_size = length_size,
                    _ => {
                        let info = track_info(VIDEO_TRACK_ID, CodecConfig::H264(config.clone()));
                        self.events.push_back(if self.video.is_none() {
                            DemuxEvent::Track(info)
                        } else {
                            DemuxEvent::TrackChanged(info)
                        });
                        let waiting_for_key = self.video.as_ref().is_none_or(|v| v.waiting_for_key);
                        self.video = Some(Video {
                            length_size,
                            config,
                            waiting_for_key,
                        });
                    }
                }
            }
            1 => {
                let Some(video) = &mut self.video else {
                    return Ok(());
                };
                let keyframe = frame_type == FRAME_TYPE_KEY;
                if data.is_empty() || (video.waiting_for_key && !keyframe) {
                    return Ok(());
                }
                let sample = avcc_sample(payload, data, video.length_size).ok_or_else(|| {
                    DemuxError::malformed(format!(
                        "an H.264 NAL unit length runs past the end of the FLV video tag at \
                         {timestamp} ms"
                    ))
                })?;
                if sample.is_empty() {
                    return Ok(());
                }
                video.waiting_for_key = false;
                self.events.push_back(DemuxEvent::Sample(Sample {
                    track: VIDEO_TRACK_ID,
                    dts: i64::from(timestamp),
                    cts_offset: cts,
                    duration: None,
                    keyframe,
                    data: sample,
                }));
            }
            // 2 is end of sequence: nothing to emit.
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), DemuxError> {
        let have = self.buf.len();
        match self.state {
            State::FileHeader if self.offset == 0 => {
                return Err(DemuxError::malformed("not an FLV file (empty input)"));
            }
            State::FileHeader => {
                return Err(if b"FLV".starts_with(&self.buf[..have.min(3)]) {
                    DemuxError::truncated("stream ends inside the FLV file header")
                } else {
                    DemuxError::malformed("not an FLV file")
                });
            }
            State::TagHeader if have > 0 => {
                return Err(DemuxError::truncated(format!(
                    "stream ends inside an FLV tag header ({have} of {TAG_HEADER_LEN} bytes)"
                )));
            }
            State::TagBody {
                tag_type,
                timestamp,
                size,
            } => {
                return Err(DemuxError::truncated(format!(
                    "stream ends inside an FLV {} tag at {timestamp} ms ({have} of {size} bytes)",
                    if tag_type == TAG_VIDEO {
                        "video"
                    } else {
                        "audio"
                    }
                )));
            }
            State::Skip { remaining } => {
                return Err(DemuxError::truncated(format!(
                    "stream ends inside an FLV tag ({remaining} bytes missing)"
                )));
            }
            // A cut PreviousTagSize loses nothing.
            State::TagHeader | State::PrevTagSize => {}
        }
        if self.video.is_none() && self.audio.is_none() {
            let mut found = alloc::string::String::new();
            if let Some(c) = self.other_video_codec {
                if c == 0x80 {
                    found.push_str(" (video: enhanced FLV FourCC codec");
                } else {
                    found.push_str(&format!(" (video codec id {c}"));
                }
            }
            if let Some(f) = self.other_audio_format {
                found.push_str(if found.is_empty() { " (" } else { ", " });
                found.push_str(&format!("audio sound format {f}"));
            }
            if !found.is_empty() {
                found.push(')');
            }
            return Err(DemuxError::unsupported(format!(
                "no H.264 or AAC track in the FLV stream{found}"
            )));
        }
        Ok(())
    }
}

fn track_info(id: u32, codec: CodecConfig) -> TrackInfo {
    TrackInfo {
        id,
        timescale: TIMESCALE,
        codec,
        edit_offset: 0,
        avg_bitrate: None,
        language: None,
    }
}

/// An FLV video payload as a sample: 4-byte length-prefixed NAL units without AUDs. Some
/// encoders put Annex B in FLV despite the sequence header; that is accepted too. `None` if
/// the payload is neither. Already in that form, from a shared payload: a slice of it.
fn avcc_sample(payload: Payload, data: &[u8], length_size: u8) -> Option<Bytes> {
    if length_size == 4 && payload.shared.is_some() && packaged_as_is(data) {
        return Some(payload.take(data));
    }
    avcc_packaged(data, length_size).map(Bytes::from)
}

/// Whether 4-byte length-prefixed `data` is a sample as [`avcc_packaged`] would make it:
/// every unit kept (none empty, no access unit delimiter).
fn packaged_as_is(data: &[u8]) -> bool {
    let mut size = 0;
    for nal in h264::length_prefixed_nal_units(data, 4) {
        match nal {
            Ok(nal) => size += packaged_len(nal),
            Err(_) => return false,
        }
    }
    size == data.len()
}

/// `data` rewritten as a sample (see [`avcc_sample`]). Sized exactly: a `Bytes` made from a
/// `Vec` with room to spare needs a second allocation, and a live server makes one sample
/// per frame per stream.
fn avcc_packaged(data: &[u8], length_size: u8) -> Option<Vec<u8>> {
    let mut size = 0;
    for nal in h264::length_prefixed_nal_units(data, length_size) {
        match nal {
            Ok(nal) => size += packaged_len(nal),
            Err(_) if data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1]) => {
                let size = h264::annexb_nal_units(data).map(packaged_len).sum();
                let mut out = Vec::with_capacity(size);
                h264::annexb_nal_units(data).for_each(|nal| push_nal(&mut out, nal));
                return Some(out);
            }
            Err(_) => return None,
        }
    }
    let mut out = Vec::with_capacity(size);
    h264::length_prefixed_nal_units(data, length_size)
        .flatten()
        .for_each(|nal| push_nal(&mut out, nal));
    Some(out)
}

/// A tag's payload, with the shared buffer that holds it when the caller has one.
#[derive(Clone, Copy)]
struct Payload<'a> {
    bytes: &'a [u8],
    shared: Option<&'a Bytes>,
}

impl<'a> Payload<'a> {
    fn copied(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            shared: None,
        }
    }

    fn shared(bytes: &'a Bytes) -> Self {
        Self {
            bytes,
            shared: Some(bytes),
        }
    }

    /// `part` of the payload as a sample's bytes: a slice of the shared buffer, or a copy.
    /// `part` is always cut from `self.bytes` (which `slice_ref` requires).
    fn take(&self, part: &[u8]) -> Bytes {
        match self.shared {
            Some(b) => b.slice_ref(part),
            None => Bytes::copy_from_slice(part),
        }
    }
}

/// What [`push_nal`] adds for `nal`.
fn packaged_len(nal: &[u8]) -> usize {
    if nal.is_empty() || h264::nal_type(nal) == h264::NAL_AUD {
        0
    } else {
        4 + nal.len()
    }
}

fn push_nal(out: &mut Vec<u8>, nal: &[u8]) {
    if packaged_len(nal) == 0 {
        return;
    }
    out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    out.extend_from_slice(nal);
}

impl Demuxer for FlvDemuxer {
    fn push(&mut self, data: &[u8]) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        self.push_bytes(data).map_err(|e| self.fail(e))
    }

    fn finish(&mut self) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.end().map_err(|e| self.fail(e))
    }

    fn poll(&mut self) -> Option<DemuxEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demux::DemuxErrorKind;
    use alloc::vec;

    const SPS_720P: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];
    const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

    fn avcc(length_size: u8) -> Vec<u8> {
        let mut rec = vec![1, 0x64, 0, 0x1f, 0xfc | (length_size - 1), 0xe1, 0, 25];
        rec.extend_from_slice(&SPS_720P);
        rec.extend_from_slice(&[1, 0, 4]);
        rec.extend_from_slice(&PPS);
        rec
    }

    fn video_body(frame_type: u8, packet_type: u8, cts: i32, data: &[u8]) -> Vec<u8> {
        let c = cts.to_be_bytes();
        let mut b = vec![(frame_type << 4) | CODEC_AVC, packet_type, c[1], c[2], c[3]];
        b.extend_from_slice(data);
        b
    }

    fn audio_body(packet_type: u8, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0xaf, packet_type];
        b.extend_from_slice(data);
        b
    }

    fn tag(tag_type: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let n = body.len() as u32;
        let t = ts.to_be_bytes();
        let mut v = vec![
            tag_type,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
            t[1],
            t[2],
            t[3],
            t[0],
            0,
            0,
            0,
        ];
        v.extend_from_slice(body);
        v
    }

    fn file(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        for t in tags {
            f.extend_from_slice(t);
            f.extend_from_slice(&(t.len() as u32).to_be_bytes());
        }
        f
    }

    fn sample_tags() -> Vec<Vec<u8>> {
        let nal = |t: u8, b: u8| [&[0, 0, 0, 3, t, b, b][..]].concat();
        vec![
            tag(
                TAG_SCRIPT,
                0,
                b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09",
            ),
            tag(TAG_VIDEO, 0, &video_body(1, 0, 0, &avcc(4))),
            tag(TAG_AUDIO, 0, &audio_body(0, &[0x12, 0x10])),
            tag(TAG_VIDEO, 0, &video_body(2, 1, 0, &nal(0x41, 0))), // before any keyframe
            tag(
                TAG_VIDEO,
                0,
                &video_body(1, 1, 80, &[nal(0x09, 0xf0), nal(0x65, 1)].concat()),
            ),
            tag(TAG_AUDIO, 10, &audio_body(1, &[1, 2, 3])),
            tag(TAG_VIDEO, 40, &video_body(2, 1, -40, &nal(0x41, 2))),
            tag(TAG_AUDIO, 0x1234_5678, &audio_body(1, &[4])),
            tag(TAG_VIDEO, 80, &video_body(2, 2, 0, &[])),
        ]
    }

    fn run_chunks(
        d: &mut FlvDemuxer,
        data: &[u8],
        chunk: usize,
    ) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
        let mut events = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            let r = d.push(c);
            events.extend(core::iter::from_fn(|| d.poll()));
            if r.is_err() {
                return (events, r);
            }
        }
        let r = d.finish();
        events.extend(core::iter::from_fn(|| d.poll()));
        (events, r)
    }

    fn run(data: &[u8]) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
        run_chunks(&mut FlvDemuxer::new(), data, data.len())
    }

    fn samples(events: &[DemuxEvent]) -> Vec<&Sample> {
        events
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Sample(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn check_sample_events(events: &[DemuxEvent]) {
        assert!(
            matches!(&events[0], DemuxEvent::Track(t) if t.id == 9 && t.timescale == 1000
            && matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (1280, 720)))
        );
        assert!(matches!(&events[1], DemuxEvent::Track(t) if t.id == 8
            && matches!(&t.codec, CodecConfig::Aac(c) if c.sample_rate == 44100)));
        let s = samples(events);
        assert_eq!(
            s.iter()
                .map(|s| (s.track, s.dts, s.cts_offset, s.keyframe))
                .collect::<Vec<_>>(),
            vec![
                (9, 0, 80, true),
                (8, 10, 0, true),
                (9, 40, -40, false),
                (8, 0x1234_5678, 0, true)
            ]
        );
        assert_eq!(&s[0].data[..], &[0, 0, 0, 3, 0x65, 1, 1]);
        assert_eq!(&s[1].data[..], &[1, 2, 3]);
        assert_eq!(events.len(), 6);
    }

    #[test]
    fn file_in_any_chunking() {
        let data = file(&sample_tags());
        let (events, r) = run(&data);
        r.expect("ok");
        check_sample_events(&events);
        for chunk in [1, 2, 5, 11, 13, 100] {
            let (e, r) = run_chunks(&mut FlvDemuxer::new(), &data, chunk);
            r.expect("ok");
            assert_eq!(e, events, "chunk {chunk}");
        }
        for split in 0..=data.len() {
            let mut d = FlvDemuxer::new();
            d.push(&data[..split]).expect("ok");
            d.push(&data[split..]).expect("ok");
            d.finish().expect("ok");
            let e: Vec<_> = core::iter::from_fn(|| d.poll()).collect();
            assert_eq!(e, events, "split {split}");
        }
    }

    #[test]
    fn tags_only_and_push_tag() {
        let tags = sample_tags();
        let (events, r) = run_chunks(&mut FlvDemuxer::tags_only(), &tags.concat(), 7);
        r.expect("ok");
        check_sample_events(&events);

        let mut d = FlvDemuxer::tags_only();
        for t in &tags {
            let ts = u32::from_be_bytes([t[7], t[4], t[5], t[6]]);
            d.push_tag(t[0], ts, &t[11..]).expect("ok");
        }
        d.finish().expect("ok");
        let e: Vec<_> = core::iter::from_fn(|| d.poll()).collect();
        assert_eq!(e, events);
    }

    #[test]
    fn shared_payloads_give_the_same_samples_sliced_where_they_can() {
        let tags = sample_tags();
        let (events, _) = run_chunks(&mut FlvDemuxer::tags_only(), &tags.concat(), 7);
        let mut d = FlvDemuxer::tags_only();
        let mut payloads = Vec::new();
        for t in &tags {
            let ts = u32::from_be_bytes([t[7], t[4], t[5], t[6]]);
            let payload = Bytes::copy_from_slice(&t[11..]);
            d.push_tag_shared(t[0], ts, &payload).expect("ok");
            payloads.push(payload);
        }
        d.finish().expect("ok");
        let e: Vec<_> = core::iter::from_fn(|| d.poll()).collect();
        assert_eq!(e, events);
        let within = |s: &Sample| {
            payloads
                .iter()
                .any(|p| p.as_ptr_range().contains(&s.data.as_ptr()))
        };
        let samples = samples(&e);
        // The keyframe had an access unit delimiter to drop: built anew. The others are the
        // payload's bytes as they are: slices of it.
        assert!(!within(samples[0]));
        assert!(samples[1..].iter().all(|s| within(s)));
    }

    #[test]
    fn config_changes_and_repeats() {
        let mut d = FlvDemuxer::tags_only();
        d.push_tag(9, 0, &video_body(1, 0, 0, &avcc(4)))
            .expect("ok");
        d.push_tag(9, 0, &video_body(1, 0, 0, &avcc(4)))
            .expect("ok");
        d.push_tag(9, 0, &video_body(1, 1, 0, &[0, 0, 0, 2, 0x65, 1]))
            .expect("ok");
        // Same parameter sets with 2-byte lengths: no event, but the new length size applies.
        d.push_tag(9, 40, &video_body(1, 0, 0, &avcc(2)))
            .expect("ok");
        d.push_tag(9, 40, &video_body(1, 1, 0, &[0, 2, 0x65, 2]))
            .expect("ok");
        let mut sps2 = avcc(4);
        sps2[11] = 0x28;
        d.push_tag(9, 80, &video_body(1, 0, 0, &sps2)).expect("ok");
        d.push_tag(8, 0, &audio_body(0, &[0x12, 0x10])).expect("ok");
        d.push_tag(8, 0, &audio_body(0, &[0x12, 0x10])).expect("ok");
        d.push_tag(8, 0, &audio_body(0, &[0x11, 0x90])).expect("ok");
        let e: Vec<_> = core::iter::from_fn(|| d.poll()).collect();
        let kinds: Vec<(&str, u32)> = e
            .iter()
            .map(|e| match e {
                DemuxEvent::Track(t) => ("track", t.id),
                DemuxEvent::TrackChanged(t) => ("changed", t.id),
                DemuxEvent::Sample(s) => ("sample", s.track),
                DemuxEvent::Seek(_) => ("seek", 0),
                DemuxEvent::Ignored { track, .. } => ("ignored", *track),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("track", 9),
                ("sample", 9),
                ("sample", 9),
                ("changed", 9),
                ("track", 8),
                ("changed", 8)
            ]
        );
        assert!(matches!(&e[2], DemuxEvent::Sample(s) if s.data[..] == [0, 0, 0, 2, 0x65, 2]));
    }

    #[test]
    fn samples_are_sized_exactly_without_auds() {
        // An AUD (type 9) and an empty NAL unit are dropped; nothing to spare either way.
        let length_prefixed = [0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88];
        let v = avcc_packaged(&length_prefixed, 4).expect("length-prefixed");
        assert_eq!((&v[..], v.capacity()), (&[0, 0, 0, 2, 0x65, 0x88][..], 6));
        let annexb = [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88, 0x84];
        let v = avcc_packaged(&annexb, 4).expect("Annex B");
        assert_eq!(
            (&v[..], v.capacity()),
            (&[0, 0, 0, 3, 0x65, 0x88, 0x84][..], 7)
        );
        assert_eq!(avcc_packaged(&[0, 0, 9, 0x65], 4), None);
    }

    #[test]
    fn annexb_in_flv_is_accepted() {
        let mut d = FlvDemuxer::tags_only();
        d.push_tag(9, 0, &video_body(1, 0, 0, &avcc(4)))
            .expect("ok");
        d.push_tag(
            9,
            0,
            &video_body(1, 1, 0, &[0, 0, 0, 1, 0x65, 1, 0, 0, 1, 0x65, 2]),
        )
        .expect("ok");
        let e: Vec<_> = core::iter::from_fn(|| d.poll()).collect();
        assert!(
            matches!(&e[1], DemuxEvent::Sample(s) if s.data[..] == [0, 0, 0, 2, 0x65, 1, 0, 0, 0, 2, 0x65, 2])
        );
        let err = d
            .push_tag(9, 0, &video_body(1, 1, 0, &[0, 0, 9, 0x65]))
            .expect_err("bad");
        assert_eq!(err.kind, DemuxErrorKind::Malformed);
    }

    #[test]
    fn errors() {
        let data = file(&sample_tags());
        let e = run(b"GIF89a garbage garbage").1.expect_err("garbage");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (DemuxErrorKind::Malformed, "not an FLV file")
        );
        assert_eq!(
            run(b"").1.expect_err("empty").kind,
            DemuxErrorKind::Malformed
        );
        assert_eq!(
            run(b"FL").1.expect_err("short").kind,
            DemuxErrorKind::Truncated
        );
        assert_eq!(
            run(b"XY").1.expect_err("short").kind,
            DemuxErrorKind::Malformed
        );

        // Cut inside every tag: the tags before still come out.
        let full = run(&data).0;
        let tags = sample_tags();
        let no_eos = file(&tags[..tags.len() - 1]);
        let mut cut = no_eos.len() - 4 - 3;
        let (events, r) = run(&no_eos[..cut]);
        assert_eq!(r.expect_err("cut").kind, DemuxErrorKind::Truncated);
        assert_eq!(events.len(), full.len() - 1);
        cut = 13 + 5; // inside the first tag header
        assert_eq!(
            run(&data[..cut]).1.expect_err("cut").kind,
            DemuxErrorKind::Truncated
        );
        // Ending inside the last PreviousTagSize loses nothing.
        run(&data[..data.len() - 2]).1.expect("ok");

        // A bad tag type mid-file.
        let mut bad = data.clone();
        bad[13] = 0x07;
        assert_eq!(
            run(&bad).1.expect_err("bad").kind,
            DemuxErrorKind::Malformed
        );

        // No supported codec.
        let mp3 = file(&[
            tag(TAG_AUDIO, 0, &[0x2f, 0xff, 0xfb]),
            tag(TAG_VIDEO, 0, &[0x22, 0]),
        ]);
        let e = run(&mp3).1.expect_err("mp3");
        assert_eq!(e.kind, DemuxErrorKind::Unsupported);
        assert!(
            e.message.contains("video codec id 2") && e.message.contains("audio sound format 2"),
            "{}",
            e.message
        );
    }

    /// Corrupted input must never panic, whatever it does to the output.
    #[test]
    fn corrupted_input_does_not_panic() {
        let clean = file(&sample_tags());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..500 {
            let mut data = clean.clone();
            for _ in 0..(1 + round % 10) {
                let i = next() as usize % data.len();
                data[i] = next() as u8;
            }
            let chunk = 1 + next() as usize % 50;
            let _ = run_chunks(&mut FlvDemuxer::new(), &data, chunk);
            let _ = run_chunks(&mut FlvDemuxer::tags_only(), &data[13..], chunk);
        }
    }

    #[test]
    fn extended_timestamp_and_long_header() {
        let mut f = b"FLV\x01\x05\x00\x00\x00\x0cxyz\x00\x00\x00\x00".to_vec();
        f.extend(tag(TAG_AUDIO, 0, &audio_body(0, &[0x12, 0x10])));
        f.extend([0, 0, 0, 0]);
        f.extend(tag(TAG_AUDIO, 0xff00_0001, &audio_body(1, &[7])));
        let (events, r) = run(&f);
        r.expect("ok");
        assert!(matches!(&events[1], DemuxEvent::Sample(s) if s.dts == 0xff00_0001));
    }
}
