//! Live end to end: ffmpeg publishes two RTMP streams from one encoder (two bitrates, aligned
//! GOPs); createMSSStream over the HTTP API makes an adaptive live presentation; dash.js plays
//! it live; a rolling group keeps its window and deletes old files; killing the encoder
//! mid-fragment leaves what was written playable. And the same over TLS: RTMPS in, HTTPS out.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use smoothcast_core::manifest::Manifest;
use smoothcast_tests::certs::Ca;
use smoothcast_tests::peer::{LiveEncode, Peer};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, fragment_path, read_manifest};
use smoothcast_tests::server::{base64, http_get, https_get, Server};
use smoothcast_tests::{wait_for, TempDir};

/// One encoder publishing two renditions (`hi`, `lo`) of one source over RTMP in real time.
fn publish_two(rtmp: std::net::SocketAddr, seconds: u32) -> Peer {
    LiveEncode::new(seconds)
        .size("640x360")
        .rtmp_scaled(format!("rtmp://{rtmp}/live/hi"), "640x360", 800)
        .rtmp_scaled(format!("rtmp://{rtmp}/live/lo"), "480x270", 300)
        .start()
}

fn read_manifest_opt(path: &Path) -> Option<Manifest> {
    read_manifest(path).ok()
}

#[test]
fn rtmp_to_live_adaptive_mss_plays_in_dashjs() {
    let dir = TempDir::new("live-abr");
    let webroot = dir.path().join("www");
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        "",
        &[],
    )
    .expect("server");
    let target = webroot.display().to_string();
    let created = server
        .api(
            "createMSSStream",
            &format!("localstreamnames=hi,lo bandwidths=900000,400000 targetfolder={target} groupname=abr chunkLength=2"),
        )
        .expect("api");
    assert_eq!(created["status"], "SUCCESS", "{created}");
    let rolling = server
        .api(
            "createMSSStream",
            &format!(
                "localstreamnames=hi bandwidths=900000 targetfolder={target} groupname=roll playlisttype=rolling playlistLength=5 staleRetentionCount=1 chunkLength=2"
            ),
        )
        .expect("api");
    assert_eq!(rolling["status"], "SUCCESS", "{rolling}");
    // Without keepAlive the presentation is closed as VOD when its source stops.
    let closing = server
        .api(
            "createMSSStream",
            &format!("localstreamnames=lo bandwidths=400000 targetfolder={target} groupname=closing keepAlive=0 chunkLength=2"),
        )
        .expect("api");
    assert_eq!(closing["status"], "SUCCESS", "{closing}");
    // Before any stream: the configs wait.
    let configs = server.api("listConfig", "").expect("api");
    assert_eq!(
        configs["data"]["mss"][0]["status"]["current"]["code"], 2,
        "{configs}"
    );

    let encoder = publish_two(server.addr("rtmp"), 75);
    let abr = webroot.join("abr");
    wait_for("the live manifest", Duration::from_secs(30), || {
        read_manifest_opt(&abr.join("manifest.ismc"))
            .is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    let m = read_manifest_opt(&abr.join("manifest.ismc")).expect("manifest");
    assert!(m.is_live);
    assert_eq!(
        m.stream_indexes[0]
            .quality_levels
            .iter()
            .map(|q| q.bitrate)
            .collect::<Vec<_>>(),
        vec![900_000, 400_000]
    );
    // Both renditions carry the encoder's one 64 kbit/s AAC: announced once, at its rate.
    let audio: Vec<u32> = m.stream_indexes[1]
        .quality_levels
        .iter()
        .map(|q| q.bitrate)
        .collect();
    assert_eq!(audio.len(), 1, "identical audio announced once: {audio:?}");
    assert!((40_000..90_000).contains(&audio[0]), "{audio:?}");
    check_listed_fragments(&abr, &m);

    if player::ready_or_skip("rtmp_to_live_adaptive_mss_plays_in_dashjs") {
        // Played from our own web server, as a viewer would.
        let result = player::play(&PlayRequest {
            seconds: 42.0,
            min_time: 40.0,
            live: true,
            expect_levels: Some(2),
            ..PlayRequest::url(format!("http://{}/abr/manifest.ismc", server.addr("web")))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "live playback failed: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
    } else {
        sleep(Duration::from_secs(40));
    }

    // The rolling group: a constant window of 5, and old files gone.
    let roll = webroot.join("roll");
    let mut windows = Vec::new();
    for _ in 0..3 {
        let m = read_manifest_opt(&roll.join("manifest.ismc")).expect("rolling manifest");
        windows.push(m.stream_indexes[0].chunks.len());
        check_listed_fragments(&roll, &m);
        sleep(Duration::from_secs(2));
    }
    assert_eq!(
        windows,
        vec![5, 5, 5],
        "rolling window stays at playlistLength"
    );
    let files = std::fs::read_dir(roll.join("hi/video/900000"))
        .expect("video folder")
        .count();
    assert!(files <= 5 + 2 + 1 + 1, "old files deleted: {files} left");
    let m = read_manifest_opt(&roll.join("manifest.ismc")).expect("manifest");
    assert!(
        m.stream_indexes[0].chunks[0].t > 0,
        "the window has moved past the start"
    );

    // Kill the encoder mid-fragment: what is listed stays complete and parseable.
    drop(encoder);
    sleep(Duration::from_secs(2));
    for group in [&abr, &roll] {
        let m = read_manifest_opt(&group.join("manifest.ismc"))
            .expect("manifest after the encoder died");
        check_listed_fragments(group, &m);
    }
    let configs = server.api("listConfig", "").expect("api");
    assert_eq!(
        configs["data"]["mss"][0]["status"]["current"]["code"], 4,
        "disconnected: {configs}"
    );
    let closed =
        read_manifest_opt(&webroot.join("closing/manifest.ismc")).expect("closed manifest");
    assert!(
        !closed.is_live && closed.duration > 0,
        "keepAlive=0 closes the presentation as VOD"
    );
    check_listed_fragments(&webroot.join("closing"), &closed);

    // The encoder comes back (its clock restarts at 0): the timeline continues after the
    // loss, without overlap.
    let before_end = m_end(&read_manifest_opt(&abr.join("manifest.ismc")).expect("manifest"));
    let _encoder = publish_two(server.addr("rtmp"), 20);
    wait_for(
        "fragments after the restart",
        Duration::from_secs(40),
        || {
            read_manifest_opt(&abr.join("manifest.ismc"))
                .is_some_and(|m| m_end(&m) > before_end + 40_000_000)
        },
    );
    let m = read_manifest_opt(&abr.join("manifest.ismc")).expect("manifest");
    for s in &m.stream_indexes {
        for w in s.chunks.windows(2) {
            assert!(w[0].t + w[0].d <= w[1].t, "{:?} overlaps {:?}", w[0], w[1]);
        }
    }
    check_listed_fragments(&abr, &m);
    let configs = server.api("listConfig", "").expect("api");
    assert_eq!(
        configs["data"]["mss"][0]["status"]["current"]["code"], 0,
        "streaming again: {configs}"
    );
}

/// End of the video timeline a manifest lists.
fn m_end(m: &Manifest) -> u64 {
    m.stream_indexes[0].chunks.last().map_or(0, |c| c.t + c.d)
}

/// TLS end to end (issue 10), with certificates made at test time: the HTTPS API creates the
/// presentation, ffmpeg publishes over RTMPS verifying the server's certificate, the
/// manifest and a fragment come over HTTPS, dash.js plays it live over HTTPS with only the
/// server's key trusted, and SIGHUP swaps the certificate while a bad one keeps the old.
#[test]
fn rtmps_publish_https_play_and_certificate_reload() {
    let dir = TempDir::new("live-tls");
    let webroot = dir.path().join("www");
    let certs = dir.path().join("tls");
    std::fs::create_dir_all(&certs).expect("mkdir");
    let ca = Ca::new("smoothcast test CA");
    let ca_file = ca.write(&certs);
    let leaf = ca.leaf();
    let (cert, key) = leaf.write(&certs);
    let log = dir.path().join("server.log");
    let server = Server::start_with_stderr(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        &format!(
            "[tls]\ncert = {:?}\nkey = {:?}\nhttps_port = 0\nhttps_api_port = 0\nrtmps_port = 0\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
        &[],
        std::fs::File::create(&log).expect("log file").into(),
    )
    .expect("server");
    let (https, https_api, rtmps) = (
        server.addr("https"),
        server.addr("https_api"),
        server.addr("rtmps"),
    );

    // The API over HTTPS.
    let params = format!(
        "localstreamnames=sec bandwidths=600000 targetfolder={} groupname=sec chunkLength=2",
        webroot.display()
    );
    let (reply, served) = https_get(
        https_api,
        &ca.pem,
        &format!("/createMSSStream?params={}", base64(params.as_bytes())),
    )
    .expect("HTTPS API");
    assert_eq!(served, leaf.der, "the configured certificate");
    let reply: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(reply["status"], "SUCCESS", "{reply}");

    // RTMPS: ffmpeg checks the certificate against the test CA.
    let _encoder = LiveEncode::new(45)
        .verify_with_ca(&ca_file)
        .rtmp(format!("rtmps://{rtmps}/live/sec"), 500)
        .start();
    let group = webroot.join("sec");
    wait_for("the live manifest", Duration::from_secs(30), || {
        read_manifest_opt(&group.join("manifest.ismc"))
            .is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });

    // The manifest and a fragment over HTTPS, the fragment byte for byte as written.
    let (m, _) = https_get(https, &ca.pem, "/sec/manifest.ismc").expect("HTTPS manifest");
    assert_eq!(m.status, 200);
    assert_eq!(m.header("content-type"), "application/vnd.ms-sstr+xml");
    assert!(String::from_utf8_lossy(&m.body).contains("IsLive=\"TRUE\""));
    let on_disk = read_manifest_opt(&group.join("manifest.ismc")).expect("manifest");
    let s = &on_disk.stream_indexes[0];
    let (q, c) = (&s.quality_levels[0], &s.chunks[0]);
    let file = fragment_path(&group, s, q, c);
    let rel = file.strip_prefix(&webroot).expect("inside the web root");
    let url = format!("/{}", rel.display());
    // Live fragments are rewritten as look-ahead fills in: equal to one version on disk.
    wait_for(
        "a fragment over HTTPS as on disk",
        Duration::from_secs(10),
        || {
            let before = std::fs::read(&file).unwrap_or_default();
            let got = https_get(https, &ca.pem, &url).expect("HTTPS fragment");
            assert_eq!(got.0.status, 200);
            got.0.body == before || got.0.body == std::fs::read(&file).unwrap_or_default()
        },
    );
    // A client trusting another CA refuses the server.
    assert!(https_get(https, &Ca::new("other CA").pem, "/sec/manifest.ismc").is_err());

    if player::ready_or_skip("rtmps_publish_https_play_and_certificate_reload") {
        let result = player::play(&PlayRequest {
            seconds: 8.0,
            min_time: 6.0,
            live: true,
            trust_spki: Some(leaf.spki_sha256.clone()),
            ..PlayRequest::url(format!("https://{https}/sec/manifest.ismc"))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(
            result.ok,
            "live playback over HTTPS failed: {}",
            result.reason
        );
        assert!(result.errors.is_empty(), "{:?}", result.errors);
    }

    // Renewal: a certificate from another CA, then SIGHUP.
    let ca2 = Ca::new("renewed CA");
    let renewed = ca2.leaf();
    renewed.write(&certs);
    hangup(&server);
    wait_for("the renewed certificate", Duration::from_secs(10), || {
        https_get(https, &ca2.pem, "/sec/manifest.ismc")
            .is_ok_and(|(r, c)| r.status == 200 && c == renewed.der)
    });
    let (_, c) = https_get(https_api, &ca2.pem, "/version").expect("HTTPS API renewed");
    assert_eq!(c, renewed.der, "every TLS listener shares the certificate");
    assert!(https_get(https, &ca.pem, "/sec/manifest.ismc").is_err());

    // A broken renewal: the error is logged and the certificate in use stays.
    smoothcast_tests::certs::write(&certs, "not a certificate", &renewed.key_pem);
    hangup(&server);
    wait_for(
        "the reload error in the log",
        Duration::from_secs(10),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("TLS certificate not reloaded")),
    );
    let (r, c) = https_get(https, &ca2.pem, "/sec/manifest.ismc").expect("still served");
    assert_eq!((r.status, c), (200, renewed.der));
    // The plain listeners are unchanged.
    assert_eq!(
        http_get(server.addr("web"), "/sec/manifest.ismc")
            .expect("plain web")
            .status,
        200
    );
}

fn hangup(server: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}
