//! createMSSStream configs and the live MSS outputs they run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::streams::StreamRegistry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaylistType {
    Appending,
    Rolling,
}

/// createMSSStream's parameters after parsing and defaulting (EMS 1.7 names and defaults;
/// see shared/reference/ems-api.md section 1). Serialized camelCase, this is also the
/// `data` of the reply, with `configIds` added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MssParams {
    pub local_stream_names: Vec<String>,
    pub target_folder: String,
    /// Bits/s per stream; 0 means measure.
    pub bandwidths: Vec<u32>,
    pub group_name: String,
    pub playlist_type: PlaylistType,
    pub playlist_length: u32,
    pub manifest_name: String,
    /// Seconds.
    pub chunk_length: u32,
    #[serde(rename = "chunkOnIDR")]
    pub chunk_on_idr: bool,
    pub keep_alive: bool,
    pub overwrite_destination: bool,
    pub stale_retention_count: u32,
    pub cleanup_destination: bool,
    pub ism_type: String,
    pub is_live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishing_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_bitrates: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub video_bitrates: Vec<u32>,
}

/// One config as listConfig shows it.
#[derive(Debug, Clone)]
pub struct MssConfigEntry {
    pub config_id: u64,
    pub params: MssParams,
    /// The stream this config entry packages (one entry per local stream name).
    pub local_stream_name: String,
    pub bandwidth: u32,
    /// EMS status code and description: 0 Streaming, 2 Waiting for stream, 4 Disconnected...
    pub status: (u32, String),
    pub group_target_folder: PathBuf,
}

#[derive(Default)]
struct Inner {
    configs: BTreeMap<u64, MssConfigEntry>,
    next_id: u64,
}

/// Owns every MSS config and its running output.
#[derive(Clone)]
pub struct OutputManager {
    streams: StreamRegistry,
    inner: Arc<Mutex<Inner>>,
}

impl OutputManager {
    pub fn new(streams: StreamRegistry) -> Self {
        Self {
            streams,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a config (one id per local stream name) and starts its output, which waits
    /// for its streams if they are not there yet. `Err` is the reply's description.
    pub fn create_mss(&self, params: MssParams) -> Result<Vec<u64>, String> {
        let _ = &self.streams;
        let mut inner = self.lock();
        let group_target_folder = PathBuf::from(&params.target_folder).join(&params.group_name);
        let mut ids = Vec::new();
        for (i, name) in params.local_stream_names.iter().enumerate() {
            inner.next_id += 1;
            let id = inner.next_id;
            inner.configs.insert(
                id,
                MssConfigEntry {
                    config_id: id,
                    params: params.clone(),
                    local_stream_name: name.clone(),
                    bandwidth: params.bandwidths.get(i).copied().unwrap_or(0),
                    status: (2, String::from("Waiting for stream")),
                    group_target_folder: group_target_folder.clone(),
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    /// Every MSS config entry, by id.
    pub fn list_mss(&self) -> Vec<MssConfigEntry> {
        self.lock().configs.values().cloned().collect()
    }

    /// removeConfig by id: stops the output; with `remove_files`, deletes the group folder.
    pub fn remove_config(&self, id: u64, remove_files: bool) -> Result<(), String> {
        let _ = remove_files;
        match self.lock().configs.remove(&id) {
            Some(_) => Ok(()),
            None => Err(format!("Config {id} not found")),
        }
    }

    /// removeConfig by groupName: every config of the group. Returns the removed ids.
    pub fn remove_group(&self, group: &str, remove_files: bool) -> Result<Vec<u64>, String> {
        let ids: Vec<u64> = self
            .lock()
            .configs
            .values()
            .filter(|c| c.params.group_name == group)
            .map(|c| c.config_id)
            .collect();
        if ids.is_empty() {
            return Err(format!("No config for group {group}"));
        }
        for id in &ids {
            self.remove_config(*id, remove_files)?;
        }
        Ok(ids)
    }
}
