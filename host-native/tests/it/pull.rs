//! pullStream end to end: an RTMP pull that fails while nothing listens, keeps retrying and
//! streams once the upstream server appears; a file:// pull; MPEG-TS pulls that listen for
//! their senders over TCP and UDP; each packaged live with createMSSStream and played by
//! dash.js.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use smoothcast_tests::media::{self, ClipSpec, Container};
use smoothcast_tests::peer::{send_clip, serve_clip_over_rtmp};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, read_manifest};
use smoothcast_tests::server::{http_get, Server};
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

fn clip(seconds: f64, container: Container) -> PathBuf {
    media::clip(&ClipSpec {
        seconds,
        container,
        ..ClipSpec::default()
    })
    .expect("clip")
}

fn wait_status(server: &Server, config_id: &Value, code: u64, timeout: Duration) -> Value {
    let mut last = Value::Null;
    wait_for(&format!("pull status {code}"), timeout, || {
        last = server.config_entry("pull", config_id);
        last["status"]["current"]["code"] == code
    });
    last
}

/// A port nothing listens on (bound, then freed).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Packages `stream` as live MSS group `group` (2 s fragments) and waits for a manifest
/// with two chunks per track.
fn package_live(server: &Server, stream: &str, group: &str) -> PathBuf {
    let target = server.webroot.display().to_string();
    server.api_ok("createMSSStream",
        &format!("localstreamnames={stream} bandwidths=900000 targetfolder={target} groupname={group} chunkLength=2"),
    );
    server.webroot.join(group)
}

