//! RTMP ingest against real encoders (ffmpeg) and hostile or broken clients, over loopback.
//! Every wait has a hard timeout so a regression fails instead of hanging.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use smoothcast_core::media::CodecConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::timeout;

use super::{serve_with, Context, Limits};
use crate::config::ServerConfig;
use crate::streams::{StreamItem, StreamRegistry};

struct Server {
    state: Context,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(limits: Limits, max_connections: usize) -> Server {
    start_with(
        ServerConfig::default(),
        crate::events::EventBus::disabled(),
        limits,
        max_connections,
    )
    .await
}

async fn start_with(
    config: ServerConfig,
    events: crate::events::EventBus,
    limits: Limits,
    max_connections: usize,
) -> Server {
    let state = Context {
        streams: StreamRegistry::new(),
        auth: crate::auth::Authorizer::new(&config.auth, events),
        limits,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve_with(state.clone(), listener, rx, max_connections));
    Server {
        state,
        addr,
        stop,
        task,
    }
}

fn short_limits() -> Limits {
    Limits {
        handshake: Duration::from_secs(2),
        setup: Duration::from_secs(4),
        idle: Duration::from_secs(2),
        write: Duration::from_secs(2),
        ..Limits::default()
    }
}

/// ffmpeg publishing a generated clip of `secs` seconds in real time (`-re`).
fn ffmpeg_publish(addr: SocketAddr, name: &str, secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "96k", "-f", "flv"])
        .arg(format!("rtmp://{addr}/live/{name}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg must be installed to run the RTMP tests")
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the server to close `socket`: EOF or a reset, not a timeout.
async fn assert_closed_by_server(socket: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 4096];
    let res = timeout(within, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        res.is_ok(),
        "the server did not close the connection within {within:?}"
    );
}

/// A minimal RTMP publisher on rml_rtmp's client session, to misbehave on purpose.
struct TestClient {
    socket: TcpStream,
    session: ClientSession,
}

