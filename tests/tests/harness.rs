//! Proves the real-player harness itself, independently of smoothcast: ffmpeg makes a DASH
//! presentation (dash.js plays DASH as well as MSS) and it must play; a bogus manifest must
//! be reported as a failure with a reason.
//!
//! Without node_modules/Chromium these tests fail under `CI=1` and skip otherwise.

use std::path::Path;
use std::process::Command;

use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::TempDir;

fn ffmpeg_dash(input: &Path, out_dir: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "dash",
            "-seg_duration",
            "2",
        ])
        .arg(out_dir.join("manifest.mpd"))
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg -f dash failed: {status}");
}

#[test]
fn plays_ffmpeg_dash() {
    if !player::ready_or_skip("plays_ffmpeg_dash") {
        return;
    }
    let clip = media::clip(&ClipSpec {
        seconds: 12.0,
        ..ClipSpec::default()
    })
    .expect("generate clip");
    let dir = TempDir::new("harness-dash");
    ffmpeg_dash(&clip, dir.path());

    let result = player::play(&PlayRequest {
        min_time: 8.0,
        expect_levels: Some(1),
        ..PlayRequest::dir(dir.path(), "manifest.mpd")
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "playback failed: {}", result.reason);
    assert_eq!((result.video_width, result.video_height), (640, 360));
    assert!(result.current_time >= 8.0, "{}", result.current_time);
    assert_eq!(result.audio_levels.len(), 1);
    assert!(
        result.total_video_frames > 100,
        "{}",
        result.total_video_frames
    );
}

#[test]
fn bogus_manifest_fails_with_reason() {
    if !player::ready_or_skip("bogus_manifest_fails_with_reason") {
        return;
    }
    let dir = TempDir::new("harness-bogus");
    std::fs::write(
        dir.path().join("manifest.ismc"),
        "<SmoothStreamingMedia>this is not a manifest",
    )
    .expect("write manifest");

    let result = player::play(&PlayRequest {
        seconds: 8.0,
        min_time: 2.0,
        ..PlayRequest::dir(dir.path(), "manifest.ismc")
    })
    .expect("harness ran");
    println!("{result}");
    assert!(!result.ok, "a bogus manifest played: {result}");
    assert!(!result.reason.is_empty() && result.reason != "ok");
    assert_eq!(result.exit_code, Some(1));
}
