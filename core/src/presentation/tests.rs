//! Behaviour of the state machine on synthetic inputs: timelines, alignment, live rewrites.

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use bytes::Bytes;

use super::*;
use crate::fragment::Fragment;
use crate::media::{AacConfig, AvcConfig, CodecConfig};

const SPS: [u8; 25] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02, 0x80,
    0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
];

pub(super) fn video_track(edit_offset: i64) -> TrackInfo {
    TrackInfo {
        id: 1,
        timescale: 12_800,
        codec: CodecConfig::H264(AvcConfig {
            sps: vec![SPS.to_vec()],
            pps: vec![vec![0x68, 0xeb]],
            width: 1280,
            height: 720,
        }),
        edit_offset,
        avg_bitrate: None,
        language: None,
    }
}

pub(super) fn audio_track() -> TrackInfo {
    TrackInfo {
        id: 2,
        timescale: 48_000,
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

/// `secs` of 25 fps video (GOP of `gop` frames) and 48 kHz AAC, interleaved roughly as a
/// muxer would, with the given video cts offset for B-frame-like reordering.
pub(super) fn push_av(p: &mut Presentation, level: LevelId, secs: i64, gop: i64, cts: i64) {
    push_av_with(p, level, secs, gop, cts, &[0x21, 0x10]);
}

/// [`push_av`] with audio frames of the given bytes (46.875 frames a second).
fn push_av_with(
    p: &mut Presentation,
    level: LevelId,
    secs: i64,
    gop: i64,
    cts: i64,
    audio: &'static [u8],
) {
    push_av_audio_until(p, level, secs, gop, cts, audio, secs);
}

/// [`push_av_with`] whose audio stops after `audio_secs` (a source lost between a
/// fragment's video and its audio).
fn push_av_audio_until(
    p: &mut Presentation,
    level: LevelId,
    secs: i64,
    gop: i64,
    cts: i64,
    audio: &'static [u8],
    audio_secs: i64,
) {
    let frames = secs * 25;
    let mut next_audio = 0i64;
    for f in 0..frames {
        let dts = f * 512;
        p.push_sample(
            level,
            Sample {
                track: 1,
                dts,
                cts_offset: cts,
                duration: None,
                keyframe: f % gop == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            },
        )
        .expect("video");
        // Audio up to this video time.
        while next_audio * 1024 * 12_800 <= dts.min(audio_secs * 12_800) * 48_000 {
            p.push_sample(
                level,
                Sample {
                    track: 2,
                    dts: next_audio * 1024,
                    cts_offset: 0,
                    duration: None,
                    keyframe: true,
                    data: Bytes::from_static(audio),
                },
            )
            .expect("audio");
            next_audio += 1;
        }
    }
}

/// A live presentation of one quality level ("live", 1 Mbit/s) carrying video and audio.
fn live_av_level(options: PresentationOptions) -> (Presentation, LevelId) {
    let mut p = Presentation::new(PresentationOptions {
        live: true,
        ..options
    });
    let l = p.add_quality_level("live", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    (p, l)
}

/// Options of a live presentation whose manifest lists a rolling window of three fragments.
fn rolling_three() -> PresentationOptions {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.playlist = Playlist::Rolling {
        length: 3,
        stale_retention: 1,
    };
    options
}

/// A live presentation of two quality levels (2 and 1 Mbit/s) that share one audio rendition.
pub(super) fn two_levels_sharing_audio(
    options: PresentationOptions,
) -> (Presentation, [LevelId; 2]) {
    let mut p = Presentation::new(PresentationOptions {
        live: true,
        ..options
    });
    let levels = [
        p.add_quality_level("hi", 2_000_000).expect("level"),
        p.add_quality_level("lo", 1_000_000).expect("level"),
    ];
    for l in levels {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
    }
    (p, levels)
}

pub(super) fn drain(p: &mut Presentation) -> Vec<Output> {
    core::iter::from_fn(|| p.poll_output()).collect()
}

fn written(outputs: &[Output]) -> Vec<(&str, &[u8])> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { path, data, .. } => Some((path.as_str(), &data[..])),
            _ => None,
        })
        .collect()
}

fn final_manifest(outputs: &[Output]) -> Manifest {
    let xml = outputs
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::WriteManifest { xml, .. } => Some(xml.clone()),
            _ => None,
        })
        .expect("a manifest");
    crate::manifest::parse(&xml).expect("manifest parses")
}

