//! The registry of local streams: what ingest publishes and outputs consume, and what
//! `listStreams` shows. A local stream is a name plus a fan-out of demuxed media.
//!
//! Publishers never wait for subscribers: each subscriber has a bounded queue, and one that
//! falls behind loses media (and is told so) instead of stalling ingest for everyone.
//!
//! Outputs subscribe when they hear that a stream was created, a moment after its publisher
//! may have sent its first samples (a Smooth ingest POST delivers a whole fragment at once):
//! a stream's first [`EARLY_WINDOW`] of samples are kept and replayed to every subscriber
//! that arrives within it, so a packaging group never starts a fragment late.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use smoothcast_core::media::{Sample, TrackInfo};
use tokio::sync::{broadcast, mpsc};

use crate::events::{EventBus, EventType};

/// Media as a local stream carries it.
#[derive(Debug, Clone)]
pub enum StreamItem {
    /// A track, or a changed configuration of one (re-sent to every new subscriber first).
    Track(TrackInfo),
    Sample(Sample),
}

/// An item as a subscriber receives it, stamped with when ingest handed it over (the start
/// of the write delay an output measures).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub item: StreamItem,
    pub at: Instant,
}

/// What kind of ingest made a stream (EMS's stream type names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StreamKind {
    /// RTMP publish (EMS `INR`).
    #[serde(rename = "INR")]
    Rtmp,
    /// A file played out as live (EMS `INF`-like).
    #[serde(rename = "INF")]
    File,
    /// MPEG-TS over TCP or UDP (EMS `INT`).
    #[serde(rename = "INT")]
    MpegTs,
    /// RTSP / RTP (EMS `INP`).
    #[serde(rename = "INP")]
    Rtsp,
    /// A Smooth Streaming ingest POST (`<point>.isml/Streams(<id>)`); EMS has no such
    /// inbound type, the name follows its pattern.
    #[serde(rename = "INMSS")]
    Smooth,
}

/// What listStreams reports about a stream.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamInfo {
    pub unique_id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: StreamKind,
    /// Where it comes from (a peer address, a URI).
    pub source: String,
    pub creation_time_ms: u64,
    pub bytes_in: u64,
    pub has_video: bool,
    pub has_audio: bool,
    /// The RTMP application the encoder published to (EMS `appName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// The URL the RTMP encoder connected to, without its query (EMS `tcUrl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tc_url: Option<String>,
    /// Milliseconds since the stream started, when asked (EMS `upTime`).
    pub up_time: u64,
    /// Bits per second received since the start, all tracks and overhead included.
    pub bandwidth: u64,
    /// What the video track is, as operators check what an encoder sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioDetails>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoDetails {
    pub codec: &'static str,
    /// H.264 profile name (`High`, `Main`, `Baseline`...) and level (`3.1`), from the SPS.
    pub profile: String,
    pub level: String,
    pub width: u32,
    pub height: u32,
    /// Frames a second, measured from the decode times received (0 until two frames).
    pub frame_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioDetails {
    pub codec: &'static str,
    /// AAC profile: `LC`, `HE` (SBR), `HEv2` (SBR+PS), or the object type number.
    pub profile: String,
    pub sample_rate: u32,
    pub channels: u8,
}

/// Video decode times seen, for the frame rate: first, last, count, timescale.
#[derive(Debug, Default, Clone, Copy)]
struct FrameClock {
    track: u32,
    timescale: u32,
    first: i64,
    last: i64,
    frames: u64,
}

impl FrameClock {
    fn rate(&self) -> f64 {
        let span = self.last - self.first;
        if self.frames < 2 || span <= 0 || self.timescale == 0 {
            return 0.0;
        }
        let fps = (self.frames - 1) as f64 * f64::from(self.timescale) / span as f64;
        (fps * 100.0).round() / 100.0
    }
}

fn video_details(c: &smoothcast_core::media::AvcConfig) -> VideoDetails {
    let sps = c.sps.first().map(Vec::as_slice).unwrap_or(&[]);
    let (profile_idc, level_idc) = (
        sps.get(1).copied().unwrap_or(0),
        sps.get(3).copied().unwrap_or(0),
    );
    let profile = match profile_idc {
        66 => "Baseline".to_string(),
        77 => "Main".to_string(),
        88 => "Extended".to_string(),
        100 => "High".to_string(),
        110 => "High 10".to_string(),
        122 => "High 4:2:2".to_string(),
        244 => "High 4:4:4".to_string(),
        n => n.to_string(),
    };
    VideoDetails {
        codec: "H264",
        profile,
        level: format!("{}.{}", level_idc / 10, level_idc % 10),
        width: c.width,
        height: c.height,
        frame_rate: 0.0,
    }
}

