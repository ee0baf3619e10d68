//! createMSSStream configs and the live MSS outputs they run.
//!
//! One createMSSStream call is one group: one [`Presentation`] with a quality level per local
//! stream, driven by one task that waits for its streams, feeds their media to the core and
//! applies the outputs to disk. The task owns the presentation; the manager only keeps the
//! configs (for listConfig) and a stop switch per group.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use smoothcast_core::layout::{self, Layout};
use smoothcast_core::presentation::{Playlist, Presentation, PresentationOptions};
use smoothcast_core::time::MSS_TIMESCALE;
use tokio::sync::watch;

use super::group::{run_group, GroupContext};
use crate::events::EventBus;
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
    /// Made by autoMSS, not createMSSStream: the autoMSS layout (`<stream>/<stream>.ismc`),
    /// and the group folder is shared with the other streams' presentations.
    #[serde(
        default,
        rename = "autoMSS",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub auto_mss: bool,
}

impl MssParams {
    /// EMS's defaults for everything but the streams and the folder.
    pub fn with_defaults(
        local_stream_names: Vec<String>,
        target_folder: String,
        group_name: String,
    ) -> Self {
        let n = local_stream_names.len();
        Self {
            local_stream_names,
            target_folder,
            bandwidths: vec![0; n],
            group_name,
            playlist_type: PlaylistType::Appending,
            playlist_length: 10,
            manifest_name: String::from("manifest.ismc"),
            chunk_length: 10,
            chunk_on_idr: true,
            keep_alive: true,
            overwrite_destination: true,
            stale_retention_count: 10,
            cleanup_destination: false,
            ism_type: String::from("ismc"),
            is_live: true,
            publishing_point: None,
            ingest_mode: None,
            audio_bitrates: Vec::new(),
            video_bitrates: Vec::new(),
            auto_mss: false,
        }
    }

    /// The folder (inside the group folder) this config's files live in: the group folder,
    /// or for autoMSS the stream's folder, since the group holds every stream's presentation.
    pub fn own_folder(&self, group_dir: &Path) -> PathBuf {
        match (self.auto_mss, self.local_stream_names.as_slice()) {
            (true, [stream]) => group_dir.join(stream),
            _ => group_dir.to_path_buf(),
        }
    }

    /// The core's options for this config.
    pub fn presentation_options(&self) -> PresentationOptions {
        let layout = match self.local_stream_names.as_slice() {
            [one] if self.auto_mss => Layout::Auto {
                stream: one.clone(),
            },
            [one] => Layout::Single {
                stream: one.clone(),
            },
            _ => Layout::Multi,
        };
        let mut o = PresentationOptions::vod(layout);
        o.manifest_name = self.manifest_name.clone();
        o.chunk_length = u64::from(self.chunk_length.max(1)) * MSS_TIMESCALE;
        o.chunk_on_idr = self.chunk_on_idr;
        o.live = self.is_live;
        o.playlist = match self.playlist_type {
            PlaylistType::Appending => Playlist::Appending,
            PlaylistType::Rolling => Playlist::Rolling {
                length: self.playlist_length.max(1) as usize,
                stale_retention: self.stale_retention_count as usize,
            },
        };
        o
    }
}

pub use crate::status::ConfigStatus;

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

pub(super) struct GroupHandle {
    pub config_ids: Vec<u64>,
    stop: watch::Sender<StopMode>,
    /// Kept in the state file (created over the API with keepAlive).
    pub saved: bool,
}

/// How a group comes to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
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
pub(super) struct Inner {
    pub configs: BTreeMap<u64, MssConfigEntry>,
    pub groups: BTreeMap<u64, GroupHandle>,
}

