//! `pull` against the tests crate's RTSP server over loopback: what arrives in the local
//! stream, whether dash.js plays it once packaged, and what a lying server gets.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smoothcast_core::demux::DemuxEvent;
use smoothcast_core::layout::Layout;
use smoothcast_core::media::{CodecConfig, Sample, TrackInfo};
use smoothcast_core::presentation::{Output, Presentation, PresentationOptions};
use smoothcast_tests::media::{clip, ClipSpec};
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::rtsp_relay::RtspRelay;
use smoothcast_tests::rtsp_server::{video_rtp_times, Lie, RtspServer, ServeOptions};
use smoothcast_tests::TempDir;
use tokio::sync::mpsc;

use super::pull;
use crate::ingest::feed::{Feed, SourceError};
use crate::status::ConfigStatus;
use crate::streams::{Delivered, StreamItem, StreamKind, StreamRegistry};

const SECONDS: f64 = 3.0;
const FPS: u32 = 25;

fn three_seconds() -> PathBuf {
    clip(&ClipSpec {
        seconds: SECONDS,
        width: 320,
        height: 180,
        video_bitrate_kbps: 800,
        ..ClipSpec::default()
    })
    .expect("clip")
}

/// The same with B-frames: RTP then carries pictures out of presentation order.
fn three_seconds_with_b_frames() -> PathBuf {
    clip(&ClipSpec {
        seconds: SECONDS,
        width: 320,
        height: 180,
        video_bitrate_kbps: 800,
        bframes: true,
        ..ClipSpec::default()
    })
    .expect("clip")
}

/// What one pull did: its result, the statuses it reported, and every item of the local
/// stream (subscribed the moment it opened, so nothing is missed).
struct Pulled {
    result: Result<(), SourceError>,
    statuses: Vec<ConfigStatus>,
    items: Vec<StreamItem>,
    /// When ingest handed each item over.
    arrivals: Vec<Instant>,
    took: Duration,
}

impl Pulled {
    fn tracks(&self) -> Vec<&TrackInfo> {
        self.items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Track(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn samples(&self, track: u32) -> Vec<&Sample> {
        self.items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Sample(s) if s.track == track => Some(s),
                _ => None,
            })
            .collect()
    }
}

async fn pull_from(url: &str, force_tcp: bool) -> Pulled {
    let streams = StreamRegistry::new();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let rx: Arc<Mutex<Option<mpsc::Receiver<Delivered>>>> = Arc::default();
    let hook = {
        let (streams, statuses, rx) = (streams.clone(), statuses.clone(), rx.clone());
        move |s: ConfigStatus| {
            if let Ok(mut v) = statuses.lock() {
                v.push(s);
            }
            // Called right after the stream is claimed and before its first item.
            if s == ConfigStatus::Streaming {
                if let Ok(mut rx) = rx.lock() {
                    *rx = streams.subscribe("cam");
                }
            }
        }
    };
    let mut feed =
        Feed::new(streams.clone(), "cam", StreamKind::Rtsp, url).with_status_hook(Arc::new(hook));
    let start = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), pull(url, force_tcp, &mut feed))
        .await
        .expect("pull did not end in time");
    let took = start.elapsed();
    drop(feed);
    assert!(streams.list().is_empty(), "the stream outlived its source");
    let (mut items, mut arrivals) = (Vec::new(), Vec::new());
    let rx = rx.lock().expect("lock").take();
    if let Some(mut rx) = rx {
        while let Some(d) = rx.recv().await {
            items.push(d.item);
            arrivals.push(d.at);
        }
    }
    let statuses = statuses.lock().expect("lock").clone();
    Pulled {
        result,
        statuses,
        items,
        arrivals,
        took,
    }
}