fn audio_details(c: &smoothcast_core::media::AacConfig) -> AudioDetails {
    AudioDetails {
        codec: "AAC",
        profile: match c.object_type {
            2 => "LC".to_string(),
            5 => "HE".to_string(),
            29 => "HEv2".to_string(),
            n => n.to_string(),
        },
        sample_rate: c.sample_rate,
        channels: c.channels,
    }
}

/// Lifecycle notices, for outputs waiting for a stream and for the event sink.
#[derive(Debug, Clone)]
pub enum StreamNotice {
    Created { name: String, id: u64 },
    Closed { name: String, id: u64 },
}

const SUBSCRIBER_QUEUE: usize = 4096;
/// How long after its creation a stream's samples are kept for subscribers still to come.
const EARLY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
/// At most this much of them (a 2 s fragment of a 16 Mbit/s stream).
const EARLY_BYTES: usize = 4 << 20;

struct Entry {
    info: StreamInfo,
    /// Set by shutdownStream; the ingest task holding the publisher watches it.
    stop: Arc<tokio::sync::Notify>,
    tracks: Vec<TrackInfo>,
    subscribers: Vec<mpsc::Sender<Delivered>>,
    /// The samples sent within [`EARLY_WINDOW`] of the start, while it lasts.
    early: Option<Early>,
    started: Instant,
    frames: FrameClock,
}

#[derive(Default)]
struct Early {
    samples: Vec<Delivered>,
    bytes: usize,
}

impl Entry {
    /// The stream as listed now: uptime, bitrate and frame rate as of this moment.
    fn snapshot(&self) -> StreamInfo {
        let mut info = self.info.clone();
        let up = self.started.elapsed();
        info.up_time = up.as_millis() as u64;
        let secs = up.as_secs_f64();
        info.bandwidth = match secs > 0.0 {
            true => (info.bytes_in as f64 * 8.0 / secs) as u64,
            false => 0,
        };
        if let Some(v) = info.video.as_mut() {
            v.frame_rate = self.frames.rate();
        }
        info
    }
}

/// A stream's entry, locked on its own: its publisher sends every sample through it, and a
/// thousand publishers must not queue on one lock (at 1,000 streams the registry's lock,
/// taken per sample, was ~6% of the server's CPU). Lock order: the registry, then an entry.
type Shared = Arc<Mutex<Entry>>;

fn lock_entry(entry: &Shared) -> std::sync::MutexGuard<'_, Entry> {
    // As for the registry: plain data, a panic elsewhere cannot break it.
    entry.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Inner {
    streams: HashMap<String, Shared>,
}

/// Shared by ingest, outputs and the API.
#[derive(Clone)]
pub struct StreamRegistry {
    inner: Arc<Mutex<Inner>>,
    next_id: Arc<AtomicU64>,
    notices: broadcast::Sender<StreamNotice>,
    events: EventBus,
}

impl Default for StreamRegistry {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct NameInUse(pub String);

impl std::fmt::Display for NameInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream name {} is already in use", self.0)
    }
}

impl std::error::Error for NameInUse {}

