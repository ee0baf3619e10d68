//! Where a group's packaged media goes: files in the group folder (`ismType=ismc`, the
//! [`Writer`]) or a publishing point (`ismType=isml`, the [`IsmlSink`]). The group task is
//! the same for both.

use std::time::Instant;

use serde_json::Value;
use smoothcast_core::presentation::{LevelId, Output};
use smoothcast_core::TrackInfo;

use super::isml::IsmlSink;
use super::writer::Writer;
use crate::events::EventType;

pub(super) enum Sink {
    Disk(Writer),
    /// Boxed: the larger of the two, made once per group.
    Isml(Box<IsmlSink>),
}

impl Sink {
    /// Queues outputs; `levels` is each input's quality level, by input index.
    pub async fn write(
        &mut self,
        outputs: Vec<Output>,
        arrival: Instant,
        levels: &[Option<LevelId>],
    ) {
        match self {
            Sink::Disk(w) => w.write(outputs, arrival).await,
            Sink::Isml(s) => s.write(outputs, levels),
        }
    }

    /// A track input `i` announced (a publishing point is told each stream's tracks).
    pub fn note_track(&mut self, i: usize, info: &TrackInfo) {
        if let Sink::Isml(s) = self {
            s.note_track(i, info);
        }
    }

    /// Emits an event after everything queued so far (files: once on disk).
    pub async fn emit_after(&self, kind: EventType, payload: Value) {
        match self {
            Sink::Disk(w) => w.emit_after(kind, payload).await,
            Sink::Isml(s) => s.emit(kind, payload),
        }
    }

    /// Finishes what is queued. `end`: a pushed stream is ended (empty `mfra`, the last
    /// chunk); otherwise its connection is only dropped, to be continued later.
    pub async fn close(self, end: bool) {
        match self {
            Sink::Disk(w) => w.close().await,
            Sink::Isml(s) => s.close(end).await,
        }
    }
}
