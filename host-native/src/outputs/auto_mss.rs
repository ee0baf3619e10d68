//! autoMSS: every new inbound stream gets a rolling, live MSS presentation, as EMS's
//! `autoMSS` block of config.lua makes one: `targetFolder/groupName/<stream>/<stream>.ismc`
//! with fragments under `<stream>/{video,audio}/<bitrate>/`, and EMS's fixed values
//! (bandwidths 0, cleanupDestination 1, keepAlive 0, overwriteDestination 1, rolling).
//!
//! The output closes with its stream (keepAlive 0) and its config leaves listConfig then; a
//! stream of the same name that returns starts a new presentation, whose cleanup first
//! removes the old one's files.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::mss::{MssParams, OutputManager, PlaylistType};
use crate::config::AutoMss;
use crate::server::Shutdown;
use crate::streams::{StreamKind, StreamNotice, StreamRegistry};

/// How long a returning stream waits for its previous presentation to finish writing.
const PREVIOUS_OUTPUT_GRACE: Duration = Duration::from_secs(10);

/// The createMSSStream parameters autoMSS uses for one stream.
pub fn params_for(auto: &AutoMss, stream: &str) -> MssParams {
    let mut p = MssParams::with_defaults(
        vec![stream.to_string()],
        auto.target_folder.clone(),
        auto.group_name.clone(),
    );
    p.bandwidths = vec![0];
    p.playlist_type = PlaylistType::Rolling;
    p.playlist_length = auto.playlist_length;
    p.stale_retention_count = auto.stale_retention_count();
    p.chunk_length = auto.chunk_length;
    p.chunk_on_idr = auto.chunk_on_idr;
    p.manifest_name = format!("{stream}.ismc");
    p.keep_alive = false;
    p.overwrite_destination = true;
    p.cleanup_destination = true;
    p.is_live = true;
    p.auto_mss = true;
    p.drm = auto.drm.clone();
    p
}

/// Whether a stream gets an autoMSS presentation. EMS makes one for streams that arrive
/// (RTMP, LiveFLV, RTSP/RTP, TS, pulls), not for files it plays out (such as `--demo`).
fn triggers(kind: StreamKind) -> bool {
    !matches!(kind, StreamKind::File)
}

/// One stream's presentation: its configs and a task that ends once the output has ended
/// and its configs are gone.
struct Running {
    config_ids: Vec<u64>,
    done: JoinHandle<()>,
}

/// Runs until shutdown, starting a presentation for each new inbound stream.
pub async fn run(
    auto: AutoMss,
    streams: StreamRegistry,
    outputs: OutputManager,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    // Subscribe before looking at what exists, so nothing slips between the two.
    let mut notices = streams.notices();
    let mut running: HashMap<String, Running> = HashMap::new();
    for info in streams.list() {
        if triggers(info.kind) {
            start(&auto, &outputs, &mut running, &info.name).await;
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            notice = notices.recv() => match notice {
                Ok(StreamNotice::Created { name, id }) => {
                    if streams.by_id(id).is_some_and(|s| triggers(s.kind)) {
                        start(&auto, &outputs, &mut running, &name).await;
                    }
                }
                Ok(StreamNotice::Closed { .. }) => {
                    running.retain(|_, r| !r.done.is_finished());
                }
                Err(RecvError::Lagged(_)) => {
                    // Notices were lost: catch up with the streams there are now.
                    for info in streams.list() {
                        let stale = running.get(&info.name).is_none_or(|r| r.done.is_finished());
                        if triggers(info.kind) && stale {
                            start(&auto, &outputs, &mut running, &info.name).await;
                        }
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

async fn start(
    auto: &AutoMss,
    outputs: &OutputManager,
    running: &mut HashMap<String, Running>,
    stream: &str,
) {
    if let Some(previous) = running.remove(stream) {
        // The stream came back before its last presentation finished: stop that one and let
        // it finish writing before the new one cleans the folder.
        if let Some(id) = previous.config_ids.first() {
            let _ = outputs.remove_config(*id, false);
        }
        if tokio::time::timeout(PREVIOUS_OUTPUT_GRACE, previous.done)
            .await
            .is_err()
        {
            tracing::warn!(
                stream,
                "autoMSS: the previous presentation is still writing"
            );
        }
    }
    match outputs.create(params_for(auto, stream)) {
        Ok((config_ids, task)) => {
            tracing::info!(stream, group = %auto.group_name, "autoMSS: presentation started");
            let outputs = outputs.clone();
            let ids = config_ids.clone();
            let done = tokio::spawn(async move {
                let _ = task.await;
                // keepAlive 0: the config goes with its output.
                if let Some(id) = ids.first() {
                    let _ = outputs.remove_config(*id, false);
                }
            });
            running.insert(stream.to_string(), Running { config_ids, done });
        }
        Err(e) => tracing::error!(stream, "autoMSS: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoothcast_core::layout::Layout;

    #[test]
    fn ems_fixed_values_and_the_auto_layout() {
        let mut auto = AutoMss::new("www".into());
        auto.chunk_length = 2;
        let p = params_for(&auto, "cam1");
        assert_eq!(p.bandwidths, vec![0]);
        assert!(p.cleanup_destination && p.overwrite_destination && p.is_live);
        assert!(!p.keep_alive);
        assert_eq!(p.playlist_type, PlaylistType::Rolling);
        assert_eq!(p.group_name, "autoMSS");
        assert_eq!(p.stale_retention_count, 10);
        assert!(!p.chunk_on_idr, "EMS's autoMSS default");
        let o = p.presentation_options();
        assert_eq!(
            o.layout,
            Layout::Auto {
                stream: "cam1".into()
            }
        );
        assert_eq!(o.layout.manifest_path(&p.manifest_name), "cam1/cam1.ismc");
        assert_eq!(
            p.own_folder(std::path::Path::new("/w/autoMSS")),
            std::path::Path::new("/w/autoMSS/cam1")
        );
    }

    #[test]
    fn files_played_out_do_not_trigger() {
        assert!(triggers(StreamKind::Rtmp));
        assert!(triggers(StreamKind::MpegTs));
        assert!(triggers(StreamKind::Rtsp));
        assert!(!triggers(StreamKind::File));
    }
}
