//! MPEG-TS ingest end to end: ffmpeg sends TS to the inbound port (TCP, then UDP) as an
//! encoder would, createMSSStream packages the resulting stream (`ts_1_257_256` as EMS names
//! it, or the configured `mpegts_stream_name`), and dash.js plays it: live while the TCP
//! sender sends, and as the VOD presentation closed when the UDP sender went quiet. Then damaged input: lost and duplicated packets are repaired into
//! a playable presentation, and a stream without a PMT or plain garbage is refused with a
//! clear log line while the server and what it wrote stay intact.
//!
//! The pull sources (`mpegtstcp://`, `mpegtsudp://`) run the same code and are tested in
//! `host-native/src/ingest/mpegts/tests.rs`; pullStream drives them.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;

use smoothcast_core::manifest::Manifest;
use smoothcast_tests::media::{clip, ClipSpec, Container};
use smoothcast_tests::peer::send_clip;
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, read_manifest};
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

/// ffmpeg's default PIDs (audio 0x101, video 0x100) on the server's first TS source.
const FIRST_STREAM: &str = "ts_1_257_256";
const SECONDS: f64 = 8.0;
/// Long enough to play live for a while after the first fragments.
const LIVE_SECONDS: f64 = 24.0;

fn ts_clip(seconds: f64) -> PathBuf {
    clip(&ClipSpec {
        seconds,
        width: 480,
        height: 270,
        video_bitrate_kbps: 500,
        container: Container::Ts,
        ..ClipSpec::default()
    })
    .expect("ffmpeg clip")
}

fn start(dir: &TempDir, extra_toml: &str) -> (Server, PathBuf) {
    let webroot = dir.path().join("www");
    let log = dir.path().join("server.log");
    let server = Server::start_with_stderr(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        extra_toml,
        &[],
        Stdio::from(std::fs::File::create(&log).expect("log file")),
    )
    .expect("server");
    (server, log)
}

/// A group packaging `stream`; without `keep_alive` it is closed as VOD when the stream ends.
fn create_group(server: &Server, stream: &str, group: &str, keep_alive: bool) {
    let reply = server
        .api(
            "createMSSStream",
            &format!(
                "localstreamnames={stream} bandwidths=600000 targetfolder={} groupname={group} chunkLength=2 keepAlive={}",
                server.webroot.display(),
                u8::from(keep_alive)
            ),
        )
        .expect("api");
    assert_eq!(reply["status"], "SUCCESS", "{reply}");
}

/// Waits for the group's presentation of a `seconds` clip to be closed as VOD, checks every
/// listed fragment, and returns the manifest.
fn closed_presentation(group_dir: &Path, seconds: f64) -> Manifest {
    let manifest = group_dir.join("manifest.ismc");
    wait_for("the closed presentation", Duration::from_secs(30), || {
        read_manifest(&manifest).is_ok_and(|m| !m.is_live)
    });
    let m = read_manifest(&manifest).expect("manifest");
    check_listed_fragments(group_dir, &m);
    let video = &m.stream_indexes[0];
    let listed: u64 = video.chunks.iter().map(|c| c.d).sum();
    assert!(
        listed as f64 >= (seconds - 2.5) * 1e7,
        "{listed} of {seconds} s listed"
    );
    m
}

fn plays(test: &str, webroot: &Path, group: &str) {
    if !player::ready_or_skip(test) {
        return;
    }
    let result = player::play(&PlayRequest {
        seconds: 25.0,
        min_time: SECONDS - 3.0,
        ..PlayRequest::dir(webroot, format!("{group}/manifest.ismc"))
    })
    .expect("harness ran");
    println!("{result}");
    assert!(result.ok, "playback failed: {}", result.reason);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    assert_eq!((result.video_width, result.video_height), (480, 270));
}

