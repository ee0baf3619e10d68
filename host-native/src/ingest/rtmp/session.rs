//! The protocol side of one RTMP connection, without I/O: bytes from the peer go in, bytes
//! for the peer come out, and publishes become local streams. rml_rtmp does the handshake
//! and the chunk/message layer; this decides what to accept.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};

use super::guard::Guard;
use super::play::Play;
use super::publish::{stream_name, Publish, TagKind};
use crate::auth::{Action, Authorizer, Decision, Request};
use crate::streams::{Delivered, StreamItem, StreamKind, StreamRegistry};

/// Why a connection ends. `quiet` ends (peer errors that say nothing about our health, like
/// a port scanner's garbage) are logged at debug level, the rest as warnings.
#[derive(Debug)]
pub struct Close {
    pub reason: String,
    pub quiet: bool,
}

impl Close {
    fn quiet(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            quiet: true,
        }
    }
    fn warn(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            quiet: false,
        }
    }
}

enum Phase {
    Handshake(Box<Handshake>),
    Session(Box<ServerSession>),
    /// After a failure; nothing more is accepted.
    Failed,
}

/// A publish or play the static rules allowed, waiting for the `[auth]` callback.
struct Awaiting {
    request: Request,
    request_id: u32,
    /// The play's message stream (unused for a publish).
    stream_id: u32,
    /// Whether [`Session::take_pending_auth`] gave it to the connection task (only once).
    handed_out: bool,
}

/// One connection's protocol state.
pub struct Session {
    registry: StreamRegistry,
    peer: String,
    phase: Phase,
    publish: Option<Publish>,
    /// The name of the latest accepted publish or play, for the connection's last log line.
    last_stream: Option<String>,
    guard: Guard,
    /// The `tcUrl` of the peer's `connect` command, without its query.
    tc_url: Option<String>,
    play: Option<Play>,
    /// The media of an accepted play, until the connection task takes it.
    play_media: Option<tokio::sync::mpsc::Receiver<Delivered>>,
    auth: Authorizer,
    /// The application of the connect (`live`), for authorization and logs.
    app: String,
    awaiting: Option<Awaiting>,
}