impl TestClient {
    /// Handshakes, connects to `live` and publishes `name`; `Err` describes a refusal.
    async fn publish(addr: SocketAddr, name: &str) -> Result<Self, String> {
        let mut socket = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut handshake = Handshake::new(PeerType::Client);
        let p0p1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| e.to_string())?;
        socket.write_all(&p0p1).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = socket.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during handshake".into());
            }
            match handshake
                .process_bytes(&buf[..n])
                .map_err(|e| e.to_string())?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket
                        .write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket
                        .write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                    break remaining_bytes;
                }
            }
        };
        let (session, _) =
            ClientSession::new(ClientSessionConfig::new()).map_err(|e| e.to_string())?;
        let mut client = Self { socket, session };
        let req = client
            .session
            .request_connection("live".into())
            .map_err(|e| e.to_string())?;
        client.send(vec![req]).await?;
        let mut input = leftover;
        loop {
            let results = client
                .session
                .handle_input(&input)
                .map_err(|e| e.to_string())?;
            for r in results {
                match r {
                    ClientSessionResult::OutboundResponse(_) => client.send(vec![r]).await?,
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::ConnectionRequestAccepted,
                    ) => {
                        let req = client
                            .session
                            .request_publishing(name.into(), PublishRequestType::Live)
                            .map_err(|e| e.to_string())?;
                        client.send(vec![req]).await?;
                    }
                    ClientSessionResult::RaisedEvent(
                        ClientSessionEvent::PublishRequestAccepted,
                    ) => return Ok(client),
                    ClientSessionResult::RaisedEvent(e) => {
                        if let ClientSessionEvent::UnhandleableOnStatusCode { code } = &e {
                            return Err(code.clone());
                        }
                    }
                    ClientSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
            let n = timeout(Duration::from_secs(5), client.socket.read(&mut buf))
                .await
                .map_err(|_| "no reply".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed by server".into());
            }
            input = buf[..n].to_vec();
        }
    }

    async fn send(&mut self, results: Vec<ClientSessionResult>) -> Result<(), String> {
        for r in results {
            if let ClientSessionResult::OutboundResponse(p) = r {
                self.socket
                    .write_all(&p.bytes)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The bytes of one video message, as chunks.
    fn video_packet(&mut self, data: Vec<u8>, ts: u32) -> Vec<u8> {
        match self
            .session
            .publish_video_data(Bytes::from(data), RtmpTimestamp::new(ts), false)
        {
            Ok(ClientSessionResult::OutboundResponse(p)) => p.bytes,
            other => panic!("cannot make a video packet: {other:?}"),
        }
    }
}

/// (a) ffmpeg publishes 6 s in real time; a subscriber sees both tracks and real-time,
/// increasing samples; the stream is gone once ffmpeg exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_is_a_local_stream() {
    // A read interval five times the default, so that the reads it saves show: ffmpeg sends
    // its messages in ~25 bursts a second, which a 40 ms interval hardly merges.
    let limits = Limits {
        publish_read_interval: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start(limits, 16).await;
    let streams = server.state.streams.clone();
    let mut ffmpeg = ffmpeg_publish(server.addr, "cam1", 6);
    wait_until("the publish", Duration::from_secs(10), || {
        streams.get("cam1").is_some()
    })
    .await;
    let info = streams.get("cam1").expect("stream");
    assert_eq!(info.source.split(':').next(), Some("127.0.0.1"));
    let mut rx = streams.subscribe("cam1").expect("subscribe");

    let (mut video, mut audio) = (None, None);
    let mut last_dts = [i64::MIN; 2];
    let (mut vsamples, mut asamples, mut keyframes, mut payload_bytes) = (0, 0, 0, 0u64);
    let mut first_arrival = None;
    let mut last_arrival = Instant::now();
    let mut max_bytes_in = 0;
    // Samples read from the socket in one go arrive together; a gap marks another read.
    let mut reads = 0;
    let mut last_at: Option<std::time::Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let item = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("the stream did not end in time");
        let Some(item) = item else { break };
        match item.item {
            StreamItem::Track(t) => match t.codec {
                CodecConfig::H264(c) => video = Some((t.id, c.width, c.height)),
                CodecConfig::Aac(c) => audio = Some((t.id, c.sample_rate, c.channels)),
                CodecConfig::Text(_) => panic!("RTMP carries no text"),
            },
            StreamItem::Sample(s) => {
                if last_at.is_none_or(|t| item.at.duration_since(t) > Duration::from_millis(10)) {
                    reads += 1;
                }
                last_at = Some(item.at);
                let now = Instant::now();
                first_arrival.get_or_insert(now);
                last_arrival = now;
                let slot = usize::from(Some(s.track) == audio.map(|a| a.0));
                assert!(
                    s.dts > last_dts[slot],
                    "dts must increase: {} then {}",
                    last_dts[slot],
                    s.dts
                );
                last_dts[slot] = s.dts;
                payload_bytes += s.data.len() as u64;
                if slot == 0 {
                    vsamples += 1;
                    keyframes += usize::from(s.keyframe);
                } else {
                    asamples += 1;
                }
                if let Some(i) = streams.get("cam1") {
                    // Billed at send time, so never behind what this subscriber received.
                    assert!(
                        i.bytes_in >= payload_bytes,
                        "{} < {payload_bytes}",
                        i.bytes_in
                    );
                    max_bytes_in = i.bytes_in;
                }
            }
        }
    }
    let span = last_arrival - first_arrival.expect("samples");
    eprintln!(
        "rtmp publish: video {video:?}, audio {audio:?}, {vsamples} video samples ({keyframes} key), \
         {asamples} audio samples in {reads} reads, payload {payload_bytes} B, bytes_in \
         {max_bytes_in} B, arrivals spread over {span:?}"
    );
    let (_, w, h) = video.expect("a video track");
    assert_eq!((w, h), (320, 240));
    let (_, rate, channels) = audio.expect("an audio track");
    assert_eq!((rate, channels), (48000, 1));
    assert!(vsamples >= 120, "{vsamples} video samples");
    assert!(asamples >= 200, "{asamples} audio samples");
    assert!(keyframes >= 2, "{keyframes} keyframes");
    assert!(
        span >= Duration::from_secs(4),
        "not real time: samples spread over {span:?}"
    );
    // The publisher's socket is read at most every 200 ms: five reads a second, where
    // ffmpeg's ~25 bursts a second were ~25 reads.
    let most = span.as_millis() as usize / 200 * 3 / 2 + 5;
    assert!(
        reads <= most,
        "{reads} reads for {} samples in {span:?}: the read interval is not kept",
        vsamples + asamples
    );
    let status = timeout(Duration::from_secs(10), ffmpeg.wait())
        .await
        .expect("ffmpeg exits")
        .expect("ffmpeg status");
    assert!(status.success(), "ffmpeg failed: {status}");
    assert!(
        streams.get("cam1").is_none(),
        "the stream outlived its publisher"
    );
    let _ = server.stop.send(true);
    timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve stops")
        .expect("join")
        .expect("ok");
}

/// (b) A second publisher of a live name is refused; the first is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_of_a_name_is_refused() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut first = ffmpeg_publish(server.addr, "cam1", 6);
    wait_until("the first publish", Duration::from_secs(10), || {
        streams
            .get("cam1")
            .is_some_and(|i| i.has_video && i.has_audio)
    })
    .await;
    let id = streams.get("cam1").expect("stream").unique_id;

    let second = ffmpeg_publish(server.addr, "cam1", 6);
    let out = timeout(Duration::from_secs(10), second.wait_with_output())
        .await
        .expect("the second ffmpeg gives up")
        .expect("ffmpeg output");
    assert!(!out.status.success(), "the second publish was accepted");
    eprintln!(
        "second ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );

    let before = streams.get("cam1").expect("first stream survives");
    assert_eq!(before.unique_id, id);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = streams.get("cam1").expect("first stream survives");
    assert_eq!(after.unique_id, id);
    assert!(
        after.bytes_in > before.bytes_in,
        "the first publish stalled"
    );
    let status = timeout(Duration::from_secs(15), first.wait())
        .await
        .expect("exit")
        .expect("status");
    assert!(status.success(), "the first ffmpeg failed: {status}");
    // Seen at the next read, at most a read interval after ffmpeg's last bytes.
    wait_until("the stream's end", Duration::from_secs(2), || {
        streams.get("cam1").is_none()
    })
    .await;
}

/// Deterministic noise (xorshift), never starting with RTMP's version byte 3.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    if v[0] == 3 {
        v[0] = 0x47;
    }
    v
}