#[test]
fn vod_timeline_is_contiguous_and_matches_fragments() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Single {
        stream: "cam".to_string(),
    }));
    let l = p.add_quality_level("cam.mp4", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    push_av(&mut p, l, 10, 50, 0);
    p.finish().expect("finish");
    let out = drain(&mut p);
    let m = final_manifest(&out);
    assert!(!m.is_live);
    let video = &m.stream_indexes[0];
    assert_eq!(video.kind, TrackKind::Video);
    assert_eq!(video.chunks.len(), 5);
    assert!(video.chunks.iter().all(|c| c.d == 20_000_000));
    let audio = &m.stream_indexes[1];
    for w in audio.chunks.windows(2) {
        assert_eq!(w[0].t + w[0].d, w[1].t, "audio contiguous");
    }
    // Audio fragments end at the first audio frame at or after each video boundary.
    for (a, v) in audio.chunks.iter().zip(video.chunks.iter()).skip(1) {
        assert!(
            a.t >= v.t && a.t - v.t < 213_334,
            "audio {} video {}",
            a.t,
            v.t
        );
    }
    assert_eq!(m.duration, 100_000_000);
    // Every c@t has a fragment at the URL path, whose tfxd and trun agree with the manifest.
    let files = written(&out);
    for c in &video.chunks {
        let path = p.options().layout.fragment_path("video", 1_000_000, c.t);
        let (_, data) = files
            .iter()
            .find(|(pth, _)| *pth == path)
            .expect("fragment for c@t");
        let f = Fragment::decode(data).expect("fragment decodes");
        assert_eq!(
            (f.moof.traf.tfxd.time, f.moof.traf.tfxd.duration),
            (c.t, c.d)
        );
        let sum: u64 = f
            .moof
            .traf
            .trun
            .samples
            .iter()
            .map(|s| u64::from(s.duration))
            .sum();
        assert_eq!(sum, c.d);
        assert_eq!(
            f.moof.traf.trun.samples[0].flags,
            crate::fragment::trun::SYNC_SAMPLE_FLAGS
        );
        assert!(f.moof.traf.tfrf.is_none());
    }
}

#[test]
fn edit_list_shift_keeps_times_non_negative_and_in_sync() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let l = p.add_quality_level("b.mp4", 500_000).expect("level");
    // B-frames: two frames of composition delay, cancelled by the edit list.
    p.add_track(l, video_track(1024)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    push_av(&mut p, l, 4, 50, 1024);
    p.finish().expect("finish");
    let m = final_manifest(&drain(&mut p));
    assert_eq!(
        m.stream_indexes[0].chunks[0].t, 0,
        "video decode starts the timeline"
    );
    // Audio is 2 frames (0.08 s) later on the shifted timeline, as its PTS was 0 like video's.
    assert_eq!(m.stream_indexes[1].chunks[0].t, 800_000);
}

#[test]
fn quality_levels_share_the_timeline_or_fail_clearly() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let hi = p.add_quality_level("hi.mp4", 2_000_000).expect("hi");
    let lo = p.add_quality_level("lo.mp4", 600_000).expect("lo");
    assert!(p.add_quality_level("dup.mp4", 600_000).is_err());
    for l in [hi, lo] {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
        push_av(&mut p, l, 6, 50, 0);
    }
    p.finish().expect("finish");
    let out = drain(&mut p);
    let m = final_manifest(&out);
    assert_eq!(m.stream_indexes[0].quality_levels.len(), 2);
    assert!(written(&out)
        .iter()
        .any(|(p, _)| *p == "600000/video/20000000.fmp4"));

    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let a = p.add_quality_level("a.mp4", 2).expect("a");
    let b = p.add_quality_level("b.mp4", 1).expect("b");
    p.add_track(a, video_track(0)).expect("video");
    p.add_track(a, audio_track()).expect("audio");
    p.add_track(b, video_track(0)).expect("video");
    p.add_track(b, audio_track()).expect("audio");
    push_av(&mut p, a, 6, 50, 0);
    push_av(&mut p, b, 6, 75, 0);
    let e = p.finish().expect_err("misaligned");
    assert_eq!(e.kind, PresentationErrorKind::Mismatch);
    assert!(e.message.contains("b.mp4"), "{}", e.message);

    // One input shorter than the other: the message says so instead of "at nothing".
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let a = p.add_quality_level("hi.mp4", 2).expect("a");
    let b = p.add_quality_level("lo.mp4", 1).expect("b");
    for l in [a, b] {
        p.add_track(l, video_track(0)).expect("video");
    }
    push_av(&mut p, a, 8, 50, 0);
    push_av(&mut p, b, 4, 50, 0);
    let e = p.finish().expect_err("different lengths");
    assert!(!e.message.contains("nothing"), "{}", e.message);
    assert!(
        e.message
            .starts_with("hi.mp4 has 4 video fragments but lo.mp4 only 2"),
        "{}",
        e.message
    );
}

