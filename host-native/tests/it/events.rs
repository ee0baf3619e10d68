//! Events end to end: ffmpeg publishes a few seconds of RTMP, createMSSStream packages it, and
//! the events reach a JSON-lines file and an HTTP endpoint (a tiny receiver in this test) in
//! order; an endpoint that fails at first still gets everything, in order, after retries; one
//! that never answers delays no fragment. `/metrics` parses as Prometheus text and moves.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;
use smoothcast_tests::peer::{LiveEncode, Peer};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::read_manifest;
use smoothcast_tests::server::{http_get, Server};
use smoothcast_tests::{wait_for, TempDir};

/// How the receiver answers.
#[derive(Clone, Copy)]
enum Mode {
    /// 500 for the first N requests, then 200.
    FailFirst(usize),
    /// Reads requests and never answers.
    Hang,
}

/// An HTTP endpoint that records every POSTed body (keep-alive connections included).
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0usize));
        let (b, r) = (bodies.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (b, r) = (b.clone(), r.clone());
                std::thread::spawn(move || serve(conn, mode, &b, &r));
            }
        });
        Self {
            addr,
            bodies,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn events(&self) -> Vec<Value> {
        self.bodies.lock().expect("lock").clone()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().expect("lock")
    }
}

fn serve(conn: TcpStream, mode: Mode, bodies: &Mutex<Vec<Value>>, requests: &Mutex<usize>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut out = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        assert!(line.starts_with("POST /hook "), "request line {line:?}");
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().expect("content-length");
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let mut r = requests.lock().expect("lock");
            *r += 1;
            *r
        };
        let status = match mode {
            Mode::Hang => {
                sleep(Duration::from_secs(60));
                return;
            }
            Mode::FailFirst(k) if n <= k => "500 Internal Server Error",
            Mode::FailFirst(_) => {
                let v: Value = serde_json::from_slice(&body).expect("JSON body");
                bodies.lock().expect("lock").push(v);
                "200 OK"
            }
        };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn server_with_events(dir: &TempDir, events_toml: &str) -> Server {
    let webroot = dir.path().join("www");
    Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        &format!("[events]\n{events_toml}"),
        &[],
    )
    .expect("server")
}

/// createMSSStream for `cam` into group `ev`, 1 s chunks, closed as VOD when the source ends.
fn create(server: &Server) -> u64 {
    let target = server.webroot.display().to_string();
    let r = server
        .api(
            "createMSSStream",
            &format!("localstreamnames=cam bandwidths=400000 targetfolder={target} groupname=ev chunkLength=1 keepAlive=0"),
        )
        .expect("api");
    assert_eq!(r["status"], "SUCCESS", "{r}");
    r["data"]["configIds"][0].as_u64().expect("config id")
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect()
}

