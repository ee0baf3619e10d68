//! autoMSS end to end: an EMS-shaped config.lua turns it on; every stream published over RTMP
//! gets a rolling live presentation at `targetFolder/autoMSS/<stream>/<stream>.ismc`, which
//! dash.js plays from our web server; the presentation closes with its stream and starts over
//! (old files cleaned) when the stream returns. A bad config.lua stops the server before it
//! binds anything, with the file and line in the message.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use smoothcast_core::manifest::Manifest;
use smoothcast_tests::gst;
use smoothcast_tests::peer::{LiveEncode, Peer};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, read_manifest};
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_smoothcast"))
}

/// An EMS 1.7 config.lua as shipped (trimmed), with autoMSS on and the API and RTMP
/// acceptors on port 0; `target` is written with Windows separators, as EMS ships it.
fn ems_config_lua(target: &Path) -> String {
    let target = target.display().to_string().replace('/', "\\\\");
    r#"-- EvoStream Media Server configuration
configuration=
{
	daemon=false,
	instancesCount=-1,
	pathSeparator="/",
	logAppenders=
	{
		{
			name="console appender",
			type="coloredConsole",
			level=6
		},
		{
			name="file appender",
			type="file",
			level=6,
			fileName="../logs/evostreamms",
			newLineCharacters="\n",
			fileHistorySize=100,
			fileLength=1024*1024,
			singleLine=true
		},
	},
	applications=
	{
		rootDirectory="applications",
		{
			appDir="./",
			name="evostreamms",
			description="EVOSTREAM MEDIA SERVER",
			protocol="dynamiclinklibrary",
			default=true,
			pushPullPersistenceFile="../config/pushPullSetup.xml",
			aliases={"er", "live", "vod"},
			maxRtmpOutBuffer=512*1024,
			acceptors=
			{
				-- CLI acceptors
				{
					ip="127.0.0.1",
					port=0,
					protocol="inboundJsonCli",
					useLengthPadding=true
				},
				{
					ip="127.0.0.1",
					port=0,
					protocol="inboundHttpJsonCli"
				},
				{
					ip="127.0.0.1",
					port=0,
					protocol="inboundAsciiCli",
					useLengthPadding=true
				},
				-- RTMP and clustering
				{
					ip="127.0.0.1",
					port=0,
					protocol="inboundRtmp",
				},
				{
					ip="127.0.0.1",
					port=1936,
					protocol="inboundRtmp",
					clustering=true
				},
				--[[
				-- Inbound TCP TS
				{
					ip="0.0.0.0",
					port=9999,
					protocol="inboundTcpTs",
				},
				]]--
			},
			autoMSS=
			{
				targetFolder= "TARGET",
				chunkLength=2,
				chunkOnIDR=true,
				playlistLength=10,
				staleRetentionCount=2,
			},
			--[[
			autoHLS=
			{
				targetFolder= "..\\evo-webroot",
			},
			]]--
			eventLogger=
			{
				sinks=
				{
					--[=[
					{
						type="file",
						filename="../logs/events.txt",
						--[[ format="xml", ]]--
					},
					]=]--
				},
			},
		},
	}
}
"#
    .replace("TARGET", &target)
}

fn manifest(path: &Path) -> Option<Manifest> {
    read_manifest(path).ok()
}

fn mss_configs(server: &Server) -> Vec<serde_json::Value> {
    let r = server.api("listConfig", "").expect("listConfig");
    r["data"]["mss"].as_array().cloned().unwrap_or_default()
}