impl Session {
    pub fn new(
        registry: StreamRegistry,
        peer: String,
        auth: Authorizer,
        limits: &super::Limits,
    ) -> Self {
        Self {
            registry,
            peer,
            auth,
            app: String::new(),
            awaiting: None,
            phase: Phase::Handshake(Box::new(Handshake::new(PeerType::Server))),
            publish: None,
            last_stream: None,
            guard: Guard::with_limits(limits.max_message, limits.max_chunk_streams).commands_only(),
            tc_url: None,
            play: None,
            play_media: None,
        }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshake(_))
    }

    /// Whether a publish or play was ever accepted on this connection (for the setup
    /// deadline).
    pub fn has_published(&self) -> bool {
        self.last_stream.is_some()
    }

    /// Whether the peer is playing a stream (it then has nothing to send for long times).
    pub fn is_playing(&self) -> bool {
        self.play.is_some()
    }

    /// The media of a play just accepted: the connection task waits on it.
    pub fn take_play_media(&mut self) -> Option<tokio::sync::mpsc::Receiver<Delivered>> {
        self.play_media.take()
    }

    /// Sends one item of the played stream; whatever must go out is appended to `out`.
    pub fn play_item(&mut self, item: StreamItem, out: &mut Vec<u8>) -> Result<(), Close> {
        let Some(play) = &mut self.play else {
            return Ok(());
        };
        let Some((kind, ts, body)) = play.tag(item) else {
            return Ok(());
        };
        let stream_id = play.stream_id;
        let timestamp = rml_rtmp::time::RtmpTimestamp::new(ts);
        let packet = self.with_session(|s| match kind {
            TagKind::Video => s.send_video_data(stream_id, body, timestamp, false),
            TagKind::Audio => s.send_audio_data(stream_id, body, timestamp, false),
        })?;
        out.extend_from_slice(&packet.bytes);
        Ok(())
    }

    /// A publish or play that waits for the `[auth]` callback: the connection task asks it
    /// ([`Authorizer::check_hook`]) and hands the answer to [`Session::resolve_auth`].
    pub fn take_pending_auth(&mut self) -> Option<Request> {
        let a = self.awaiting.as_mut().filter(|a| !a.handed_out)?;
        a.handed_out = true;
        Some(a.request.clone())
    }

    /// The callback's answer for the request [`Session::take_pending_auth`] gave out.
    pub fn resolve_auth(&mut self, decision: Decision, out: &mut Vec<u8>) -> Result<(), Close> {
        let Some(a) = self.awaiting.take() else {
            return Ok(());
        };
        let result = match decision {
            Decision::Refuse(why) => self.refuse_auth(&a.request, a.request_id, &why, out),
            Decision::Allow => match a.request.action {
                Action::Publish => {
                    self.start_publish(a.request_id, &a.request.app, &a.request.stream, out)
                }
                Action::Play => self.start_play(a.request_id, &a.request.stream, a.stream_id, out),
            },
        };
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    /// The name of the latest publish accepted on this connection, ended or not.
    pub fn last_stream(&self) -> Option<&str> {
        self.last_stream.as_deref()
    }

    /// The publish in progress, if any.
    pub fn publish(&self) -> Option<&Publish> {
        self.publish.as_ref()
    }

    /// Handles bytes from the peer; whatever must go back is appended to `out`, which the
    /// caller sends even when this fails (a rejection must reach the peer before the close).
    pub fn input(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Close> {
        if let Some(p) = &mut self.publish {
            p.add_wire_bytes(data.len() as u64);
        }
        let result = self.dispatch(data, out);
        if result.is_err() {
            self.phase = Phase::Failed;
            // Ends the local stream now rather than when the task gets round to dropping us.
            self.publish = None;
        }
        result
    }

    fn dispatch(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Close> {
        match &mut self.phase {
            Phase::Handshake(handshake) => {
                match handshake.process_bytes(data) {
                    Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                        out.extend_from_slice(&response_bytes);
                        Ok(())
                    }
                    Ok(HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    }) => {
                        out.extend_from_slice(&response_bytes);
                        let (session, results) = ServerSession::new(ServerSessionConfig::new())
                            .map_err(|e| {
                                Close::warn(format!("cannot start an RTMP session: {e}"))
                            })?;
                        self.phase = Phase::Session(Box::new(session));
                        tracing::debug!(peer = %self.peer, "RTMP handshake done");
                        self.handle_results(results, out)?;
                        if remaining_bytes.is_empty() {
                            Ok(())
                        } else {
                            self.session_input(&remaining_bytes, out)
                        }
                    }
                    // Port scanners and HTTP clients on the wrong port end up here.
                    Err(e) => Err(Close::quiet(format!("not an RTMP handshake: {e}"))),
                }
            }
            Phase::Session(_) => self.session_input(data, out),
            Phase::Failed => Err(Close::quiet("connection already failed")),
        }
    }

    fn session_input(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Close> {
        // The first AMF0 command is `connect`, whose tcUrl rml_rtmp does not hand on: kept
        // here, read once the guard has passed the bytes (its AMF depth check comes first).
        let mut command = None;
        let want = self.tc_url.is_none();
        self.guard
            .check_amf(data, |type_id, data| {
                if want && command.is_none() && type_id == super::guard::TYPE_AMF0_COMMAND {
                    command = Some(data.to_vec());
                }
            })
            .map_err(|e| Close::warn(e.to_string()))?;
        if let Some(command) = command {
            self.tc_url = connect_tc_url(&command);
        }
        let results = self.with_session(|s| s.handle_input(data))?;
        self.handle_results(results, out)
    }

    /// Calls into rml_rtmp. It has panicking paths on malformed input (indexing in AMF data
    /// handling, arithmetic overflow in debug builds); a panic becomes this connection's
    /// error instead of a dead task with a half-updated session.
    fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut ServerSession) -> Result<T, ServerSessionError>,
    ) -> Result<T, Close> {
        let Phase::Session(session) = &mut self.phase else {
            return Err(Close::warn("no RTMP session"));
        };
        match catch_unwind(AssertUnwindSafe(|| f(session))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Close::warn(format!("RTMP protocol error: {e}"))),
            Err(_) => Err(Close::warn("malformed RTMP data (rml_rtmp panicked)")),
        }
    }

    fn handle_results(
        &mut self,
        results: Vec<ServerSessionResult>,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    out.extend_from_slice(&packet.bytes)
                }
                ServerSessionResult::RaisedEvent(event) => self.handle_event(event, out)?,
                ServerSessionResult::UnhandleableMessageReceived(payload) => {
                    tracing::trace!(peer = %self.peer, type_id = payload.type_id, "RTMP message ignored");
                }
            }
        }
        Ok(())
    }

    fn handle_event(&mut self, event: ServerSessionEvent, out: &mut Vec<u8>) -> Result<(), Close> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                // Any application name: EMS setups use `live`, but encoders are configured
                // with all sorts, and the stream name alone identifies the stream.
                tracing::debug!(peer = %self.peer, app = %app_name, "RTMP connect");
                self.app = app_name;
                let results = self.with_session(|s| s.accept_request(request_id))?;
                self.handle_results(results, out)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => self.publish_requested(request_id, &app_name, &stream_key, out),
            ServerSessionEvent::PublishStreamFinished { stream_key, .. } => {
                self.end_publish(&stream_key, "deleteStream/closeStream");
                Ok(())
            }
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. }
                if command_name == "FCUnpublish" =>
            {
                let key = self
                    .publish
                    .as_ref()
                    .map(|p| p.publisher.name().to_string());
                if let Some(key) = key {
                    self.end_publish(&key, "FCUnpublish");
                }
                Ok(())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => self.media(TagKind::Audio, timestamp.value, &data),
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => self.media(TagKind::Video, timestamp.value, &data),
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                stream_key,
                stream_id,
                ..
            } => self.play_requested(request_id, &stream_key, stream_id, out),
            ServerSessionEvent::PlayStreamFinished { .. } => {
                if let Some(p) = self.play.take() {
                    tracing::info!(peer = %self.peer, stream = %p.name, "RTMP play ended");
                }
                self.play_media = None;
                Ok(())
            }
            // Metadata (onMetaData) is not needed: the codec headers carry everything.
            // releaseStream, FCPublish, pings and acknowledgements need no action.
            other => {
                tracing::trace!(peer = %self.peer, event = ?other_name(&other), "RTMP event ignored");
                Ok(())
            }
        }
    }

    fn publish_requested(
        &mut self,
        request_id: u32,
        app_name: &str,
        stream_key: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        let name = if self.busy() {
            Err("this connection is already publishing or playing".to_string())
        } else {
            stream_name(stream_key)
                .map_err(|why| format!("invalid stream name {stream_key:?}: {why}"))
        };
        let name = match name {
            Ok(name) => name,
            Err(why) => return self.reject(request_id, "NetStream.Publish.BadName", why, out),
        };
        let request = Request::rtmp(Action::Publish, app_name, name, stream_key, &self.peer);
        self.authorize(request, request_id, 0, out)
    }

    fn busy(&self) -> bool {
        self.publish.is_some() || self.play.is_some() || self.awaiting.is_some()
    }

    /// The static `[auth]` rules, then either the callback (the request waits for the
    /// connection task) or the publish/play at once.
    fn authorize(
        &mut self,
        request: Request,
        request_id: u32,
        stream_id: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        if let Decision::Refuse(why) = self.auth.check_rules(&request) {
            return self.refuse_auth(&request, request_id, &why, out);
        }
        if self.auth.needs_hook(request.action) {
            self.awaiting = Some(Awaiting {
                request,
                request_id,
                stream_id,
                handed_out: false,
            });
            return Ok(());
        }
        match request.action {
            Action::Publish => self.start_publish(request_id, &request.app, &request.stream, out),
            Action::Play => self.start_play(request_id, &request.stream, stream_id, out),
        }
    }

    /// Refuses for `[auth]`: the status nginx-rtmp/SRS-style clients show (ffmpeg prints
    /// "Server error: <reason>"), an `inStreamRefused` event, and the connection closes.
    fn refuse_auth(
        &mut self,
        request: &Request,
        request_id: u32,
        why: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        self.auth.refused(request, why);
        let code = match request.action {
            Action::Publish => "NetStream.Publish.Rejected",
            Action::Play => "NetStream.Play.Failed",
        };
        let desc = format!("{} refused: not authorized", request.action.as_str());
        let results = self.with_session(|s| s.reject_request(request_id, code, &desc))?;
        self.handle_results(results, out)?;
        Err(Close::quiet(format!(
            "RTMP {} of {:?} refused: {why}",
            request.action.as_str(),
            request.stream
        )))
    }

    /// Sends an `_error` status for the request and ends the connection.
    fn reject(
        &mut self,
        request_id: u32,
        code: &str,
        why: String,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        let results = self.with_session(|s| s.reject_request(request_id, code, &why))?;
        self.handle_results(results, out)?;
        // The peer has nothing else to do here; it reconnects to retry.
        Err(Close::warn(format!("RTMP publish refused: {why}")))
    }

    fn start_publish(
        &mut self,
        request_id: u32,
        app_name: &str,
        name: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        match self.registry.publish(name, StreamKind::Rtmp, &self.peer) {
            Ok(publisher) => {
                let results = self.with_session(|s| s.accept_request(request_id))?;
                tracing::info!(
                    peer = %self.peer,
                    app = %app_name,
                    stream = %publisher.name(),
                    id = publisher.id(),
                    "RTMP publish started"
                );
                publisher.set_app_name(app_name);
                if let Some(tc_url) = &self.tc_url {
                    publisher.set_tc_url(tc_url);
                }
                self.last_stream = Some(publisher.name().to_string());
                self.publish = Some(Publish::new(publisher));
                self.guard.allow_media();
                self.handle_results(results, out)
            }
            Err(e) => self.reject(request_id, "NetStream.Publish.BadName", e.to_string(), out),
        }
    }

    /// A play of a local stream (another server pulling from us, or a player). A stream that
    /// does not exist (yet) is refused: the peer retries, as a pull with keepAlive does.
    /// `[auth]` is asked first, so refused players learn nothing about which streams exist.
    fn play_requested(
        &mut self,
        request_id: u32,
        stream_key: &str,
        stream_id: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        let name = if self.busy() {
            Err((
                "NetStream.Play.Failed",
                "this connection is already busy".to_string(),
            ))
        } else {
            stream_name(stream_key).map_err(|why| ("NetStream.Play.BadName", why.to_string()))
        };
        let name = match name {
            Ok(name) => name,
            Err((code, why)) => return self.reject_play(request_id, stream_key, code, why, out),
        };
        let app = self.app.clone();
        let request = Request::rtmp(Action::Play, &app, name, stream_key, &self.peer);
        self.authorize(request, request_id, stream_id, out)
    }

    fn start_play(
        &mut self,
        request_id: u32,
        name: &str,
        stream_id: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        let Some(rx) = self.registry.subscribe(name) else {
            return self.reject_play(
                request_id,
                name,
                "NetStream.Play.StreamNotFound",
                format!("no stream named {name}"),
                out,
            );
        };
        let results = self.with_session(|s| s.accept_request(request_id))?;
        tracing::info!(peer = %self.peer, stream = %name, "RTMP play started");
        self.last_stream = Some(name.to_string());
        self.play = Some(Play::new(stream_id, name.to_string()));
        self.play_media = Some(rx);
        self.handle_results(results, out)
    }

    fn reject_play(
        &mut self,
        request_id: u32,
        stream_key: &str,
        code: &str,
        why: String,
        out: &mut Vec<u8>,
    ) -> Result<(), Close> {
        let results = self.with_session(|s| s.reject_request(request_id, code, &why))?;
        self.handle_results(results, out)?;
        Err(Close::quiet(format!(
            "RTMP play of {stream_key:?} refused: {why}"
        )))
    }

    fn end_publish(&mut self, stream_key: &str, how: &str) {
        let matches = self
            .publish
            .as_ref()
            .is_some_and(|p| stream_name(stream_key).is_ok_and(|name| name == p.publisher.name()));
        if matches {
            if let Some(p) = self.publish.take() {
                tracing::info!(peer = %self.peer, stream = %p.publisher.name(), "RTMP publish ended ({how})");
            }
        }
    }

    fn media(&mut self, kind: TagKind, timestamp: u32, data: &bytes::Bytes) -> Result<(), Close> {
        let Some(p) = &mut self.publish else {
            // After FCUnpublish some encoders still flush a packet or two.
            return Ok(());
        };
        // The FLV tag demuxing sees the peer's bytes: a panic there (a bug) ends this
        // connection through the tidy close, like any bad data, and is counted.
        match catch_unwind(AssertUnwindSafe(|| p.tag(kind, timestamp, data))) {
            Ok(result) => result.map_err(|e| {
                Close::warn(format!(
                    "stream {}: bad {kind:?} data at {timestamp} ms: {e}",
                    p.publisher.name()
                ))
            }),
            Err(_) => {
                crate::metrics::get().error(crate::metrics::ErrorKind::Panic);
                Err(Close::warn(format!(
                    "stream {}: {kind:?} data at {timestamp} ms made the demuxer panic",
                    p.publisher.name()
                )))
            }
        }
    }
}

