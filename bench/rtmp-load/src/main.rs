//! `rtmp-load`: N simultaneous RTMP publishers replaying one FLV file in real time, for the
//! live-server benchmark (`bench/live_bench.py`).
//!
//! Each stream is one task: TCP connect, RTMP handshake, `connect` to `live`, `publish` of
//! `<prefix><i>`, then the file's audio and video tags, each sent when its timestamp comes
//! due (looping with continuous timestamps) for `--seconds`. The tags are slices of one
//! shared buffer; the only copy per tag is rml_rtmp's chunking.
//!
//! At the end one JSON line on stdout says how many streams connected, how many failed,
//! the bytes sent and how late the sends were against their schedule (so a benchmark can
//! tell a slow server from a generator that could not keep up). Progress goes to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

mod flv;

use flv::{Tag, TAG_VIDEO};

#[derive(Parser, Debug)]
#[command(
    name = "rtmp-load",
    about = "RTMP publisher load generator: N real-time publishers of one FLV file"
)]
struct Args {
    /// Server RTMP address.
    #[arg(long, default_value = "127.0.0.1:1935")]
    addr: SocketAddr,
    /// Publishers to run at once.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// How long each publisher publishes, from its own publish start.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// The FLV file to publish (H.264/AAC); looped with continuous timestamps.
    #[arg(long)]
    flv: PathBuf,
    /// Stream names are `<prefix><i>`, i from 0.
    #[arg(long, default_value = "load")]
    prefix: String,
    /// RTMP application name.
    #[arg(long, default_value = "live")]
    app: String,
    /// Delay between the starts of consecutive publishers.
    #[arg(long, default_value_t = 20)]
    stagger_ms: u64,
    /// Runtime worker threads; 1 runs everything on one thread (cheapest).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
}

/// Limits for the steps before publishing, and for a write to a server that stops reading.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How one stream went.
#[derive(Default)]
struct StreamReport {
    /// The publish was accepted.
    published: bool,
    /// Published for the whole duration without an error.
    completed: bool,
    error: Option<String>,
    /// Microseconds from each tag's due time to the end of its write.
    lateness_us: Vec<u32>,
}

/// Counters every stream adds to as it goes (read by the progress line and the report).
#[derive(Default)]
struct Totals {
    bytes_sent: AtomicU64,
    tags_sent: AtomicU64,
    publishing: AtomicUsize,
}

struct Plan {
    addr: SocketAddr,
    app: String,
    tags: Vec<Tag>,
    loop_ms: u64,
    duration: Duration,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("rtmp-load: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.streams == 0 {
        bail!("--streams must be at least 1");
    }
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let file =
        std::fs::read(&args.flv).with_context(|| format!("reading {}", args.flv.display()))?;
    let tags = flv::parse(&Bytes::from(file)).with_context(|| args.flv.display().to_string())?;
    let loop_ms = u64::from(flv::loop_length(&tags));
    let plan = Arc::new(Plan {
        addr: args.addr,
        app: args.app.clone(),
        tags,
        loop_ms,
        duration: Duration::from_secs_f64(args.seconds),
    });
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run_all(args, plan))
}

