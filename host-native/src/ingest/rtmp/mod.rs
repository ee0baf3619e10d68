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
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::server::{AppState, Shutdown};
use crate::tls::{Protocol, Tls};

mod connection;
pub mod guard;
mod play;
mod publish;
mod pull;
mod session;
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

/// Accepts RTMP connections until `shutdown`, then closes them.
pub async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    let limits = Limits::from_config(&state.config.limits);
    serve_with(state, listener, shutdown, limits, MAX_CONNECTIONS).await
}

/// Accepts RTMPS connections (RTMP inside TLS, EMS inboundRtmps) until `shutdown`.
pub async fn serve_tls(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Arc<Tls>,
    shutdown: Shutdown,
) -> Result<()> {
    let limits = Limits::from_config(&state.config.limits);
    accept_loop(
        state,
        listener,
        shutdown,
        limits,
        MAX_CONNECTIONS,
        Some(tls),
    )
    .await
}

pub async fn serve_with(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: Shutdown,
    limits: Limits,
    max_connections: usize,
) -> Result<()> {
    accept_loop(state, listener, shutdown, limits, max_connections, None).await
}

/// The accept loop of both RTMP and RTMPS: with `tls`, each connection's TLS handshake runs
/// in its own task (bounded by the handshake timeout), so a slow client holds up no one.
async fn accept_loop(
    state: Arc<AppState>,
    listener: TcpListener,
    mut shutdown: Shutdown,
    limits: Limits,
    max_connections: usize,
    tls: Option<Arc<Tls>>,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    let per_address = crate::per_address::PerAddress::new(limits.per_address);
    // [auth]: who may publish and play; open by default.
    let auth = crate::auth::Authorizer::new(&state.config.auth, state.events.clone());
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                // A dropped sender means the server is gone: stop too.
                if changed.is_err() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        // One address may not take every slot (a flood of half-open
                        // handshakes would lock real publishers out).
                        let Some(address_slot) = per_address.try_acquire(peer.ip()) else {
                            if let Some(n) = per_address.refused() {
                                tracing::warn!(%peer, "RTMP connection refused: {} already open from this address ({n} refused since the last report)", per_address.max());
                            }
                            crate::metrics::get().error(crate::metrics::ErrorKind::Ingest);
                            continue;
                        };
                        let registry = state.streams.clone();
                        let shutdown = shutdown.clone();
                        let auth = auth.clone();
                        let tls = tls.clone();
                        connections.spawn(async move {
                            // Small control replies (connect/publish results) should not
                            // wait for Nagle; set on the socket, under any TLS layer.
                            let _ = socket.set_nodelay(true);
                            let peer = peer.to_string();
                            match tls {
                                None => connection::run(registry, socket, peer, limits, auth, shutdown).await,
                                Some(tls) => match tls.accept(socket, Protocol::Rtmp, &shutdown).await {
                                    Ok(s) => connection::run(registry, s, peer, limits, auth, shutdown).await,
                                    Err(e) => tracing::debug!(%peer, "RTMPS handshake failed: {e}"),
                                },
                            }
                            drop(slot);
                            drop(address_slot);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "RTMP connection refused: {max_connections} connections already open");
                        drop(socket);
                    }
                },
                Err(e) => {
                    // Usually out of file descriptors: wait for some to be freed instead of
                    // spinning on the error.
                    tracing::warn!("RTMP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!("an RTMP connection task panicked: {e}");
                        crate::metrics::get().error(crate::metrics::ErrorKind::Panic);
                    }
                }
            }
        }
    }
    drop(listener);
    // Every connection watches the same shutdown signal and closes on its own.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("RTMP connections did not close in time; aborting them");
        connections.shutdown().await;
    }
    Ok(())
}
