//! One RTMP play: a local stream's tracks and samples as the FLV tag bodies RTMP audio and
//! video messages carry (what another server pulling from us, or an RTMP player, expects).

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use smoothcast_core::codec::h264::avc_decoder_config_record;
use smoothcast_core::media::{CodecConfig, TrackInfo};

use super::publish::TagKind;
use crate::streams::StreamItem;

/// FLV's AAC audio tag header: format 10 (AAC); rate, size and channels are fixed for AAC.
const AAC_HEADER: u8 = 0xaf;
/// FLV video tag header: frame type (1 key, 2 inter) << 4 | codec 7 (AVC).
const AVC_KEY: u8 = 0x17;
const AVC_INTER: u8 = 0x27;

/// A play in progress on one connection.
pub struct Play {
    /// The RTMP message stream the player created for it.
    pub stream_id: u32,
    pub name: String,
    tracks: HashMap<u32, TrackInfo>,
    /// The first sample's time: the player's clock starts at 0 there.
    base_ms: Option<i64>,
    /// Media is held back until a video keyframe: a decoder cannot start elsewhere.
    video_started: bool,
    /// The latest timestamp sent: a sequence header that changes mid-stream goes there.
    last_ts: u32,
}

impl Play {
    pub fn new(stream_id: u32, name: String) -> Self {
        Self {
            stream_id,
            name,
            tracks: HashMap::new(),
            base_ms: None,
            video_started: false,
            last_ts: 0,
        }
    }

    /// The message to send for one item, if any: (audio or video, timestamp in ms, body).
    pub fn tag(&mut self, item: StreamItem) -> Option<(TagKind, u32, Bytes)> {
        match item {
            StreamItem::Track(t) => {
                // FLV carries one audio track: a second language (an MPEG-TS source) stays
                // out of RTMP playback.
                let other_audio = self
                    .tracks
                    .values()
                    .any(|o| o.id != t.id && o.kind() == t.kind());
                if other_audio && t.kind() == smoothcast_core::TrackKind::Audio {
                    return None;
                }
                let tag = match &t.codec {
                    CodecConfig::H264(c) => {
                        let mut b = BytesMut::new();
                        b.put_slice(&[AVC_KEY, 0, 0, 0, 0]);
                        b.put_slice(&avc_decoder_config_record(c));
                        (TagKind::Video, b.freeze())
                    }
                    CodecConfig::Aac(c) => {
                        let mut b = BytesMut::new();
                        b.put_slice(&[AAC_HEADER, 0]);
                        b.put_slice(&c.asc);
                        (TagKind::Audio, b.freeze())
                    }
                    CodecConfig::Text(_) => return None,
                };
                self.tracks.insert(t.id, t);
                Some((tag.0, self.timestamp(None), tag.1))
            }
            StreamItem::Sample(s) => {
                let track = self.tracks.get(&s.track)?;
                let timescale = i64::from(track.timescale.max(1));
                let ms = s.dts.saturating_mul(1000) / timescale;
                let video = matches!(track.codec, CodecConfig::H264(_));
                if video {
                    if !self.video_started && !s.keyframe {
                        return None;
                    }
                    self.video_started = true;
                    // Composition offset: a signed 24-bit field of milliseconds.
                    let cts = (s.cts_offset.saturating_mul(1000) / timescale)
                        .clamp(-(1 << 23), (1 << 23) - 1) as i32;
                    let mut b = BytesMut::with_capacity(5 + s.data.len());
                    b.put_u8(if s.keyframe { AVC_KEY } else { AVC_INTER });
                    b.put_u8(1);
                    b.put_slice(&cts.to_be_bytes()[1..]);
                    b.put_slice(&s.data);
                    Some((TagKind::Video, self.timestamp(Some(ms)), b.freeze()))
                } else {
                    // Audio waits for the first keyframe too, so the player's clock starts
                    // with a picture rather than a gap.
                    let has_video = self
                        .tracks
                        .values()
                        .any(|t| matches!(t.codec, CodecConfig::H264(_)));
                    if has_video && !self.video_started {
                        return None;
                    }
                    let mut b = BytesMut::with_capacity(2 + s.data.len());
                    b.put_slice(&[AAC_HEADER, 1]);
                    b.put_slice(&s.data);
                    Some((TagKind::Audio, self.timestamp(Some(ms)), b.freeze()))
                }
            }
        }
    }

    /// RTMP time of a sample at `ms` (a sequence header has none: it goes at the latest
    /// time sent), counted from the first sample and kept within RTMP's 32 bits.
    fn timestamp(&mut self, ms: Option<i64>) -> u32 {
        let Some(ms) = ms else { return self.last_ts };
        let base = *self.base_ms.get_or_insert(ms);
        self.last_ts = (ms - base).clamp(0, i64::from(u32::MAX)) as u32;
        self.last_ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoothcast_core::demux::flv::{FlvDemuxer, TAG_AUDIO, TAG_VIDEO};
    use smoothcast_core::demux::{DemuxEvent, Demuxer};
    use smoothcast_core::media::Sample;

    /// What a play sends, an RTMP pull (the FLV tag demuxer) reads back unchanged.
    #[test]
    fn round_trip_through_the_tag_demuxer() {
        let clip = include_bytes!("../../../../media/demo.mp4");
        let container = smoothcast_core::demux::sniff(clip).expect("mp4");
        let mut d = smoothcast_core::demux::for_container(container, false);
        d.push(clip).expect("push");
        d.finish().expect("finish");
        let mut play = Play::new(1, "demo".into());
        let mut back = FlvDemuxer::tags_only();
        let (mut sent, mut got) = (Vec::<Sample>::new(), Vec::<Sample>::new());
        let mut tracks = 0;
        while let Some(ev) = d.poll() {
            let item = match ev {
                DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t) => StreamItem::Track(t),
                DemuxEvent::Sample(s) => {
                    sent.push(s.clone());
                    StreamItem::Sample(s)
                }
                DemuxEvent::Seek(_) | DemuxEvent::Ignored { .. } => continue,
            };
            if let Some((kind, ts, body)) = play.tag(item) {
                let tag = match kind {
                    TagKind::Audio => TAG_AUDIO,
                    TagKind::Video => TAG_VIDEO,
                };
                back.push_tag(tag, ts, &body).expect("demux");
                while let Some(ev) = back.poll() {
                    match ev {
                        DemuxEvent::Sample(s) => got.push(s),
                        DemuxEvent::Track(_) => tracks += 1,
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(tracks, 2);
        assert!(!got.is_empty());
        // The demo clip starts with a keyframe: at most the audio before it is held back.
        assert!(
            got.len() + 5 >= sent.len(),
            "{} of {}",
            got.len(),
            sent.len()
        );
        let skipped = sent.len() - got.len();
        for (a, b) in sent[skipped..].iter().zip(&got) {
            assert_eq!(a.data, b.data);
            assert_eq!(a.keyframe, b.keyframe);
        }
    }
}
