//! GStreamer as a second real player: `gst-launch-1.0 playbin` with counting fake sinks,
//! playing a Smooth Streaming URL through souphttpsrc and mssdemux as a viewer's GStreamer
//! (or a GStreamer-based player) would.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What one playback showed.
#[derive(Debug, Default)]
pub struct GstResult {
    /// Decoded video frames and audio buffers that reached the sinks.
    pub video_frames: usize,
    pub audio_buffers: usize,
    /// The highest video presentation time seen, in seconds.
    pub video_seconds: f64,
    /// ERROR lines and HTTP failures GStreamer reported.
    pub errors: Vec<String>,
}

impl GstResult {
    pub fn played(&self) -> bool {
        self.video_frames > 0 && self.audio_buffers > 0 && self.errors.is_empty()
    }
}

/// Why GStreamer cannot play MSS here, or `None` if it can.
pub fn unavailable_reason() -> Option<String> {
    let inspect = Command::new("gst-inspect-1.0")
        .args(["mssdemux"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match inspect {
        Ok(s) if s.success() => None,
        Ok(_) => Some("mssdemux missing: apt-get install gstreamer1.0-plugins-bad".into()),
        Err(_) => Some(
            "gst-inspect-1.0 missing: apt-get install gstreamer1.0-tools \
             gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-libav"
                .into(),
        ),
    }
}

/// True if GStreamer can run; otherwise fails under CI and skips (printing why) elsewhere,
/// as [`crate::player::ready_or_skip`] does for Chromium.
pub fn ready_or_skip(test: &str) -> bool {
    match unavailable_reason() {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false")) => {
            panic!("{test}: GStreamer unavailable under CI: {why}")
        }
        Some(why) => {
            eprintln!("SKIP {test}: GStreamer unavailable: {why}");
            false
        }
    }
}

/// Plays `url` for at most `seconds` (VOD ends sooner at its end) and counts what reached
/// the sinks. The sinks do not sync to the clock, so a VOD plays as fast as it decodes.
pub fn play(url: &str, seconds: f64) -> Result<GstResult> {
    play_with(url, seconds, &[])
}

/// [`play`] with more `playbin` properties, e.g. `current-audio=1` to play the second audio
/// stream (another language).
pub fn play_with(url: &str, seconds: f64, properties: &[&str]) -> Result<GstResult> {
    let mut child = Command::new("gst-launch-1.0")
        .args([
            "-v",
            "playbin",
            &format!("uri={url}"),
            "video-sink=fakesink name=vsink silent=false sync=false",
            "audio-sink=fakesink name=asink silent=false sync=false",
        ])
        .args(properties)
        .env("GST_DEBUG", "souphttpsrc:2,mssdemux:1,adaptivedemux:1")
        .env("GST_DEBUG_NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting gst-launch-1.0")?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let limit = Duration::from_secs_f64(seconds.max(0.5));
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let mut r = GstResult::default();
    for line in out.lines().chain(err.lines()) {
        if line.contains("vsink: last-message = chain") {
            r.video_frames += 1;
            if let Some(pts) = pts_seconds(line) {
                r.video_seconds = r.video_seconds.max(pts);
            }
        } else if line.contains("asink: last-message = chain") {
            r.audio_buffers += 1;
        } else if line.starts_with("ERROR")
            || line.contains(" ERROR ")
            || (line.contains("souphttpsrc") && line.contains("error:"))
        {
            r.errors.push(line.to_string());
        }
    }
    Ok(r)
}

/// `pts: 0:00:25.821000000` -> 25.821.
fn pts_seconds(line: &str) -> Option<f64> {
    let rest = line.split("pts: ").nth(1)?;
    let t = rest.split(',').next()?;
    let mut parts = t.trim().split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_pts() {
        let line = "/GstPlayBin:playbin0/GstPlaySink:playsink/GstBin:vbin/GstFakeSink:vsink: last-message = chain   ******* (vsink:sink) (345600 bytes, dts: none, pts: 0:01:25.821000000, duration: 0:00:00.040000000, ...";
        assert_eq!(super::pts_seconds(line), Some(85.821));
    }
}