#[test]
fn inputs_need_the_same_tracks() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let a = p.add_quality_level("av.mp4", 2).expect("a");
    let b = p.add_quality_level("v.mp4", 1).expect("b");
    p.add_track(a, video_track(0)).expect("video");
    p.add_track(a, audio_track()).expect("audio");
    p.add_track(b, video_track(0)).expect("video");
    push_av(&mut p, a, 2, 50, 0);
    let e = p.finish().expect_err("mismatch");
    assert_eq!(e.message, "v.mp4 has no audio track but av.mp4 has one; every video input of a presentation needs the same tracks");
}

/// With `rewrite_in_place`, a live fragment is written once and its later versions are its
/// head alone, as long as the head it replaces: patched into the file, they make the
/// fragments (tfrf, timing, samples, payload) that whole rewrites make, to the end.
#[test]
fn heads_rewritten_in_place_make_the_fragments_whole_rewrites_make() {
    let run = |in_place: bool| {
        let (mut p, l) = live_av_level(PresentationOptions {
            rewrite_in_place: in_place,
            ..rolling_three()
        });
        push_av(&mut p, l, 20, 50, 0);
        p.finish().expect("finish");
        let (mut files, mut heads, mut wholes) = (BTreeMap::new(), 0, 0);
        for o in drain(&mut p) {
            match o {
                Output::WriteFragment { path, data, info } => {
                    assert_eq!(info.size, data.len());
                    files.insert(path, data.to_vec());
                }
                Output::RewriteFragment { path, data, .. } => {
                    wholes += 1;
                    files.insert(path, data.to_vec());
                }
                Output::RewriteFragmentHead { path, head, info } => {
                    heads += 1;
                    let file: &mut Vec<u8> = files.get_mut(&path).expect("written first");
                    assert_eq!(file.len(), info.size, "{path}");
                    let payload = Fragment::decode(file).expect("decodes").mdat.len();
                    assert_eq!(head.len(), file.len() - payload, "{path}: same head length");
                    file[..head.len()].copy_from_slice(&head);
                }
                Output::Remove { path } => {
                    files.remove(&path);
                }
                _ => {}
            }
        }
        (files, heads, wholes)
    };
    let (patched, heads, wholes) = run(true);
    assert!(
        heads >= 10 && wholes == 0,
        "{heads} heads, {wholes} whole rewrites"
    );
    let (rewritten, heads, wholes) = run(false);
    assert!(
        heads == 0 && wholes >= 10,
        "{heads} heads, {wholes} whole rewrites"
    );
    assert_eq!(
        patched.keys().collect::<Vec<_>>(),
        rewritten.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &patched {
        let (a, b) = (Fragment::decode(bytes), Fragment::decode(&rewritten[path]));
        let (a, b) = (a.expect("patched decodes"), b.expect("decodes"));
        let (ta, tb) = (&a.moof.traf, &b.moof.traf);
        let entries = |t: &crate::fragment::Traf| t.tfrf.as_ref().map(|f| f.entries.clone());
        assert_eq!(entries(ta), entries(tb), "{path}");
        assert_eq!((&ta.tfxd, &ta.trun.samples), (&tb.tfxd, &tb.trun.samples));
        assert_eq!(a.mdat, b.mdat, "{path}");
        // The sample data starts where trun says, after the padding.
        let offset = ta.trun.data_offset.expect("data offset") as usize;
        assert_eq!(&bytes[offset..], &a.mdat[..], "{path}");
    }
}

/// Two levels sharing one audio rendition write its fragments by turns (whichever closes
/// one first). A fragment announces at most `lookahead` successors, however the writing
/// alternates, and its head keeps the length it was written with.
#[test]
fn a_shared_audio_fragment_announces_no_more_than_the_lookahead() {
    let (mut p, levels) = two_levels_sharing_audio(PresentationOptions {
        rewrite_in_place: true,
        ..PresentationOptions::vod(Layout::Multi)
    });
    let mut next_audio = [0i64; 2];
    for f in 0..25 * 20 {
        let dts = f * 512;
        // The level that goes first, and so closes the shared fragment, changes every 2 s.
        let order = if (f / 50) % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let sample = |track, dts, keyframe, data: &'static [u8]| Sample {
                track,
                dts,
                cts_offset: 0,
                duration: None,
                keyframe,
                data: Bytes::from_static(data),
            };
            let video = sample(1, dts, f % 50 == 0, &[0, 0, 0, 1, 0x65]);
            p.push_sample(levels[i], video).expect("video");
            while next_audio[i] * 1024 * 12_800 <= dts * 48_000 {
                let audio = sample(2, next_audio[i] * 1024, true, &[0x21, 0x10]);
                p.push_sample(levels[i], audio).expect("audio");
                next_audio[i] += 1;
            }
        }
    }
    let mut heads: BTreeMap<String, usize> = BTreeMap::new();
    let mut rewrites = 0;
    for o in drain(&mut p) {
        match o {
            Output::WriteFragment { path, data, .. } => {
                let payload = Fragment::decode(&data).expect("decodes").mdat.len();
                heads.insert(path, data.len() - payload);
            }
            Output::RewriteFragmentHead { path, head, .. } => {
                rewrites += 1;
                assert_eq!(Some(&head.len()), heads.get(&path), "{path}: the head grew");
                // The moof, then an empty mdat in place of the header of the real one.
                let mut file = head[..head.len() - 8].to_vec();
                file.extend_from_slice(b"\0\0\0\x08mdat");
                let f = Fragment::decode(&file).expect("decodes");
                let entries = f.moof.traf.tfrf.map_or(0, |t| t.entries.len());
                assert!(entries <= 2, "{path}: {entries} tfrf entries");
            }
            _ => {}
        }
    }
    assert!(rewrites >= 20, "{rewrites} rewrites");
}

