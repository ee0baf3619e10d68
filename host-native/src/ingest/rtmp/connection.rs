//! The I/O task of one RTMP connection: reads with deadlines, feeds [`Session`], writes its
//! replies and the media of a play, and ends on a protocol error, a timeout, shutdownStream,
//! the end of a played stream or server shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, timeout, Instant};

use super::session::Session;
use crate::auth::Authorizer;
use crate::server::Shutdown;
use crate::streams::{Delivered, StreamRegistry};

/// Time limits for one connection; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From accept to a completed handshake.
    pub handshake: Duration,
    /// From accept to an accepted publish or play: a connection that does neither is of no
    /// use and would only hold a connection slot.
    pub setup: Duration,
    /// Longest silence from the peer. Encoders send media continuously.
    pub idle: Duration,
    /// Longest a write may wait for a peer that does not read.
    pub write: Duration,
    /// Largest message a publisher may declare (`[limits] rtmp_max_message_bytes`).
    pub max_message: u32,
    /// Chunk streams one connection may use (`[limits] rtmp_max_chunk_streams`).
    pub max_chunk_streams: usize,
    /// Connections one address may hold (`[limits] rtmp_connections_per_address`).
    pub per_address: usize,
    /// Least time between two reads while publishing
    /// (`[limits] rtmp_publish_read_interval_ms`).
    pub publish_read_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_config(&crate::config::Limits::default())
    }
}

impl Limits {
    /// The server's `[limits]`, with the fixed setup, idle and write times.
    pub fn from_config(c: &crate::config::Limits) -> Self {
        Self {
            handshake: Duration::from_secs(c.rtmp_handshake_timeout_secs),
            setup: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
            max_message: c.rtmp_max_message_bytes,
            max_chunk_streams: c.rtmp_max_chunk_streams,
            per_address: c.rtmp_connections_per_address,
            publish_read_interval: Duration::from_millis(c.rtmp_publish_read_interval_ms),
        }
    }
}

/// Read size. Each read is handed to the session at once, so this is also the most this
/// task holds of the peer's bytes.
const READ_BUF: usize = 64 * 1024;

/// Longest silence from a playing peer (players send only acknowledgements).
const PLAYER_IDLE: Duration = Duration::from_secs(600);

/// What woke the connection task.
enum Wake {
    Read(std::io::Result<usize>),
    /// An item of the played stream, or `None` when the stream ended.
    Media(Option<Delivered>),
    /// The connection's timer: its deadline may have moved on since it was set.
    Timer,
}

/// When the connection times out if nothing more happens: the handshake and the setup
/// (publish or play) are counted from the accept, silence from the last thing heard.
fn deadline(session: &Session, limits: &Limits, accepted: Instant, last_heard: Instant) -> Instant {
    if session.is_handshaking() {
        (last_heard + limits.idle).min(accepted + limits.handshake)
    } else if !session.has_published() {
        (last_heard + limits.idle).min(accepted + limits.setup)
    } else if session.is_playing() {
        // A player only sends the odd acknowledgement; a dead one shows in our writes.
        last_heard + PLAYER_IDLE
    } else {
        last_heard + limits.idle
    }
}