/// The server's clip arrives whole: both tracks with their RTP clocks as timescales, every
/// picture with its keyframe flag and exact time, every AAC frame, in real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_h264_and_aac_over_interleaved_tcp() {
    let server = RtspServer::start(&three_seconds(), Lie::None).expect("server");
    let p = pull_from(&server.url(), true).await;
    p.result.as_ref().expect("pull");
    assert_eq!(
        p.statuses,
        [
            ConfigStatus::Connecting,
            ConfigStatus::Connected,
            ConfigStatus::Streaming
        ]
    );
    let tracks = p.tracks();
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    let video = tracks
        .iter()
        .find(|t| matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (320, 180)))
        .expect("a 320x180 H.264 track");
    let audio = tracks
        .iter()
        .find(|t| matches!(&t.codec, CodecConfig::Aac(c) if c.sample_rate == 48_000 && c.channels == 2))
        .expect("a 48 kHz stereo AAC track");
    assert_eq!((video.timescale, audio.timescale), (90_000, 48_000));

    let v = p.samples(video.id);
    let frames = (SECONDS * f64::from(FPS)) as usize;
    assert_eq!(v.len(), frames);
    let keys: Vec<usize> = (0..v.len()).filter(|&i| v[i].keyframe).collect();
    assert_eq!(keys, [0, 50], "GOPs of 50 frames");
    for (i, s) in v.iter().enumerate() {
        assert_eq!((s.dts, s.cts_offset), (i as i64 * 3600, 0), "picture {i}");
        assert!(
            s.data.len() > 4 && s.data[..4] != [0, 0, 0, 1],
            "length-prefixed"
        );
    }
    let a = p.samples(audio.id);
    // ffmpeg's AAC encoder writes ceil(3 s × 48000 / 1024) + 1 (priming) frames.
    assert!((141..=142).contains(&a.len()), "{} AAC frames", a.len());
    for (i, s) in a.iter().enumerate() {
        assert_eq!(s.dts, i as i64 * 1024, "AAC frame {i}");
    }
    // Real time: the server paces 3 s of media, and each picture reaches the local stream
    // when it is sent (no reordering delay for a stream without B-frames), give or take
    // scheduling jitter.
    assert!(p.took >= Duration::from_millis(2800), "took {:?}", p.took);
    let times: Vec<(Instant, i64)> = p
        .items
        .iter()
        .zip(&p.arrivals)
        .filter_map(|(i, at)| match i {
            StreamItem::Sample(s) if s.track == video.id => Some((*at, s.dts)),
            _ => None,
        })
        .collect();
    let lag = |(at, dts): (Instant, i64)| {
        (at - times[0].0).as_secs_f64() - (dts - times[0].1) as f64 / 90_000.0
    };
    let worst = times.iter().map(|&t| lag(t)).fold(f64::MIN, f64::max);
    // Loose: the machine is shared; a held-back GOP or a stall would be far more.
    assert!(worst < 0.5, "a picture arrived {worst:.3} s late");
    eprintln!(
        "rtsp pull: {} pictures, {} AAC frames in {:?}; worst picture lag {:.1} ms",
        v.len(),
        a.len(),
        p.took,
        worst * 1000.0
    );
}

/// With B-frames, decode times come from the order of presentation times: every picture
/// keeps the presentation time the server sent and decode times increase. Packaged by the
/// core, the stream plays in dash.js to the end. The pull asks for UDP first, which the
/// server refuses, so this also covers falling back to TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_frames_keep_their_times_and_play_in_dash_js() {
    let clip = three_seconds_with_b_frames();
    let sent = video_rtp_times(&clip).expect("clip times");
    let server = RtspServer::start(&clip, Lie::None).expect("server");
    let p = pull_from(&server.url(), false).await;
    p.result.as_ref().expect("pull");
    let v = p.samples(0);
    let got: Vec<i64> = v.iter().map(|s| s.dts + s.cts_offset).collect();
    assert_eq!(got, sent, "presentation times in decode order");
    assert!(
        v.windows(2).all(|w| w[0].dts < w[1].dts),
        "decode times increase"
    );
    assert!(v.iter().any(|s| s.cts_offset != 0), "the clip has B-frames");
    if !player::ready_or_skip("b_frames_keep_their_times_and_play_in_dash_js") {
        return;
    }

    let dir = TempDir::new("rtsp-pull-play");
    let mut pres = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let level = pres.add_quality_level("rtsp", 900_000).expect("level");
    let mut seen = Vec::new();
    for item in &p.items {
        let event = match item {
            StreamItem::Track(t) if seen.contains(&t.id) => DemuxEvent::TrackChanged(t.clone()),
            StreamItem::Track(t) => {
                seen.push(t.id);
                DemuxEvent::Track(t.clone())
            }
            StreamItem::Sample(s) => DemuxEvent::Sample(s.clone()),
        };
        pres.handle_demux_event(level, event).expect("package");
    }
    pres.finish().expect("finish");
    let mut manifest = None;
    while let Some(out) = pres.poll_output() {
        match out {
            Output::WriteFragment { path, data, .. }
            | Output::RewriteFragment { path, data, .. } => write(&dir, &path, &data),
            Output::WriteManifest { path, xml } => {
                write(&dir, &path, xml.as_bytes());
                manifest = Some(path);
            }
            _ => {}
        }
    }
    let manifest = manifest.expect("a manifest");
    let result = tokio::task::spawn_blocking(move || {
        let mut req = PlayRequest::dir(dir.path(), manifest);
        req.seconds = 15.0;
        req.min_time = SECONDS - 0.6;
        let r = player::play(&req);
        drop(dir);
        r
    })
    .await
    .expect("join")
    .expect("player ran");
    assert!(result.ok, "dash.js: {result}");
    assert_eq!((result.video_width, result.video_height), (320, 180));
    assert!(result.total_video_frames > 60, "{result}");
}