#[test]
fn live_fragments_gain_tfrf_and_the_manifest_lags_by_the_lookahead() {
    let (mut p, l) = live_av_level(rolling_three());
    push_av(&mut p, l, 20, 50, 0);
    let out = drain(&mut p);
    // Every rewrite of a fragment announces the fragments after it, at most two.
    let first = "1000000/video/0.fmp4";
    let versions: Vec<usize> = out
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { path, data, .. }
            | Output::RewriteFragment { path, data, .. }
                if path == first =>
            {
                Fragment::decode(data)
                    .ok()
                    .and_then(|f| f.moof.traf.tfrf)
                    .map(|t| t.entries.len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(versions, vec![0, 1, 2]);
    let m = final_manifest(&out);
    assert!(m.is_live);
    assert_eq!(m.lookahead_count, Some(2));
    let video = &m.stream_indexes[0];
    assert_eq!(video.chunks.len(), 3, "rolling window");
    // 9 closed video fragments (the 10th is still open): 7 published, last 3 listed.
    assert_eq!(video.chunks.last().map(|c| c.t), Some(120_000_000));
    // Published 7, window 3, stale 1: the first 3 files are gone.
    let removed: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Remove { path } if path.contains("/video/") => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            "1000000/video/0.fmp4",
            "1000000/video/20000000.fmp4",
            "1000000/video/40000000.fmp4"
        ]
    );
}

#[test]
fn every_live_fragment_has_one_last_version_out_before_a_manifest_lists_it() {
    let (mut p, l) = live_av_level(PresentationOptions::vod(Layout::Multi));
    push_av(&mut p, l, 12, 50, 0);
    p.finish().expect("finish");
    let out = drain(&mut p);
    // Path -> (versions, the last version's bytes, the number of last versions).
    let mut seen: BTreeMap<String, (usize, Vec<u8>, usize)> = BTreeMap::new();
    let mut manifests = 0;
    for o in &out {
        match o {
            Output::WriteFragment { path, data, info }
            | Output::RewriteFragment { path, data, info } => {
                let e = seen.entry(path.clone()).or_default();
                assert_eq!(e.2, 0, "{path}: a version after its last");
                e.0 += 1;
                if info.last_version {
                    e.1 = data.to_vec();
                    e.2 += 1;
                }
            }
            Output::WriteManifest { xml, .. } => {
                manifests += 1;
                let m = crate::manifest::parse(xml).expect("manifest");
                for s in &m.stream_indexes {
                    for c in &s.chunks {
                        let name = &s.name;
                        let key = seen
                            .keys()
                            .find(|k| k.contains(&format!("/{name}/{}.", c.t)))
                            .unwrap_or_else(|| panic!("{name} {} listed before written", c.t));
                        assert_eq!(seen[key].2, 1, "{key} listed before its last version");
                    }
                }
            }
            _ => {}
        }
    }
    assert!(manifests > 0);
    assert_eq!(seen.len(), 12, "6 video and 6 audio fragments of 2 s");
    for (path, (versions, last, count)) in &seen {
        assert_eq!(*count, 1, "{path}");
        assert!(*versions <= 3, "{path}: {versions}");
        let tfrf = Fragment::decode(last)
            .ok()
            .and_then(|f| f.moof.traf.tfrf)
            .expect("live fragments carry tfrf");
        assert!(tfrf.entries.len() <= 2, "{path}");
    }
}

