//! A live input's bitrate from the items held while it is measured.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::media::{Sample, TrackInfo, TrackKind};
use crate::time::to_mss;

/// One held item: a track announcement or a sample.
#[derive(Debug, Clone, Copy)]
pub enum Held<'a> {
    Track(&'a TrackInfo),
    Sample(&'a Sample),
}

/// The span of the held samples in seconds: the longest track's, from its first to its last
/// decode time; `None` before a sample of an announced track.
pub fn window_seconds<'a>(held: impl Iterator<Item = Held<'a>> + Clone) -> Option<f64> {
    let mut timescales = BTreeMap::new();
    for item in held.clone() {
        if let Held::Track(t) = item {
            timescales.insert(t.id, t.timescale);
        }
    }
    let mut spans: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
    for item in held {
        if let Held::Sample(s) = item {
            let e = spans.entry(s.track).or_insert((s.dts, s.dts));
            e.0 = e.0.min(s.dts);
            e.1 = e.1.max(s.dts);
        }
    }
    spans
        .iter()
        .filter_map(|(id, (lo, hi))| {
            timescales
                .get(id)
                .map(|ts| to_mss(hi.saturating_sub(*lo), *ts) as f64 / 1e7)
        })
        .fold(None, |acc: Option<f64>, s| {
            Some(acc.map_or(s, |a| a.max(s)))
        })
}

/// Bits per second of the held video (a level's bitrate: its audio is measured apart, by the
/// presentation), or of all held media without video; rounded to 1 kbit/s, at least 1000.
/// `None` until the held samples span some time.
pub fn window_bitrate<'a>(held: impl Iterator<Item = Held<'a>> + Clone) -> Option<u32> {
    let secs = window_seconds(held.clone()).filter(|s| *s > 0.0)?;
    let video: Vec<u32> = held
        .clone()
        .filter_map(|i| match i {
            Held::Track(t) if t.kind() == TrackKind::Video => Some(t.id),
            _ => None,
        })
        .collect();
    let bytes: usize = held
        .map(|i| match i {
            Held::Sample(s) if video.is_empty() || video.contains(&s.track) => s.data.len(),
            _ => 0,
        })
        .sum();
    // +0.5 then truncate: round half up without std's float rounding (no_std).
    let kbps = (bytes as f64 * 8.0 / secs / 1000.0 + 0.5) as u32;
    Some(kbps.saturating_mul(1000).max(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AacConfig, AvcConfig, CodecConfig};
    use alloc::vec;

    fn track(id: u32, video: bool) -> TrackInfo {
        let codec = match video {
            true => CodecConfig::H264(AvcConfig {
                sps: vec![],
                pps: vec![],
                width: 64,
                height: 64,
            }),
            false => CodecConfig::Aac(AacConfig {
                asc: vec![0x11, 0x90],
                object_type: 2,
                sample_rate: 48_000,
                channels: 2,
            }),
        };
        TrackInfo {
            id,
            timescale: 1000,
            codec,
            edit_offset: 0,
            avg_bitrate: None,
            language: None,
        }
    }

    fn sample(track: u32, dts: i64, len: usize) -> Sample {
        Sample {
            track,
            dts,
            cts_offset: 0,
            duration: Some(40),
            keyframe: true,
            data: bytes::Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn video_bytes_over_the_longest_span_rounded_to_kbps() {
        let (v, a) = (track(1, true), track(2, false));
        // Video: 2 s from first to last decode time, 250_000 bytes = 1 Mbit/s; the audio
        // spans 3 s (it sets the window) and is not counted.
        let samples = [
            sample(1, 0, 100_000),
            sample(2, 0, 5_000),
            sample(1, 2000, 150_000),
            sample(2, 3000, 5_000),
        ];
        let mut held = vec![Held::Track(&v), Held::Track(&a)];
        held.extend(samples.iter().map(Held::Sample));
        assert_eq!(window_seconds(held.iter().copied()), Some(3.0));
        // 2_000_000 bits over 3 s = 666.67 kbit/s, rounded up.
        assert_eq!(window_bitrate(held.iter().copied()), Some(667_000));
    }

    #[test]
    fn without_video_everything_counts_and_a_floor_of_1_kbps() {
        let a = track(2, false);
        let samples = [sample(2, 0, 10), sample(2, 1000, 10)];
        let mut held = vec![Held::Track(&a)];
        held.extend(samples.iter().map(Held::Sample));
        assert_eq!(window_bitrate(held.iter().copied()), Some(1000));
        // One instant: no span, no bitrate.
        assert_eq!(window_bitrate(held[..2].iter().copied()), None);
    }
}
