//! Keeps a listener running: each accept loop runs in a task of its own, and if that task
//! panics (a bug: every per-connection and per-sender task already contains its own panics),
//! the listener is bound again on the same address and restarted after a pause, logged and
//! counted, instead of the whole server stopping with it. Restarting is right for a listener
//! because its state is only its socket and its connections: the other listeners, the
//! outputs and the streams are untouched, and the port comes back in a second. A listener
//! that keeps panicking (more than [`MAX_RESTARTS`] within [`RESTART_WINDOW`]) or cannot be
//! bound again stops the server with an error, as a listener returning an error does: a
//! server that silently lost a port would be worse than one that says so.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::server::Shutdown;

/// Restarts allowed within [`RESTART_WINDOW`] before the server gives up.
pub const MAX_RESTARTS: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// Pause before a restart, so a panic on every accept cannot spin.
pub const RESTART_PAUSE: Duration = Duration::from_secs(1);

pub type ListenerFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Aborts the listener's task when the supervisor itself is dropped (server shutdown with
/// the task set aborted).
struct AbortOnDrop(tokio::task::JoinHandle<Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `start()`'s listener until it returns; restarts it after a panic. `start` is called
/// once per run: the first run uses the listener bound at start, later ones bind again.
pub async fn supervise(
    what: &'static str,
    shutdown: Shutdown,
    mut start: impl FnMut() -> ListenerFuture,
) -> Result<()> {
    supervise_with(what, shutdown, RESTART_PAUSE, &mut start).await
}

pub async fn supervise_with(
    what: &'static str,
    shutdown: Shutdown,
    pause: Duration,
    start: &mut impl FnMut() -> ListenerFuture,
) -> Result<()> {
    let mut restarts: Vec<Instant> = Vec::new();
    loop {
        let mut task = AbortOnDrop(tokio::spawn(start()));
        let joined = (&mut task.0).await;
        match joined {
            Ok(result) => return result,
            Err(e) if e.is_panic() && !*shutdown.borrow() => {
                crate::metrics::get().error(crate::metrics::ErrorKind::Panic);
                let now = Instant::now();
                restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
                if restarts.len() >= MAX_RESTARTS {
                    anyhow::bail!(
                        "the {what} listener panicked {} times within {} s; giving up: {e}",
                        restarts.len() + 1,
                        RESTART_WINDOW.as_secs()
                    );
                }
                restarts.push(now);
                tracing::error!(
                    "the {what} listener panicked ({e}); its connections were dropped, restarting it in {:?}",
                    pause
                );
                tokio::time::sleep(pause).await;
            }
            // Cancelled, or a panic while stopping: nothing to restart.
            Err(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_panicking_listener_is_restarted_then_given_up() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        // Panics twice, then serves until it returns Ok.
        let r = runs.clone();
        let mut start = move || -> ListenerFuture {
            let n = r.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < 2 {
                    panic!("listener bug {n}");
                }
                Ok(())
            })
        };
        let result =
            supervise_with("test", rx.clone(), Duration::from_millis(10), &mut start).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 3);

        // One that always panics is given up after MAX_RESTARTS restarts.
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let mut always = move || -> ListenerFuture {
            r.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { panic!("always") })
        };
        let e = supervise_with("test", rx, Duration::from_millis(1), &mut always)
            .await
            .expect_err("given up");
        assert!(e.to_string().contains("giving up"), "{e}");
        assert_eq!(runs.load(Ordering::SeqCst), MAX_RESTARTS + 1);
    }
}
