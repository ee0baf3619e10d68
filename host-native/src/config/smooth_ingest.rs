//! `[smooth_ingest]`: Smoothcast as a Smooth Streaming publishing point (encoders POST to
//! `http://host:web_port/<point>.isml/Streams(<id>)`; see `ingest/smooth`). Every key is
//! optional.
//!
//! On by default, as RTMP publish is: the web port binds to loopback unless `bind` or
//! `[security] web_bind` opens it, and `[auth]` publish rules and the `on_publish` callback
//! apply to every POST exactly as to an RTMP publish (protocol `smooth`, app = the point's
//! path, stream = the local stream name, the token from the URL's query).

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct SmoothIngestConfig {
    /// Accept ingest POSTs at all (off: a POST gets 405 as before).
    pub enabled: bool,
    /// Ingest POSTs served at once, all points together; more get 503.
    pub max_posts: u32,
    /// Publishing points at once; a POST to a further one gets 503. A point and its stream
    /// ids are kept for the server's life (their timelines judge reconnects).
    pub max_points: u32,
    /// `Streams(<id>)`s one point may have; a further id gets 503.
    pub max_streams_per_point: u32,
    /// A POST whose body sends nothing for this long is ended (408). Encoders send a
    /// fragment every few seconds; a silent one blocks its stream (Azure's guidance).
    pub idle_timeout_secs: f64,
    /// The live server manifest box, at most.
    pub max_manifest_bytes: u64,
    /// Any box read whole (`moov`, `moof`) or skipped, at most.
    pub max_box_bytes: u64,
    /// One `mdat` (one fragment of one track), at most.
    pub max_mdat_bytes: u64,
    /// Tracks one POST may declare.
    pub max_tracks: u32,
    /// Refuse bodies without the live server manifest (`-f ismv` without `-movflags isml`).
    pub require_manifest: bool,
    /// Package each point live under the web root at `<path>/<point>.isml/` (served at
    /// `/<path>/<point>.isml/Manifest`). Off: the pushed streams are only local streams.
    pub package: bool,
    /// Fragment length of the point's presentation, seconds (fragments cut on IDR).
    pub chunk_length: u32,
    /// Fragments the point's rolling manifest lists.
    pub playlist_length: u32,
    /// How long a point waits after its first stream's header (ftyp, manifest, moov) for
    /// the others (one encoder opens its POSTs together) before its presentation starts;
    /// short, so that it starts before the first fragments (an encoder sends one per GOP).
    /// A stream arriving later restarts the presentation with it. Milliseconds.
    pub gather_ms: u64,
}

impl Default for SmoothIngestConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_posts: 64,
            max_points: 16,
            max_streams_per_point: 32,
            idle_timeout_secs: 30.0,
            max_manifest_bytes: 1 << 20,
            max_box_bytes: 4 << 20,
            max_mdat_bytes: 64 << 20,
            max_tracks: 16,
            require_manifest: true,
            package: true,
            chunk_length: 2,
            playlist_length: 30,
            gather_ms: 500,
        }
    }
}

impl SmoothIngestConfig {
    /// The core parser's limits.
    pub fn limits(&self) -> smoothcast_core::demux::mp4::ingest::IngestLimits {
        smoothcast_core::demux::mp4::ingest::IngestLimits {
            max_manifest_bytes: self.max_manifest_bytes,
            max_box_bytes: self.max_box_bytes,
            max_mdat_bytes: self.max_mdat_bytes,
            max_tracks: self.max_tracks.max(1) as usize,
            require_manifest: self.require_manifest,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn section_and_defaults() {
        let c: ServerConfig =
            toml::from_str("[smooth_ingest]\nmax_posts = 2\nenabled = false\n").expect("parses");
        assert_eq!(c.smooth_ingest.max_posts, 2);
        assert!(!c.smooth_ingest.enabled);
        let d = ServerConfig::default().smooth_ingest;
        assert!(d.enabled && d.package && d.require_manifest);
        assert_eq!(d.limits().max_tracks, 16);
        assert!(toml::from_str::<ServerConfig>("[smooth_ingest]\nmax_post = 2\n").is_err());
    }
}
