//! `listConfig`: every config, grouped by kind as EMS groups them. MSS and pull configs
//! exist here; the other kinds are listed empty so scripts that index them keep working.

use serde_json::{json, Value};

use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view;
use crate::api::view::Streams;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListConfig;

impl ListConfig {
    pub fn parse(_line: &Line) -> Result<ListConfig, Reply> {
        Ok(ListConfig)
    }

    pub fn apply(self, state: Streams<'_>) -> Reply {
        let mss: Vec<Value> = state
            .outputs
            .list_mss()
            .iter()
            .map(view::config_json)
            .collect();
        let pull: Vec<Value> = state
            .pulls
            .list()
            .iter()
            .map(view::pull_config_json)
            .collect();
        Reply::success(
            "Run-time configuration",
            json!({
                "dash": [], "hds": [], "hls": [], "mss": mss, "process": [],
                "pull": pull, "push": [], "record": [], "webrtc": [],
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use crate::outputs::{MssParams, PlaylistType};

    pub fn params(names: &[&str], group: &str) -> MssParams {
        MssParams {
            local_stream_names: names.iter().map(|s| s.to_string()).collect(),
            target_folder: "/w".into(),
            bandwidths: vec![0; names.len()],
            group_name: group.into(),
            playlist_type: PlaylistType::Appending,
            playlist_length: 10,
            manifest_name: "manifest.ismc".into(),
            chunk_length: 10,
            chunk_on_idr: true,
            keep_alive: true,
            overwrite_destination: true,
            stale_retention_count: 10,
            cleanup_destination: false,
            ism_type: "ismc".into(),
            is_live: true,
            publishing_point: None,
            ingest_mode: None,
            audio_bitrates: vec![],
            video_bitrates: vec![],
            auto_mss: false,
            drm: Default::default(),
        }
    }

    #[tokio::test]
    async fn shows_mss_configs_waiting_for_their_stream() {
        let state = test_support::state();
        let empty = ListConfig.apply(Streams::of(&state));
        assert_eq!(empty.data["mss"], json!([]));
        for kind in [
            "dash", "hds", "hls", "process", "pull", "push", "record", "webrtc",
        ] {
            assert_eq!(empty.data[kind], json!([]), "{kind}");
        }
        let ids = state
            .outputs
            .create_mss(params(&["cam"], "g"))
            .expect("create");
        let r = ListConfig.apply(Streams::of(&state));
        let e = &r.data["mss"][0];
        assert_eq!(e["configId"], ids[0]);
        assert_eq!(e["localStreamName"], "cam");
        assert_eq!(e["groupName"], "g");
        assert_eq!(e["operationType"], 5);
        assert_eq!(e["bandwidth"], 0);
        assert_eq!(
            e["groupTargetFolder"],
            std::path::Path::new("/w").join("g").display().to_string()
        );
        assert_eq!(e["status"]["current"]["code"], 2);
        assert_eq!(e["status"]["current"]["description"], "Waiting for stream");
        assert!(e["status"]["previous"].is_object());
    }
}
