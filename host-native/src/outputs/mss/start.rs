//! Starting a group: checking a config, recording it and spawning its task; and recording a
//! saved config that can no longer start.

use std::path::{Path, PathBuf};

use smoothcast_core::layout;
use tokio::sync::watch;

use super::error::CreateError;
use super::records::{unix_now, GroupHandle, Inner, Origin, StopMode};
use super::{ConfigStatus, MssConfigEntry, MssParams, OutputManager, StatusRecord};
use crate::outputs::group::{run_group, GroupContext};
use crate::paths::normalize;

impl OutputManager {
    /// Checks a config, records it and starts its group task; how depends on where it came
    /// from (a restored one keeps its ids and its folder, and resumes).
    pub(in crate::outputs) fn start_group(
        &self,
        params: MssParams,
        origin: Origin,
    ) -> Result<(Vec<u64>, tokio::task::JoinHandle<()>), CreateError> {
        check_params(&params)?;
        let group_dir = self.group_folder(&params)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| CreateError::NoRuntime)?;
        let mut inner = self.lock();
        check_group_free(&inner, &params, &group_dir)?;
        match &origin {
            Origin::Restored {
                group_id,
                config_ids,
                ..
            } => check_saved_ids(&inner, *group_id, config_ids)?,
            // A restored config was counted once and its folder holds the presentation it
            // resumes: it is neither refused for the cap nor cleaned nor refused for
            // existing. Any other is.
            _ => {
                self.check_room(&inner, &params)?;
                // A store is not cleaned or checked for an earlier manifest: the lease
                // decides who publishes there (outputs/destination.rs).
                if !params.pushes() && !crate::store::is_store_location(&params.target_folder) {
                    prepare_destination(&params, &group_dir)?;
                }
            }
        }
        let group_id = self.take_group_id(&origin);
        let running = running_params(&params, &origin);
        let (ids, stop) =
            self.record_group(&mut inner, &params, &running, &group_dir, group_id, &origin);
        drop(inner);
        let ctx = GroupContext {
            manager: self.clone(),
            streams: self.streams.clone(),
            params: running,
            config_ids: ids.clone(),
            group_dir,
            stop,
            resume: matches!(origin, Origin::Restored { .. }),
        };
        Ok((ids, spawn_group(&runtime, ctx)))
    }

    /// The group folder: targetFolder resolved and confined, with groupName. The group
    /// folder, or the stream's own folder in it, may already exist as a link that leads out:
    /// written into and cleaned, so checked as well.
    fn group_folder(&self, params: &MssParams) -> Result<PathBuf, CreateError> {
        if crate::store::is_store_location(&params.target_folder) {
            // `s3://bucket/prefix`: never a local folder (not even one named `s3:`); the
            // allowed roots are about this host's disk, the store's own credentials decide.
            let location = crate::store::Location::parse(&params.target_folder)
                .map_err(|e| CreateError::Store(format!("{e:#}")))?;
            crate::store::Store::connect(&location, &self.object_store)
                .map_err(|e| CreateError::Store(format!("{e:#}")))?;
            return Ok(PathBuf::from(format!("{location}/{}", params.group_name)));
        }
        let target = self.resolve_target(&params.target_folder)?;
        let group_dir = target.join(&params.group_name);
        for dir in [group_dir.clone(), params.own_folder(&group_dir)] {
            self.confined(&dir).map_err(|()| CreateError::LinkOut {
                target_folder: params.target_folder.clone(),
                group_name: params.group_name.clone(),
            })?;
        }
        Ok(group_dir)
    }

    /// Refuses a config that would pass `[security] max_mss_configs` (a restored one is
    /// never refused for it).
    fn check_room(&self, inner: &Inner, params: &MssParams) -> Result<(), CreateError> {
        if inner.configs.len() + params.local_stream_names.len() > self.max_configs {
            return Err(CreateError::TooMany {
                held: inner.configs.len(),
                limit: self.max_configs,
            });
        }
        Ok(())
    }

    /// The group's id: a restored group keeps its own (and the sequences move past its
    /// ids), any other takes the next.
    fn take_group_id(&self, origin: &Origin) -> u64 {
        match origin {
            Origin::Restored {
                group_id,
                config_ids,
                ..
            } => {
                for id in config_ids {
                    self.ids.skip_past(*id);
                }
                self.group_ids.skip_past(*group_id);
                *group_id
            }
            _ => self.group_ids.next(),
        }
    }

    /// One config entry per local stream, waiting for its stream, and the group's handle:
    /// their ids (the saved ones for a restored group) and the group's stop switch.
    fn record_group(
        &self,
        inner: &mut Inner,
        params: &MssParams,
        running: &MssParams,
        group_dir: &Path,
        group_id: u64,
        origin: &Origin,
    ) -> (Vec<u64>, watch::Receiver<StopMode>) {
        let mut given = match origin {
            Origin::Restored { config_ids, .. } => config_ids.clone().into_iter(),
            _ => Vec::new().into_iter(),
        };
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
                    group_target_folder: group_dir.to_path_buf(),
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
                saved: *origin != Origin::Config && params.keep_alive,
            },
        );
        (ids, stop_rx)
    }

    /// A saved config that no longer validates (a targetFolder outside the current web
    /// root, say): kept with its ids, its error and the status ConnectionFailed, so it shows
    /// in listConfig, stays in the state file and can be removed, while the server starts.
    /// `false` if its ids are taken (it cannot be told apart from the config holding them).
    pub(in crate::outputs) fn record_failed(
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
}

