//! The JSON CLI (EMS `inboundJsonCli`, port 1112): one command per line, each reply a JSON
//! envelope followed by `\r\n\r\n`.

use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;

use super::connection;
use super::reply::Reply;
use crate::server::{AppState, Shutdown};

pub async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    let per_address = state.config.limits.cli_connections_per_address;
    crate::accept::accept_loop(
        connection::policy("JSON CLI", per_address),
        listener,
        shutdown,
        |_| true,
        move |stream, _, shutdown| connection::serve_lines(state.clone(), stream, shutdown, render),
    )
    .await
}

pub fn render(reply: &Reply) -> String {
    let mut s = reply.to_json();
    s.push_str("\r\n\r\n");
    s
}
