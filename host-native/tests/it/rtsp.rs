//! pullStream of rtsp:// end to end: `smoothcast serve` pulls the tests crate's RTSP server,
//! packages the local stream live with createMSSStream, and dash.js plays it; a server that
//! lies in its SDP leaves a clear lastError and no stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, read_manifest};
use smoothcast_tests::rtsp_server::{Lie, RtspServer};
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

fn start_server(dir: &TempDir) -> Server {
    Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &dir.path().join("www"),
        "",
        &[],
    )
    .expect("server")
}

fn clip(seconds: f64) -> PathBuf {
    media::clip(&ClipSpec {
        seconds,
        ..ClipSpec::default()
    })
    .expect("clip")
}

#[test]
fn rtsp_pull_is_packaged_live_and_plays_in_dashjs() {
    let dir = TempDir::new("pull-rtsp");
    let upstream = RtspServer::start(&clip(16.0), Lie::None).expect("rtsp server");
    let server = start_server(&dir);
    let uri = upstream.url();

    let r = server.api_ok(
        "pullStream",
        &format!("uri={uri} localStreamName=cam keepAlive=1 forceTcp=1"),
    );
    let config_id = r["data"]["configId"].clone();
    let mut entry = Value::Null;
    wait_for("the pull to stream", Duration::from_secs(10), || {
        entry = server.config_entry("pull", &config_id);
        entry["status"]["current"]["code"] == 0
    });
    let streams = server.api_ok("listStreams", "");
    let cam = streams["data"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "cam").cloned())
        .expect("stream cam listed");
    assert_eq!(cam["type"], "INP", "{cam}");
    assert_eq!(cam["source"], uri.as_str());

    let target = server.webroot.display().to_string();
    server.api_ok(
        "createMSSStream",
        &format!(
            "localstreamnames=cam bandwidths=900000 targetfolder={target} groupname=rtsp \
             chunkLength=2"
        ),
    );
    let group = server.webroot.join("rtsp");
    wait_for("the live manifest", Duration::from_secs(20), || {
        read_manifest(&group.join("manifest.ismc"))
            .is_ok_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    assert!(m.is_live);
    assert_eq!(m.stream_indexes.len(), 2, "video and audio");
    check_listed_fragments(&group, &m);

    if player::ready_or_skip("rtsp_pull_is_packaged_live_and_plays_in_dashjs") {
        let result = player::play(&PlayRequest {
            seconds: 10.0,
            min_time: 5.0,
            live: true,
            ..PlayRequest::url(format!("http://{}/rtsp/manifest.ismc", server.addr("web")))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "live playback failed: {}", result.reason);
        assert_eq!((result.video_width, result.video_height), (640, 360));
    }
    assert!(upstream.sessions_played() >= 1);
}

#[test]
fn rtsp_pull_from_a_lying_server_fails_clearly() {
    let dir = TempDir::new("pull-rtsp-liar");
    let upstream = RtspServer::start(&clip(4.0), Lie::AudioClockRate).expect("rtsp server");
    let server = start_server(&dir);
    let r = server.api_ok(
        "pullStream",
        &format!("uri={} localStreamName=liar", upstream.url()),
    );
    let config_id = r["data"]["configId"].clone();
    let mut entry = Value::Null;
    wait_for("the pull to fail", Duration::from_secs(10), || {
        entry = server.config_entry("pull", &config_id);
        entry["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("SDP"))
    });
    assert_ne!(entry["status"]["current"]["code"], 0, "{entry}");
    let streams = server.api_ok("listStreams", "");
    assert!(
        streams["data"]
            .as_array()
            .is_none_or(|a| a.iter().all(|s| s["name"] != "liar")),
        "{streams}"
    );
}
