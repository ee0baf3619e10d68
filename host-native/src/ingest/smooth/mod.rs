//! Smoothcast as a Smooth Streaming publishing point: encoders (ffmpeg's `-f ismv -movflags
//! isml`, IIS/Azure-style encoders) POST a long chunked fMP4 body to
//! `http://host:web_port/[<path>/]<point>.isml[/Events(<e>)]/Streams(<id>)` on the web port
//! (shared/reference/smooth-ingest.md).
//!
//! - Each `Streams(<id>)` becomes the local stream `<point>_<id>` (kind `INMSS`), so
//!   createMSSStream, autoMSS, RTMP play and listStreams use it like an RTMP publish. It
//!   exists while at least one POST for it is open.
//! - Each point is packaged live ([`package`]) into `<webroot>/<path>/<point>.isml/`, served
//!   at `/<path>/<point>.isml/Manifest` by the web server's IIS URL mapping, one quality
//!   level per `Streams(<id>)` at its manifest's video `systemBitrate` (0: measured).
//! - Fragments are keyed by (stream id, track, tfxd time) ([`marks`]): resends after a
//!   reconnect and copies from redundant encoders posting the same id at once are dropped;
//!   a fragment earlier than those remembered is refused with 409 (Unified Origin's answer
//!   to an encoder restarted at 0).
//! - Publishing obeys `[auth]` as an RTMP publish does (protocol `smooth`, app = the point's
//!   path, stream = the local name, the token from the URL query).
//! - The body is parsed by the core's `SmoothIngest` as it arrives; a bad body is answered
//!   4xx as soon as it is found (the connection then closes), before its stream is created
//!   when the damage is in the header. A body idle for `idle_timeout_secs` gets 408.
//!
//! Answers: 200 after the body (an empty probe POST too), 400 malformed body or URL, 403
//! refused by `[auth]`, 408 idle, 409 time going back or the name held by another kind of
//! stream, 415 unsupported media, 503 over `max_posts`, `max_points` or
//! `max_streams_per_point`, or when shutdownStream ends the stream (its POST is answered
//! and closed, as an RTMP publisher is disconnected).

mod marks;
mod package;
pub mod route;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use smoothcast_core::demux::mp4::ingest::{IngestEvent, SmoothIngest};
use smoothcast_core::demux::mp4::lsm::{LiveManifest, LsmKind};
use smoothcast_core::demux::{DemuxErrorKind, DemuxEvent};
use smoothcast_core::media::TrackInfo;
use tokio::sync::Semaphore;

use crate::auth::{Action, Authorizer, Decision};
use crate::config::smooth_ingest::SmoothIngestConfig;
use crate::ingest::feed::{Feed, SourceError};
use crate::outputs::OutputManager;
use crate::streams::{StreamKind, StreamRegistry};
use marks::{Marks, Verdict};
use route::Route;

/// What a POST is answered.
pub type Answer = (StatusCode, String);

/// Every publishing point of one server, and what their POSTs share. Cheap to clone.
#[derive(Clone)]
pub struct Points {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: SmoothIngestConfig,
    auth: Authorizer,
    posts: Arc<Semaphore>,
    points: Mutex<HashMap<String, Point>>,
    /// One point presentation (re)starts at a time.
    repackaging: tokio::sync::Mutex<()>,
}

/// One publishing point: its streams and its live presentation.
#[derive(Default)]
struct Point {
    route: Vec<String>,
    streams: BTreeMap<String, Arc<Mutex<Shared>>>,
    package: package::State,
}

/// One `Streams(<id>)`, shared by the POSTs that carry it (a reconnect, redundant encoders).
struct Shared {
    local: String,
    feed: Option<Feed>,
    marks: Marks,
    /// The tracks the open local stream has been given.
    tracks: HashMap<u32, TrackInfo>,
    /// POSTs open on it.
    active: usize,
    /// The quality level's bitrate from the manifest (video `systemBitrate`, else audio's).
    bitrate: u32,
    /// A POST's header for it was whole: the point's presentation includes it.
    started: bool,
    /// Per track, how far decode times are moved back (and composition offsets forward) so
    /// that no offset is negative: ffmpeg's ismv writes B-frames with negative offsets
    /// (version 1 `trun`, the tfxd time being the keyframe's decode and presentation
    /// time), which the live presentation packages, with several levels, into a timeline
    /// it never publishes; as RTMP delivers them (offsets >= 0), they package as any
    /// encoder's. Fixed by the track's first fragment for the stream's life, so reconnects
    /// keep one timeline.
    shift: HashMap<u32, i64>,
}

