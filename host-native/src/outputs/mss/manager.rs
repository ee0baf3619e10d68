//! The output manager: the configs and groups it holds, how it is built, and what the rest
//! of the server asks of it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use smoothcast_core::presentation::Presentation;
use smoothcast_core::time::MSS_TIMESCALE;

use super::records::{unix_now, Inner, Origin, StopMode};
use super::{ConfigStatus, CreateError, MssConfigEntry, MssParams, StatusRecord};
use crate::events::EventBus;
use crate::paths::{normalize, real_path};
use crate::streams::StreamRegistry;

/// Owns every MSS config and its running output.
#[derive(Clone)]
pub struct OutputManager {
    pub(super) streams: StreamRegistry,
    pub(super) inner: Arc<Mutex<Inner>>,
    /// The allowed roots with their links resolved (see [`real_path`]).
    pub(super) allowed_roots: Arc<Vec<PathBuf>>,
    pub(super) max_configs: usize,
    /// `[limits]`' ceilings on one fragment (seconds, bytes); `None`: the core's defaults.
    pub(super) fragment_limits: (Option<u64>, Option<u64>),
    pub(super) ids: crate::status::ConfigIds,
    /// Group ids: a sequence of their own, so config ids (which operators script against)
    /// follow each other without gaps.
    pub(super) group_ids: crate::status::ConfigIds,
    pub(in crate::outputs) stats: Arc<crate::outputs::stats::WriteStats>,
    pub(in crate::outputs) events: EventBus,
    pub(in crate::outputs) store: crate::state::StateStore,
    /// Filled with what the writers write, so the web server serves it from memory.
    pub(super) web_cache: crate::web::cache::Cache,
    /// `[object_store]`, for targetFolders in a store (`s3://...`).
    pub(super) object_store: Arc<crate::config::object_store::ObjectStoreConfig>,
    /// The web root this process serves (canonical): writers into it keep look-ahead
    /// versions in `web_cache` instead of writing them ([`crate::web::lookahead`]).
    pub(super) served_root: Option<Arc<PathBuf>>,
    /// `[web] live_rewrite_in_place`: live fragments in folders are written once and their
    /// heads rewritten in place ([`crate::disk::rewrite_head`]).
    pub(super) rewrite_in_place: bool,
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
            object_store: Arc::default(),
            served_root: None,
            rewrite_in_place: true,
        }
    }

    /// How targetFolders in an object store (`s3://...`) are reached, over `AWS_*`.
    pub fn with_object_store(
        mut self,
        config: crate::config::object_store::ObjectStoreConfig,
    ) -> Self {
        self.object_store = Arc::new(config);
        self
    }

    pub(in crate::outputs) fn object_store_config(
        &self,
    ) -> Arc<crate::config::object_store::ObjectStoreConfig> {
        self.object_store.clone()
    }

    /// The web server's file cache, which the writers fill and invalidate.
    pub fn with_web_cache(mut self, cache: crate::web::cache::Cache) -> Self {
        self.web_cache = cache;
        self
    }

    pub fn web_cache(&self) -> &crate::web::cache::Cache {
        &self.web_cache
    }

    /// The web server of this process serves `root`: live writers into it may keep the
    /// look-ahead versions of their newest fragments in memory for it.
    pub fn with_served_root(mut self, root: &std::path::Path) -> Self {
        self.served_root = Some(Arc::new(crate::paths::real_path(root)));
        self
    }

    /// Whether live fragments in `folder` have their heads rewritten in place (a folder, not
    /// a store, and not turned off).
    pub fn rewrites_in_place(&self, folder: &str) -> bool {
        self.rewrite_in_place && !crate::store::is_store_location(folder)
    }

    /// `false`: every version of a live fragment is a new file put in place by a rename
    /// (or kept in memory, [`crate::web::lookahead`]), as before.
    pub fn with_rewrite_in_place(mut self, on: bool) -> Self {
        self.rewrite_in_place = on;
        self
    }

    /// Whether a writer into `dir` keeps look-ahead versions in memory: this process
    /// serves the folder, the memory for them is not turned off, and the fragments are not
    /// rewritten in place (then every version is on disk at the price of one).
    pub fn keeps_lookahead(&self, dir: &std::path::Path) -> bool {
        self.web_cache.lookahead().enabled()
            && !self.rewrites_in_place(&dir.to_string_lossy())
            && self
                .served_root
                .as_ref()
                .is_some_and(|root| crate::paths::real_path(dir).starts_with(root.as_path()))
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
    pub(in crate::outputs) fn presentation_for(&self, params: &MssParams) -> Presentation {
        let mut o = params.presentation_options();
        let (seconds, bytes) = self.fragment_limits;
        if let Some(s) = seconds {
            o.max_fragment_duration = Some(s.saturating_mul(MSS_TIMESCALE));
        }
        if let Some(b) = bytes {
            o.max_fragment_bytes = b;
        }
        o.rewrite_in_place = o.live && self.rewrites_in_place(&params.target_folder);
        Presentation::new(o)
    }

    /// Takes config ids from `ids`, shared with the other kinds of config.
    pub fn with_config_ids(mut self, ids: crate::status::ConfigIds) -> Self {
        self.ids = ids;
        self
    }

    pub(in crate::outputs) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_stats(&self) -> &crate::outputs::stats::WriteStats {
        &self.stats
    }

    /// Creates a config (one id per local stream name) and starts its output, which waits
    /// for its streams if they are not there yet. `Err` shows as the reply's description. Configs
    /// made this way come from the server's configuration and are not saved.
    pub fn create_mss(&self, params: MssParams) -> Result<Vec<u64>, CreateError> {
        self.start_group(params, Origin::Config).map(|(ids, _)| ids)
    }

    /// As [`Self::create_mss`], also returning the output's task, which ends when the output
    /// has stopped and written everything (autoMSS waits for it before a returning stream
    /// starts over in the same folder).
    pub fn create(
        &self,
        params: MssParams,
    ) -> Result<(Vec<u64>, tokio::task::JoinHandle<()>), CreateError> {
        self.start_group(params, Origin::Config)
    }

    /// Where each running config's manifest is (or will be) written: a request for one of
    /// these that is not there yet is for a presentation that is starting.
    pub fn manifest_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .lock()
            .configs
            .values()
            // A failed config (restored, no longer valid) writes nothing to wait for.
            .filter(|c| c.last_error.is_none() && !c.params.pushes())
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

    /// Stops every output, leaving files as they are (server shutdown).
    pub fn shutdown_all(&self) {
        for g in self.lock().groups.values() {
            let _ = g.stop.send(StopMode::Shutdown);
        }
    }

    /// Records a status change of one stream's config entry.
    pub(in crate::outputs) fn set_status(
        &self,
        config_id: u64,
        status: ConfigStatus,
        unique_stream_id: u64,
    ) {
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
    pub(in crate::outputs) fn set_bandwidth(&self, config_id: u64, bandwidth: u32) {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_manager as manager;
    use super::*;

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
}
