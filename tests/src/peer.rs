//! ffmpeg as a test's live peer: an encoder publishing a test pattern with a tone in real
//! time, or a sender replaying a prepared clip. Each is killed when dropped, so a test that
//! fails half way leaves no process behind.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// A running ffmpeg.
pub struct Peer(Child);

impl Peer {
    fn spawn(cmd: &mut Command) -> Peer {
        match cmd.stdin(Stdio::null()).spawn() {
            Ok(child) => Peer(child),
            Err(e) => panic!("cannot start ffmpeg: {e}"),
        }
    }

    /// Waits for the peer to end on its own (a sender at the end of its clip).
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.0.wait()
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ffmpeg() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    cmd
}

/// One FLV output of a [`LiveEncode`].
struct Rendition {
    url: String,
    size: Option<String>,
    video_kbps: u32,
}

/// A live encoder: testsrc2 and a 440 Hz tone encoded in real time (H.264 without B-frames,
/// a fixed keyframe interval, AAC) and published over RTMP, once per rendition. One ffmpeg
/// encodes every rendition, so they share timestamps and keyframe positions as one
/// encoder's quality levels do.
pub struct LiveEncode {
    seconds: u32,
    size: String,
    gop_frames: u32,
    renditions: Vec<Rendition>,
    /// For rtmps:// URLs: the CA file the server's certificate must verify against.
    ca_file: Option<String>,
    /// Publish the tone only (a radio station).
    audio_only: bool,
}

impl LiveEncode {
    /// `seconds` of 320x180 at 25 fps, a keyframe every 2 s.
    pub fn new(seconds: u32) -> Self {
        Self {
            seconds,
            size: "320x180".into(),
            gop_frames: 50,
            renditions: Vec::new(),
            ca_file: None,
            audio_only: false,
        }
    }

    /// Publishes the tone alone, without video, as a radio station does.
    pub fn audio_only(mut self) -> Self {
        self.audio_only = true;
        self
    }

    /// The picture size of the source (and of renditions that do not scale).
    pub fn size(mut self, size: &str) -> Self {
        self.size = size.into();
        self
    }

    /// Frames between keyframes (25 per second).
    pub fn gop_frames(mut self, frames: u32) -> Self {
        self.gop_frames = frames;
        self
    }

    /// For rtmps:// URLs: verify the server's certificate against `ca` (ffmpeg's TLS does
    /// not verify unless told to).
    pub fn verify_with_ca(mut self, ca: &Path) -> Self {
        self.ca_file = Some(ca.display().to_string());
        self
    }

    /// Publishes to `url` (rtmp://...) at the source size.
    pub fn rtmp(mut self, url: impl Into<String>, video_kbps: u32) -> Self {
        self.renditions.push(Rendition {
            url: url.into(),
            size: None,
            video_kbps,
        });
        self
    }

    /// Publishes to `url` scaled to `size`.
    pub fn rtmp_scaled(mut self, url: impl Into<String>, size: &str, video_kbps: u32) -> Self {
        self.renditions.push(Rendition {
            url: url.into(),
            size: Some(size.into()),
            video_kbps,
        });
        self
    }

    pub fn start(self) -> Peer {
        let seconds = self.seconds;
        let mut cmd = ffmpeg();
        if !self.audio_only {
            cmd.args([
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={}:rate=25:duration={seconds}", self.size),
            ]);
        }
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
        ]);
        let gop = self.gop_frames.to_string();
        for r in &self.renditions {
            if self.audio_only {
                cmd.args([
                    "-map", "0:a", "-c:a", "aac", "-b:a", "64k", "-f", "flv", &r.url,
                ]);
                continue;
            }
            let rate = format!("{}k", r.video_kbps);
            cmd.args(["-map", "0:v", "-map", "1:a", "-c:v", "libx264"]);
            cmd.args(["-preset", "ultrafast", "-tune", "zerolatency"]);
            if let Some(size) = &r.size {
                cmd.args(["-s", size]);
            }
            cmd.args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", "1M"]);
            cmd.args([
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
                "-bf",
                "0",
            ]);
            cmd.args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"]);
            if let Some(ca) = &self.ca_file {
                cmd.args(["-ca_file", ca, "-tls_verify", "1"]);
            }
            cmd.arg(&r.url);
        }
        Peer::spawn(&mut cmd)
    }
}

/// Replays `clip` in real time to `url` in `format` (`flv`, `mpegts`...), as an encoder would.
pub fn send_clip(clip: &Path, format: &str, url: &str) -> Peer {
    send_clip_with(clip, &["-f", format], url)
}

/// As [`send_clip`], with the output options spelled out (`-f rtsp -rtsp_transport tcp`).
pub fn send_clip_with(clip: &Path, output: &[&str], url: &str) -> Peer {
    Peer::spawn(
        ffmpeg()
            .arg("-i")
            .arg(clip)
            .args(["-map", "0", "-c", "copy"])
            .args(output)
            .arg(url),
    )
}

/// ffmpeg as an RTMP server: it listens on `url`'s address and plays `clip` in real time to
/// the first client that plays `url`'s stream.
pub fn serve_clip_over_rtmp(clip: &Path, url: &str) -> Peer {
    Peer::spawn(
        ffmpeg()
            .arg("-i")
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", "-listen", "1", url]),
    )
}
