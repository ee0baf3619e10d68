//! The main job: `smoothcast serve --demo` publishes the built-in clip as a looping live
//! stream, packages it, and the page at `/` is set up to play it; dash.js plays it live from
//! the server's web port.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::server::{http_get, Server};
use smoothcast_tests::TempDir;
use std::process::Stdio;

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
        expect_levels: Some(3),
        ..PlayRequest::url(format!("http://{web}/demo/manifest.ismc"))
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "demo playback failed: {}", result.reason);
    assert!(
        DEMO_SIZES.contains(&(result.video_width, result.video_height)),
        "{result}"
    );

    // The page at / shows the levels, and capping the bandwidth below the level on screen
    // makes dash.js switch down (qualityChangeRendered), drawn on the bitrate chart.
    let out = smoothcast_tests::repo_root().join("target/artifacts/demo");
    let args = [
        "--page".to_string(),
        format!("http://{web}/"),
        "--out".to_string(),
        out.display().to_string(),
    ];
    let (page, stderr) =
        player::run_script("demo.mjs", &args, Duration::from_secs(150)).expect("demo.mjs");
    println!("{page}");
    assert_eq!(page["ok"], true, "{page}\nstderr: {stderr}");
    assert_eq!(page["levels"].as_array().map(Vec::len), Some(3), "{page}");
    let cap = page["cap_kbps"].as_u64().expect("cap") * 1000;
    let switch = &page["switch"];
    assert!(switch["to"].as_u64() <= Some(cap), "{page}");
    assert!(switch["from"].as_u64() > switch["to"].as_u64(), "{page}");
    assert!(page["points"].as_u64() >= Some(2), "{page}");
    assert!(page["page_errors"].is_null(), "errors on the page: {page}");
}

/// The demo's quality levels (`server.rs` DEMO_LEVELS).
const DEMO_SIZES: [(u32, u32); 3] = [(960, 540), (640, 360), (320, 180)];

/// The binary alone in an empty folder (no checkout beside it, so no node_modules): its
/// player page loads the dash.js built into it, and plays the demo in Chromium.
#[test]
fn the_binary_alone_serves_a_working_player_page() {
    let dir = TempDir::new("demo-alone");
    let install = dir.path().join("install");
    std::fs::create_dir_all(&install).expect("folder");
    let exe = install.join("smoothcast");
    std::fs::copy(env!("CARGO_BIN_EXE_smoothcast"), &exe).expect("copy the binary");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = Server::start_in(
        &exe,
        Some(&install),
        &install.join("evo-webroot"),
        "",
        &["--demo"],
        Stdio::from(log),
    )
    .expect("server");
    let web = server.addr("web");
    let page = http_get(web, "/").expect("player page");
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let src = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page loads dash.js")
        .to_string();
    assert!(src.starts_with("/_smoothcast/dashjs-"), "{src}");
    let js = http_get(web, &src).expect("dash.js");
    assert_eq!(js.status, 200, "{src}");
    assert!(js.body.len() > 100_000, "the whole of dash.js");
    assert_eq!(
        js.headers.get("cache-control").map(String::as_str),
        Some("public, max-age=31536000, immutable")
    );
    let mss = http_get(web, &src.replace("dash.all.min.js", "dash.mss.min.js")).expect("mss");
    assert_eq!(mss.status, 200);
    let licence = http_get(web, &src.replace("dash.all.min.js", "LICENSE.md")).expect("licence");
    assert!(String::from_utf8_lossy(&licence.body).contains("BSD"));

    if player::ready_or_skip("the_binary_alone_serves_a_working_player_page") {
        // The page itself waits for the live manifest, as a viewer opening it early would.
        let result = player::play(&PlayRequest {
            seconds: 30.0,
            min_time: 6.0,
            live: true,
            ..PlayRequest::page(format!("http://{web}/"))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "the built-in page failed: {}", result.reason);
        assert!(
            DEMO_SIZES.contains(&(result.video_width, result.video_height)),
            "{result}"
        );
    } else {
        let manifest = install.join("evo-webroot/demo/manifest.ismc");
        smoothcast_tests::wait_for("the live manifest", Duration::from_secs(40), || {
            manifest.is_file()
        });
    }

    // At the default log level: one line for the stream, one for the presentation going
    // live, one for the shutdown; plain text (stderr is a file, not a terminal). SIGTERM
    // (systemd's stop) stops it as cleanly as Ctrl-C.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.try_wait() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "still running");
        sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "a clean exit on SIGTERM: {exit}");
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        !log.contains('\x1b'),
        "no colour codes in a log file: {log:?}"
    );
    // One stream per quality level, one presentation of the three.
    for (what, needle, lines) in [
        ("publish", "inbound stream created", 3),
        ("presentation", "presentation live:", 1),
        ("shutdown", "shutting down", 1),
    ] {
        let n = log.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(n, lines, "{what} lines: {log}");
    }
}