/// Owns every MSS config and its running output.
#[derive(Clone)]
pub struct OutputManager {
    streams: StreamRegistry,
    inner: Arc<Mutex<Inner>>,
    /// The allowed roots with their links resolved (see [`real_path`]).
    allowed_roots: Arc<Vec<PathBuf>>,
    max_configs: usize,
    /// `[limits]`' ceilings on one fragment (seconds, bytes); `None`: the core's defaults.
    fragment_limits: (Option<u64>, Option<u64>),
    ids: crate::status::ConfigIds,
    /// Group ids: a sequence of their own, so config ids (which operators script against)
    /// follow each other without gaps.
    group_ids: crate::status::ConfigIds,
    pub(super) stats: Arc<super::stats::WriteStats>,
    pub(super) events: EventBus,
    pub(super) store: crate::state::StateStore,
    /// Filled with what the writers write, so the web server serves it from memory.
    web_cache: crate::web::cache::Cache,
}

impl OutputManager {
    /// A manager that accepts any target folder (library and test use).
    pub fn new(streams: StreamRegistry) -> Self {
        Self {
            streams,
            inner: Arc::default(),
            allowed_roots: Arc::default(),
            max_configs: usize::MAX,
            fragment_limits: (None, None),
            ids: Default::default(),
            group_ids: Default::default(),
            stats: Arc::default(),
            events: EventBus::disabled(),
            store: crate::state::StateStore::in_memory(),
            web_cache: crate::web::cache::Cache::default(),
        }
    }

    /// The web server's file cache, which the writers fill and invalidate.
    pub fn with_web_cache(mut self, cache: crate::web::cache::Cache) -> Self {
        self.web_cache = cache;
        self
    }

    pub fn web_cache(&self) -> &crate::web::cache::Cache {
        &self.web_cache
    }

    /// Outputs report their streams and chunks on this bus.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// Keeps API-created configs in this store (the server's state file).
    pub fn with_state(mut self, store: crate::state::StateStore) -> Self {
        self.store = store;
        self
    }

    /// Confines targetFolder to these folders (the server passes its web root and the
    /// configured output roots).
    pub fn with_allowed_roots(mut self, roots: Vec<PathBuf>) -> Self {
        self.allowed_roots = Arc::new(roots.iter().map(|r| real_path(r)).collect());
        self
    }

    /// At most this many MSS configs (one per local stream of a createMSSStream or autoMSS
    /// presentation); a restored config counts but is never refused.
    pub fn with_max_configs(mut self, max: usize) -> Self {
        self.max_configs = max;
        self
    }

    /// Ceilings on one fragment's duration (seconds) and size (bytes): a fragment that
    /// would pass one is cut even without a keyframe (`None`: the core's default).
    pub fn with_fragment_limits(mut self, seconds: Option<u64>, bytes: Option<u64>) -> Self {
        self.fragment_limits = (seconds, bytes);
        self
    }

    /// The core's presentation for a config, with this server's fragment ceilings.
    pub(super) fn presentation_for(&self, params: &MssParams) -> Presentation {
        let mut o = params.presentation_options();
        let (seconds, bytes) = self.fragment_limits;
        if let Some(s) = seconds {
            o.max_fragment_duration = Some(s.saturating_mul(MSS_TIMESCALE));
        }
        if let Some(b) = bytes {
            o.max_fragment_bytes = b;
        }
        Presentation::new(o)
    }

