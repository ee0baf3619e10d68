//! Test media made with ffmpeg's synthetic sources (`testsrc2` + `sine`), so tests need no
//! committed media files.
//!
//! [`generate_clip`] always encodes; [`clip`] caches under `target/test-media/` with a hash
//! of the full ffmpeg command in the file name, so changing the spec *or* the encoding flags
//! below makes a new file instead of reusing a stale one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

/// Container of a generated clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Container {
    Mp4,
    Ts,
    Flv,
}

impl Container {
    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Ts => "ts",
            Container::Flv => "flv",
        }
    }

    fn ffmpeg_format(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Ts => "mpegts",
            Container::Flv => "flv",
        }
    }
}

/// What to encode: H.264 video (libx264) and optionally AAC audio.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    pub seconds: f64,
    pub width: u32,
    pub height: u32,
    pub video_bitrate_kbps: u32,
    /// Add a 440 Hz stereo AAC track.
    pub audio: bool,
    /// Allow B-frames (3); otherwise `-bf 0`, so decode order = presentation order.
    pub bframes: bool,
    /// Fixed GOP length in frames (`-g` = `-keyint_min`, scene cuts disabled), so every
    /// GOP starts at a predictable time.
    pub gop_frames: u32,
    pub fps: u32,
    pub container: Container,
    /// MP4 only: moov before mdat.
    pub faststart: bool,
    /// Without video: an audio-only file (a radio station, a language beside the video).
    pub video: bool,
    /// One AAC track per language, tagged with it (440 Hz, 880 Hz...); empty: one untagged.
    pub audio_languages: Vec<&'static str>,
    /// The audio's sampling rate.
    pub audio_rate: u32,
}

impl Default for ClipSpec {
    /// 10 s of 640x360 at 25 fps, 2 s GOPs, audio, no B-frames, plain MP4.
    fn default() -> Self {
        ClipSpec {
            seconds: 10.0,
            width: 640,
            height: 360,
            video_bitrate_kbps: 800,
            audio: true,
            bframes: false,
            gop_frames: 50,
            fps: 25,
            container: Container::Mp4,
            faststart: false,
            video: true,
            audio_languages: Vec::new(),
            audio_rate: 48_000,
        }
    }
}

impl ClipSpec {
    /// ffmpeg arguments, without the output path.
    fn ffmpeg_args(&self) -> Vec<String> {
        let s = format!("{}", self.seconds);
        let mut a: Vec<String> = vec![
            "-hide_banner".into(),
            "-nostdin".into(),
            "-loglevel".into(),
            "error".into(),
            "-y".into(),
        ];
        if self.video {
            a.extend(["-f", "lavfi", "-i"].map(String::from));
            a.push(format!(
                "testsrc2=size={}x{}:rate={}:duration={s}",
                self.width, self.height, self.fps
            ));
        }
        let audio_tracks = match (self.audio, self.audio_languages.len()) {
            (false, _) => 0,
            (true, n) => n.max(1),
        };
        for i in 0..audio_tracks {
            a.extend(["-f", "lavfi", "-i"].map(String::from));
            a.push(format!(
                "sine=frequency={}:sample_rate={}:duration={s}",
                440 * (i + 1),
                self.audio_rate
            ));
        }
        if self.video {
            a.extend(["-map", "0:v"].map(String::from));
        }
        for i in 0..audio_tracks {
            a.extend(["-map".into(), format!("{}:a", usize::from(self.video) + i)]);
        }
        let kbps = self.video_bitrate_kbps;
        let gop = self.gop_frames.to_string();
        if self.video {
            a.extend(
                [
                    "-c:v",
                    "libx264",
                    // x264 rate control with frame threads is not deterministic; one thread is
                    // (and costs little for these small clips).
                    "-threads",
                    "1",
                    "-preset",
                    "veryfast",
                    "-profile:v",
                    "high",
                    "-pix_fmt",
                    "yuv420p",
                    "-g",
                    &gop,
                    "-keyint_min",
                    &gop,
                    "-sc_threshold",
                    "0",
                    "-bf",
                    if self.bframes { "3" } else { "0" },
                    "-b:v",
                    &format!("{kbps}k"),
                    "-maxrate",
                    &format!("{kbps}k"),
                    "-bufsize",
                    &format!("{}k", 2 * kbps),
                ]
                .map(String::from),
            );
        }
        if self.audio {
            a.extend(["-c:a", "aac", "-b:a", "128k", "-ac", "2"].map(String::from));
        }
        // Same bytes on every run: no encoder/version strings, no creation time.
        a.extend(
            [
                "-fflags",
                "+bitexact",
                "-flags:v",
                "+bitexact",
                "-flags:a",
                "+bitexact",
                "-map_metadata",
                "-1",
                "-t",
                &s,
            ]
            .map(String::from),
        );
        for (i, language) in self.audio_languages.iter().enumerate() {
            a.push(format!("-metadata:s:a:{i}"));
            a.push(format!("language={language}"));
        }
        if self.container == Container::Mp4 && self.faststart {
            a.extend(["-movflags", "+faststart"].map(String::from));
        }
        a.extend(["-f", self.container.ffmpeg_format()].map(String::from));
        a
    }

    /// Cache file name: readable summary plus a hash of the exact ffmpeg command.
    pub fn file_name(&self) -> String {
        let hash = fnv1a(self.ffmpeg_args().join("\u{1f}").as_bytes());
        format!(
            "clip-{}x{}-{}fps-{}s-{}k-g{}{}{}{}-{hash:016x}.{}",
            self.width,
            self.height,
            self.fps,
            self.seconds,
            self.video_bitrate_kbps,
            self.gop_frames,
            if self.audio { "" } else { "-noaudio" },
            if self.bframes { "-bf" } else { "" },
            if self.faststart { "-faststart" } else { "" },
            self.container.extension()
        )
    }
}

/// FNV-1a 64: stable across Rust versions (unlike `DefaultHasher`), so cache names persist.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Encodes `spec` into `path` (overwriting it). The file appears atomically: ffmpeg writes
/// a temporary sibling which is then renamed, so parallel tests never see half a file.
pub fn generate_clip(path: &Path, spec: &ClipSpec) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("not a file path: {}", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let out = Command::new("ffmpeg")
        .args(spec.ffmpeg_args())
        .arg(&tmp)
        .output()
        .context("running ffmpeg (is it installed? see .ci/setup)")?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "ffmpeg failed ({}) for {:?}: {}",
            out.status,
            spec,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Shared cache folder: `$CARGO_TARGET_DIR/test-media` or `<repo>/target/test-media`.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"));
    target.join("test-media")
}

/// Path of a clip for `spec` in [`cache_dir`], encoding it only if it is not there yet.
pub fn clip(spec: &ClipSpec) -> Result<PathBuf> {
    let path = cache_dir().join(spec.file_name());
    if !path.is_file() {
        generate_clip(&path, spec)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_name_tracks_the_spec() {
        let a = ClipSpec::default();
        let b = ClipSpec {
            bframes: true,
            ..ClipSpec::default()
        };
        assert_ne!(a.file_name(), b.file_name());
        assert_eq!(a.file_name(), ClipSpec::default().file_name());
        assert!(a.file_name().ends_with(".mp4"), "{}", a.file_name());
    }

    #[test]
    fn gop_and_bframes_reach_ffmpeg() {
        let args = ClipSpec {
            gop_frames: 48,
            ..ClipSpec::default()
        }
        .ffmpeg_args()
        .join(" ");
        assert!(
            args.contains("-g 48 -keyint_min 48 -sc_threshold 0 -bf 0"),
            "{args}"
        );
    }
}
