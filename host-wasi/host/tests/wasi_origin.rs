//! The JIT origin component served by wasmtime-wasi-http: its manifest and fragments must be
//! the bytes `smoothcast package` writes (only the manifest's Url differs, IIS-style); wrong times,
//! bitrates and paths are 4xx; dash.js plays it with two bitrates.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use smoothcast_core::layout::Layout;
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::TempDir;
use smoothcast_wasi_host::build::{self, Guest};
use smoothcast_wasi_host::origin::{self, Origin};
use smoothcast_wasi_host::reference::{self, InputSpec, Packaged};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 GET, enough for these checks (no chunked decoding needed: the
/// origin's bodies have a length, and `Connection: close` ends the rest).
fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// Two clips with the same GOPs at two bitrates, one named with its bitrate, one measured.
fn media_dir(root: &Path) -> Vec<InputSpec> {
    let group = root.join("movie");
    std::fs::create_dir_all(&group).expect("mkdir");
    let mut inputs = Vec::new();
    for (kbps, name, bitrate) in [
        (900, "a-hi@1000000.mp4", Some(1_000_000)),
        (300, "b-lo.mp4", None),
    ] {
        let clip = media::clip(&ClipSpec {
            seconds: 12.0,
            video_bitrate_kbps: kbps,
            ..ClipSpec::default()
        })
        .expect("clip");
        std::fs::copy(&clip, group.join(name)).expect("copy clip");
        inputs.push(InputSpec {
            name: name.into(),
            data: std::fs::read(&clip).expect("read"),
            bitrate,
        });
    }
    inputs
}

fn start(media: &Path) -> (tokio::runtime::Runtime, SocketAddr) {
    let component = build::component(Guest::Origin).expect("build the origin component");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let origin = Origin::new(&component, media).expect("load origin");
    let (addr, _task) = rt
        .block_on(origin::spawn(origin, "127.0.0.1:0".parse().expect("addr")))
        .expect("bind");
    (rt, addr)
}

/// What `smoothcast package` writes for the group (two inputs: the multi layout).
fn native(inputs: &[InputSpec]) -> Packaged {
    reference::package(inputs, 2.0).expect("smoothcast package")
}

#[test]
fn serves_the_native_bytes_with_headers() {
    let dir = TempDir::new("wasi-origin-bytes");
    let inputs = media_dir(dir.path());
    let expected = native(&inputs);
    let (_rt, addr) = start(dir.path());

    let (_, xml) = expected.manifest.clone().expect("manifest");
    let iis = xml
        .replace(
            &Layout::Multi.url_template("video"),
            "QualityLevels({bitrate})/Fragments(video={start time})",
        )
        .replace(
            &Layout::Multi.url_template("audio"),
            "QualityLevels({bitrate})/Fragments(audio={start time})",
        );
    for path in ["/movie/Manifest", "/movie/manifest.ismc"] {
        let r = get(addr, path);
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.ms-sstr+xml")
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(String::from_utf8_lossy(&r.body), iis, "{path}");
    }

    // Every fragment of both levels, and its FragmentInfo (the moof alone).
    for (path, data) in &expected.fragments {
        let parts: Vec<&str> = path.trim_end_matches(".fmp4").split('/').collect();
        let [bitrate, kind, t] = parts.as_slice() else {
            panic!("unexpected path {path}");
        };
        let url = format!("/movie/QualityLevels({bitrate})/Fragments({kind}={t})");
        let r = get(addr, &url);
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert!(
            r.body == *data,
            "{url}: bytes differ from smoothcast package's"
        );
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        if *kind == "video" {
            let info = get(addr, &url.replace("Fragments(", "FragmentInfo("));
            let moof = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            assert_eq!(info.status, 200);
            assert!(info.body == data[..moof], "FragmentInfo is the moof");
        }
    }
}

#[test]
fn wrong_requests_are_4xx_and_the_origin_goes_on() {
    let dir = TempDir::new("wasi-origin-4xx");
    let inputs = media_dir(dir.path());
    let first = native(&inputs)
        .fragments
        .into_keys()
        .find(|p| p.starts_with("1000000/video/"))
        .expect("a video fragment");
    let first_t = first
        .trim_start_matches("1000000/video/")
        .trim_end_matches(".fmp4")
        .to_string();
    let garbage = dir.path().join("garbage");
    std::fs::create_dir_all(&garbage).expect("mkdir");
    std::fs::write(
        garbage.join("x@1000.mp4"),
        b"\x00\x00\x00\x10ftypisomnot really",
    )
    .expect("write");
    let (_rt, addr) = start(dir.path());

    let cases = [
        // Not a fragment boundary (boundaries are 2 s = 20000000 apart).
        (
            "/movie/QualityLevels(1000000)/Fragments(video=10000000)",
            404,
        ),
        ("/movie/QualityLevels(1000000)/Fragments(video=1)", 404),
        (
            "/movie/QualityLevels(1000000)/Fragments(video=9990000000)",
            404,
        ),
        // No such bitrate, stream, group or resource.
        ("/movie/QualityLevels(12345)/Fragments(video=0)", 404),
        ("/movie/QualityLevels(1000000)/Fragments(text=0)", 404),
        ("/nosuchgroup/Manifest", 404),
        ("/movie/index.html", 404),
        ("/../etc/Manifest", 404),
        // Malformed numbers.
        ("/movie/QualityLevels(abc)/Fragments(video=0)", 400),
        ("/movie/QualityLevels(1000000)/Fragments(video=-5)", 400),
        ("/movie/QualityLevels(1000000)/Fragments(video)", 400),
    ];
    for (path, status) in cases {
        let r = get(addr, path);
        assert_eq!(
            r.status,
            status,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    }
    // A corrupt source is a clean server error with a reason, not a dropped connection.
    let r = get(addr, "/garbage/Manifest");
    assert_eq!(r.status, 500);
    assert!(String::from_utf8_lossy(&r.body).contains("x@1000.mp4"));
    // And the origin still serves.
    assert_eq!(get(addr, "/movie/Manifest").status, 200);
    let url = format!("/movie/QualityLevels(1000000)/Fragments(video={first_t})");
    assert_eq!(get(addr, &url).status, 200, "{url}");
}

#[test]
fn dashjs_plays_the_origin_with_two_bitrates() {
    if !player::ready_or_skip("dashjs_plays_the_origin_with_two_bitrates") {
        return;
    }
    let dir = TempDir::new("wasi-origin-play");
    media_dir(dir.path());
    let (_rt, addr) = start(dir.path());
    let result = player::play(&PlayRequest {
        expect_levels: Some(2),
        min_time: 8.0,
        ..PlayRequest::url(format!("http://{addr}/movie/Manifest"))
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "playback failed: {}", result.reason);
    assert_eq!(result.video_levels.len(), 2);
}

/// A clip with two audio languages: the further language is its own stream
/// (`audio_<lang>`), served by its name with the bytes `smoothcast package` writes.
#[test]
fn further_languages_are_served_by_stream_name() {
    let dir = TempDir::new("wasi-origin-languages");
    let group = dir.path().join("langs");
    std::fs::create_dir_all(&group).expect("mkdir");
    let clip = media::clip(&ClipSpec {
        seconds: 6.0,
        width: 320,
        height: 180,
        video_bitrate_kbps: 300,
        audio_languages: vec!["eng", "fra"],
        ..ClipSpec::default()
    })
    .expect("clip");
    std::fs::copy(&clip, group.join("film.mp4")).expect("copy clip");
    let inputs = vec![InputSpec {
        name: "film.mp4".into(),
        data: std::fs::read(&clip).expect("read"),
        bitrate: None,
    }];
    // One input: package writes the single layout (`film/<stream>/<bitrate>/<t>.fmp4`);
    // the bytes are the same whatever the layout.
    let expected = reference::package(&inputs, 2.0).expect("package");
    let (_rt, addr) = start(dir.path());
    let mut names = std::collections::BTreeSet::new();
    for (path, data) in &expected.fragments {
        let parts: Vec<&str> = path.trim_end_matches(".fmp4").split('/').collect();
        let [_, stream, bitrate, t] = parts.as_slice() else {
            panic!("unexpected path {path}");
        };
        names.insert(stream.to_string());
        let url = format!("/langs/QualityLevels({bitrate})/Fragments({stream}={t})");
        let r = get(addr, &url);
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert!(
            r.body == *data,
            "{url}: bytes differ from smoothcast package's"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("audio_")),
        "a further language stream: {names:?}"
    );
    let m = get(addr, "/langs/Manifest");
    assert_eq!(m.status, 200);
    assert!(String::from_utf8_lossy(&m.body).contains("Fragments(audio_"));
}
