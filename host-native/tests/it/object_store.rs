//! Object storage end to end (issue 18): a real S3-compatible store (SeaweedFS, started once
//! per test binary by `smoothcast_tests::s3`), `smoothcast package` and live outputs
//! writing `s3://` target folders, stateless origins (`serve --webroot s3://...`) behind
//! Debian's nginx as the CDN stand-in, a store that stalls for 10 s, and the lease that
//! lets one node publish a presentation.
//!
//! Skipped without a store, except under `CI` (see `smoothcast_tests::s3`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

use smoothcast::config::object_store::ObjectStoreConfig;
use smoothcast::store::{Location, Mode, Store, StoreError};
use smoothcast_core::manifest::Manifest;
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::peer::LiveEncode;
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::s3::{self, S3};
use smoothcast_tests::server::{http_get, http_request, Server};
use smoothcast_tests::{wait_for, TempDir};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_smoothcast"))
}

/// The store, checked once to honour conditional writes and ranges (§5 of the reference:
/// a store that ignores `If-None-Match` would let the lease test pass for the wrong
/// reason), through the same client the server uses.
fn store() -> Option<&'static S3> {
    static CHECKED: OnceLock<()> = OnceLock::new();
    let s = s3::store()?;
    CHECKED.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let st = handle(s, &unique("conformance"));
        rt.block_on(async {
            // Each version's bytes differ: an ETag is the content's MD5.
            let put = |body: &'static [u8], mode| {
                st.put(
                    "k",
                    bytes::Bytes::from_static(body),
                    "text/plain",
                    "no-store",
                    mode,
                )
            };
            let first = put(b"0123456789", Mode::Create)
                .await
                .expect("create")
                .expect("etag");
            assert!(
                matches!(
                    put(b"x", Mode::Create).await,
                    Err(StoreError::AlreadyExists)
                ),
                "If-None-Match: * ignored"
            );
            put(b"9876543210", Mode::Update(first.clone()))
                .await
                .expect("If-Match on the current ETag");
            assert!(
                matches!(
                    put(b"y", Mode::Update(first)).await,
                    Err(StoreError::Precondition)
                ),
                "stale If-Match ignored"
            );
            assert_eq!(
                &st.get_range("k", 2..5).await.expect("range")[..],
                b"765",
                "ranged GET"
            );
            assert_eq!(st.len("k").await.expect("head"), 10);
            // A ranged reader (the just-in-time packager's source) is pinned to its version.
            {
                use smoothcast::web::jit::RangeSource;
                let r = st.ranged("k").await.expect("ranged");
                assert_eq!(&r.read_at(1, 3).await.expect("read")[..], b"876");
                put(b"0000000000", Mode::Overwrite).await.expect("put");
                assert!(r.read_at(1, 3).await.is_err(), "a replaced object was read");
            }
            st.delete("k").await.expect("delete");
        });
    });
    Some(s)
}

fn config(s: &S3) -> ObjectStoreConfig {
    ObjectStoreConfig {
        endpoint: Some(s.endpoint.clone()),
        region: Some(s3::REGION.into()),
        access_key_id: Some(s3::ACCESS_KEY.into()),
        secret_access_key: Some(s3::SECRET_KEY.into()),
        allow_http: Some(true),
        ..Default::default()
    }
}

/// A client on `s3://<bucket>/<prefix>`, as the server makes it.
fn handle(s: &S3, prefix: &str) -> Store {
    let location = Location::parse(&s.url(prefix)).expect("location");
    Store::connect(&location, &config(s)).expect("client")
}

/// A prefix no other test or run uses.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// An origin: `serve --webroot s3://...` (its local config folder in `dir`).
fn origin(s: &S3, dir: &Path, name: &str, prefix: &str) -> Server {
    let local = dir.join(name);
    Server::start(
        exe(),
        &local,
        &s.config_toml(),
        &["--webroot", &s.url(prefix)],
    )
    .expect("origin")
}

