//! The ASCII CLI (EMS `inboundAsciiCli`, port 1222): the JSON CLI's commands with replies
//! written for people at a telnet prompt.

use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;

use super::connection;
use super::reply::Reply;
use crate::server::{AppState, Shutdown};

pub async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    let per_address = state.config.limits.cli_connections_per_address;
    crate::accept::accept_loop(
        connection::policy("ASCII CLI", per_address),
        listener,
        shutdown,
        |_| true,
        move |stream, _, shutdown| connection::serve_lines(state.clone(), stream, shutdown, render),
    )
    .await
}

/// The outline, then a blank line so replies stay apart on screen and for scripts.
pub fn render(reply: &Reply) -> String {
    let mut s = reply.to_ascii();
    s.push_str("\r\n");
    s
}
