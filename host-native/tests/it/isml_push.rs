//! createMSSStream `ismType=isml`: Smoothcast pushes live Smooth ingest (a long chunked POST
//! per local stream) to a publishing point. Receivers: a capture server in this test, which
//! de-chunks and walks the boxes (and is killed and restarted to see the reconnect), and
//! `ffmpeg -listen 1`, which must make a valid MP4 of what it received, and another
//! Smoothcast acting as the publishing point.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smoothcast_core::fragment::header::children;
use smoothcast_core::fragment::{BoxHeader, Fragment};
use smoothcast_tests::peer::LiveEncode;
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::server::Server;
use smoothcast_tests::{wait_for, TempDir};

/// What one POST brought.
#[derive(Default, Clone)]
struct Post {
    head: String,
    body: Vec<u8>,
    /// The zero-length chunk arrived.
    ended: bool,
    /// Chunk framing was valid throughout.
    chunked: bool,
}

/// A publishing point that records every POST, de-chunked; answers 200 at the body's end.
struct Capture {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(addr: Option<SocketAddr>, posts: Arc<Mutex<Vec<Post>>>) -> Capture {
        let listener = TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .expect("bind the capture server");
        let addr = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (s, p) = (stop.clone(), posts.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let (s, p) = (s.clone(), p.clone());
                        conns.push(std::thread::spawn(move || serve(sock, &s, &p)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Capture {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listener and every connection, as a crashed server would.
    fn kill(mut self) -> SocketAddr {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.addr
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request: the head, then the chunks, into `posts[index]` as they come.
fn serve(mut sock: TcpStream, stop: &AtomicBool, posts: &Mutex<Vec<Post>>) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let index = {
        let mut p = posts.lock().unwrap();
        p.push(Post {
            chunked: true,
            ..Post::default()
        });
        p.len() - 1
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let mut pos = 0usize; // parse position in `raw`
    let mut in_body = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            let _ = sock.shutdown(std::net::Shutdown::Both);
            return;
        }
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        if !in_body {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            posts.lock().unwrap()[index].head = String::from_utf8_lossy(&raw[..end]).into_owned();
            pos = end + 4;
            in_body = true;
        }
        // De-chunk what is complete.
        while let Some(line_end) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&raw[pos..pos + line_end]).into_owned();
            let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
                posts.lock().unwrap()[index].chunked = false;
                return;
            };
            let start = pos + line_end + 2;
            if raw.len() < start + size + 2 {
                break;
            }
            let mut p = posts.lock().unwrap();
            if &raw[start + size..start + size + 2] != b"\r\n" {
                p[index].chunked = false;
                return;
            }
            if size == 0 {
                p[index].ended = true;
                drop(p);
                let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            p[index].body.extend_from_slice(&raw[start..start + size]);
            pos = start + size + 2;
        }
    }
}

/// A body's top-level boxes: (type, bytes).
fn boxes(body: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= body.len() {
        let Ok(h) = BoxHeader::parse(&body[pos..]) else {
            break;
        };
        if pos + h.size > body.len() {
            break; // still arriving
        }
        out.push((h.typ, body[pos..pos + h.size].to_vec()));
        pos += h.size;
    }
    out
}

/// (track, tfxd time, tfxd duration, mdat) of each moof+mdat of a body, checking that each
/// moof holds exactly one traf and no tfrf.
fn fragments(body: &[u8]) -> Vec<(u32, u64, u64, Vec<u8>)> {
    let b = boxes(body);
    let mut out = Vec::new();
    for pair in b.windows(2) {
        if &pair[0].0 != b"moof" || &pair[1].0 != b"mdat" {
            continue;
        }
        let trafs = children(&pair[0].1[8..])
            .filter(|c| c.as_ref().is_ok_and(|(h, _)| &h.typ == b"traf"))
            .count();
        assert_eq!(trafs, 1, "one traf per moof");
        let mut both = pair[0].1.clone();
        both.extend_from_slice(&pair[1].1);
        let f = Fragment::decode(&both).expect("a fragment");
        assert!(f.moof.traf.tfrf.is_none(), "ingest carries no tfrf");
        let t = f.moof.traf;
        out.push((t.tfhd.track_id, t.tfxd.time, t.tfxd.duration, f.mdat));
    }
    out
}

/// ftyp + LSM + moov: the header, as bytes.
fn header(body: &[u8]) -> Vec<u8> {
    let b = boxes(body);
    assert!(b.len() >= 3, "no header yet");
    let types: Vec<&[u8; 4]> = b.iter().take(3).map(|(t, _)| t).collect();
    assert_eq!(types, [b"ftyp", b"uuid", b"moov"], "header order");
    b.iter()
        .take(3)
        .flat_map(|(_, bytes)| bytes.clone())
        .collect()
}

/// The `nth` POST (0: the first connection) to `.../Streams(<name>)`.
fn post(posts: &Mutex<Vec<Post>>, name: &str, nth: usize) -> Option<Post> {
    let line = format!("POST /live/pp.isml/Streams({name}) HTTP/1.1\r\n");
    posts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.head.starts_with(&line))
        .nth(nth)
        .cloned()
}

fn times_rise(frags: &[(u32, u64, u64, Vec<u8>)]) {
    for track in [1, 2] {
        let t: Vec<u64> = frags.iter().filter(|f| f.0 == track).map(|f| f.1).collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]), "track {track}: {t:?}");
    }
}

