//! The registry of local streams: what ingest publishes and outputs consume, and what
//! `listStreams` shows. A local stream is a name plus a fan-out of demuxed media.
//!
//! Publishers never wait for subscribers: each subscriber has a bounded queue, and one that
//! falls behind loses media (and is told so) instead of stalling ingest for everyone.

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
}

/// Lifecycle notices, for outputs waiting for a stream and for the event sink.
#[derive(Debug, Clone)]
pub enum StreamNotice {
    Created { name: String, id: u64 },
    Closed { name: String, id: u64 },
}

const SUBSCRIBER_QUEUE: usize = 4096;

struct Entry {
    info: StreamInfo,
    /// Set by shutdownStream; the ingest task holding the publisher watches it.
    stop: Arc<tokio::sync::Notify>,
    tracks: Vec<TrackInfo>,
    subscribers: Vec<mpsc::Sender<Delivered>>,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<String, Entry>,
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
        {
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
            };
            // Under the lock: no output can see the stream before this event is queued.
            self.events
                .emit(EventType::InStreamCreated, stream_payload(&info));
            inner.streams.insert(
                name.to_string(),
                Entry {
                    info,
                    tracks: Vec::new(),
                    subscribers: Vec::new(),
                    stop: stop.clone(),
                },
            );
        }
        let _ = self.notices.send(StreamNotice::Created {
            name: name.to_string(),
            id,
        });
        Ok(Publisher {
            registry: self.clone(),
            name: name.to_string(),
            id,
            stop,
        })
    }

    /// Subscribes to a stream's media from now on; the current tracks come first.
    pub fn subscribe(&self, name: &str) -> Option<mpsc::Receiver<Delivered>> {
        let mut inner = self.lock();
        let entry = inner.streams.get_mut(name)?;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let at = Instant::now();
        for t in &entry.tracks {
            let _ = tx.try_send(Delivered {
                item: StreamItem::Track(t.clone()),
                at,
            });
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
            .map(|e| e.info.clone())
            .collect();
        v.sort_by_key(|i| i.unique_id);
        v
    }

    pub fn get(&self, name: &str) -> Option<StreamInfo> {
        self.lock().streams.get(name).map(|e| e.info.clone())
    }

    /// Asks the ingest behind a stream to stop (shutdownStream). Returns whether it existed.
    pub fn request_shutdown(&self, name: &str) -> bool {
        match self.lock().streams.get(name) {
            Some(e) => {
                e.stop.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn by_id(&self, id: u64) -> Option<StreamInfo> {
        self.lock()
            .streams
            .values()
            .find(|e| e.info.unique_id == id)
            .map(|e| e.info.clone())
    }
}

/// The publishing side of a stream. Dropping it ends the stream.
pub struct Publisher {
    registry: StreamRegistry,
    name: String,
    id: u64,
    stop: Arc<tokio::sync::Notify>,
}

impl Publisher {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Completes when shutdownStream asked for this stream to end; ingest selects on it.
    pub async fn shutdown_requested(&self) {
        self.stop.notified().await
    }

    /// Sends an item to every subscriber; `wire_bytes` is what it cost on the wire (for
    /// bytes-in accounting).
    pub fn send(&self, item: StreamItem, wire_bytes: u64) {
        let mut inner = self.registry.lock();
        let Some(entry) = inner.streams.get_mut(&self.name) else {
            return;
        };
        entry.info.bytes_in += wire_bytes;
        crate::metrics::get().bytes_in(wire_bytes);
        if let StreamItem::Track(t) = &item {
            match t.kind() {
                smoothcast_core::TrackKind::Video => entry.info.has_video = true,
                smoothcast_core::TrackKind::Audio => entry.info.has_audio = true,
            }
            entry.tracks.retain(|old| old.kind() != t.kind());
            entry.tracks.push(t.clone());
        }
        let delivered = Delivered {
            item,
            at: Instant::now(),
        };
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
                Some(e) if e.info.unique_id == self.id => {
                    // Before the removal ends the subscriptions: outputs see the end after.
                    self.registry
                        .events
                        .emit(EventType::InStreamClosed, stream_payload(&e.info));
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
}
