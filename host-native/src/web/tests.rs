//! The web server in-process, on a free loopback port with a temporary web root: the cache
//! against rewrites and removals, validators, ranges, HEAD and gzip, the send timeout, the
//! per-address cap, and a reader polling a live presentation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use smoothcast_core::fragment::Fragment;

use crate::config::WebConfig;
use crate::server::AppState;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);

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

async fn start(name: &str, web: WebConfig) -> Running {
    let root = std::env::temp_dir().join(format!("smoothcast-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("mkdir");
    let root = std::fs::canonicalize(root).expect("canonical");
    let mut state = crate::api::test_support::state();
    state.config.webroot = root.clone();
    let cache = super::cache::Cache::with_lookahead(
        web.cache_bytes,
        web.cache_max_file_bytes,
        web.lookahead_memory_bytes,
    );
    state.outputs = state
        .outputs
        .clone()
        .with_web_cache(cache)
        .with_served_root(&root)
        .with_rewrite_in_place(web.live_rewrite_in_place);
    state.config.web = web;
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    tokio::spawn(super::serve(state.clone(), listener, rx));
    Running {
        addr,
        state,
        root,
        stop,
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(stream: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)]) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
}

fn parse(raw: &[u8], head: bool) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = if head {
        Vec::new()
    } else {
        raw[split + 4..].to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

async fn request_from(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let go = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        send(&mut s, method, path, headers).await;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        parse(&raw, method == "HEAD")
    };
    tokio::time::timeout(LIMIT, go).await.expect("in time")
}

/// The cache's key of a file, as the live writer gives it.
fn key(file: &std::path::Path) -> crate::web::cache::CacheKey {
    crate::web::cache::CacheKey::resolve(file).expect("its folder exists")
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request_from(addr, "GET", path, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_files_are_never_stale_and_removed_ones_are_404() {
    let s = start("stale", WebConfig::default()).await;
    let dir = s.root.join("live");
    let frag = dir.join("1000.fmp4");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cache = s.state.outputs.web_cache().clone();

    crate::disk::write_atomic(&frag, b"version-1").expect("write");
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-1");
    // Served twice: the second from memory.
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-1");
    assert!(cache.held() >= 9);

    // Replaced by rename, same length, the cache not told: the new bytes at once.
    crate::disk::write_atomic(&frag, b"version-2").expect("write");
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-2");

    // The writer's way: replaced and handed to the cache.
    crate::disk::write_atomic(&frag, b"version-3").expect("write");
    cache.store(&key(&frag), bytes::Bytes::from_static(b"version-3"));
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-3");

    // Rewritten in place by someone else, another length: never the cached bytes.
    std::fs::write(&frag, b"version-four").expect("write");
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-four");

    // Removed without telling the cache, then with: 404 both ways.
    crate::disk::write_atomic(&frag, b"version-5").expect("write");
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.body, b"version-5");
    std::fs::remove_file(&frag).expect("rm");
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.status, 404);
    crate::disk::write_atomic(&frag, b"version-6").expect("write");
    cache.store(&key(&frag), bytes::Bytes::from_static(b"version-6"));
    std::fs::remove_file(&frag).expect("rm");
    cache.remove(&key(&frag));
    assert_eq!(get(s.addr, "/live/1000.fmp4").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_ranges_head_and_gzip() {
    let s = start("headers", WebConfig::default()).await;
    let xml = format!(
        "<?xml version=\"1.0\"?><SmoothStreamingMedia IsLive=\"TRUE\">{}</SmoothStreamingMedia>",
        "<c t=\"0\" d=\"20000000\"/>".repeat(200)
    );
    std::fs::write(s.root.join("manifest.ismc"), &xml).expect("write");
    let frag: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.root.join("0.fmp4"), &frag).expect("write");

    for _ in 0..2 {
        // Once read from the disk, once from the cache: the same answers.
        let r = get(s.addr, "/0.fmp4").await;
        assert_eq!((r.status, r.body.len()), (200, frag.len()));
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let tag = r.header("etag").expect("etag").to_string();
        let lm = r
            .header("last-modified")
            .expect("last-modified")
            .to_string();

        let r = request_from(s.addr, "GET", "/0.fmp4", &[("If-None-Match", &tag)]).await;
        assert_eq!((r.status, r.body.len()), (304, 0));
        let r = request_from(s.addr, "GET", "/0.fmp4", &[("If-Modified-Since", &lm)]).await;
        assert_eq!(r.status, 304);

        let r = request_from(s.addr, "GET", "/0.fmp4", &[("Range", "bytes=10-19")]).await;
        assert_eq!(r.status, 206);
        assert_eq!(r.body, frag[10..20]);
        assert_eq!(r.header("content-range"), Some("bytes 10-19/100000"));
        let r = request_from(
            s.addr,
            "GET",
            "/0.fmp4",
            &[("Range", "bytes=10-19"), ("If-Range", "\"old\"")],
        )
        .await;
        assert_eq!((r.status, r.body.len()), (200, frag.len()));
        let r = request_from(s.addr, "GET", "/0.fmp4", &[("Range", "bytes=200000-")]).await;
        assert_eq!(r.status, 416);

        let r = request_from(s.addr, "HEAD", "/0.fmp4", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("100000"));

        // Fragments are never compressed (already dense; ranges must stay byte-exact).
        let r = request_from(s.addr, "GET", "/0.fmp4", &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.body, frag);
    }

    let plain = get(s.addr, "/manifest.ismc").await;
    assert_eq!(plain.body, xml.as_bytes());
    assert_eq!(plain.header("cache-control"), Some("no-cache"), "live");
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let gz = request_from(
        s.addr,
        "GET",
        "/manifest.ismc",
        &[("Accept-Encoding", "br, gzip")],
    )
    .await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < xml.len() / 4, "{} bytes", gz.body.len());
    let mut out = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut out)
        .expect("gunzip");
    assert_eq!(out, xml);
    let gz_tag = gz.header("etag").expect("etag");
    assert_ne!(Some(gz_tag), plain.header("etag"), "two representations");
    let r = request_from(
        s.addr,
        "GET",
        "/manifest.ismc",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", gz_tag)],
    )
    .await;
    assert_eq!(r.status, 304);
    let r = request_from(
        s.addr,
        "GET",
        "/manifest.ismc",
        &[("Accept-Encoding", "gzip;q=0")],
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, xml.as_bytes());

    // The web series on /metrics.
    let text = crate::metrics::get().render(&s.state);
    for series in [
        "smoothcast_web_requests_total{status=\"2xx\"}",
        "smoothcast_web_requests_total{status=\"3xx\"}",
        "smoothcast_web_response_seconds_bucket",
        "smoothcast_web_cache_lookups_total{result=\"hit\"}",
        "smoothcast_web_cache_bytes",
        "smoothcast_web_connections_refused_total{reason=\"per_address\"}",
        "smoothcast_bytes_out_total{kind=\"web\"}",
    ] {
        assert!(text.contains(series), "{series} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_timeout_closes_a_client_that_never_reads() {
    let web = WebConfig {
        send_timeout_secs: 1.0,
        cache_max_file_bytes: 1024 * 1024,
        ..WebConfig::default()
    };
    let s = start("sendtimeout", web).await;
    // Far more than the loopback socket buffers hold: the server's writes must block.
    let big = vec![7u8; 32 * 1024 * 1024];
    std::fs::write(s.root.join("big.ismv"), &big).expect("write");
    std::fs::write(s.root.join("small.txt"), b"hello").expect("write");

    let mut stuck = TcpStream::connect(s.addr).await.expect("connect");
    send(&mut stuck, "GET", "/big.ismv", &[]).await;
    // Meanwhile a normal client is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(s.addr, "/small.txt").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    // Well past the timeout, the stuck client reads: what was buffered, then the end,
    // long before the whole body.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let drained = tokio::time::timeout(LIMIT, async {
        let mut n = 0usize;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match stuck.read(&mut buf).await {
                Ok(0) | Err(_) => return n,
                Ok(k) => n += k,
            }
        }
    })
    .await
    .expect("the connection was closed");
    assert!(
        drained < big.len(),
        "closed after {drained} of {} bytes",
        big.len()
    );
}

