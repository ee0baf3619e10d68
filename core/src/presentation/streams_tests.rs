//! Several audio languages, subtitles and ignored tracks, at the presentation's level.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use super::tests::{audio_track, drain, video_track};
use super::*;
use crate::fragment::Fragment;
use crate::media::{CodecConfig, Language, TextFormat};

fn lang(code: &[u8]) -> Option<Language> {
    Language::new(code)
}

/// A presentation whose one input carries video (track 1) and audio tracks 2 (eng) and
/// 3 (fra), with `secs` of 25 fps video (GOP 50) and both audios pushed interleaved.
fn two_languages(options: PresentationOptions, secs: i64) -> (Presentation, Vec<Output>) {
    let mut p = Presentation::new(options);
    let level = p.add_quality_level("movie.mp4", 1_000_000).unwrap();
    p.add_track(level, video_track(0)).unwrap();
    let eng = TrackInfo {
        language: lang(b"eng"),
        ..audio_track()
    };
    let fra = TrackInfo {
        id: 3,
        language: lang(b"fra"),
        ..audio_track()
    };
    p.add_track(level, eng).unwrap();
    p.add_track(level, fra).unwrap();
    let mut next_audio = 0i64;
    for f in 0..secs * 25 {
        let dts = f * 512;
        let video = Sample {
            track: 1,
            dts,
            cts_offset: 0,
            duration: None,
            keyframe: f % 50 == 0,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        };
        p.push_sample(level, video).unwrap();
        while next_audio * 1024 * 12_800 <= dts * 48_000 {
            for (track, data) in [(2, &[0x21, 0x10][..]), (3, &[0x21, 0x10, 0x33][..])] {
                let s = Sample {
                    track,
                    dts: next_audio * 1024,
                    cts_offset: 0,
                    duration: None,
                    keyframe: true,
                    data: Bytes::copy_from_slice(data),
                };
                p.push_sample(level, s).unwrap();
            }
            next_audio += 1;
        }
    }
    let out = drain(&mut p);
    (p, out)
}

fn stream<'a>(m: &'a Manifest, name: &str) -> &'a StreamIndex {
    m.stream_indexes
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

#[test]
fn each_audio_language_is_a_stream_cut_with_the_video() {
    let (mut p, mut out) = two_languages(PresentationOptions::vod(Layout::Multi), 6);
    p.finish().unwrap();
    out.extend(drain(&mut p));
    let m = p.manifest().unwrap();
    let names: Vec<(&str, Option<&str>)> = m
        .stream_indexes
        .iter()
        .map(|s| (s.name.as_str(), s.language.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("video", None),
            ("audio", Some("eng")),
            ("audio_fra", Some("fra"))
        ]
    );
    let (video, eng, fra) = (
        stream(&m, "video"),
        stream(&m, "audio"),
        stream(&m, "audio_fra"),
    );
    // Both languages end their fragments where the video's end.
    assert_eq!(eng.chunks, fra.chunks);
    // An audio fragment ends with the first audio frame at or after the video's end.
    let ends = |s: &StreamIndex| -> Vec<u64> { s.chunks.iter().map(|c| c.t + c.d).collect() };
    for (a, v) in ends(eng).iter().zip(&ends(video)).take(2) {
        assert!(
            (*v..*v + 213_334).contains(a),
            "audio ends at {a}, video at {v}"
        );
    }
    assert_eq!(fra.url, "{bitrate}/audio_fra/{start time}.fmp4");
    // Each language's fragments are written once, under its own name and bitrate.
    let fra_paths: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { path, .. } if path.contains("/audio_fra/") => {
                Some(path.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(fra_paths.len(), fra.chunks.len());
    let fra_bitrate = fra.quality_levels[0].bitrate;
    assert!(fra_paths[0].starts_with(&alloc::format!("{fra_bitrate}/")));
}

#[test]
fn a_live_manifest_starts_with_every_language() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let (_, out) = two_languages(options, 16);
    let first = out
        .iter()
        .find_map(|o| match o {
            Output::WriteManifest { xml, .. } => Some(xml.clone()),
            _ => None,
        })
        .expect("a live manifest");
    assert!(
        first.contains("Name=\"audio_fra\" Language=\"fra\""),
        "{first}"
    );
    // The second language's fragments carry tfrf and are rewritten, as the first's.
    assert!(out.iter().any(|o| matches!(o,
        Output::RewriteFragment { path, .. } if path.contains("/audio_fra/"))));
}

#[test]
fn a_second_video_track_is_ignored_and_said() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let level = p.add_quality_level("two-cameras.mp4", 1_000_000).unwrap();
    p.add_track(level, video_track(0)).unwrap();
    let second = TrackInfo {
        id: 7,
        ..video_track(0)
    };
    p.add_track(level, second).unwrap();
    let events: Vec<Event> = drain(&mut p)
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&events[..], [Event::TrackIgnored { track: 7, level, .. }] if level == "two-cameras.mp4"),
        "{events:?}"
    );
}

