//! TS ingest over loopback with ffmpeg-made media: any TCP chunking, UDP datagrams, and
//! senders that stall, send garbage or never send a PMT. Every wait has a timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smoothcast_core::demux::ts::{ProgramPids, TsDemuxer};
use smoothcast_core::demux::{DemuxEvent, Demuxer};
use smoothcast_core::media::CodecConfig;
use smoothcast_tests::media::{clip, ClipSpec, Container};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

use super::inbound::stream_name;
use super::{pull_tcp_on, pull_udp_on, tcp, udp, Sink};
use crate::ingest::feed::{Feed, SourceError};
use crate::status::ConfigStatus;
use crate::streams::{StreamKind, StreamNotice, StreamRegistry};

const LIMIT: Duration = Duration::from_secs(20);

fn ts_clip() -> Vec<u8> {
    let spec = ClipSpec {
        seconds: 3.0,
        width: 320,
        height: 180,
        video_bitrate_kbps: 300,
        container: Container::Ts,
        ..ClipSpec::default()
    };
    std::fs::read(clip(&spec).expect("ffmpeg clip")).expect("read clip")
}

/// Everything the demuxer makes of the whole file at once.
fn reference_events(ts: &[u8]) -> Vec<DemuxEvent> {
    let mut d = TsDemuxer::new();
    d.push(ts).expect("clean clip");
    d.finish().expect("clean end");
    std::iter::from_fn(|| d.poll()).collect()
}

#[derive(Default)]
struct Collect {
    events: Vec<DemuxEvent>,
    wire: u64,
}

impl Sink for Collect {
    fn send(&mut self, _: &TsDemuxer, event: DemuxEvent) -> Result<(), SourceError> {
        self.events.push(event);
        Ok(())
    }
    fn add_wire_bytes(&mut self, n: u64) {
        self.wire += n;
    }
    async fn shutdown_requested(&self) {
        std::future::pending().await
    }
}

/// A connected pair: (our side, the sender's side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sender = TcpStream::connect(addr).await.expect("connect");
    let (ours, _) = listener.accept().await.expect("accept");
    (ours, sender)
}

/// Writes `data` in pieces cycling through `sizes`, then closes.
async fn send_in_pieces(mut s: TcpStream, data: Vec<u8>, sizes: &[usize]) {
    let mut rest = &data[..];
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = n.min(rest.len());
        s.write_all(&rest[..n]).await.expect("write");
        rest = &rest[n..];
    }
    let _ = s.shutdown().await;
}

#[tokio::test]
async fn tcp_any_chunking_gives_the_same_media() {
    let ts = ts_clip();
    let want = reference_events(&ts);
    assert!(want.len() > 100, "{} events", want.len());
    for sizes in [&[65_536][..], &[1, 187, 189, 3, 1316, 4093], &[100]] {
        let (ours, sender) = tcp_pair().await;
        let writer = tokio::spawn(send_in_pieces(sender, ts.clone(), sizes));
        let mut sink = Collect::default();
        timeout(
            LIMIT,
            tcp::receive(ours, "test", &mut sink, tcp::IDLE_TIMEOUT),
        )
        .await
        .expect("in time")
        .expect("clean stream");
        writer.await.expect("writer");
        assert_eq!(sink.events, want, "pieces {sizes:?}");
        assert_eq!(sink.wire, ts.len() as u64);
    }
}

