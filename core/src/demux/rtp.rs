//! RTP access units in, tracks and samples out: what is left of demuxing once an RTP
//! depacketizer (RFC 6184 for H.264, RFC 3640 for AAC) has reassembled whole frames.
//!
//! The host owns RTSP and RTP and hands over, per stream, the decoder configuration (an avcC
//! record or an AudioSpecificConfig) and frames stamped with their RTP presentation time.
//! Each track's timescale is its RTP clock rate, so no time is rounded. This module decides
//! what the other demuxers decide: when a track is announced or changed, which pictures can
//! be decoded, and decode times, which RTP does not carry (they are derived from the order
//! of presentation times, see [`REORDER_WINDOW`]).

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use core::cmp::Reverse;

use bytes::Bytes;

use super::{DemuxError, DemuxEvent};
use crate::codec::{aac, h264};
use crate::media::{CodecConfig, Sample, TrackInfo};

/// Video frames held back to derive decode times. RTP stamps pictures with presentation
/// times only; with B-frames those are out of order. Holding a few pictures lets the n-th
/// decode time be the n-th smallest presentation time, which is exact while pictures are
/// reordered by at most this many places (x264 and hardware encoders use 1 to 3). Costs this
/// many frames of latency, so it applies only where the SPS allows reordering (its
/// pic_order_cnt_type is not 2).
pub const REORDER_WINDOW: usize = 4;

#[derive(Debug)]
struct Track {
    id: u32,
    timescale: u32,
    codec: CodecConfig,
    /// Pictures before the first keyframe cannot be decoded and are dropped.
    waiting_for_key: bool,
    /// Video only: how many frames to hold (0 or [`REORDER_WINDOW`]).
    reorder_window: usize,
    /// Video only: frames waiting for their decode time, in arrival (decode) order.
    pending: VecDeque<Pending>,
    /// The presentation times of `pending`, smallest first.
    pending_pts: BinaryHeap<Reverse<i64>>,
    last_dts: Option<i64>,
}

#[derive(Debug)]
struct Pending {
    pts: i64,
    keyframe: bool,
    data: Bytes,
}

/// The RTP frame demuxer. See the module documentation.
#[derive(Debug, Default)]
pub struct RtpDemuxer {
    tracks: Vec<Track>,
    events: VecDeque<DemuxEvent>,
}