/// The variant name, for trace logs without dumping payloads.
fn other_name(event: &ServerSessionEvent) -> &'static str {
    match event {
        ServerSessionEvent::ClientChunkSizeChanged { .. } => "ClientChunkSizeChanged",
        ServerSessionEvent::ReleaseStreamRequested { .. } => "ReleaseStreamRequested",
        ServerSessionEvent::StreamMetadataChanged { .. } => "StreamMetadataChanged",
        ServerSessionEvent::UnhandleableAmf0Command { .. } => "UnhandleableAmf0Command",
        ServerSessionEvent::AcknowledgementReceived { .. } => "AcknowledgementReceived",
        ServerSessionEvent::PingResponseReceived { .. } => "PingResponseReceived",
        _ => "other",
    }
}

/// The `tcUrl` of an AMF0 `connect` command (`None` for any other command), without its
/// query (which may carry credentials) and at most 1 KiB long.
fn connect_tc_url(command: &[u8]) -> Option<String> {
    use rml_rtmp::rml_amf0::{deserialize, Amf0Value};
    // rml_amf0 has panicking paths on malformed input; this is only a listing detail.
    let values = std::panic::catch_unwind(|| deserialize(&mut std::io::Cursor::new(command)))
        .ok()?
        .ok()?;
    let [Amf0Value::Utf8String(name), _, Amf0Value::Object(props), ..] = values.as_slice() else {
        return None;
    };
    if name != "connect" {
        return None;
    }
    let Some(Amf0Value::Utf8String(url)) = props.get("tcUrl") else {
        return None;
    };
    let url = url.split('?').next().unwrap_or_default();
    let mut end = url.len().min(1024);
    while !url.is_char_boundary(end) {
        end -= 1;
    }
    Some(url[..end].to_string())
}

