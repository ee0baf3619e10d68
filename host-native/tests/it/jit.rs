//! Just-in-time VOD: MP4 files dropped into a running server's web root are served as
//! Smooth Streaming, byte for byte what `smoothcast package` writes for them, and play.

use std::path::{Path, PathBuf};

use smoothcast_core::manifest::Manifest;
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{self, read_manifest};
use smoothcast_tests::server::{http_get, http_request, Server};
use smoothcast_tests::TempDir;

const EXE: &str = env!("CARGO_BIN_EXE_smoothcast");

fn small(seconds: f64) -> ClipSpec {
    ClipSpec {
        seconds,
        width: 320,
        height: 180,
        video_bitrate_kbps: 300,
        ..ClipSpec::default()
    }
}

/// A cached clip copied into `dir` as `name`.
fn media_file(dir: &Path, name: &str, spec: &ClipSpec) -> PathBuf {
    std::fs::create_dir_all(dir).expect("folder");
    let path = dir.join(name);
    std::fs::copy(media::clip(spec).expect("ffmpeg clip"), &path).expect("copy the clip");
    path
}

/// `smoothcast package` of `inputs` into `target/group`: the group folder.
fn packaged(target: &Path, group: &str, inputs: &[&Path]) -> PathBuf {
    let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let out = presentation::package(Path::new(EXE), target, group, &inputs);
    assert!(
        out.status.success(),
        "package failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join(group)
}

fn get(server: &Server, path: &str) -> smoothcast_tests::server::HttpReply {
    http_get(server.addr("web"), path).expect("GET")
}

/// Every fragment of the packaged `group` folder, by IIS URL and by the manifest's own
/// path, equals what the server answers under `base` (`/<file>.mp4`); the manifest too.
/// Returns the manifest.
fn check_identical(server: &Server, base: &str, group: &Path) -> Manifest {
    let manifest_file = group.join("manifest.ismc");
    let expected = std::fs::read(&manifest_file).expect("packaged manifest");
    let r = get(server, &format!("{base}/Manifest"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, expected, "the manifest differs");
    assert_eq!(get(server, &format!("{base}/manifest.ismc")).body, expected);
    let m = read_manifest(&manifest_file).expect("manifest");
    let mut fragments = 0;
    for s in &m.stream_indexes {
        for q in &s.quality_levels {
            for (i, c) in s.chunks.iter().enumerate() {
                let rel = s
                    .url
                    .replace("{bitrate}", &q.bitrate.to_string())
                    .replace("{start time}", &c.t.to_string());
                let file = std::fs::read(group.join(&rel)).expect("packaged fragment");
                let iis = format!(
                    "{base}/QualityLevels({})/Fragments({}={})",
                    q.bitrate, s.name, c.t
                );
                let r = get(server, &iis);
                assert_eq!(r.status, 200, "{iis}: {}", String::from_utf8_lossy(&r.body));
                assert!(r.body == file, "{iis} differs from {rel}");
                if i == 0 {
                    assert_eq!(r.header("content-type"), "video/mp4");
                    assert!(get(server, &format!("{base}/{rel}")).body == file, "{rel}");
                    let info = get(server, &iis.replace("Fragments(", "FragmentInfo("));
                    let moof = u32::from_be_bytes(file[..4].try_into().unwrap()) as usize;
                    assert_eq!(&file[4..8], b"moof");
                    assert!(info.body == file[..moof], "FragmentInfo is the moof");
                }
                fragments += 1;
            }
        }
    }
    assert!(fragments >= 4, "{fragments} fragments");
    m
}

#[test]
fn an_mp4_in_the_web_root_is_served_as_packaged_and_plays() {
    let dir = TempDir::new("jit-one");
    let www = dir.path().join("www");
    // moov at the end (ClipSpec's default): the index seeks to it.
    let clip = media_file(&www.join("vod"), "clip.mp4", &small(12.0));
    let server = Server::start(Path::new(EXE), &www, "", &[]).expect("server");
    let group = packaged(&dir.path().join("out"), "clip", &[&clip]);
    let m = check_identical(&server, "/vod/clip.mp4", &group);

    // Not boundaries, not levels, not streams: 404.
    let video = &m.stream_indexes[0];
    let (b, t) = (video.quality_levels[0].bitrate, video.chunks[1].t);
    for bad in [
        format!(
            "/vod/clip.mp4/QualityLevels({b})/Fragments(video={})",
            t + 1
        ),
        format!(
            "/vod/clip.mp4/QualityLevels({})/Fragments(video={t})",
            b + 1
        ),
        format!("/vod/clip.mp4/QualityLevels({b})/Fragments(text={t})"),
        "/vod/clip.mp4/nothing".to_string(),
        "/vod/missing.mp4/Manifest".to_string(),
    ] {
        assert_eq!(get(&server, &bad).status, 404, "{bad}");
    }
    assert_eq!(
        get(&server, "/vod/clip.mp4/QualityLevels(x)/Fragments(video=0)").status,
        400
    );
    // No way out of the web root through the file's path.
    assert_ne!(get(&server, "/vod/../../clip.mp4/Manifest").status, 200);

    // HEAD, ranges and conditionals as for files.
    let url = format!("/vod/clip.mp4/QualityLevels({b})/Fragments(video={t})");
    let whole = get(&server, &url);
    let head = http_request(server.addr("web"), "HEAD", &url, &[]).expect("HEAD");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), whole.body.len().to_string());
    assert_eq!(head.header("etag"), whole.header("etag"));
    let part =
        http_request(server.addr("web"), "GET", &url, &[("Range", "bytes=4-7")]).expect("range");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"moof");
    let etag = whole.header("etag").to_string();
    let again = http_request(server.addr("web"), "GET", &url, &[("If-None-Match", &etag)])
        .expect("conditional");
    assert_eq!(again.status, 304);

    if player::ready_or_skip("an_mp4_in_the_web_root_is_served_as_packaged_and_plays") {
        let web = server.addr("web");
        let r = player::play(&PlayRequest {
            min_time: 10.0,
            ..PlayRequest::url(format!("http://{web}/vod/clip.mp4/Manifest"))
        })
        .expect("the harness ran");
        assert!(r.ok, "dash.js: {r}");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    // The file replaced: a new index (size and modification time changed), a new ETag.
    let other = media::clip(&small(6.0)).expect("clip");
    std::fs::copy(&other, &clip).expect("replace");
    let group2 = packaged(&dir.path().join("out2"), "clip", &[&clip]);
    check_identical(&server, "/vod/clip.mp4", &group2);
    assert_ne!(get(&server, &url).header("etag"), etag);
}

