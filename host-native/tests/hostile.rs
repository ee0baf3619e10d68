//! Hostile peers and faults against a real `smoothcast serve` process, on 127.0.0.1 only,
//! bounded in count and time. A separate process is what "the server stays up" means: a
//! panic that escaped would end it (the test sees the exit), and its memory is its own
//! (`/proc/<pid>/status` VmRSS), not shared with the test harness.
//!
//! - [`hostile_peers_do_not_stop_the_server_or_a_live_stream`]: while ffmpeg publishes a
//!   live stream that is packaged, garbage and tiny-chunk RTMP, 16 MiB declared messages
//!   from many connections, 1-byte RTMP handshakes from many connections (a second ffmpeg
//!   still publishes), a PMT listing 200 PIDs, random UDP datagrams, spoofed UDP senders (a
//!   real TS sender still gets in), TS with an extreme SPS, and idle CLI floods.
//! - [`a_full_disk_is_reported_and_the_presentation_recovers`]: a small tmpfs fills during
//!   live output and empties again.
//! - [`a_stale_saved_config_does_not_stop_the_start`].
//!
//! Attack connections come from other loopback addresses (127.0.0.2...), as attackers are
//! other hosts than the encoder: the per-address caps are part of what is tested.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use smoothcast_tests::media::{clip, ClipSpec, Container};
use smoothcast_tests::peer::{send_clip, LiveEncode};
use smoothcast_tests::presentation::{check_listed_fragments, read_manifest};
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_smoothcast"))
}

fn start(dir: &TempDir, extra_toml: &str) -> (Server, PathBuf) {
    let webroot = dir.path().join("www");
    let log = dir.path().join("server.log");
    let server = Server::start_with_stderr(
        exe(),
        &webroot,
        extra_toml,
        &[],
        Stdio::from(std::fs::File::create(&log).expect("log file")),
    )
    .expect("server");
    (server, log)
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `.fmp4` files under `dir`, recursively.
fn fragments(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                fragments(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "fmp4"))
            }
        })
        .sum()
}

fn alive(server: &mut Server, log: &Path, after: &str) {
    println!("after {after}: VmRSS {} KiB", rss_kib(server.pid()));
    if let Some(status) = server.try_wait() {
        panic!(
            "the server exited ({status}) after {after}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    let v = server.api("version", "").expect("the API answers");
    assert_eq!(v["status"], "SUCCESS", "after {after}: {v}");
}

/// A TCP connection from the loopback address `from` (the kernel routes all of 127/8).
fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

/// An RTMP client handshake (rml_rtmp's), leaving the connection at the chunk layer.
fn rtmp_handshake(s: &mut TcpStream) -> std::io::Result<()> {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    let bad = |e: rml_rtmp::handshake::HandshakeError| std::io::Error::other(e.to_string());
    let mut hs = Handshake::new(PeerType::Client);
    s.write_all(&hs.generate_outbound_p0_and_p1().map_err(bad)?)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match hs.process_bytes(&buf[..n]).map_err(bad)? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                s.write_all(&response_bytes)?
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                return s.write_all(&response_bytes)
            }
        }
    }
}