    /// Takes config ids from `ids`, shared with the other kinds of config.
    pub fn with_config_ids(mut self, ids: crate::status::ConfigIds) -> Self {
        self.ids = ids;
        self
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_stats(&self) -> &super::stats::WriteStats {
        &self.stats
    }

    /// Creates a config (one id per local stream name) and starts its output, which waits
    /// for its streams if they are not there yet. `Err` is the reply's description. Configs
    /// made this way come from the server's configuration and are not saved.
    pub fn create_mss(&self, params: MssParams) -> Result<Vec<u64>, String> {
        self.start_group(params, Origin::Config).map(|(ids, _)| ids)
    }

    /// As [`Self::create_mss`], also returning the output's task, which ends when the output
    /// has stopped and written everything (autoMSS waits for it before a returning stream
    /// starts over in the same folder).
    pub fn create(
        &self,
        params: MssParams,
    ) -> Result<(Vec<u64>, tokio::task::JoinHandle<()>), String> {
        self.start_group(params, Origin::Config)
    }

    /// Checks a config, records it and starts its group task; how depends on where it came
    /// from (a restored one keeps its ids and its folder, and resumes).
    pub(super) fn start_group(
        &self,
        params: MssParams,
        origin: Origin,
    ) -> Result<(Vec<u64>, tokio::task::JoinHandle<()>), String> {
        let fail = |why: String| format!("Unable to create MSS stream: {why}");
        if params.local_stream_names.is_empty() {
            return Err(fail("localStreamNames is empty".into()));
        }
        if params.bandwidths.len() != params.local_stream_names.len() {
            return Err(fail(
                "bandwidths and localStreamNames have different number of elements".into(),
            ));
        }
        layout::validate_component("groupName", &params.group_name).map_err(fail)?;
        layout::validate_component("manifestName", &params.manifest_name).map_err(fail)?;
        for name in &params.local_stream_names {
            layout::validate_component("localStreamName", name).map_err(fail)?;
        }
        let mut seen = params.bandwidths.clone();
        seen.retain(|b| *b != 0);
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(fail(
                "two streams have the same bandwidth; quality levels need distinct bitrates".into(),
            ));
        }
        let target = self.resolve_target(&params.target_folder).map_err(fail)?;
        let group_dir = target.join(&params.group_name);
        // The group folder, or the stream's own folder in it, may already exist as a link
        // that leads out: written into and cleaned, so checked as well.
        for dir in [group_dir.clone(), params.own_folder(&group_dir)] {
            self.confined(&dir).map_err(|_| {
                fail(format!(
                    "targetFolder {} with groupName {} leads outside the folders this server writes to (a symbolic link)",
                    params.target_folder, params.group_name
                ))
            })?;
        }
        let manifest_path = group_dir.join(
            params
                .presentation_options()
                .layout
                .manifest_path(&params.manifest_name),
        );

        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| fail("no runtime to run the output on".into()))?;
        let mut inner = self.lock();
        for c in inner.configs.values() {
            // autoMSS presentations of different streams share their group folder.
            let apart = c.params.auto_mss
                && params.auto_mss
                && !params.local_stream_names.contains(&c.local_stream_name);
            if c.params.group_name == params.group_name
                && c.group_target_folder == group_dir
                && !apart
            {
                if let Some(s) = params
                    .local_stream_names
                    .iter()
                    .find(|s| **s == c.local_stream_name)
                {
                    return Err(fail(format!(
                        "group {} already packages stream {s}",
                        params.group_name
                    )));
                }
                return Err(fail(format!(
                    "group {} is already in use",
                    params.group_name
                )));
            }
        }
        let restored = matches!(origin, Origin::Restored { .. });
        if !restored && inner.configs.len() + params.local_stream_names.len() > self.max_configs {
            return Err(fail(format!(
                "the server holds {} MSS configs; the limit is {} ([security] max_mss_configs)",
                inner.configs.len(),
                self.max_configs
            )));
        }
        if let Origin::Restored {
            group_id,
            config_ids,
            ..
        } = &origin
        {
            let mut distinct = config_ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() != config_ids.len() {
                return Err(fail("its saved ids repeat".into()));
            }
            let taken = config_ids
                .iter()
                .find(|id| inner.configs.contains_key(id))
                .or(Some(group_id).filter(|g| inner.groups.contains_key(g)));
            if let Some(id) = taken {
                return Err(fail(format!("id {id} is already in use")));
            }
        }
        if restored {
            // The folder holds the presentation this config resumes: neither cleaned nor
            // refused for existing.
        } else if params.cleanup_destination {
            let own = params.own_folder(&group_dir);
            cleanup(&own).map_err(|e| fail(format!("cleaning {}: {e}", own.display())))?;
        } else if !params.overwrite_destination && manifest_path.exists() {
            return Err(fail(format!(
                "{} exists and overwriteDestination is 0",
                manifest_path.display()
            )));
        }

