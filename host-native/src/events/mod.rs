//! EMS-style events (`inStreamCreated`, `outStreamCreated`, `mssChunkClosed`, ...) sent to a
//! JSON-lines file and to an HTTP endpoint.
//!
//! Emitters (ingest, a group, its disk writer) hand an event to the [`EventBus`] and go on:
//! the bus is a bounded queue, and when it is full the event is dropped and counted
//! (`smoothcast_events_dropped_total`), never waited for. One dispatcher task numbers the
//! events in bus order, serializes each once and hands it to every sink; the sinks keep that
//! order. Every event is one JSON object, the same in both sinks:
//! `{"type":"mssChunkClosed","seq":12,"timestamp":1764030000123,"payload":{...}}`
//! (EMS's RPC shape `{"type","payload"}` plus the sequence number and the Unix time in ms).

mod file;
pub(crate) mod http;
pub mod recent;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::{self, EventDrop};

/// The event names EMS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EventType {
    /// A local stream appeared (a publisher connected).
    InStreamCreated,
    /// A local stream ended.
    InStreamClosed,
    /// A publish or play was refused by `[auth]` (RTMP), or an MPEG-TS sender was dropped
    /// by the allowlist: `action`, `protocol`, `stream`, `app`, `address`, `reason`.
    InStreamRefused,
    /// A createMSSStream config started packaging one of its local streams.
    OutStreamCreated,
    /// It stopped: the source ended, the config was removed or the server stops.
    OutStreamClosed,
    /// A fragment file is being written (`file`, `startTime`).
    MssChunkCreated,
    /// The fragment file is complete on disk (`stopTime`, `frameCount` added).
    MssChunkClosed,
    /// A fragment or manifest could not be written.
    MssChunkError,
    /// The manifest on disk changed.
    MssPlaylistUpdated,
}

/// The `[events]` section of the server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct EventsConfig {
    /// JSON-lines file events are appended to (relative to the working directory).
    pub file: Option<PathBuf>,
    /// `http://` URL each event is POSTed to as JSON.
    pub http_url: Option<String>,
    /// Time allowed for one POST, from connecting to the response's end.
    pub http_timeout_ms: u64,
    /// Further attempts after a failed POST (error, timeout or non-2xx) before the event is
    /// dropped; later events wait meanwhile, so order is kept.
    pub http_retries: u32,
    /// Wait before the first retry; doubles on each further one up to `http_backoff_max_ms`.
    pub http_backoff_ms: u64,
    pub http_backoff_max_ms: u64,
    /// Events held for the endpoint; past this the oldest is dropped (and counted).
    pub http_queue_limit: usize,
    /// Events the bus holds before the dispatcher takes them; past this emitters drop.
    pub bus_capacity: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            file: None,
            http_url: None,
            http_timeout_ms: 5_000,
            http_retries: 10,
            http_backoff_ms: 200,
            http_backoff_max_ms: 10_000,
            http_queue_limit: 10_000,
            bus_capacity: 4_096,
        }
    }
}

struct Pending {
    kind: EventType,
    timestamp_ms: u64,
    payload: Value,
}

/// The record both sinks receive (serialized once).
#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "type")]
    kind: EventType,
    seq: u64,
    timestamp: u64,
    payload: &'a Value,
}

/// Deliveries not yet settled (delivered or dropped), one per event per sink, so that a
/// stopping server can wait for the last events.
#[derive(Default)]
struct Outstanding {
    count: AtomicUsize,
    sinks: usize,
}

impl Outstanding {
    fn settle(&self, n: usize) {
        // Saturating: a miscount must not wrap and stall shutdown for the whole grace time.
        let _ = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(n))
            });
    }
}

/// Where events are emitted. Cheap to clone; without sinks configured it does nothing.
#[derive(Clone, Default)]
pub struct EventBus {
    tx: Option<mpsc::Sender<Pending>>,
    outstanding: Arc<Outstanding>,
}

impl EventBus {
    /// A bus that drops everything (no sinks configured, tests).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether any sink listens; callers may skip building a payload when not.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues an event; never waits. A full bus drops it (counted in `/metrics`).
    pub fn emit(&self, kind: EventType, payload: Value) {
        // The console's recent events, sinks or not.
        recent::record(kind, unix_ms(), &payload);
        let Some(tx) = &self.tx else {
            return;
        };
        let m = metrics::get();
        m.event_emitted();
        let pending = Pending {
            kind,
            timestamp_ms: unix_ms(),
            payload,
        };
        // Counted before it can be settled by a sink.
        let o = &self.outstanding;
        o.count.fetch_add(o.sinks, Ordering::AcqRel);
        if tx.try_send(pending).is_err() {
            o.settle(o.sinks);
            m.event_dropped(EventDrop::BusFull);
        }
    }

