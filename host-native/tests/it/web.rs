//! The web server end to end: the real `smoothcast serve` on ephemeral ports, a web root
//! made by the real packager, and a minimal HTTP/1.1 client so every header and byte the
//! server sends is visible.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use smoothcast_core::manifest::Manifest;
use smoothcast_core::TrackKind;
use smoothcast_tests::gst;
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation;
use smoothcast_tests::server::{http_request, HttpReply};
use smoothcast_tests::TempDir;

const MANIFEST_TYPE: &str = "application/vnd.ms-sstr+xml";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The shared server runner, with this file's shorthand for web requests.
struct Server {
    inner: smoothcast_tests::server::Server,
    web: SocketAddr,
}

type Reply = HttpReply;

impl Server {
    fn start(_dir: &Path, webroot: &Path, extra_config: &str) -> Server {
        let exe = Path::new(env!("CARGO_BIN_EXE_smoothcast"));
        let inner = smoothcast_tests::server::Server::start(exe, webroot, extra_config, &[])
            .expect("start smoothcast serve");
        let web = inner.addr("web");
        Server { inner, web }
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[])
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        http_request(self.web, method, path, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

fn package(target: &Path, group: &str, inputs: &[String]) {
    let out = presentation::package(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        target,
        group,
        inputs,
    );
    assert!(
        out.status.success(),
        "package failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn clip(spec: ClipSpec) -> PathBuf {
    media::clip(&spec).expect("generate clip")
}

/// A web root with `vod` (one input) and `abr` (two inputs at 900 and 300 kb/s).
fn webroot(dir: &Path) -> PathBuf {
    let root = dir.join("webroot");
    std::fs::create_dir_all(&root).expect("webroot");
    let a = clip(ClipSpec {
        seconds: 6.0,
        ..ClipSpec::default()
    });
    let b = clip(ClipSpec {
        seconds: 6.0,
        width: 480,
        height: 270,
        video_bitrate_kbps: 300,
        ..ClipSpec::default()
    });
    package(&root, "vod", &[a.display().to_string()]);
    package(
        &root,
        "abr",
        &[
            format!("{}@900000", a.display()),
            format!("{}@300000", b.display()),
        ],
    );
    root
}

fn read_manifest_ok(path: &Path) -> Manifest {
    presentation::read_manifest(path).expect("manifest")
}

/// (bitrate, t, fragment file) of some video chunk: the second, so t is not 0.
fn a_video_fragment(group: &Path, m: &Manifest) -> (u32, u64, PathBuf) {
    let s = m
        .stream_indexes
        .iter()
        .find(|s| s.kind == TrackKind::Video)
        .expect("video stream");
    let b = s.quality_levels[0].bitrate;
    let t = s.chunks[1].t;
    let rel = s
        .url
        .replace("{bitrate}", &b.to_string())
        .replace("{start time}", &t.to_string())
        .replace("{start_time}", &t.to_string());
    (b, t, group.join(rel))
}

#[test]
fn static_files_iis_urls_and_headers() {
    let dir = TempDir::new("web-static");
    let root = webroot(dir.path());
    let server = Server::start(dir.path(), &root, "");

    // The manifest, as a file and as IIS's `Manifest`.
    let direct = server.get("/vod/manifest.ismc");
    assert_eq!(direct.status, 200);
    assert_eq!(direct.header("content-type"), MANIFEST_TYPE);
    assert_eq!(direct.header("cache-control"), "public, max-age=60");
    assert_eq!(direct.header("access-control-allow-origin"), "*");
    assert_eq!(direct.header("accept-ranges"), "bytes");
    assert!(!direct.header("date").is_empty(), "Date on every reply");
    assert!(!direct.header("etag").is_empty());
    assert_eq!(
        direct.body,
        std::fs::read(root.join("vod/manifest.ismc")).expect("manifest")
    );
    for p in ["/vod/Manifest", "/vod/manifest", "/abr/Manifest"] {
        let r = server.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.header("content-type"), MANIFEST_TYPE, "{p}");
    }
    assert_eq!(server.get("/vod/Manifest").body, direct.body);

    // Conditional GET.
    let etag = direct.header("etag").to_string();
    let again = server.request("GET", "/vod/manifest.ismc", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // HEAD: same headers, no body.
    let head = server.request("HEAD", "/vod/manifest.ismc", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), direct.body.len().to_string());
    assert_eq!(head.header("content-type"), MANIFEST_TYPE);

    // CORS preflight.
    let pre = server.request(
        "OPTIONS",
        "/vod/manifest.ismc",
        &[
            ("Origin", "http://elsewhere"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), "*");
    assert!(pre.header("access-control-allow-methods").contains("GET"));
    assert_eq!(pre.header("access-control-allow-headers"), "range");
    assert!(pre.header("access-control-expose-headers").contains("Date"));
    assert_eq!(server.request("POST", "/", &[]).status, 405);

    // Fragments: the file, and the same bytes through the IIS URL, for both layouts.
    for group in ["vod", "abr"] {
        let gdir = root.join(group);
        let m = read_manifest_ok(&gdir.join("manifest.ismc"));
        let (b, t, file) = a_video_fragment(&gdir, &m);
        let bytes = std::fs::read(&file).expect("fragment file");
        let rel = file
            .strip_prefix(&root)
            .expect("under root")
            .display()
            .to_string();
        let plain = server.get(&format!("/{rel}"));
        assert_eq!(plain.status, 200, "{rel}");
        assert_eq!(plain.header("content-type"), "video/mp4");
        assert_eq!(plain.header("cache-control"), IMMUTABLE);
        assert_eq!(plain.body, bytes);

        let iis = server.get(&format!("/{group}/QualityLevels({b})/Fragments(video={t})"));
        assert_eq!(iis.status, 200, "{group} IIS fragment");
        assert_eq!(iis.header("content-type"), "video/mp4");
        assert_eq!(iis.header("cache-control"), IMMUTABLE);
        assert_eq!(iis.header("access-control-allow-origin"), "*");
        assert_eq!(iis.body, bytes);

        // FragmentInfo: exactly the leading moof.
        let info = server.get(&format!(
            "/{group}/QualityLevels({b})/FragmentInfo(video={t})"
        ));
        assert_eq!(info.status, 200, "{group} FragmentInfo");
        assert_eq!(info.header("content-type"), "video/mp4");
        assert_eq!(&info.body[4..8], b"moof");
        let size = u32::from_be_bytes([info.body[0], info.body[1], info.body[2], info.body[3]]);
        assert_eq!(info.body.len(), size as usize);
        assert_eq!(info.body[..], bytes[..size as usize]);

        // Audio by Type name too.
        let audio = m
            .stream_indexes
            .iter()
            .find(|s| s.kind == TrackKind::Audio)
            .expect("audio stream");
        let r = server.get(&format!(
            "/{group}/QualityLevels({})/Fragments({}={})",
            audio.quality_levels[0].bitrate, audio.name, audio.chunks[0].t
        ));
        assert_eq!(r.status, 200, "{group} audio");

        // Names that are not in the manifest.
        for bad in [
            format!("/{group}/QualityLevels({b})/Fragments(video={})", t + 1),
            format!("/{group}/QualityLevels({})/Fragments(video={t})", b + 1),
            format!("/{group}/QualityLevels({b})/Fragments(subtitles={t})"),
            format!("/{group}/QualityLevels({b})/FragmentInfo(video={})", t + 1),
            format!("/nothere/QualityLevels({b})/Fragments(video={t})"),
        ] {
            let r = server.get(&bad);
            assert_eq!(r.status, 404, "{bad}");
            assert_eq!(r.header("cache-control"), "no-store", "{bad}");
        }
        for bad in [
            format!("/{group}/QualityLevels(abc)/Fragments(video={t})"),
            format!("/{group}/QualityLevels({b})/Fragments(video=x)"),
            format!("/{group}/QualityLevels({b})/Fragments(video)"),
            format!("/{group}/Fragments(video={t})"),
        ] {
            assert_eq!(server.get(&bad).status, 400, "{bad}");
        }

        // Ranges, on a fragment.
        let len = bytes.len();
        let r = server.request("GET", &format!("/{rel}"), &[("Range", "bytes=10-109")]);
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), format!("bytes 10-109/{len}"));
        assert_eq!(r.body, bytes[10..110]);
        let r = server.request("GET", &format!("/{rel}"), &[("Range", "bytes=-16")]);
        assert_eq!(r.status, 206);
        assert_eq!(r.body, bytes[len - 16..]);
        let r = server.request("GET", &format!("/{rel}"), &[("Range", "bytes=100-")]);
        assert_eq!(r.status, 206);
        assert_eq!(r.body, bytes[100..]);
        let r = server.request(
            "GET",
            &format!("/{group}/QualityLevels({b})/Fragments(video={t})"),
            &[("Range", "bytes=0-7")],
        );
        assert_eq!((r.status, &r.body[..]), (206, &bytes[..8]));
        let r = server.request(
            "GET",
            &format!("/{rel}"),
            &[("Range", &format!("bytes={len}-"))],
        );
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), format!("bytes */{len}"));
        // If-Range with a stale validator: the whole, current file.
        let r = server.request(
            "GET",
            &format!("/{rel}"),
            &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
        );
        assert_eq!((r.status, r.body.len()), (200, len));
    }

    // A live manifest is never cached.
    let live = root.join("live");
    std::fs::create_dir_all(&live).expect("live dir");
    std::fs::write(
        live.join("manifest.ismc"),
        "<?xml version=\"1.0\"?><SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"0\" \
         TimeScale=\"10000000\" Duration=\"0\" IsLive=\"TRUE\" LookAheadFragmentCount=\"2\" \
         DVRWindowLength=\"0\"></SmoothStreamingMedia>",
    )
    .expect("live manifest");
    for p in ["/live/manifest.ismc", "/live/Manifest"] {
        let r = server.get(p);
        assert_eq!(
            (r.status, r.header("cache-control")),
            (200, "no-cache"),
            "{p}"
        );
    }

    // Other types; folders are not listed.
    std::fs::write(root.join("a.json"), "{}").expect("json");
    std::fs::write(root.join("blob.bin"), [0u8; 3]).expect("bin");
    assert_eq!(
        server.get("/a.json").header("content-type"),
        "application/json"
    );
    assert_eq!(
        server.get("/blob.bin").header("content-type"),
        "application/octet-stream"
    );
    assert_eq!(server.get("/vod").status, 404);
    assert_eq!(server.get("/vod/").status, 404);
    assert_eq!(server.get("/missing.txt").status, 404);

    // `/`: the built-in player without index.html, the file with it.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    let html = String::from_utf8_lossy(&page.body);
    // The dash.js built into the binary, under a versioned path.
    assert!(html.contains("/_smoothcast/dashjs-"), "{html}");
    assert!(html.contains("/dash.mss.min.js"), "{html}");
    assert!(html.contains("http-head"), "{html}");
    std::fs::write(root.join("index.html"), "<p>mine</p>").expect("index");
    assert_eq!(server.get("/").body, b"<p>mine</p>");
    assert_eq!(server.get("/_smoothcast/player.html").body, page.body);
}