#[test]
fn a_returning_live_source_continues_the_timeline() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut p = Presentation::new(options);
    let l = p.add_quality_level("cam", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    push_av(&mut p, l, 6, 50, 0);
    p.lose_level(l).expect("source gone");
    let before = p.levels[0]
        .video
        .as_ref()
        .map(|t| t.chunks.clone())
        .expect("video");
    assert_eq!(before.last().map(|c| c.0 + c.1), Some(60_000_000));
    // The encoder restarts its clock at 0; the timeline goes on at 6 s.
    p.restart_level(l).expect("restart");
    push_av(&mut p, l, 4, 50, 0);
    p.finish().expect("finish");
    let m = final_manifest(&drain(&mut p));
    let video = &m.stream_indexes[0].chunks;
    assert_eq!(video.len(), 5);
    for w in video.windows(2) {
        assert_eq!(w[0].t + w[0].d, w[1].t, "no gap, no overlap");
    }
}

/// A pusher that dies after sending a fragment's audio but not its video: the audio past
/// the video's end is dropped, so the returning source resumes where the video ended and
/// the video timeline has no hole a player would stall at (without the drop, one as long as
/// that audio; a hole longer than a chunk stays).
#[test]
fn audio_ahead_of_a_lost_source_leaves_no_hole_in_the_video() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut p = Presentation::new(options);
    let l = p.add_quality_level("cam", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    push_av(&mut p, l, 6, 50, 0);
    // Another 1.5 s of audio (6 s to 7.5 s at 48 kHz) without its video.
    let first = 280; // the first audio frame push_av left out
    for n in first..first + 70 {
        p.push_sample(
            l,
            Sample {
                track: 2,
                dts: n * 1024,
                cts_offset: 0,
                duration: None,
                keyframe: true,
                data: Bytes::from_static(&[0x21, 0x10]),
            },
        )
        .expect("audio");
    }
    p.lose_level(l).expect("source gone");
    p.restart_level(l).expect("restart");
    push_av(&mut p, l, 4, 50, 0);
    p.finish().expect("finish");
    let m = final_manifest(&drain(&mut p));
    // The small gap where the new source lands is closed too (the last old fragment is
    // stretched over it): dash.js asks for no fragment after a hole in a `c` list.
    for s in &m.stream_indexes {
        for w in s.chunks.windows(2) {
            assert_eq!(w[0].t + w[0].d, w[1].t, "{}: no hole, no overlap", s.name);
        }
    }
}

#[test]
fn a_late_live_input_shares_the_first_inputs_origin() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut p = Presentation::new(options);
    let a = p.add_quality_level("hi", 2).expect("hi");
    let b = p.add_quality_level("lo", 1).expect("lo");
    for l in [a, b] {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
    }
    push_av(&mut p, a, 1, 25, 0);
    // `lo` connects one second later but carries the same encoder clock (dts from 1 s).
    for f in 25..150i64 {
        p.push_sample(
            b,
            Sample {
                track: 1,
                dts: f * 512,
                cts_offset: 0,
                duration: None,
                keyframe: f % 25 == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            },
        )
        .expect("video");
    }
    let first_b = p.levels[1]
        .video
        .as_ref()
        .and_then(|t| t.chunks.first().copied())
        .expect("lo fragment");
    assert_eq!(
        first_b.0, 10_000_000,
        "lo starts at 1 s on the shared timeline"
    );
}

