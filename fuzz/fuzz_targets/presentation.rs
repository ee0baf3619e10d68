//! Structure-aware: a presentation (VOD or live, any playlist) fed tracks and samples with
//! extreme decode times, composition offsets, durations and timescales, aimed at the i64
//! arithmetic after MSS time conversion. Every output is drained.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smoothcast_core::layout::Layout;
use smoothcast_core::presentation::{Playlist, Presentation, PresentationOptions};
use smoothcast_fuzz::media::{audio_track, sample, video_track, Num};

#[derive(Debug, Arbitrary)]
struct Input {
    live: bool,
    chunk_on_idr: bool,
    /// Fragment length in 10 MHz ticks, 1 tick to ~1.8 hours.
    chunk_length: u16,
    chunk_scale: u8,
    lookahead: u8,
    rolling: Option<(u8, u8)>,
    time_offset: Num,
    /// Fragment limits (issue 11): bytes, and 10 MHz ticks; defaults when `None`.
    max_bytes: Option<u16>,
    max_duration: Option<u32>,
    single: bool,
    levels: u8,
    ops: Vec<Op>,
    finish: bool,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Track {
        level: u8,
        video: bool,
        id: u8,
        timescale: Timescale,
        edit_offset: Num,
    },
    Sample {
        level: u8,
        id: u8,
        video: bool,
        dts: Num,
        cts: Num,
        duration: Option<u32>,
        keyframe: bool,
    },
    /// `n` samples `step` apart from `dts`: runs of ordinary media between the extremes.
    Run {
        level: u8,
        id: u8,
        video: bool,
        dts: Num,
        step: u16,
        n: u8,
        gop: u8,
    },
    FinishLevel(u8),
    LoseLevel(u8),
    RestartLevel(u8),
}

#[derive(Debug, Arbitrary)]
enum Timescale {
    Common(u8),
    Any(u32),
}

impl Timescale {
    fn get(&self) -> u32 {
        match self {
            Timescale::Common(i) => {
                [90_000, 1_000, 48_000, 44_100, 10_000_000, 1, 12_800][usize::from(*i) % 7]
            }
            Timescale::Any(v) => *v,
        }
    }
}

fuzz_target!(|input: Input| {
    let layout = if input.single {
        Layout::Single { stream: "s".into() }
    } else {
        Layout::Multi
    };
    let mut options = PresentationOptions::vod(layout);
    options.live = input.live;
    options.chunk_on_idr = input.chunk_on_idr;
    options.chunk_length =
        (u64::from(input.chunk_length) + 1) << (u32::from(input.chunk_scale) % 24);
    options.lookahead = input.lookahead % 8;
    if let Some((length, stale)) = input.rolling {
        options.playlist = Playlist::Rolling {
            length: usize::from(length % 16) + 1,
            stale_retention: usize::from(stale % 16),
        };
    }
    options.time_offset = input.time_offset.get().unsigned_abs();
    options.live_start_chunks = 1;
    if let Some(b) = input.max_bytes {
        options.max_fragment_bytes = u64::from(b);
    }
    options.max_fragment_duration = input.max_duration.map(u64::from);
    let mut p = Presentation::new(options);
    let levels: Vec<_> = (0..input.levels % 3 + 1)
        .filter_map(|i| p.add_quality_level("in", 100_000 * (u32::from(i) + 1)).ok())
        .collect();
    let level = |i: u8| levels[usize::from(i) % levels.len()];
    let mut outputs = 0usize;
    for op in input.ops.into_iter().take(2_000) {
        let r = match op {
            Op::Track {
                level: l,
                video,
                id,
                timescale,
                edit_offset,
            } => {
                let info = if video {
                    video_track(u32::from(id), timescale.get(), edit_offset.get())
                } else {
                    audio_track(u32::from(id), timescale.get())
                };
                p.add_track(level(l), info)
            }
            Op::Sample {
                level: l,
                id,
                video,
                dts,
                cts,
                duration,
                keyframe,
            } => p.push_sample(
                level(l),
                sample(
                    u32::from(id),
                    video,
                    dts.get(),
                    cts.get(),
                    duration,
                    keyframe,
                ),
            ),
            Op::Run {
                level: l,
                id,
                video,
                dts,
                step,
                n,
                gop,
            } => {
                let mut r = Ok(());
                for i in 0..i64::from(n) {
                    let t = dts.get().saturating_add(i * i64::from(step));
                    let key = gop == 0 || i % i64::from(gop) == 0;
                    r = p.push_sample(level(l), sample(u32::from(id), video, t, 0, None, key));
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
            Op::FinishLevel(l) => p.finish_level(level(l)),
            Op::LoseLevel(l) => p.lose_level(level(l)),
            Op::RestartLevel(l) => p.restart_level(level(l)),
        };
        while p.poll_output().is_some() {
            outputs += 1;
        }
        if r.is_err() || outputs > 100_000 {
            break;
        }
    }
    if input.finish {
        let _ = p.finish();
    }
    let _ = p.manifest();
    while p.poll_output().is_some() {}
});
