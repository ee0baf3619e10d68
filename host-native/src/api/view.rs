//! How streams and configs look in replies (listStreams, getStreamInfo, listConfig...), in
//! one place so every command shows the same thing the same way.

use serde_json::{json, Map, Value};

use crate::ingest::pull::PullConfigEntry;
use crate::ingest::pull::PullManager;
use crate::outputs::mss::{ConfigStatus, MssConfigEntry, StatusRecord};
use crate::outputs::OutputManager;
use crate::server::AppState;
use crate::streams::StreamInfo;
use crate::streams::StreamRegistry;

/// What the stream and config commands read: the local streams, the MSS outputs (which are
/// the outbound streams) and the pulls (which made some of the inbound ones).
#[derive(Clone, Copy)]
pub struct Streams<'a> {
    pub streams: &'a StreamRegistry,
    pub outputs: &'a OutputManager,
    pub pulls: &'a PullManager,
}

impl<'a> Streams<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Self {
            streams: &state.streams,
            outputs: &state.outputs,
            pulls: &state.pulls,
        }
    }
}

/// EMS operationType of MSS configs.
const OPERATION_TYPE_MSS: u32 = 5;

/// EMS operationType of pull configs.
const OPERATION_TYPE_PULL: u32 = 1;

pub enum StreamRef {
    Inbound(Box<StreamInfo>),
    Outbound(Box<MssConfigEntry>),
}

impl StreamRef {
    pub fn to_json(&self, state: Streams<'_>) -> Value {
        match self {
            StreamRef::Inbound(info) => {
                let mut v = inbound_json(info);
                // A pulled stream carries its config, as EMS's listStreams shows it.
                if let (Some(pull), Value::Object(map)) = (pulled_by(state, info), &mut v) {
                    map.insert("pullSettings".into(), pull_settings_json(&pull));
                }
                v
            }
            StreamRef::Outbound(entry) => outbound_json(state, entry),
        }
    }
}

/// The pull config behind an inbound stream, if a pull made it (and not, say, a publisher
/// that took the name while the pull was reconnecting).
pub fn pulled_by(state: Streams<'_>, info: &StreamInfo) -> Option<PullConfigEntry> {
    state
        .pulls
        .by_stream_name(&info.name)
        .filter(|p| p.uri.original == info.source)
}

pub fn inbound_json(info: &StreamInfo) -> Value {
    serde_json::to_value(info).unwrap_or(Value::Null)
}

/// Configs whose output is running show as an `OFMSS` stream, as EMS lists them.
pub fn running_outbound(state: Streams<'_>) -> Vec<MssConfigEntry> {
    state
        .outputs
        .list_mss()
        .into_iter()
        .filter(|c| c.current.status == ConfigStatus::Streaming)
        .collect()
}

/// Outbound MSS streams are not in the stream registry; each config has an id from the
/// registry's sequence (stable for the life of the config), so one small `id` namespace
/// covers both directions, as in EMS.
pub fn outbound_id(entry: &MssConfigEntry) -> u64 {
    entry.stream_id
}

pub fn outbound_json(state: Streams<'_>, entry: &MssConfigEntry) -> Value {
    let mut settings = params_map(entry);
    settings.insert("configId".into(), json!(entry.config_id));
    let inbound = state.streams.get(&entry.local_stream_name);
    json!({
        "uniqueId": outbound_id(entry),
        "name": entry.local_stream_name,
        "type": "OFMSS",
        "inboundUniqueId": inbound.map(|i| i.unique_id),
        "mssSettings": settings,
    })
}

/// Every stream: inbound ones from the registry, then running MSS outputs.
pub fn all_streams(state: Streams<'_>) -> Vec<StreamRef> {
    let mut v: Vec<StreamRef> = state
        .streams
        .list()
        .into_iter()
        .map(|i| StreamRef::Inbound(Box::new(i)))
        .collect();
    v.extend(
        running_outbound(state)
            .into_iter()
            .map(|c| StreamRef::Outbound(Box::new(c))),
    );
    v
}

pub fn find_by_id(state: Streams<'_>, id: u64) -> Option<StreamRef> {
    if let Some(info) = state.streams.by_id(id) {
        return Some(StreamRef::Inbound(Box::new(info)));
    }
    running_outbound(state)
        .into_iter()
        .find(|c| c.stream_id == id)
        .map(|c| StreamRef::Outbound(Box::new(c)))
}

/// A listConfig `mss` entry: the create parameters plus the per-stream fields EMS adds.
pub fn config_json(entry: &MssConfigEntry) -> Value {
    let mut map = params_map(entry);
    let group = entry.group_target_folder.display().to_string();
    // EMS's per-stream folder: one input writes under <group>/<stream>, several under
    // <group>/<bitrate> (the bitrate is only known here when it was given).
    let stream_folder = if entry.params.local_stream_names.len() == 1 {
        entry.group_target_folder.join(&entry.local_stream_name)
    } else if entry.bandwidth > 0 {
        entry.group_target_folder.join(entry.bandwidth.to_string())
    } else {
        entry.group_target_folder.clone()
    };
    map.insert("configId".into(), json!(entry.config_id));
    map.insert("groupTargetFolder".into(), json!(group));
    map.insert(
        "targetFolder".into(),
        json!(stream_folder.display().to_string()),
    );
    map.insert("localStreamName".into(), json!(entry.local_stream_name));
    map.insert("bandwidth".into(), json!(entry.bandwidth));
    map.insert("operationType".into(), json!(OPERATION_TYPE_MSS));
    map.insert(
        "status".into(),
        status_json(&entry.current, entry.previous.as_ref()),
    );
    // A restored config that could not start says why.
    if let Some(e) = &entry.last_error {
        map.insert("lastError".into(), json!(e));
    }
    Value::Object(map)
}

/// EMS's `status: {current, previous}`; before any change, previous repeats current.
fn status_json(current: &StatusRecord, previous: Option<&StatusRecord>) -> Value {
    let record = |r: &StatusRecord| {
        json!({
            "code": r.status as u32,
            "description": r.status.description(),
            "timestamp": r.timestamp,
            "uniqueStreamId": r.unique_stream_id,
        })
    };
    let current = record(current);
    let previous = previous.map_or_else(|| current.clone(), record);
    json!({ "current": current, "previous": previous })
}

/// A pull config as pullStream's reply shows it: the settings, configId, operationType 1
/// and the parsed `uri`.
pub fn pull_settings_json(entry: &PullConfigEntry) -> Value {
    let mut map = match serde_json::to_value(&entry.params) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    map.insert("configId".into(), json!(entry.config_id));
    map.insert("operationType".into(), json!(OPERATION_TYPE_PULL));
    map.insert("uri".into(), entry.uri.to_json());
    Value::Object(map)
}

/// A listConfig `pull` entry: the settings plus the status.
pub fn pull_config_json(entry: &PullConfigEntry) -> Value {
    let mut v = pull_settings_json(entry);
    if let Value::Object(map) = &mut v {
        map.insert(
            "status".into(),
            status_json(&entry.current, entry.previous.as_ref()),
        );
        if let Some(e) = &entry.last_error {
            map.insert("lastError".into(), json!(e));
        }
    }
    v
}

fn params_map(entry: &MssConfigEntry) -> Map<String, Value> {
    match serde_json::to_value(entry.params.redacted()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
