//! Pulling from another RTMP server (`pullStream uri=rtmp://host[:port]/app/stream`):
//! rml_rtmp's client session connects to `app` and plays `stream`, and the audio/video
//! messages it receives go through the FLV tag demuxer, as a publish's do.
//!
//! The peer is as untrusted as a publisher: every wait has a deadline (connect, handshake,
//! play, silence, writes), each read is at most [`READ_BUF`], and the server's chunk stream
//! passes the same [`Guard`] as a publisher's (AMF nesting, bytes without a message).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent, ClientSessionResult,
};
use smoothcast_core::demux::flv::{FlvDemuxer, TAG_AUDIO, TAG_VIDEO};
use smoothcast_core::demux::Demuxer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

use super::guard::Guard;
use super::tap::MessageTap;
use crate::ingest::feed::{Feed, SourceError};
use crate::ingest::pull::{PullParams, PullUri};
use crate::status::ConfigStatus;

/// Time limits of one pull attempt.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Duration,
    /// From connect to a completed handshake.
    pub handshake: Duration,
    /// From connect to the first media: a server that accepts but never plays is a failure.
    pub setup: Duration,
    /// Longest silence once playing; a live stream sends media continuously.
    pub idle: Duration,
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            setup: Duration::from_secs(15),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
        }
    }
}

/// Read size, and so the most of the peer's bytes held at once outside the session.
const READ_BUF: usize = 64 * 1024;

/// Pulls `uri` into `feed` until the server ends the stream (`Ok`) or something fails.
pub async fn pull(uri: &PullUri, params: &PullParams, feed: &mut Feed) -> Result<(), SourceError> {
    pull_with(uri, params, feed, Limits::default()).await
}