impl Default for Points {
    fn default() -> Self {
        Self::new(SmoothIngestConfig::default(), Authorizer::open())
    }
}

impl Points {
    pub fn new(cfg: SmoothIngestConfig, auth: Authorizer) -> Self {
        Self {
            inner: Arc::new(Inner {
                posts: Arc::new(Semaphore::new(cfg.max_posts.max(1) as usize)),
                cfg,
                auth,
                points: Mutex::new(HashMap::new()),
                repackaging: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn points(&self) -> MutexGuard<'_, HashMap<String, Point>> {
        self.inner.points.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The local stream names of a point's streams (for tests and listings).
    pub fn streams_of(&self, point_path: &str) -> Vec<String> {
        self.points().get(point_path).map_or_else(Vec::new, |p| {
            p.streams.values().map(|s| lock(s).local.clone()).collect()
        })
    }

    /// The local streams a point's presentation packages now.
    pub fn packaged(&self, point_path: &str) -> Vec<String> {
        self.points()
            .get(point_path)
            .map_or_else(Vec::new, |p| p.package.packaged().to_vec())
    }

    /// Serves a POST or PUT if it is an ingest URL (`None`: it is not; the web server
    /// answers it as before).
    pub async fn handle(
        &self,
        ctx: &Context,
        path: &str,
        query: Option<&str>,
        body: Incoming,
        peer: SocketAddr,
    ) -> Option<Answer> {
        if !self.inner.cfg.enabled {
            return None;
        }
        let route = match route::parse(path) {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(why) => return Some((StatusCode::BAD_REQUEST, why)),
        };
        Some(self.serve(ctx, route, query, body, peer).await)
    }

    async fn serve(
        &self,
        ctx: &Context,
        route: Route,
        query: Option<&str>,
        mut body: Incoming,
        peer: SocketAddr,
    ) -> Answer {
        let Ok(_permit) = self.inner.posts.clone().try_acquire_owned() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} ingest POSTs are open already ([smooth_ingest] max_posts)",
                    self.inner.cfg.max_posts
                ),
            );
        };
        let req = crate::auth::Request {
            action: Action::Publish,
            protocol: "smooth",
            app: route.point_path(),
            stream: route.local_stream(),
            query: query.unwrap_or_default().to_string(),
            client: peer.to_string(),
        };
        let auth = &self.inner.auth;
        let mut decision = auth.check_rules(&req);
        if decision == Decision::Allow && auth.needs_hook(Action::Publish) {
            decision = auth.check_hook(&req).await;
        }
        if let Decision::Refuse(why) = decision {
            auth.refused(&req, &why);
            return (StatusCode::FORBIDDEN, format!("publish refused: {why}"));
        }
        let idle = crate::config::WebConfig::secs(self.inner.cfg.idle_timeout_secs)
            .unwrap_or(Duration::MAX);
        // The first bytes decide between a probe (none) and an ingest: a probe touches no
        // point.
        let first = match next_data(&mut body, idle).await {
            Ok(Some(data)) => data,
            Ok(None) => return (StatusCode::OK, String::new()),
            Err(answer) => return answer,
        };
        let mut conn = Connection {
            points: self.clone(),
            ctx,
            route: &route,
            shared: None,
            source: format!("{peer} {}", path_of(&route)),
            parser: SmoothIngest::new(self.inner.cfg.limits()),
            pending: Vec::new(),
            skip: HashSet::new(),
            manifest: None,
        };
        let mut data = first;
        loop {
            if let Err(answer) = conn.push(&data) {
                tracing::warn!(stream = %route.local_stream(), client = %peer, "smooth ingest: {}", answer.1);
                return answer;
            }
            let stop = conn.stop_signal();
            let next = tokio::select! {
                next = next_data(&mut body, idle) => next,
                () = stopped(stop) => {
                    tracing::info!(stream = %route.local_stream(), client = %peer, "smooth ingest: ended by shutdownStream");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the stream was shut down (shutdownStream)".to_string(),
                    );
                }
            };
            data = match next {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(answer) => {
                    tracing::info!(stream = %route.local_stream(), client = %peer, "smooth ingest: {}", answer.1);
                    return answer;
                }
            };
        }
        if let Err(e) = conn.parser.finish() {
            return (StatusCode::BAD_REQUEST, e.to_string());
        }
        if let Err(answer) = conn.drain() {
            return answer;
        }
        (StatusCode::OK, String::new())
    }

    /// The point's entry for a stream id, made on first use.
    fn stream(&self, route: &Route) -> Result<Arc<Mutex<Shared>>, Answer> {
        let mut points = self.points();
        let key = route.point_path();
        if !points.contains_key(&key) && points.len() >= self.inner.cfg.max_points as usize {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} publishing points exist already ([smooth_ingest] max_points)",
                    self.inner.cfg.max_points
                ),
            ));
        }
        let point = points.entry(key).or_insert_with(|| Point {
            route: route.point.clone(),
            ..Default::default()
        });
        let cap = self.inner.cfg.max_streams_per_point as usize;
        if !point.streams.contains_key(&route.stream) && point.streams.len() >= cap {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the point has {cap} stream ids already ([smooth_ingest] \
                     max_streams_per_point)"
                ),
            ));
        }
        let shared = point
            .streams
            .entry(route.stream.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Shared {
                    local: route.local_stream(),
                    feed: None,
                    marks: Marks::default(),
                    tracks: HashMap::new(),
                    active: 0,
                    bitrate: 0,
                    started: false,
                    shift: HashMap::new(),
                }))
            });
        Ok(shared.clone())
    }

    /// A stream of the point has media: (re)package the point once the others had time to
    /// start too.
    fn stream_started(&self, ctx: &Context, route: &Route) {
        if !self.inner.cfg.package {
            return;
        }
        let key = route.point_path();
        let schedule = {
            let mut points = self.points();
            points.get_mut(&key).is_some_and(|p| p.package.schedule())
        };
        if schedule {
            let points = self.clone();
            let ctx = ctx.clone();
            let gather = Duration::from_millis(self.inner.cfg.gather_ms);
            tokio::spawn(async move {
                tokio::time::sleep(gather).await;
                package::repackage(&points, &ctx, &key).await;
            });
        }
    }
}