#[cfg(test)]
mod tc_url_tests {
    use std::collections::HashMap;

    use rml_rtmp::rml_amf0::{serialize, Amf0Value};

    use super::connect_tc_url;

    fn command(name: &str, props: &[(&str, Amf0Value)]) -> Vec<u8> {
        let props: HashMap<String, Amf0Value> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        serialize(&vec![
            Amf0Value::Utf8String(name.into()),
            Amf0Value::Number(1.0),
            Amf0Value::Object(props),
        ])
        .expect("serializes")
    }

    #[test]
    fn tc_url_comes_from_connect_without_its_query() {
        let url = |s: &str| Amf0Value::Utf8String(s.into());
        let c = command(
            "connect",
            &[
                ("app", url("live")),
                ("tcUrl", url("rtmp://h:1935/live?k=secret")),
            ],
        );
        assert_eq!(connect_tc_url(&c).as_deref(), Some("rtmp://h:1935/live"));
        let other = command("createStream", &[("tcUrl", url("rtmp://h/live"))]);
        assert_eq!(connect_tc_url(&other), None);
        assert_eq!(connect_tc_url(&command("connect", &[])), None);
        assert_eq!(connect_tc_url(&[0x02, 0xff]), None, "truncated AMF");
        let long = format!("rtmp://h/{}", "é".repeat(2000));
        let got = connect_tc_url(&command("connect", &[("tcUrl", url(&long))])).expect("kept");
        assert!(got.len() <= 1024 && long.starts_with(&got));
    }
}