#[test]
fn nothing_outside_the_web_root() {
    let dir = TempDir::new("web-escape");
    let root = dir.path().join("webroot");
    std::fs::create_dir_all(root.join("vod")).expect("webroot");
    std::fs::write(dir.path().join("secret.txt"), "secret").expect("secret");
    std::fs::write(root.join("vod/ok.txt"), "ok").expect("ok");
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("dir symlink");
    std::fs::write(root.join(".hidden"), "h").expect("hidden");
    let server = Server::start(dir.path(), &root, "");

    assert_eq!(server.get("/vod/ok.txt").body, b"ok");
    for target in [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/vod/..%2f..%2fetc/passwd",
        "/vod/../../secret.txt",
        "/vod/%2e%2e/%2e%2e/secret.txt",
        "/vod%2f..%2f..%2fsecret.txt",
        "/link.txt",
        "/etc/passwd",
        "/vod/ok.txt%00.fmp4",
        "/.hidden",
        "/..%5c..%5csecret.txt",
    ] {
        let r = server.get(target);
        assert!(
            matches!(r.status, 400 | 403 | 404),
            "{target}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("secret") && !body.contains("root:"),
            "{target}: {body}"
        );
    }
    // Malformed escapes are a client error.
    assert_eq!(server.get("/vod/%zz").status, 400);
    // Absolute-form targets are reduced to their path and checked the same way.
    assert_eq!(
        server.get("http://test/vod/ok.txt").body,
        b"ok",
        "absolute-form request target"
    );
    assert_eq!(server.get("http://test/../secret.txt").status, 403);
}