fn write(dir: &TempDir, rel: &str, data: &[u8]) {
    let path = dir.path().join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, data).expect("write");
}

/// An encoder that changes its picture size mid-session: the new in-band SPS/PPS become a
/// changed track (a second Track item for the same id) right before the first picture that
/// needs them, and the timeline runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_band_parameter_change_changes_the_track() {
    let spec = |width, height| ClipSpec {
        seconds: 2.0,
        width,
        height,
        video_bitrate_kbps: 800,
        ..ClipSpec::default()
    };
    let small = clip(&spec(320, 180)).expect("clip");
    let large = clip(&spec(480, 270)).expect("clip");
    let server = RtspServer::start_sequence(&[&small, &large], Lie::None).expect("server");
    let p = pull_from(&server.url(), true).await;
    p.result.as_ref().expect("pull");
    let mut sizes = Vec::new();
    let mut pictures = 0;
    let mut last_dts = None;
    for item in &p.items {
        match item {
            StreamItem::Track(t) => {
                if let CodecConfig::H264(c) = &t.codec {
                    assert_eq!(t.id, 0);
                    sizes.push((pictures, c.width, c.height));
                }
            }
            StreamItem::Sample(s) if s.track == 0 => {
                // The second clip starts where the first one's longer (audio) track ends.
                let step = s.dts - last_dts.unwrap_or(s.dts - 3600);
                let expected = if pictures == 50 {
                    3600..7200
                } else {
                    3600..3601
                };
                assert!(expected.contains(&step), "picture {pictures}: step {step}");
                last_dts = Some(s.dts);
                assert_eq!(s.keyframe, pictures % 50 == 0, "picture {pictures}");
                pictures += 1;
            }
            StreamItem::Sample(_) => {}
        }
    }
    assert_eq!(sizes, [(0, 320, 180), (50, 480, 270)]);
    assert_eq!(pictures, 100);
}

/// Without forceTcp and with a server that offers it, RTP comes over UDP (loopback), and
/// the clip arrives whole. The server then says RTCP BYE but keeps the connection: BYE
/// ends the pull (well before the idle timeout would), over UDP and over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_over_udp_when_offered_and_bye_ends_the_session() {
    for udp in [true, false] {
        let options = ServeOptions {
            udp,
            bye_and_linger: true,
            ..ServeOptions::default()
        };
        let server = RtspServer::start_with(&[&three_seconds()], options).expect("server");
        let p = pull_from(&server.url(), false).await;
        p.result.as_ref().expect("pull");
        assert_eq!(server.udp_sessions_played(), usize::from(udp));
        assert_eq!(p.samples(0).len(), (SECONDS * f64::from(FPS)) as usize);
        assert!((141..=142).contains(&p.samples(1).len()));
        assert!(p.took < Duration::from_millis(4000), "took {:?}", p.took);
    }
}

/// ffmpeg's own RTP packetizers, through a relay (`-f rtsp`): parameter sets only in the
/// SDP's sprop-parameter-sets, several AAC frames per packet, no RTP-Info. The whole clip
/// arrives with exact times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_what_ffmpeg_publishes() {
    let relay = RtspRelay::start().expect("relay");
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-i",
        ])
        .arg(three_seconds())
        .args(["-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp"])
        .arg(relay.url())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let p = pull_from(&relay.url(), true).await;
    let status = tokio::time::timeout(Duration::from_secs(10), ffmpeg.wait())
        .await
        .expect("ffmpeg ends")
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg: {status}");
    p.result.as_ref().expect("pull");
    let tracks = p.tracks();
    assert!(tracks.iter().any(|t| t.id == 0
        && matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (320, 180))));
    assert!(tracks
        .iter()
        .any(|t| t.id == 1 && matches!(&t.codec, CodecConfig::Aac(c) if c.sample_rate == 48_000)));
    let v = p.samples(0);
    assert_eq!(v.len(), (SECONDS * f64::from(FPS)) as usize);
    for (i, s) in v.iter().enumerate() {
        assert_eq!(s.dts - v[0].dts, i as i64 * 3600, "picture {i}");
        assert_eq!(s.keyframe, i % 50 == 0, "picture {i}");
    }
    let a = p.samples(1);
    // ffmpeg's AAC packetizer drops the frames it still aggregates when it closes: 140 of
    // 142 (an ffmpeg client gets the same, see rtsp_relay's test).
    assert!((140..=142).contains(&a.len()), "{} AAC frames", a.len());
    for (i, s) in a.iter().enumerate() {
        assert_eq!(s.dts - a[0].dts, i as i64 * 1024, "AAC frame {i}");
    }
}