fn wait_manifest(dir: &Path) {
    wait_for("the live manifest", Duration::from_secs(20), || {
        read_manifest(&dir.join("manifest.ismc"))
            .is_ok_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    let m = read_manifest(&dir.join("manifest.ismc")).expect("manifest");
    assert!(m.is_live);
    check_listed_fragments(dir, &m);
}

fn play_live(server: &Server, group: &str, test: &str) {
    if !player::ready_or_skip(test) {
        return;
    }
    let result = player::play(&PlayRequest {
        seconds: 8.0,
        min_time: 4.0,
        live: true,
        ..PlayRequest::url(format!(
            "http://{}/{group}/manifest.ismc",
            server.addr("web")
        ))
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "live playback failed: {}", result.reason);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
}

fn stream_named(server: &Server, name: &str) -> Option<Value> {
    let streams = server.api_ok("listStreams", "");
    streams["data"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name).cloned())
}

/// The brief's case: ffmpeg publishes A to our server, a pull of our own rtmp://.../live/A
/// makes B, B is packaged and dash.js plays it. A pull of a stream not published yet fails
/// (the server refuses the play) and streams once the publisher appears.
#[test]
fn rtmp_pull_from_our_own_server_plays_in_dashjs() {
    let dir = TempDir::new("pull-rtmp");
    // Long enough to outlast the test; the publisher is killed at its end.
    let media = clip(45.0, Container::Flv);
    let server = start_server(&dir);
    let rtmp = server.addr("rtmp");
    let uri = format!("rtmp://{rtmp}/live/A");

    // Not published yet: the play is refused, Connection failed, retried.
    let r = server.api_ok("pullStream", &format!("uri={uri} localStreamName=B"));
    assert_eq!(
        r["description"],
        format!("Stream {uri} enqueued for pulling")
    );
    assert_eq!(r["data"]["operationType"], 1);
    assert_eq!(r["data"]["localStreamName"], "B");
    assert_eq!(r["data"]["uri"]["port"], rtmp.port());
    let config_id = r["data"]["configId"].clone();
    let failed = wait_status(&server, &config_id, 5, Duration::from_secs(5));
    assert_eq!(
        failed["status"]["current"]["description"],
        "Connection failed"
    );
    let group = package_live(&server, "B", "pulled");

    let _publisher = send_clip(&media, "flv", &format!("rtmp://{rtmp}/live/A"));
    let streaming = wait_status(&server, &config_id, 0, Duration::from_secs(10));
    assert_eq!(streaming["status"]["current"]["description"], "Streaming");

    // listStreams and getStreamInfo show the pulled stream with its type and source.
    let b = stream_named(&server, "B").expect("stream B listed");
    assert_eq!(b["type"], "INR");
    assert_eq!(b["source"], uri.as_str());
    assert_eq!(b["pullSettings"]["configId"], config_id);
    assert_eq!(
        streaming["status"]["current"]["uniqueStreamId"],
        b["uniqueId"]
    );
    let a = stream_named(&server, "A").expect("stream A listed");
    assert!(
        a.get("pullSettings").is_none(),
        "A is published, not pulled"
    );
    let info = server.api_ok("getStreamInfo", "localStreamName=B");
    assert_eq!(info["data"]["pullSettings"]["uri"]["scheme"], "rtmp");

    wait_manifest(&group);
    play_live(
        &server,
        "pulled",
        "rtmp_pull_from_our_own_server_plays_in_dashjs",
    );

    // shutdownStream without permanently: keepAlive brings B back as a new stream.
    server.api_ok("shutdownStream", "localStreamName=B permanently=0");
    wait_for("B to come back", Duration::from_secs(10), || {
        stream_named(&server, "B").is_some_and(|s| s["uniqueId"] != b["uniqueId"])
    });
    // removeConfig finds pull configs: the pull stops and B ends; A goes on.
    let removed = server.api_ok("removeConfig", &format!("id={config_id}"));
    assert_eq!(removed["data"]["configId"], config_id);
    wait_for("stream B to end", Duration::from_secs(5), || {
        stream_named(&server, "B").is_none()
    });
    assert_eq!(server.config_entry("pull", &config_id), Value::Null);
    assert!(stream_named(&server, "A").is_some());
}

/// Nothing listens on the port: Connection failed, retries with backoff, and streams once an
/// RTMP server (ffmpeg in listen mode) appears there.
#[test]
fn rtmp_pull_retries_until_a_server_listens() {
    let dir = TempDir::new("pull-rtmp-late");
    let media = clip(30.0, Container::Flv);
    let server = start_server(&dir);
    let upstream_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let uri = format!("rtmp://{upstream_addr}/live/A");
    let r = server.api_ok("pullStream", &format!("uri={uri}"));
    assert_eq!(r["data"]["localStreamName"], "A", "derived from the uri");
    let config_id = r["data"]["configId"].clone();

    let failed = wait_status(&server, &config_id, 5, Duration::from_secs(5));
    assert_eq!(failed["status"]["previous"]["code"], 1, "{failed}");
    assert!(
        failed["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{failed}"
    );
    // Failed attempts are counted as ingest errors.
    let metrics = http_get(server.addr("http_api"), "/metrics").expect("GET /metrics");
    let text = String::from_utf8(metrics.body).expect("UTF-8");
    let ingest_errors: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("smoothcast_errors_total{kind=\"ingest\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(ingest_errors >= 1.0, "{text}");
    let _upstream = serve_clip_over_rtmp(&media, &format!("rtmp://{upstream_addr}/live/A"));
    wait_status(&server, &config_id, 0, Duration::from_secs(10));
    let a = stream_named(&server, "A").expect("stream A");
    assert_eq!(a["source"], uri.as_str());
    wait_for("media to arrive", Duration::from_secs(5), || {
        stream_named(&server, "A").is_some_and(|s| s["hasVideo"] == true && s["hasAudio"] == true)
    });
}

#[test]
fn file_pull_plays_in_dashjs_and_bad_files_fail_clearly() {
    let dir = TempDir::new("pull-file");
    // File pulls read inside the web root only by default; these files live elsewhere.
    let roots = format!(
        "[security]\nfile_pull_roots = [{:?}, {:?}]\n",
        dir.path().display().to_string(),
        media::cache_dir().display().to_string()
    );
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &dir.path().join("www"),
        &roots,
        &[],
    )
    .expect("server");
    // Outside the roots: refused at once, the same words whether the file exists or not.
    let outside: Vec<String> = ["/etc/passwd", "/nonexistent/x.mp4"]
        .iter()
        .map(|p| {
            let r = server
                .api("pullStream", &format!("uri=file://{p}"))
                .expect("api");
            assert_eq!(r["status"], "FAIL", "{r}");
            r["description"]
                .as_str()
                .unwrap_or_default()
                .replace(p, "P")
        })
        .collect();
    assert_eq!(outside[0], outside[1]);
    assert!(outside[0].contains("file_pull_roots"), "{}", outside[0]);

    // A missing file and a file that is not media: Connection failed, with the reason.
    let missing = dir.path().join("missing.mp4");
    let junk = dir.path().join("junk.ts");
    std::fs::write(&junk, vec![0x55u8; 4096]).expect("junk");
    for (path, name) in [(&missing, "missing"), (&junk, "junk")] {
        let r = server.api_ok(
            "pullStream",
            &format!("uri=file://{} localStreamName={name}", path.display()),
        );
        let failed = wait_status(&server, &r["data"]["configId"], 5, Duration::from_secs(5));
        let why = failed["lastError"].as_str().unwrap_or_default().to_string();
        assert!(why.contains(&path.display().to_string()), "{failed}");
        assert!(!why.contains("No such file"), "no OS error text: {failed}");
        server.api_ok("removeConfig", &format!("id={}", r["data"]["configId"]));
    }
    let r = server
        .api("pullStream", "uri=file://relative.mp4")
        .expect("api");
    assert_eq!(r["status"], "FAIL", "{r}");

    // TS and FLV files play out too.
    for (container, name) in [(Container::Ts, "ts"), (Container::Flv, "flv")] {
        let path = clip(4.0, container);
        let r = server.api_ok(
            "pullStream",
            &format!("uri=file://{} localStreamName={name}", path.display()),
        );
        wait_status(&server, &r["data"]["configId"], 0, Duration::from_secs(10));
        let info = server.api_ok("getStreamInfo", &format!("localStreamName={name}"));
        assert_eq!(info["data"]["type"], "INF");
        assert_eq!(info["data"]["hasVideo"], true);
        assert_eq!(info["data"]["hasAudio"], true);
        // shutdownStream is permanent by default (EMS): the pull config goes too.
        let closed = server.api_ok("shutdownStream", &format!("localStreamName={name}"));
        assert_eq!(closed["data"]["permanently"], true);
        assert_eq!(
            server.config_entry("pull", &r["data"]["configId"]),
            Value::Null
        );
        wait_for("the stream to end", Duration::from_secs(5), || {
            stream_named(&server, name).is_none()
        });
    }

    // A short MP4, looped, packaged and played for longer than the clip lasts.
    let path = clip(4.0, Container::Mp4);
    let r = server.api_ok(
        "pullStream",
        &format!("uri=file://{} localStreamName=F loop=1", path.display()),
    );
    assert_eq!(r["data"]["loop"], true);
    let group = package_live(&server, "F", "file");
    wait_status(&server, &r["data"]["configId"], 0, Duration::from_secs(10));
    wait_manifest(&group);
    play_live(
        &server,
        "file",
        "file_pull_plays_in_dashjs_and_bad_files_fail_clearly",
    );
    let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    let listed: u64 = m.stream_indexes[0].chunks.iter().map(|c| c.d).sum();
    assert!(
        listed > 40_000_000,
        "looping continues past the 4 s clip: {listed}"
    );
}

/// EMS "pulls" MPEG-TS by listening: the configs wait (status 2) on their ports until
/// ffmpeg sends, over TCP and over UDP; the TCP one is packaged live and plays.
#[test]
fn mpegts_pulls_listen_for_senders_over_tcp_and_udp() {
    let dir = TempDir::new("pull-mpegts");
    let media = clip(24.0, Container::Ts);
    let server = start_server(&dir);

    let tcp_port = free_port();
    let r = server.api_ok(
        "pullStream",
        &format!("uri=mpegtstcp://127.0.0.1:{tcp_port} localStreamName=tstcp"),
    );
    let tcp_config = r["data"]["configId"].clone();
    let udp_port = free_port();
    let r = server.api_ok(
        "pullStream",
        &format!("uri=mpegtsudp://127.0.0.1:{udp_port} localStreamName=tsudp"),
    );
    let udp_config = r["data"]["configId"].clone();
    wait_status(&server, &tcp_config, 2, Duration::from_secs(5));
    wait_status(&server, &udp_config, 2, Duration::from_secs(5));

    let _tcp = send_clip(&media, "mpegts", &format!("tcp://127.0.0.1:{tcp_port}"));
    let _udp = send_clip(
        &media,
        "mpegts",
        &format!("udp://127.0.0.1:{udp_port}?pkt_size=1316"),
    );
    wait_status(&server, &tcp_config, 0, Duration::from_secs(10));
    wait_status(&server, &udp_config, 0, Duration::from_secs(10));
    for name in ["tstcp", "tsudp"] {
        wait_for("both tracks", Duration::from_secs(10), || {
            stream_named(&server, name).is_some_and(|s| {
                s["type"] == "INT" && s["hasVideo"] == true && s["hasAudio"] == true
            })
        });
    }
    let group = package_live(&server, "tstcp", "tspull");
    wait_manifest(&group);
    play_live(
        &server,
        "tspull",
        "mpegts_pulls_listen_for_senders_over_tcp_and_udp",
    );
}
