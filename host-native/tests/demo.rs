//! The main job: `smoothcast serve --demo` publishes the built-in clip as a looping live
//! stream, packages it, and the page at `/` is set up to play it; dash.js plays it live from
//! the server's web port.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::server::{http_get, Server};
use smoothcast_tests::TempDir;

#[test]
fn demo_plays_live_from_the_web_server() {
    let dir = TempDir::new("demo");
    let webroot = dir.path().join("www");
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        "",
        &["--demo"],
    )
    .expect("server");
    let web = server.addr("web");

    let page = http_get(web, "/").expect("player page");
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains(r#"content="/demo/manifest.ismc""#),
        "the page presets the demo manifest"
    );

    let start = Instant::now();
    loop {
        let m = http_get(web, "/demo/manifest.ismc").expect("manifest request");
        if m.status == 200 {
            assert_eq!(
                m.headers.get("content-type").map(String::as_str),
                Some("application/vnd.ms-sstr+xml")
            );
            assert_eq!(
                m.headers.get("cache-control").map(String::as_str),
                Some("no-cache")
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no live manifest after 30 s"
        );
        sleep(Duration::from_millis(500));
    }
    let streams = server.api("listStreams", "").expect("api");
    assert!(
        streams["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["name"] == "demo")),
        "{streams}"
    );

    if !player::ready_or_skip("demo_plays_live_from_the_web_server") {
        return;
    }
    let result = player::play(&PlayRequest {
        seconds: 20.0,
        min_time: 15.0,
        live: true,
        expect_levels: Some(1),
        ..PlayRequest::url(format!("http://{web}/demo/manifest.ismc"))
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "demo playback failed: {}", result.reason);
    assert_eq!((result.video_width, result.video_height), (640, 360));
}