/// The published stream's shutdownStream signal, waited on by one future for as long as the
/// stream is published (a new waiter per read would register and unregister on each one).
struct StreamStop {
    signal: Arc<Notify>,
    requested: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl StreamStop {
    /// Follows the session's published stream: a new waiter for a new publisher, none
    /// while nothing is published.
    fn follow(stop: &mut Option<StreamStop>, session: &Session) {
        match (session.publish(), &*stop) {
            (Some(p), Some(s)) if Arc::ptr_eq(p.publisher.stop_signal_ref(), &s.signal) => {}
            (Some(p), _) => {
                let signal = p.publisher.stop_signal();
                let waiter = signal.clone();
                *stop = Some(StreamStop {
                    signal,
                    requested: Box::pin(async move { waiter.notified().await }),
                });
            }
            (None, _) => *stop = None,
        }
    }
}

/// Resolves when shutdownStream asks the published stream to stop; never without one.
async fn stream_stop_requested(stop: &mut Option<StreamStop>) {
    match stop {
        Some(s) => s.requested.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The next item of the played stream; never, while nothing is played.
async fn next_media(media: &mut Option<mpsc::Receiver<Delivered>>) -> Option<Delivered> {
    match media {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How the connection ended, for the log line.
enum End {
    PeerClosed,
    Quiet(String),
    Warn(String),
    Info(String),
}

/// Drives one connection over `socket`: a TCP stream (RTMP) or a TLS stream over one
/// (RTMPS); `peer` names it in the log.
pub async fn run<S>(
    registry: StreamRegistry,
    mut socket: S,
    peer: String,
    limits: Limits,
    auth: Authorizer,
    mut shutdown: Shutdown,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let accepted = Instant::now();
    let mut session = Session::new(registry, peer.clone(), auth.clone(), &limits);
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::new();
    let mut play_media: Option<mpsc::Receiver<Delivered>> = None;
    // A publisher wakes this task tens of times a second, a thousand publishers a server.
    // Per wake-up it only re-polls these: the timer is set again only when it fires before
    // the deadline (or the deadline comes earlier), and each stop signal has one waiter.
    let mut last_heard = accepted;
    let timer = sleep_until(deadline(&session, &limits, accepted, last_heard));
    tokio::pin!(timer);
    let server_stopping = async move {
        // Sent (or the sender gone): the server is stopping either way.
        let _ = shutdown.changed().await;
    };
    tokio::pin!(server_stopping);
    let mut stream_stop: Option<StreamStop> = None;
    // While publishing, the next read waits for this after a read that took all there was:
    // what arrives meanwhile is read at once (see `publish_read_interval`).
    let read_gate = sleep_until(accepted);
    tokio::pin!(read_gate);
    let mut gated = false;

    let end = loop {
        let due = deadline(&session, &limits, accepted, last_heard);
        if due < timer.deadline() {
            timer.as_mut().reset(due);
        }
        StreamStop::follow(&mut stream_stop, &session);
        let wake = tokio::select! {
            () = &mut read_gate, if gated => {
                gated = false;
                continue;
            }
            r = socket.read(&mut buf), if !gated => Wake::Read(r),
            m = next_media(&mut play_media) => Wake::Media(m),
            () = &mut timer => Wake::Timer,
            () = &mut server_stopping => break End::Info("server shutting down".into()),
            () = stream_stop_requested(&mut stream_stop) => break End::Info("shutdownStream".into()),
        };
        let now = Instant::now();
        let read = match wake {
            Wake::Read(r) => r,
            Wake::Timer if now < due => {
                // Heard from since the timer was set: wait out the rest.
                timer.as_mut().reset(due);
                continue;
            }
            Wake::Timer if session.is_handshaking() => {
                break End::Quiet("handshake timeout".into())
            }
            Wake::Timer if !session.has_published() => {
                break End::Quiet("no publish in time after connecting".into())
            }
            Wake::Timer => break End::Warn(format!("nothing received for {:?}", limits.idle)),
            Wake::Media(None) => break End::Info("the played stream ended".into()),
            Wake::Media(Some(d)) => {
                last_heard = now;
                let result = session.play_item(d.item, &mut out);
                if !out.is_empty() {
                    match timeout(limits.write, socket.write_all(&out)).await {
                        Ok(Ok(())) => out.clear(),
                        Ok(Err(e)) => break End::Quiet(format!("write error: {e}")),
                        Err(_) => break End::Warn("player stopped reading (write timeout)".into()),
                    }
                }
                if let Err(close) = result {
                    break End::Warn(close.reason);
                }
                continue;
            }
        };
        last_heard = now;
        let n = match read {
            Ok(0) => break End::PeerClosed,
            Ok(n) => n,
            Err(e) => break End::Quiet(format!("read error: {e}")),
        };
        if n < buf.len() && session.publish().is_some() && !limits.publish_read_interval.is_zero() {
            read_gate.as_mut().reset(now + limits.publish_read_interval);
            gated = true;
        }
        let mut result = session.input(&buf[..n], &mut out);
        if let (Ok(()), Some(request)) = (&result, session.take_pending_auth()) {
            // The [auth] callback decides. The peer waits for the publish/play answer
            // anyway; what it sends meanwhile stays in the socket. Bounded by the hook
            // timeout, and a stopping server does not wait for it. Replies so far go out
            // first (the peer may wait for them before it waits for this answer).
            if !out.is_empty() {
                match timeout(limits.write, socket.write_all(&out)).await {
                    Ok(Ok(())) => out.clear(),
                    Ok(Err(e)) => break End::Quiet(format!("write error: {e}")),
                    Err(_) => break End::Warn("peer stopped reading (write timeout)".into()),
                }
            }
            let decision = tokio::select! {
                d = auth.check_hook(&request) => d,
                () = &mut server_stopping => break End::Info("server shutting down".into()),
            };
            result = session.resolve_auth(decision, &mut out);
        }
        if let Some(rx) = session.take_play_media() {
            play_media = Some(rx);
        } else if !session.is_playing() {
            play_media = None;
        }
        if !out.is_empty() {
            match timeout(limits.write, socket.write_all(&out)).await {
                Ok(Ok(())) => out.clear(),
                Ok(Err(e)) => break End::Quiet(format!("write error: {e}")),
                Err(_) => break End::Warn("peer stopped reading (write timeout)".into()),
            }
        }
        if let Err(close) = result {
            break if close.quiet {
                End::Quiet(close.reason)
            } else {
                End::Warn(close.reason)
            };
        }
    };

    let stream = session.last_stream().map(str::to_string);
    // Dropping the session drops the publisher, which ends the local stream.
    drop(session);
    let _ = socket.shutdown().await;
    let stream = stream.as_deref().unwrap_or("-");
    match end {
        End::PeerClosed => tracing::debug!(%peer, %stream, "RTMP connection closed by peer"),
        End::Quiet(why) => tracing::debug!(%peer, %stream, "RTMP connection closed: {why}"),
        End::Info(why) => tracing::info!(%peer, %stream, "RTMP connection closed: {why}"),
        End::Warn(why) => {
            tracing::warn!(%peer, %stream, "RTMP connection closed: {why}");
            crate::metrics::get().error(crate::metrics::ErrorKind::Ingest);
        }
    }
}