#[test]
fn quality_levels_that_lose_their_source_apart_stay_aligned_after_it_returns() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut p = Presentation::new(options);
    let hi = p.add_quality_level("hi", 2).expect("hi");
    let lo = p.add_quality_level("lo", 1).expect("lo");
    for l in [hi, lo] {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
    }
    push_av(&mut p, hi, 7, 25, 0);
    push_av(&mut p, lo, 6, 25, 0);
    p.lose_level(hi).expect("hi gone");
    p.lose_level(lo).expect("lo gone");
    for l in [hi, lo] {
        p.restart_level(l).expect("restart");
        push_av(&mut p, l, 8, 25, 0);
    }
    let m = p.manifest().expect("no mismatch error");
    let video = &m.stream_indexes[0].chunks;
    // `hi`'s fragment cut short at 7 s is dropped (and its audio with it): both levels end
    // at 6 s, resume after the audio's last frame there (6.016 s), and the last fragment
    // before is stretched to it: one timeline, without a hole, in both levels.
    let starts: Vec<u64> = video.iter().map(|c| c.t).collect();
    assert_eq!(
        starts,
        [0, 20_000_000, 40_000_000, 60_160_000],
        "both levels resume at the end of their last whole fragment: {video:?}"
    );
    for w in video.windows(2) {
        assert_eq!(w[0].t + w[0].d, w[1].t, "no hole: {video:?}");
    }
    drain(&mut p);
}

/// AAC frames of 341 bytes at 46.875 a second: 127,875 bit/s; of 171 bytes: 64,125 bit/s.
static AUDIO_128K: [u8; 341] = [0x21; 341];
static AUDIO_64K: [u8; 171] = [0x21; 171];

fn bitrates(m: &Manifest, kind: TrackKind) -> Vec<u32> {
    m.stream_indexes
        .iter()
        .find(|s| s.kind == kind)
        .map(|s| s.quality_levels.iter().map(|q| q.bitrate).collect())
        .unwrap_or_default()
}

fn audio_paths(outputs: &[Output]) -> Vec<&str> {
    written(outputs)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains("/audio/"))
        .collect()
}

#[test]
fn audio_quality_levels_carry_the_audio_bitrate_once_per_rendition() {
    for live in [false, true] {
        let mut options = PresentationOptions::vod(Layout::Multi);
        options.live = live;
        // Two video renditions with identical audio, as one encoder sends them.
        let mut p = Presentation::new(options.clone());
        let hi = p.add_quality_level("hi", 2_000_000).expect("hi");
        let lo = p.add_quality_level("lo", 1_000_000).expect("lo");
        for l in [hi, lo] {
            p.add_track(l, video_track(0)).expect("video");
            p.add_track(l, audio_track()).expect("audio");
        }
        push_av_with(&mut p, hi, 12, 50, 0, &AUDIO_128K);
        push_av_with(&mut p, lo, 12, 50, 0, &AUDIO_128K);
        p.finish().expect("finish");
        let out = drain(&mut p);
        let m = final_manifest(&out);
        assert_eq!(bitrates(&m, TrackKind::Video), vec![2_000_000, 1_000_000]);
        assert_eq!(bitrates(&m, TrackKind::Audio), vec![128_000], "live={live}");
        let audio = audio_paths(&out);
        assert!(
            audio.iter().all(|p| p.starts_with("128000/audio/")),
            "{audio:?}"
        );
        let mut unique = audio.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            audio.len(),
            "each audio fragment written once"
        );
        let chunks = &m.stream_indexes[1].chunks;
        assert_eq!(chunks.len(), audio.len());
        for c in chunks {
            assert!(audio.contains(&alloc::format!("128000/audio/{}.fmp4", c.t).as_str()));
        }

        // Different audio in each rendition: one audio quality level each.
        let mut p = Presentation::new(options);
        let hi = p.add_quality_level("hi", 2_000_000).expect("hi");
        let lo = p.add_quality_level("lo", 1_000_000).expect("lo");
        for l in [hi, lo] {
            p.add_track(l, video_track(0)).expect("video");
            p.add_track(l, audio_track()).expect("audio");
        }
        push_av_with(&mut p, hi, 8, 50, 0, &AUDIO_128K);
        push_av_with(&mut p, lo, 8, 50, 0, &AUDIO_64K);
        p.finish().expect("finish");
        let m = final_manifest(&drain(&mut p));
        assert_eq!(
            bitrates(&m, TrackKind::Audio),
            vec![128_000, 64_000],
            "live={live}"
        );
    }
}

/// Smooth ingest pushes every input with its audio: with `separate_audio`, identical audio
/// of two renditions is written by each, as two streams, at the same times.
#[test]
fn separate_audio_is_written_by_every_level() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    options.separate_audio = true;
    let mut p = Presentation::new(options);
    let hi = p.add_quality_level("hi", 2_000_000).expect("hi");
    let lo = p.add_quality_level("lo", 1_000_000).expect("lo");
    for l in [hi, lo] {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
    }
    push_av_with(&mut p, hi, 8, 50, 0, &AUDIO_128K);
    push_av_with(&mut p, lo, 8, 50, 0, &AUDIO_128K);
    p.finish().expect("finish");
    let out = drain(&mut p);
    let starts = |level: LevelId| -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Output::WriteFragment { info, .. }
                    if info.level == level && info.kind == TrackKind::Audio =>
                {
                    Some(info.start)
                }
                _ => None,
            })
            .collect()
    };
    assert!(starts(hi).len() >= 3, "{:?}", starts(hi));
    assert_eq!(starts(hi), starts(lo));
}