async fn run_all(args: Args, plan: Arc<Plan>) -> Result<()> {
    let totals = Arc::new(Totals::default());
    let t0 = Instant::now();
    let stagger = Duration::from_millis(args.stagger_ms);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.streams {
        let plan = plan.clone();
        let totals = totals.clone();
        let name = format!("{}{i}", args.prefix);
        let start = t0 + stagger * i as u32;
        tasks.spawn(async move {
            sleep_until(start).await;
            let mut report = StreamReport::default();
            if let Err(e) = publish(&plan, &name, &totals, &mut report).await {
                report.error = Some(format!("{name}: {e:#}"));
            }
            report
        });
    }
    let progress = (args.progress_secs > 0).then(|| {
        let totals = totals.clone();
        let every = Duration::from_secs(args.progress_secs);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(every).await;
                let bytes = totals.bytes_sent.load(Ordering::Relaxed);
                eprintln!(
                    "rtmp-load: t={:.0}s publishing={} sent={:.1} MB ({:.1} Mbit/s)",
                    t0.elapsed().as_secs_f64(),
                    totals.publishing.load(Ordering::Relaxed),
                    bytes as f64 / 1e6,
                    (bytes - last) as f64 * 8.0 / every.as_secs_f64() / 1e6
                );
                last = bytes;
            }
        })
    });
    // Every stream ends by itself; this bounds a stuck one (setup and writes have limits
    // too, so it should never fire).
    let limit = stagger * args.streams as u32 + plan.duration + 3 * SETUP_TIMEOUT + WRITE_TIMEOUT;
    let mut reports = Vec::with_capacity(args.streams);
    let mut stuck = 0;
    let deadline = t0 + limit;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(r))) => reports.push(r),
            Ok(Some(Err(e))) => reports.push(StreamReport {
                error: Some(format!("task failed: {e}")),
                ..Default::default()
            }),
            Ok(None) => break,
            Err(_) => {
                stuck = tasks.len();
                tasks.abort_all();
                break;
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
    }

    let mut lateness: Vec<u32> = reports
        .iter()
        .flat_map(|r| r.lateness_us.iter().copied())
        .collect();
    lateness.sort_unstable();
    let pick = |q: f64| {
        lateness
            .get(((lateness.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let errors: Vec<&str> = reports.iter().filter_map(|r| r.error.as_deref()).collect();
    let connected = reports.iter().filter(|r| r.published).count();
    let report = serde_json::json!({
        "streams": args.streams,
        "connected": connected,
        "publish_failures": reports.iter().filter(|r| !r.published).count() + stuck,
        "dropped_while_publishing": reports.iter().filter(|r| r.published && !r.completed).count(),
        "completed": reports.iter().filter(|r| r.completed).count(),
        "stuck": stuck,
        "seconds": plan.duration.as_secs_f64(),
        "wall_seconds": t0.elapsed().as_secs_f64(),
        "bytes_sent": totals.bytes_sent.load(Ordering::Relaxed),
        "tags_sent": totals.tags_sent.load(Ordering::Relaxed),
        "lateness_ms": { "p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0) },
        "errors": errors.iter().take(5).collect::<Vec<_>>(),
        "error_count": errors.len(),
    });
    println!("{report}");
    Ok(())
}

/// One publisher, start to end. Errors say which step failed.
async fn publish(
    plan: &Plan,
    name: &str,
    totals: &Totals,
    report: &mut StreamReport,
) -> Result<()> {
    let (socket, mut session) = timeout(SETUP_TIMEOUT, setup(plan, name))
        .await
        .map_err(|_| anyhow!("no accepted publish within {SETUP_TIMEOUT:?}"))??;
    report.published = true;
    totals.publishing.fetch_add(1, Ordering::Relaxed);
    let result = stream_tags(plan, socket, &mut session, totals, report).await;
    totals.publishing.fetch_sub(1, Ordering::Relaxed);
    result?;
    report.completed = true;
    Ok(())
}

/// Connects, handshakes, connects to the app and publishes; returns once the server has
/// accepted the publish.
async fn setup(plan: &Plan, name: &str) -> Result<(TcpStream, ClientSession)> {
    let mut socket = TcpStream::connect(plan.addr)
        .await
        .with_context(|| format!("connecting to {}", plan.addr))?;
    // Audio tags are small; do not let Nagle hold them back behind video.
    socket.set_nodelay(true)?;
    let mut handshake = Handshake::new(PeerType::Client);
    let p0p1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| anyhow!("handshake: {e}"))?;
    socket.write_all(&p0p1).await.context("handshake write")?;
    let mut buf = vec![0u8; 16 * 1024];
    let leftover = loop {
        let n = socket.read(&mut buf).await.context("handshake read")?;
        if n == 0 {
            bail!("the server closed the connection during the handshake");
        }
        match handshake
            .process_bytes(&buf[..n])
            .map_err(|e| anyhow!("handshake: {e}"))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket.write_all(&response_bytes).await?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket.write_all(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let (mut session, initial) =
        ClientSession::new(ClientSessionConfig::new()).map_err(|e| anyhow!("session: {e}"))?;
    send_results(&mut socket, initial).await?;
    let connect = session
        .request_connection(plan.app.clone())
        .map_err(|e| anyhow!("connect request: {e}"))?;
    send_results(&mut socket, vec![connect]).await?;
    let mut input = leftover;
    loop {
        let results = session
            .handle_input(&input)
            .map_err(|e| anyhow!("RTMP from the server: {e}"))?;
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => socket.write_all(&p.bytes).await?,
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted) => {
                    let req = session
                        .request_publishing(name.to_string(), PublishRequestType::Live)
                        .map_err(|e| anyhow!("publish request: {e}"))?;
                    send_results(&mut socket, vec![req]).await?;
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::PublishRequestAccepted) => {
                    return Ok((socket, session));
                }
                ClientSessionResult::RaisedEvent(
                    ClientSessionEvent::ConnectionRequestRejected { description },
                ) => bail!("connect to {:?} refused: {description}", plan.app),
                ClientSessionResult::RaisedEvent(
                    ClientSessionEvent::UnhandleableOnStatusCode { code },
                ) => bail!("publish refused: {code}"),
                ClientSessionResult::RaisedEvent(_)
                | ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        let n = socket
            .read(&mut buf)
            .await
            .context("reading the server's reply")?;
        if n == 0 {
            bail!("the server closed the connection before accepting the publish");
        }
        input = buf[..n].to_vec();
    }
}

async fn send_results(socket: &mut TcpStream, results: Vec<ClientSessionResult>) -> Result<()> {
    for r in results {
        if let ClientSessionResult::OutboundResponse(p) = r {
            socket.write_all(&p.bytes).await?;
        }
    }
    Ok(())
}

/// Sends the tags on schedule until the duration is up, then unpublishes and closes.
async fn stream_tags(
    plan: &Plan,
    socket: TcpStream,
    session: &mut ClientSession,
    totals: &Totals,
    report: &mut StreamReport,
) -> Result<()> {
    let (mut reader, mut writer) = socket.into_split();
    // The server only sends the odd acknowledgement from here on; drain it so its writes
    // never block, and notice when it closes.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return "the server closed the connection".to_string(),
                Ok(_) => {}
                Err(e) => return format!("read error: {e}"),
            }
        }
    });
    let start = Instant::now();
    let end = start + plan.duration;
    let expected_tags = (plan.duration.as_millis() as usize / 20).max(16);
    report.lateness_us.reserve(expected_tags.min(1 << 20));
    let result = async {
        for pass in 0u64.. {
            for tag in &plan.tags {
                if pass > 0 && tag.sequence_header {
                    continue;
                }
                let ms = pass * plan.loop_ms + u64::from(tag.timestamp);
                let due = start + Duration::from_millis(ms);
                if due >= end {
                    return Ok(());
                }
                if drain.is_finished() {
                    bail!("the server closed the connection while publishing");
                }
                sleep_until(due).await;
                let ts = RtmpTimestamp::new(ms as u32);
                let packet = if tag.kind == TAG_VIDEO {
                    session.publish_video_data(tag.data.clone(), ts, false)
                } else {
                    session.publish_audio_data(tag.data.clone(), ts, false)
                };
                let packet = match packet {
                    Ok(ClientSessionResult::OutboundResponse(p)) => p,
                    Ok(_) => bail!("rml_rtmp produced no packet for a media message"),
                    Err(e) => bail!("serializing a media message: {e}"),
                };
                write(&mut writer, &packet.bytes).await?;
                let late = Instant::now().saturating_duration_since(due);
                report
                    .lateness_us
                    .push(late.as_micros().min(u128::from(u32::MAX)) as u32);
                totals
                    .bytes_sent
                    .fetch_add(packet.bytes.len() as u64, Ordering::Relaxed);
                totals.tags_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
    .await;
    if result.is_ok() {
        // A clean unpublish, as an encoder stopping would send.
        if let Ok(results) = session.stop_publishing() {
            for r in results {
                if let ClientSessionResult::OutboundResponse(p) = r {
                    let _ = write(&mut writer, &p.bytes).await;
                }
            }
        }
    }
    let _ = writer.shutdown().await;
    drain.abort();
    result
}

async fn write(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<()> {
    match timeout(WRITE_TIMEOUT, writer.write_all(bytes)).await {
        Ok(r) => r.context("write to the server"),
        Err(_) => bail!("the server stopped reading (a write waited {WRITE_TIMEOUT:?})"),
    }
}