fn video_times(frags: &[(u32, u64, u64, Vec<u8>)]) -> Vec<u64> {
    frags.iter().filter(|f| f.0 == 1).map(|f| f.1).collect()
}

const SECOND: u64 = 10_000_000;

/// Two local streams of one group (two quality levels of one encoder): two concurrent
/// POSTs, each with its header, its own audio and video times aligned with the other's.
/// The point is killed and restarted: both reconnect, resend the same header and their
/// last two fragments a track, and continue the timeline; removeConfig ends them properly.
#[test]
fn isml_push_reaches_a_capture_server_and_reconnects() {
    let dir = TempDir::new("isml-capture");
    let webroot = dir.path().join("www");
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        "",
        &[],
    )
    .expect("server");
    let posts = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture::start(None, posts.clone());
    let target = webroot.display().to_string();
    let point = format!("http://enc:hunter2@{}/live/pp.isml", capture.addr);
    let created = server.api_ok(
        "createMSSStream",
        &format!("localStreamNames=cam,lo bandwidths=400000,150000 targetFolder={target} groupName=push ismType=isml publishingPoint={point} chunkLength=1"),
    );
    assert_eq!(created["data"]["ingestMode"], "single", "{created}");
    assert_eq!(
        created["data"]["publishingPoint"],
        format!("http://{}/live/pp.isml", capture.addr),
        "no credentials in the reply"
    );
    let config_id = created["data"]["configIds"][0].clone();
    let rtmp = server.addr("rtmp");
    let _encoder = LiveEncode::new(40)
        .gop_frames(25)
        .rtmp(format!("rtmp://{rtmp}/live/cam"), 300)
        .rtmp_scaled(format!("rtmp://{rtmp}/live/lo"), "160x90", 100)
        .start();

    let enough = |name: &str, nth: usize, n: usize| {
        post(&posts, name, nth).is_some_and(|p| fragments(&p.body).len() >= n)
    };
    wait_for(
        "four fragments of each stream",
        Duration::from_secs(40),
        || enough("cam", 0, 4) && enough("lo", 0, 4),
    );
    let mut head1 = Vec::new();
    for (name, bitrate) in [("cam", 400_000), ("lo", 150_000)] {
        let first = post(&posts, name, 0).expect("first POST");
        let lower = first.head.to_ascii_lowercase();
        assert!(
            lower.contains("transfer-encoding: chunked"),
            "{}",
            first.head
        );
        assert!(
            lower.contains("authorization: basic zw5jomh1bnrlcji="),
            "{}",
            first.head
        );
        assert!(first.chunked);
        let head = header(&first.body);
        let lsm = String::from_utf8_lossy(&head);
        assert!(
            lsm.contains("<video ") && lsm.contains("<audio "),
            "{name}: {lsm}"
        );
        assert!(
            lsm.contains(&format!("systemBitrate=\"{bitrate}\"")),
            "{name}: {lsm}"
        );
        let frags = fragments(&first.body);
        assert!(
            frags.iter().any(|f| f.0 == 2),
            "{name} carries its own audio"
        );
        times_rise(&frags);
        head1.push(head);
    }
    let (cam, lo) = (
        video_times(&fragments(&post(&posts, "cam", 0).expect("cam").body)),
        video_times(&fragments(&post(&posts, "lo", 0).expect("lo").body)),
    );
    let common = cam.iter().filter(|t| lo.contains(t)).count();
    assert!(common >= 2, "one timeline for both levels: {cam:?} {lo:?}");
    // Anchored on the wall clock (a restart continues forward): after 2020.
    assert!(cam[0] > 1_577_836_800 * SECOND, "{}", cam[0]);
    let entry = server.config_entry("mss", &config_id);
    assert_eq!(entry["status"]["current"]["code"], 0, "streaming: {entry}");
    assert!(!entry.to_string().contains("hunter2"), "{entry}");

    // The point crashes, and comes back 1.5 s later on the same port.
    let addr = capture.kill();
    let killed_at = Instant::now();
    let before: Vec<_> = ["cam", "lo"]
        .iter()
        .map(|n| fragments(&post(&posts, n, 0).expect("first").body))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let entry = server.config_entry("mss", &config_id);
    assert!(
        entry["lastError"]
            .as_str()
            .is_some_and(|e| !e.contains("hunter2")),
        "the failure is said, without the password: {entry}"
    );
    let capture = Capture::start(Some(addr), posts.clone());
    wait_for("both streams reconnected", Duration::from_secs(30), || {
        enough("cam", 1, 6) && enough("lo", 1, 6)
    });
    println!(
        "reconnected {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    );
    for (i, name) in ["cam", "lo"].iter().enumerate() {
        let second = post(&posts, name, 1).expect("second POST");
        assert_eq!(
            header(&second.body),
            head1[i],
            "{name}: the header is resent identically"
        );
        let after = fragments(&second.body);
        times_rise(&after);
        for track in [1u32, 2] {
            let b: Vec<_> = before[i].iter().filter(|f| f.0 == track).collect();
            let a: Vec<_> = after.iter().filter(|f| f.0 == track).collect();
            let (last, resent) = (b.last().expect("before"), a[0]);
            // The first two are the replay: consecutive, continuing the timeline, and
            // where they were sent before, the same media.
            assert_eq!(
                a[0].1 + a[0].2,
                a[1].1,
                "{name} {track}: the replay is consecutive"
            );
            assert!(
                resent.1 + 3 * SECOND >= last.1,
                "{name} {track}: {} then {}",
                last.1,
                resent.1
            );
            assert!(
                resent.1 <= last.1 + 10 * SECOND,
                "{name} {track}: {} then {}",
                last.1,
                resent.1
            );
            for f in a.iter().take(2) {
                if let Some(same) = b.iter().find(|x| x.1 == f.1) {
                    assert_eq!(same.3, f.3, "{name} {track}: a resent fragment is the same");
                }
            }
        }
    }

    // removeConfig ends each stream properly: empty mfra, last chunk.
    server.api_ok("removeConfig", "groupName=push");
    wait_for("the end of both streams", Duration::from_secs(20), || {
        ["cam", "lo"]
            .iter()
            .all(|n| post(&posts, n, 1).is_some_and(|p| p.ended))
    });
    for name in ["cam", "lo"] {
        let second = post(&posts, name, 1).expect("second POST");
        assert!(second.body.ends_with(&[0, 0, 0, 8, b'm', b'f', b'r', b'a']));
        assert!(second.chunked);
    }
    drop(capture);
}

