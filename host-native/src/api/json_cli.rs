//! (stub)
use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;

use crate::server::{AppState, Shutdown};

pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    mut shutdown: Shutdown,
) -> Result<()> {
    let _ = (state, listener);
    let _ = shutdown.changed().await;
    Ok(())
}
