//! Smoothcast as a Smooth Streaming publishing point, end to end with ffmpeg as the encoder
//! (`-f ismv -movflags isml+frag_keyframe`, shared/reference/smooth-ingest.md §11): two
//! bitrates POSTed at once become two local streams and one live presentation at
//! `/pp.isml/Manifest` that dash.js and GStreamer play; an explicit createMSSStream packages
//! a pushed stream; an encoder restarted with a continuing timeline continues the
//! presentation, one restarted at 0 is refused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smoothcast_core::manifest::Manifest;
use smoothcast_core::TrackKind;
use smoothcast_tests::gst;
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::read_manifest;
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

/// ffmpeg pushing in real time; killed when dropped.
struct Push(Child);

impl Drop for Push {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Push {
    /// Waits (bounded) for ffmpeg to end on its own.
    fn wait(&mut self, limit: Duration) {
        let start = Instant::now();
        while self.0.try_wait().ok().flatten().is_none() {
            assert!(start.elapsed() < limit, "ffmpeg did not end");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One ffmpeg encoding testsrc2 and a tone for `seconds`, pushing each `(url, size,
/// video kbit/s, audio kbit/s, B-frames)` as a Smooth ingest POST with aligned 1 s GOPs;
/// times start at `offset` seconds. With B-frames, ffmpeg's ismv writes negative composition
/// offsets (trun v1) so that the tfxd time is the first sample's decode time.
fn push(outputs: &[(String, &str, u32, u32, u32)], seconds: u32, offset: u32) -> Push {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    // `-t` on the inputs: with it on the outputs the second never ends (§11).
    cmd.args(["-t", &seconds.to_string(), "-re", "-f", "lavfi", "-i"]);
    cmd.arg("testsrc2=size=320x240:rate=25");
    cmd.args(["-t", &seconds.to_string(), "-re", "-f", "lavfi", "-i"]);
    cmd.arg("sine=frequency=440:sample_rate=48000");
    let n = outputs.len();
    let mut graph = format!("[0:v]split={n}");
    for i in 0..n {
        graph.push_str(&format!("[v{i}]"));
    }
    for (i, (_, size, _, _, _)) in outputs.iter().enumerate() {
        graph.push_str(&format!(";[v{i}]scale={}[s{i}]", size.replace('x', ":")));
    }
    cmd.args(["-filter_complex", &graph]);
    for (i, (url, _, video, audio, bframes)) in outputs.iter().enumerate() {
        cmd.args(["-map", &format!("[s{i}]"), "-map", "1:a"]);
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ]);
        cmd.args([
            "-b:v",
            &format!("{video}k"),
            "-g",
            "25",
            "-keyint_min",
            "25",
        ]);
        cmd.args(["-sc_threshold", "0", "-bf", &bframes.to_string()]);
        cmd.args(["-c:a", "aac", "-b:a", &format!("{audio}k")]);
        cmd.args(["-avoid_negative_ts", "make_non_negative"]);
        cmd.args(["-output_ts_offset", &offset.to_string()]);
        cmd.args(["-movflags", "isml+frag_keyframe", "-f", "ismv", url]);
    }
    Push(
        cmd.stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    )
}

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_smoothcast"))
}

fn manifest(path: &Path) -> Option<Manifest> {
    read_manifest(path).ok()
}

/// listStreams: (name, type) of each stream.
fn streams(server: &Server) -> Vec<(String, String)> {
    let r = server.api("listStreams", "").expect("listStreams");
    r["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("name"), f("type"))
        })
        .collect()
}

const CONFIG: &str = "[smooth_ingest]\nchunk_length = 2\n";