/// A connection from `from` that has been served once and stays open.
async fn held_connection(addr: SocketAddr, from: &str) -> Option<TcpStream> {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind");
    let mut s = sock.connect(addr).await.ok()?;
    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let read = async {
        while !got.ends_with(b"hello") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    let served = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or(false);
    served.then_some(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_cap_refuses_the_excess_only() {
    let web = WebConfig {
        max_connections_per_address: 2,
        ..WebConfig::default()
    };
    let s = start("peraddr", web).await;
    std::fs::write(s.root.join("small.txt"), b"hello").expect("write");
    let a = held_connection(s.addr, "127.0.0.1").await.expect("first");
    let _b = held_connection(s.addr, "127.0.0.1").await.expect("second");
    assert!(
        held_connection(s.addr, "127.0.0.1").await.is_none(),
        "a third from the same address is closed"
    );
    // Another address (all of 127/8 is loopback on Linux) is served meanwhile.
    let _c = held_connection(s.addr, "127.0.0.2")
        .await
        .expect("another address");
    // A slot comes back when its connection closes.
    drop(a);
    let again = async {
        loop {
            if held_connection(s.addr, "127.0.0.1").await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(LIMIT, again)
        .await
        .expect("served again after a close");
}

/// A reader polling a live presentation (the embedded demo clip, packaged as it plays):
/// every fragment each fetched manifest lists is there, whole, through the IIS URLs, and so
/// are the fragments its tfrf announces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_manifest_and_fragments_stay_consistent() {
    live_reader("live", WebConfig::default()).await;
}

/// As above, with look-ahead versions in memory (`web::lookahead`): the announced fragments
/// come from memory, and the disk holds last versions only, each written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_lookahead_from_memory() {
    let web = WebConfig {
        lookahead_memory_bytes: 64 << 20,
        live_rewrite_in_place: false,
        ..WebConfig::default()
    };
    live_reader("live-memory", web).await;
}

async fn live_reader(name: &str, web: WebConfig) {
    let memory = web.lookahead_memory_bytes > 0;
    let s = start(name, web).await;
    let (_stop_tx, stop_rx) = watch::channel(false);
    let streams = s.state.streams.clone();
    tokio::spawn(crate::ingest::file::play(
        streams,
        crate::ingest::file::Source::Embedded {
            name: "demo.mp4",
            data: include_bytes!("../../../media/demo.mp4"),
        },
        "demo".into(),
        true,
        stop_rx,
    ));
    let mut params = crate::outputs::MssParams::with_defaults(
        vec!["demo".into()],
        s.root.display().to_string(),
        "demo".into(),
    );
    params.playlist_type = crate::outputs::PlaylistType::Rolling;
    params.chunk_length = 1;
    params.playlist_length = 2;
    params.stale_retention_count = 1;
    params.bandwidths = vec![500_000];
    params.cleanup_destination = true;
    s.state.outputs.create_mss(params).expect("output");

    // Until four manifest versions were seen (about four chunks), within a bound.
    let until = tokio::time::Instant::now() + LIMIT;
    let (mut polls, mut fetched, mut versions) = (0, 0, std::collections::HashSet::new());
    let mut from_memory = 0;
    while tokio::time::Instant::now() < until && versions.len() < 4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = get(s.addr, "/demo/Manifest").await;
        if r.status == 404 {
            continue; // not written yet
        }
        assert_eq!(r.status, 200);
        polls += 1;
        versions.insert(r.body.clone());
        let text = String::from_utf8(r.body).expect("utf-8");
        let m = smoothcast_core::manifest::parse(&text).expect("a whole manifest");
        for si in &m.stream_indexes {
            for q in &si.quality_levels {
                for c in &si.chunks {
                    let url = format!(
                        "/demo/QualityLevels({})/Fragments({}={})",
                        q.bitrate, si.name, c.t
                    );
                    let f = get(s.addr, &url).await;
                    assert_eq!(f.status, 200, "{url} listed but not served");
                    assert!(f.body.len() > 8, "{url}: {} bytes", f.body.len());
                    fetched += 1;
                    if Some(c) != si.chunks.last() {
                        continue;
                    }
                    let tfrf = Fragment::decode(&f.body)
                        .ok()
                        .and_then(|f| f.moof.traf.tfrf)
                        .expect("a live fragment with tfrf");
                    assert_eq!(tfrf.entries.len(), 2, "{url}: a listed fragment is final");
                    for e in tfrf.entries {
                        let url = format!(
                            "/demo/QualityLevels({})/Fragments({}={})",
                            q.bitrate, si.name, e.time
                        );
                        let f = get(s.addr, &url).await;
                        assert_eq!(f.status, 200, "{url} announced but not served");
                        if f.header("cache-control") == Some("no-cache") {
                            from_memory += 1;
                        }
                    }
                }
            }
        }
        // What an external web server would read.
        for (file, data) in fragment_files(&s.root.join("demo")) {
            let entries = Fragment::decode(&data)
                .ok()
                .and_then(|f| f.moof.traf.tfrf)
                .map(|t| t.entries.len());
            let expected: &[usize] = if memory { &[2] } else { &[0, 1, 2] };
            assert!(
                entries.is_some_and(|n| expected.contains(&n)),
                "{file:?} on disk with {entries:?} tfrf entries"
            );
        }
    }
    let held = s.state.outputs.web_cache().lookahead().held();
    if memory {
        assert!(
            from_memory > 0,
            "no look-ahead version was served from memory"
        );
        assert!(held > 0);
    } else {
        assert_eq!(
            (from_memory, held),
            (0, 0),
            "nothing in memory when it is off"
        );
    }
    assert!(polls >= 4, "{polls} manifest polls");
    assert!(
        versions.len() >= 4,
        "{} manifest versions seen",
        versions.len()
    );
    assert!(fetched > 10, "{fetched} fragments fetched");
}

/// Every `.fmp4` file under `dir`, with its bytes.
fn fragment_files(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "fmp4") {
                if let Ok(data) = std::fs::read(&p) {
                    out.push((p, data));
                }
            }
        }
    }
    out
}

