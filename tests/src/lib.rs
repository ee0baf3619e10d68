//! Shared helpers for the end-to-end tests.
//!
//! - [`cenc_oracle`]: ffmpeg decrypts protected fragments behind an init built here.
//! - [`certs`]: TLS certificates made at test time (a CA and leaves it signs).
//! - [`media`]: synthetic test clips made with ffmpeg, cached under `target/test-media/`.
//! - [`gst`]: plays a presentation with GStreamer (playbin, souphttpsrc, mssdemux).
//! - [`peer`]: ffmpeg as a live peer: an encoder publishing over RTMP, a clip sender.
//! - [`player`]: plays a presentation in headless Chromium with dash.js (tests/player).
//! - [`rtsp_server`]: serves a clip over RTSP/RTP (interleaved TCP), truthfully or not.
//! - [`s3`]: a SeaweedFS S3 store for the object-storage tests, once per test binary.
//! - [`rtsp_relay`]: passes what ffmpeg publishes with `-f rtsp` on to one RTSP player.

pub mod cenc_oracle;
pub mod certs;
pub mod gst;
pub mod media;
pub mod peer;
pub mod player;
pub mod presentation;
pub mod rtsp_relay;
pub mod rtsp_server;
pub mod s3;
pub mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// A fresh, empty folder under `target/test-tmp/` that is removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `name` should be unique per test; the process id keeps parallel runs apart.
    pub fn new(name: &str) -> Self {
        let dir = repo_root()
            .join("target")
            .join("test-tmp")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `ready` every 100 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