#[test]
fn languages_and_audio_only_are_served_as_packaged() {
    let dir = TempDir::new("jit-tracks");
    let www = dir.path().join("www");
    let langs = media_file(
        &www,
        "langs.mp4",
        &ClipSpec {
            audio_languages: vec!["eng", "fra"],
            faststart: true,
            ..small(8.0)
        },
    );
    let radio = media_file(
        &www,
        "radio.mp4",
        &ClipSpec {
            video: false,
            ..small(8.0)
        },
    );
    let server = Server::start(Path::new(EXE), &www, "", &[]).expect("server");
    let m = check_identical(
        &server,
        "/langs.mp4",
        &packaged(&dir.path().join("a"), "langs", &[&langs]),
    );
    assert!(
        m.stream_indexes
            .iter()
            .any(|s| s.name.starts_with("audio_")),
        "a second language stream: {:?}",
        m.stream_indexes.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    check_identical(
        &server,
        "/radio.mp4",
        &packaged(&dir.path().join("b"), "radio", &[&radio]),
    );
}

#[test]
fn an_ism_groups_bitrates_into_one_presentation() {
    let dir = TempDir::new("jit-group");
    let www = dir.path().join("www");
    let hi = media_file(
        &www.join("movie"),
        "hi.mp4",
        &ClipSpec {
            video_bitrate_kbps: 900,
            width: 640,
            height: 360,
            ..small(10.0)
        },
    );
    let lo = media_file(&www.join("movie"), "lo.mp4", &small(10.0));
    std::fs::write(
        www.join("movie/movie.ism"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <body><switch>
    <video src="hi.mp4"/>
    <video src="lo.mp4"/>
    <audio src="hi.mp4"/>
  </switch></body>
</smil>
"#,
    )
    .expect("ism");
    std::fs::write(
        www.join("movie/escape.ism"),
        r#"<smil><body><switch><video src="../../etc/passwd"/></switch></body></smil>"#,
    )
    .expect("ism");
    let server = Server::start(Path::new(EXE), &www, "", &[]).expect("server");
    let group = packaged(&dir.path().join("out"), "movie", &[&hi, &lo]);
    let m = check_identical(&server, "/movie/movie.ism", &group);
    assert_eq!(m.stream_indexes[0].quality_levels.len(), 2);
    assert_eq!(get(&server, "/movie/escape.ism/Manifest").status, 404);
    if player::ready_or_skip("an_ism_groups_bitrates_into_one_presentation") {
        let web = server.addr("web");
        let r = player::play(&PlayRequest {
            min_time: 8.0,
            expect_levels: Some(2),
            ..PlayRequest::url(format!("http://{web}/movie/movie.ism/Manifest"))
        })
        .expect("the harness ran");
        assert!(r.ok, "dash.js: {r}");
    }
}