#[test]
fn auto_mss_from_an_ems_config_lua_plays_in_dashjs() {
    let dir = TempDir::new("auto-mss");
    let webroot = dir.path().join("www");
    let lua = dir.path().join("config.lua");
    std::fs::write(&lua, ems_config_lua(&webroot)).expect("write config.lua");
    // The harness's TOML (every port 0, the web root) first; config.lua applies over it.
    let lua_arg = lua.display().to_string();
    let server = Server::start(exe(), &webroot, "", &["--config", &lua_arg]).expect("server");
    assert!(
        mss_configs(&server).is_empty(),
        "no stream, no autoMSS config"
    );

    let group = webroot.join("autoMSS");
    let cam1 = group.join("cam1");
    let cam2 = group.join("cam2");
    let encoder = publish(server.addr("rtmp"), &["cam1", "cam2"], 60);
    for folder in [&cam1, &cam2] {
        let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let path = folder.join(format!("{name}.ismc"));
        wait_for(
            &format!("{}", path.display()),
            Duration::from_secs(40),
            || {
                manifest(&path)
                    .is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
            },
        );
        let m = manifest(&path).expect("manifest");
        assert!(m.is_live, "{name}: live");
        assert_eq!(m.stream_indexes.len(), 2, "{name}: video and audio");
        // EMS's autoMSS Url: relative to the stream's folder.
        let video = m
            .stream_indexes
            .iter()
            .find(|s| s.kind == smoothcast_core::TrackKind::Video)
            .expect("video");
        assert_eq!(video.url, "video/{bitrate}/{start time}.fmp4");
        let bitrate = video.quality_levels[0].bitrate;
        assert!(bitrate > 0, "bandwidths=0: measured");
        // The audio is announced at its own rate (64 kbit/s AAC), not the stream's.
        let audio = m
            .stream_indexes
            .iter()
            .find(|s| s.kind == smoothcast_core::TrackKind::Audio)
            .expect("audio");
        let audio_rate = audio.quality_levels[0].bitrate;
        assert!(
            (40_000..90_000).contains(&audio_rate),
            "{name}: audio at {audio_rate}"
        );
        assert!(folder.join(format!("audio/{audio_rate}")).is_dir());
        let fragments = std::fs::read_dir(folder.join(format!("video/{bitrate}")))
            .expect("video fragments")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "fmp4"))
            .count();
        assert!(fragments >= 2, "{name}: {fragments} fragments");
        check_listed_fragments(folder, &m);
    }

    let configs = mss_configs(&server);
    assert_eq!(configs.len(), 2, "one config per stream: {configs:?}");
    for c in &configs {
        assert_eq!(c["groupName"], "autoMSS", "{c}");
        assert_eq!(c["playlistType"], "rolling", "{c}");
        assert_eq!(c["keepAlive"], false, "{c}");
        assert_eq!(c["cleanupDestination"], true, "{c}");
        assert_eq!(c["chunkLength"], 2, "{c}");
        assert_eq!(c["staleRetentionCount"], 2, "{c}");
        assert_eq!(c["status"]["current"]["code"], 0, "streaming: {c}");
        let stream = c["localStreamName"].as_str().unwrap_or("");
        assert_eq!(c["manifestName"], format!("{stream}.ismc"), "{c}");
    }

    if player::ready_or_skip("auto_mss_from_an_ems_config_lua_plays_in_dashjs") {
        let result = player::play(&PlayRequest {
            seconds: 16.0,
            min_time: 10.0,
            live: true,
            expect_levels: Some(1),
            ..PlayRequest::url(format!(
                "http://{}/autoMSS/cam1/cam1.ismc",
                server.addr("web")
            ))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "live playback failed: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        assert_eq!(result.video_width, 480);
    }

    // Rolling: playlistLength 10 in the manifest, at most 10 + 2 look-ahead + 2 stale + 1
    // open fragment files on disk.
    let m = manifest(&cam2.join("cam2.ismc")).expect("manifest");
    assert!(
        m.stream_indexes.iter().all(|s| s.chunks.len() <= 10),
        "rolling window"
    );

    // keepAlive 0: the streams end, their presentations close as VOD and their configs go.
    drop(encoder);
    wait_for("the configs to go", Duration::from_secs(20), || {
        mss_configs(&server).is_empty()
    });
    for (folder, name) in [(&cam1, "cam1"), (&cam2, "cam2")] {
        let m = manifest(&folder.join(format!("{name}.ismc"))).expect("closed manifest");
        assert!(!m.is_live && m.duration > 0, "{name} closed as VOD");
        check_listed_fragments(folder, &m);
    }

    // cam1 returns: a new presentation, its folder cleaned first (cleanupDestination 1);
    // cam2's presentation in the same group is left alone.
    let stale = cam1.join("video/1/999999999999.fmp4");
    std::fs::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
    std::fs::write(&stale, b"old").expect("stale fragment");
    let _encoder = publish(server.addr("rtmp"), &["cam1"], 30);
    wait_for("cam1's new live manifest", Duration::from_secs(40), || {
        manifest(&cam1.join("cam1.ismc")).is_some_and(|m| m.is_live)
    });
    assert!(!stale.exists(), "the returning stream's folder was cleaned");
    let m = manifest(&cam1.join("cam1.ismc")).expect("manifest");
    check_listed_fragments(&cam1, &m);
    let kept = manifest(&cam2.join("cam2.ismc")).expect("cam2's manifest is still there");
    assert!(!kept.is_live);
    let configs = mss_configs(&server);
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(configs[0]["localStreamName"], "cam1");
}

/// Runs `smoothcast serve` with a port-0 TOML and then `lua`; returns (exit code, stdout,
/// stderr). The server must exit on its own.
fn serve_with(dir: &Path, lua_text: &str, alone: bool) -> (Option<i32>, String, String) {
    let lua = dir.join("bad.lua");
    std::fs::write(&lua, lua_text).expect("write");
    let toml = dir.join("ports.toml");
    std::fs::write(
        &toml,
        format!(
            "rtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\nhttp_api_port = 0\nweb_port = 0\nwebroot = {:?}\n",
            dir.join("www").display().to_string()
        ),
    )
    .expect("write");
    let mut cmd = Command::new(exe());
    cmd.arg("serve");
    if !alone {
        cmd.arg("--config").arg(&toml);
    }
    let mut child = cmd
        .arg("--config")
        .arg(&lua)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with a bad config.lua:\n{lua_text}");
        }
        sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    (
        status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_lua_stops_the_server_before_it_listens() {
    let dir = TempDir::new("auto-mss-bad");
    let app = |auto: &str| {
        format!(
            "-- autoMSS\nconfiguration = {{\n  applications = {{\n    {{\n      name = \"evostreamms\",\n{auto}    }},\n  }},\n}}\n"
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // A missing comma: line 7 is where the parser finds the next key.
        (
            app("      autoMSS = {\n        targetFolder = \"www\"\n        chunkLength = 2,\n      },\n"),
            "line 8",
            "syntax error",
        ),
        (
            app("      autoMSS = {\n        targetFolder = \"www\",\n        chunkLength = \"two\",\n      },\n"),
            "line 8",
            "chunkLength must be a number, not a string",
        ),
        (
            app("      autoMSS = {\n        targetFolder = \"www\",\n        playlistLength = 3,\n      },\n"),
            "line 8",
            "playlistLength must be a whole number from 5 to 999999",
        ),
        (
            app("      autoMSS = {\n        chunkLength = 2,\n      },\n"),
            "line 6",
            "autoMSS needs targetFolder",
        ),
    ];
    for (text, line, words) in &cases {
        for alone in [false, true] {
            let (code, stdout, stderr) = serve_with(dir.path(), text, alone);
            assert_ne!(code, Some(0), "{text}");
            assert!(code.is_some(), "exited, not killed: {text}");
            assert!(
                !stdout.contains("listening"),
                "bound listeners before failing: {stdout}"
            );
            for expected in ["bad.lua", line, words] {
                assert!(
                    stderr.contains(expected),
                    "{expected:?} not in {stderr:?} for\n{text}"
                );
            }
        }
    }
}

/// Where `smoothcast serve` was told to write must be a folder it may write to: found at
/// start, not when the first stream arrives.
#[test]
fn an_auto_mss_target_outside_the_web_root_is_refused_at_start() {
    let dir = TempDir::new("auto-mss-outside");
    let text = "configuration = { applications = { { autoMSS = { targetFolder = \"/etc\" } } } }";
    let (code, stdout, stderr) = serve_with(dir.path(), text, false);
    assert_ne!(code, Some(0));
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("bad.lua: line 1, column 65: autoMSS targetFolder /etc"),
        "{stderr}"
    );
}

/// One ffmpeg publishing a test pattern with a tone to each of `names` over RTMP, in real
/// time, 2 s GOPs.
fn publish(rtmp: std::net::SocketAddr, names: &[&str], seconds: u32) -> Peer {
    names
        .iter()
        .fold(LiveEncode::new(seconds).size("480x270"), |e, name| {
            e.rtmp(format!("rtmp://{rtmp}/live/{name}"), 400)
        })
        .start()
}

/// Every URL form the product advertises for live output (README, the player page):
/// createMSSStream with one stream and with two, autoMSS; each as `<manifest>.ismc` and as
/// IIS's `/Manifest`. All play in GStreamer (souphttpsrc + mssdemux through playbin), and
/// the IIS form of the adaptive one in dash.js (dash.js plays the `.ismc` forms in the
/// other live tests).
#[test]
fn every_advertised_live_url_plays() {
    let gst_ok = gst::ready_or_skip("every_advertised_live_url_plays");
    let dash_ok = player::ready_or_skip("every_advertised_live_url_plays");
    let dir = TempDir::new("auto-mss-urls");
    let webroot = dir.path().join("www");
    let toml = format!(
        "[auto_mss]\ntarget_folder = {:?}\nchunk_length = 2\nchunk_on_idr = true\nplaylist_length = 10\n",
        webroot.display().to_string()
    );
    let server = Server::start(exe(), &webroot, &toml, &[]).expect("server");
    let target = webroot.display().to_string();
    for (streams, extra) in [
        ("hi", "bandwidths=900000 groupname=single"),
        ("hi,lo", "bandwidths=900000,400000 groupname=abr"),
    ] {
        let r = server
            .api(
                "createMSSStream",
                &format!("localstreamnames={streams} targetfolder={target} {extra} chunkLength=2"),
            )
            .expect("api");
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    let _encoder = publish(server.addr("rtmp"), &["hi", "lo"], 60);
    // A viewer who opens the stream as it starts: the manifest does not exist for another
    // 12 s or so; the request is held until it does (up to 14 s), and GStreamer plays. The
    // viewer comes once the encoder is connected: an encoder that takes 2 s to start under
    // load would otherwise eat the hold's margin, and no hold can cover an absent encoder.
    wait_for("the encoder's streams", Duration::from_secs(20), || {
        server.api("listStreams", "").is_ok_and(|r| {
            let names: Vec<&str> = r["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str())
                .collect();
            names.contains(&"hi") && names.contains(&"lo")
        })
    });
    let early = gst_ok.then(|| {
        let url = format!("http://{}/abr/Manifest", server.addr("web"));
        std::thread::spawn(move || gst::play(&url, 30.0))
    });
    let manifests = [
        webroot.join("single/manifest.ismc"),
        webroot.join("abr/manifest.ismc"),
        webroot.join("autoMSS/hi/hi.ismc"),
    ];
    for m in &manifests {
        wait_for(&m.display().to_string(), Duration::from_secs(40), || {
            manifest(m).is_some_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
        });
    }
    // Stream ids, inbound and outbound (OFMSS), are small and distinct.
    let streams = server.api("listStreams", "").expect("listStreams");
    let ids: Vec<u64> = streams["data"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["uniqueId"].as_u64())
        .collect();
    assert!(
        ids.iter().any(|_| true) && ids.iter().all(|id| *id < 100),
        "{streams}"
    );
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{streams}");
    // What the encoder sends, as listStreams and getStreamInfo show it: 480x270 H.264
    // (ultrafast: Baseline) at 25 fps, 48 kHz mono AAC-LC, to the RTMP application `live`.
    let info = server
        .api("getStreamInfo", "localStreamName=hi")
        .expect("getStreamInfo");
    let listed = streams["data"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["name"] == "hi" && s["type"] == "INR")
                .cloned()
        })
        .expect("hi listed");
    for s in [&info["data"], &listed] {
        assert_eq!(s["appName"], "live", "{s}");
        assert_eq!(
            s["tcUrl"],
            format!("rtmp://{}/live", server.addr("rtmp")),
            "{s}"
        );
        assert_eq!(s["video"]["codec"], "H264", "{s}");
        assert_eq!(s["video"]["profile"], "Baseline", "{s}");
        assert!(
            s["video"]["level"]
                .as_str()
                .is_some_and(|l| l.contains('.')),
            "{s}"
        );
        assert_eq!(
            (s["video"]["width"].as_u64(), s["video"]["height"].as_u64()),
            (Some(480), Some(270)),
            "{s}"
        );
        let fps = s["video"]["frameRate"].as_f64().unwrap_or(0.0);
        assert!((24.0..=26.0).contains(&fps), "{s}");
        assert_eq!(s["audio"]["codec"], "AAC", "{s}");
        assert_eq!(s["audio"]["profile"], "LC", "{s}");
        assert_eq!(s["audio"]["sampleRate"], 48000, "{s}");
        assert_eq!(s["audio"]["channels"], 1, "{s}");
        assert!(s["upTime"].as_u64().is_some_and(|t| t > 5_000), "{s}");
        // 400 kbit/s video and 64 kbit/s audio, give or take the encoder's rate control.
        let bw = s["bandwidth"].as_u64().unwrap_or(0);
        assert!((150_000..2_000_000).contains(&bw), "{s}");
    }
    let web = server.addr("web");
    let urls: Vec<String> = [
        "/single/manifest.ismc",
        "/single/Manifest",
        "/abr/manifest.ismc",
        "/abr/Manifest",
        "/autoMSS/hi/hi.ismc",
        "/autoMSS/hi/Manifest",
    ]
    .iter()
    .map(|p| format!("http://{web}{p}"))
    .collect();
    if gst_ok {
        // All at once, so the test takes one playback's time.
        let runs: Vec<_> = urls
            .iter()
            .cloned()
            .map(|u| std::thread::spawn(move || (gst::play(&u, 12.0), u)))
            .collect();
        for run in runs {
            let (result, url) = run.join().expect("thread");
            let r = result.expect("gst ran");
            assert!(r.played(), "{url} in GStreamer: {r:?}");
        }
    }
    if let Some(early) = early {
        let r = early.join().expect("thread").expect("gst ran");
        // Decoding shares the CPU with six other players here: that it plays is the point.
        assert!(r.played(), "opened at the start: {r:?}");
    }
    if dash_ok {
        let result = player::play(&PlayRequest {
            seconds: 14.0,
            min_time: 6.0,
            live: true,
            expect_levels: Some(2),
            ..PlayRequest::url(format!("http://{web}/abr/Manifest"))
        })
        .expect("harness ran");
        assert!(result.ok, "/abr/Manifest in dash.js: {result}");
    }
}