// Fuzzing regression (fuzz target `presentation`): a composition offset near i64::MAX
// (and a stated duration) overflowed `to_mss(dts + cts) - origin - t` in debug builds.
#[test]
fn extreme_composition_offset_does_not_overflow() {
    let mut options = PresentationOptions::vod(Layout::Single {
        stream: "s".to_string(),
    });
    options.chunk_length = 20_224 << 14;
    options.time_offset = 31_098;
    let mut p = Presentation::new(options);
    let l = p.add_quality_level("in", 100_000).expect("level");
    let mut track = video_track(22_359);
    track.id = 87;
    track.timescale = 44_100;
    p.add_track(l, track).expect("track");
    for (dts, cts) in [(11_351, 6_293_595_036_912_670_551), (11_352, i64::MIN)] {
        p.push_sample(
            l,
            Sample {
                track: 87,
                dts,
                cts_offset: cts,
                duration: Some(1_465_341_783),
                keyframe: true,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            },
        )
        .expect("pushed");
    }
    p.finish().expect("finishes");
    let outputs = drain(&mut p);
    assert!(!written(&outputs).is_empty());
}

fn cuts(outputs: &[Output]) -> Vec<(TrackKind, &'static str)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::FragmentCut { kind, reason, .. }) => Some((*kind, *reason)),
            _ => None,
        })
        .collect()
}

fn closed(outputs: &[Output], want: TrackKind) -> Vec<(u64, u64)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::FragmentClosed {
                kind,
                start,
                duration,
                ..
            }) if *kind == want => Some((*start, *duration)),
            _ => None,
        })
        .collect()
}

// Issue 11: with chunkOnIDR a source that sends one IDR and then P-frames only must not
// grow one fragment forever; it is cut at the duration limit (4 x 2 s, at least 20 s).
#[test]
fn p_frames_only_are_cut_at_the_maximum_fragment_duration() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    options.live_start_chunks = 1;
    assert_eq!(options.fragment_duration_limit(), 200_000_000);
    let mut p = Presentation::new(options);
    let l = p.add_quality_level("in", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
    // 70 s: one IDR, then P-frames only (gop longer than the stream).
    push_av(&mut p, l, 70, 1_000_000, 0);
    let outputs = drain(&mut p);
    assert_eq!(
        closed(&outputs, TrackKind::Video),
        vec![
            (0, 200_000_000),
            (200_000_000, 200_000_000),
            (400_000_000, 200_000_000)
        ]
    );
    let reason = "no fragment boundary within the maximum fragment duration";
    assert_eq!(cuts(&outputs), vec![(TrackKind::Video, reason); 3]);
    // Audio follows the forced video boundaries, as it follows ordinary ones.
    let audio = closed(&outputs, TrackKind::Audio);
    assert_eq!(audio.len(), 3, "{audio:?}");
    assert!(audio
        .iter()
        .zip([0, 200_000_000, 400_000_000])
        .all(|(&(s, _), b)| s.abs_diff(b) < 300_000));
    // Fragments after a forced cut start with a P-frame: flags say "not a sync sample".
    let second = outputs
        .iter()
        .find_map(|o| match o {
            Output::WriteFragment { path, data, .. } if path == "1000000/video/200000000.fmp4" => {
                Some(Fragment::decode(data).expect("decodes"))
            }
            _ => None,
        })
        .expect("the second video fragment");
    assert_eq!(
        second.moof.traf.trun.samples[0].flags,
        crate::fragment::trun::NON_SYNC_SAMPLE_FLAGS
    );
}

