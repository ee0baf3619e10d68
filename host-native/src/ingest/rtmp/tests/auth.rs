//! `[auth]` over RTMP with real peers: ffmpeg publishing and playing with and without the
//! stream key's token, an `on_publish` callback allowing, refusing and hanging, and the
//! `inStreamRefused` events. Callback servers run on 127.0.0.1:0; every wait is bounded.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use super::*;
use crate::config::auth::HookUrl;
use crate::config::AuthConfig;
use crate::events::EventsConfig;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "smoothcast-rtmp-auth-{tag}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn auth(toml_text: &str) -> AuthConfig {
    toml::from_str(toml_text).expect("auth config")
}

/// An event bus writing to `<dir>/events.jsonl`.
fn events_to(dir: &Path) -> (crate::events::EventBus, PathBuf) {
    let file = dir.join("events.jsonl");
    let bus = crate::events::start(&EventsConfig {
        file: Some(file.clone()),
        ..EventsConfig::default()
    })
    .expect("events");
    (bus, file)
}

/// The `inStreamRefused` payloads written so far.
fn refusals(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "inStreamRefused")
        .map(|v| v["payload"].clone())
        .collect()
}

/// Runs a child to its end (bounded) and returns whether it succeeded and its stderr.
async fn finish(child: Child, limit: Duration) -> (bool, String) {
    let out = timeout(limit, child.wait_with_output())
        .await
        .expect("ffmpeg ends in time")
        .expect("ffmpeg output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn ffmpeg_play(addr: SocketAddr, key: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(format!("rtmp://{addr}/live/{key}"))
        .args(["-t", &secs.to_string(), "-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_needs_a_valid_key() {
    let dir = temp_dir("key");
    let (events, events_file) = events_to(&dir);
    let config = ServerConfig {
        auth: auth(r#"publish = [{ stream = "cam*", token = "s3cret" }]"#),
        ..ServerConfig::default()
    };
    let server = start_with(config, events, Limits::default(), 16).await;
    let streams = server.state.streams.clone();

    let refused = [
        ("cam1", "no token in the stream key"),
        ("cam1?token=guess", "wrong token"),
        ("other?token=s3cret", "no publish rule covers this stream"),
    ];
    for (key, _) in refused {
        let (ok, log) = finish(ffmpeg_publish(server.addr, key, 2), Duration::from_secs(15)).await;
        eprintln!("ffmpeg publishing {key:?}: {log}");
        assert!(!ok, "{key:?} was accepted");
        assert!(log.contains("not authorized"), "{key:?}: {log}");
        assert!(streams.list().is_empty(), "{key:?} made a stream");
    }

    let keyed = ffmpeg_publish(server.addr, "cam1?token=s3cret", 3);
    wait_until("the keyed publish", Duration::from_secs(10), || {
        streams.get("cam1").is_some_and(|s| s.has_video)
    })
    .await;
    let (ok, log) = finish(keyed, Duration::from_secs(20)).await;
    assert!(ok, "the keyed publish failed: {log}");

    wait_until(
        "three inStreamRefused events",
        Duration::from_secs(5),
        || refusals(&events_file).len() >= 3,
    )
    .await;
    let got = refusals(&events_file);
    for (event, (key, reason)) in got.iter().zip(refused) {
        let name = key.split('?').next().unwrap_or_default();
        assert_eq!(event["action"], "publish");
        assert_eq!(event["stream"], name);
        assert_eq!(event["app"], "live");
        assert!(
            event["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
            "{event}"
        );
        assert_eq!(event["reason"], reason);
        assert!(
            !event.to_string().contains("s3cret"),
            "the token leaked: {event}"
        );
    }
    server.stop.send(true).expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_needs_a_valid_key() {
    use smoothcast_tests::media::{clip, ClipSpec, Container};
    let dir = temp_dir("play");
    let (events, events_file) = events_to(&dir);
    let config = ServerConfig {
        auth: auth(r#"play = [{ stream = "*", token = "view" }]"#),
        ..ServerConfig::default()
    };
    let server = start_with(config, events, Limits::default(), 16).await;
    let media = clip(&ClipSpec {
        seconds: 12.0,
        container: Container::Flv,
        ..ClipSpec::default()
    })
    .expect("clip");
    // Publishing stays open: only play has rules.
    let _publisher = smoothcast_tests::peer::send_clip(
        &media,
        "flv",
        &format!("rtmp://{}/live/cam", server.addr),
    );
    let streams = server.state.streams.clone();
    wait_until("the publish", Duration::from_secs(10), || {
        streams
            .get("cam")
            .is_some_and(|s| s.has_video && s.has_audio)
    })
    .await;

    let (ok, log) = finish(ffmpeg_play(server.addr, "cam", 2), Duration::from_secs(10)).await;
    eprintln!("ffmpeg playing without a token: {log}");
    assert!(!ok && log.contains("not authorized"), "{log}");

    let (ok, log) = finish(
        ffmpeg_play(server.addr, "cam?token=view", 2),
        Duration::from_secs(20),
    )
    .await;
    assert!(ok, "the keyed play failed: {log}");

    wait_until("the inStreamRefused event", Duration::from_secs(5), || {
        !refusals(&events_file).is_empty()
    })
    .await;
    let got = refusals(&events_file);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["action"], "play");
    assert_eq!(got[0]["stream"], "cam");
    assert_eq!(got[0]["reason"], "no token in the stream key");
    server.stop.send(true).expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A callback on 127.0.0.1:0 answering by the stream name: `yes*` 200, `hang` never,
/// anything else 403. It keeps every body it got.
async fn callback_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/auth", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bodies = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, bodies.clone()));
        }
    });
    (url, seen)
}

async fn answer(mut socket: TcpStream, seen: Arc<Mutex<Vec<Value>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request: headers, then Content-Length bytes of body.
        let (head, len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, len);
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head + len {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&buf[head..head + len]).unwrap_or(Value::Null);
        buf.drain(..head + len);
        seen.lock().expect("lock").push(body.clone());
        let status = match body["stream"].as_str().unwrap_or_default() {
            s if s.starts_with("yes") => "200 OK",
            "hang" => std::future::pending().await,
            _ => "403 Forbidden",
        };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_decides_and_a_silent_one_refuses_after_its_timeout() {
    let (url, seen) = callback_server().await;
    let hook_timeout = Duration::from_millis(1000);
    let config = ServerConfig {
        auth: AuthConfig {
            on_publish: Some(HookUrl::try_from(url).expect("url")),
            hook_timeout_ms: hook_timeout.as_millis() as u64,
            ..AuthConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = start_with(
        config,
        crate::events::EventBus::disabled(),
        Limits::default(),
        16,
    )
    .await;
    let streams = server.state.streams.clone();

    let allowed = TestClient::publish(server.addr, "yes1?token=abc").await;
    assert!(allowed.is_ok(), "{:?}", allowed.err());
    assert!(streams.get("yes1").is_some());

    let refused = TestClient::publish(server.addr, "no1").await;
    eprintln!("refused by the callback: {:?}", refused.as_ref().err());
    assert!(refused.is_err());
    assert!(streams.get("no1").is_none());

    let asked = Instant::now();
    let hung = TestClient::publish(server.addr, "hang").await;
    let took = asked.elapsed();
    eprintln!(
        "silent callback: refused after {took:?}: {:?}",
        hung.as_ref().err()
    );
    assert!(hung.is_err());
    assert!(streams.get("hang").is_none());
    // Not before the timeout; well before the client's own 5 s read limit.
    assert!(took >= hook_timeout, "refused after {took:?}");
    assert!(
        took < hook_timeout + Duration::from_secs(3),
        "refused after {took:?}"
    );

    let bodies = seen.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    let first = &bodies[0];
    assert_eq!(first["action"], "publish");
    assert_eq!(first["protocol"], "rtmp");
    assert_eq!(first["app"], "live");
    assert_eq!(first["stream"], "yes1");
    assert_eq!(first["query"], "token=abc");
    assert_eq!(first["addr"], "127.0.0.1");
    // The allowed publisher is still on.
    assert!(streams.get("yes1").is_some());
    drop(allowed);
    server.stop.send(true).expect("stop");
}

/// With a callback configured, a publish that the static rules refuse never reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_rules_come_before_the_callback() {
    let (url, seen) = callback_server().await;
    let mut auth = auth(r#"publish = [{ stream = "yes*", token = "k" }]"#);
    auth.on_publish = Some(HookUrl::try_from(url).expect("url"));
    let config = ServerConfig {
        auth,
        ..ServerConfig::default()
    };
    let server = start_with(
        config,
        crate::events::EventBus::disabled(),
        Limits::default(),
        16,
    )
    .await;
    assert!(TestClient::publish(server.addr, "yes2").await.is_err());
    assert!(seen.lock().expect("lock").is_empty());
    let ok = TestClient::publish(server.addr, "yes2?token=k").await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    assert_eq!(seen.lock().expect("lock").len(), 1);
    server.stop.send(true).expect("stop");
}

/// `on_play`: the callback lets ffmpeg play `yescam` and refuses `nocam` (before the server
/// says whether it exists: a refused player learns nothing about which streams do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_play_callback_decides() {
    use smoothcast_tests::media::{clip, ClipSpec, Container};
    let (url, seen) = callback_server().await;
    let dir = temp_dir("on-play");
    let (events, events_file) = events_to(&dir);
    let config = ServerConfig {
        auth: AuthConfig {
            on_play: Some(HookUrl::try_from(url).expect("url")),
            ..AuthConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = start_with(config, events, Limits::default(), 16).await;
    let media = clip(&ClipSpec {
        seconds: 12.0,
        container: Container::Flv,
        ..ClipSpec::default()
    })
    .expect("clip");
    let _publisher = smoothcast_tests::peer::send_clip(
        &media,
        "flv",
        &format!("rtmp://{}/live/yescam", server.addr),
    );
    let streams = server.state.streams.clone();
    wait_until("the publish", Duration::from_secs(10), || {
        streams
            .get("yescam")
            .is_some_and(|s| s.has_video && s.has_audio)
    })
    .await;
    assert!(
        seen.lock().expect("lock").is_empty(),
        "publishing is not asked"
    );

    let (ok, log) = finish(
        ffmpeg_play(server.addr, "yescam?session=42", 2),
        Duration::from_secs(20),
    )
    .await;
    assert!(ok, "the allowed play failed: {log}");
    let (ok, log) = finish(
        ffmpeg_play(server.addr, "nocam", 2),
        Duration::from_secs(10),
    )
    .await;
    assert!(!ok && log.contains("not authorized"), "{log}");

    let bodies = seen.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["action"], "play");
    assert_eq!(bodies[0]["stream"], "yescam");
    assert_eq!(bodies[0]["query"], "session=42");
    wait_until("the inStreamRefused event", Duration::from_secs(5), || {
        !refusals(&events_file).is_empty()
    })
    .await;
    let got = refusals(&events_file);
    assert_eq!(got[0]["stream"], "nocam");
    assert_eq!(got[0]["reason"], "the play callback answered 403 Forbidden");
    server.stop.send(true).expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A callback nobody answers at (a closed port) refuses at once, not after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_callback_refuses() {
    // A port that was free a moment ago: nothing listens there now.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/auth", closed.local_addr().expect("addr"));
    drop(closed);
    let config = ServerConfig {
        auth: AuthConfig {
            on_publish: Some(HookUrl::try_from(url).expect("url")),
            hook_timeout_ms: 10_000,
            ..AuthConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = start_with(
        config,
        crate::events::EventBus::disabled(),
        Limits::default(),
        16,
    )
    .await;
    let asked = Instant::now();
    assert!(TestClient::publish(server.addr, "cam").await.is_err());
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(server.state.streams.list().is_empty());
    server.stop.send(true).expect("stop");
}