/// The whole story of one published stream, checked event by event.
fn check_sequence(events: &[Value], config_id: u64, webroot: &Path) {
    let k = kinds(events);
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "every event, in order: {k:?}"
    );
    assert_eq!(&k[..2], ["inStreamCreated", "outStreamCreated"], "{k:?}");
    assert_eq!(k.last(), Some(&"outStreamClosed"), "{k:?}");
    let in_closed = k
        .iter()
        .position(|t| *t == "inStreamClosed")
        .expect("inStreamClosed");
    assert!(in_closed < k.len() - 1, "{k:?}");
    for (i, t) in k.iter().enumerate() {
        let once = [
            "inStreamCreated",
            "outStreamCreated",
            "inStreamClosed",
            "outStreamClosed",
        ];
        if once.contains(t) {
            assert_eq!(k.iter().filter(|x| *x == t).count(), 1, "{t} once: {k:?}");
        } else {
            assert!(
                ["mssChunkCreated", "mssChunkClosed", "mssPlaylistUpdated"].contains(t),
                "unexpected {t} at {i}: {k:?}"
            );
        }
    }
    let stream_id = events[0]["payload"]["uniqueId"].as_u64().expect("uniqueId");
    assert_eq!(events[0]["payload"]["name"], "cam");
    for e in events {
        if e["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("inStream"))
        {
            assert_eq!(e["payload"]["uniqueId"], stream_id, "{e}");
            assert_eq!(e["payload"]["type"], "INR", "{e}");
        } else {
            assert_eq!(e["payload"]["groupName"], "ev", "{e}");
        }
        assert!(
            e["timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{e}"
        );
    }
    for t in ["outStreamCreated", "outStreamClosed"] {
        let e = &events[k.iter().position(|x| *x == t).expect("present")];
        assert_eq!(e["payload"]["configId"], config_id, "{e}");
        assert_eq!(e["payload"]["uniqueId"], stream_id, "{e}");
        assert_eq!(e["payload"]["type"], "OFMSS", "{e}");
    }

    // Chunks: created then closed, the same file, start times rising per track.
    let mut last_start: HashMap<String, u64> = HashMap::new();
    let mut chunks = 0;
    let mut i = 0;
    while i < k.len() {
        if k[i] != "mssChunkCreated" {
            assert_ne!(
                k[i], "mssChunkClosed",
                "closed without created at {i}: {k:?}"
            );
            i += 1;
            continue;
        }
        let (c, d) = (&events[i]["payload"], &events[i + 1]["payload"]);
        assert_eq!(k[i + 1], "mssChunkClosed", "{k:?}");
        assert_eq!(c["file"], d["file"]);
        assert_eq!(c["startTime"], d["startTime"]);
        assert_eq!(d["name"], "cam", "{d}");
        assert_eq!(d["configId"], config_id, "{d}");
        assert_eq!(d["uniqueId"], stream_id, "{d}");
        let start = d["startTime"].as_u64().expect("startTime");
        let stop = d["stopTime"].as_u64().expect("stopTime");
        assert!(stop > start && d["frameCount"].as_u64() > Some(0), "{d}");
        let track = d["trackType"].as_str().expect("trackType").to_string();
        if let Some(prev) = last_start.insert(track.clone(), start) {
            assert!(start > prev, "{track} startTime {start} after {prev}");
        }
        let file = Path::new(d["file"].as_str().expect("file"));
        assert!(
            file.starts_with(webroot.join("ev")) && file.is_file(),
            "{d}"
        );
        chunks += 1;
        // Past the pair.
        i += 2;
    }
    assert!(chunks >= 8, "{chunks} chunks: {k:?}");
    assert_eq!(last_start.len(), 2, "video and audio chunks");
    let manifest = webroot.join("ev/manifest.ismc");
    let playlist = events
        .iter()
        .rev()
        .find(|e| e["type"] == "mssPlaylistUpdated")
        .expect("mssPlaylistUpdated");
    assert_eq!(playlist["payload"]["file"], manifest.display().to_string());
    let m = read_manifest(&manifest).expect("manifest");
    assert!(!m.is_live, "closed as VOD");
}

/// Samples of a Prometheus text page: `name{labels}` -> value. Checks the line grammar.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("name");
            let kind = parts.next().expect("type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.push(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("name value");
        let name = key.split('{').next().expect("name");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "{name} has no TYPE line before it"
        );
        if key.contains('{') {
            assert!(key.ends_with('}'), "{line}");
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        samples.insert(key.to_string(), v);
    }
    samples
}