        let (group_id, mut given) = match &origin {
            Origin::Restored {
                group_id,
                config_ids,
                ..
            } => {
                for id in config_ids {
                    self.ids.skip_past(*id);
                }
                self.group_ids.skip_past(*group_id);
                (*group_id, config_ids.clone().into_iter())
            }
            _ => (self.group_ids.next(), Vec::new().into_iter()),
        };
        // A resumed presentation keeps the bitrates in its folder names.
        let mut running = params.clone();
        if let Origin::Restored { measured, .. } = &origin {
            for (b, m) in running.bandwidths.iter_mut().zip(measured) {
                if *b == 0 {
                    *b = *m;
                }
            }
        }
        let now = unix_now();
        let mut ids = Vec::new();
        for (i, name) in params.local_stream_names.iter().enumerate() {
            let id = given.next().unwrap_or_else(|| self.ids.next());
            inner.configs.insert(
                id,
                MssConfigEntry {
                    config_id: id,
                    params: params.clone(),
                    local_stream_name: name.clone(),
                    bandwidth: running.bandwidths[i],
                    current: StatusRecord {
                        status: ConfigStatus::WaitingForStream,
                        timestamp: now,
                        unique_stream_id: 0,
                    },
                    previous: None,
                    group_target_folder: group_dir.clone(),
                    group_id,
                    last_error: None,
                    stream_id: self.streams.next_unique_id(),
                },
            );
            ids.push(id);
        }
        let (stop_tx, stop_rx) = watch::channel(StopMode::Running);
        inner.groups.insert(
            group_id,
            GroupHandle {
                config_ids: ids.clone(),
                stop: stop_tx,
                saved: origin != Origin::Config && params.keep_alive,
            },
        );
        drop(inner);