/// The pusher is killed (`kill -9`) and started again: its saved config comes back and
/// pushes again, with the same header, and its times go on forward (wall-clock anchored), as
/// a publishing point that refuses times going back (Unified Origin) needs.
#[test]
fn isml_push_continues_after_a_pusher_restart() {
    let dir = TempDir::new("isml-restart");
    let webroot = dir.path().join("www");
    let exe = Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let posts = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture::start(None, posts.clone());
    let target = webroot.display().to_string();
    let server = Server::start(exe, &webroot, "", &[]).expect("server");
    server.api_ok(
        "createMSSStream",
        &format!("localStreamNames=cam bandwidths=300000 targetFolder={target} groupName=push ismType=isml publishingPoint=http://{}/live/pp.isml chunkLength=1", capture.addr),
    );
    let encoder = LiveEncode::new(30)
        .gop_frames(25)
        .rtmp(format!("rtmp://{}/live/cam", server.addr("rtmp")), 300)
        .start();
    let enough = |nth: usize, n: usize| {
        post(&posts, "cam", nth).is_some_and(|p| fragments(&p.body).len() >= n)
    };
    wait_for(
        "fragments from the first run",
        Duration::from_secs(40),
        || enough(0, 4),
    );
    drop(encoder);
    drop(server);
    let first = post(&posts, "cam", 0).expect("first run");
    assert!(!first.ended, "a killed pusher sends no end");
    let server = Server::start(exe, &webroot, "", &[]).expect("server again");
    let _encoder = LiveEncode::new(30)
        .gop_frames(25)
        .rtmp(format!("rtmp://{}/live/cam", server.addr("rtmp")), 300)
        .start();
    wait_for(
        "fragments from the restored config",
        Duration::from_secs(40),
        || enough(1, 4),
    );
    let second = post(&posts, "cam", 1).expect("second run");
    assert_eq!(header(&second.body), header(&first.body), "the same header");
    let (a, b) = (fragments(&first.body), fragments(&second.body));
    for track in [1u32, 2] {
        let last = a
            .iter()
            .filter(|f| f.0 == track)
            .map(|f| f.1)
            .max()
            .expect("before");
        let next = b
            .iter()
            .filter(|f| f.0 == track)
            .map(|f| f.1)
            .min()
            .expect("after");
        assert!(next > last, "track {track}: {last} then {next}");
    }
    times_rise(&b);
}