impl RtpDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares H.264 track `track` from an AVCDecoderConfigurationRecord (whose SPS/PPS came
    /// from the SDP's sprop-parameter-sets or in-band), or changes it. Frames must then be
    /// 4-byte length-prefixed. A repeat of the current configuration is no news.
    pub fn configure_h264(
        &mut self,
        track: u32,
        clock_rate: u32,
        avcc: &[u8],
    ) -> Result<(), DemuxError> {
        let (length_size, config) = h264::parse_avc_decoder_config(avcc).ok_or_else(|| {
            DemuxError::malformed(format!(
                "invalid H.264 parameter sets for RTP stream {track}"
            ))
        })?;
        if length_size != 4 {
            return Err(DemuxError::unsupported(format!(
                "RTP stream {track}: H.264 frames with {length_size}-byte NAL lengths"
            )));
        }
        self.configure(track, clock_rate, CodecConfig::H264(config))
    }

    /// Declares AAC track `track` from its AudioSpecificConfig (the SDP's `config=`), or
    /// changes it. Frames are raw AAC access units.
    pub fn configure_aac(
        &mut self,
        track: u32,
        clock_rate: u32,
        asc: &[u8],
    ) -> Result<(), DemuxError> {
        let config = aac::parse_asc(asc).ok_or_else(|| {
            DemuxError::malformed(format!(
                "invalid AAC AudioSpecificConfig for RTP stream {track}"
            ))
        })?;
        self.configure(track, clock_rate, CodecConfig::Aac(config))
    }

    fn configure(
        &mut self,
        id: u32,
        clock_rate: u32,
        codec: CodecConfig,
    ) -> Result<(), DemuxError> {
        if clock_rate == 0 {
            return Err(DemuxError::malformed(format!(
                "RTP stream {id} has a clock rate of 0"
            )));
        }
        let info = |codec: CodecConfig| TrackInfo {
            id,
            timescale: clock_rate,
            codec,
            edit_offset: 0,
            avg_bitrate: None,
            language: None,
        };
        match self.tracks.iter().position(|t| t.id == id) {
            None => {
                self.events
                    .push_back(DemuxEvent::Track(info(codec.clone())));
                self.tracks.push(Track {
                    id,
                    timescale: clock_rate,
                    reorder_window: reorder_window(&codec),
                    codec,
                    waiting_for_key: true,
                    pending: VecDeque::new(),
                    pending_pts: BinaryHeap::new(),
                    last_dts: None,
                });
            }
            Some(i) => {
                let t = &self.tracks[i];
                if t.codec == codec && t.timescale == clock_rate {
                    return Ok(());
                }
                if t.codec.kind() != codec.kind() || t.timescale != clock_rate {
                    return Err(DemuxError::unsupported(format!(
                        "RTP stream {id} changed its codec or clock rate mid-stream"
                    )));
                }
                // Pictures already received belong to the old configuration.
                Self::drain(&mut self.tracks[i], &mut self.events, 0);
                self.events
                    .push_back(DemuxEvent::TrackChanged(info(codec.clone())));
                self.tracks[i].reorder_window = reorder_window(&codec);
                self.tracks[i].codec = codec;
            }
        }
        Ok(())
    }

    /// One whole frame of a configured track: `pts` in the track's clock (an RTP timestamp
    /// made monotonic by the host), `keyframe` for an IDR picture (ignored for audio).
    pub fn push_frame(
        &mut self,
        track: u32,
        pts: i64,
        keyframe: bool,
        data: Bytes,
    ) -> Result<(), DemuxError> {
        let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) else {
            return Err(DemuxError::malformed(format!(
                "a frame for RTP stream {track} before its configuration"
            )));
        };
        if data.is_empty() {
            return Ok(());
        }
        match t.codec {
            // RTP tracks are made from SDP media lines, which are only H.264 and AAC.
            CodecConfig::Text(_) => {}
            CodecConfig::Aac(_) => {
                // Saturating: a host's timestamps may sit at the end of i64 (fuzzing).
                let dts = t
                    .last_dts
                    .map_or(pts, |last| pts.max(last.saturating_add(1)));
                t.last_dts = Some(dts);
                self.events.push_back(DemuxEvent::Sample(Sample {
                    track,
                    dts,
                    cts_offset: 0,
                    duration: None,
                    keyframe: true,
                    data,
                }));
            }
            CodecConfig::H264(_) => {
                if h264::length_prefixed_nal_units(&data, 4).any(|n| n.is_err()) {
                    return Err(DemuxError::malformed(format!(
                        "an H.264 NAL unit length runs past the end of a frame of RTP stream \
                         {track}"
                    )));
                }
                if t.waiting_for_key && !keyframe {
                    return Ok(());
                }
                t.waiting_for_key = false;
                t.pending.push_back(Pending {
                    pts,
                    keyframe,
                    data,
                });
                t.pending_pts.push(Reverse(pts));
                let keep = t.reorder_window;
                Self::drain(t, &mut self.events, keep);
            }
        }
        Ok(())
    }

    /// Emits held pictures until at most `keep` remain.
    fn drain(t: &mut Track, events: &mut VecDeque<DemuxEvent>, keep: usize) {
        while t.pending.len() > keep {
            let (Some(p), Some(Reverse(slot))) = (t.pending.pop_front(), t.pending_pts.pop())
            else {
                break;
            };
            // A picture reordered further than the window would step back in time.
            let dts = t
                .last_dts
                .map_or(slot, |last| slot.max(last.saturating_add(1)));
            t.last_dts = Some(dts);
            events.push_back(DemuxEvent::Sample(Sample {
                track: t.id,
                dts,
                cts_offset: p.pts.saturating_sub(dts),
                duration: None,
                keyframe: p.keyframe,
                data: p.data,
            }));
        }
    }

    /// The end of the session: releases the pictures held for reordering.
    pub fn finish(&mut self) {
        for t in &mut self.tracks {
            Self::drain(t, &mut self.events, 0);
        }
    }

    /// The next event, or `None` until more frames arrive.
    pub fn poll(&mut self) -> Option<DemuxEvent> {
        self.events.pop_front()
    }
}

