//! EMS's inboundTcpTs and inboundUdpTs acceptors (port 9999, `mpegts_port`): every TCP
//! connection and every UDP sender becomes a local stream of kind `INT`.
//!
//! Streams are named as EMS's TS acceptor (crtmpserver's InboundTSProtocol) names them:
//! `ts_<n>_<audio PID>_<video PID>`, with `n` counting the server's inbound TS sources from 1
//! and 0 for a missing track: ffmpeg's defaults give `ts_1_257_256`. The name is chosen once
//! the PMT has been read, so a source that never sends one never claims a name. A sender that
//! comes back is a new source with a new number; for a name that stays, set
//! `mpegts_stream_name` (as EMS's acceptor `localStreamName`): every source then takes that
//! name, and a second one at the same time is refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use smoothcast_core::demux::ts::{ProgramPids, TsDemuxer};
use smoothcast_core::demux::DemuxEvent;
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

use super::udp::{looks_like_ts, ts_payload, MAX_DATAGRAM};
use super::{tcp, udp, Sink, TsInput};
use crate::accept::{Drain, Policy};
use crate::auth::allowlist::SourceAllowlist;
use crate::config::ServerConfig;
use crate::events::EventBus;
use crate::ingest::feed::{Feed, SourceError};
use crate::server::Shutdown;
use crate::streams::{StreamKind, StreamRegistry};

/// TCP senders served at once; more are closed on accept.
pub const MAX_TCP_SENDERS: usize = 256;
/// UDP senders tracked at once. A new sender that looks like TS takes the place of the
/// oldest one that never made a stream; when all of them stream, it is dropped.
pub const MAX_UDP_SENDERS: usize = 64;

/// Datagrams that are not TS from unknown senders are reported at most this often (a
/// spoofing flood would otherwise flood the log).
const NOT_TS_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The configured name, or `ts_<n>_<audio>_<video>`, EMS's name for an inbound TS stream.
pub fn stream_name(configured: Option<&str>, n: u64, pids: ProgramPids) -> String {
    if let Some(name) = configured {
        return name.to_string();
    }
    format!(
        "ts_{n}_{}_{}",
        pids.audio.unwrap_or(0),
        pids.video.unwrap_or(0)
    )
}

/// A feed that picks its stream name when the first media arrives.
pub(crate) struct InboundFeed {
    streams: StreamRegistry,
    configured_name: Option<Arc<str>>,
    number: u64,
    source: String,
    feed: Option<Feed>,
    unbilled: u64,
}

impl InboundFeed {
    fn new(ctx: &Context, number: u64, source: String) -> Self {
        Self {
            streams: ctx.streams.clone(),
            configured_name: ctx.stream_name.clone(),
            number,
            source,
            feed: None,
            unbilled: 0,
        }
    }

    fn name(&self) -> Option<&str> {
        self.feed.as_ref().map(Feed::name)
    }
}

impl Sink for InboundFeed {
    fn send(&mut self, demuxer: &TsDemuxer, event: DemuxEvent) -> Result<(), SourceError> {
        let feed = self.feed.get_or_insert_with(|| {
            let name = stream_name(
                self.configured_name.as_deref(),
                self.number,
                demuxer.program_pids().unwrap_or_default(),
            );
            Feed::new(
                self.streams.clone(),
                &name,
                StreamKind::MpegTs,
                &self.source,
            )
        });
        feed.add_wire_bytes(std::mem::take(&mut self.unbilled));
        feed.send(event)
    }

    fn add_wire_bytes(&mut self, n: u64) {
        match &mut self.feed {
            Some(feed) => feed.add_wire_bytes(n),
            None => self.unbilled += n,
        }
    }

    async fn shutdown_requested(&self) {
        match &self.feed {
            Some(feed) => feed.shutdown_requested().await,
            None => std::future::pending().await,
        }
    }
}

/// Numbers the inbound TS sources of one server.
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// What the MPEG-TS acceptors need of the server.
#[derive(Clone)]
pub struct Context {
    pub streams: StreamRegistry,
    /// `mpegts_stream_name`: the one name every source takes.
    pub stream_name: Option<Arc<str>>,
    /// `[limits] mpegts_first_pmt_timeout_secs`, for TCP senders.
    pub first_pmt: Duration,
    /// `[auth] mpegts_allow`: senders from elsewhere are dropped before they get any state.
    pub allow: Arc<SourceAllowlist>,
}