/// A free port on 127.0.0.1 (closed again for ffmpeg to listen on).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Listen(Child);

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn isml_push_to_ffmpeg_listen_makes_a_valid_mp4() {
    let dir = TempDir::new("isml-ffmpeg");
    let webroot = dir.path().join("www");
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_smoothcast")),
        &webroot,
        "",
        &[],
    )
    .expect("server");
    let target = webroot.display().to_string();
    // ffmpeg takes one POST per listener: one per quality level.
    let mut listeners = Vec::new();
    for name in ["hi", "lo"] {
        let port = free_port();
        let out = dir.path().join(format!("{name}.mp4"));
        let child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-y",
                "-listen",
                "1",
                "-i",
            ])
            .arg(format!("http://127.0.0.1:{port}/pp.isml/Streams({name})"))
            .args(["-c", "copy", "-f", "mp4"])
            .arg(&out)
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg");
        listeners.push((Listen(child), out, port, name));
    }
    for (_, _, port, name) in &listeners {
        let bw = if *name == "hi" { 600_000 } else { 250_000 };
        server.api_ok(
            "createMSSStream",
            &format!("localStreamNames={name} bandwidths={bw} targetFolder={target} groupName=g{name} ismType=isml publishingPoint=http://127.0.0.1:{port}/pp.isml chunkLength=1"),
        );
    }
    let rtmp = server.addr("rtmp");
    let mut encoder = LiveEncode::new(6)
        .gop_frames(25)
        .rtmp(format!("rtmp://{rtmp}/live/hi"), 500)
        .rtmp_scaled(format!("rtmp://{rtmp}/live/lo"), "160x90", 200)
        .start();
    let _ = encoder.wait();
    // The last fragments close as the sources end; then the groups end their streams.
    std::thread::sleep(Duration::from_secs(1));
    for name in ["hi", "lo"] {
        server.api_ok("removeConfig", &format!("groupName=g{name}"));
    }
    for (mut l, out, _, name) in listeners {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = l.0.try_wait().expect("wait") {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{name}: ffmpeg never saw the end"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{name}: ffmpeg failed: {status}");
        let duration: f64 = ffprobe(&out, "format=duration")
            .trim()
            .parse()
            .expect("a duration");
        let streams = ffprobe(&out, "stream=codec_name");
        println!(
            "{name}: {duration:.2} s, streams {}",
            streams.replace('\n', " ")
        );
        assert!(
            (4.0..=7.0).contains(&duration),
            "{name}: {duration} s of a 6 s source"
        );
        assert!(
            streams.contains("h264") && streams.contains("aac"),
            "{name}: {streams}"
        );
    }
}

/// The publishing point's video timeline (start of the first, end of the last fragment
/// listed) and its video bitrates, from the receiver's manifest on disk.
fn point(path: &Path) -> Option<(u64, u64, Vec<u32>)> {
    let m = smoothcast_tests::presentation::read_manifest(path).ok()?;
    let v = m
        .stream_indexes
        .iter()
        .find(|s| s.kind == smoothcast_core::TrackKind::Video)?;
    let first = v.chunks.first()?.t;
    let last = v.chunks.last()?;
    let mut rates: Vec<u32> = v.quality_levels.iter().map(|q| q.bitrate).collect();
    rates.sort_unstable();
    Some((first, last.t + last.d, rates))
}