/// A type-0 chunk header on chunk stream 3 declaring `len` bytes of message `type_id`.
fn chunk_header(len: u32, type_id: u8) -> Vec<u8> {
    let l = len.to_be_bytes();
    vec![3, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
}

/// Whether the server closed `s` (EOF or reset) within the read timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// A tiny deterministic generator (xorshift) for garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// MPEG-2 CRC-32 of a PSI section.
fn crc32_mpeg(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// TS packets carrying `payload` on `pid` (the first with payload_unit_start), padded with
/// 0xff; `cc` is the continuity counter, carried on.
fn ts_packets(pid: u16, payload: &[u8], cc: &mut u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, piece) in payload.chunks(184).enumerate() {
        let pusi = if i == 0 { 0x40 } else { 0 };
        out.extend_from_slice(&[
            0x47,
            pusi | (pid >> 8) as u8,
            pid as u8,
            0x10 | (*cc & 0x0f),
        ]);
        *cc = cc.wrapping_add(1);
        out.extend_from_slice(piece);
        out.resize(out.len() + 184 - piece.len(), 0xff);
    }
    out
}

/// A PSI section (table id, id, body), with its header and CRC, behind a pointer field.
fn psi(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let len = body.len() + 5 + 4;
    let mut s = vec![
        table_id,
        0xb0 | ((len >> 8) as u8 & 0x0f),
        len as u8,
        (id >> 8) as u8,
        id as u8,
        0xc1,
        0,
        0,
    ];
    s.extend_from_slice(body);
    let crc = crc32_mpeg(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    let mut with_pointer = vec![0];
    with_pointer.extend(s);
    with_pointer
}

/// PAT (program 1 on PMT PID 0x1000) and a PMT listing `video_pids` as H.264 streams.
fn pat_pmt(video_pids: &[u16]) -> Vec<u8> {
    let mut ts = ts_packets(0, &psi(0, 1, &[0, 1, 0xf0, 0x00]), &mut 0);
    let mut body = vec![
        0xe0 | (video_pids[0] >> 8) as u8,
        video_pids[0] as u8,
        0xf0,
        0,
    ];
    for &pid in video_pids {
        body.extend_from_slice(&[0x1b, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0]);
    }
    ts.extend(ts_packets(0x1000, &psi(2, 1, &body), &mut 0));
    ts
}

/// A video PES (unbounded length) with a PTS, carrying `es`.
fn pes(es: &[u8], pts: u64) -> Vec<u8> {
    let p = |shift: u32, marker: u8| ((pts >> shift) as u8) | marker;
    let mut v = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
    v.extend_from_slice(&[
        0x21 | (((pts >> 29) as u8) & 0x0e),
        (pts >> 22) as u8,
        p(14, 1),
        (pts >> 7) as u8,
        ((pts << 1) as u8) | 1,
    ]);
    v.extend_from_slice(es);
    v
}

#[test]
fn hostile_peers_do_not_stop_the_server_or_a_live_stream() {
    let dir = TempDir::new("hostile-peers");
    let (mut server, log) = start(&dir, "[limits]\ncli_idle_timeout_secs = 2\n");
    let rtmp = server.addr("rtmp");
    let target = server.webroot.display().to_string();
    server.api_ok(
        "createMSSStream",
        &format!("localstreamnames=live bandwidths=400000 targetfolder={target} groupname=live chunkLength=1"),
    );
    let _encoder = LiveEncode::new(90)
        .gop_frames(25)
        .rtmp(format!("rtmp://{rtmp}/live/live"), 300)
        .start();
    let live = server.webroot.join("live");
    wait_for(
        "the live stream's first fragments",
        Duration::from_secs(20),
        || fragments(&live) >= 2,
    );
    let baseline = rss_kib(server.pid());
    let suite = Instant::now();
    let attacker: IpAddr = "127.0.0.2".parse().expect("ip");

    // Garbage RTMP, before and after a handshake, and a chunk size of 1.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..20 {
        let mut s = connect_from(attacker, rtmp).expect("connect");
        if i % 2 == 1 {
            rtmp_handshake(&mut s).expect("handshake");
        }
        let len = 1 + (rng.next() % 4000) as usize;
        let _ = s.write_all(&rng.bytes(len));
        assert!(closed_by_server(&mut s), "garbage RTMP closed ({i})");
    }
    let mut s = connect_from(attacker, rtmp).expect("connect");
    rtmp_handshake(&mut s).expect("handshake");
    let mut tiny = chunk_header(4, 1);
    tiny.extend_from_slice(&1u32.to_be_bytes());
    tiny.extend_from_slice(&rng.bytes(2000));
    let _ = s.write_all(&tiny);
    assert!(closed_by_server(&mut s), "a chunk size of 1 is refused");
    alive(&mut server, &log, "garbage and tiny-chunk RTMP");

    // 50 connections each declaring a 16 MiB message and sending 1 MiB of it: refused on
    // the header, so memory does not follow the declared sizes (it grew by ~16 MB a
    // connection before).
    let many: IpAddr = "127.0.0.3".parse().expect("ip");
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut s = connect_from(many, rtmp).expect("connect");
        rtmp_handshake(&mut s).expect("handshake");
        let mut msg = chunk_header((16 << 20) - 1, 9);
        msg.extend(vec![0u8; 1 << 20]);
        let _ = s.write_all(&msg);
        held.push(s);
    }
    for s in &mut held {
        assert!(closed_by_server(s), "a 16 MiB declared message is refused");
    }
    let after_big = rss_kib(server.pid());
    println!("VmRSS: {baseline} KiB before, {after_big} KiB after 50 x 16 MiB declared messages");
    assert!(
        after_big < baseline + 64 * 1024,
        "memory stays bounded: {baseline} -> {after_big} KiB"
    );
    drop(held);
    alive(&mut server, &log, "16 MiB declared messages");

    // One-byte handshakes from many connections of one address: it holds 64 slots at most,
    // and a publisher from elsewhere still gets in.
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    let n = 1100.min(soft_limit.saturating_sub(200));
    let one_byte: Vec<TcpStream> = (0..n)
        .filter_map(|_| {
            let mut s = connect_from(attacker, rtmp).ok()?;
            let _ = s.write_all(&[3]);
            Some(s)
        })
        .collect();
    let _late = LiveEncode::new(30)
        .rtmp(format!("rtmp://{rtmp}/live/late"), 200)
        .start();
    wait_for(
        "the publisher that came during the handshake flood",
        Duration::from_secs(15),
        || {
            server.api("listStreams", "").is_ok_and(|r| {
                r["data"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s["name"] == "late"))
            })
        },
    );
    println!(
        "{} one-byte RTMP handshakes held open; `late` published meanwhile",
        one_byte.len()
    );
    drop(one_byte);
    alive(&mut server, &log, "one-byte handshakes");

    // A PMT listing 200 H.264 PIDs, then unbounded PES on every one of them.
    let pids: Vec<u16> = (0..200).map(|i| 0x100 + i).collect();
    let mut ts = pat_pmt(&pids);
    let mut ccs = vec![0u8; pids.len()];
    for round in 0..20 {
        for (i, &pid) in pids.iter().enumerate() {
            let es = if round == 0 {
                pes(&[0, 0, 0, 1, 9, 0xf0], 90_000)
            } else {
                vec![0x5a; 184 * 4]
            };
            let mut packets = ts_packets(pid, &es, &mut ccs[i]);
            if round > 0 {
                // Continuation only: no new PES starts.
                for p in packets.chunks_mut(188) {
                    p[1] &= !0x40;
                }
            }
            ts.extend(packets);
        }
    }
    let mut s = connect_from(attacker, server.addr("mpegts_tcp")).expect("connect");
    let _ = s.write_all(&ts);
    drop(s);
    alive(&mut server, &log, "a PMT listing 200 PIDs");

    // TS with an extreme SPS (crop offsets of 2^31: an overflow in the parser's arithmetic),
    // over UDP and TCP.
    let sps = [
        0x67, 0x42, 0x00, 0x1e, 0xdd, 0xf0, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x3e,
    ];
    let mut es = vec![0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1];
    es.extend_from_slice(&sps);
    es.extend_from_slice(&[
        0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84,
    ]);
    es.extend(vec![0x21; 400]);
    let mut bad_sps = pat_pmt(&[0x100]);
    let mut cc = 0;
    for i in 0..4 {
        bad_sps.extend(ts_packets(0x100, &pes(&es, 90_000 + i * 3600), &mut cc));
    }
    let udp_ts = server.addr("mpegts_udp");
    let sender = UdpSocket::bind("127.0.0.2:0").expect("bind");
    for d in bad_sps.chunks(188 * 7) {
        let _ = sender.send_to(d, udp_ts);
    }
    let mut s = connect_from(attacker, server.addr("mpegts_tcp")).expect("connect");
    let _ = s.write_all(&bad_sps);
    drop(s);

    // Random datagrams from a few ports, one-byte datagrams from 100 ports and TS-looking
    // junk from 70 (which fills the sender table): a real sender still gets in.
    let junk: Vec<UdpSocket> = (0..8)
        .map(|_| UdpSocket::bind("127.0.0.2:0").expect("bind"))
        .collect();
    for i in 0..400 {
        let len = 1 + (rng.next() % 1500) as usize;
        let _ = junk[i % junk.len()].send_to(&rng.bytes(len), udp_ts);
    }
    let spoofed: Vec<UdpSocket> = (0..170)
        .map(|_| UdpSocket::bind("127.0.0.2:0").expect("bind"))
        .collect();
    for (i, s) in spoofed.iter().enumerate() {
        if i < 100 {
            let _ = s.send_to(&[0x47], udp_ts);
        } else {
            let mut d = vec![0u8; 188];
            d[0] = 0x47;
            d[1] = 0x1f;
            d[2] = 0xff;
            let _ = s.send_to(&d, udp_ts);
        }
    }
    let ts_clip = clip(&ClipSpec {
        seconds: 6.0,
        width: 320,
        height: 180,
        video_bitrate_kbps: 300,
        container: Container::Ts,
        ..ClipSpec::default()
    })
    .expect("ffmpeg clip");
    let _udp_sender = send_clip(&ts_clip, "mpegts", &format!("udp://{udp_ts}?pkt_size=1316"));
    wait_for(
        "the real UDP TS sender's stream",
        Duration::from_secs(15),
        || {
            server.api("listStreams", "").is_ok_and(|r| {
                r["data"].as_array().is_some_and(|a| {
                    a.iter().any(|s| {
                        s["type"] == "INT"
                            && s["name"].as_str().is_some_and(|n| n.ends_with("_257_256"))
                    })
                })
            })
        },
    );
    alive(
        &mut server,
        &log,
        "UDP garbage, spoofing and an extreme SPS",
    );

    // Idle CLI connections: one address gets 32 per port, the rest are closed; idle ones are
    // closed after cli_idle_timeout_secs (2 s here); a new `version` is answered throughout.
    let json_cli = server.addr("json_cli");
    let idle: Vec<TcpStream> = (0..40)
        .filter_map(|_| connect_from(attacker, json_cli).ok())
        .collect();
    let mut probe = TcpStream::connect(json_cli).expect("connect");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    probe.write_all(b"version\n").expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(b"\r\n\r\n") {
        let n = probe.read(&mut buf).expect("a reply during the flood");
        assert!(n > 0, "the CLI closed instead of answering");
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&reply).contains("SUCCESS"));
    let mut closed = 0;
    let waited = Instant::now();
    for mut s in idle {
        if closed_by_server(&mut s) {
            closed += 1;
        }
    }
    assert_eq!(closed, 40, "every idle CLI connection was closed");
    assert!(
        waited.elapsed() < Duration::from_secs(8),
        "closed after the 2 s idle timeout, not held: {:?}",
        waited.elapsed()
    );

    // Through all of it the live stream kept writing fragments, and what it listed is there.
    let before = fragments(&live);
    wait_for("more live fragments", Duration::from_secs(10), || {
        fragments(&live) >= before + 2
    });
    // The first manifest comes once every level lists 4 fragments: on a busy machine that
    // can be after the fragments counted above.
    wait_for("the live manifest", Duration::from_secs(20), || {
        read_manifest(&live.join("manifest.ismc")).is_ok()
    });
    let m = read_manifest(&live.join("manifest.ismc")).expect("manifest");
    check_listed_fragments(&live, &m);
    alive(&mut server, &log, "the whole suite");
    let metrics = smoothcast_tests::server::http_get(server.addr("http_api"), "/metrics")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap_or_default();
    let panics = metrics
        .lines()
        .find(|l| l.starts_with("smoothcast_errors_total{kind=\"panic\"}"))
        .unwrap_or("smoothcast_errors_total{kind=\"panic\"} 0");
    // With RUST_BACKTRACE set, the first contained panic makes std symbolize a backtrace,
    // which reads the debug binary's DWARF (~140 MB, once): then the end figure includes it
    // and is not checked. Without, the whole suite stays within 64 MiB of the start.
    let end = rss_kib(server.pid());
    if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
        println!("RUST_BACKTRACE is set: the end figure includes backtrace symbolization");
    } else {
        assert!(
            end < baseline + 64 * 1024,
            "memory stays bounded through the suite: {baseline} -> {end} KiB"
        );
    }
    println!(
        "hostile peers: {:?}; VmRSS {} KiB at the end; {panics} (contained)",
        suite.elapsed(),
        rss_kib(server.pid())
    );
}

