//! Restarts: configs created over the API (an MSS output, a pull) survive `kill -9` of the
//! server, and the live presentation continues. While it runs, a poller keeps reading the folder as a player
//! would: the manifest always parses, every fragment it lists is whole, and no time slot ever
//! changes its fragment. After the restart the timeline goes on after the old one, and
//! dash.js plays it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use smoothcast_core::fragment::Fragment;
use smoothcast_core::manifest::{self, Manifest};
use smoothcast_tests::peer::{LiveEncode, Peer};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::fragment_path;
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

/// What the poller saw, over the whole test.
#[derive(Default)]
struct Seen {
    manifests: usize,
    /// Every chunk ever listed, by kind and start time: its duration and fragment size.
    chunks: BTreeMap<(String, u64), (u64, usize)>,
    problems: Vec<String>,
}

/// Reads the manifest and every fragment it lists, as often as it can, until told to stop.
fn poll(dir: PathBuf, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let manifest_path = dir.join("manifest.ismc");
    while !stop.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(50));
        let Ok(xml) = std::fs::read_to_string(&manifest_path) else {
            continue;
        };
        let mut problems = Vec::new();
        let mut listed = Vec::new();
        match manifest::parse(&xml) {
            Err(e) => problems.push(format!("manifest does not parse: {e}")),
            Ok(m) => {
                for s in &m.stream_indexes {
                    for q in &s.quality_levels {
                        for c in &s.chunks {
                            let path = fragment_path(&dir, s, q, c);
                            let check =
                                std::fs::read(&path)
                                    .map_err(|e| e.to_string())
                                    .and_then(|d| {
                                        Fragment::decode(&d)
                                            .map(|f| (f, d.len()))
                                            .map_err(|e| e.to_string())
                                    });
                            match check {
                                Err(e) => problems.push(format!("{}: {e}", path.display())),
                                Ok((f, _))
                                    if (f.moof.traf.tfxd.time, f.moof.traf.tfxd.duration)
                                        != (c.t, c.d) =>
                                {
                                    problems.push(format!(
                                        "{}: tfxd is not ({}, {})",
                                        path.display(),
                                        c.t,
                                        c.d
                                    ))
                                }
                                Ok((_, len)) => {
                                    listed.push((s.kind.as_str().to_string(), c.t, c.d, len))
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.manifests += 1;
        for (kind, t, d, len) in listed {
            match seen.chunks.insert((kind.clone(), t), (d, len)) {
                Some(before) if before != (d, len) => seen.problems.push(format!(
                    "{kind} fragment at {t} changed: {before:?} then {:?}",
                    (d, len)
                )),
                _ => {}
            }
        }
        seen.problems.extend(problems);
    }
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    manifest::parse(&std::fs::read_to_string(path).ok()?).ok()
}

/// End of the video timeline a manifest lists.
fn video_end(m: &Manifest) -> u64 {
    m.stream_indexes[0].chunks.last().map_or(0, |c| c.t + c.d)
}

const TEST: &str = "a_killed_server_comes_back_with_its_configs_and_continues_the_presentation";

#[test]
fn a_killed_server_comes_back_with_its_configs_and_continues_the_presentation() {
    let dir = TempDir::new("restart");
    let webroot = dir.path().join("www");
    let state_file = dir.path().join("smoothcast.state.json");
    let extra = format!("state_file = {:?}", state_file.display().to_string());
    let exe = Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let mut server = Server::start(exe, &webroot, &extra, &[]).expect("server");
    let target = webroot.display().to_string();
    // bandwidths=0: measured, and the measured bitrate must come back with the config.
    // 2 s chunks: dash.js plays four fragments behind the live edge, and a viewer watching
    // through the kill loses the downtime from that margin (the timeline goes on without a
    // gap). With 1 s fragments a few seconds of downtime can bring it to the newest fragment,
    // fetched before its tfrf names a successor, and dash.js then stops (it never refetches).
    let created = server
        .api(
            "createMSSStream",
            &format!(
                "localstreamnames=cam bandwidths=0 targetfolder={target} groupname=live playlisttype=rolling playlistLength=10 staleRetentionCount=3 chunkLength=2"
            ),
        )
        .expect("api");
    assert_eq!(created["status"], "SUCCESS", "{created}");
    let config_id = created["data"]["configIds"][0].as_u64().expect("config id");
    // The demo-style configs of a server's own making are not saved; this one is.
    assert!(state_file.is_file(), "createMSSStream saved the state");
    // A pull is saved too: one that listens for an MPEG-TS sender that never comes.
    let ts_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let pulled = server
        .api(
            "pullStream",
            &format!("uri=mpegtstcp://127.0.0.1:{ts_port} localStreamName=tsin"),
        )
        .expect("api");
    assert_eq!(pulled["status"], "SUCCESS", "{pulled}");
    let pull_id = pulled["data"]["configId"].as_u64().expect("pull config id");

    let group = webroot.join("live");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (dir, seen, stop) = (group.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || poll(dir, seen, stop))
    };

    let encoder = publish(server.addr("rtmp"), "cam", 60);
    let manifest_path = group.join("manifest.ismc");
    wait_for("the live manifest", Duration::from_secs(40), || {
        read_manifest(&manifest_path).is_some_and(|m| video_end(&m) >= 80_000_000)
    });
    let before = read_manifest(&manifest_path).expect("manifest");
    let bitrate = before.stream_indexes[0].quality_levels[0].bitrate;
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).expect("state file")).expect("json");
    // The config keeps bandwidths=0 (a new presentation measures again); the bitrate this
    // presentation was measured at is kept apart, for resuming it.
    assert_eq!(
        state["mss"][0]["params"]["bandwidths"][0].as_u64(),
        Some(0),
        "bandwidths=0 is kept: {state}"
    );
    assert_eq!(
        state["mss"][0]["measured"][0].as_u64(),
        Some(u64::from(bitrate)),
        "the measured bandwidth is saved for the resume: {state}"
    );

    // A viewer watching through the kill: play.mjs serves the folder itself, so the player
    // outlives the server. dash.js never reloads a live MSS manifest; it goes on by the tfrf of
    // each fragment, so it crosses the restart only if the old fragments announce the new.
    let across = player::ready_or_skip(TEST).then(|| {
        let root = webroot.clone();
        std::thread::spawn(move || {
            player::play(&PlayRequest {
                seconds: 30.0,
                min_time: 20.0,
                live: true,
                expect_levels: Some(1),
                ..PlayRequest::dir(root, "live/manifest.ismc")
            })
        })
    });
    sleep(Duration::from_secs(8));

    // kill -9 in the middle of live output.
    let killed = Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for("the server to die", Duration::from_secs(10), || {
        server.try_wait().is_some()
    });
    drop(encoder);
    drop(server);
    let old_end = std::fs::read_dir(group.join("cam/video").join(bitrate.to_string()))
        .expect("video folder")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let t: u64 = name.strip_suffix(".fmp4")?.parse().ok()?;
            let f = Fragment::decode(&std::fs::read(e.path()).ok()?).ok()?;
            Some(t + f.moof.traf.tfxd.duration)
        })
        .max()
        .expect("whole fragments on disk");
    let listed_end = video_end(&read_manifest(&manifest_path).expect("manifest after the kill"));
    assert!(
        listed_end <= old_end,
        "the manifest lags the fragments on disk"
    );

    // What a kill during a plain (non-atomic) write would leave: half a fragment in the slot
    // the next one takes, and a temporary file of an interrupted atomic write.
    let video_dir = group.join("cam/video").join(bitrate.to_string());
    let newest = std::fs::read_dir(&video_dir)
        .expect("video folder")
        .filter_map(|e| e.ok())
        .max_by_key(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".fmp4")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .expect("a fragment");
    let bytes = std::fs::read(newest.path()).expect("read");
    let half = video_dir.join(format!("{old_end}.fmp4"));
    std::fs::write(&half, &bytes[..bytes.len() / 2]).expect("write");
    let leftover = video_dir.join(format!(".{old_end}.fmp4.4242.tmp"));
    std::fs::write(&leftover, &bytes[..10]).expect("write");

    // At once, on the same folder and state file: the config is back, with its id.
    let server = Server::start(exe, &webroot, &extra, &[]).expect("server again");
    let _encoder = publish(server.addr("rtmp"), "cam", 60);

    let configs = server.api("listConfig", "").expect("api");
    let mss = &configs["data"]["mss"];
    assert_eq!(mss.as_array().map(Vec::len), Some(1), "{configs}");
    assert_eq!(mss[0]["configId"].as_u64(), Some(config_id), "{configs}");
    let pull = &configs["data"]["pull"];
    assert_eq!(pull.as_array().map(Vec::len), Some(1), "{configs}");
    assert_eq!(pull[0]["configId"].as_u64(), Some(pull_id), "{configs}");
    assert_eq!(pull[0]["localStreamName"], "tsin", "{configs}");
    wait_for(
        "fragments after the restart",
        Duration::from_secs(40),
        || read_manifest(&manifest_path).is_some_and(|m| video_end(&m) > old_end),
    );
    assert!(
        !leftover.exists(),
        "the temporary file of the killed run is removed"
    );
    let seam = old_end as f64 / 1e7;
    println!("restart at {seam} s of the timeline");

    // A viewer arriving just as the first new fragment is listed, through the restarted
    // server: dash.js starts a few fragments behind the live edge, in the old fragments, and
    // plays on into the new ones by the manifest's timeline.
    if player::ready_or_skip(TEST) {
        let result = player::play(&PlayRequest {
            seconds: 14.0,
            min_time: 10.0,
            live: true,
            expect_levels: Some(1),
            ..PlayRequest::url(format!("http://{}/live/manifest.ismc", server.addr("web")))
        })
        .expect("harness ran");
        println!("after the restart: {result}");
        assert!(
            result.ok,
            "live playback after the restart failed: {}",
            result.reason
        );
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        assert!(result.current_time > seam + 5.0, "played after the restart");
    } else {
        sleep(Duration::from_secs(14));
    }

    if let Some(across) = across {
        let result = across.join().expect("player thread").expect("harness ran");
        println!("across the restart: {result}");
        assert!(
            result.ok,
            "playback across the restart failed: {}",
            result.reason
        );
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        let from = result.raw["played_from"].as_f64().unwrap_or(f64::MAX);
        assert!(
            from < seam && result.current_time > seam + 5.0,
            "played from {from} s to {} s, across the restart at {seam} s",
            result.current_time
        );
    }

    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        seen.manifests > 50,
        "the poller read {} manifests",
        seen.manifests
    );
    assert!(seen.problems.is_empty(), "{:#?}", seen.problems);

    let after = read_manifest(&manifest_path).expect("manifest");
    assert_eq!(
        after.stream_indexes[0].quality_levels[0].bitrate, bitrate,
        "the level keeps its measured bitrate"
    );
    // Every chunk any manifest listed, before and after the kill: strictly increasing with
    // no overlap, and the first after the restart starts at the end of the old ones.
    for kind in ["video", "audio"] {
        let chunks: Vec<(u64, u64)> = seen
            .chunks
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, t), (d, _))| (*t, *d))
            .collect();
        assert!(chunks.len() > 12, "{kind}: {chunks:?}");
        for w in chunks.windows(2) {
            assert!(
                w[0].0 + w[0].1 <= w[1].0,
                "{kind}: {:?} overlaps {:?}",
                w[0],
                w[1]
            );
        }
        let first_new = chunks
            .iter()
            .find(|(t, _)| *t >= old_end)
            .expect("chunks after the restart");
        let gap = chunks
            .iter()
            .filter(|(t, _)| *t < first_new.0)
            .map(|(t, d)| first_new.0 - (t + d))
            .min()
            .expect("chunks before the restart");
        // The timeline goes on where it ended: the last old fragment was stretched over the
        // moment the new source's first sample lands (a gap stops dash.js). Audio may have
        // lost the fragment it had not closed when the server died: then a chunk is missing.
        let limit = if kind == "video" { 0 } else { 21_000_000 };
        assert!(
            gap <= limit,
            "{kind}: the timeline goes on without the downtime's gap ({gap})"
        );
    }
    // Nothing half-written is left where a player could see it.
    for entry in walk(&group) {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".fmp4") {
            let data = std::fs::read(&entry).expect("read");
            assert!(
                Fragment::decode(&data).is_ok(),
                "{} is not whole",
                entry.display()
            );
        }
    }
}