/// (c) Garbage instead of a handshake is closed; the server keeps serving publishers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_closed_and_service_continues() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut socket = TcpStream::connect(server.addr).await.expect("connect");
    // The server may close before all of it is written; that is the point.
    let _ = socket
        .write_all(&noise(10 * 1024, 0x9e37_79b9_7f4a_7c15))
        .await;
    assert_closed_by_server(&mut socket, Duration::from_secs(3)).await;

    // Garbage after a valid version byte gets through rml_rtmp's (lenient) handshake and
    // into the chunk parser: it must end in a close too, at worst by the setup deadline.
    let mut socket = TcpStream::connect(server.addr).await.expect("connect");
    let mut junk = noise(10 * 1024, 42);
    junk[0] = 3;
    let _ = socket.write_all(&junk).await;
    assert_closed_by_server(&mut socket, Duration::from_secs(35)).await;

    let mut ffmpeg = ffmpeg_publish(server.addr, "after", 2);
    wait_until(
        "a publish after the garbage",
        Duration::from_secs(10),
        || streams.get("after").is_some(),
    )
    .await;
    let status = timeout(Duration::from_secs(15), ffmpeg.wait())
        .await
        .expect("exit")
        .expect("status");
    assert!(status.success());
}

/// (d) A publisher that dies mid-chunk leaves no stream behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_dying_mid_chunk_ends_its_stream() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut client = TestClient::publish(server.addr, "half")
        .await
        .expect("publish");
    assert!(streams.get("half").is_some());
    let packet = client.video_packet(vec![0x27; 20_000], 40);
    client
        .socket
        .write_all(&packet[..packet.len() / 2])
        .await
        .expect("write");
    drop(client);
    wait_until("the stream to end", Duration::from_secs(3), || {
        streams.get("half").is_none()
    })
    .await;

    // And one that stalls mid-chunk is cut off by the idle timeout.
    let server = start(short_limits(), 16).await;
    let streams = server.state.streams.clone();
    let mut client = TestClient::publish(server.addr, "stall")
        .await
        .expect("publish");
    let packet = client.video_packet(vec![0x27; 20_000], 40);
    client
        .socket
        .write_all(&packet[..packet.len() / 2])
        .await
        .expect("write");
    assert_closed_by_server(&mut client.socket, Duration::from_secs(5)).await;
    assert!(streams.get("stall").is_none());
}