/// What a POST needs of the server besides the points.
#[derive(Clone)]
pub struct Context {
    pub streams: StreamRegistry,
    pub outputs: OutputManager,
    /// The web root (points are packaged under it).
    pub webroot: std::path::PathBuf,
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn path_of(route: &Route) -> String {
    format!("/{}/Streams({})", route.point_path(), route.stream)
}

/// Completes when `stop` is notified (never without one).
async fn stopped(stop: Option<Arc<tokio::sync::Notify>>) {
    match stop {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// The next data of the body; `Ok(None)` at its end.
async fn next_data(body: &mut Incoming, idle: Duration) -> Result<Option<bytes::Bytes>, Answer> {
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err((
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "no body bytes for {} s ([smooth_ingest] idle_timeout_secs)",
                        idle.as_secs_f64()
                    ),
                ))
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => {
                return Err((StatusCode::BAD_REQUEST, format!("reading the body: {e}")))
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
}

/// One POST being read.
struct Connection<'a> {
    points: Points,
    ctx: &'a Context,
    route: &'a Route,
    /// The stream's shared state, taken once the body's header has parsed (a body refused
    /// in its header touches no point).
    shared: Option<Arc<Mutex<Shared>>>,
    source: String,
    parser: SmoothIngest,
    /// Tracks announced by this POST, given to the local stream with its first sample (a
    /// body refused before any media creates no stream).
    pending: Vec<TrackInfo>,
    /// Tracks whose current fragment is a duplicate.
    skip: HashSet<u32>,
    manifest: Option<LiveManifest>,
}

impl Connection<'_> {
    /// The open local stream's shutdownStream signal (the stream may have been reopened
    /// since the last look, so asked each time).
    fn stop_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.shared
            .as_ref()
            .and_then(|s| lock(s).feed.as_ref().and_then(Feed::stop_signal))
    }