/// One response read off a keep-alive connection: its head, then `Content-Length` bytes.
async fn read_reply(stream: &mut TcpStream, head_only: bool) -> Reply {
    let go = async {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("read");
            assert_eq!(n, 1, "closed inside a head");
            raw.push(byte[0]);
        }
        let mut r = parse(&raw, true);
        if !head_only {
            let len: usize = r
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            r.body = vec![0u8; len];
            stream.read_exact(&mut r.body).await.expect("body");
        }
        r
    };
    tokio::time::timeout(LIMIT, go).await.expect("in time")
}

async fn ask(stream: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    read_reply(stream, method == "HEAD").await
}

/// The way players use the port: one keep-alive connection, the same targets again and
/// again (the ready responses of `web::hot`), while files are replaced and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_ready_responses_follow_the_files() {
    let s = start("keepalive", WebConfig::default()).await;
    let dir = s.root.join("live");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cache = s.state.outputs.web_cache().clone();
    // Large enough to go out with sendfile, and a small one from memory.
    let big = |v: u8| vec![v; 40_000];
    let frag = dir.join("1000.fmp4");
    crate::disk::write_atomic(&frag, &big(1)).expect("write");
    crate::disk::write_atomic(&dir.join("a.txt"), b"small-1").expect("write");
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    let ready = crate::metrics::get().web_ready_count();

    for _ in 0..3 {
        let r = ask(&mut c, "GET", "/live/1000.fmp4", &[]).await;
        assert_eq!((r.status, r.body.as_slice()), (200, big(1).as_slice()));
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert!(r.header("date").is_some_and(|d| d.ends_with("GMT")));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let r = ask(&mut c, "GET", "/live/a.txt", &[]).await;
        assert_eq!(r.body, b"small-1");
    }
    // The first of each was described from the file, the others sent ready.
    assert!(crate::metrics::get().web_ready_count() >= ready + 4);
    // Replaced by rename, same length, the cache not told: the new bytes at once.
    crate::disk::write_atomic(&frag, &big(2)).expect("write");
    assert_eq!(
        ask(&mut c, "GET", "/live/1000.fmp4", &[]).await.body,
        big(2)
    );
    assert_eq!(
        ask(&mut c, "GET", "/live/1000.fmp4", &[]).await.body,
        big(2)
    );
    // The writer's way.
    crate::disk::write_atomic(&frag, &big(3)).expect("write");
    cache.store(&key(&frag), bytes::Bytes::from(big(3)));
    assert_eq!(
        ask(&mut c, "GET", "/live/1000.fmp4", &[]).await.body,
        big(3)
    );
    // Rewritten in place, another length.
    std::fs::write(dir.join("a.txt"), b"small-two").expect("write");
    assert_eq!(
        ask(&mut c, "GET", "/live/a.txt", &[]).await.body,
        b"small-two"
    );
    // HEAD from a ready response: the head only, and the connection stays in step.
    let r = ask(&mut c, "HEAD", "/live/1000.fmp4", &[]).await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("40000")));
    // Conditional and ranged requests on the same connection.
    let tag = r.header("etag").expect("etag").to_string();
    let r = ask(&mut c, "GET", "/live/1000.fmp4", &[("If-None-Match", &tag)]).await;
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = ask(&mut c, "GET", "/live/1000.fmp4", &[("Range", "bytes=5-9")]).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &big(3)[5..10]));
    // Removed: 404 on the next request.
    std::fs::remove_file(&frag).expect("rm");
    let r = ask(&mut c, "GET", "/live/1000.fmp4", &[]).await;
    assert_eq!(r.status, 404);

    // A manifest asked for with and without gzip, each twice: each client its form.
    let xml = format!(
        "<?xml version=\"1.0\"?><SmoothStreamingMedia IsLive=\"TRUE\">{}</SmoothStreamingMedia>",
        "<c d=\"20000000\"/>".repeat(100)
    );
    std::fs::write(dir.join("manifest.ismc"), &xml).expect("write");
    for _ in 0..2 {
        let r = ask(
            &mut c,
            "GET",
            "/live/Manifest",
            &[("Accept-Encoding", "gzip")],
        )
        .await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let r = ask(&mut c, "GET", "/live/Manifest", &[]).await;
        assert_eq!(
            (r.header("content-encoding"), r.body.as_slice()),
            (None, xml.as_bytes())
        );
    }

    // Pipelined: three requests in one write, three answers in order.
    c.write_all(
        b"GET /live/a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /live/none HTTP/1.1\r\nHost: t\r\n\r\nHEAD /live/a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .expect("send");
    assert_eq!(read_reply(&mut c, false).await.body, b"small-two");
    assert_eq!(read_reply(&mut c, false).await.status, 404);
    assert_eq!(read_reply(&mut c, true).await.status, 200);

    // A HEAD answered with an error: no body follows its head (the error page would be
    // read as the next response).
    let r = ask(&mut c, "HEAD", "/live/none", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        ask(&mut c, "GET", "/live/a.txt", &[]).await.body,
        b"small-two"
    );

    // A request with a body is hyper's: it answers, and then serves the rest.
    c.write_all(b"POST /live/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .expect("send");
    let r = read_reply(&mut c, false).await;
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    assert_eq!(
        ask(&mut c, "GET", "/live/a.txt", &[]).await.body,
        b"small-two"
    );
}

/// A client that sends half a request head and stops is closed at the header timeout,
/// while others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_at_the_header_timeout() {
    let web = WebConfig {
        header_timeout_secs: 1.0,
        ..WebConfig::default()
    };
    let s = start("headertimeout", web).await;
    std::fs::write(s.root.join("a.txt"), b"hello").expect("write");
    let mut slow = TcpStream::connect(s.addr).await.expect("connect");
    slow.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .expect("send");
    let r = get(s.addr, "/a.txt").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(LIMIT, slow.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection is closed the same way.
    let mut idle = TcpStream::connect(s.addr).await.expect("connect");
    assert_eq!(ask(&mut idle, "GET", "/a.txt", &[]).await.body, b"hello");
    let n = tokio::time::timeout(LIMIT, idle.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
}