pub async fn pull_with(
    uri: &PullUri,
    params: &PullParams,
    feed: &mut Feed,
    limits: Limits,
) -> Result<(), SourceError> {
    let (app, stream) = uri
        .rtmp_app_and_stream()
        .ok_or_else(|| SourceError::Protocol(format!("{}: no app/stream", uri.original)))?;
    let addr = uri.authority();
    let fail = |why: String| SourceError::ConnectFailed(format!("{addr}: {why}"));
    let mut socket = match timeout(limits.connect, TcpStream::connect(&addr)).await {
        Err(_) => return Err(fail(format!("no answer in {:?}", limits.connect))),
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Ok(Ok(s)) => s,
    };
    let _ = socket.set_nodelay(true);
    let started = Instant::now();
    let mut buf = vec![0u8; READ_BUF];

    let mut handshake = Handshake::new(PeerType::Client);
    let p0p1 = handshake
        .generate_outbound_p0_and_p1()
        .map_err(|e| fail(format!("handshake: {e:?}")))?;
    send(&mut socket, &p0p1, limits.write).await.map_err(fail)?;
    let remaining = loop {
        let n = match timeout_at(started + limits.handshake, socket.read(&mut buf)).await {
            Err(_) => return Err(fail("handshake timeout".into())),
            Ok(Ok(0)) => return Err(fail("closed during the handshake".into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(fail(e.to_string())),
        };
        feed.add_wire_bytes(n as u64);
        match handshake.process_bytes(&buf[..n]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                send(&mut socket, &response_bytes, limits.write)
                    .await
                    .map_err(fail)?;
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                send(&mut socket, &response_bytes, limits.write)
                    .await
                    .map_err(fail)?;
                break remaining_bytes;
            }
            Err(e) => return Err(fail(format!("not an RTMP server: {e:?}"))),
        }
    };

    let mut config = ClientSessionConfig::new();
    config.tc_url = Some(if params.tc_url.is_empty() {
        format!("rtmp://{addr}/{app}")
    } else {
        params.tc_url.clone()
    });
    let (session, results) = ClientSession::new(config)
        .map_err(|e| SourceError::Protocol(format!("cannot start an RTMP session: {e}")))?;
    let mut client = Client {
        session,
        guard: Guard::new(),
        tap: MessageTap::default(),
        demuxer: FlvDemuxer::tags_only(),
        stream,
        out: Vec::new(),
    };
    client.results(results, feed)?;
    let connect = client.call(|s| s.request_connection(app))?;
    client.results(vec![connect], feed)?;
    let mut flow = Flow::Continue;
    if !remaining.is_empty() {
        flow = client.input(&remaining, feed)?;
    }
    loop {
        if !client.out.is_empty() {
            let out = std::mem::take(&mut client.out);
            if let Err(why) = send(&mut socket, &out, limits.write).await {
                return Err(client.failed(feed, why));
            }
        }
        if let Flow::End = flow {
            return Ok(());
        }
        let mut deadline = Instant::now() + limits.idle;
        if !feed.is_open() {
            deadline = deadline.min(started + limits.setup);
        }
        let n = match timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) if !feed.is_open() => {
                return Err(fail(format!(
                    "no media within {:?} of connecting",
                    limits.setup
                )))
            }
            Err(_) => {
                return Err(SourceError::Lost(format!(
                    "nothing received for {:?}",
                    limits.idle
                )))
            }
            Ok(Ok(0)) if feed.is_open() => return Ok(()),
            Ok(Ok(0)) => return Err(fail("closed the connection before playing".into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(client.failed(feed, e.to_string())),
        };
        feed.add_wire_bytes(n as u64);
        flow = client.input(&buf[..n], feed)?;
    }
}

/// RTMP's aggregate message: several FLV tags in one message (Adobe's and Wowza's servers
/// send media this way).
const TYPE_AGGREGATE: u8 = 22;

/// The audio and video tags of an aggregate message. Each tag is an 11-byte FLV tag header,
/// its body and a 4-byte back pointer; tag times are shifted so the first one falls at the
/// message's time. A truncated tag ends the walk.
fn unpack_aggregate(data: &[u8], message_ts: u32, media: &mut Vec<(u8, u32, bytes::Bytes)>) {
    let mut rest = data;
    let mut first_ts = None;
    while rest.len() >= 11 {
        let tag_type = rest[0] & 0x1f;
        let size = usize::from(rest[1]) << 16 | usize::from(rest[2]) << 8 | usize::from(rest[3]);
        let ts = u32::from(rest[7]) << 24
            | u32::from(rest[4]) << 16
            | u32::from(rest[5]) << 8
            | u32::from(rest[6]);
        let Some(body) = rest.get(11..11 + size) else {
            return;
        };
        let first = *first_ts.get_or_insert(ts);
        if tag_type == TAG_AUDIO || tag_type == TAG_VIDEO {
            let at = message_ts.wrapping_add(ts.wrapping_sub(first));
            media.push((tag_type, at, bytes::Bytes::copy_from_slice(body)));
        }
        rest = rest.get(11 + size + 4..).unwrap_or_default();
    }
}

/// The `code` and `description` of a status object among AMF values.
fn status_code(values: &[rml_rtmp::rml_amf0::Amf0Value]) -> Option<(String, String)> {
    use rml_rtmp::rml_amf0::Amf0Value;
    values.iter().find_map(|v| match v {
        Amf0Value::Object(props) => match props.get("code") {
            Some(Amf0Value::Utf8String(code)) => {
                let description = match props.get("description") {
                    Some(Amf0Value::Utf8String(d)) => d.clone(),
                    _ => String::new(),
                };
                Some((code.clone(), description))
            }
            _ => None,
        },
        _ => None,
    })
}

async fn send(socket: &mut TcpStream, bytes: &[u8], limit: Duration) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    match timeout(limit, socket.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write error: {e}")),
        Err(_) => Err("the server stopped reading (write timeout)".into()),
    }
}

enum Flow {
    Continue,
    /// The server ended the stream.
    End,
}

/// The protocol side of one pull, without I/O.
struct Client {
    session: ClientSession,
    guard: Guard,
    /// Where media comes from (see [`MessageTap`]).
    tap: MessageTap,
    demuxer: FlvDemuxer,
    stream: String,
    /// Bytes for the server, in order.
    out: Vec<u8>,
}