/// A server whose SDP says wrong things gets a clear protocol error and publishes nothing;
/// one whose sprop-parameter-sets are junk still works, since the in-band SPS/PPS are right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_sdp() {
    let clip = three_seconds();
    let cases = [
        (Lie::UnmappedPayloadType, "rtpmap"),
        (Lie::AudioClockRate, "clock"),
        (Lie::NoParameterSets, "no decoder configuration"),
    ];
    let runs = cases.map(|(lie, _)| {
        let clip = clip.clone();
        tokio::spawn(async move {
            let server = RtspServer::start(&clip, lie).expect("server");
            let p = pull_from(&server.url(), true).await;
            (server.sessions_played(), p)
        })
    });
    for ((lie, words), run) in cases.into_iter().zip(runs) {
        let (played, p) = run.await.expect("join");
        let msg = match &p.result {
            Err(SourceError::Protocol(m)) => m.clone(),
            other => panic!("{lie:?}: expected a protocol error, got {other:?}"),
        };
        eprintln!("{lie:?}: {msg} (after {:?})", p.took);
        assert!(msg.to_lowercase().contains(words), "{lie:?}: {msg}");
        assert!(
            p.items.is_empty(),
            "{lie:?}: published {} items",
            p.items.len()
        );
        assert!(!p.statuses.contains(&ConfigStatus::Streaming), "{lie:?}");
        assert!(
            p.took < Duration::from_secs(12),
            "{lie:?}: took {:?}",
            p.took
        );
        // A bad SDP is caught at DESCRIBE (no PLAY) or at the first frames.
        assert!(played <= 1, "{lie:?}");
    }

    let server = RtspServer::start(&clip, Lie::BadSprop).expect("server");
    let p = pull_from(&server.url(), true).await;
    p.result.as_ref().expect("in-band parameter sets win");
    assert!(p
        .tracks()
        .iter()
        .any(|t| matches!(&t.codec, CodecConfig::H264(c) if (c.width, c.height) == (320, 180))));
    assert_eq!(p.samples(0).len(), (SECONDS * f64::from(FPS)) as usize);
}

/// A server that goes silent mid-stream: the pull ends as lost after the idle timeout,
/// and the media before it was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_is_lost() {
    let server =
        RtspServer::start_stalling(&three_seconds(), Duration::from_secs(1)).expect("server");
    let p = pull_from(&server.url(), true).await;
    assert!(
        matches!(&p.result, Err(SourceError::Lost(m)) if m.contains("no media")),
        "{:?}",
        p.result
    );
    assert!(!p.samples(0).is_empty() && !p.samples(1).is_empty());
    assert!(p.took < Duration::from_secs(6), "took {:?}", p.took);
}

/// A server that wants a password gets the one in the URL; a wrong one is a connection
/// failure that says why, with nothing published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_url() {
    let options = ServeOptions {
        credentials: Some(("admin", "s3cret")),
        ..ServeOptions::default()
    };
    let server = RtspServer::start_with(&[&three_seconds()], options).expect("server");
    let addr = server.addr();
    let p = pull_from(&format!("rtsp://admin:wrong@{addr}/clip"), true).await;
    assert!(
        matches!(&p.result, Err(SourceError::ConnectFailed(m)) if m.contains("401")),
        "{:?}",
        p.result
    );
    assert!(p.items.is_empty());
    let p = pull_from(&format!("rtsp://admin:s3cret@{addr}/clip"), true).await;
    p.result.as_ref().expect("pull");
    assert_eq!(p.samples(0).len(), (SECONDS * f64::from(FPS)) as usize);
}

/// Nobody listening: a connection failure, quickly, and nothing published.
#[tokio::test]
async fn unreachable_server_is_connect_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let p = pull_from(&format!("rtsp://127.0.0.1:{port}/x"), true).await;
    assert!(
        matches!(p.result, Err(SourceError::ConnectFailed(_))),
        "{:?}",
        p.result
    );
    assert_eq!(p.statuses, [ConfigStatus::Connecting]);
    let p = pull_from("http://127.0.0.1:1/x", true).await;
    assert!(matches!(p.result, Err(SourceError::ConnectFailed(_))));
}