/// Runs the group's task. Every log line of the group carries its name and config ids (a
/// warn span, so the fields show with the default `warn` filter too).
fn spawn_group(runtime: &tokio::runtime::Handle, ctx: GroupContext) -> tokio::task::JoinHandle<()> {
    let span =
        tracing::warn_span!("group", group = %ctx.params.group_name, config_ids = ?ctx.config_ids);
    runtime.spawn(tracing::Instrument::instrument(run_group(ctx), span))
}

/// The checks that need nothing but the parameters: streams, names and bandwidths.
fn check_params(params: &MssParams) -> Result<(), CreateError> {
    if params.local_stream_names.is_empty() {
        return Err(CreateError::NoStreams);
    }
    if params.bandwidths.len() != params.local_stream_names.len() {
        return Err(CreateError::BandwidthCount);
    }
    layout::validate_component("groupName", &params.group_name).map_err(CreateError::BadName)?;
    layout::validate_component("manifestName", &params.manifest_name)
        .map_err(CreateError::BadName)?;
    for name in &params.local_stream_names {
        layout::validate_component("localStreamName", name).map_err(CreateError::BadName)?;
    }
    let mut seen = params.bandwidths.clone();
    seen.retain(|b| *b != 0);
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(CreateError::SameBandwidth);
    }
    Ok(())
}

/// Refuses a group that is already running in the same folder (for one of these streams,
/// or at all). autoMSS presentations of different streams share their group folder.
fn check_group_free(
    inner: &Inner,
    params: &MssParams,
    group_dir: &Path,
) -> Result<(), CreateError> {
    for c in inner.configs.values() {
        let apart = c.params.auto_mss
            && params.auto_mss
            && !params.local_stream_names.contains(&c.local_stream_name);
        if c.params.group_name == params.group_name && c.group_target_folder == group_dir && !apart
        {
            if let Some(s) = params
                .local_stream_names
                .iter()
                .find(|s| **s == c.local_stream_name)
            {
                return Err(CreateError::StreamTaken {
                    group: params.group_name.clone(),
                    stream: s.clone(),
                });
            }
            return Err(CreateError::GroupInUse {
                group: params.group_name.clone(),
            });
        }
    }
    Ok(())
}

/// A restored group's saved ids must be distinct and free.
fn check_saved_ids(inner: &Inner, group_id: u64, config_ids: &[u64]) -> Result<(), CreateError> {
    let mut distinct = config_ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != config_ids.len() {
        return Err(CreateError::SavedIdsRepeat);
    }
    let taken = config_ids
        .iter()
        .find(|id| inner.configs.contains_key(id))
        .or(Some(&group_id).filter(|g| inner.groups.contains_key(g)));
    match taken {
        Some(id) => Err(CreateError::IdInUse(*id)),
        None => Ok(()),
    }
}

/// cleanupDestination empties the config's folder of an earlier run's files; without it and
/// without overwriteDestination, an existing manifest refuses the config.
fn prepare_destination(params: &MssParams, group_dir: &Path) -> Result<(), CreateError> {
    let manifest_path = group_dir.join(
        params
            .presentation_options()
            .layout
            .manifest_path(&params.manifest_name),
    );
    if params.cleanup_destination {
        let own = params.own_folder(group_dir);
        cleanup(&own).map_err(|error| CreateError::Cleanup { dir: own, error })?;
    } else if !params.overwrite_destination && manifest_path.exists() {
        return Err(CreateError::ManifestExists(manifest_path));
    }
    Ok(())
}

/// The parameters the group task runs with: a resumed presentation keeps the bitrates in
/// its folder names, so a level that was measured keeps its measured bandwidth.
fn running_params(params: &MssParams, origin: &Origin) -> MssParams {
    let mut running = params.clone();
    if let Origin::Restored { measured, .. } = origin {
        for (b, m) in running.bandwidths.iter_mut().zip(measured) {
            if *b == 0 {
                *b = *m;
            }
        }
    }
    running
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

#[cfg(test)]
mod tests {
    use super::super::test_manager as manager;
    use super::*;

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
            .expect_err("three in all")
            .to_string();
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