impl Client {
    /// A failure: before media it is a failed connection, after it a lost one.
    fn failed(&self, feed: &Feed, why: String) -> SourceError {
        if feed.is_open() {
            SourceError::Lost(why)
        } else {
            SourceError::ConnectFailed(why)
        }
    }

    /// Calls into rml_rtmp, which has panicking paths on malformed input: a panic becomes
    /// this pull's error.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut ClientSession) -> Result<T, ClientSessionError>,
    ) -> Result<T, SourceError> {
        match catch_unwind(AssertUnwindSafe(|| f(&mut self.session))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(SourceError::Protocol(format!("RTMP: {e}"))),
            Err(_) => Err(SourceError::Protocol(
                "malformed RTMP data (rml_rtmp panicked)".into(),
            )),
        }
    }

    fn input(&mut self, data: &[u8], feed: &mut Feed) -> Result<Flow, SourceError> {
        // Media is taken from the chunk layer, whatever its message stream id: servers
        // disagree on it (ffmpeg's listen mode sends on another id than createStream gave),
        // and this connection plays one stream only.
        let mut media = Vec::new();
        self.guard
            .check(data)
            .map_err(|e| SourceError::Protocol(e.to_string()))?;
        self.tap
            .messages(data, |m| {
                if m.type_id == TAG_AUDIO || m.type_id == TAG_VIDEO {
                    media.push((m.type_id, m.timestamp.value, m.data.clone()));
                } else if m.type_id == TYPE_AGGREGATE {
                    unpack_aggregate(&m.data, m.timestamp.value, &mut media);
                }
            })
            .map_err(SourceError::Protocol)?;
        let results = self.call(|s| s.handle_input(data))?;
        for (tag, timestamp, data) in media {
            self.media(tag, timestamp, &data, feed)?;
        }
        self.results(results, feed)
    }

    fn results(
        &mut self,
        results: Vec<ClientSessionResult>,
        feed: &mut Feed,
    ) -> Result<Flow, SourceError> {
        let mut flow = Flow::Continue;
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.out.extend_from_slice(&packet.bytes)
                }
                ClientSessionResult::RaisedEvent(event) => {
                    if let Flow::End = self.event(event, feed)? {
                        flow = Flow::End;
                    }
                }
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(flow)
    }

    fn event(&mut self, event: ClientSessionEvent, feed: &mut Feed) -> Result<Flow, SourceError> {
        match event {
            ClientSessionEvent::ConnectionRequestAccepted => {
                let stream = self.stream.clone();
                let play = self.call(|s| s.request_playback(stream))?;
                self.results(vec![play], feed)
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => Err(
                SourceError::ConnectFailed(format!("connect refused: {description}")),
            ),
            ClientSessionEvent::PlaybackRequestAccepted => {
                // Media may have come in the same read, and been handled first.
                if !feed.is_open() {
                    feed.set_status(ConfigStatus::Connected);
                }
                Ok(Flow::Continue)
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => match code.as_str() {
                "NetStream.Play.StreamNotFound"
                | "NetStream.Play.Failed"
                | "NetStream.Play.BadName"
                | "NetConnection.Connect.Rejected"
                | "NetStream.Failed" => Err(self.failed(feed, format!("the server said {code}"))),
                "NetStream.Play.Stop"
                | "NetStream.Play.UnpublishNotify"
                | "NetStream.Play.Complete" => {
                    tracing::debug!(stream = %self.stream, "RTMP pull ended: {code}");
                    Ok(Flow::End)
                }
                _ => Ok(Flow::Continue),
            },
            // An `_error` outside rml_rtmp's transactions: how servers (ours too) refuse a
            // play.
            ClientSessionEvent::UnknownTransactionResultReceived {
                additional_values, ..
            } => match status_code(&additional_values) {
                Some((code, description))
                    if code.contains("Failed")
                        || code.contains("NotFound")
                        || code.contains("BadName")
                        || code.contains("Rejected") =>
                {
                    Err(self.failed(feed, format!("the server said {code}: {description}")))
                }
                _ => Ok(Flow::Continue),
            },
            // Media was taken from the chunk layer (see `input`). Metadata is not needed (the
            // codec headers carry everything); pings and acknowledgements need no action.
            _ => Ok(Flow::Continue),
        }
    }

    fn media(
        &mut self,
        tag: u8,
        timestamp: u32,
        data: &bytes::Bytes,
        feed: &mut Feed,
    ) -> Result<Flow, SourceError> {
        // Some servers send an empty message as a stream marker.
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        self.demuxer
            .push_tag_shared(tag, timestamp, data)
            .map_err(|e| SourceError::Protocol(format!("bad media at {timestamp} ms: {e}")))?;
        while let Some(event) = self.demuxer.poll() {
            feed.send(event)?;
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::{StreamKind, StreamRegistry};
    use tokio::net::TcpListener;

    fn short() -> Limits {
        Limits {
            connect: Duration::from_secs(1),
            handshake: Duration::from_millis(500),
            setup: Duration::from_millis(800),
            idle: Duration::from_millis(800),
            write: Duration::from_millis(500),
        }
    }

    async fn pull_from(listener: &TcpListener) -> Result<(), SourceError> {
        let addr = listener.local_addr().expect("addr");
        let uri = PullUri::parse(&format!("rtmp://{addr}/live/x")).expect("uri");
        let mut feed = Feed::new(StreamRegistry::new(), "x", StreamKind::Rtmp, "test");
        let params = PullParams::default();
        timeout(
            Duration::from_secs(5),
            pull_with(&uri, &params, &mut feed, short()),
        )
        .await
        .expect("the pull gives up in time")
    }

    /// A peer that accepts and says nothing does not hold the pull forever.
    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let r = tokio::join!(pull_from(&listener), async {
            let (socket, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(socket);
        })
        .0;
        match r {
            Err(SourceError::ConnectFailed(why)) => assert!(why.contains("handshake"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// Garbage instead of an RTMP handshake is a failed connection, not a panic.
    #[tokio::test]
    async fn garbage_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let r = tokio::join!(pull_from(&listener), async {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let _ = socket.write_all(&[0xffu8; 4096]).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .0;
        assert!(matches!(r, Err(SourceError::ConnectFailed(_))), "{r:?}");
    }

    #[test]
    fn aggregate_messages_unpack() {
        let tag = |t: u8, ts: u32, body: &[u8]| {
            let mut v = vec![t, 0, 0, body.len() as u8];
            v.extend_from_slice(&[
                (ts >> 16) as u8,
                (ts >> 8) as u8,
                ts as u8,
                (ts >> 24) as u8,
            ]);
            v.extend_from_slice(&[0, 0, 0]);
            v.extend_from_slice(body);
            v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
            v
        };
        let mut data = tag(TAG_VIDEO, 5000, &[0x17, 1, 0, 0, 0]);
        data.extend(tag(18, 5000, b"meta"));
        data.extend(tag(TAG_AUDIO, 5023, &[0xaf, 1, 9]));
        // A truncated tag at the end is ignored.
        data.extend(&tag(TAG_AUDIO, 5046, &[0xaf, 1, 9])[..12]);
        let mut media = Vec::new();
        unpack_aggregate(&data, 100, &mut media);
        let got: Vec<(u8, u32, usize)> =
            media.iter().map(|(t, ts, b)| (*t, *ts, b.len())).collect();
        assert_eq!(got, vec![(TAG_VIDEO, 100, 5), (TAG_AUDIO, 123, 3)]);
        unpack_aggregate(&[0xff; 7], 0, &mut media);
        unpack_aggregate(
            &[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1],
            0,
            &mut media,
        );
        assert_eq!(media.len(), 2);
    }

    /// Nothing listening: a failed connection naming the address.
    #[tokio::test]
    async fn refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let uri = PullUri::parse(&format!("rtmp://{addr}/live/x")).expect("uri");
        let mut feed = Feed::new(StreamRegistry::new(), "x", StreamKind::Rtmp, "test");
        let r = pull_with(&uri, &PullParams::default(), &mut feed, short()).await;
        match r {
            Err(SourceError::ConnectFailed(why)) => {
                assert!(why.contains(&addr.to_string()), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
}