/// A tmpfs mounted for the test, unmounted when dropped. `None` where mounting is not
/// allowed (not root): the writer's unit test covers the logic with a fault-injecting disk.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills `dir`'s filesystem with one file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.flush();
    path
}

#[test]
fn a_full_disk_is_reported_and_the_presentation_recovers() {
    let dir = TempDir::new("hostile-disk");
    let Some(disk) = Tmpfs::mount(&dir.path().join("small"), "4m") else {
        println!("cannot mount a tmpfs here (not root?): covered by outputs::writer's unit test");
        return;
    };
    let events = dir.path().join("events.jsonl");
    let (mut server, log) = start(
        &dir,
        &format!(
            "allowed_output_roots = [{:?}]\n[events]\nfile = {:?}\n",
            disk.0.display().to_string(),
            events.display().to_string()
        ),
    );
    let rtmp = server.addr("rtmp");
    for (target, group) in [
        (disk.0.display().to_string(), "full"),
        (server.webroot.display().to_string(), "other"),
    ] {
        server.api_ok(
            "createMSSStream",
            &format!("localstreamnames=cam bandwidths=400000 targetfolder={target} groupname={group} chunkLength=1"),
        );
    }
    let _encoder = LiveEncode::new(60)
        .gop_frames(25)
        .rtmp(format!("rtmp://{rtmp}/live/cam"), 300)
        .start();
    let full = disk.0.join("full");
    let other = server.webroot.join("other");
    let listed = |m: &smoothcast_core::manifest::Manifest| -> usize {
        m.stream_indexes.iter().map(|s| s.chunks.len()).sum()
    };
    wait_for(
        "a manifest on the small disk",
        Duration::from_secs(20),
        || read_manifest(&full.join("manifest.ismc")).is_ok_and(|m| listed(&m) >= 2),
    );

    // The disk fills: writes fail, the server reports them and stays up, the other output
    // goes on, and the manifest on the full disk lists only fragments that are there.
    let filler = fill(&disk.0);
    let other_before = fragments(&other);
    wait_for("mssChunkError", Duration::from_secs(10), || {
        std::fs::read_to_string(&events).is_ok_and(|e| e.contains("mssChunkError"))
    });
    wait_for("the other output going on", Duration::from_secs(10), || {
        fragments(&other) >= other_before + 3
    });
    alive(&mut server, &log, "the disk filling");
    let during = read_manifest(&full.join("manifest.ismc")).expect("manifest");
    check_listed_fragments(&full, &during);

    // Space returns: the held fragments are written, the manifest catches up, and every
    // fragment it lists is there.
    std::fs::remove_file(&filler).expect("free the space");
    wait_for(
        "the presentation catching up",
        Duration::from_secs(10),
        || {
            read_manifest(&full.join("manifest.ismc"))
                .is_ok_and(|m| listed(&m) >= listed(&during) + 4)
        },
    );
    let after = read_manifest(&full.join("manifest.ismc")).expect("manifest");
    check_listed_fragments(&full, &after);
    alive(&mut server, &log, "the disk recovering");
    drop(server);
}