/// Smoothcast pushes to Smoothcast: one server's `createMSSStream ismType=isml` to another
/// acting as the publishing point (`POST /pp.isml/Streams(hi|lo)`). The receiver is killed
/// and started again on its port, then the pusher: each time the point's timeline goes on,
/// without a gap, and dash.js plays the point with both quality levels across the seam.
#[test]
fn smoothcast_pushes_to_smoothcast_and_both_restart() {
    let dir = TempDir::new("isml-to-smoothcast");
    let exe = Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let rx_root = dir.path().join("rx");
    let port = free_port();
    let rx_toml = format!("web_port = {port}\n[smooth_ingest]\nchunk_length = 2\n");
    let receiver = Server::start(exe, &rx_root, &rx_toml, &[]).expect("receiver");
    let tx_root = dir.path().join("tx");
    let pusher = Server::start(exe, &tx_root, "", &[]).expect("pusher");
    pusher.api_ok(
        "createMSSStream",
        &format!(
            "localStreamNames=hi,lo bandwidths=600000,250000 targetFolder={} groupName=push ismType=isml publishingPoint=http://127.0.0.1:{port}/pp.isml chunkLength=2",
            tx_root.display()
        ),
    );
    let encode = |server: &Server| {
        let rtmp = server.addr("rtmp");
        LiveEncode::new(150)
            .rtmp(format!("rtmp://{rtmp}/live/hi"), 600)
            .rtmp_scaled(format!("rtmp://{rtmp}/live/lo"), "160x90", 250)
            .start()
    };
    let encoder = encode(&pusher);
    let path = rx_root.join("pp.isml/manifest.ismc");
    let at_least = |end: u64, seconds: u64| {
        let path = path.clone();
        move || {
            point(&path).is_some_and(|(_, e, rates)| {
                rates == [250_000, 600_000] && e >= end + seconds * 10_000_000
            })
        }
    };
    wait_for(
        "the point's live manifest",
        Duration::from_secs(60),
        at_least(0, 0),
    );
    let (_, first_end, _) = point(&path).expect("manifest");

    // The receiver dies and comes back on its port: the pusher reconnects (keepAlive) and
    // the point goes on after what it had.
    drop(receiver);
    let receiver = Server::start(exe, &rx_root, &rx_toml, &[]).expect("receiver again");
    wait_for(
        "the point after the receiver's restart",
        Duration::from_secs(60),
        at_least(first_end, 4),
    );
    let (_, second_end, _) = point(&path).expect("manifest");

    // Then the pusher: its saved config pushes again, times forward.
    drop(encoder);
    drop(pusher);
    // Where the first pusher's media ends: the newest video fragment on the point's disk
    // once its POSTs are gone (a fragment the loss cut short is not written).
    std::thread::sleep(Duration::from_secs(1));
    let seam = std::fs::read_dir(rx_root.join("pp.isml/600000/video"))
        .expect("the point's video folder")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".fmp4")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .expect("a video fragment")
        + 20_000_000;
    let pusher = Server::start(exe, &tx_root, "", &[]).expect("pusher again");
    let _encoder = encode(&pusher);
    // The seam lies a fragment or more after `second_end` (the pusher died after it was
    // listed, and the manifest lists a fragment once two more exist). Waiting for 8 s past
    // it, a viewer starting four fragments behind the edge starts before the seam.
    wait_for(
        "the point after the pusher's restart",
        Duration::from_secs(60),
        at_least(second_end, 8),
    );
    // One timeline across both restarts: across the pusher's (a new process, its wall-clock
    // times jumping by the downtime) the point continues at its end and the fragment before
    // the seam is stretched over the little gap where the new source's first sample lands.
    let m = smoothcast_tests::presentation::read_manifest(&path).expect("manifest");
    for s in &m.stream_indexes {
        for w in s.chunks.windows(2) {
            assert_eq!(
                w[0].t + w[0].d,
                w[1].t,
                "{}: a gap or an overlap at {:.3} s: {:?}",
                s.name,
                w[1].t as f64 / 1e7,
                s.chunks
            );
        }
    }
    let (_, third_end, _) = point(&path).expect("manifest");
    println!(
        "the point's video ends at {:.1} s, {:.1} s and {:.1} s (first run, after the receiver's \
         restart, after the pusher's)",
        first_end as f64 / 1e7,
        second_end as f64 / 1e7,
        third_end as f64 / 1e7
    );

    if player::ready_or_skip("smoothcast_pushes_to_smoothcast") {
        let result = player::play(&PlayRequest {
            seconds: 16.0,
            min_time: 8.0,
            live: true,
            expect_levels: Some(2),
            ..PlayRequest::url(format!("http://{}/pp.isml/Manifest", receiver.addr("web")))
        })
        .expect("harness ran");
        println!("{result}");
        assert!(result.ok, "the pushed point in dash.js: {}", result.reason);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        let seam = seam as f64 / 1e7;
        let played_from = result.raw["played_from"].as_f64().unwrap_or(f64::MAX);
        assert!(
            played_from < seam && result.current_time > seam + 4.0,
            "played from {played_from} s to {} s: across the seam at {seam:.2} s",
            result.current_time
        );
    }
}