// Issue 11: timestamps that barely advance (or huge samples) are bounded by size.
#[test]
fn fragments_are_cut_at_the_maximum_fragment_size() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.max_fragment_bytes = 1_000;
    let mut p = Presentation::new(options);
    let l = p.add_quality_level("in", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    for i in 0..25 {
        let mut data = vec![0, 0, 0, 96, if i == 0 { 0x65 } else { 0x41 }];
        data.resize(100, 0x5a);
        p.push_sample(
            l,
            Sample {
                track: 1,
                // One tick apart: a clock that creeps.
                dts: i,
                cts_offset: 0,
                duration: None,
                keyframe: i == 0,
                data: data.into(),
            },
        )
        .expect("pushed");
    }
    p.finish().expect("finishes");
    let outputs = drain(&mut p);
    let sizes: Vec<usize> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { data, .. } => {
                Some(Fragment::decode(data).expect("decodes").mdat.len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![1_000, 1_000, 500]);
    assert_eq!(
        cuts(&outputs),
        vec![
            (
                TrackKind::Video,
                "the fragment reached the maximum fragment size"
            );
            2
        ]
    );
}

/// A write and each rewrite carry the fragment's facts: the same as its FragmentClosed,
/// with the size of the bytes they carry (the host needs nothing else).
#[test]
fn fragment_outputs_carry_their_facts() {
    for live in [false, true] {
        let mut options = PresentationOptions::vod(Layout::Multi);
        options.live = live;
        options.time_offset = 7;
        let mut p = Presentation::new(options);
        let l = p.add_quality_level("in", 1_000_000).expect("level");
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
        push_av(&mut p, l, 12, 50, 0);
        p.finish().expect("finish");
        let out = drain(&mut p);
        let mut facts = BTreeMap::new();
        let mut rewrites = 0;
        for (i, o) in out.iter().enumerate() {
            match o {
                Output::WriteFragment { path, data, info } => {
                    assert_eq!(info.level, l);
                    assert_eq!(info.size, data.len(), "{path}");
                    let Some(Output::Event(Event::FragmentClosed {
                        path: closed,
                        kind,
                        bitrate,
                        start,
                        duration,
                        samples,
                    })) = out.get(i + 1)
                    else {
                        panic!("{path}: no FragmentClosed after it");
                    };
                    assert_eq!(closed, path);
                    assert_eq!(
                        (info.kind, info.bitrate, info.start, info.duration),
                        (*kind, *bitrate, *start, *duration)
                    );
                    assert_eq!(info.samples, *samples);
                    let decoded = Fragment::decode(data).expect("decodes");
                    assert_eq!(decoded.moof.traf.tfxd.time, info.start);
                    assert_eq!(decoded.moof.traf.trun.samples.len(), info.samples);
                    assert!(path.starts_with(&format!("{}/{}/", info.bitrate, kind.as_str())));
                    facts.insert(path.clone(), *info);
                }
                Output::RewriteFragment { path, data, info } => {
                    rewrites += 1;
                    let first = facts.get(path).expect("rewrites follow the write");
                    assert_eq!(
                        *info,
                        FragmentInfo {
                            size: data.len(),
                            last_version: info.last_version,
                            ..*first
                        }
                    );
                }
                _ => {}
            }
        }
        assert!(facts.len() >= 10, "{}", facts.len());
        assert_eq!(rewrites > 0, live);
    }
}

/// Two quality levels carrying one audio rendition lose their source after the video of a
/// fragment arrived and before its audio (a pusher killed between the two): the audio's last
/// fragment, written once by one level, is stretched to where the source returns, and the
/// listing (merged from both levels) takes the stretched one, leaving no hole in the audio.
#[test]
fn a_shared_audio_fragment_stretched_at_a_resume_leaves_no_hole() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut p = Presentation::new(options);
    let hi = p.add_quality_level("hi", 2_000_000).expect("hi");
    let lo = p.add_quality_level("lo", 1_000_000).expect("lo");
    for l in [hi, lo] {
        p.add_track(l, video_track(0)).expect("video");
        p.add_track(l, audio_track()).expect("audio");
        // 6 s of video, the audio of the first 4 s only.
        push_av_audio_until(&mut p, l, 6, 50, 0, &AUDIO_128K, 4);
    }
    p.lose_level(hi).expect("hi gone");
    p.lose_level(lo).expect("lo gone");
    for l in [hi, lo] {
        p.restart_level(l).expect("restart");
        push_av_with(&mut p, l, 8, 50, 0, &AUDIO_128K);
    }
    let m = p.manifest().expect("manifest");
    assert_eq!(
        bitrates(&m, TrackKind::Audio).len(),
        1,
        "one audio rendition"
    );
    for s in &m.stream_indexes {
        assert!(s.chunks.len() >= 3, "{}: {:?}", s.name, s.chunks);
        for w in s.chunks.windows(2) {
            assert_eq!(
                w[0].t + w[0].d,
                w[1].t,
                "{}: no hole: {:?}",
                s.name,
                s.chunks
            );
        }
    }
    drain(&mut p);
}