/// Frames to hold for a codec: none unless its first SPS allows reordering.
fn reorder_window(codec: &CodecConfig) -> usize {
    let CodecConfig::H264(c) = codec else {
        return 0;
    };
    match c.sps.first().and_then(|s| h264::parse_sps(s)) {
        Some(sps) if sps.pic_order_cnt_type == 2 => 0,
        _ => REORDER_WINDOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A 1280x720 High profile SPS and a PPS (as in the FLV tests), at `level`.
    fn avcc(level: u8) -> Vec<u8> {
        let sps = [
            0x67, 0x64, 0x00, level, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02,
            0x02, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
        ];
        let mut r = vec![1, 0x64, 0, level, 0xff, 0xe1, 0, 25];
        r.extend_from_slice(&sps);
        r.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        r
    }

    // Fuzzing regression (fuzz target `rtp`): a frame after one at i64::MAX overflowed
    // `last + 1`; reordered H.264 at the ends of i64 overflowed `pts - dts`.
    #[test]
    fn timestamps_at_the_ends_of_i64_do_not_overflow() {
        let mut d = RtpDemuxer::new();
        d.configure_aac(1, 48_000, &[0x11, 0x90]).expect("asc");
        d.configure_h264(2, 90_000, &avcc(0x1f)).expect("avcc");
        for pts in [i64::MAX, i64::MIN, i64::MAX, 0] {
            d.push_frame(1, pts, true, Bytes::from_static(&[0x21]))
                .expect("aac");
        }
        for (pts, key) in [(i64::MAX, true), (i64::MIN, false), (i64::MAX - 1, false)] {
            d.push_frame(2, pts, key, frame(if key { 0x65 } else { 0x41 }))
                .expect("h264");
        }
        d.finish();
        let got = samples(&drain(&mut d));
        assert_eq!(got.len(), 7);
        assert!(got
            .iter()
            .all(|s| s.1 == i64::MAX || s.1 >= 0 || s.1 == i64::MIN));
    }

    fn frame(t: u8) -> Bytes {
        Bytes::from(vec![0, 0, 0, 2, t, 0])
    }

    fn drain(d: &mut RtpDemuxer) -> Vec<DemuxEvent> {
        core::iter::from_fn(|| d.poll()).collect()
    }

    fn samples(events: &[DemuxEvent]) -> Vec<(u32, i64, i64, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Sample(s) => Some((s.track, s.dts, s.cts_offset, s.keyframe)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn tracks_keyframes_and_audio() {
        let mut d = RtpDemuxer::new();
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("avcc");
        d.configure_aac(1, 48_000, &[0x11, 0x90]).expect("asc");
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("repeat");
        d.push_frame(0, 0, false, frame(0x41)).expect("before key");
        d.push_frame(1, 0, true, Bytes::from_static(&[1, 2]))
            .expect("aac");
        for i in 0..6 {
            d.push_frame(0, 3600 * i, i == 0, frame(if i == 0 { 0x65 } else { 0x41 }))
                .expect("frame");
        }
        d.finish();
        let e = drain(&mut d);
        assert!(
            matches!(&e[0], DemuxEvent::Track(t) if t.id == 0 && t.timescale == 90_000
            && matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (1280, 720)))
        );
        assert!(matches!(&e[1], DemuxEvent::Track(t) if t.id == 1 && t.timescale == 48_000));
        let s = samples(&e);
        assert_eq!(s[0], (1, 0, 0, true));
        assert_eq!(
            s[1..],
            (0..6).map(|i| (0, 3600 * i, 0, i == 0)).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn b_frames_get_decode_times() {
        let mut d = RtpDemuxer::new();
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("avcc");
        // Decode order I0 P3 B1 B2 P6 B4 B5, in frame units.
        let order = [0, 3, 1, 2, 6, 4, 5];
        for (i, p) in order.iter().enumerate() {
            d.push_frame(0, p * 10, i == 0, frame(0x41)).expect("frame");
        }
        d.finish();
        let s = samples(&drain(&mut d));
        let dts: Vec<i64> = s.iter().map(|s| s.1).collect();
        assert_eq!(dts, vec![0, 10, 20, 30, 40, 50, 60]);
        let pts: Vec<i64> = s.iter().map(|s| s.1 + s.2).collect();
        assert_eq!(pts, order.iter().map(|p| p * 10).collect::<Vec<_>>());
    }

    #[test]
    fn parameter_change_flushes_then_announces() {
        let mut d = RtpDemuxer::new();
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("avcc");
        d.push_frame(0, 0, true, frame(0x65)).expect("frame");
        d.push_frame(0, 10, false, frame(0x41)).expect("frame");
        d.configure_h264(0, 90_000, &avcc(0x28)).expect("new sps");
        d.push_frame(0, 20, true, frame(0x65)).expect("frame");
        d.finish();
        let kinds: Vec<&str> = drain(&mut d)
            .iter()
            .map(|e| match e {
                DemuxEvent::Track(_) => "track",
                DemuxEvent::TrackChanged(_) => "changed",
                DemuxEvent::Sample(_) => "sample",
                DemuxEvent::Seek(_) => "seek",
                DemuxEvent::Ignored { .. } => "ignored",
            })
            .collect();
        assert_eq!(
            kinds,
            vec!["track", "sample", "sample", "changed", "sample"]
        );
    }

    /// x264 without B-frames writes pic_order_cnt_type 2: nothing is held back.
    #[test]
    fn no_reordering_no_delay() {
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xb4, 0x0a, 0x0c, 0xfc, 0xf8, 0x08, 0x80, 0x00, 0x00,
            0x03, 0x00, 0x80, 0x00, 0x00, 0x19, 0x07, 0x8a, 0x15, 0x50,
        ];
        let mut r = vec![1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, sps.len() as u8];
        r.extend_from_slice(&sps);
        r.extend_from_slice(&[1, 0, 4, 0x68, 0xef, 0x3c, 0xb0]);
        let mut d = RtpDemuxer::new();
        d.configure_h264(0, 90_000, &r).expect("avcc");
        d.push_frame(0, 0, true, frame(0x65)).expect("frame");
        let e = drain(&mut d);
        assert!(matches!(&e[0], DemuxEvent::Track(t)
            if matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (320, 180))));
        assert_eq!(samples(&e), vec![(0, 0, 0, true)], "out at once");
        // The High profile SPS of the other tests uses type 0: held back.
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("avcc");
        d.push_frame(0, 3600, true, frame(0x65)).expect("frame");
        assert!(samples(&drain(&mut d)).is_empty());
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = RtpDemuxer::new();
        assert!(d.configure_h264(0, 90_000, &[1, 2, 3]).is_err());
        assert!(d.configure_aac(1, 48_000, &[]).is_err());
        assert!(d.configure_aac(1, 0, &[0x11, 0x90]).is_err());
        assert!(d.push_frame(7, 0, true, frame(0x65)).is_err());
        d.configure_h264(0, 90_000, &avcc(0x1f)).expect("avcc");
        assert!(d.configure_aac(0, 90_000, &[0x11, 0x90]).is_err());
        let short = Bytes::from_static(&[0, 0, 0, 9, 0x65]);
        assert!(d.push_frame(0, 0, true, short).is_err());
    }
}