#[test]
fn ffmpeg_pushes_two_bitrates_and_players_play_the_point() {
    let dir = TempDir::new("smooth-ingest");
    let webroot = dir.path().join("www");
    let server = Server::start(exe(), &webroot, CONFIG, &[]).expect("server");
    let web = server.addr("web");
    let url = |id: &str| format!("http://{web}/pp.isml/Streams({id})");
    let _encoder = push(
        &[
            (url("hi"), "320x240", 400, 96, 2),
            (url("lo"), "160x120", 150, 64, 2),
        ],
        32,
        0,
    );
    let path = webroot.join("pp.isml/manifest.ismc");
    wait_for("the point's live manifest", Duration::from_secs(30), || {
        manifest(&path).is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    let m = manifest(&path).expect("manifest");
    assert!(m.is_live);
    let video = m
        .stream_indexes
        .iter()
        .find(|s| s.kind == TrackKind::Video)
        .expect("video");
    let mut rates: Vec<u32> = video.quality_levels.iter().map(|q| q.bitrate).collect();
    rates.sort_unstable();
    // The manifests' systemBitrate (-b:v), not a measurement.
    assert_eq!(rates, [150_000, 400_000], "{m:?}");

    // Two local streams, as listStreams shows any ingest.
    let listed = streams(&server);
    for name in ["pp_hi", "pp_lo"] {
        assert!(
            listed.iter().any(|(n, t)| n == name && t == "INMSS"),
            "{name}: {listed:?}"
        );
    }
    // ... which createMSSStream packages as any stream.
    let target = webroot.display().to_string();
    let created = server
        .api(
            "createMSSStream",
            &format!(
                "localstreamnames=pp_lo targetfolder={target} groupname=explicit chunkLength=2"
            ),
        )
        .expect("api");
    assert_eq!(created["status"], "SUCCESS", "{created}");

    // ... and RTMP plays it (2 s of it, copied).
    let rtmp = format!("rtmp://{}/live/pp_lo", server.addr("rtmp"));
    let mut play = Push(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-i",
                &rtmp,
            ])
            .args(["-t", "2", "-c", "copy", "-f", "null", "-"])
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    );
    play.wait(Duration::from_secs(20));
    let status = play.0.wait().expect("status");
    assert!(status.success(), "RTMP play of pp_lo: {status}");

    let gst_run = gst::ready_or_skip("smooth ingest point in GStreamer").then(|| {
        let u = format!("http://{web}/pp.isml/Manifest");
        std::thread::spawn(move || gst::play(&u, 12.0))
    });
    if player::ready_or_skip("smooth ingest point in dash.js") {
        let result = player::play(&PlayRequest {
            seconds: 14.0,
            min_time: 6.0,
            live: true,
            expect_levels: Some(2),
            ..PlayRequest::url(format!("http://{web}/pp.isml/Manifest"))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "live playback failed: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
    }
    if let Some(run) = gst_run {
        let r = run.join().expect("thread").expect("gst ran");
        assert!(r.played(), "GStreamer: {r:?}");
    }
    let explicit = webroot.join("explicit/manifest.ismc");
    wait_for("the explicit presentation", Duration::from_secs(20), || {
        manifest(&explicit).is_some_and(|m| m.stream_indexes.iter().all(|s| !s.chunks.is_empty()))
    });
}

#[test]
fn a_restarted_encoder_continues_and_a_restart_from_zero_is_refused() {
    let dir = TempDir::new("smooth-ingest-restart");
    let webroot = dir.path().join("www");
    let server = Server::start(exe(), &webroot, CONFIG, &[]).expect("server");
    let url = format!("http://{}/live/ch.isml/Streams(cam)", server.addr("web"));
    let one = || vec![(url.clone(), "320x240", 300, 64, 0)];
    let path = webroot.join("live/ch.isml/manifest.ismc");
    let last_end = |m: &Manifest| {
        m.stream_indexes
            .iter()
            .find(|s| s.kind == TrackKind::Video)
            .and_then(|s| s.chunks.last().map(|c| c.t + c.d))
            .unwrap_or(0)
    };

    let mut first = push(&one(), 14, 0);
    wait_for("the first run's fragments", Duration::from_secs(30), || {
        manifest(&path).is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    first.wait(Duration::from_secs(30));
    wait_for("the stream to end", Duration::from_secs(10), || {
        !streams(&server).iter().any(|(n, _)| n == "ch_cam")
    });
    let before = manifest(&path).map(|m| last_end(&m)).unwrap_or(0);
    assert!(before > 0);

    // Restarted with its timeline continued (UTC-anchored encoders do this): the stream
    // returns and the presentation goes on after what it had.
    let mut second = push(&one(), 8, 30);
    wait_for("the stream to return", Duration::from_secs(15), || {
        streams(&server).iter().any(|(n, _)| n == "ch_cam")
    });
    wait_for(
        "the presentation to continue",
        Duration::from_secs(20),
        || manifest(&path).is_some_and(|m| last_end(&m) >= before + 2 * 10_000_000),
    );
    second.wait(Duration::from_secs(30));
    wait_for("the stream to end again", Duration::from_secs(10), || {
        !streams(&server).iter().any(|(n, _)| n == "ch_cam")
    });
    let after = manifest(&path).map(|m| last_end(&m)).unwrap_or(0);

    // Restarted at 0: refused (409) at its first fragment; the stream never returns and
    // the presentation stays as it was.
    let mut third = push(&one(), 4, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        assert!(
            !streams(&server).iter().any(|(n, _)| n == "ch_cam"),
            "a timeline restarted at 0 was taken"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    third.wait(Duration::from_secs(30));
    assert_eq!(manifest(&path).map(|m| last_end(&m)).unwrap_or(0), after);
}