#[test]
fn vod_packaged_to_s3_plays_through_an_s3_origin() {
    let Some(s) = store() else { return };
    let clip = media::clip(&ClipSpec {
        seconds: 12.0,
        ..ClipSpec::default()
    })
    .expect("clip");
    let dir = TempDir::new("s3-vod");
    let prefix = unique("vod");

    // A mistyped location is refused, and no folder named `s3:` appears.
    let out = Command::new(exe())
        .current_dir(dir.path())
        .args([
            "package",
            "--target-folder",
            "s3:/oops",
            "--group-name",
            "g",
        ])
        .arg(&clip)
        .envs(s.env())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        !dir.path().join("s3:").exists(),
        "a local folder named s3: was made"
    );

    let out = Command::new(exe())
        .args([
            "package",
            "--target-folder",
            &s.url(&prefix),
            "--group-name",
            "g",
        ])
        .arg(&clip)
        .envs(s.env())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same file packaged into a folder: the store must hold the same bytes.
    let local = dir.path().join("local");
    let out = Command::new(exe())
        .args(["package", "--target-folder"])
        .arg(&local)
        .args(["--group-name", "g"])
        .arg(&clip)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let o = origin(s, dir.path(), "origin", &prefix);
    let web = o.addr("web");
    let m = http_get(web, "/g/Manifest").expect("manifest");
    assert_eq!(m.status, 200);
    assert_eq!(m.header("content-type"), "application/vnd.ms-sstr+xml");
    let local_manifest = std::fs::read(local.join("g/manifest.ismc")).expect("local manifest");
    assert_eq!(
        m.body, local_manifest,
        "the manifest in the store is the packaged one"
    );
    let parsed: Manifest =
        smoothcast_core::manifest::parse(&String::from_utf8_lossy(&m.body)).expect("parse");
    let video = &parsed.stream_indexes[0];
    let (q, c) = (&video.quality_levels[0], &video.chunks[1]);
    let url = format!("/g/QualityLevels({})/Fragments(video={})", q.bitrate, c.t);
    let f = http_get(web, &url).expect("fragment");
    assert_eq!(f.status, 200, "{url}");
    let file = local.join("g").join(
        video
            .url
            .replace("{bitrate}", &q.bitrate.to_string())
            .replace("{start time}", &c.t.to_string()),
    );
    assert_eq!(
        f.body,
        std::fs::read(&file).expect("local fragment"),
        "byte-identical"
    );
    assert!(f.header("cache-control").contains("immutable"));
    // The objects themselves carry their type and caching (a CDN may read the store directly).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let st = handle(s, &prefix);
    let rel = format!(
        "g/{}",
        video
            .url
            .replace("{bitrate}", &q.bitrate.to_string())
            .replace("{start time}", &c.t.to_string())
    );
    let obj = rt
        .block_on(st.get(&rel, None))
        .expect("get")
        .expect("object");
    assert_eq!(obj.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(
        obj.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    let obj = rt
        .block_on(st.get("g/manifest.ismc", None))
        .expect("get")
        .expect("object");
    assert_eq!(
        obj.content_type.as_deref(),
        Some("application/vnd.ms-sstr+xml")
    );
    assert_eq!(obj.cache_control.as_deref(), Some("public, max-age=60"));
    // Conditional GET with the store's ETag, from this origin or any other.
    let etag = f.header("etag").to_string();
    let again = http_request(web, "GET", &url, &[("If-None-Match", &etag)]).expect("get");
    assert_eq!(again.status, 304);
    // FragmentInfo: the moof alone.
    let info = http_get(web, &url.replace("Fragments(", "FragmentInfo(")).expect("info");
    assert_eq!(info.status, 200);
    assert_eq!(&info.body[4..8], b"moof");
    // Just in time from the store: the MP4 itself as an object, served as Smooth Streaming
    // at `<file>.mp4/...` with the same bytes as the packaged presentation (ranged GETs).
    // Under the clip's own name: the manifest's Url templates carry the file's stem.
    let clip_name = clip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("clip name");
    rt.block_on(st.put(
        &format!("clips/{clip_name}"),
        std::fs::read(&clip).expect("clip").into(),
        "video/mp4",
        "no-cache",
        Mode::Overwrite,
    ))
    .expect("upload the MP4");
    let jit = http_get(web, &format!("/clips/{clip_name}/Manifest")).expect("jit manifest");
    assert_eq!(jit.status, 200, "{}", String::from_utf8_lossy(&jit.body));
    assert_eq!(
        jit.body, local_manifest,
        "the JIT manifest is the packaged one"
    );
    let jit_url = format!(
        "/clips/{clip_name}/QualityLevels({})/Fragments(video={})",
        q.bitrate, c.t
    );
    let jf = http_get(web, &jit_url).expect("jit fragment");
    assert_eq!(jf.status, 200, "{jit_url}");
    assert_eq!(
        jf.body, f.body,
        "{jit_url}: byte-identical to the packaged fragment"
    );
    let off = format!(
        "/clips/{clip_name}/QualityLevels({})/Fragments(video=1)",
        q.bitrate
    );
    assert_eq!(
        http_get(web, &off).expect("get").status,
        404,
        "not a boundary"
    );
    assert_eq!(
        http_get(web, "/clips/none.mp4/Manifest")
            .expect("get")
            .status,
        404
    );

    // Absent keys are 404; a dot name (the lease) is never served.
    for missing in [
        "/g/QualityLevels(1)/Fragments(video=0)",
        "/nope/Manifest",
        "/g/.lease",
        "/g/nothing.fmp4",
    ] {
        assert_eq!(
            http_get(web, missing).expect("get").status,
            404,
            "{missing}"
        );
    }

    // An origin whose store does not answer: 502 within its timeout, never a hang.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let broken = Server::start(
        exe(),
        &dir.path().join("broken"),
        &s.config_toml_for(&dead),
        &["--webroot", &s.url(&prefix)],
    )
    .expect("origin");
    let asked = Instant::now();
    let r = http_get(broken.addr("web"), "/g/Manifest").expect("get");
    assert_eq!(r.status, 502);
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "{:?}",
        asked.elapsed()
    );

    if player::ready_or_skip("vod_packaged_to_s3_plays_through_an_s3_origin") {
        let r = player::play(&PlayRequest {
            seconds: 20.0,
            min_time: 8.0,
            ..PlayRequest::url(format!("http://{web}/g/Manifest"))
        })
        .expect("play");
        assert!(r.ok, "dash.js: {}\n{}", r.reason, r.stderr);
    }
}

