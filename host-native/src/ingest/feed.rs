//! The sink every pulled or listened-for source writes into: demuxer events in, a local
//! stream out. A source only speaks its protocol; the feed claims the stream name, bills
//! wire bytes, and reports the pull's status.
//!
//! Sources are plain async functions that run until their peer ends (`Ok`) or fails (`Err`).
//! Whoever runs them (the pull manager, a listener) stops them by dropping the future, so a
//! source needs no shutdown handling of its own; dropping the feed ends the local stream.

use std::fmt;
use std::sync::Arc;

use smoothcast_core::demux::DemuxEvent;

use crate::status::ConfigStatus;
use crate::streams::{NameInUse, Publisher, StreamItem, StreamKind, StreamRegistry};

/// Why a source stopped, in the terms listConfig reports.
#[derive(Debug)]
pub enum SourceError {
    /// The peer could not be reached or refused us before any media (status 5).
    ConnectFailed(String),
    /// The peer broke the protocol or sent media we cannot use.
    Protocol(String),
    /// The connection was lost after it had worked (status 4).
    Lost(String),
    /// Another stream already has the name.
    NameInUse(String),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::ConnectFailed(m) => write!(f, "connection failed: {m}"),
            SourceError::Protocol(m) => write!(f, "protocol error: {m}"),
            SourceError::Lost(m) => write!(f, "connection lost: {m}"),
            SourceError::NameInUse(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SourceError {}

impl From<NameInUse> for SourceError {
    fn from(e: NameInUse) -> Self {
        SourceError::NameInUse(e.to_string())
    }
}

/// Told about every status change of the source behind a feed.
pub type StatusHook = Arc<dyn Fn(ConfigStatus) + Send + Sync>;

pub struct Feed {
    streams: StreamRegistry,
    name: String,
    kind: StreamKind,
    source: String,
    publisher: Option<Publisher>,
    unbilled_bytes: u64,
    status: Option<StatusHook>,
}

impl Feed {
    /// A feed for local stream `name`; `source` is what listStreams shows as its origin.
    pub fn new(streams: StreamRegistry, name: &str, kind: StreamKind, source: &str) -> Self {
        Self {
            streams,
            name: name.to_string(),
            kind,
            source: source.to_string(),
            publisher: None,
            unbilled_bytes: 0,
            status: None,
        }
    }

    pub fn with_status_hook(mut self, hook: StatusHook) -> Self {
        self.status = Some(hook);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reports a status (Connecting, Connected, Waiting for stream...). Streaming is
    /// reported by the feed itself when the local stream opens.
    pub fn set_status(&self, status: ConfigStatus) {
        if let Some(hook) = &self.status {
            hook(status);
        }
    }

    /// Whether the local stream exists (media has started).
    pub fn is_open(&self) -> bool {
        self.publisher.is_some()
    }

    /// Claims the stream name now. Sources need not call it: the first event does.
    pub fn open(&mut self) -> Result<(), SourceError> {
        if self.publisher.is_none() {
            let p = self.streams.publish(&self.name, self.kind, &self.source)?;
            self.publisher = Some(p);
            self.set_status(ConfigStatus::Streaming);
        }
        Ok(())
    }

    /// Counts bytes read from the peer; charged to the next item sent.
    pub fn add_wire_bytes(&mut self, n: u64) {
        self.unbilled_bytes += n;
    }

    /// Forwards one demuxer event (tracks, codec changes, samples; seeks are ignored).
    pub fn send(&mut self, event: DemuxEvent) -> Result<(), SourceError> {
        let item = match event {
            DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t) => StreamItem::Track(t),
            DemuxEvent::Sample(s) => StreamItem::Sample(s),
            DemuxEvent::Ignored { track, reason } => {
                tracing::warn!(stream = %self.name, track, "track not packaged: {reason}");
                return Ok(());
            }
            DemuxEvent::Seek(_) => return Ok(()),
        };
        self.open()?;
        let wire = std::mem::take(&mut self.unbilled_bytes);
        if let Some(p) = &self.publisher {
            p.send(item, wire);
        }
        Ok(())
    }

    /// Ends the local stream (the source is gone); a later event opens a new one.
    pub fn close(&mut self) {
        self.publisher = None;
    }

    /// What [`Feed::shutdown_requested`] waits on, while the stream is open.
    pub fn stop_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.publisher.as_ref().map(Publisher::stop_signal)
    }

    /// Completes when shutdownStream asked this stream to end (never, while it is closed).
    pub async fn shutdown_requested(&self) {
        match &self.publisher {
            Some(p) => p.shutdown_requested().await,
            None => std::future::pending().await,
        }
    }
}
