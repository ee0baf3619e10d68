//! The accept loop every TCP listener but the web server's shares (RTMP and RTMPS, MPEG-TS
//! over TCP, the JSON and ASCII CLIs, the HTTP API and HTTPS API): a global cap and a
//! per-address cap on open connections, a pause after a failed accept, a panic in a
//! connection's task contained and counted, and on shutdown the connections drained as the
//! listener asks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::metrics::ErrorKind;
use crate::server::Shutdown;

/// What becomes of open connections once the listener stops accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Wait for every one: each watches the shutdown signal and finishes what it was doing.
    Wait,
    /// Wait this long, then abort the rest.
    Grace(Duration),
    /// Abort them at once (nothing they hold needs flushing).
    Abort,
}

/// One listener's limits and manners.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Names the listener in log lines.
    pub what: &'static str,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Connections served at once from one address (0: no limit), so one host's idle
    /// sockets cannot take every slot.
    pub per_address: usize,
    pub drain: Drain,
    /// Counted (as this kind of error) when a peer is refused for its address's cap.
    pub refusal_error: Option<ErrorKind>,
}

/// Accepts until `shutdown` changes. Each accepted peer that `admit` lets in and that the
/// caps leave room for gets `handle(stream, peer, shutdown)` run in a task of its own.
pub async fn accept_loop<A, F, Fut>(
    policy: Policy,
    listener: TcpListener,
    mut shutdown: Shutdown,
    admit: A,
    handle: F,
) -> anyhow::Result<()>
where
    A: Fn(SocketAddr) -> bool,
    F: Fn(TcpStream, SocketAddr, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Policy {
        what,
        max_connections,
        per_address,
        ..
    } = policy;
    let permits = Arc::new(Semaphore::new(max_connections));
    let addresses = crate::per_address::PerAddress::new(per_address);
    let mut tasks = JoinSet::new();
    while !*shutdown.borrow() {
        tokio::select! {
            // An error means the sender is gone: the server is stopping either way.
            changed = shutdown.changed() => if changed.is_err() { break },
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !admit(peer) {
                        continue;
                    }
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "{what} connection refused: {max_connections} connections already open");
                        continue;
                    };
                    let Some(slot) = addresses.try_acquire(peer.ip()) else {
                        if let Some(n) = addresses.refused() {
                            tracing::warn!(%peer, "{what} connection refused: {per_address} already open from this address ({n} refused since the last report)");
                        }
                        if let Some(kind) = policy.refusal_error {
                            crate::metrics::get().error(kind);
                        }
                        continue;
                    };
                    let conn = handle(stream, peer, shutdown.clone());
                    tasks.spawn(async move {
                        conn.await;
                        drop(permit);
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Usually out of file descriptors: pause for some to be freed instead of
                    // spinning on the error.
                    tracing::warn!("{what} accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(done) = tasks.join_next(), if !tasks.is_empty() => report_panic(what, done),
        }
    }
    drop(listener);
    match policy.drain {
        Drain::Wait => {
            while let Some(done) = tasks.join_next().await {
                report_panic(what, done);
            }
        }
        Drain::Grace(grace) => {
            let drained = tokio::time::timeout(grace, async {
                while let Some(done) = tasks.join_next().await {
                    report_panic(what, done);
                }
            })
            .await;
            if drained.is_err() {
                tracing::warn!("{what} connections did not close in time; aborting them");
                tasks.shutdown().await;
            }
        }
        Drain::Abort => tasks.shutdown().await,
    }
    Ok(())
}

fn report_panic(what: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!("{what}: a connection task panicked: {e}");
            crate::metrics::get().error(ErrorKind::Panic);
        }
    }
}
