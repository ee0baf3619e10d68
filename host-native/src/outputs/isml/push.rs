//! One stream's connection to the publishing point: a long chunked POST, one HTTP chunk per
//! box group (the header, then each `moof`+`mdat`), written as soon as it is queued.
//!
//! TCP (or TLS for `https://`, [`super::tls`]) with a hand-written request rather than
//! hyper's client: the protocol is one
//! request that never ends, the server may answer at any moment (FFmpeg's `-listen 1`
//! replies 200 right after the request head, IIS and Unified Origin only at the end or with
//! an error), and every chunk must go out when it is ready. A watcher reads the answer
//! beside the writes: a non-2xx status or a closed connection ends the attempt.
//!
//! On a failure, with keepAlive, it reconnects with a growing backoff, and sends the same
//! header and the last two fragments of every track again, then continues where the
//! packager is (`reference/smooth-ingest.md` §1.7, §9.8); the publishing point drops what
//! it already has by time. While disconnected the queue is drained into that replay (two
//! fragments a track), so memory stays bounded however long the point is away.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use serde_json::Value;
use smoothcast_core::isml::END_OF_STREAM;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::target::PublishingPoint;
use crate::events::{EventBus, EventType};
use crate::outputs::mss::{ConfigStatus, OutputManager};

/// A connection to the point, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
type Stream = Box<dyn Io>;

/// Fragments of each track sent again after a reconnect.
pub const RESEND_PER_TRACK: usize = 2;

/// What the stream's side of the group sends to its connection.
pub enum Msg {
    /// `ftyp` + LSM + `moov`: first, once; every connection starts with it.
    Header(Bytes),
    Fragment {
        track: u32,
        data: Bytes,
        /// mssChunkClosed's payload, emitted once the fragment is on the wire.
        closed: Option<Value>,
    },
    /// The stream ends: the empty `mfra`, the last chunk, then the server's answer.
    End,
}

/// Timings of a connection; every one has a default ([`Timing::default`]).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub connect: Duration,
    /// The longest one chunk may take to write before the point counts as gone.
    pub write: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long the end waits for the server's answer.
    pub final_answer: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            // reference/smooth-ingest.md §9.8: 10 s connect timeout, backoff, no limit.
            connect: Duration::from_secs(10),
            write: Duration::from_secs(20),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            final_answer: Duration::from_secs(5),
        }
    }
}

pub struct Connection {
    pub point: PublishingPoint,
    /// The request path (`.../Streams(<name>)`).
    pub path: String,
    pub keep_alive: bool,
    pub config_id: u64,
    pub manager: OutputManager,
    pub bus: EventBus,
    pub timing: Timing,
    /// For an `https://` point: the TLS client (`None`: it cannot connect, see `tls_error`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub tls_error: Option<String>,
}

/// How a connection attempt ended, when not by an error.
enum Done {
    /// The stream ended and was closed properly.
    Ended,
    /// The group went away without an end (shutdown).
    Dropped,
}

impl Connection {
    fn shown(&self) -> String {
        self.point.shown_stream(&self.path)
    }

    fn status(&self, status: ConfigStatus) {
        self.manager.set_status(self.config_id, status, 0);
    }

    fn failed(&self, why: &str) {
        self.status(ConfigStatus::ConnectionFailed);
        let mut inner = self.manager.lock();
        if let Some(c) = inner.configs.get_mut(&self.config_id) {
            c.last_error = Some(format!("{}: {why}", self.shown()));
        }
    }