#[test]
fn a_stale_saved_config_does_not_stop_the_start() {
    let dir = TempDir::new("hostile-stale");
    let state = dir.path().join("stale.state.json");
    let elsewhere = dir.path().join("old-webroot");
    // Saved by a server whose web root was elsewhere.
    std::fs::write(
        &state,
        serde_json::to_vec(&serde_json::json!({
            "version": 1,
            "mss": [{
                "groupId": 7,
                "configIds": [5],
                "params": {
                    "localStreamNames": ["cam"], "targetFolder": elsewhere.display().to_string(),
                    "bandwidths": [400000], "groupName": "old", "playlistType": "appending",
                    "playlistLength": 10, "manifestName": "manifest.ismc", "chunkLength": 2,
                    "chunkOnIDR": true, "keepAlive": true, "overwriteDestination": true,
                    "staleRetentionCount": 10, "cleanupDestination": false, "ismType": "ismc",
                    "isLive": true
                }
            }]
        }))
        .expect("json"),
    )
    .expect("write");
    let (mut server, log) = start(
        &dir,
        &format!("state_file = {:?}", state.display().to_string()),
    );
    assert_eq!(
        server.startup_value("state_file").map(PathBuf::from),
        Some(state.clone()),
        "{:?}",
        server.startup
    );
    assert_eq!(
        server.startup_value("restored"),
        Some("mss=0 mss_failed=1 pull=0"),
        "{:?}",
        server.startup
    );
    assert_eq!(
        server.startup_value("webroot").map(PathBuf::from),
        Some(server.webroot.clone())
    );
    assert!(server
        .startup_value("config_files")
        .is_some_and(|f| f.ends_with(".smoothcast.toml")));
    alive(&mut server, &log, "a stale config at start");
    let entry = server.config_entry("mss", &serde_json::json!(5));
    assert_eq!(entry["status"]["current"]["code"], 5, "{entry}");
    assert!(
        entry["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("outside the folders")),
        "{entry}"
    );
    // A new config gets a new id; the stale one is removable and then gone for good.
    let created = server.api_ok(
        "createMSSStream",
        &format!(
            "localstreamnames=x targetfolder={} groupname=new",
            server.webroot.display()
        ),
    );
    // Config ids follow the stale config's (5); group ids are a sequence of their own.
    assert_eq!(
        created["data"]["configIds"][0].as_u64(),
        Some(6),
        "{created}"
    );
    server.api_ok("removeConfig", "id=5");
    assert!(server.config_entry("mss", &serde_json::json!(5)).is_null());
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    assert!(
        saved["mss"]
            .as_array()
            .is_some_and(|a| a.iter().all(|g| g["groupId"] != 7)),
        "{saved}"
    );
    assert!(
        !elsewhere.exists(),
        "removing a failed config touches no files"
    );
}
