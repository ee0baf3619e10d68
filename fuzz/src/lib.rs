//! Helpers shared by the fuzz targets.
//!
//! Demuxer targets push the input in pieces whose size comes from the input's last two
//! bytes (as FFmpeg's `tools/target_dem_fuzzer.c` takes its I/O chunking from the input), so
//! libFuzzer explores split points in headers, boxes and packets along with their contents.

use smoothcast_core::demux::{DemuxEvent, Demuxer};

/// Events drained per input at most: a hostile input must not make a target loop.
pub const MAX_EVENTS: usize = 100_000;

/// The payload and the piece size its last two bytes choose (1..=65,536).
pub fn split_input(data: &[u8]) -> (&[u8], usize) {
    match data.len().checked_sub(2) {
        Some(n) => {
            let chunk = usize::from(u16::from_le_bytes([data[n], data[n + 1]])) + 1;
            (&data[..n], chunk)
        }
        None => (data, 1),
    }
}

/// Drains a demuxer's events; returns the seeks it asked for, and how many events it gave.
pub fn drain(d: &mut dyn Demuxer, events: &mut usize) -> Option<u64> {
    let mut seek = None;
    while let Some(e) = d.poll() {
        *events += 1;
        if let DemuxEvent::Seek(at) = e {
            seek = Some(at);
        }
        if *events > MAX_EVENTS {
            break;
        }
    }
    seek
}

/// Pushes `data` in `chunk`-sized pieces (owned buffers if `shared`), draining events after
/// each, then finishes. A seekable demuxer's seeks are honoured from `data` (at most 64).
pub fn run_demuxer(mut d: Box<dyn Demuxer + Send>, data: &[u8], chunk: usize, shared: bool) {
    let mut events = 0;
    let mut pos = 0usize;
    let mut seeks = 0;
    while pos < data.len() {
        let end = pos.saturating_add(chunk).min(data.len());
        let piece = &data[pos..end];
        let r = if shared {
            d.push_shared(bytes::Bytes::copy_from_slice(piece))
        } else {
            d.push(piece)
        };
        pos = end;
        if r.is_err() {
            return;
        }
        if let Some(at) = drain(d.as_mut(), &mut events) {
            seeks += 1;
            if seeks > 64 {
                return;
            }
            pos = usize::try_from(at).unwrap_or(usize::MAX).min(data.len());
        }
        if events > MAX_EVENTS {
            return;
        }
    }
    let _ = d.finish();
    drain(d.as_mut(), &mut events);
}

pub mod media {
    //! Tracks and samples for the structure-aware presentation targets.
    use smoothcast_core::media::{AacConfig, AvcConfig, CodecConfig, Sample, TrackInfo};

    /// x264 High profile 1280x720 SPS (from core's h264 tests).
    pub const SPS_720P: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];

    pub fn video_track(id: u32, timescale: u32, edit_offset: i64) -> TrackInfo {
        TrackInfo {
            id,
            timescale,
            codec: CodecConfig::H264(AvcConfig {
                sps: vec![SPS_720P.to_vec()],
                pps: vec![vec![0x68, 0xeb, 0xe3, 0xcb]],
                width: 1280,
                height: 720,
            }),
            edit_offset,
            avg_bitrate: None,
            language: None,
        }
    }

    pub fn audio_track(id: u32, timescale: u32) -> TrackInfo {
        TrackInfo {
            id,
            timescale,
            codec: CodecConfig::Aac(AacConfig {
                asc: vec![0x11, 0x90],
                object_type: 2,
                sample_rate: 48_000,
                channels: 2,
            }),
            edit_offset: 0,
            avg_bitrate: None,
            language: None,
        }
    }

    /// A sample whose payload is one NAL unit (IDR or not) or a few bytes of AAC.
    pub fn sample(
        track: u32,
        video: bool,
        dts: i64,
        cts_offset: i64,
        duration: Option<u32>,
        keyframe: bool,
    ) -> Sample {
        let data: Vec<u8> = if video {
            vec![0, 0, 0, 2, if keyframe { 0x65 } else { 0x41 }, 0x88]
        } else {
            vec![0x21, 0x10, 0x04]
        };
        Sample {
            track,
            dts,
            cts_offset,
            duration,
            keyframe: keyframe || !video,
            data: data.into(),
        }
    }

    /// Values near the edges integer arithmetic on times trips over, or a plain one.
    #[derive(Debug, Clone, Copy, arbitrary::Arbitrary)]
    pub enum Num {
        Plain(i64),
        Small(i16),
        Edge(u8, i8),
    }

    const EDGES: [i64; 12] = [
        0,
        i64::MAX,
        i64::MIN,
        u32::MAX as i64,
        i32::MAX as i64,
        i32::MIN as i64,
        1 << 32,
        1 << 53,
        1 << 62,
        -(1 << 62),
        10_000_000,
        // Ten MHz ticks since 1970, a live time offset today.
        17_647_000_000_000_000,
    ];

    impl Num {
        pub fn get(self) -> i64 {
            match self {
                Num::Plain(v) => v,
                Num::Small(v) => i64::from(v),
                Num::Edge(i, d) => EDGES[usize::from(i) % EDGES.len()].saturating_add(i64::from(d)),
            }
        }
    }
}

/// Lets panics raised in the named source files pass without aborting, for code under test
/// that contains a dependency's panics with `catch_unwind` on purpose (the RTMP guard around
/// rml_rtmp, the config reader around full_moon). libfuzzer-sys's hook aborts on every panic,
/// caught or not; this one defers to it for all others, and a panic that escapes the target
/// still aborts (libfuzzer-sys catches it and calls `abort`).
pub fn allow_caught_panics_in(sources: &'static [&'static str]) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let contained = info
                .location()
                .is_some_and(|l| sources.iter().any(|s| l.file().contains(s)));
            if !contained {
                aborting(info);
            }
        }));
    });
}