    /// Pushes until the stream ends or the group drops its sender.
    pub async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let mut header = None;
        while header.is_none() {
            match rx.recv().await {
                Some(Msg::Header(h)) => header = Some(h),
                Some(Msg::Fragment { .. }) => {}
                Some(Msg::End) | None => return,
            }
        }
        let Some(header) = header else { return };
        let mut replay: VecDeque<(u32, Bytes)> = VecDeque::new();
        let mut backoff = self.timing.first_backoff;
        let mut attempts = 0u64;
        loop {
            self.status(ConfigStatus::Connecting);
            let started = Instant::now();
            let error = match self.attempt(&header, &mut replay, &mut rx).await {
                Ok(Done::Ended) => {
                    tracing::info!(url = %self.shown(), "isml push: stream ended");
                    self.status(ConfigStatus::Disconnected);
                    return;
                }
                Ok(Done::Dropped) => return,
                Err(e) => e,
            };
            attempts += 1;
            // A connection that carried media for a while starts the backoff over.
            if started.elapsed() > self.timing.max_backoff * 2 {
                backoff = self.timing.first_backoff;
            }
            if attempts == 1 || attempts.is_multiple_of(50) {
                tracing::warn!(url = %self.shown(), attempts, "isml push: {error}");
            } else {
                tracing::debug!(url = %self.shown(), attempts, "isml push: {error}");
            }
            self.failed(&error);
            if self.bus.enabled() {
                self.bus.emit(
                    EventType::MssChunkError,
                    serde_json::json!({
                        "configId": self.config_id,
                        "publishingPoint": self.shown(),
                        "error": error,
                    }),
                );
            }
            if !self.keep_alive {
                tracing::warn!(url = %self.shown(), "isml push: stopped (keepAlive=0)");
                return;
            }
            // Wait, keeping only what a reconnect resends.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    m = rx.recv() => match m {
                        Some(Msg::Fragment { track, data, .. }) => remember(&mut replay, track, data),
                        Some(Msg::Header(_)) => {}
                        // Nothing to end on a connection that is not there.
                        Some(Msg::End) | None => return,
                    },
                }
            }
            backoff = (backoff * 2).min(self.timing.max_backoff);
        }
    }

    /// One connection: the request head, the header, the replay, then whatever is queued.
    async fn attempt(
        &self,
        header: &Bytes,
        replay: &mut VecDeque<(u32, Bytes)>,
        rx: &mut mpsc::Receiver<Msg>,
    ) -> Result<Done, String> {
        let addr = (self.point.host.as_str(), self.point.port);
        let stream = match tokio::time::timeout(self.timing.connect, TcpStream::connect(addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
            Err(_) => return Err(String::from("cannot connect: timed out")),
        };
        let _ = stream.set_nodelay(true);
        let stream: Stream = match (self.point.tls, &self.tls) {
            (false, _) => Box::new(stream),
            (true, Some(config)) => {
                let name = ServerName::try_from(self.point.host.clone())
                    .map_err(|e| format!("TLS: {e}"))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                match tokio::time::timeout(self.timing.connect, connector.connect(name, stream))
                    .await
                {
                    Ok(Ok(s)) => Box::new(s),
                    Ok(Err(e)) => return Err(format!("TLS: {e}")),
                    Err(_) => return Err(String::from("TLS: the handshake timed out")),
                }
            }
            (true, None) => {
                let why = self.tls_error.as_deref().unwrap_or("no TLS client");
                return Err(format!("TLS: {why}"));
            }
        };
        let (rd, mut wr) = tokio::io::split(stream);
        let answer = watch_answer(rd);
        tokio::pin!(answer);
        let head = self.point.request_head(&self.path);
        self.write(&mut wr, head.as_bytes(), false).await?;
        self.write(&mut wr, header, true).await?;
        for (_, f) in replay.iter() {
            self.write(&mut wr, f, true).await?;
        }
        self.status(ConfigStatus::Streaming);
        tracing::info!(url = %self.shown(), resent = replay.len(), "isml push: connected");
        loop {
            tokio::select! {
                why = &mut answer => return Err(why),
                m = rx.recv() => match m {
                    Some(Msg::Fragment { track, data, closed }) => {
                        self.write(&mut wr, &data, true).await?;
                        remember(replay, track, data);
                        if let Some(p) = closed {
                            self.bus.emit(EventType::MssChunkClosed, p);
                        }
                    }
                    Some(Msg::Header(_)) => {}
                    Some(Msg::End) => {
                        self.write(&mut wr, &END_OF_STREAM, true).await?;
                        self.write(&mut wr, b"0\r\n\r\n", false).await?;
                        // The answer comes once the body is complete; a close is fine too.
                        let _ = tokio::time::timeout(self.timing.final_answer, &mut answer).await;
                        let _ = wr.shutdown().await;
                        return Ok(Done::Ended);
                    }
                    None => return Ok(Done::Dropped),
                },
            }
        }
    }

    /// Writes `data`, as one HTTP chunk when `chunk`; a write that takes too long means the
    /// point is gone (or too slow to keep up).
    async fn write(
        &self,
        wr: &mut WriteHalf<Stream>,
        data: &[u8],
        chunk: bool,
    ) -> Result<(), String> {
        let mut buf = Vec::with_capacity(data.len() + 16);
        if chunk {
            buf.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
        }
        buf.extend_from_slice(data);
        if chunk {
            buf.extend_from_slice(b"\r\n");
        }
        match tokio::time::timeout(self.timing.write, wr.write_all(&buf)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("connection lost: {e}")),
            Err(_) => Err(format!(
                "a write took more than {} s",
                self.timing.write.as_secs()
            )),
        }
    }
}

