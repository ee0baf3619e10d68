//! MSS configs across restarts: createMSSStream over the API (with keepAlive, as EMS keeps it
//! in pushPullSetup.xml) is saved in the server's state file, and comes back at start with
//! its ids and measured bandwidths, its presentation resuming from its folder.

use serde::{Deserialize, Serialize};

use super::mss::{CreateError, MssParams, Origin, OutputManager};
#[cfg(test)]
use crate::status::ConfigStatus;

/// One group as the state file keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedGroup {
    group_id: u64,
    config_ids: Vec<u64>,
    /// As created: `bandwidths=0` stays 0, so a new presentation of this config measures
    /// its streams again.
    params: MssParams,
    /// Per config, the bitrate its level was measured at: the presentation in the folder
    /// resumes with it (its fragment paths and manifest contain it).
    #[serde(default)]
    measured: Vec<u32>,
}

/// Why the state file's MSS section could not be brought back at all (one config that
/// cannot start is not this: it comes back as a failed config).
#[derive(Debug)]
pub enum RestoreError {
    Malformed(serde_json::Error),
    /// A config whose ids do not fit its streams or are taken (named by its label).
    UnusableIds(String),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the saved MSS configs are malformed: {e}"),
            Self::UnusableIds(label) => write!(f, "{label}: its ids are unusable"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// What [`OutputManager::restore`] brought back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Groups running again.
    pub running: usize,
    /// Groups kept as failed configs (they no longer validate).
    pub failed: usize,
}

/// The state file's section for MSS configs.
const STATE_SECTION: &str = "mss";

impl OutputManager {
    /// createMSSStream over the API: like [`OutputManager::create_mss`], and kept in the
    /// state file (with keepAlive, as EMS keeps it) so it comes back after a restart.
    pub fn create_saved_mss(&self, params: MssParams) -> Result<Vec<u64>, CreateError> {
        let (ids, _) = self.start_group(params, Origin::Api)?;
        self.save();
        Ok(ids)
    }