    /// At shutdown: waits until every event emitted so far is delivered or dropped and
    /// nothing new came for a moment (stopping outputs emit their last events), at most
    /// `max`.
    pub async fn drain(&self, max: Duration) {
        if self.tx.is_none() {
            return;
        }
        const QUIET: Duration = Duration::from_millis(300);
        let start = Instant::now();
        let mut idle_since: Option<Instant> = None;
        while start.elapsed() < max {
            if self.outstanding.count.load(Ordering::Acquire) == 0 {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= QUIET {
                    return;
                }
            } else {
                idle_since = None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.outstanding.count.load(Ordering::Acquire);
        if left > 0 {
            tracing::warn!(left, "stopping with events not yet delivered");
        }
    }
}

/// Opens the configured sinks and starts the dispatcher on the current runtime. Fails on a
/// file that cannot be opened or a URL that is not `http://host[:port]/...`.
pub fn start(config: &EventsConfig) -> Result<EventBus> {
    let sinks = usize::from(config.file.is_some()) + usize::from(config.http_url.is_some());
    if sinks == 0 {
        return Ok(EventBus::disabled());
    }
    let outstanding = Arc::new(Outstanding {
        count: AtomicUsize::new(0),
        sinks,
    });
    let file = match &config.file {
        Some(path) => Some(
            file::FileSink::open(path, outstanding.clone())
                .with_context(|| format!("events file {}", path.display()))?,
        ),
        None => None,
    };
    let http = match &config.http_url {
        Some(url) => Some(
            http::HttpSink::start(url, config, outstanding.clone()).context("events http_url")?,
        ),
        None => None,
    };
    let (tx, rx) = mpsc::channel(config.bus_capacity.max(1));
    tokio::spawn(dispatch(rx, file, http, outstanding.clone()));
    Ok(EventBus {
        tx: Some(tx),
        outstanding,
    })
}

/// Takes events off the bus in order, numbers and serializes them, and feeds the sinks.
async fn dispatch(
    mut rx: mpsc::Receiver<Pending>,
    file: Option<file::FileSink>,
    http: Option<Arc<http::HttpSink>>,
    outstanding: Arc<Outstanding>,
) {
    let mut seq = 0u64;
    let mut batch: Vec<Pending> = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut lines = Vec::with_capacity(batch.len());
        for p in batch.drain(..) {
            seq += 1;
            let record = Record {
                kind: p.kind,
                seq,
                timestamp: p.timestamp_ms,
                payload: &p.payload,
            };
            match serde_json::to_vec(&record) {
                Ok(json) => lines.push((seq, Bytes::from(json))),
                Err(e) => {
                    outstanding.settle(outstanding.sinks);
                    tracing::warn!("event {:?} not serializable: {e}", p.kind);
                }
            }
        }
        if let Some(http) = &http {
            http.push(&lines);
        }
        if let Some(file) = &file {
            file.write(lines);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `base * 2^attempt`, capped.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(16)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = |n| backoff(Duration::from_millis(100), Duration::from_secs(1), n);
        assert_eq!(
            [b(0), b(1), b(3), b(4), b(40)],
            [
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(800),
                Duration::from_secs(1),
                Duration::from_secs(1)
            ]
        );
    }

    #[test]
    fn record_shape() {
        let payload = serde_json::json!({"file": "a.fmp4"});
        let r = Record {
            kind: EventType::MssChunkCreated,
            seq: 3,
            timestamp: 7,
            payload: &payload,
        };
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(r#"{"type":"mssChunkCreated","seq":3,"timestamp":7,"payload":{"file":"a.fmp4"}}"#)
        );
    }

    #[test]
    fn config_defaults_and_unknown_keys() {
        let c: EventsConfig = toml::from_str("file = \"e.jsonl\"").expect("parses");
        assert_eq!(c.http_retries, 10);
        assert!(toml::from_str::<EventsConfig>("nope = 1").is_err());
    }

    #[tokio::test]
    async fn a_full_bus_drops_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let bus = EventBus {
            tx: Some(tx),
            outstanding: Arc::default(),
        };
        bus.emit(EventType::InStreamCreated, Value::Null);
        let dropped = metrics::get().dropped(EventDrop::BusFull);
        // The second does not fit and must not block.
        bus.emit(EventType::InStreamClosed, Value::Null);
        assert!(metrics::get().dropped(EventDrop::BusFull) > dropped);
        assert!(!EventBus::disabled().enabled());
    }
}
