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
//! Playing a stream that does not exist is refused (the peer retries).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::server::{AppState, Shutdown};

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
    serve_with(
        state,
        listener,
        shutdown,
        Limits::default(),
        MAX_CONNECTIONS,
    )
    .await
}

pub async fn serve_with(
    state: Arc<AppState>,
    listener: TcpListener,
    mut shutdown: Shutdown,
    limits: Limits,
    max_connections: usize,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
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
                        let registry = state.streams.clone();
                        let shutdown = shutdown.clone();
                        connections.spawn(async move {
                            connection::run(registry, socket, limits, shutdown).await;
                            drop(slot);
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
