//! What a group's chunk events say: the group, the stream a fragment belongs to, its file
//! and times, in EMS's milliseconds. The writer decides when they go out (it alone knows
//! when a file is on disk); this module only builds their payloads.

use serde_json::{json, Value};
use smoothcast_core::presentation::FragmentInfo;
use smoothcast_core::time::MSS_TIMESCALE;
use smoothcast_core::TrackKind;

use super::mss::OutputManager;
use crate::events::EventBus;

/// What the writer needs to name the group and stream in its events.
pub(super) struct EventContext {
    pub bus: EventBus,
    pub manager: OutputManager,
    pub group_name: String,
    pub config_ids: Vec<u64>,
}

/// 10 MHz ticks to the milliseconds EMS's events and manifests use.
pub(super) fn ms(ticks: u64) -> u64 {
    ticks / (MSS_TIMESCALE / 1000)
}

pub(super) fn group_payload(ev: &EventContext) -> Value {
    json!({ "groupName": ev.group_name, "configIds": ev.config_ids })
}

/// mssChunkCreated's payload: the group, the stream whose level the fragment belongs to
/// (found by its bitrate among the group's configs; audio, whose bitrate is its own, by
/// the group's first stream), the fragment's file and start.
pub(super) fn chunk_payload(ev: &EventContext, file: &str, c: &FragmentInfo) -> Value {
    let mut p = json!({ "groupName": ev.group_name, "file": file });
    let stream = {
        let inner = ev.manager.lock();
        let mut configs = ev.config_ids.iter().filter_map(|id| inner.configs.get(id));
        // Audio has its own bitrate, and one audio rendition may serve every level: it is
        // told as the first stream's.
        let by_bitrate = configs.clone().find(|c2| c2.bandwidth == c.bitrate);
        by_bitrate
            .or_else(|| {
                (c.kind == TrackKind::Audio)
                    .then(|| configs.next())
                    .flatten()
            })
            .map(|e| {
                let unique = if e.current.unique_stream_id != 0 {
                    e.current.unique_stream_id
                } else {
                    e.previous.as_ref().map_or(0, |r| r.unique_stream_id)
                };
                (e.config_id, e.local_stream_name.clone(), unique)
            })
    };
    if let Some(obj) = p.as_object_mut() {
        obj.insert("startTime".into(), json!(ms(c.start)));
        obj.insert("bitrate".into(), json!(c.bitrate));
        obj.insert(
            "trackType".into(),
            json!(match c.kind {
                TrackKind::Video => "video",
                TrackKind::Audio => "audio",
                TrackKind::Text => "text",
            }),
        );
        if let Some((config_id, name, unique)) = stream {
            obj.insert("configId".into(), json!(config_id));
            obj.insert("name".into(), json!(name));
            obj.insert("uniqueId".into(), json!(unique));
        }
    }
    p
}