#[test]
fn player_assets_and_missing_web_root() {
    let dir = TempDir::new("web-assets");
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(&assets).expect("assets");
    std::fs::write(assets.join("dash.all.min.js"), "/* dash */").expect("js");
    let server = Server::start(
        dir.path(),
        &dir.path().join("no-such-webroot"),
        &format!("player_assets = {:?}", assets.display().to_string()),
    );
    let js = server.get("/_smoothcast/dash.all.min.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert_eq!(js.body, b"/* dash */");
    let missing = server.get("/_smoothcast/dash.mss.min.js");
    assert_eq!(missing.status, 404);
    // With no web root at all there is still the player page, loading the override.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains(r#"src="/_smoothcast/dash.all.min.js""#));
    assert_eq!(server.get("/vod/Manifest").status, 404);
    drop(server);

    let server = Server::start(
        dir.path(),
        dir.path(),
        "player_assets = \"/nonexistent/dashjs\"",
    );
    let r = server.get("/_smoothcast/dash.all.min.js");
    assert_eq!(r.status, 404);
    assert!(
        String::from_utf8_lossy(&r.body).contains("player_assets"),
        "the 404 says how to fix it"
    );
}

#[test]
fn stops_on_sigint_and_resists_slow_clients() {
    let dir = TempDir::new("web-stop");
    std::fs::write(dir.path().join("x.txt"), "x").expect("file");
    let mut server = Server::start(dir.path(), dir.path(), "");
    // An idle half-open request and a dozen connections do not stop it from answering.
    let mut idle = TcpStream::connect(server.web).expect("connect");
    idle.write_all(b"GET /x.txt HTTP/1.1\r\nHost: t")
        .expect("partial request");
    let conns: Vec<TcpStream> = (0..12)
        .filter_map(|_| TcpStream::connect(server.web).ok())
        .collect();
    assert_eq!(server.get("/x.txt").body, b"x");
    // Oversized headers are refused, not buffered.
    let big = "a".repeat(64 * 1024);
    assert_eq!(
        server.request("GET", "/x.txt", &[("X-Big", &big)]).status,
        431
    );

    let pid = server.inner.pid().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = server.inner.try_wait() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server still running 15 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit: {exit}");
    drop((idle, conns));
}

#[test]
fn iis_urls_play_in_dashjs() {
    if !player::ready_or_skip("iis_urls_play_in_dashjs") {
        return;
    }
    let dir = TempDir::new("web-play");
    let root = webroot(dir.path());
    let server = Server::start(dir.path(), &root, "");
    for (group, levels) in [("vod", 1), ("abr", 2)] {
        let url = format!("http://{}/{group}/Manifest", server.web);
        let result = player::play(&PlayRequest {
            seconds: 15.0,
            min_time: 4.0,
            expect_levels: Some(levels),
            ..PlayRequest::url(url)
        })
        .expect("player ran");
        assert!(result.ok, "{group}: {result}");
        assert!(result.video_width > 0);
    }
}

/// `[auth.signed_urls]`: a protected presentation needs a token over its folder. The query
/// form signs single requests, but a player resolves the manifest's relative fragment URLs
/// without the query (WHATWG URL rules, as `url::Url::join` and browsers apply them), so the
/// fragments would go unsigned; the `/_sig/<token>/<expiry>/` path form carries the token to
/// every fragment, and dash.js plays through it. Expired, altered and missing tokens: 403.
#[test]
fn signed_urls_guard_a_presentation_and_play_in_dashjs() {
    use smoothcast::auth::signed_url::sign;
    const SECRET: &str = "test-secret-0123456789";
    let dir = TempDir::new("web-signed");
    let root = dir.path().join("webroot");
    std::fs::create_dir_all(&root).expect("webroot");
    let a = clip(ClipSpec {
        seconds: 6.0,
        ..ClipSpec::default()
    });
    package(&root, "vod", &[a.display().to_string()]);
    std::fs::write(root.join("open.txt"), "open").expect("write");
    let server = Server::start(
        dir.path(),
        &root,
        &format!("[auth.signed_urls]\nsecret = \"{SECRET}\"\nprefixes = [\"/vod/\"]\n"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let e = now + 600;
    let st = sign(SECRET, "/vod/", e);
    let m = read_manifest_ok(&root.join("vod/manifest.ismc"));
    let (_, _, frag_file) = a_video_fragment(&root.join("vod"), &m);
    let frag_rel = frag_file
        .strip_prefix(root.join("vod"))
        .expect("inside the group")
        .display()
        .to_string();

    assert_eq!(
        server.get("/open.txt").status,
        200,
        "unprotected paths stay open"
    );
    assert_eq!(server.get("/vod/Manifest").status, 403, "unsigned");
    assert_eq!(
        server.get(&format!("/vod/{frag_rel}")).status,
        403,
        "unsigned"
    );

    // The query form: the manifest, but not the fragments a player derives from it.
    let base = url::Url::parse(&format!("http://{}/", server.web)).expect("url");
    let manifest = base
        .join(&format!("/vod/Manifest?st={st}&e={e}"))
        .expect("url");
    assert_eq!(server.get(&path_and_query(&manifest)).status, 200);
    let derived = manifest.join(&frag_rel).expect("relative fragment URL");
    assert_eq!(derived.query(), None, "URL resolution drops the query");
    assert_eq!(server.get(&path_and_query(&derived)).status, 403);
    assert_eq!(
        server.get(&format!("/vod/{frag_rel}?st={st}&e={e}")).status,
        200,
        "one token for the whole folder"
    );

    // The path form: fragments resolved against the manifest keep the token.
    let signed = base
        .join(&format!("/_sig/{st}/{e}/vod/Manifest"))
        .expect("url");
    let reply = server.get(&path_and_query(&signed));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), MANIFEST_TYPE);
    let derived = signed.join(&frag_rel).expect("relative fragment URL");
    let frag = server.get(&path_and_query(&derived));
    assert_eq!(frag.status, 200, "{derived}");
    assert_eq!(frag.body, std::fs::read(&frag_file).expect("fragment"));

    // Expired (a genuine token whose time is past), altered token, altered expiry, another
    // folder's token.
    let old = now - 10;
    let expired = format!("/_sig/{}/{old}/vod/Manifest", sign(SECRET, "/vod/", old));
    let mut altered = st.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    for (what, path) in [
        ("expired", expired),
        ("altered token", format!("/_sig/{altered}/{e}/vod/Manifest")),
        (
            "altered expiry",
            format!("/_sig/{st}/{}/vod/Manifest", e + 1),
        ),
        (
            "another folder's token",
            format!("/_sig/{}/{e}/vod/Manifest", sign(SECRET, "/abr/", e)),
        ),
        (
            "wrong secret",
            format!(
                "/_sig/{}/{e}/vod/Manifest",
                sign("another-secret-0123", "/vod/", e)
            ),
        ),
    ] {
        assert_eq!(server.get(&path).status, 403, "{what}");
    }

    if player::ready_or_skip("signed_urls_guard_a_presentation_and_play_in_dashjs") {
        let result = player::play(&PlayRequest {
            seconds: 15.0,
            min_time: 4.0,
            expect_levels: Some(1),
            ..PlayRequest::url(signed.to_string())
        })
        .expect("player ran");
        println!("{result}");
        assert!(result.ok, "dash.js through the signed path: {result}");
        assert!(result.video_width > 0);
    }
}

fn path_and_query(u: &url::Url) -> String {
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// A manifest file's name used as a base URL (GStreamer's mssdemux appends the fragment
/// path to it) resolves in the manifest's folder, as IIS resolves `<name>.ism/...`.
#[test]
fn manifest_file_as_base_url() {
    let dir = TempDir::new("web-ismc-base");
    let root = webroot(dir.path());
    let server = Server::start(dir.path(), &root, "");
    for group in ["vod", "abr"] {
        let gdir = root.join(group);
        let m = read_manifest_ok(&gdir.join("manifest.ismc"));
        let (b, t, file) = a_video_fragment(&gdir, &m);
        let bytes = std::fs::read(&file).expect("fragment file");
        let rel = file
            .strip_prefix(&gdir)
            .expect("in group")
            .display()
            .to_string();
        let r = server.get(&format!("/{group}/manifest.ismc/{rel}"));
        assert_eq!(r.status, 200, "{group}/manifest.ismc/{rel}");
        assert_eq!(r.body, bytes);
        let r = server.get(&format!(
            "/{group}/manifest.ismc/QualityLevels({b})/Fragments(video={t})"
        ));
        assert_eq!(r.status, 200, "{group}: IIS form under the manifest file");
        assert_eq!(r.body, bytes);
        let r = server.get(&format!("/{group}/manifest.ismc/Manifest"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), MANIFEST_TYPE);
        // Only an existing manifest file works as a base.
        let r = server.get(&format!("/{group}/other.ismc/{rel}"));
        assert_eq!(r.status, 404);
    }
}

/// Every URL form a packaged presentation is offered under plays in GStreamer.
#[test]
fn vod_url_forms_play_in_gstreamer() {
    if !gst::ready_or_skip("vod_url_forms_play_in_gstreamer") {
        return;
    }
    let dir = TempDir::new("web-gst");
    let root = webroot(dir.path());
    let server = Server::start(dir.path(), &root, "");
    for path in [
        "/vod/manifest.ismc",
        "/vod/Manifest",
        "/abr/manifest.ismc",
        "/abr/Manifest",
    ] {
        let r = gst::play(&format!("http://{}{path}", server.web), 30.0).expect("gst ran");
        assert!(r.played(), "{path}: {r:?}");
        // The 6 s clips play to their end.
        assert!(r.video_seconds > 5.0, "{path}: {r:?}");
    }
}
