//! `smoothcast package` end to end: ffmpeg-made inputs, the real binary, and dash.js in
//! headless Chromium deciding whether the output plays.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smoothcast_tests::media::{self, ClipSpec, Container};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{self, check_listed_fragments, read_manifest};
use smoothcast_tests::TempDir;

fn package(target: &Path, group: &str, inputs: &[String]) -> Output {
    presentation::package(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        target,
        group,
        inputs,
    )
}

fn package_ok(target: &Path, group: &str, inputs: &[String]) {
    let out = package(target, group, inputs);
    assert!(
        out.status.success(),
        "package failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

fn clip(spec: ClipSpec) -> PathBuf {
    media::clip(&spec).expect("generate clip")
}

#[test]
fn two_bitrates_play_in_dashjs() {
    let hi = clip(ClipSpec {
        seconds: 20.0,
        width: 640,
        height: 360,
        video_bitrate_kbps: 900,
        ..ClipSpec::default()
    });
    let lo = clip(ClipSpec {
        seconds: 20.0,
        width: 480,
        height: 270,
        video_bitrate_kbps: 300,
        ..ClipSpec::default()
    });
    let dir = TempDir::new("package-abr");
    package_ok(
        dir.path(),
        "abr",
        &[
            format!("{}@1000000", arg(&hi)),
            format!("{}@400000", arg(&lo)),
        ],
    );
    let group = dir.path().join("abr");
    let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    assert!(!m.is_live);
    assert_eq!(m.stream_indexes.len(), 2);
    let video = &m.stream_indexes[0];
    assert_eq!(
        video
            .quality_levels
            .iter()
            .map(|q| q.bitrate)
            .collect::<Vec<_>>(),
        vec![1_000_000, 400_000]
    );
    assert_eq!(video.chunks.len(), 10, "20 s in 2 s fragments");
    // Both clips carry the same 128 kbit/s AAC: one audio quality level at its own rate.
    let audio: Vec<u32> = m.stream_indexes[1]
        .quality_levels
        .iter()
        .map(|q| q.bitrate)
        .collect();
    assert_eq!(audio.len(), 1, "identical audio announced once: {audio:?}");
    assert!((100_000..160_000).contains(&audio[0]), "{audio:?}");
    // Audio priming (the AAC edit list) puts video a little after 0 on the shared timeline.
    assert!(group
        .join(format!("400000/video/{}.fmp4", video.chunks[0].t))
        .is_file());
    check_listed_fragments(&group, &m);
    assert!(
        std::fs::read_dir(dir.path()).expect("list").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "no staging left"
    );

    if !player::ready_or_skip("two_bitrates_play_in_dashjs") {
        return;
    }
    let result = player::play(&PlayRequest {
        seconds: 25.0,
        min_time: 10.5,
        expect_levels: Some(2),
        ..PlayRequest::dir(dir.path(), "abr/manifest.ismc")
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "playback failed: {}", result.reason);
    assert!(result.current_time > 10.0);
    assert!(result.video_width > 0);
    assert_eq!(result.video_levels.len(), 2);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
}

fn play_single(name: &str, input: &Path) {
    let dir = TempDir::new(name);
    package_ok(dir.path(), "g", &[arg(input)]);
    let group = dir.path().join("g");
    let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    check_listed_fragments(&group, &m);
    if !player::ready_or_skip(name) {
        return;
    }
    let result = player::play(&PlayRequest {
        seconds: 20.0,
        min_time: 6.0,
        ..PlayRequest::dir(dir.path(), "g/manifest.ismc")
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "{name}: playback failed: {}", result.reason);
}

#[test]
fn bframes_mp4_plays() {
    let input = clip(ClipSpec {
        seconds: 8.0,
        bframes: true,
        ..ClipSpec::default()
    });
    play_single("package-bframes", &input);
}

#[test]
fn mpegts_input_plays() {
    let input = clip(ClipSpec {
        seconds: 8.0,
        bframes: true,
        container: Container::Ts,
        ..ClipSpec::default()
    });
    play_single("package-ts", &input);
}

#[test]
fn flv_and_faststart_inputs_package() {
    for (name, spec) in [
        (
            "package-flv",
            ClipSpec {
                seconds: 6.0,
                container: Container::Flv,
                ..ClipSpec::default()
            },
        ),
        (
            "package-faststart",
            ClipSpec {
                seconds: 6.0,
                faststart: true,
                ..ClipSpec::default()
            },
        ),
    ] {
        let input = clip(spec);
        let dir = TempDir::new(name);
        package_ok(dir.path(), "g", &[arg(&input)]);
        let group = dir.path().join("g");
        let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
        assert_eq!(m.stream_indexes[0].chunks.len(), 3, "{name}");
        check_listed_fragments(&group, &m);
    }
}

/// A failing run: non-zero exit, one line naming the file and the problem, nothing new on
/// disk, and an earlier presentation of the same group untouched.
fn assert_clean_failure(name: &str, inputs: &[String], names: &str, problem: &str) {
    let dir = TempDir::new(name);
    let group = dir.path().join("g");
    std::fs::create_dir_all(&group).expect("mkdir");
    std::fs::write(group.join("manifest.ismc"), "earlier").expect("write earlier");
    let out = package(dir.path(), "g", inputs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name}: succeeded");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{name}: one line: {stderr}"
    );
    assert!(stderr.contains(names), "{name}: names {names}: {stderr}");
    assert!(
        stderr.to_lowercase().contains(problem),
        "{name}: says {problem}: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(group.join("manifest.ismc")).expect("kept"),
        "earlier"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries.len(), 1, "{name}: nothing left behind: {entries:?}");
}

#[test]
fn bad_inputs_fail_cleanly() {
    let good = clip(ClipSpec {
        seconds: 6.0,
        ..ClipSpec::default()
    });
    let dir = TempDir::new("bad-inputs-src");
    let data = std::fs::read(&good).expect("read clip");

    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &data[..data.len() * 6 / 10]).expect("write");
    assert_clean_failure(
        "bad-truncated",
        &[arg(&truncated)],
        "truncated.mp4",
        "truncated",
    );

    let random = dir.path().join("random.mp4");
    let mut x = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&random, noise).expect("write");
    assert_clean_failure(
        "bad-random",
        &[arg(&random)],
        "random.mp4",
        "not a media file",
    );

    // Subtitles need media to go with, and a subtitle file without a readable cue is broken.
    let srt = dir.path().join("alone.eng.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:02,000\nHi\n").expect("write");
    assert_clean_failure(
        "bad-subtitles-alone",
        &[arg(&srt)],
        "",
        "subtitles need a media input",
    );
    let broken = dir.path().join("broken.srt");
    std::fs::write(&broken, "1\n00:00:01,000 --> soon\nHi\n").expect("write");
    assert_clean_failure(
        "bad-srt",
        &[arg(&good), arg(&broken)],
        "broken.srt",
        "no srt cue could be read",
    );

    let ts = clip(ClipSpec {
        seconds: 6.0,
        container: Container::Ts,
        ..ClipSpec::default()
    });
    let ts_data = std::fs::read(&ts).expect("read ts");
    let cut = dir.path().join("cut.ts");
    // Cut inside a packet in the middle: the PES there cannot be complete.
    std::fs::write(&cut, &ts_data[..(ts_data.len() / 2 / 188) * 188 + 100]).expect("write");
    assert_clean_failure("bad-cut-ts", &[arg(&cut)], "cut.ts", "truncated");

    let video_only = dir.path().join("video-only.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&good)
        .args(["-an", "-c", "copy"])
        .arg(&video_only)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    assert_clean_failure(
        "bad-mismatch",
        &[
            format!("{}@900000", arg(&good)),
            format!("{}@300000", arg(&video_only)),
        ],
        "video-only.mp4",
        "no audio track",
    );

    let out = package(dir.path(), "../escape", &[arg(&good)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid group name"));
}

/// `package` says what it made and where to play it, and when it replaced a presentation.
#[test]
fn package_reports_what_it_made_and_replaced() {
    let input = clip(ClipSpec {
        seconds: 6.0,
        ..ClipSpec::default()
    });
    let dir = TempDir::new("package-report");
    let first = package(dir.path(), "show", &[arg(&input)]);
    assert!(first.status.success());
    let said = String::from_utf8_lossy(&first.stdout).into_owned();
    let manifest = dir.path().join("show/manifest.ismc");
    assert!(
        said.contains(&format!("made {}", manifest.display())),
        "{said}"
    );
    assert!(said.contains("audio at 1"), "the audio's own rate: {said}");
    assert!(said.contains("play /show/manifest.ismc"), "{said}");
    assert!(!said.contains("replaced"), "{said}");
    let again = package(dir.path(), "show", &[arg(&input)]);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        said.starts_with(&format!(
            "replaced the presentation that was in {}",
            dir.path().join("show").display()
        )),
        "{said}"
    );
}
