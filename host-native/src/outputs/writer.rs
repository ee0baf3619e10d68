//! A group's disk writer: applies the presentation's outputs in order on the blocking pool
//! while the group goes on packaging, and records the write delay of every batch that
//! completes a fragment (from the sample's arrival from ingest to the last file on disk).
//!
//! It also emits the chunk events, since only it knows when a file is on disk:
//! `mssChunkCreated` just before a new fragment is written, `mssChunkClosed` once it is
//! (our fragments are written whole, so the two bracket one write), `mssPlaylistUpdated`
//! after a manifest write, and `mssChunkError` for a failed write. Events a group queues with
//! [`Writer::emit_after`] go out after everything queued before them is on disk. What the
//! events say is built in `chunk_events.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use smoothcast_core::presentation::{Event, Output};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::chunk_events::{chunk_payload, group_payload, ms, Closed, EventContext};
use super::stats::WriteStats;
use crate::events::EventType;
use crate::metrics::{self, ErrorKind};

/// Batches waiting for the disk; a group that gets this far ahead waits for it.
const QUEUE: usize = 64;

struct Batch {
    outputs: Vec<Output>,
    /// When the sample that produced a new fragment arrived, if this batch has one.
    arrival: Option<Instant>,
    /// Emitted once `outputs` are applied.
    after: Vec<(EventType, Value)>,
}

/// What the writer task keeps between batches.
struct Shared {
    ev: EventContext,
    /// A write failed and none has succeeded since: one warning per outage, not per file.
    failing: AtomicBool,
}

pub(super) struct Writer {
    tx: mpsc::Sender<Batch>,
    task: JoinHandle<()>,
    /// Whether an event sink listens (else `emit_after` is skipped).
    events: bool,
}

impl Writer {
    pub fn start(dir: PathBuf, stats: Arc<WriteStats>, events: EventContext) -> Self {
        let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE);
        let enabled = events.bus.enabled();
        let shared = Arc::new(Shared {
            ev: events,
            failing: AtomicBool::new(false),
        });
        let task = tokio::spawn(
            async move {
                while let Some(first) = rx.recv().await {
                    // Whatever queued up meanwhile goes in the same trip to the blocking pool.
                    let mut batches = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batches.push(more);
                    }
                    let dir = dir.clone();
                    let arrivals: Vec<Instant> = batches.iter().filter_map(|b| b.arrival).collect();
                    let shared = shared.clone();
                    let span = tracing::Span::current();
                    let _ = tokio::task::spawn_blocking(move || {
                        let _in = span.enter();
                        apply(&dir, batches, &shared)
                    })
                    .await;
                    for at in arrivals {
                        let delay = at.elapsed();
                        stats.record(delay);
                        metrics::get().write_delay(delay);
                    }
                }
            }
            .in_current_span(),
        );
        Self {
            tx,
            task,
            events: enabled,
        }
    }

    /// Queues outputs; waits only when the disk is `QUEUE` batches behind.
    pub async fn write(&self, outputs: Vec<Output>, arrival: Instant) {
        if outputs.is_empty() {
            return;
        }
        let fragment = outputs
            .iter()
            .any(|o| matches!(o, Output::WriteFragment { .. }));
        let batch = Batch {
            outputs,
            arrival: fragment.then_some(arrival),
            after: Vec::new(),
        };
        let _ = self.tx.send(batch).await;
    }

    /// Emits an event once everything queued so far is on disk.
    pub async fn emit_after(&self, kind: EventType, payload: Value) {
        if !self.events {
            return;
        }
        let batch = Batch {
            outputs: Vec::new(),
            arrival: None,
            after: vec![(kind, payload)],
        };
        let _ = self.tx.send(batch).await;
    }

    /// Writes everything queued, then stops.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