        let ctx = GroupContext {
            manager: self.clone(),
            streams: self.streams.clone(),
            params: running,
            config_ids: ids.clone(),
            group_dir,
            stop: stop_rx,
            resume: restored,
        };
        // Every log line of the group carries its name and config ids (a warn span, so the
        // fields show with the default `warn` filter too).
        let span = tracing::warn_span!("group", group = %ctx.params.group_name, config_ids = ?ids);
        let task = runtime.spawn(tracing::Instrument::instrument(run_group(ctx), span));
        Ok((ids, task))
    }

    /// A saved config that no longer validates (a targetFolder outside the current web
    /// root, say): kept with its ids, its error and the status ConnectionFailed, so it shows
    /// in listConfig, stays in the state file and can be removed, while the server starts.
    /// `false` if its ids are taken (it cannot be told apart from the config holding them).
    pub(super) fn record_failed(
        &self,
        params: MssParams,
        group_id: u64,
        config_ids: &[u64],
        measured: &[u32],
        error: String,
    ) -> bool {
        let mut inner = self.lock();
        let all = || config_ids.iter().chain([&group_id]);
        if all().any(|id| inner.groups.contains_key(id) || inner.configs.contains_key(id)) {
            return false;
        }
        for id in config_ids {
            self.ids.skip_past(*id);
        }
        self.group_ids.skip_past(group_id);
        let group_dir = normalize(Path::new(&params.target_folder)).join(&params.group_name);
        let now = unix_now();
        for (i, (id, name)) in config_ids
            .iter()
            .zip(&params.local_stream_names)
            .enumerate()
        {
            inner.configs.insert(
                *id,
                MssConfigEntry {
                    config_id: *id,
                    params: params.clone(),
                    local_stream_name: name.clone(),
                    // Kept so the next save still holds what the folder's presentation
                    // was measured at.
                    bandwidth: measured
                        .get(i)
                        .or(params.bandwidths.get(i))
                        .copied()
                        .unwrap_or(0),
                    current: StatusRecord {
                        status: ConfigStatus::ConnectionFailed,
                        timestamp: now,
                        unique_stream_id: 0,
                    },
                    previous: None,
                    group_target_folder: group_dir.clone(),
                    group_id,
                    last_error: Some(error.clone()),
                    // Not streaming: never listed as an outbound stream.
                    stream_id: 0,
                },
            );
        }
        // No task listens: removeConfig only drops the entries (never files it did not make).
        let (stop, _) = watch::channel(StopMode::Running);
        inner.groups.insert(
            group_id,
            GroupHandle {
                config_ids: config_ids.to_vec(),
                stop,
                saved: true,
            },
        );
        true
    }

    /// Where each running config's manifest is (or will be) written: a request for one of
    /// these that is not there yet is for a presentation that is starting.
    pub fn manifest_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .lock()
            .configs
            .values()
            // A failed config (restored, no longer valid) writes nothing to wait for.
            .filter(|c| c.last_error.is_none())
            .map(|c| {
                let layout = c.params.presentation_options().layout;
                normalize(
                    &c.group_target_folder
                        .join(layout.manifest_path(&c.params.manifest_name)),
                )
            })
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Every MSS config entry, by id.
    pub fn list_mss(&self) -> Vec<MssConfigEntry> {
        self.lock().configs.values().cloned().collect()
    }

    /// removeConfig by id: stops the group's output (all its configs go, as one createMSSStream
    /// made them together); with `remove_files`, deletes the group folder.
    pub fn remove_config(&self, id: u64, remove_files: bool) -> Result<Vec<u64>, String> {
        let (ids, saved) = self.remove_unsaved(id, remove_files)?;
        if saved {
            self.save();
        }
        Ok(ids)
    }

    fn remove_unsaved(&self, id: u64, remove_files: bool) -> Result<(Vec<u64>, bool), String> {
        let mut inner = self.lock();
        let Some(group_id) = inner.configs.get(&id).map(|c| c.group_id) else {
            return Err(format!("Config {id} not found"));
        };
        let Some(group) = inner.groups.remove(&group_id) else {
            return Err(format!("Config {id} not found"));
        };
        for cid in &group.config_ids {
            inner.configs.remove(cid);
        }
        let _ = group.stop.send(StopMode::Remove {
            delete_files: remove_files,
        });
        Ok((group.config_ids, group.saved))
    }

    /// removeConfig by groupName: every config of the group. Returns the removed ids.
    pub fn remove_group(&self, group: &str, remove_files: bool) -> Result<Vec<u64>, String> {
        let first = self
            .lock()
            .configs
            .values()
            .find(|c| c.params.group_name == group)
            .map(|c| c.config_id);
        match first {
            Some(id) => self.remove_config(id, remove_files),
            None => Err(format!("No config for group {group}")),
        }
    }

    /// Stops every output, leaving files as they are (server shutdown).
    pub fn shutdown_all(&self) {
        for g in self.lock().groups.values() {
            let _ = g.stop.send(StopMode::Shutdown);
        }
    }

    /// Records a status change of one stream's config entry.
    pub(super) fn set_status(&self, config_id: u64, status: ConfigStatus, unique_stream_id: u64) {
        if let Some(c) = self.lock().configs.get_mut(&config_id) {
            if c.current.status != status {
                let previous = std::mem::replace(
                    &mut c.current,
                    StatusRecord {
                        status,
                        timestamp: unix_now(),
                        unique_stream_id,
                    },
                );
                c.previous = Some(previous);
            }
        }
    }

    /// Records a measured bandwidth; a saved config keeps it, so the level comes back after
    /// a restart with the bitrate its files are named by.
    pub(super) fn set_bandwidth(&self, config_id: u64, bandwidth: u32) {
        let saved = {
            let mut inner = self.lock();
            let Some(c) = inner.configs.get_mut(&config_id) else {
                return;
            };
            let changed = c.bandwidth != bandwidth;
            c.bandwidth = bandwidth;
            let group_id = c.group_id;
            changed && inner.groups.get(&group_id).is_some_and(|g| g.saved)
        };
        if saved {
            self.save();
        }
    }

    /// Resolves targetFolder against the working directory (as EMS does) and checks that it
    /// stays inside an allowed root, following symbolic links: a link inside the web root
    /// that leads elsewhere does not make elsewhere writable.
    fn resolve_target(&self, target: &str) -> Result<PathBuf, String> {
        if target.is_empty() || target.contains('\0') {
            return Err("targetFolder is empty or invalid".into());
        }
        let resolved = normalize(Path::new(target));
        match self.confined(&resolved) {
            Ok(()) => Ok(resolved),
            Err(()) => Err(format!(
                "targetFolder {target} resolves to {}, outside the folders this server writes to ({})",
                resolved.display(),
                self.allowed_roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// `Ok` when `path`, links resolved, lies inside an allowed root (or none are set).
    /// Asked again right before files are deleted, since links can appear after creation.
    pub(super) fn confined(&self, path: &Path) -> Result<(), ()> {
        if self.allowed_roots.is_empty() {
            return Ok(());
        }
        match resolve_links(path) {
            Some(real) if self.allowed_roots.iter().any(|r| real.starts_with(r)) => Ok(()),
            _ => Err(()),
        }
    }
}

/// An absolute, lexically normalized path (`..` resolved without touching the disk, so a
/// folder that does not exist yet can still be checked).
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where `path` really is: normalized, then its longest existing ancestor resolved through
/// symbolic links (`canonicalize`), with the parts that do not exist yet appended (they
/// hold no links, not existing). `None` when a link along the way leads nowhere (a
/// dangling link would be created at its target).
pub fn resolve_links(path: &Path) -> Option<PathBuf> {
    let lexical = normalize(path);
    let mut existing = lexical.as_path();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(mut real) => {
                real.extend(missing.iter().rev());
                return Some(real);
            }
            // It exists (as a link) yet cannot be resolved: dangling or a loop.
            Err(_) if existing.symlink_metadata().is_ok() => return None,
            Err(_) => {
                missing.push(existing.file_name()?.to_owned());
                existing = existing.parent()?;
            }
        }
    }
}

/// A root as the checks compare against it: links resolved where possible, else lexical.
pub fn real_path(path: &Path) -> PathBuf {
    resolve_links(path).unwrap_or_else(|| normalize(path))
}

/// cleanupDestination: the manifest and fragment files of an earlier run go.
fn cleanup(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            cleanup(&path)?;
            let _ = std::fs::remove_dir(&path);
        } else if path.extension().is_some_and(|e| e == "fmp4" || e == "ismc") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(root: &Path) -> OutputManager {
        OutputManager::new(StreamRegistry::new()).with_allowed_roots(vec![root.to_path_buf()])
    }

    #[test]
    fn target_folders_stay_inside_the_allowed_roots() {
        let root = std::env::temp_dir().join("smoothcast-roots").join("www");
        let m = manager(&root);
        let inside = root.join("a/../b").display().to_string();
        assert_eq!(m.resolve_target(&inside), Ok(root.join("b")));
        for outside in [
            root.join("../elsewhere").display().to_string(),
            root.join("x/../../..").display().to_string(),
            "/etc".to_string(),
            String::new(),
            "bad\0path".to_string(),
        ] {
            assert!(
                m.resolve_target(&outside).is_err(),
                "{outside:?} was accepted"
            );
        }
    }

    /// A link inside the web root leading out is not a way out: not as targetFolder, not as
    /// the group folder, and not at removeConfig time when it appears after creation.
    #[tokio::test]
    async fn symbolic_links_do_not_lead_out_of_the_roots() {
        let base = std::env::temp_dir().join(format!("smoothcast-links-{}", std::process::id()));
        let root = base.join("www");
        let outside = base.join("elsewhere");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("out")).expect("symlink");
        std::os::unix::fs::symlink(&outside, root.join("g")).expect("symlink");
        std::os::unix::fs::symlink(base.join("nowhere"), root.join("dangling")).expect("symlink");
        let m = manager(&root);
        for target in ["out", "out/sub", "dangling", "dangling/x"] {
            let t = root.join(target).display().to_string();
            let e = m.resolve_target(&t).expect_err(target);
            assert!(e.contains("outside the folders"), "{e}");
            let mut p = MssParams::with_defaults(vec!["cam".into()], t, "grp".into());
            p.cleanup_destination = true;
            assert!(m.create_mss(p).is_err(), "{target}");
        }
        let target = root.display().to_string();
        let e = m
            .create_mss(MssParams::with_defaults(
                vec!["cam".into()],
                target.clone(),
                "g".into(),
            ))
            .expect_err("the group folder is a link out");
        assert!(e.contains("symbolic link"), "{e}");
        // A link to a folder inside the root is fine.
        std::fs::create_dir_all(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).expect("symlink");
        assert!(m
            .resolve_target(&root.join("alias").display().to_string())
            .is_ok());

        // Created while real, swapped for a link before removeConfig removeFiles=1.
        let keep = outside.join("keep.txt");
        std::fs::write(&keep, b"keep").expect("write");
        let (_, task) = m
            .create(MssParams::with_defaults(
                vec!["cam".into()],
                target,
                "later".into(),
            ))
            .expect("created");
        let later = root.join("later");
        std::fs::create_dir_all(&later).expect("mkdir");
        std::fs::remove_dir_all(&later).expect("rm");
        std::os::unix::fs::symlink(&outside, &later).expect("symlink");
        assert!(m.remove_group("later", true).is_ok());
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("group stops")
            .expect("join");
        assert!(keep.exists(), "nothing deleted through the link");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn fragment_limits_reach_the_core() {
        let root = std::env::temp_dir();
        let params =
            MssParams::with_defaults(vec!["cam".into()], root.display().to_string(), "g".into());
        let default = manager(&root).presentation_for(&params);
        assert_eq!(
            default.options().max_fragment_duration,
            None,
            "the core decides"
        );
        let m = manager(&root).with_fragment_limits(Some(3), Some(1_000));
        let p = m.presentation_for(&params);
        assert_eq!(p.options().max_fragment_duration, Some(3 * MSS_TIMESCALE));
        assert_eq!(p.options().max_fragment_bytes, 1_000);
    }

    #[tokio::test]
    async fn mss_configs_are_capped() {
        let root = std::env::temp_dir().join(format!("smoothcast-cap-{}", std::process::id()));
        let m = manager(&root).with_max_configs(2);
        let target = root.display().to_string();
        let p = |names: &[&str], group: &str| {
            let mut p = MssParams::with_defaults(
                names.iter().map(|n| n.to_string()).collect(),
                target.clone(),
                group.into(),
            );
            p.bandwidths = (1..=names.len() as u32).map(|i| i * 100_000).collect();
            p
        };
        m.create_mss(p(&["a"], "g1")).expect("one");
        let e = m
            .create_mss(p(&["b", "c"], "g2"))
            .expect_err("three in all");
        assert!(e.contains("the limit is 2"), "{e}");
        m.create_mss(p(&["b"], "g2")).expect("two");
        assert!(m.remove_group("g1", true).is_ok());
        m.create_mss(p(&["c"], "g3")).expect("room again");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[tokio::test]
    async fn create_refuses_bad_names_and_a_busy_group() {
        let root = std::env::temp_dir().join(format!("smoothcast-create-{}", std::process::id()));
        let m = manager(&root);
        let target = root.display().to_string();
        let params = |group: &str| {
            MssParams::with_defaults(vec!["cam".into()], target.clone(), group.into())
        };
        assert!(m.create_mss(params("../up")).is_err());
        assert!(m
            .create_mss(MssParams::with_defaults(
                vec!["a/b".into()],
                target.clone(),
                "g".into()
            ))
            .is_err());
        let mut outside = params("g");
        outside.target_folder = root.join("..").display().to_string();
        assert!(m.create_mss(outside).is_err());
        let ids = m.create_mss(params("g")).expect("created");
        assert_eq!(ids.len(), 1);
        assert!(
            m.create_mss(params("g")).is_err(),
            "the same stream and group twice"
        );
        assert_eq!(m.remove_group("g", true), Ok(ids));
        let _ = std::fs::remove_dir_all(&root);
    }
}
