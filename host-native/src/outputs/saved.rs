//! MSS configs across restarts: createMSSStream over the API (with keepAlive, as EMS keeps it
//! in pushPullSetup.xml) is saved in the server's state file, and comes back at start with
//! its ids and measured bandwidths, its presentation resuming from its folder.

use serde::{Deserialize, Serialize};

use super::mss::{MssParams, Origin, OutputManager};

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

/// The state file's section for MSS configs.
const STATE_SECTION: &str = "mss";

impl OutputManager {
    /// createMSSStream over the API: like [`OutputManager::create_mss`], and kept in the
    /// state file (with keepAlive, as EMS keeps it) so it comes back after a restart.
    pub fn create_saved_mss(&self, params: MssParams) -> Result<Vec<u64>, String> {
        let (ids, _) = self.start_group(params, Origin::Api)?;
        self.save();
        Ok(ids)
    }

    /// Brings back the configs the state file holds, with their ids; each presentation
    /// resumes from its folder. An error names the config that could not come back.
    pub fn restore(&self) -> Result<usize, String> {
        let Some(section) = self.store.section(STATE_SECTION) else {
            return Ok(0);
        };
        let groups: Vec<SavedGroup> = serde_json::from_value(section)
            .map_err(|e| format!("the saved MSS configs are malformed: {e}"))?;
        let n = groups.len();
        for g in groups {
            let label = format!(
                "MSS config {:?} (group {})",
                g.config_ids, g.params.group_name
            );
            if g.config_ids.len() != g.params.local_stream_names.len() {
                return Err(format!("{label}: one config id per local stream is needed"));
            }
            let origin = Origin::Restored {
                group_id: g.group_id,
                config_ids: g.config_ids,
                measured: g.measured,
            };
            self.start_group(g.params, origin)
                .map_err(|e| format!("{label}: {e}"))?;
        }
        Ok(n)
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
        assert_eq!(again.restore(), Ok(1));
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
        let e = again.restore().expect_err("ids in use");
        assert!(e.contains("group g"), "{e}");
        again.shutdown_all();
        let _ = std::fs::remove_dir_all(&root);
    }
}