/// A malformed FLV payload closes that connection only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_media_closes_only_that_connection() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut good = TestClient::publish(server.addr, "good")
        .await
        .expect("publish");
    let mut bad = TestClient::publish(server.addr, "bad")
        .await
        .expect("publish");
    // An AVC sequence header whose configuration record is junk.
    let packet = bad.video_packet(vec![0x17, 0, 0, 0, 0, 0xff, 0xff, 0xff], 0);
    bad.socket.write_all(&packet).await.expect("write");
    assert_closed_by_server(&mut bad.socket, Duration::from_secs(3)).await;
    assert!(streams.get("bad").is_none());
    assert!(streams.get("good").is_some());
    // The good one still works: a keyframe-less picture is accepted (and dropped).
    let packet = good.video_packet(vec![0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41], 40);
    good.socket.write_all(&packet).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(streams.get("good").is_some());
}

/// Names that could escape a folder are refused; play is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_play_are_refused() {
    let server = start(Limits::default(), 16).await;
    for name in ["../etc", "a/b", "a\\b", "a\u{1}b"] {
        let res = TestClient::publish(server.addr, name).await;
        assert!(res.is_err(), "{name:?} accepted");
        eprintln!("publish {name:?}: {}", res.err().unwrap_or_default());
    }
    assert!(server.state.streams.list().is_empty());
}

/// shutdownStream closes the publisher's connection; server shutdown closes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stream_and_server_shutdown_close_connections() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut one = TestClient::publish(server.addr, "one")
        .await
        .expect("publish");
    let mut two = TestClient::publish(server.addr, "two")
        .await
        .expect("publish");
    assert!(streams.request_shutdown("one"));
    assert_closed_by_server(&mut one.socket, Duration::from_secs(3)).await;
    assert!(streams.get("one").is_none());
    assert!(streams.get("two").is_some());

    let _ = server.stop.send(true);
    assert_closed_by_server(&mut two.socket, Duration::from_secs(3)).await;
    assert!(streams.list().is_empty());
    timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve stops")
        .expect("join")
        .expect("ok");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// Silent peers are cut off; connections beyond the cap are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_connection_cap() {
    let server = start(short_limits(), 2).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut half_handshake = TcpStream::connect(server.addr).await.expect("connect");
    half_handshake.write_all(&[3, 0, 0]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Both slots are taken: a third is closed without being served.
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    let mut b = [0u8; 1];
    let r = timeout(Duration::from_secs(1), third.read(&mut b))
        .await
        .expect("closed at once");
    assert!(matches!(r, Ok(0) | Err(_)));
    assert_closed_by_server(&mut silent, Duration::from_secs(4)).await;
    assert_closed_by_server(&mut half_handshake, Duration::from_secs(4)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "closed too early: {waited:?}"
    );
    // Slots are free again.
    let client = TestClient::publish(server.addr, "later").await;
    assert!(client.is_ok(), "{:?}", client.err());
}

/// A publish that ends with closeStream/deleteStream (rml_rtmp's stop_publishing) frees the
/// name while the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublish_ends_the_stream() {
    let server = start(Limits::default(), 16).await;
    let streams = server.state.streams.clone();
    let mut client = TestClient::publish(server.addr, "cam9")
        .await
        .expect("publish");
    let stop = client.session.stop_publishing().expect("stop");
    client.send(stop).await.expect("send");
    wait_until("the unpublish", Duration::from_secs(3), || {
        streams.get("cam9").is_none()
    })
    .await;
}

/// A handshaken raw connection, for hand-made chunks.
async fn handshaken(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let mut handshake = Handshake::new(PeerType::Client);
    let p0p1 = handshake.generate_outbound_p0_and_p1().expect("p0p1");
    socket.write_all(&p0p1).await.expect("write");
    let mut buf = vec![0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed during handshake");
        match handshake.process_bytes(&buf[..n]).expect("handshake") {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket.write_all(&response_bytes).await.expect("write")
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                socket.write_all(&response_bytes).await.expect("write");
                return socket;
            }
        }
    }
}