fn text_track() -> TrackInfo {
    TrackInfo {
        id: 1,
        timescale: 1000,
        codec: CodecConfig::Text(TextFormat::Srt),
        edit_offset: 0,
        avg_bitrate: None,
        language: None,
    }
}

fn cue(start_ms: i64, end_ms: i64, body: &'static str) -> Sample {
    Sample {
        track: 1,
        dts: start_ms,
        cts_offset: 0,
        duration: Some((end_ms - start_ms) as u32),
        keyframe: true,
        data: Bytes::from_static(body.as_bytes()),
    }
}

#[test]
fn subtitles_follow_the_video_fragments_with_relative_times() {
    let (mut p, _) = two_languages(PresentationOptions::vod(Layout::Multi), 6);
    let text = p
        .add_text_level("movie.fra.srt", text::sidecar_language("movie.fra.srt"))
        .unwrap();
    p.add_track(text, text_track()).unwrap();
    for c in [cue(1000, 2500, "Hello"), cue(4500, 4800, "Bye")] {
        p.push_sample(text, c).unwrap();
    }
    p.finish().unwrap();
    let out = drain(&mut p);
    let m = p.manifest().unwrap();
    let t = stream(&m, "textstream_fra");
    assert_eq!(
        (t.language.as_deref(), t.subtype.as_deref()),
        (Some("fra"), Some("SUBT"))
    );
    assert_eq!(t.chunks, stream(&m, "video").chunks);
    let docs: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { path, data, info } if info.kind == TrackKind::Text => {
                assert!(path.starts_with("1000/textstream_fra/"), "{path}");
                let f = Fragment::decode(data).unwrap();
                assert_eq!(f.moof.traf.trun.samples.len(), 1);
                assert_eq!(f.moof.traf.trun.samples[0].size as usize, f.mdat.len());
                Some(String::from_utf8(f.mdat).unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(docs.len(), 3, "one document per fragment");
    assert!(docs[0].contains("<p begin=\"00:00:01.000\" end=\"00:00:02.000\">Hello</p>"));
    assert!(docs[1].contains("<p begin=\"00:00:00.000\" end=\"00:00:00.500\">Hello</p>"));
    assert!(docs[2].contains("<p begin=\"00:00:00.500\" end=\"00:00:00.800\">Bye</p>"));
    assert!(!docs[2].contains("Hello"));
}

#[test]
fn subtitles_alone_are_refused_and_live_takes_none() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let text = p.add_text_level("a.srt", None).unwrap();
    p.add_track(text, text_track()).unwrap();
    p.push_sample(text, cue(0, 1000, "x")).unwrap();
    let e = p.finish().unwrap_err();
    assert_eq!(e.kind, PresentationErrorKind::Empty, "{e}");
    let mut live = PresentationOptions::vod(Layout::Multi);
    live.live = true;
    let e = Presentation::new(live)
        .add_text_level("a.srt", None)
        .unwrap_err();
    assert_eq!(e.kind, PresentationErrorKind::Usage, "{e}");
}

#[test]
fn an_input_carries_at_most_sixteen_audio_tracks() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let level = p.add_quality_level("many.mp4", 1_000_000).unwrap();
    for id in 2..40 {
        p.add_track(
            level,
            TrackInfo {
                id,
                ..audio_track()
            },
        )
        .unwrap();
    }
    let ignored = drain(&mut p)
        .iter()
        .filter(|o| matches!(o, Output::Event(Event::TrackIgnored { .. })))
        .count();
    assert_eq!(ignored, 38 - MAX_AUDIO_TRACKS);
}
