//! The receiver in-process: the web server on a free loopback port with a temporary web
//! root, fed ffmpeg's real ingest body (media/ingest_ffmpeg.ismv) over raw HTTP, chunked in
//! odd pieces. Resends, time going back, hostile bodies, the probe, auth and the idle limit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Points;
use crate::auth::Authorizer;
use crate::config::smooth_ingest::SmoothIngestConfig;
use crate::server::AppState;
use crate::streams::StreamNotice;

/// Every wait here is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);

const FFMPEG: &[u8] = include_bytes!("../../../../media/ingest_ffmpeg.ismv");

const TFXD: [u8; 16] = smoothcast_core::fragment::tfxd::TFXD_UUID;

struct Running {
    addr: SocketAddr,
    state: Arc<AppState>,
    root: PathBuf,
    stop: watch::Sender<bool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.state.outputs.shutdown_all();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn start(name: &str, cfg: SmoothIngestConfig, auth: &str) -> Running {
    let root =
        std::env::temp_dir().join(format!("smoothcast-ingest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("mkdir");
    let root = std::fs::canonicalize(root).expect("canonical");
    let mut state = crate::api::test_support::state();
    state.config.webroot = root.clone();
    state.config.auth = toml::from_str(auth).expect("auth");
    state.smooth_ingest = Points::new(
        cfg,
        Authorizer::new(&state.config.auth, crate::events::EventBus::disabled()),
    );
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    tokio::spawn(crate::web::serve(state.clone(), listener, rx));
    Running {
        addr,
        state,
        root,
        stop,
    }
}

/// No packaging: these tests are about the POSTs.
fn cfg() -> SmoothIngestConfig {
    SmoothIngestConfig {
        package: false,
        ..Default::default()
    }
}

/// POSTs `body` chunked in `piece`-byte chunks (as ffmpeg sends, `Connection: close`) and
/// returns the status, or 0 if the server closed without one. Stops sending once the server
/// answers (it answers errors before the body ends).
async fn post(addr: SocketAddr, path: &str, body: &[u8], piece: usize) -> u16 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nUser-Agent: Lavf/59.27.100\r\n\
         Accept: */*\r\nConnection: close\r\nHost: {addr}\r\nIcy-MetaData: 1\r\n\r\n"
    );
    let send = async {
        s.write_all(head.as_bytes()).await?;
        for c in body.chunks(piece.max(1)) {
            s.write_all(format!("{:x}\r\n", c.len()).as_bytes()).await?;
            s.write_all(c).await?;
            s.write_all(b"\r\n").await?;
        }
        s.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(LIMIT, send)
        .await
        .expect("sent in time");
    read_status(&mut s).await
}

async fn read_status(s: &mut TcpStream) -> u16 {
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(LIMIT, s.read_to_end(&mut reply))
        .await
        .expect("answered in time");
    let text = String::from_utf8_lossy(&reply);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The body with every tfxd time moved by `offset` (10 MHz ticks).
fn shifted(offset: i64) -> Vec<u8> {
    let mut b = FFMPEG.to_vec();
    let mut at = 0;
    while let Some(i) = b[at..].windows(16).position(|w| w == TFXD) {
        let t = at + i + 16 + 4;
        let old = i64::from_be_bytes(b[t..t + 8].try_into().expect("8 bytes"));
        b[t..t + 8].copy_from_slice(&(old + offset).to_be_bytes());
        at = t;
    }
    b
}

/// Names of the streams created since `rx` subscribed.
fn created(rx: &mut tokio::sync::broadcast::Receiver<StreamNotice>) -> Vec<String> {
    let mut names = Vec::new();
    while let Ok(n) = rx.try_recv() {
        if let StreamNotice::Created { name, .. } = n {
            names.push(name);
        }
    }
    names
}

/// Where the capture's first fragment (video moof + mdat) ends.
const FIRST_FRAGMENT_END: usize = 24 + 1565 + 1254 + 160 + 4691;

/// A POST sent in two parts: through the first fragment (the stream exists then), and the
/// rest once `between` has run.
struct Paused {
    s: TcpStream,
}

impl Paused {
    async fn open(addr: SocketAddr, path: &str) -> Self {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nHost: t\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        let mut p = Self { s };
        p.send(&FFMPEG[..=FIRST_FRAGMENT_END]).await;
        p
    }

    async fn send(&mut self, data: &[u8]) {
        for c in data.chunks(1000) {
            let chunk = [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat();
            self.s.write_all(&chunk).await.expect("chunk");
        }
    }

    async fn finish(mut self) -> u16 {
        self.send(&FFMPEG[FIRST_FRAGMENT_END + 1..]).await;
        self.s.write_all(b"0\r\n\r\n").await.expect("end");
        read_status(&mut self.s).await
    }
}

/// Counts the samples of local stream `name` from the moment it exists until it ends.
fn count_samples(r: &Running, name: &str) -> tokio::task::JoinHandle<usize> {
    let streams = r.state.streams.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Some(mut rx) = streams.subscribe(&name) {
                let mut samples = 0;
                while let Some(d) = rx.recv().await {
                    if let crate::streams::StreamItem::Sample(_) = d.item {
                        samples += 1;
                    }
                }
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        0
    })
}

async fn wait_stream(r: &Running, name: &str) {
    let deadline = Instant::now() + LIMIT;
    while r.state.streams.get(name).is_none() {
        assert!(Instant::now() < deadline, "{name} never appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_push_is_a_local_stream_and_resends_are_dropped() {
    let r = start("push", cfg(), "").await;
    let mut notices = r.state.streams.notices();
    // What the stream carries after its first fragment, as an output would see it.
    let counter = count_samples(&r, "pp_cam");
    let p = Paused::open(r.addr, "/pp.isml/Streams(cam)").await;
    wait_stream(&r, "pp_cam").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(p.finish().await, 200);
    let single = tokio::time::timeout(LIMIT, counter)
        .await
        .expect("counted")
        .expect("task");
    // The three fragments after the first: 5 video frames and the AAC frames around them.
    assert!(single > 5, "samples carried: {single}");

    // Two redundant encoders on one id (the second sends everything while the first
    // pauses): the stream carries each fragment once.
    let counter = count_samples(&r, "pp_red");
    let p = Paused::open(r.addr, "/pp.isml/Streams(red)").await;
    wait_stream(&r, "pp_red").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(red)", FFMPEG, 512).await,
        200
    );
    assert!(
        r.state.streams.get("pp_red").is_some(),
        "the first POST holds it"
    );
    assert_eq!(p.finish().await, 200);
    let redundant = tokio::time::timeout(LIMIT, counter)
        .await
        .expect("counted")
        .expect("task");
    assert_eq!(redundant, single, "one copy of each fragment");
    let mut names = created(&mut notices);
    names.sort();
    assert_eq!(names, ["pp_cam", "pp_red"]);
    notices = r.state.streams.notices();
    // The POST is over: the stream ended with it.
    assert!(r.state.streams.get("pp_cam").is_none());
    assert_eq!(
        r.state.smooth_ingest.streams_of("pp.isml"),
        ["pp_cam", "pp_red"]
    );

    // A reconnect resending the same fragments: accepted, nothing new, no stream made.
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(cam)", FFMPEG, 777).await,
        200
    );
    assert!(created(&mut notices).is_empty(), "only resends: no media");
    // Continuing the timeline: a new stream of the same name.
    let later = shifted(10_000_000);
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(cam)", &later, 4096).await,
        200
    );
    assert_eq!(created(&mut notices), ["pp_cam"]);
    // Restarting at 0 goes back in time: 409, and no stream.
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(cam)", FFMPEG, 4096).await,
        409
    );
    assert!(created(&mut notices).is_empty());
    // Another id of the point has its own timeline; so has another point.
    assert_eq!(post(r.addr, "/pp.isml/streams(lo)", FFMPEG, 50).await, 200);
    assert_eq!(
        post(
            r.addr,
            "/live/other.isml/Events(e1)/Streams(cam)",
            FFMPEG,
            50
        )
        .await,
        200
    );
    assert_eq!(created(&mut notices), ["pp_lo", "other_cam"]);
}

#[tokio::test]
async fn hostile_posts_get_4xx_and_touch_nothing() {
    let c = SmoothIngestConfig {
        idle_timeout_secs: 1.0,
        ..cfg()
    };
    let r = start("hostile", c, "").await;
    // A live stream of the same point, open through everything below: the rest of its
    // body trickles in (200 bytes every 150 ms: ~4 s), within the idle limit.
    let mut live = Paused::open(r.addr, "/a.isml/Streams(live)").await;
    wait_stream(&r, "a_live").await;
    let live = tokio::spawn(async move {
        for c in FFMPEG[FIRST_FRAGMENT_END + 1..].chunks(200) {
            tokio::time::sleep(Duration::from_millis(150)).await;
            live.send(c).await;
        }
        live.s.write_all(b"0\r\n\r\n").await.expect("end");
        read_status(&mut live.s).await
    });
    let mut notices = r.state.streams.notices();
    // Garbage.
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert_eq!(post(r.addr, "/a.isml/Streams(x)", &garbage, 100).await, 400);
    // A box claiming 2^40 bytes: refused at its header, before the body is sent.
    let mut huge = FFMPEG[..24].to_vec();
    huge.extend([0, 0, 0, 1, b'u', b'u', b'i', b'd']);
    huge.extend((1u64 << 40).to_be_bytes());
    huge.extend(vec![0; 100_000]);
    assert_eq!(post(r.addr, "/a.isml/Streams(x)", &huge, 1000).await, 400);
    // No live server manifest (ftyp then moov).
    let lsm = u32::from_be_bytes(FFMPEG[24..28].try_into().expect("4")) as usize;
    let mut no_lsm = FFMPEG[..24].to_vec();
    no_lsm.extend(&FFMPEG[24 + lsm..]);
    assert_eq!(post(r.addr, "/a.isml/Streams(x)", &no_lsm, 500).await, 400);
    // A bad id; a URL that is no ingest URL.
    assert_eq!(
        post(r.addr, "/a.isml/Streams(a%20b)", FFMPEG, 500).await,
        400
    );
    assert_eq!(post(r.addr, "/a.mp4", FFMPEG, 500).await, 405);
    // Slowloris: the header, a few bytes, then nothing: 408 after the idle limit.
    let started = Instant::now();
    let mut s = TcpStream::connect(r.addr).await.expect("connect");
    s.write_all(b"POST /a.isml/Streams(slow) HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: t\r\n\r\n4\r\n\0\0\0\x18\r\n")
        .await
        .expect("send");
    assert_eq!(read_status(&mut s).await, 408);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing was made by any of them, and the live stream went on.
    assert!(created(&mut notices).is_empty());
    assert_eq!(r.state.smooth_ingest.streams_of("a.isml"), ["a_live"]);
    assert!(r.state.streams.get("a_live").is_some());
    assert_eq!(live.await.expect("task"), 200);
    // Too many tracks for the configured limit: 415.
    let one = SmoothIngestConfig {
        max_tracks: 1,
        ..cfg()
    };
    let r1 = start("hostile-tracks", one, "").await;
    assert_eq!(post(r1.addr, "/a.isml/Streams(x)", FFMPEG, 500).await, 415);
    // The server still takes a good push.
    assert_eq!(
        post(r.addr, "/a.isml/Streams(good)", FFMPEG, 333).await,
        200
    );
    assert_eq!(created(&mut notices), ["a_good"]);
}

#[tokio::test]
async fn probe_auth_and_the_post_cap() {
    let auth = "[[publish]]\nstream = \"pp_*\"\napp = \"pp.isml\"\ntoken = \"s3cret\"\n";
    let r = start("auth", cfg(), auth).await;
    // The empty probe: 200 when allowed, 403 when not.
    let mut s = TcpStream::connect(r.addr).await.expect("connect");
    s.write_all(b"POST /pp.isml/Streams(a)?token=s3cret HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\nHost: t\r\n\r\n")
        .await
        .expect("send");
    assert_eq!(read_status(&mut s).await, 200);
    assert_eq!(post(r.addr, "/pp.isml/Streams(a)", FFMPEG, 999).await, 403);
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(a)?token=wrong", FFMPEG, 999).await,
        403
    );
    assert_eq!(
        post(r.addr, "/pp.isml/Streams(a)?token=s3cret", FFMPEG, 999).await,
        200
    );
    // Another point's names are not covered by any rule.
    assert_eq!(post(r.addr, "/qq.isml/Streams(a)", FFMPEG, 999).await, 403);

    // max_streams_per_point 1: a second id of a point gets 503, another point does not.
    let one_id = SmoothIngestConfig {
        max_streams_per_point: 1,
        ..cfg()
    };
    let r2 = start("ids", one_id, "").await;
    assert_eq!(post(r2.addr, "/pp.isml/Streams(a)", FFMPEG, 999).await, 200);
    assert_eq!(post(r2.addr, "/pp.isml/Streams(b)", FFMPEG, 999).await, 503);
    assert_eq!(post(r2.addr, "/qq.isml/Streams(b)", FFMPEG, 999).await, 200);

    // shutdownStream ends a pushed stream: its POST is answered 503 and closed.
    // (A later timeline: the id's first POST above sent the capture's own times.)
    let deadline = Instant::now() + LIMIT;
    let later = shifted(50_000_000);
    let mut s = TcpStream::connect(r2.addr).await.expect("connect");
    s.write_all(
        b"POST /pp.isml/Streams(a) HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: t\r\n\r\n",
    )
    .await
    .expect("head");
    let part = &later[..=FIRST_FRAGMENT_END];
    s.write_all(&[format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat())
        .await
        .expect("part");
    while r2.state.streams.get("pp_a").is_none() {
        assert!(Instant::now() < deadline, "pp_a never appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(r2.state.streams.request_shutdown("pp_a"));
    assert_eq!(read_status(&mut s).await, 503);
    assert!(r2.state.streams.get("pp_a").is_none());

    // max_posts 1: a second POST while one is open gets 503.
    let one = SmoothIngestConfig {
        max_posts: 1,
        ..cfg()
    };
    let r1 = start("cap", one, "").await;
    let mut open = TcpStream::connect(r1.addr).await.expect("connect");
    open.write_all(
        b"POST /pp.isml/Streams(a) HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: t\r\n\r\n18\r\n",
    )
    .await
    .expect("send");
    open.write_all(&FFMPEG[..24]).await.expect("ftyp");
    open.write_all(b"\r\n").await.expect("crlf");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(post(r1.addr, "/pp.isml/Streams(b)", FFMPEG, 999).await, 503);
    drop(open);
}

/// The point's presentation starts with the streams there after `gather_ms`, and restarts
/// with a stream that joins later.
#[tokio::test]
async fn a_late_stream_joins_the_points_presentation() {
    let c = SmoothIngestConfig {
        gather_ms: 100,
        ..Default::default()
    };
    let r = start("late", c, "").await;
    // The configs listConfig shows: (group, stream, bandwidth).
    let state = r.state.clone();
    let until = |want: &'static [&'static str]| {
        let state = state.clone();
        async move {
            let deadline = Instant::now() + LIMIT;
            loop {
                let configs: Vec<_> = state
                    .outputs
                    .list_mss()
                    .into_iter()
                    .map(|c| (c.params.group_name, c.local_stream_name, c.bandwidth))
                    .collect();
                let streams: Vec<&str> = configs.iter().map(|c| c.1.as_str()).collect();
                if streams == want && state.smooth_ingest.packaged("lj.isml") == want {
                    // One group in the point's folder, at the manifests' bitrates (made
                    // distinct: the capture's two copies say 20000 each).
                    assert!(configs.iter().all(|c| c.0 == "lj.isml"), "{configs:?}");
                    let mut rates: Vec<u32> = configs.iter().map(|c| c.2).collect();
                    rates.dedup();
                    assert_eq!(rates.len(), want.len(), "{configs:?}");
                    assert!(
                        rates.iter().all(|&b| (20_000..20_010).contains(&b)),
                        "{configs:?}"
                    );
                    return;
                }
                assert!(Instant::now() < deadline, "{configs:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let a = Paused::open(r.addr, "/lj.isml/Streams(a)").await;
    until(&["lj_a"]).await;
    let b = Paused::open(r.addr, "/lj.isml/Streams(b)").await;
    until(&["lj_a", "lj_b"]).await;
    assert_eq!(a.finish().await, 200);
    assert_eq!(b.finish().await, 200);
}