/// Deeply nested AMF0 objects in a `connect` must not take the server down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_amf_is_survived() {
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::messages::MessagePayload;
    let server = start(Limits::default(), 16).await;
    let mut socket = handshaken(server.addr).await;
    let mut data = vec![0x02, 0, 7];
    data.extend_from_slice(b"connect");
    data.push(0x00);
    data.extend_from_slice(&1f64.to_be_bytes());
    for _ in 0..200_000 {
        data.extend_from_slice(&[0x03, 0, 1, b'a']);
    }
    let payload = MessagePayload {
        timestamp: RtmpTimestamp::new(0),
        message_stream_id: 0,
        type_id: 20,
        data: Bytes::from(data),
    };
    let mut serializer = ChunkSerializer::new();
    let packet = serializer
        .serialize(&payload, true, false)
        .expect("serialize");
    let _ = socket.write_all(&packet.bytes).await;
    assert_closed_by_server(&mut socket, Duration::from_secs(10)).await;
    let client = TestClient::publish(server.addr, "still-here").await;
    assert!(client.is_ok(), "{:?}", client.err());
}

/// A chunk sequence that makes rml_rtmp's chunk layer panic (debug builds; found by the
/// `rtmp_guard` fuzz target) closes that connection only: the session contains the panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rml_rtmp_panic_closes_only_its_connection() {
    let server = start(Limits::default(), 16).await;
    let mut socket = handshaken(server.addr).await;
    let _ = socket
        .write_all(&super::tap::tests::RML_OVERFLOW[..77])
        .await;
    if cfg!(debug_assertions) {
        assert_closed_by_server(&mut socket, Duration::from_secs(10)).await;
    }
    let client = TestClient::publish(server.addr, "still-here").await;
    assert!(client.is_ok(), "{:?}", client.err());
}

/// Playing a stream that does not exist is refused (ffmpeg as a player gives up at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_is_refused() {
    let server = start(Limits::default(), 16).await;
    let mut player = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .arg("-i")
        .arg(format!("rtmp://{}/live/cam1", server.addr))
        .args(["-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let status = timeout(Duration::from_secs(10), player.wait())
        .await
        .expect("the player gives up")
        .expect("status");
    assert!(!status.success());
}

/// A published stream plays over RTMP in a third-party player (ffmpeg): what another
/// server's pullStream of our streams relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_a_published_stream() {
    use smoothcast_tests::media::{clip, ClipSpec, Container};
    let server = start(Limits::default(), 16).await;
    let media = clip(&ClipSpec {
        seconds: 12.0,
        container: Container::Flv,
        ..ClipSpec::default()
    })
    .expect("clip");
    let _publisher = smoothcast_tests::peer::send_clip(
        &media,
        "flv",
        &format!("rtmp://{}/live/cam", server.addr),
    );
    let streams = server.state.streams.clone();
    timeout(Duration::from_secs(10), async {
        while !streams
            .get("cam")
            .is_some_and(|s| s.has_video && s.has_audio)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("published");
    let player = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(format!("rtmp://{}/live/cam", server.addr))
        .args(["-t", "3", "-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(20), player)
        .await
        .expect("the player finishes")
        .expect("ffmpeg player");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Video: h264"), "{log}");
    assert!(log.contains("Audio: aac"), "{log}");
    // About 3 s at 25 fps were decoded.
    let frames = log
        .rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(frames >= 60, "{frames} frames: {log}");
}

/// A message announced as 16 MiB is cut off once 8 MiB are buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_is_capped() {
    use rml_rtmp::chunk_io::ChunkSerializer;
    let server = start(Limits::default(), 16).await;
    let mut socket = handshaken(server.addr).await;
    let mut serializer = ChunkSerializer::new();
    let p = serializer
        .set_max_chunk_size(0x7fff_ffff, RtmpTimestamp::new(0))
        .expect("chunk size");
    socket.write_all(&p.bytes).await.expect("write");
    // Type 0 header, chunk stream 4: length 0xffffff, video, message stream 1.
    socket
        .write_all(&[0x04, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0])
        .await
        .expect("write");
    let block = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    let closed = loop {
        if socket.write_all(&block).await.is_err() {
            break true;
        }
        sent += block.len();
        if sent > 32 << 20 {
            break false;
        }
    };
    if !closed {
        assert_closed_by_server(&mut socket, Duration::from_secs(3)).await;
    }
    // Socket buffers take a few MiB more than the server holds.
    eprintln!("closed after about {} KiB", sent / 1024);
    assert!(sent < 32 << 20, "not closed after {sent} bytes");
}

/// `[auth]`: publish/play rules, callbacks and the `inStreamRefused` event.
mod auth;