fn metrics(server: &Server) -> HashMap<String, f64> {
    let r = http_get(server.addr("http_api"), "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    parse_metrics(&String::from_utf8(r.body).expect("UTF-8"))
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[test]
fn events_reach_the_file_and_the_endpoint_in_order() {
    let dir = TempDir::new("events-order");
    let receiver = Receiver::start(Mode::FailFirst(0));
    let file = dir.path().join("logs/events.jsonl");
    let server = server_with_events(
        &dir,
        &format!(
            "file = {:?}\nhttp_url = {:?}\n",
            file.display().to_string(),
            receiver.url()
        ),
    );
    let before = metrics(&server);
    assert_eq!(get(&before, "smoothcast_mss_fragments_written_total"), 0.0);
    let config_id = create(&server);
    let mut encoder = publish(server.addr("rtmp"), "cam", 6);
    wait_for("the stream's bytes", Duration::from_secs(10), || {
        let m = metrics(&server);
        get(&m, "smoothcast_inbound_streams") == 1.0
            && get(&m, "smoothcast_stream_bytes_in{stream=\"cam\"}") > 0.0
    });
    let _ = encoder.wait();
    wait_for("outStreamClosed", Duration::from_secs(15), || {
        receiver
            .events()
            .iter()
            .any(|e| e["type"] == "outStreamClosed")
    });
    let events = receiver.events();
    check_sequence(&events, config_id, &server.webroot);

    // The file holds the same records, one per line.
    wait_for("the events file", Duration::from_secs(5), || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() == events.len())
    });
    let text = std::fs::read_to_string(&file).expect("events file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines, events);

    // What the events announced plays: dash.js through the server's own web port.
    if player::ready_or_skip("events_reach_the_file_and_the_endpoint_in_order") {
        let result = player::play(&PlayRequest {
            seconds: 15.0,
            min_time: 4.5,
            expect_levels: Some(1),
            ..PlayRequest::url(format!("http://{}/ev/manifest.ismc", server.addr("web")))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "playback failed: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
    }

    // Metrics moved with what happened (a viewer fetched the manifest too).
    let manifest = http_get(server.addr("web"), "/ev/manifest.ismc").expect("GET manifest");
    assert_eq!(manifest.status, 200);
    let after = metrics(&server);
    let closed = kinds(&events)
        .iter()
        .filter(|t| **t == "mssChunkClosed")
        .count() as f64;
    assert_eq!(
        get(&after, "smoothcast_mss_fragments_written_total"),
        closed
    );
    assert!(get(&after, "smoothcast_mss_manifests_written_total") >= 1.0);
    assert!(get(&after, "smoothcast_bytes_in_total") > 100_000.0);
    assert!(get(&after, "smoothcast_bytes_out_total{kind=\"fragment\"}") > 100_000.0);
    assert!(get(&after, "smoothcast_mss_write_delay_seconds_count") >= 1.0);
    assert_eq!(get(&after, "smoothcast_inbound_streams"), 0.0);
    assert_eq!(
        get(&after, "smoothcast_events_delivered_total{sink=\"http\"}"),
        events.len() as f64
    );
    assert_eq!(
        get(&after, "smoothcast_events_emitted_total"),
        events.len() as f64
    );
    let zero = |prefix: &str| {
        let series: Vec<_> = after
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        assert!(series.len() >= 3, "{prefix} series exist from the start");
        assert!(series.iter().all(|(_, v)| **v == 0.0), "{series:?}");
    };
    zero("smoothcast_events_dropped_total{");
    zero("smoothcast_errors_total{");
    assert!(
        get(&after, "smoothcast_bytes_out_total{kind=\"web\"}")
            > get(&before, "smoothcast_bytes_out_total{kind=\"web\"}")
    );
}

#[test]
fn a_failing_endpoint_gets_every_event_in_order_after_retries() {
    let dir = TempDir::new("events-retry");
    let receiver = Receiver::start(Mode::FailFirst(3));
    let server = server_with_events(
        &dir,
        &format!(
            "http_url = {:?}\nhttp_backoff_ms = 50\nhttp_retries = 5\n",
            receiver.url()
        ),
    );
    let config_id = create(&server);
    let mut encoder = publish(server.addr("rtmp"), "cam", 6);
    let _ = encoder.wait();
    wait_for("outStreamClosed", Duration::from_secs(15), || {
        receiver
            .events()
            .iter()
            .any(|e| e["type"] == "outStreamClosed")
    });
    let events = receiver.events();
    check_sequence(&events, config_id, &server.webroot);
    assert_eq!(
        receiver.requests(),
        events.len() + 3,
        "three refused, then each once"
    );
    let m = metrics(&server);
    assert_eq!(get(&m, "smoothcast_errors_total{kind=\"event_sink\"}"), 3.0);
}

#[test]
fn a_hanging_endpoint_does_not_delay_fragment_writing() {
    let dir = TempDir::new("events-hang");
    let receiver = Receiver::start(Mode::Hang);
    let server = server_with_events(
        &dir,
        &format!("http_url = {:?}\nhttp_timeout_ms = 60000\n", receiver.url()),
    );
    create(&server);
    let mut encoder = publish(server.addr("rtmp"), "cam", 6);
    let _ = encoder.wait();
    wait_for("the VOD manifest", Duration::from_secs(15), || {
        read_manifest(&server.webroot.join("ev/manifest.ismc")).is_ok_and(|m| !m.is_live)
    });
    let stats = server.api("serverStats", "").expect("api");
    let d = &stats["data"];
    println!("write delay with a hanging endpoint: {d}");
    assert!(d["fragmentsWritten"].as_u64() >= Some(8), "{d}");
    // Waiting on the endpoint would take its whole 60 s timeout; these bounds leave room for
    // a busy machine only.
    assert!(d["writeDelayP99Us"].as_u64() < Some(500_000), "{d}");
    assert!(d["writeDelayMaxUs"].as_u64() < Some(2_000_000), "{d}");
    assert_eq!(receiver.requests(), 1, "the first POST is still waiting");
    assert!(receiver.events().is_empty());
    let m = metrics(&server);
    assert!(get(&m, "smoothcast_events_emitted_total") >= 20.0);
    assert_eq!(
        get(&m, "smoothcast_events_delivered_total{sink=\"http\"}"),
        0.0
    );
}

#[test]
fn a_failed_fragment_write_is_an_mss_chunk_error() {
    let dir = TempDir::new("events-error");
    let file = dir.path().join("events.jsonl");
    let server = server_with_events(&dir, &format!("file = {:?}\n", file.display().to_string()));
    // A file where the stream's fragment folder belongs: every fragment write fails (even
    // as root), while the manifest beside it can still be written.
    let group = server.webroot.join("ev");
    std::fs::create_dir_all(&group).expect("group folder");
    std::fs::write(group.join("cam"), b"in the way").expect("blocking file");
    create(&server);
    let mut encoder = publish(server.addr("rtmp"), "cam", 4);
    let _ = encoder.wait();
    let events = || -> Vec<Value> {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_for("outStreamClosed", Duration::from_secs(15), || {
        events().iter().any(|e| e["type"] == "outStreamClosed")
    });
    let events = events();
    let k = kinds(&events);
    assert!(!k.contains(&"mssChunkClosed"), "{k:?}");
    let errors: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "mssChunkError")
        .collect();
    // Each new fragment fails right after its mssChunkCreated (rewrites of its look-ahead
    // boxes fail later too, each its own error).
    for (i, t) in k.iter().enumerate() {
        if *t == "mssChunkCreated" {
            assert_eq!(k[i + 1], "mssChunkError", "{k:?}");
            assert_eq!(
                events[i]["payload"]["file"],
                events[i + 1]["payload"]["file"]
            );
        }
    }
    assert!(
        k.iter().filter(|t| **t == "mssChunkCreated").count() >= 4,
        "{k:?}"
    );
    let p = &errors[0]["payload"];
    assert!(
        p["file"]
            .as_str()
            .is_some_and(|f| f.starts_with(&group.join("cam").display().to_string())),
        "{p}"
    );
    assert!(
        p["error"].as_str().is_some_and(|e| e.contains("creating")),
        "{p}"
    );
    assert_eq!(p["groupName"], "ev");
    assert_eq!(
        std::fs::read(group.join("cam")).expect("still there"),
        b"in the way",
        "what was in the way is left alone"
    );
    let m = metrics(&server);
    assert_eq!(
        get(&m, "smoothcast_errors_total{kind=\"disk_write\"}"),
        errors.len() as f64
    );
    assert_eq!(get(&m, "smoothcast_mss_fragments_written_total"), 0.0);
}

#[test]
fn a_stopping_server_delivers_its_last_events() {
    let dir = TempDir::new("events-stop");
    let receiver = Receiver::start(Mode::FailFirst(0));
    let file = dir.path().join("events.jsonl");
    let mut server = server_with_events(
        &dir,
        &format!(
            "file = {:?}\nhttp_url = {:?}\n",
            file.display().to_string(),
            receiver.url()
        ),
    );
    let target = server.webroot.display().to_string();
    let r = server
        .api(
            "createMSSStream",
            &format!("localstreamnames=cam bandwidths=400000 targetfolder={target} groupname=ev chunkLength=1"),
        )
        .expect("api");
    assert_eq!(r["status"], "SUCCESS", "{r}");
    let _encoder = publish(server.addr("rtmp"), "cam", 30);
    wait_for("a few chunks", Duration::from_secs(15), || {
        kinds(&receiver.events())
            .iter()
            .filter(|t| **t == "mssChunkClosed")
            .count()
            >= 4
    });
    // Ctrl-C, as an operator stops it.
    let status = Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for("the server to stop", Duration::from_secs(15), || {
        server.try_wait().is_some()
    });
    let events = receiver.events();
    let k = kinds(&events);
    assert_eq!(
        k.iter().filter(|t| **t == "inStreamClosed").count(),
        1,
        "{k:?}"
    );
    assert_eq!(
        k.iter().filter(|t| **t == "outStreamClosed").count(),
        1,
        "{k:?}"
    );
    let text = std::fs::read_to_string(&file).expect("events file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        lines, events,
        "the file and the endpoint got the same events"
    );
}

/// ffmpeg publishing `seconds` of 1-second GOPs with audio as `rtmp://.../live/<name>`.
fn publish(rtmp: SocketAddr, name: &str, seconds: u32) -> Peer {
    LiveEncode::new(seconds)
        .gop_frames(25)
        .rtmp(format!("rtmp://{rtmp}/live/{name}"), 300)
        .start()
}