    /// Brings back the configs the state file holds, with their ids; each presentation
    /// resumes from its folder. A config that no longer validates (its folder outside the
    /// current web root, say) comes back as a failed config, listed with its error and
    /// removable, and the server starts anyway: one stale config must not keep every other
    /// stream down. Only a section that cannot be read at all is an error.
    pub fn restore(&self) -> Result<Restored, RestoreError> {
        let Some(section) = self.store.section(STATE_SECTION) else {
            return Ok(Restored::default());
        };
        let groups: Vec<SavedGroup> =
            serde_json::from_value(section).map_err(RestoreError::Malformed)?;
        let mut restored = Restored::default();
        for g in groups {
            let label = format!(
                "MSS config {:?} (group {})",
                g.config_ids, g.params.group_name
            );
            let started = if g.config_ids.len() != g.params.local_stream_names.len() {
                Err("one config id per local stream is needed".to_string())
            } else {
                let origin = Origin::Restored {
                    group_id: g.group_id,
                    config_ids: g.config_ids.clone(),
                    measured: g.measured.clone(),
                };
                self.start_group(g.params.clone(), origin)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            match started {
                Ok(()) => restored.running += 1,
                Err(e) => {
                    tracing::error!("state file: {label} cannot start: {e}; kept as a failed config (removeConfig removes it)");
                    crate::metrics::get().error(crate::metrics::ErrorKind::Packaging);
                    let ids_fit = g.config_ids.len() == g.params.local_stream_names.len();
                    if ids_fit
                        && self.record_failed(g.params, g.group_id, &g.config_ids, &g.measured, e)
                    {
                        restored.failed += 1;
                    } else {
                        return Err(RestoreError::UnusableIds(label));
                    }
                }
            }
        }
        Ok(restored)
    }

    /// Writes every saved group to the state file (errors are logged: the outputs run on).
    pub(super) fn save(&self) {
        let result = self.store.update_section(STATE_SECTION, || {
            let inner = self.lock();
            let groups: Vec<SavedGroup> = inner
                .groups
                .iter()
                .filter(|(_, g)| g.saved)
                .filter_map(|(group_id, g)| {
                    let first = inner.configs.get(g.config_ids.first()?)?;
                    let measured = g
                        .config_ids
                        .iter()
                        .map(|id| inner.configs.get(id).map_or(0, |c| c.bandwidth))
                        .collect();
                    Some(SavedGroup {
                        group_id: *group_id,
                        config_ids: g.config_ids.clone(),
                        params: first.params.clone(),
                        measured,
                    })
                })
                .collect();
            serde_json::to_value(groups).unwrap_or_default()
        });
        if let Err(e) = result {
            tracing::error!("{e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::streams::StreamRegistry;

    fn manager(root: &Path) -> OutputManager {
        OutputManager::new(StreamRegistry::new()).with_allowed_roots(vec![root.to_path_buf()])
    }

    #[tokio::test]
    async fn api_configs_are_saved_and_come_back_with_their_ids() {
        let root = std::env::temp_dir().join(format!("smoothcast-saved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let state = root.join("s.state.json");
        let store = crate::state::StateStore::open(&state).expect("store");
        let m = manager(&root).with_state(store);
        let target = root.display().to_string();
        let params = |streams: &[&str], group: &str| {
            MssParams::with_defaults(
                streams.iter().map(|s| s.to_string()).collect(),
                target.clone(),
                group.into(),
            )
        };
        let saved = m
            .create_saved_mss(params(&["a", "b"], "g"))
            .expect("created");
        // Made from the server's own configuration, or without keepAlive: not saved.
        m.create_mss(params(&["c"], "own")).expect("created");
        let mut once = params(&["d"], "once");
        once.keep_alive = false;
        m.create_saved_mss(once).expect("created");
        let gone = m.create_saved_mss(params(&["e"], "gone")).expect("created");
        m.remove_config(gone[0], false).expect("removed");
        m.set_bandwidth(saved[1], 640_000);
        m.shutdown_all();

        let again =
            manager(&root).with_state(crate::state::StateStore::open(&state).expect("store"));
        assert_eq!(
            again.restore().map_err(|e| e.to_string()),
            Ok(Restored {
                running: 1,
                failed: 0
            })
        );
        let back = again.list_mss();
        assert_eq!(
            back.iter()
                .map(|c| (c.config_id, c.bandwidth))
                .collect::<Vec<_>>(),
            vec![(saved[0], 0), (saved[1], 640_000)]
        );
        assert_eq!(back[0].params.group_name, "g");
        assert_eq!(
            back[1].params.bandwidths,
            vec![0, 0],
            "the config keeps bandwidths=0; the measured one is for the resume"
        );
        assert_eq!(
            back.iter().map(|c| c.config_id).collect::<Vec<_>>(),
            vec![saved[0], saved[0] + 1],
            "consecutive config ids"
        );
        let next = again.create_mss(params(&["x"], "x")).expect("created");
        assert!(next[0] > saved[1], "new ids follow the restored ones");
        // Restoring twice would reuse the ids: refused, naming the config.
        let e = again.restore().expect_err("ids in use").to_string();
        assert!(e.contains("group g"), "{e}");
        again.shutdown_all();
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A config saved under one web root, restored by a server with another: it comes back
    /// failed, with its error, stays saved until removed, and removing it works.
    #[tokio::test]
    async fn a_config_that_no_longer_validates_comes_back_failed() {
        let root = std::env::temp_dir().join(format!("smoothcast-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let state = root.join("s.state.json");
        let old_root = root.join("old");
        let m =
            manager(&old_root).with_state(crate::state::StateStore::open(&state).expect("store"));
        let ids = m
            .create_saved_mss(MssParams::with_defaults(
                vec!["cam".into()],
                old_root.display().to_string(),
                "g".into(),
            ))
            .expect("created");
        m.shutdown_all();

        let open = || crate::state::StateStore::open(&state).expect("store");
        let again = manager(&root.join("new")).with_state(open());
        assert_eq!(
            again.restore().map_err(|e| e.to_string()),
            Ok(Restored {
                running: 0,
                failed: 1
            })
        );
        let listed = again.list_mss();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].config_id, ids[0]);
        assert_eq!(listed[0].current.status, ConfigStatus::ConnectionFailed);
        let error = listed[0].last_error.as_deref().unwrap_or_default();
        assert!(error.contains("outside the folders"), "{error}");
        let next = again
            .create_mss(MssParams::with_defaults(
                vec!["x".into()],
                root.join("new").display().to_string(),
                "x".into(),
            ))
            .expect("created");
        assert!(next[0] > ids[0], "new ids follow the failed ones");
        // Another save keeps it (a failed config is not silently dropped).
        again.save();
        let third = manager(&root.join("new")).with_state(open());
        assert_eq!(
            third.restore().map(|r| r.failed).map_err(|e| e.to_string()),
            Ok(1)
        );
        // Removable; then it is gone from the state file too.
        assert_eq!(third.remove_config(ids[0], true), Ok(ids.clone()));
        let fourth = manager(&root.join("new")).with_state(open());
        assert_eq!(
            fourth.restore().map_err(|e| e.to_string()),
            Ok(Restored::default())
        );
        again.shutdown_all();
        let _ = std::fs::remove_dir_all(&root);
    }
}
