//! What the ffmpeg-based demuxer tests share.

use std::path::PathBuf;
use std::process::Command;

/// Whether ffmpeg and ffprobe run; the tests that need them skip (saying so) otherwise.
pub fn have_ffmpeg() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let have = ok("ffmpeg") && ok("ffprobe");
    if !have {
        eprintln!("ffmpeg/ffprobe not installed: skipping");
    }
    have
}

/// A scratch folder under the system temp dir, per test binary (`tag`) and process.
pub fn scratch(tag: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smoothcast-{tag}-{}-{name}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}