impl Context {
    pub fn new(streams: StreamRegistry, config: &ServerConfig, events: EventBus) -> Self {
        Self {
            streams,
            stream_name: config.mpegts_stream_name.as_deref().map(Arc::from),
            first_pmt: Duration::from_secs(config.limits.mpegts_first_pmt_timeout_secs),
            allow: Arc::new(crate::auth::Authorizer::new(&config.auth, events).ts_allowlist()),
        }
    }
}

/// Runs both acceptors until `shutdown`.
pub async fn serve(
    ctx: Context,
    tcp: TcpListener,
    udp: UdpSocket,
    shutdown: Shutdown,
) -> Result<()> {
    let counter = Arc::new(Counter::default());
    let (a, b) = tokio::join!(
        serve_tcp(ctx.clone(), tcp, counter.clone(), shutdown.clone()),
        serve_udp(ctx, udp, counter, shutdown),
    );
    a.and(b)
}

fn log_end(source: &str, name: Option<&str>, result: &Result<(), SourceError>) {
    let name = name.unwrap_or("(none)");
    match result {
        Ok(()) => tracing::info!(%source, stream = name, "inbound MPEG-TS ended"),
        Err(e) => {
            tracing::warn!(%source, stream = name, "inbound MPEG-TS refused or lost: {e}");
            crate::metrics::get().error(crate::metrics::ErrorKind::Ingest);
        }
    }
}

async fn serve_tcp(
    ctx: Context,
    listener: TcpListener,
    counter: Arc<Counter>,
    shutdown: Shutdown,
) -> Result<()> {
    let policy = Policy {
        what: "MPEG-TS",
        max_connections: MAX_TCP_SENDERS,
        per_address: 0,
        // Dropping a sender's future ends its stream; nothing needs flushing.
        drain: Drain::Abort,
        refusal_error: None,
    };
    let allow = ctx.allow.clone();
    crate::accept::accept_loop(
        policy,
        listener,
        shutdown,
        move |peer| allow.admits(peer, "tcp"),
        move |socket, peer, _| {
            let source = format!("mpegtstcp://{peer}");
            let mut feed = InboundFeed::new(&ctx, counter.next(), source.clone());
            let first_pmt = ctx.first_pmt;
            async move {
                let result =
                    tcp::receive_with(socket, &source, &mut feed, tcp::IDLE_TIMEOUT, first_pmt)
                        .await;
                log_end(&source, feed.name(), &result);
            }
        },
    )
    .await
}

/// Whether shutdownStream asked `feed`'s stream to end, without waiting.
fn stop_requested(feed: &Feed) -> bool {
    let stop = std::pin::pin!(feed.shutdown_requested());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::future::Future::poll(stop, &mut cx).is_ready()
}

struct UdpSender {
    input: TsInput,
    feed: InboundFeed,
    last: Instant,
    /// Refused (not TS, no PMT, or it made the demuxer panic): its datagrams are dropped
    /// until it goes quiet.
    refused: bool,
}

impl UdpSender {
    /// Demuxes one datagram. Every sender shares this task, so a panic in the demuxer (a bug
    /// some input meets) is caught here: that sender is refused, counted and logged, and the
    /// other senders and the listener run on.
    fn push(&mut self, from: SocketAddr, payload: &[u8]) {
        let source = format!("mpegtsudp://{from}");
        let (input, feed) = (&mut self.input, &mut self.feed);
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| input.push(payload, feed)));
        self.settle(&source, result);
    }

    /// The sender went quiet: what the demuxer held is passed on (panics contained as above).
    fn finish(&mut self, from: SocketAddr) {
        let source = format!("mpegtsudp://{from}");
        let (input, feed) = (&mut self.input, &mut self.feed);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| input.finish(feed)));
        match result {
            Ok(result) => log_end(&source, self.feed.name(), &result),
            Err(_) => self.settle(&source, Err(Box::new(()))),
        }
    }

    fn settle(&mut self, source: &str, result: std::thread::Result<Result<(), SourceError>>) {
        let error = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => {
                crate::metrics::get().error(crate::metrics::ErrorKind::Panic);
                tracing::error!(%source, "MPEG-TS demuxing panicked; this sender is refused, the others go on");
                SourceError::Protocol(format!("MPEG-TS from {source} made the demuxer panic"))
            }
        };
        self.refused = true;
        log_end(source, self.feed.name(), &Err(error));
        // The stream (if any) ends now; the entry stays to keep refusing.
        self.feed.feed = None;
    }
}