/// A corrupt state file stops the start with an error that names it, and is left as it was.
#[test]
fn a_corrupt_state_file_stops_the_start_and_says_which() {
    let dir = TempDir::new("restart-corrupt");
    let webroot = dir.path().join("www");
    let state_file = dir.path().join("broken.state.json");
    std::fs::write(&state_file, b"{\"version\":1,\"mss\":[{\"groupId\"").expect("write");
    let extra = format!("state_file = {:?}", state_file.display().to_string());
    let exe = Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let out = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg({
            let config = dir.path().join("server.toml");
            std::fs::write(
                &config,
                format!(
                    "rtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\nhttp_api_port = 0\nweb_port = 0\nwebroot = {:?}\n{extra}\n",
                    webroot.display().to_string()
                ),
            )
            .expect("config");
            config
        })
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success(), "the server refused to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&state_file.display().to_string()),
        "the error names the file: {stderr}"
    );
    assert_eq!(
        std::fs::read(&state_file).expect("still there"),
        b"{\"version\":1,\"mss\":[{\"groupId\"",
        "left as it was"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// ffmpeg publishing one live stream over RTMP in real time: 25 fps, a keyframe every two
/// seconds, AAC audio.
fn publish(rtmp: std::net::SocketAddr, name: &str, seconds: u32) -> Peer {
    LiveEncode::new(seconds)
        .rtmp(format!("rtmp://{rtmp}/live/{name}"), 300)
        .start()
}