#[tokio::test]
async fn pull_tcp_makes_a_local_stream_while_the_sender_sends() {
    let ts = ts_clip();
    let streams = StreamRegistry::new();
    let mut notices = streams.notices();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let seen = statuses.clone();
    let mut feed = Feed::new(
        streams.clone(),
        "cam",
        StreamKind::MpegTs,
        "mpegtstcp://test",
    )
    .with_status_hook(Arc::new(move |s| seen.lock().expect("lock").push(s)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let writer = tokio::spawn(async move {
        let s = TcpStream::connect(addr).await.expect("connect");
        send_in_pieces(s, ts, &[1316]).await;
    });
    timeout(LIMIT, pull_tcp_on(listener, &mut feed))
        .await
        .expect("in time")
        .expect("clean stream");
    writer.await.expect("writer");
    assert_eq!(
        *statuses.lock().expect("lock"),
        [
            ConfigStatus::WaitingForStream,
            ConfigStatus::Connected,
            ConfigStatus::Streaming
        ]
    );
    assert!(matches!(notices.try_recv(), Ok(StreamNotice::Created { name, .. }) if name == "cam"));
    assert!(matches!(notices.try_recv(), Ok(StreamNotice::Closed { name, .. }) if name == "cam"));
    assert!(
        streams.get("cam").is_none(),
        "the stream ends with its sender"
    );
}

#[tokio::test]
async fn garbage_over_tcp_is_refused_with_a_clear_error() {
    let (ours, sender) = tcp_pair().await;
    let garbage: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    tokio::spawn(send_in_pieces(sender, garbage, &[1000]));
    let mut sink = Collect::default();
    let err = timeout(
        LIMIT,
        tcp::receive(ours, "peer", &mut sink, tcp::IDLE_TIMEOUT),
    )
    .await
    .expect("in time")
    .expect_err("garbage");
    assert!(
        matches!(&err, SourceError::Protocol(m) if m == "MPEG-TS from peer: malformed input: not an MPEG-TS stream"),
        "{err}"
    );
    assert!(sink.events.is_empty());
}

#[tokio::test]
async fn ts_without_pmt_is_refused_and_emits_nothing() {
    let ts = ts_clip();
    // Keep every packet but the PMT's (ffmpeg puts it on PID 0x1000).
    let no_pmt: Vec<u8> = ts
        .chunks(188)
        .filter(|p| ((u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])) != 0x1000)
        .flatten()
        .copied()
        .collect();
    assert!(no_pmt.len() < ts.len());
    let (ours, sender) = tcp_pair().await;
    tokio::spawn(send_in_pieces(sender, no_pmt, &[1316]));
    let mut sink = Collect::default();
    let err = timeout(
        LIMIT,
        tcp::receive(ours, "peer", &mut sink, tcp::IDLE_TIMEOUT),
    )
    .await
    .expect("in time")
    .expect_err("no pmt");
    assert!(err.to_string().contains("no PMT found"), "{err}");
    assert!(sink.events.is_empty());
}

#[tokio::test]
async fn a_sender_stalling_mid_packet_is_an_error_not_a_hang() {
    let ts = ts_clip();
    let (ours, mut sender) = tcp_pair().await;
    // Half a packet after a few whole ones, then silence with the connection open.
    sender.write_all(&ts[..188 * 20 + 94]).await.expect("write");
    let mut sink = Collect::default();
    let idle = Duration::from_millis(300);
    let err = timeout(LIMIT, tcp::receive(ours, "peer", &mut sink, idle))
        .await
        .expect("in time")
        .expect_err("stalled");
    assert!(
        matches!(&err, SourceError::Lost(m) if m.contains("stalled")),
        "{err}"
    );
    drop(sender);
}

#[tokio::test]
async fn pull_udp_takes_datagrams_of_one_sender_until_it_is_quiet() {
    let ts = ts_clip();
    let streams = StreamRegistry::new();
    let mut notices = streams.notices();
    let mut feed = Feed::new(
        streams.clone(),
        "udpcam",
        StreamKind::MpegTs,
        "mpegtsudp://test",
    );
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let other = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let send = tokio::spawn(async move {
        for (i, chunk) in ts.chunks(7 * 188).enumerate() {
            // Every third datagram RTP-wrapped, as some encoders send TS.
            if i % 3 == 1 {
                let mut rtp = vec![0x80, 33, 0, i as u8, 0, 0, 0, 0, 1, 2, 3, 4];
                rtp.extend_from_slice(chunk);
                sender.send_to(&rtp, addr).await.expect("send");
            } else {
                sender.send_to(chunk, addr).await.expect("send");
            }
            if i == 5 {
                other.send_to(&[0x47; 1316], addr).await.expect("send");
            }
            // Loopback drops nothing if the receiver keeps up; pace a little anyway.
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let started = std::time::Instant::now();
    timeout(
        LIMIT,
        pull_udp_on(socket, &mut feed, Duration::from_millis(500)),
    )
    .await
    .expect("in time")
    .expect("the stream ends cleanly after silence");
    send.await.expect("sender");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        matches!(notices.try_recv(), Ok(StreamNotice::Created { name, .. }) if name == "udpcam")
    );
    assert!(matches!(
        notices.try_recv(),
        Ok(StreamNotice::Closed { .. })
    ));
}

#[test]
fn rtp_headers_are_stripped_and_plain_ts_is_kept() {
    let ts = [0x47u8; 188 * 7];
    assert_eq!(udp::ts_payload(&ts).len(), ts.len());
    let mut rtp = vec![0x80, 33, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    rtp.extend_from_slice(&ts);
    assert_eq!(udp::ts_payload(&rtp), &ts[..]);
    assert_eq!(udp::ts_payload(&rtp[..100]), &rtp[..100]);
}

#[test]
fn inbound_names_follow_ems() {
    let pids = ProgramPids {
        video: Some(256),
        audio: Some(257),
    };
    assert_eq!(stream_name(None, 1, pids), "ts_1_257_256");
    assert_eq!(stream_name(Some("cam"), 1, pids), "cam");
    let audio_only = ProgramPids {
        video: None,
        audio: Some(257),
    };
    assert_eq!(stream_name(None, 3, audio_only), "ts_3_257_0");
}

#[tokio::test]
async fn m2ts_over_tcp_gives_the_same_media() {
    let ts = ts_clip();
    let dir = smoothcast_tests::TempDir::new("m2ts");
    let (plain, m2ts) = (dir.path().join("in.ts"), dir.path().join("out.m2ts"));
    std::fs::write(&plain, &ts).expect("write");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(&plain)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "mpegts",
            "-mpegts_m2ts_mode",
            "1",
        ])
        .arg(&m2ts)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let m2ts = std::fs::read(&m2ts).expect("read");
    assert_eq!(m2ts.len() % 192, 0, "192-byte packets");
    let want = reference_events(&ts);
    let (ours, sender) = tcp_pair().await;
    tokio::spawn(send_in_pieces(sender, m2ts, &[1000, 77]));
    let mut sink = Collect::default();
    timeout(
        LIMIT,
        tcp::receive(ours, "test", &mut sink, tcp::IDLE_TIMEOUT),
    )
    .await
    .expect("in time")
    .expect("clean stream");
    // ffmpeg's M2TS mode moves the PIDs and marks AAC as private data (0x06, not taken),
    // so the video decides: the same pictures, byte for byte.
    let video = |events: &[DemuxEvent]| -> Vec<bytes::Bytes> {
        let id = events.iter().find_map(|e| match e {
            DemuxEvent::Track(t) if matches!(t.codec, CodecConfig::H264(_)) => Some(t.id),
            _ => None,
        });
        events
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Sample(s) if Some(s.track) == id => Some(s.data.clone()),
                _ => None,
            })
            .collect()
    };
    let (got, want) = (video(&sink.events), video(&want));
    assert_eq!(got.len(), 75);
    assert!(got == want, "the pictures differ");
}

