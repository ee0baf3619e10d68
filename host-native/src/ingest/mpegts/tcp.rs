//! MPEG-TS over TCP: one sender's byte stream, in whatever pieces TCP delivers it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::{Sink, TsInput};
use crate::ingest::feed::{Feed, SourceError};
use crate::status::ConfigStatus;

/// Bytes read at a time; the demuxer keeps at most a partial packet of it.
const READ_BUFFER: usize = 64 * 1024;

/// A sender silent this long (mid-packet or not) has stalled: the stream ends with an error
/// instead of waiting forever. Encoders send PAT/PMT and audio many times a second.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a sender gets to send a PMT (`[limits] mpegts_first_pmt_timeout_secs`): bytes
/// that never describe a program only hold a slot.
pub const FIRST_PMT_TIMEOUT: Duration = Duration::from_secs(10);

/// `mpegtstcp://host:port`: listens on `addr` for one TCP sender, as EMS does, and feeds what
/// it sends until it closes. The local stream ends with the sender.
pub async fn pull_tcp(addr: SocketAddr, feed: &mut Feed) -> Result<(), SourceError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::ConnectFailed(format!("cannot listen on {addr}: {e}")))?;
    pull_tcp_on(listener, feed).await
}

/// [`pull_tcp`] on a listener already bound (tests bind port 0).
pub async fn pull_tcp_on(listener: TcpListener, feed: &mut Feed) -> Result<(), SourceError> {
    feed.set_status(ConfigStatus::WaitingForStream);
    let (socket, peer) = listener
        .accept()
        .await
        .map_err(|e| SourceError::ConnectFailed(format!("accepting a TS sender: {e}")))?;
    // One sender per pull: later ones are refused until the next listen.
    drop(listener);
    feed.set_status(ConfigStatus::Connected);
    let result = receive(socket, &peer.to_string(), feed, IDLE_TIMEOUT).await;
    feed.close();
    result
}

/// Reads TS from `socket` into `sink` until the peer closes (`Ok`), stalls for `idle`, breaks
/// the connection, sends something that is not TS, or the stream is shut down (`Ok`).
pub(crate) async fn receive(
    socket: TcpStream,
    label: &str,
    sink: &mut impl Sink,
    idle: Duration,
) -> Result<(), SourceError> {
    receive_with(socket, label, sink, idle, FIRST_PMT_TIMEOUT).await
}

/// [`receive`], also ending the connection if no PMT came within `first_pmt` of the start.
pub(crate) async fn receive_with(
    mut socket: TcpStream,
    label: &str,
    sink: &mut impl Sink,
    idle: Duration,
    first_pmt: Duration,
) -> Result<(), SourceError> {
    let mut input = TsInput::new(label);
    let mut buf = vec![0u8; READ_BUFFER];
    let pmt_deadline = tokio::time::Instant::now() + first_pmt;
    loop {
        let wait = if input.has_program() {
            tokio::time::Instant::now() + idle
        } else {
            (tokio::time::Instant::now() + idle).min(pmt_deadline)
        };
        let read = tokio::select! {
            read = tokio::time::timeout_at(wait, socket.read(&mut buf)) => read,
            () = sink.shutdown_requested() => {
                input.summarize();
                return Ok(());
            }
        };
        let n = match read {
            Ok(Ok(0)) => return input.finish(sink),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                input.summarize();
                return Err(SourceError::Lost(format!("reading from {label}: {e}")));
            }
            Err(_) if !input.has_program() && tokio::time::Instant::now() >= pmt_deadline => {
                input.summarize();
                return Err(SourceError::Protocol(format!(
                    "{label}: no PMT within {} s; not an MPEG-TS program",
                    first_pmt.as_secs_f64()
                )));
            }
            Err(_) => {
                input.summarize();
                return Err(SourceError::Lost(format!(
                    "{label} stalled: nothing received for {} s",
                    idle.as_secs_f64()
                )));
            }
        };
        sink.add_wire_bytes(n as u64);
        input.push(&buf[..n], sink)?;
    }
}
