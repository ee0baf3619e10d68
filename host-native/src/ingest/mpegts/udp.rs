//! MPEG-TS over UDP: datagrams of whole packets (7 x 188 bytes usually, possibly behind an
//! RTP header). A UDP stream has no end but silence, so a sender quiet for [`IDLE_TIMEOUT`]
//! has ended.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::TsInput;
use crate::ingest::feed::{Feed, SourceError};
use crate::status::ConfigStatus;

/// Silence that ends a UDP stream (so that keepAlive waits for the sender again).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest datagram taken: a UDP payload cannot be larger.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

const PACKET_LEN: usize = 188;
const RTP_HEADER_LEN: usize = 12;

/// Kernel receive buffer asked for: bursts of a high-bitrate sender (or several senders on
/// the inbound port) while the task is busy would overflow the usual 208 KiB default. The
/// kernel caps it at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Enlarges the socket's receive buffer; a refusal only costs resilience, so it is logged.
pub(crate) fn enlarge_receive_buffer(socket: &UdpSocket) {
    if let Err(e) = socket2::SockRef::from(socket).set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::debug!("cannot enlarge the UDP receive buffer: {e}");
    }
}

/// The TS bytes of a datagram: without the RTP header if it is RTP-wrapped TS (RFC 2250, as
/// some encoders send to "udp" outputs).
pub(crate) fn ts_payload(datagram: &[u8]) -> &[u8] {
    let rtp = datagram.len() > RTP_HEADER_LEN
        && datagram[0] & 0xc0 == 0x80
        && (datagram.len() - RTP_HEADER_LEN).is_multiple_of(PACKET_LEN)
        && datagram[RTP_HEADER_LEN] == 0x47;
    if rtp {
        &datagram[RTP_HEADER_LEN..]
    } else {
        datagram
    }
}

/// Whether a datagram's TS bytes look like TS: whole packets, each starting with the sync
/// byte. The inbound port gives a new sender a place in its table only for such a datagram,
/// so one-byte datagrams from many spoofed ports cannot fill it.
pub(crate) fn looks_like_ts(payload: &[u8]) -> bool {
    payload.len() >= PACKET_LEN && payload.iter().step_by(PACKET_LEN).all(|&b| b == 0x47)
}

/// `mpegtsudp://host:port`: binds `addr` and feeds the datagrams of the first sender until
/// it is silent for [`IDLE_TIMEOUT`]. The local stream ends then.
pub async fn pull_udp(addr: SocketAddr, feed: &mut Feed) -> Result<(), SourceError> {
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|e| SourceError::ConnectFailed(format!("cannot listen on udp {addr}: {e}")))?;
    pull_udp_on(socket, feed, IDLE_TIMEOUT).await
}

/// [`pull_udp`] on a socket already bound (tests bind port 0), with the silence that ends it.
/// For a multicast group, bind the group's port and join it (on the right interface) first.
pub async fn pull_udp_on(
    socket: UdpSocket,
    feed: &mut Feed,
    idle: Duration,
) -> Result<(), SourceError> {
    enlarge_receive_buffer(&socket);
    feed.set_status(ConfigStatus::WaitingForStream);
    let local = socket
        .local_addr()
        .map_or_else(|_| "udp".to_string(), |a| format!("udp {a}"));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut input = TsInput::new(local.clone());
    // Waiting for the first datagram has no deadline; silence after it ends the stream.
    let (n, sender) = socket
        .recv_from(&mut buf)
        .await
        .map_err(|e| SourceError::ConnectFailed(format!("receiving on {local}: {e}")))?;
    feed.set_status(ConfigStatus::Connected);
    let mut ignored_other = false;
    let mut datagram = n;
    let mut deadline = tokio::time::Instant::now() + idle;
    let result = loop {
        feed.add_wire_bytes(datagram as u64);
        if let Err(e) = input.push(ts_payload(&buf[..datagram]), feed) {
            break Err(e);
        }
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)) => r,
            () = feed.shutdown_requested() => {
                input.summarize();
                break Ok(());
            }
        };
        match next {
            Err(_) => break input.finish(feed),
            Ok(Err(e)) => {
                input.summarize();
                break Err(SourceError::Lost(format!("receiving on {local}: {e}")));
            }
            Ok(Ok((n, from))) if from == sender => {
                datagram = n;
                deadline = tokio::time::Instant::now() + idle;
            }
            Ok(Ok((_, from))) => {
                // Two senders interleaved would be garbage: the first one keeps the stream.
                if !ignored_other {
                    ignored_other = true;
                    tracing::warn!(%from, %sender, "{local}: ignoring datagrams from a second sender");
                }
                datagram = 0;
            }
        }
    };
    feed.close();
    result
}
