//! RTMP publish ingest (EMS inboundRtmp, port 1935): encoders push H.264/AAC with `publish`,
//! and each publish becomes a local stream named by its stream key.
//!
//! - [`guard`]: checks each message before rml_rtmp decodes it (AMF nesting, buffering).
//! - [`session`]: sans-I/O protocol state (rml_rtmp's handshake and server session) and the
//!   accept/reject decisions.
//! - [`publish`]: stream-name rules and the FLV tag demuxing of a publish.
//! - [`connection`]: the tokio task that drives one session over a socket, with deadlines.
//! - [`play`]: a local stream as RTMP media messages, for peers that play it (another
//!   server pulling from us).
//! - [`pull`]: the other direction, a client that plays a stream from another RTMP server
//!   (pullStream uri=rtmp://...).
//!
//! RTMPS is the same protocol inside TLS on a port of its own ([`serve_tls`]).
//!
//! Playing a stream that does not exist is refused (the peer retries).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::net::TcpListener;

use crate::accept::{Drain, Policy};
use crate::auth::Authorizer;
use crate::config::ServerConfig;
use crate::events::EventBus;
use crate::server::Shutdown;
use crate::streams::StreamRegistry;
use crate::tls::{Protocol, Tls};

mod connection;
pub mod guard;
mod play;
mod publish;
mod pull;
mod session;
pub mod tap;
#[cfg(test)]
mod tests;

pub use connection::Limits;
pub use publish::stream_name;
pub use pull::pull;

/// Connections served at once; more are closed on accept. Each costs a task, a 64 KiB read
/// buffer and whatever rml_rtmp buffers (capped by [`guard::MAX_UNPARSED_BYTES`]).
pub const MAX_CONNECTIONS: usize = 1024;

/// How long connections get to close after shutdown before their tasks are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What the RTMP listeners need of the server: the stream registry, who may publish and
/// play, and the limits.
#[derive(Clone)]
pub struct Context {
    pub streams: StreamRegistry,
    pub auth: Authorizer,
    pub limits: Limits,
}

impl Context {
    /// The server's registry, `[auth]` (reporting to `events`) and `[limits]`.
    pub fn new(streams: StreamRegistry, config: &ServerConfig, events: EventBus) -> Self {
        Self {
            streams,
            auth: Authorizer::new(&config.auth, events),
            limits: Limits::from_config(&config.limits),
        }
    }
}

/// Accepts RTMP connections until `shutdown`, then closes them.
pub async fn serve(ctx: Context, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    serve_with(ctx, listener, shutdown, MAX_CONNECTIONS).await
}

/// Accepts RTMPS connections (RTMP inside TLS, EMS inboundRtmps) until `shutdown`.
pub async fn serve_tls(
    ctx: Context,
    listener: TcpListener,
    tls: Arc<Tls>,
    shutdown: Shutdown,
) -> Result<()> {
    accept_loop(ctx, listener, shutdown, MAX_CONNECTIONS, Some(tls)).await
}

pub async fn serve_with(
    ctx: Context,
    listener: TcpListener,
    shutdown: Shutdown,
    max_connections: usize,
) -> Result<()> {
    accept_loop(ctx, listener, shutdown, max_connections, None).await
}

/// The accept loop of both RTMP and RTMPS: with `tls`, each connection's TLS handshake runs
/// in its own task (bounded by the handshake timeout), so a slow client holds up no one.
async fn accept_loop(
    ctx: Context,
    listener: TcpListener,
    shutdown: Shutdown,
    max_connections: usize,
    tls: Option<Arc<Tls>>,
) -> Result<()> {
    let policy = Policy {
        what: "RTMP",
        max_connections,
        // One address may not take every slot (a flood of half-open handshakes would lock
        // real publishers out).
        per_address: ctx.limits.per_address,
        // Every connection watches the same shutdown signal and closes on its own.
        drain: Drain::Grace(SHUTDOWN_GRACE),
        refusal_error: Some(crate::metrics::ErrorKind::Ingest),
    };
    crate::accept::accept_loop(
        policy,
        listener,
        shutdown,
        |_| true,
        move |socket, peer, shutdown| {
            let (ctx, tls) = (ctx.clone(), tls.clone());
            async move {
                // Small control replies (connect/publish results) should not wait for Nagle;
                // set on the socket, under any TLS layer.
                let _ = socket.set_nodelay(true);
                let peer = peer.to_string();
                let Context {
                    streams,
                    auth,
                    limits,
                } = ctx;
                match tls {
                    None => connection::run(streams, socket, peer, limits, auth, shutdown).await,
                    Some(tls) => match tls.accept(socket, Protocol::Rtmp, &shutdown).await {
                        Ok(s) => connection::run(streams, s, peer, limits, auth, shutdown).await,
                        Err(e) => tracing::debug!(%peer, "RTMPS handshake failed: {e}"),
                    },
                }
            }
        },
    )
    .await
}
