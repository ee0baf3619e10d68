//! The operator's console (`/console` on the HTTP API port) in headless Chromium, driven by
//! `tests/player/console.mjs` against the real binary: behind the API token, a stream
//! published with ffmpeg listed with its properties, an MSS output created from the form
//! (then in listConfig) whose embedded player plays, and removed from the console; a pull
//! made and removed from its form the same way.
//! Screenshots are kept in `target/artifacts/console/` (CI keeps that folder).

use std::path::Path;
use std::time::Duration;

use smoothcast_tests::peer::LiveEncode;
use smoothcast_tests::player;
use smoothcast_tests::server::{http_get, Server};
use smoothcast_tests::{repo_root, TempDir};

const TOKEN: &str = "console-test-token-0123456789";

#[test]
fn console_lists_creates_plays_and_removes_behind_the_token() {
    let dir = TempDir::new("console");
    let webroot = dir.path().join("www");
    // The token even from loopback, as on a shared machine: the console must ask for it.
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        &format!("[security]\napi_token = {TOKEN:?}\nrequire_token_on_loopback = true\n"),
        &[],
    )
    .expect("server");
    let api = server.addr("http_api");

    // Without the token: the page, its state and its assets are refused like any command.
    for path in ["/console", "/console/state", "/console/console.js"] {
        let r = http_get(api, path).expect("request");
        assert_eq!(r.status, 401, "{path} without the token");
    }

    if !player::ready_or_skip("console_lists_creates_plays_and_removes_behind_the_token") {
        return;
    }
    let rtmp = server.addr("rtmp");
    let _encoder = LiveEncode::new(90)
        .size("640x360")
        .rtmp(format!("rtmp://{rtmp}/live/cam1"), 600)
        .start();

    let out = repo_root().join("target/artifacts/console");
    let args: Vec<String> = [
        "--api",
        &format!("http://{api}"),
        "--token",
        TOKEN,
        "--stream",
        "cam1",
        "--out",
        &out.display().to_string(),
        // The pull form pulls the same stream back from this server's RTMP port.
        "--rtmp",
        &format!("rtmp://{rtmp}/live/cam1"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (result, stderr) =
        player::run_script("console.mjs", &args, Duration::from_secs(180)).expect("console.mjs");
    println!("{result}");
    assert_eq!(result["ok"], true, "{result}\nstderr: {stderr}");
    let row = result["stream_row"].as_str().unwrap_or_default();
    assert!(row.contains("H264") && row.contains("640x360"), "{row}");
    assert!(result["video"]["width"].as_u64() > Some(0), "{result}");
    assert!(out.join("console-playing.png").is_file());
    assert!(
        result["page_errors"].is_null(),
        "errors on the page: {result}"
    );
    assert!(result["pull_row"].as_str().is_some(), "{result}");
    let events = result["event_types"].to_string();
    for kind in ["inStreamCreated", "outStreamCreated", "outStreamClosed"] {
        assert!(
            events.contains(kind),
            "{kind} not among the recent events: {events}"
        );
    }
}