/// While the sender sends, listStreams shows the stream as EMS's inbound TS type.
fn listed_as_int(server: &Server, name: &str) -> bool {
    server.api("listStreams", "").is_ok_and(|r| {
        r["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["name"] == name && s["type"] == "INT"))
    })
}

#[test]
fn ts_over_tcp_to_port_9999_plays_live_in_dashjs() {
    let dir = TempDir::new("ts-tcp");
    let (server, _log) = start(&dir, "");
    create_group(&server, FIRST_STREAM, "live", true);
    create_group(&server, FIRST_STREAM, "tcp", false);
    let clip = ts_clip(LIVE_SECONDS);
    let url = format!("tcp://{}", server.addr("mpegts_tcp"));
    let mut sender = send_clip(&clip, "mpegts", &url);
    wait_for("the inbound stream", Duration::from_secs(15), || {
        listed_as_int(&server, FIRST_STREAM)
    });
    let live = server.webroot.join("live/manifest.ismc");
    wait_for("the live manifest", Duration::from_secs(20), || {
        read_manifest(&live).is_ok_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 2))
    });
    if player::ready_or_skip("ts_over_tcp_to_port_9999_plays_live_in_dashjs") {
        // Played live from the server's own web port while the sender still sends.
        let result = player::play(&PlayRequest {
            seconds: 12.0,
            min_time: 8.0,
            live: true,
            ..PlayRequest::url(format!("http://{}/live/manifest.ismc", server.addr("web")))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "live playback failed: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        assert_eq!((result.video_width, result.video_height), (480, 270));
    }
    let status = sender.wait().expect("ffmpeg");
    assert!(status.success(), "ffmpeg sending: {status}");
    closed_presentation(&server.webroot.join("tcp"), LIVE_SECONDS);
}

#[test]
fn ts_over_udp_to_port_9999_plays_in_dashjs() {
    let dir = TempDir::new("ts-udp");
    // An operator-chosen name instead of EMS's generated one.
    let (server, _log) = start(&dir, "mpegts_stream_name = \"udpcam\"");
    create_group(&server, "udpcam", "udp", false);
    let clip = ts_clip(SECONDS);
    let url = format!("udp://{}?pkt_size=1316", server.addr("mpegts_udp"));
    let mut sender = send_clip(&clip, "mpegts", &url);
    wait_for("the inbound stream", Duration::from_secs(15), || {
        listed_as_int(&server, "udpcam")
    });
    let status = sender.wait().expect("ffmpeg");
    assert!(status.success(), "ffmpeg sending: {status}");
    // UDP has no end but silence: the stream ends after 5 s without datagrams.
    closed_presentation(&server.webroot.join("udp"), SECONDS);
    plays(
        "ts_over_udp_to_port_9999_plays_in_dashjs",
        &server.webroot,
        "udp",
    );
}

fn pid(packet: &[u8]) -> u16 {
    (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
}

/// Sends `data` over TCP at about four times real time, then closes.
fn send_tcp(addr: SocketAddr, data: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let pace = Duration::from_secs_f64(SECONDS / 4.0 / (data.len() / 1316 + 1) as f64);
    for chunk in data.chunks(1316) {
        s.write_all(chunk).expect("write");
        sleep(pace);
    }
}

fn log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains(text))
}

#[test]
fn damaged_ts_is_repaired_and_ts_without_pmt_is_refused() {
    let dir = TempDir::new("ts-bad");
    let (mut server, log) = start(&dir, "");
    create_group(&server, FIRST_STREAM, "damaged", false);
    let ts = std::fs::read(ts_clip(SECONDS)).expect("clip");
    let packets: Vec<&[u8]> = ts.chunks(188).collect();

    // Continuity errors: every 150th video packet lost, every 40th packet sent twice.
    let mut damaged = Vec::new();
    let mut video = 0;
    for (i, p) in packets.iter().enumerate() {
        if pid(p) == 0x100 {
            video += 1;
            if video % 150 == 0 {
                continue;
            }
        }
        damaged.extend_from_slice(p);
        if i % 40 == 0 {
            damaged.extend_from_slice(p);
        }
    }
    send_tcp(server.addr("mpegts_tcp"), &damaged);
    let group = server.webroot.join("damaged");
    let before = closed_presentation(&group, SECONDS);
    wait_for("the damage report", Duration::from_secs(10), || {
        log_has(&log, "MPEG-TS damaged") && log_has(&log, "MPEG-TS source ended; in total")
    });
    plays(
        "damaged_ts_is_repaired_and_ts_without_pmt_is_refused",
        &server.webroot,
        "damaged",
    );

    // No PMT (ffmpeg puts it on PID 0x1000): refused at the end, never a stream.
    let no_pmt: Vec<u8> = packets
        .iter()
        .filter(|p| pid(p) != 0x1000)
        .flat_map(|p| p.iter().copied())
        .collect();
    send_tcp(server.addr("mpegts_tcp"), &no_pmt);
    wait_for("the missing PMT report", Duration::from_secs(10), || {
        log_has(&log, "no PMT found")
    });
    // Garbage over UDP: refused as not TS.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let garbage: Vec<u8> = (0..1316u32).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..20 {
        udp.send_to(&garbage, server.addr("mpegts_udp"))
            .expect("send");
    }
    wait_for("the garbage report", Duration::from_secs(10), || {
        log_has(&log, "not an MPEG-TS stream")
    });

    // The server is up, no stream came of the bad input, and what was written is intact.
    assert!(server.try_wait().is_none(), "the server exited");
    let version = server.api("version", "").expect("api");
    assert_eq!(version["status"], "SUCCESS");
    let streams = server.api("listStreams", "").expect("api");
    assert!(
        streams["data"]
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["type"] != "INT")),
        "{streams}"
    );
    let after = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    assert_eq!(after, before);
    check_listed_fragments(&group, &after);
    println!("{}", std::fs::read_to_string(&log).unwrap_or_default());
}