/// The inbound UDP port's sender table (64 places): one-byte datagrams from many ports take
/// no place, TS-looking junk from 64 ports fills it with senders that never make a stream,
/// and a real sender from a new port still gets in, evicting one of them.
#[tokio::test]
async fn spoofed_udp_senders_cannot_keep_a_real_one_out() {
    let ts = ts_clip();
    let state = std::sync::Arc::new(crate::api::test_support::state());
    let mut notices = state.streams.notices();
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let ctx =
        super::inbound::Context::new(state.streams.clone(), &state.config, state.events.clone());
    let server = tokio::spawn(super::inbound::serve(ctx, tcp, socket, shutdown));
    let mut spoofed = Vec::new();
    for i in 0..(super::inbound::MAX_UDP_SENDERS + 40) {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        if i < 40 {
            s.send_to(&[0x47], addr).await.expect("send");
        } else {
            // A null packet: sync byte, PID 0x1fff; never a PMT.
            let mut null = vec![0xffu8; 188];
            null[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
            s.send_to(&null, addr).await.expect("send");
        }
        spoofed.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for (i, chunk) in ts.chunks(7 * 188).enumerate() {
        sender.send_to(chunk, addr).await.expect("send");
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let created = timeout(LIMIT, async {
        loop {
            match notices.recv().await {
                Ok(StreamNotice::Created { name, .. }) => return name,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the real sender's stream in time");
    assert!(created.ends_with("_257_256"), "{created}");
    stop.send(true).expect("stop");
    timeout(LIMIT, server)
        .await
        .expect("stops")
        .expect("join")
        .expect("ok");
}

/// A TCP sender that trickles packets but never a PMT is closed at the first-PMT deadline,
/// though it is never idle long enough for the idle timeout.
#[tokio::test]
async fn a_tcp_sender_without_a_pmt_is_closed_at_the_deadline() {
    let (ours, mut theirs) = tcp_pair().await;
    let trickle = tokio::spawn(async move {
        let mut null = vec![0xffu8; 188];
        null[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
        for _ in 0..100 {
            if theirs.write_all(&null).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut sink = Collect::default();
    let started = std::time::Instant::now();
    let err = timeout(
        LIMIT,
        tcp::receive_with(
            ours,
            "peer",
            &mut sink,
            Duration::from_secs(2),
            Duration::from_millis(400),
        ),
    )
    .await
    .expect("in time")
    .expect_err("no PMT");
    assert!(
        matches!(&err, SourceError::Protocol(m) if m.contains("no PMT within")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    trickle.abort();
}

/// `[auth] mpegts_allow = ["127.0.0.1/32"]`: TS from 127.0.0.2 (UDP datagrams and a TCP
/// connection) is dropped before it gets any state, and reported once per address, however
/// many datagrams came; 127.0.0.1 still makes its stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_ts_from_an_address_outside_the_allowlist_is_dropped() {
    use tokio::io::AsyncReadExt;

    let ts = ts_clip();
    let dir = std::env::temp_dir().join(format!("smoothcast-ts-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let events_file = dir.join("events.jsonl");
    let events = crate::events::start(&crate::events::EventsConfig {
        file: Some(events_file.clone()),
        ..Default::default()
    })
    .expect("events");
    let config = crate::config::ServerConfig {
        auth: toml::from_str(r#"mpegts_allow = ["127.0.0.1/32"]"#).expect("auth"),
        ..Default::default()
    };
    let streams = StreamRegistry::new();
    let ctx = super::inbound::Context::new(streams.clone(), &config, events);
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (tcp_addr, udp_addr) = (
        tcp.local_addr().expect("addr"),
        udp.local_addr().expect("addr"),
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(super::inbound::serve(ctx, tcp, udp, rx));

    let send_udp = |from: &'static str, ts: Vec<u8>| async move {
        let s = UdpSocket::bind(from).await.expect("bind sender");
        for (i, chunk) in ts.chunks(7 * 188).enumerate() {
            s.send_to(chunk, udp_addr).await.expect("send");
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    // The foreign sender first: once the allowed one's stream exists, every earlier
    // datagram has been handled.
    send_udp("127.0.0.2:0", ts.clone()).await;
    let foreign = tokio::net::TcpSocket::new_v4().expect("socket");
    foreign
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut foreign = foreign.connect(tcp_addr).await.expect("connect");
    let _ = foreign.write_all(&ts).await;
    let mut byte = [0u8; 1];
    let closed = timeout(LIMIT, foreign.read(&mut byte))
        .await
        .expect("closed in time");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "the connection stayed open"
    );

    send_udp("127.0.0.1:0", ts.clone()).await;
    timeout(LIMIT, async {
        while streams.list().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the allowed sender's stream");
    let list = streams.list();
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(
        list[0].source.starts_with("mpegtsudp://127.0.0.1:"),
        "{list:?}"
    );

    let refusals = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&events_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "inStreamRefused")
            .map(|v| v["payload"].clone())
            .collect()
    };
    timeout(LIMIT, async {
        while refusals().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the refusals are reported");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = refusals();
    assert_eq!(got.len(), 2, "one per address and transport: {got:?}");
    let mut protocols: Vec<&str> = got.iter().filter_map(|v| v["protocol"].as_str()).collect();
    protocols.sort_unstable();
    assert_eq!(protocols, ["tcp", "udp"]);
    assert!(got.iter().all(|v| v["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.2:"))));
    stop.send(true).expect("stop");
    let _ = timeout(LIMIT, server).await;
    let _ = std::fs::remove_dir_all(&dir);
}
