//! Shared helpers for the end-to-end tests.
//!
//! - [`media`]: synthetic test clips made with ffmpeg, cached under `target/test-media/`.
//! - [`player`]: plays a presentation in headless Chromium with dash.js (tests/player).

pub mod media;
pub mod player;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}
