//! createMSSStream's parameters as the server keeps them: EMS's names and defaults, and
//! what they mean for the core's presentation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smoothcast_core::layout::Layout;
use smoothcast_core::presentation::{Playlist, PresentationOptions};
use smoothcast_core::time::MSS_TIMESCALE;

/// Now in 10 MHz ticks since 1970: the IV salt of a live run.
fn wall_clock_ticks() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            d.as_secs() * MSS_TIMESCALE + u64::from(d.subsec_nanos()) / 100
        })
}

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
    /// PlayReady protection (`drmKeyId`, `drmKey`, ...; empty: clear). Shown redacted.
    #[serde(flatten)]
    pub drm: crate::config::drm::DrmParams,
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
            drm: Default::default(),
        }
    }

    /// The parameters as every reply, listing and event may show them: no key, no seed,
    /// no credentials in the publishing point.
    pub fn redacted(&self) -> Self {
        Self {
            drm: self.drm.redacted(),
            publishing_point: self
                .publishing_point
                .as_deref()
                .map(crate::outputs::isml::target::shown),
            ..self.clone()
        }
    }

    /// `ismType=isml`: pushed to a publishing point, no files.
    pub fn pushes(&self) -> bool {
        self.ism_type == "isml"
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
        // Checked when the config was made (createMSSStream, the autoMSS section).
        o.protection = self.drm.protection().ok().flatten().map(|mut p| {
            // IVs: a run's counters start past every earlier run's (crypto::cenc).
            p.iv_salt = wall_clock_ticks();
            p
        });
        if self.pushes() {
            // Pushed: each input carries its own audio, times are on the wall clock (a
            // restart continues forward, as Unified Origin requires), and the manifest
            // (never written) needs no look-ahead and only a short window.
            o.separate_audio = true;
            o.live = true;
            o.lookahead = 0;
            o.time_offset = wall_clock_ticks();
            o.playlist = Playlist::Rolling {
                length: 2,
                stale_retention: 0,
            };
            return o;
        }
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