/// The sender whose place a new one takes when the table is full: the quietest of those
/// that never made a stream (refused, or no PMT yet), if any.
fn evictable(senders: &HashMap<SocketAddr, UdpSender>) -> Option<SocketAddr> {
    senders
        .iter()
        .filter(|(_, s)| s.refused || s.feed.feed.is_none())
        .min_by_key(|(_, s)| s.last)
        .map(|(from, _)| *from)
}

async fn serve_udp(
    ctx: Context,
    socket: UdpSocket,
    counter: Arc<Counter>,
    mut shutdown: Shutdown,
) -> Result<()> {
    let allow = ctx.allow.clone();
    udp::enlarge_receive_buffer(&socket);
    let mut senders: HashMap<SocketAddr, UdpSender> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sweep = tokio::time::interval(Duration::from_millis(500));
    let mut full_warned = false;
    let mut not_ts_reported: Option<Instant> = None;
    while !*shutdown.borrow() {
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() { break },
            _ = sweep.tick() => {
                let now = Instant::now();
                for (from, s) in senders.iter_mut() {
                    if !s.refused && s.feed.feed.as_ref().is_some_and(stop_requested) {
                        // shutdownStream: the sender is ignored until it goes quiet.
                        s.refused = true;
                        s.feed.feed = None;
                        s.input.summarize();
                        tracing::info!(%from, "inbound MPEG-TS stream shut down");
                    }
                }
                senders.retain(|from, s| {
                    if now.duration_since(s.last) < udp::IDLE_TIMEOUT {
                        return true;
                    }
                    if !s.refused {
                        s.finish(*from);
                    }
                    false
                });
                full_warned &= senders.len() >= MAX_UDP_SENDERS;
            }
            received = socket.recv_from(&mut buf) => {
                let (n, from) = match received {
                    Ok(r) => r,
                    // ICMP errors and the like concern one datagram, not the socket.
                    Err(e) => {
                        tracing::debug!("MPEG-TS UDP receive failed: {e}");
                        continue;
                    }
                };
                if !allow.admits(from, "udp") {
                    continue;
                }
                let payload = ts_payload(&buf[..n]);
                if !senders.contains_key(&from) {
                    if !looks_like_ts(payload) {
                        let now = Instant::now();
                        if not_ts_reported.is_none_or(|t| now.duration_since(t) >= NOT_TS_REPORT_INTERVAL) {
                            not_ts_reported = Some(now);
                            tracing::warn!(%from, "MPEG-TS over UDP: datagrams without TS sync bytes are not an MPEG-TS stream; dropped (reported once per {} s)", NOT_TS_REPORT_INTERVAL.as_secs());
                            crate::metrics::get().error(crate::metrics::ErrorKind::Ingest);
                        }
                        continue;
                    }
                    if senders.len() >= MAX_UDP_SENDERS {
                        match evictable(&senders) {
                            Some(old) => {
                                tracing::info!(%old, new = %from, "MPEG-TS over UDP: sender table full; a sender without a stream makes room");
                                senders.remove(&old);
                            }
                            None => {
                                if !full_warned {
                                    full_warned = true;
                                    tracing::warn!(%from, "MPEG-TS over UDP: {MAX_UDP_SENDERS} senders streaming already; dropping datagrams of new ones");
                                }
                                continue;
                            }
                        }
                    }
                }
                let s = senders.entry(from).or_insert_with(|| {
                    let source = format!("mpegtsudp://{from}");
                    UdpSender {
                        input: TsInput::new(source.clone()),
                        feed: InboundFeed::new(&ctx, counter.next(), source),
                        last: Instant::now(),
                        refused: false,
                    }
                });
                s.last = Instant::now();
                if s.refused {
                    continue;
                }
                s.feed.add_wire_bytes(n as u64);
                s.push(from, payload);
            }
        }
    }
    Ok(())
}