impl StreamRegistry {
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            notices: broadcast::channel(1024).0,
            events: EventBus::disabled(),
        }
    }

    /// Streams coming and going are reported on this bus (inStreamCreated/Closed).
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An id from the sequence stream ids come from, for a stream kept elsewhere (an MSS
    /// output), so every stream id, inbound or outbound, is unique and small.
    pub fn next_unique_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Claims a name for a new stream. Fails if a stream of that name exists (EMS refuses a
    /// second publisher of the same name).
    pub fn publish(
        &self,
        name: &str,
        kind: StreamKind,
        source: &str,
    ) -> Result<Publisher, NameInUse> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(tokio::sync::Notify::new());
        let entry = {
            let mut inner = self.lock();
            if inner.streams.contains_key(name) {
                return Err(NameInUse(name.to_string()));
            }
            let creation_time_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let info = StreamInfo {
                unique_id: id,
                name: name.to_string(),
                kind,
                source: source.to_string(),
                creation_time_ms,
                bytes_in: 0,
                has_video: false,
                has_audio: false,
                app_name: None,
                tc_url: None,
                up_time: 0,
                bandwidth: 0,
                video: None,
                audio: None,
            };
            // Under the lock: no output can see the stream before this event is queued.
            self.events
                .emit(EventType::InStreamCreated, stream_payload(&info));
            let entry = Arc::new(Mutex::new(Entry {
                info,
                tracks: Vec::new(),
                subscribers: Vec::new(),
                early: Some(Early::default()),
                stop: stop.clone(),
                started: Instant::now(),
                frames: FrameClock::default(),
            }));
            inner.streams.insert(name.to_string(), entry.clone());
            entry
        };
        let _ = self.notices.send(StreamNotice::Created {
            name: name.to_string(),
            id,
        });
        Ok(Publisher {
            registry: self.clone(),
            entry,
            name: name.to_string(),
            id,
            stop,
        })
    }

    /// Subscribes to a stream's media from now on; the current tracks come first.
    pub fn subscribe(&self, name: &str) -> Option<mpsc::Receiver<Delivered>> {
        let inner = self.lock();
        let mut entry = lock_entry(inner.streams.get(name)?);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let at = Instant::now();
        for t in &entry.tracks {
            let _ = tx.try_send(Delivered {
                item: StreamItem::Track(t.clone()),
                at,
            });
        }
        if let Some(early) = &entry.early {
            for d in &early.samples {
                let _ = tx.try_send(d.clone());
            }
        }
        entry.subscribers.push(tx);
        Some(rx)
    }

    /// Lifecycle notices from now on.
    pub fn notices(&self) -> broadcast::Receiver<StreamNotice> {
        self.notices.subscribe()
    }

    pub fn list(&self) -> Vec<StreamInfo> {
        let mut v: Vec<StreamInfo> = self
            .lock()
            .streams
            .values()
            .map(|e| lock_entry(e).snapshot())
            .collect();
        v.sort_by_key(|i| i.unique_id);
        v
    }

    pub fn get(&self, name: &str) -> Option<StreamInfo> {
        self.lock()
            .streams
            .get(name)
            .map(|e| lock_entry(e).snapshot())
    }

    /// Asks the ingest behind a stream to stop (shutdownStream). Returns whether it existed.
    pub fn request_shutdown(&self, name: &str) -> bool {
        match self.lock().streams.get(name) {
            Some(e) => {
                lock_entry(e).stop.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn by_id(&self, id: u64) -> Option<StreamInfo> {
        self.lock().streams.values().find_map(|e| {
            let e = lock_entry(e);
            (e.info.unique_id == id).then(|| e.snapshot())
        })
    }
}

/// The publishing side of a stream. Dropping it ends the stream.
pub struct Publisher {
    registry: StreamRegistry,
    /// Its entry in the registry, reached without the registry's lock.
    entry: Shared,
    name: String,
    id: u64,
    stop: Arc<tokio::sync::Notify>,
}

impl Publisher {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What [`Publisher::shutdown_requested`] waits on, for a source that cannot hold its
    /// publisher across an await (Smooth ingest: one publisher shared by several POSTs
    /// under a lock).
    pub fn stop_signal(&self) -> Arc<tokio::sync::Notify> {
        self.stop.clone()
    }

    /// [`Self::stop_signal`] without a new reference: to tell whether a waiter is on it.
    pub fn stop_signal_ref(&self) -> &Arc<tokio::sync::Notify> {
        &self.stop
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Records the RTMP application the stream was published to (listStreams `appName`).
    pub fn set_app_name(&self, app: &str) {
        lock_entry(&self.entry).info.app_name = Some(app.to_string());
    }

    /// Records the URL the RTMP encoder connected to (listStreams `tcUrl`).
    pub fn set_tc_url(&self, tc_url: &str) {
        lock_entry(&self.entry).info.tc_url = Some(tc_url.to_string());
    }

    /// Completes when shutdownStream asked for this stream to end; ingest selects on it.
    pub async fn shutdown_requested(&self) {
        self.stop.notified().await
    }

    /// Sends an item to every subscriber; `wire_bytes` is what it cost on the wire (for
    /// bytes-in accounting).
    pub fn send(&self, item: StreamItem, wire_bytes: u64) {
        let mut entry = lock_entry(&self.entry);
        let entry = &mut *entry;
        entry.info.bytes_in += wire_bytes;
        crate::metrics::get().bytes_in(wire_bytes);
        if let StreamItem::Track(t) = &item {
            match &t.codec {
                smoothcast_core::CodecConfig::H264(c) => {
                    entry.info.has_video = true;
                    entry.info.video = Some(video_details(c));
                    if entry.frames.track != t.id || entry.frames.timescale != t.timescale {
                        entry.frames = FrameClock {
                            track: t.id,
                            timescale: t.timescale,
                            ..FrameClock::default()
                        };
                    }
                }
                smoothcast_core::CodecConfig::Aac(c) => {
                    entry.info.has_audio = true;
                    entry.info.audio = Some(audio_details(c));
                }
                // Live sources carry no subtitle files.
                smoothcast_core::CodecConfig::Text(_) => {}
            }
            // Late subscribers get the newest video track and every audio track (an
            // MPEG-TS may carry one per language).
            let several = t.kind() == smoothcast_core::TrackKind::Audio;
            entry
                .tracks
                .retain(|old| old.id != t.id && (several || old.kind() != t.kind()));
            entry.tracks.push(t.clone());
        }
        if let StreamItem::Sample(s) = &item {
            let f = &mut entry.frames;
            if s.track == f.track && f.timescale != 0 {
                if f.frames == 0 {
                    f.first = s.dts;
                }
                f.last = f.last.max(s.dts);
                f.frames += 1;
            }
        }
        let delivered = Delivered {
            item,
            at: Instant::now(),
        };
        if let StreamItem::Sample(sample) = &delivered.item {
            let keep = entry.started.elapsed() < EARLY_WINDOW;
            match entry.early.as_mut() {
                Some(e) if keep && e.bytes + sample.data.len() <= EARLY_BYTES => {
                    e.bytes += sample.data.len();
                    e.samples.push(delivered.clone());
                }
                Some(_) => entry.early = None,
                None => {}
            }
        }
        // Closed or hopelessly slow subscribers are dropped.
        entry
            .subscribers
            .retain(|tx| match tx.try_send(delivered.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(stream = %self.name, "a subscriber fell behind and was dropped");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let removed = {
            let mut inner = self.registry.lock();
            match inner.streams.get(&self.name) {
                Some(e) if Arc::ptr_eq(e, &self.entry) => {
                    // Before the removal ends the subscriptions: outputs see the end after.
                    let payload = stream_payload(&lock_entry(e).info);
                    self.registry
                        .events
                        .emit(EventType::InStreamClosed, payload);
                    // The subscriptions end here, before the notice below (this
                    // publisher's own handle on the entry outlives this function).
                    let ended = std::mem::take(&mut lock_entry(e).subscribers);
                    drop(ended);
                    inner.streams.remove(&self.name).is_some()
                }
                _ => false,
            }
        };
        if removed {
            let _ = self.registry.notices.send(StreamNotice::Closed {
                name: self.name.clone(),
                id: self.id,
            });
        }
    }
}

/// What inStreamCreated/Closed carry.
fn stream_payload(info: &StreamInfo) -> serde_json::Value {
    serde_json::json!({
        "name": info.name,
        "uniqueId": info.unique_id,
        "type": info.kind,
        "source": info.source,
        "creationTime": info.creation_time_ms,
        "bytesIn": info.bytes_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_streams_say_what_the_encoder_sends() {
        use smoothcast_core::media::{AacConfig, AvcConfig};
        let r = StreamRegistry::new();
        let p = r.publish("cam", StreamKind::Rtmp, "peer").expect("publish");
        p.set_app_name("live");
        let sps = vec![0x67, 100, 0, 31, 0xac];
        p.send(
            StreamItem::Track(TrackInfo {
                id: 1,
                timescale: 1000,
                codec: smoothcast_core::CodecConfig::H264(AvcConfig {
                    sps: vec![sps],
                    pps: vec![vec![0x68]],
                    width: 1280,
                    height: 720,
                }),
                edit_offset: 0,
                avg_bitrate: None,
                language: None,
            }),
            0,
        );
        p.send(
            StreamItem::Track(TrackInfo {
                id: 2,
                timescale: 44_100,
                codec: smoothcast_core::CodecConfig::Aac(AacConfig {
                    asc: vec![0x12, 0x10],
                    object_type: 2,
                    sample_rate: 44_100,
                    channels: 2,
                }),
                edit_offset: 0,
                avg_bitrate: None,
                language: None,
            }),
            0,
        );
        // 30 fps: 31 frames over one second.
        for f in 0..31i64 {
            p.send(
                StreamItem::Sample(Sample {
                    track: 1,
                    dts: f * 1000 / 30,
                    cts_offset: 0,
                    duration: None,
                    keyframe: f == 0,
                    data: bytes::Bytes::new(),
                }),
                100,
            );
        }
        let info = r.get("cam").expect("listed");
        assert_eq!(info.app_name.as_deref(), Some("live"));
        let v = info.video.expect("video");
        assert_eq!(
            (
                v.codec,
                v.profile.as_str(),
                v.level.as_str(),
                v.width,
                v.height
            ),
            ("H264", "High", "3.1", 1280, 720)
        );
        assert!((v.frame_rate - 30.0).abs() < 0.1, "{}", v.frame_rate);
        let a = info.audio.expect("audio");
        assert_eq!(
            (a.codec, a.profile.as_str(), a.sample_rate, a.channels),
            ("AAC", "LC", 44_100, 2)
        );
        assert_eq!(info.bytes_in, 3100);
        let json = serde_json::to_value(r.get("cam").expect("listed")).expect("json");
        for key in ["upTime", "bandwidth", "appName", "video", "audio"] {
            assert!(json.get(key).is_some(), "{key}: {json}");
        }
        assert_eq!(json["video"]["frameRate"], serde_json::json!(v.frame_rate));
    }

    #[tokio::test]
    async fn names_are_exclusive_and_freed_on_drop() {
        let r = StreamRegistry::new();
        let p = r
            .publish("cam1", StreamKind::Rtmp, "127.0.0.1:5000")
            .expect("first");
        assert!(r.publish("cam1", StreamKind::Rtmp, "x").is_err());
        let mut rx = r.subscribe("cam1").expect("subscribe");
        let mut notices = r.notices();
        p.send(
            StreamItem::Sample(Sample {
                track: 1,
                dts: 0,
                cts_offset: 0,
                duration: None,
                keyframe: true,
                data: bytes::Bytes::new(),
            }),
            10,
        );
        assert!(matches!(
            rx.recv().await,
            Some(Delivered {
                item: StreamItem::Sample(_),
                ..
            })
        ));
        assert_eq!(r.get("cam1").map(|i| i.bytes_in), Some(10));
        drop(p);
        assert!(rx.recv().await.is_none(), "subscribers see the end");
        assert!(matches!(
            notices.recv().await,
            Ok(StreamNotice::Closed { .. })
        ));
        assert!(r.publish("cam1", StreamKind::Rtmp, "x").is_ok());
    }

    /// An output that subscribes after the publisher's first samples (it heard of the stream
    /// a moment late) still gets them, in order, after the tracks; beyond the byte cap, the
    /// early samples are no longer kept.
    #[tokio::test]
    async fn a_subscriber_just_after_the_start_gets_the_first_samples() {
        let sample = |dts: i64, len: usize| {
            StreamItem::Sample(Sample {
                track: 1,
                dts,
                cts_offset: 0,
                duration: None,
                keyframe: dts == 0,
                data: bytes::Bytes::from(vec![0u8; len]),
            })
        };
        let r = StreamRegistry::new();
        let p = r.publish("cam1", StreamKind::Rtmp, "x").expect("publish");
        for dts in 0..3 {
            p.send(sample(dts, 10), 10);
        }
        let mut rx = r.subscribe("cam1").expect("subscribe");
        p.send(sample(3, 10), 10);
        for want in 0..4 {
            match rx.recv().await.map(|d| d.item) {
                Some(StreamItem::Sample(s)) => assert_eq!(s.dts, want),
                other => panic!("sample {want} expected, got {other:?}"),
            }
        }
        // Past the cap: nothing early is kept for a later subscriber.
        p.send(sample(4, EARLY_BYTES), 10);
        let mut late = r.subscribe("cam1").expect("subscribe");
        p.send(sample(5, 10), 10);
        match late.recv().await.map(|d| d.item) {
            Some(StreamItem::Sample(s)) => assert_eq!(s.dts, 5),
            other => panic!("the live sample expected, got {other:?}"),
        }
    }
}
