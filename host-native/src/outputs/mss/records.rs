//! What the manager records per config and per group, and how a group is told to stop.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::watch;

use super::MssParams;

use crate::status::ConfigStatus;

/// A status with when it was entered and the stream it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    pub status: ConfigStatus,
    /// Unix time in seconds.
    pub timestamp: u64,
    pub unique_stream_id: u64,
}

/// One config as listConfig shows it.
#[derive(Debug, Clone)]
pub struct MssConfigEntry {
    pub config_id: u64,
    pub params: MssParams,
    /// The stream this config entry packages (one entry per local stream name).
    pub local_stream_name: String,
    pub bandwidth: u32,
    pub current: StatusRecord,
    pub previous: Option<StatusRecord>,
    pub group_target_folder: PathBuf,
    /// The group this config belongs to (its createMSSStream).
    pub group_id: u64,
    /// Why a config restored from the state file could not start (listConfig `lastError`);
    /// it then only waits to be removed or fixed by a restart with the right settings.
    pub last_error: Option<String>,
    /// The config's output stream id (listStreams shows it as an OFMSS stream): taken from
    /// the stream registry's sequence, so inbound and outbound ids are one small namespace.
    pub stream_id: u64,
}

/// How a group task is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    Running,
    /// removeConfig: stop; delete the group folder too when asked.
    Remove {
        delete_files: bool,
    },
    /// Server shutdown: stop and leave everything as it is.
    Shutdown,
}

pub(in crate::outputs) struct GroupHandle {
    pub config_ids: Vec<u64>,
    pub(in crate::outputs) stop: watch::Sender<StopMode>,
    /// Kept in the state file (created over the API with keepAlive).
    pub saved: bool,
}

/// How a group comes to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::outputs) enum Origin {
    /// createMSSStream over the API: kept across restarts when keepAlive is on.
    Api,
    /// From the server's own configuration (the demo, autoMSS): made again at every start.
    Config,
    /// From the state file at start: same ids, and the presentation resumes from its folder
    /// with the bitrates it was measured at (`measured`, 0 for none), which its fragment
    /// paths contain; the config itself keeps the bandwidths it was created with.
    Restored {
        group_id: u64,
        config_ids: Vec<u64>,
        measured: Vec<u32>,
    },
}

#[derive(Default)]
pub(in crate::outputs) struct Inner {
    pub configs: BTreeMap<u64, MssConfigEntry>,
    pub groups: BTreeMap<u64, GroupHandle>,
}

pub(in crate::outputs) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