/// Keeps the last [`RESEND_PER_TRACK`] fragments of each track, in sending order.
fn remember(replay: &mut VecDeque<(u32, Bytes)>, track: u32, data: Bytes) {
    replay.push_back((track, data));
    if replay.iter().filter(|(t, _)| *t == track).count() > RESEND_PER_TRACK {
        if let Some(i) = replay.iter().position(|(t, _)| *t == track) {
            replay.remove(i);
        }
    }
}

/// The most of an answer's head read; the rest of an answer is read and dropped.
const MAX_ANSWER_HEAD: usize = 8 * 1024;

/// Reads the server's answer: returns why the connection is over (a non-2xx status, or the
/// connection closing, before or after a 2xx).
async fn watch_answer(mut rd: ReadHalf<Stream>) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let mut status: Option<u16> = None;
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) => return format!("connection lost: {e}"),
        };
        if n == 0 {
            return match status {
                Some(code) => format!("the publishing point closed the connection (after {code})"),
                None => String::from("the publishing point closed the connection"),
            };
        }
        if status.is_some() {
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let code = response.code.unwrap_or(0);
                if !(200..300).contains(&code) {
                    let reason = response.reason.unwrap_or("").to_string();
                    return format!("the publishing point answered {code} {reason}");
                }
                status = Some(code);
                head = Vec::new();
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_ANSWER_HEAD => {}
            _ => return String::from("the publishing point answered something that is not HTTP"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::StreamRegistry;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use smoothcast_tests::certs::Ca;

    /// An https point (a test CA's certificate, trusted by this connection alone) receives
    /// the request head, the header chunk, a fragment chunk, the empty mfra and the last
    /// chunk, and answers 200.
    #[tokio::test]
    async fn pushes_over_tls() {
        let ca = Ca::new("isml push CA");
        let leaf = ca.leaf();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                .map(|c| c.expect("cert"))
                .collect();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut s = acceptor.accept(tcp).await.expect("handshake");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"0\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
            let _ = s.shutdown().await;
            got
        });
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
            roots.add(c.expect("CA")).expect("add");
        }
        let point = PublishingPoint::parse(&format!("https://localhost:{}/pp.isml", addr.port()))
            .expect("point");
        let path = point.stream_path("cam", None);
        let conn = Connection {
            point,
            path,
            keep_alive: false,
            config_id: 1,
            manager: OutputManager::new(StreamRegistry::new()),
            bus: EventBus::disabled(),
            timing: Timing::default(),
            tls: Some(super::super::tls::with_roots(roots).expect("client")),
            tls_error: None,
        };
        let (tx, rx) = mpsc::channel(8);
        tx.send(Msg::Header(Bytes::from_static(b"HEADER")))
            .await
            .expect("queued");
        tx.send(Msg::Fragment {
            track: 1,
            data: Bytes::from_static(b"FRAGMENT"),
            closed: None,
        })
        .await
        .expect("queued");
        tx.send(Msg::End).await.expect("queued");
        tokio::time::timeout(Duration::from_secs(20), conn.run(rx))
            .await
            .expect("the push ends");
        let got = String::from_utf8(received.await.expect("server")).expect("text");
        assert!(
            got.starts_with("POST /pp.isml/Streams(cam) HTTP/1.1\r\n"),
            "{got}"
        );
        assert!(got.contains("Host: localhost:"), "{got}");
        assert!(
            got.ends_with(
                "\r\n\r\n6\r\nHEADER\r\n8\r\nFRAGMENT\r\n8\r\n\0\0\0\x08mfra\r\n0\r\n\r\n"
            ),
            "{got:?}"
        );
    }

    #[test]
    fn replay_keeps_two_per_track_in_order() {
        let mut r = VecDeque::new();
        for (t, n) in [(1, 1u8), (2, 2), (1, 3), (1, 4), (2, 5), (2, 6)] {
            remember(&mut r, t, Bytes::from(vec![n]));
        }
        let kept: Vec<(u32, u8)> = r.iter().map(|(t, d)| (*t, d[0])).collect();
        assert_eq!(kept, [(1, 3), (1, 4), (2, 5), (2, 6)]);
    }
}