    fn push(&mut self, data: &[u8]) -> Result<(), Answer> {
        if let Some(shared) = &self.shared {
            if let Some(feed) = &mut lock(shared).feed {
                feed.add_wire_bytes(data.len() as u64);
            }
        }
        if let Err(e) = self.parser.push(data) {
            let status = match e.kind {
                DemuxErrorKind::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err((status, e.to_string()));
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<(), Answer> {
        let mut started = false;
        while let Some(event) = self.parser.poll() {
            // The header is whole once the moov's tracks come: the stream joins its point
            // then, so the point's presentation can start before the first fragment and see
            // every level from its first keyframe.
            let joined = matches!(
                event,
                IngestEvent::Fragment(_)
                    | IngestEvent::Media(DemuxEvent::Track(_) | DemuxEvent::Sample(_))
            );
            if joined && self.shared.is_none() {
                let shared = self.points.stream(self.route)?;
                {
                    let mut s = lock(&shared);
                    s.active += 1;
                    s.started = true;
                }
                self.shared = Some(shared);
                started = true;
            }
            let Some(shared) = self.shared.clone() else {
                // Header events: kept until the stream is taken.
                match event {
                    IngestEvent::Manifest(m) => self.manifest = Some(m),
                    IngestEvent::Media(DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t)) => {
                        self.pending.retain(|p| p.id != t.id);
                        self.pending.push(t);
                    }
                    IngestEvent::Media(DemuxEvent::Ignored { track, reason }) => {
                        tracing::warn!(stream = %self.route.local_stream(), track, "track not packaged: {reason}");
                    }
                    _ => {}
                }
                continue;
            };
            let mut s = lock(&shared);
            if let Some(m) = self.manifest.take() {
                s.bitrate = manifest_bitrate(&m);
            }
            match event {
                IngestEvent::Manifest(m) => s.bitrate = manifest_bitrate(&m),
                IngestEvent::Media(DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t)) => {
                    self.pending.retain(|p| p.id != t.id);
                    self.pending.push(t);
                }
                IngestEvent::Media(DemuxEvent::Sample(sample)) => {
                    if self.skip.contains(&sample.track) {
                        continue;
                    }
                    if s.feed.is_none() {
                        s.feed = Some(Feed::new(
                            self.ctx.streams.clone(),
                            &s.local,
                            StreamKind::Smooth,
                            &self.source,
                        ));
                        s.tracks.clear();
                    }
                    let Shared {
                        feed,
                        tracks,
                        shift,
                        ..
                    } = &mut *s;
                    let Some(feed) = feed.as_mut() else {
                        continue;
                    };
                    for t in &self.pending {
                        if tracks.get(&t.id) != Some(t) {
                            tracks.insert(t.id, t.clone());
                            send(feed, DemuxEvent::Track(t.clone()))?;
                        }
                    }
                    let mut sample = sample;
                    if let Some(&d) = shift.get(&sample.track).filter(|&&d| d > 0) {
                        sample.dts = sample.dts.saturating_sub(d);
                        sample.cts_offset = sample.cts_offset.saturating_add(d);
                    }
                    send(feed, DemuxEvent::Sample(sample))?;
                }
                IngestEvent::Media(e @ DemuxEvent::Ignored { .. }) => {
                    if let Some(feed) = &mut s.feed {
                        send(feed, e)?;
                    }
                }
                IngestEvent::Media(DemuxEvent::Seek(_)) => {}
                IngestEvent::Fragment(f) => {
                    s.shift
                        .entry(f.track)
                        .or_insert(f.min_cts.saturating_neg().max(0));
                    match s.marks.check(f.track, f.start) {
                        Verdict::New => {
                            self.skip.remove(&f.track);
                        }
                        Verdict::Duplicate => {
                            self.skip.insert(f.track);
                        }
                        Verdict::Backwards(t, latest) => {
                            return Err((
                                StatusCode::CONFLICT,
                                format!(
                                    "track {}: fragment time {t} goes back before {latest}: \
                                     the stream's timeline cannot restart (continue it, e.g. \
                                     ffmpeg -output_ts_offset, or push to a new Streams() id)",
                                    f.track
                                ),
                            ));
                        }
                    }
                }
                IngestEvent::End => {}
            }
        }
        if started {
            self.points.stream_started(self.ctx, self.route);
        }
        Ok(())
    }
}

/// A quality level's bitrate: the video's `systemBitrate`, else the first track's.
fn manifest_bitrate(m: &LiveManifest) -> u32 {
    let video = m.tracks.iter().find(|t| t.kind == LsmKind::Video);
    video.or(m.tracks.first()).map_or(0, |t| t.system_bitrate)
}

fn send(feed: &mut Feed, event: DemuxEvent) -> Result<(), Answer> {
    feed.send(event).map_err(|e| match e {
        SourceError::NameInUse(m) => (
            StatusCode::CONFLICT,
            format!("the local stream name is taken by another stream: {m}"),
        ),
        e => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })
}

impl Drop for Connection<'_> {
    /// The POST is over (answered, failed, or its client went away): the local stream ends
    /// with the last POST of its id, as an RTMP stream ends with its publisher. Its marks
    /// stay, so a reconnect continues the timeline or is refused.
    fn drop(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let mut s = lock(shared);
        s.active = s.active.saturating_sub(1);
        if s.active == 0 {
            if let Some(mut feed) = s.feed.take() {
                feed.close();
            }
            s.tracks.clear();
        }
    }
}