fn apply(dir: &Path, batches: Vec<Batch>, shared: &Shared) {
    let out = crate::disk::OutputDir::new(dir.to_path_buf()).with_atomic_fragments();
    let m = metrics::get();
    let ev = &shared.ev;
    let fail = |file: &str, e: &anyhow::Error| failed(shared, file, e);
    for batch in batches {
        let mut manifest_ok = true;
        let mut outputs = batch.outputs.into_iter().peekable();
        while let Some(o) = outputs.next() {
            match o {
                Output::WriteFragment { path, data } => {
                    // The core queues the fragment's FragmentClosed right behind its write.
                    let closed = match outputs.peek() {
                        Some(Output::Event(Event::FragmentClosed {
                            path: p,
                            kind,
                            bitrate,
                            start,
                            duration,
                            samples,
                        })) if *p == path => Some(Closed {
                            kind: *kind,
                            bitrate: *bitrate,
                            start: *start,
                            duration: *duration,
                            samples: *samples,
                        }),
                        _ => None,
                    };
                    if closed.is_some() {
                        outputs.next();
                    }
                    let file = dir.join(&path).display().to_string();
                    let payload = ev
                        .bus
                        .enabled()
                        .then(|| chunk_payload(ev, &file, closed.as_ref()));
                    if let Some(p) = &payload {
                        ev.bus.emit(EventType::MssChunkCreated, p.clone());
                    }
                    let len = data.len();
                    match out.apply(Output::WriteFragment { path, data }) {
                        Ok(()) => {
                            m.fragment_written(len);
                            shared.failing.store(false, Ordering::Relaxed);
                            if let Some(mut p) = payload {
                                if let (Some(c), Some(obj)) = (&closed, p.as_object_mut()) {
                                    obj.insert("stopTime".into(), json!(ms(c.start + c.duration)));
                                    obj.insert("frameCount".into(), json!(c.samples));
                                }
                                ev.bus.emit(EventType::MssChunkClosed, p);
                            }
                        }
                        Err(e) => fail(&file, &e),
                    }
                }
                Output::RewriteFragment { path, data } => {
                    let len = data.len();
                    let file = dir.join(&path);
                    match out.apply(Output::RewriteFragment { path, data }) {
                        Ok(()) => m.fragment_rewritten(len),
                        Err(e) => fail(&file.display().to_string(), &e),
                    }
                }
                Output::WriteManifest { path, xml } => {
                    let len = xml.len();
                    let file = dir.join(&path);
                    manifest_ok = match out.apply(Output::WriteManifest { path, xml }) {
                        Ok(()) => {
                            m.manifest_written(len);
                            shared.failing.store(false, Ordering::Relaxed);
                            true
                        }
                        Err(e) => {
                            fail(&file.display().to_string(), &e);
                            false
                        }
                    };
                }
                Output::Event(Event::ManifestUpdated { path }) => {
                    if manifest_ok && ev.bus.enabled() {
                        let mut p = group_payload(ev);
                        if let Some(obj) = p.as_object_mut() {
                            obj.insert("file".into(), json!(dir.join(&path).display().to_string()));
                        }
                        ev.bus.emit(EventType::MssPlaylistUpdated, p);
                    }
                }
                Output::Event(Event::FragmentCut {
                    level,
                    kind,
                    reason,
                }) => {
                    // A fragment limit cut a fragment short of a keyframe (issue 11): the
                    // source is misbehaving, which an operator should hear of.
                    tracing::warn!("mss output: {level} {}: {reason}", kind.as_str());
                    if ev.bus.enabled() {
                        let mut p = group_payload(ev);
                        if let Some(obj) = p.as_object_mut() {
                            obj.insert("error".into(), json!(format!("{level}: {reason}")));
                        }
                        ev.bus.emit(EventType::MssChunkError, p);
                    }
                }
                Output::Event(e) => tracing::debug!(?e, "mss event"),
                Output::Remove { path } => {
                    let file = dir.join(&path);
                    if let Err(e) = out.apply(Output::Remove { path }) {
                        fail(&file.display().to_string(), &e);
                    }
                }
            }
        }
        for (kind, payload) in batch.after {
            ev.bus.emit(kind, payload);
        }
    }
}

fn failed(shared: &Shared, file: &str, e: &anyhow::Error) {
    metrics::get().error(ErrorKind::DiskWrite);
    if shared.failing.swap(true, Ordering::Relaxed) {
        tracing::debug!("mss output: {e:#}");
    } else {
        tracing::warn!(
            "mss output: {e:#} (further failures are logged at debug until a write succeeds)"
        );
    }
    let ev = &shared.ev;
    if ev.bus.enabled() {
        let mut p = group_payload(ev);
        if let Some(obj) = p.as_object_mut() {
            obj.insert("file".into(), json!(file));
            obj.insert("error".into(), json!(format!("{e:#}")));
        }
        ev.bus.emit(EventType::MssChunkError, p);
    }
}