/// A TCP proxy in front of the store that can stop passing bytes, as a store that hangs
/// (SIGSTOP) looks to its clients: connections stay open, nothing answers.
struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let paused = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, st) = (paused.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(to) else {
                            continue;
                        };
                        for (a, b) in [
                            (client.try_clone(), server.try_clone()),
                            (server.try_clone(), client.try_clone()),
                        ] {
                            if let (Ok(a), Ok(b)) = (a, b) {
                                let (p, st) = (p.clone(), st.clone());
                                std::thread::spawn(move || pipe(a, b, &p, &st));
                            }
                        }
                    }
                    Err(_) => sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, paused, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.paused.store(false, Ordering::Relaxed);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, paused: &AtomicBool, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if paused.load(Ordering::Relaxed) {
            sleep(Duration::from_millis(50));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Debian's nginx as a caching proxy over two origins (the CDN stand-in): its own prefix,
/// config and cache in `dir`, one process (`master_process off`), killed on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
}

impl Nginx {
    fn start(dir: &Path, origins: &[SocketAddr]) -> Option<Self> {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
        let upstreams: String = origins
            .iter()
            .map(|o| format!("    server {o} max_fails=1 fail_timeout=10s;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {d}/logs/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  proxy_cache_path {d}/cache levels=1 keys_zone=sc:1m max_size=200m;\n  upstream origins {{\n{upstreams}  }}\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://origins;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_cache sc;\n      proxy_cache_valid 404 1s;\n      proxy_next_upstream error timeout http_502 http_503;\n      proxy_connect_timeout 1s;\n      proxy_read_timeout 10s;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(dir.join("logs/stderr.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for("nginx", Duration::from_secs(10), || {
            TcpStream::connect(addr).is_ok()
        });
        Some(Self { child, addr })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let r = http_get(server.addr("http_api"), "/metrics").expect("metrics");
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn manifest_at(addr: SocketAddr, path: &str) -> Option<Manifest> {
    let r = http_get(addr, path).ok().filter(|r| r.status == 200)?;
    smoothcast_core::manifest::parse(&String::from_utf8_lossy(&r.body)).ok()
}

/// Every fragment the manifest lists, fetched through `addr`: the ones missing.
fn missing_fragments(addr: SocketAddr, group: &str, m: &Manifest) -> Vec<String> {
    let mut missing = Vec::new();
    for s in &m.stream_indexes {
        for q in &s.quality_levels {
            for c in &s.chunks {
                let url = format!(
                    "/{group}/QualityLevels({})/Fragments({}={})",
                    q.bitrate, s.name, c.t
                );
                if http_get(addr, &url).map(|r| r.status).ok() != Some(200) {
                    missing.push(url);
                }
            }
        }
    }
    missing
}

fn last_t(m: &Manifest) -> u64 {
    m.stream_indexes[0].chunks.last().map_or(0, |c| c.t + c.d)
}

/// Two packagers write different live streams into one bucket; two origins serve them
/// behind nginx; dash.js keeps playing when one origin is killed; then the store stalls
/// for 10 s under the first packager: ingest goes on, and once the store is back nothing
/// the manifest lists is missing.
#[test]
fn live_to_s3_through_two_origins_survives_an_origin_and_a_store_stall() {
    let Some(s) = store() else { return };
    let dir = TempDir::new("s3-live");
    let prefix = unique("live");
    let proxy = Proxy::start(s.addr());
    let packager = |name: &str, toml: String| {
        Server::start(exe(), &dir.path().join(name), &toml, &[]).expect("packager")
    };
    let p1 = packager(
        "p1",
        s.config_toml_for(&format!("http://{}", proxy.addr)) + "node_id = \"p1\"\n",
    );
    let p2 = packager("p2", s.config_toml() + "node_id = \"p2\"\n");
    for (p, group) in [(&p1, "one"), (&p2, "two")] {
        let created = p
            .api(
                "createMSSStream",
                &format!(
                    "localstreamnames={group} bandwidths=400000 targetfolder={} groupname={group} chunkLength=2 playlisttype=rolling playlistLength=30",
                    s.url(&prefix)
                ),
            )
            .expect("api");
        assert_eq!(created["status"], "SUCCESS", "{created}");
    }
    let pub1 = LiveEncode::new(70)
        .rtmp(format!("rtmp://{}/live/one", p1.addr("rtmp")), 300)
        .start();
    let pub2 = LiveEncode::new(40)
        .rtmp(format!("rtmp://{}/live/two", p2.addr("rtmp")), 300)
        .start();
    let o1 = origin(s, dir.path(), "o1", &prefix);
    let o2 = origin(s, dir.path(), "o2", &prefix);
    let (o1_web, o2_web) = (o1.addr("web"), o2.addr("web"));
    for group in ["one", "two"] {
        wait_for(
            &format!("{group}: a manifest with 3 fragments in the store"),
            Duration::from_secs(30),
            || {
                manifest_at(o2_web, &format!("/{group}/Manifest"))
                    .is_some_and(|m| m.is_live && m.stream_indexes[0].chunks.len() >= 3)
            },
        );
    }
    let nginx = Nginx::start(&dir.path().join("nginx"), &[o1_web, o2_web]);

    // dash.js through nginx; one origin is killed while it plays.
    if let (Some(cdn), true) = (
        &nginx,
        player::ready_or_skip(
            "live_to_s3_through_two_origins_survives_an_origin_and_a_store_stall",
        ),
    ) {
        let killer = std::thread::spawn(move || {
            sleep(Duration::from_secs(6));
            drop(o1);
        });
        let r = player::play(&PlayRequest {
            live: true,
            seconds: 20.0,
            min_time: 10.0,
            ..PlayRequest::url(format!("http://{}/one/Manifest", cdn.addr))
        })
        .expect("play");
        killer.join().expect("killer");
        assert!(r.ok, "dash.js through nginx: {}\n{}", r.reason, r.stderr);
        let two = http_get(cdn.addr, "/two/Manifest").expect("two");
        assert_eq!(
            two.status, 200,
            "the second packager's stream through the CDN"
        );
    } else {
        drop(o1);
    }

    // The store stalls for 10 s under p1.
    let before = manifest_at(o2_web, "/one/Manifest").expect("manifest");
    let bytes_before = metric(&p1, "smoothcast_bytes_in_total");
    proxy.paused.store(true, Ordering::Relaxed);
    sleep(Duration::from_secs(10));
    let bytes_during = metric(&p1, "smoothcast_bytes_in_total");
    let stalled = manifest_at(o2_web, "/one/Manifest").expect("manifest");
    proxy.paused.store(false, Ordering::Relaxed);
    assert!(
        bytes_during > bytes_before + 50_000.0,
        "ingest went on during the stall ({bytes_before} -> {bytes_during} bytes)"
    );
    assert!(
        last_t(&stalled) <= last_t(&before) + 2 * 20_000_000,
        "the manifest stayed (nearly) where it was while its fragments could not be stored"
    );
    // Caught up: the manifest moves past the stall, and lists nothing that is missing.
    wait_for(
        "the manifest to move on after the stall",
        Duration::from_secs(40),
        || {
            manifest_at(o2_web, "/one/Manifest")
                .is_some_and(|m| last_t(&m) > last_t(&stalled) + 10 * 10_000_000)
        },
    );
    let after = manifest_at(o2_web, "/one/Manifest").expect("manifest");
    let missing = missing_fragments(o2_web, "one", &after);
    assert!(missing.is_empty(), "listed but missing: {missing:?}");
    assert_eq!(
        metric(&p1, "smoothcast_mss_writer_waits_total"),
        0.0,
        "packaging never waited for the writer"
    );
    assert!(
        metric(&p1, "smoothcast_errors_total{kind=\"disk_write\"}") >= 1.0,
        "the failed uploads were counted"
    );
    drop((pub1, pub2, nginx));
}

/// Two nodes, one presentation: the second cannot publish while the first holds the lease;
/// after the first dies, it takes over once the lease has run out.
#[test]
fn a_second_node_takes_a_presentation_only_after_the_owner_dies() {
    let Some(s) = store() else { return };
    let dir = TempDir::new("s3-lease");
    let prefix = unique("lease");
    let store_handle = handle(s, &prefix);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lease_node = || -> Option<String> {
        let got = rt.block_on(store_handle.get("g/.lease", None)).ok()??;
        let v: serde_json::Value = serde_json::from_slice(&got.bytes).ok()?;
        v["node"].as_str().map(str::to_string)
    };
    let node = |name: &str| {
        let n = Server::start(
            exe(),
            &dir.path().join(name),
            &(s.config_toml() + &format!("node_id = {name:?}\n")),
            &[],
        )
        .expect("node");
        let created = n
            .api(
                "createMSSStream",
                &format!(
                    "localstreamnames=a bandwidths=300000 targetfolder={} groupname=g chunkLength=1 playlisttype=rolling playlistLength=20",
                    s.url(&prefix)
                ),
            )
            .expect("api");
        assert_eq!(created["status"], "SUCCESS", "{created}");
        let publisher = LiveEncode::new(60)
            .gop_frames(25)
            .rtmp(format!("rtmp://{}/live/a", n.addr("rtmp")), 200)
            .start();
        (n, publisher)
    };
    let (a, pub_a) = node("node-a");
    wait_for("node-a's lease", Duration::from_secs(30), || {
        lease_node().as_deref() == Some("node-a")
    });
    let (b, pub_b) = node("node-b");
    // b packages the same stream name into the same presentation, but may not publish it.
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(8) {
        assert_eq!(
            lease_node().as_deref(),
            Some("node-a"),
            "node-b took a live lease"
        );
        sleep(Duration::from_millis(500));
    }
    // The owner dies without a word; b takes over once the lease runs out.
    drop((a, pub_a));
    let died = Instant::now();
    wait_for("node-b's lease", Duration::from_secs(30), || {
        lease_node().as_deref() == Some("node-b")
    });
    // Renewed once half of it has passed: at least half a lease was left at the death.
    assert!(
        died.elapsed() >= smoothcast::outputs::LEASE / 2 - Duration::from_secs(1),
        "taken over before the lease ran out ({:?})",
        died.elapsed()
    );
    // And b's manifest is the one published now: it keeps moving.
    let o = origin(s, dir.path(), "origin", &prefix);
    let first = manifest_at(o.addr("web"), "/g/Manifest").expect("manifest");
    wait_for("node-b's manifest updates", Duration::from_secs(20), || {
        manifest_at(o.addr("web"), "/g/Manifest").is_some_and(|m| last_t(&m) > last_t(&first))
    });
    drop((b, pub_b));
}
