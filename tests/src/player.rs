//! Rust side of the real-player harness: runs `tests/player/play.mjs` (headless Chromium +
//! dash.js) and parses the one JSON line it prints. See `tests/player/README.md`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Where the media comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// play.mjs serves `root` itself; `manifest` is relative to it (`group/manifest.ismc`).
    Dir { root: PathBuf, manifest: String },
    /// Some other server (it must send CORS headers; the page has another origin).
    Url(String),
    /// Another player page (the server's built-in one, loading the server's dash.js),
    /// opened as it is; its `<video>` is watched.
    Page(String),
}

/// One playback run. Build with [`PlayRequest::dir`] or [`PlayRequest::url`], then adjust.
#[derive(Clone, Debug)]
pub struct PlayRequest {
    pub source: Source,
    /// Max wall time playing (VOD stops earlier at the end).
    pub seconds: f64,
    /// VOD: currentTime to reach (or end − 0.6 s). Live: seconds actually played.
    pub min_time: f64,
    /// Exact number of video levels dash.js must list.
    pub expect_levels: Option<usize>,
    pub live: bool,
    pub screenshot: Option<PathBuf>,
    /// HTTPS: the base64 SHA-256 of the server certificate's public key (SPKI), which this
    /// browser instance then trusts (`--ignore-certificate-errors-spki-list`, honoured with
    /// the fresh profile play.mjs makes); other certificates stay untrusted.
    pub trust_spki: Option<String>,
    /// A protected presentation: the page sets up ClearKey with this key ID (big-endian,
    /// as in `tenc`) and content key before dash.js starts, and the key must become usable
    /// (`key_status` and `waiting_for_key` in [`PlayResult::raw`]).
    pub clearkey: Option<([u8; 16], [u8; 16])>,
    /// No video expected: decoded audio is checked instead of a picture.
    pub audio_only: bool,
    /// Show subtitles (the first text track) in a TTML rendering div, recording each change
    /// of the rendered text (`captions` in the raw result).
    pub text: bool,
    /// Switch to the audio track of this language after 3 s of playback.
    pub switch_audio: Option<String>,
    /// Play with rx-player (the npm package) instead of dash.js: the other maintained
    /// browser client of Smooth Streaming. `--dir` sources only.
    pub rx_player: bool,
}

impl PlayRequest {
    pub fn dir(root: impl Into<PathBuf>, manifest: impl Into<String>) -> Self {
        Self::new(Source::Dir {
            root: root.into(),
            manifest: manifest.into(),
        })
    }

    pub fn url(url: impl Into<String>) -> Self {
        Self::new(Source::Url(url.into()))
    }

    pub fn page(url: impl Into<String>) -> Self {
        Self::new(Source::Page(url.into()))
    }

    fn new(source: Source) -> Self {
        PlayRequest {
            source,
            seconds: 20.0,
            min_time: 10.0,
            expect_levels: None,
            live: false,
            screenshot: None,
            trust_spki: None,
            clearkey: None,
            audio_only: false,
            text: false,
            switch_audio: None,
            rx_player: false,
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        match &self.source {
            Source::Dir { root, manifest } => {
                a.extend(["--root".into(), root.display().to_string()]);
                a.extend(["--manifest".into(), manifest.clone()]);
            }
            Source::Url(url) => a.extend(["--url".into(), url.clone()]),
            Source::Page(url) => a.extend(["--page".into(), url.clone()]),
        }
        a.extend(["--seconds".into(), self.seconds.to_string()]);
        a.extend(["--min-time".into(), self.min_time.to_string()]);
        if let Some(k) = self.expect_levels {
            a.extend(["--expect-levels".into(), k.to_string()]);
        }
        if self.live {
            a.push("--live".into());
        }
        if let Some(p) = &self.screenshot {
            a.extend(["--screenshot".into(), p.display().to_string()]);
        }
        if let Some(spki) = &self.trust_spki {
            a.extend(["--trust-spki".into(), spki.clone()]);
        }
        if let Some((kid, key)) = &self.clearkey {
            use smoothcast_core::crypto::base64::encode_url;
            a.extend([
                "--clearkey".into(),
                format!("{}:{}", encode_url(kid), encode_url(key)),
            ]);
        }
        if self.audio_only {
            a.push("--audio-only".into());
        }
        if self.text {
            a.push("--text".into());
        }
        if let Some(lang) = &self.switch_audio {
            a.extend(["--switch-audio".into(), lang.clone()]);
        }
        if self.rx_player {
            a.extend(["--player".into(), "rx".into()]);
        }
        a
    }
}

/// A quality level as dash.js sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub id: String,
    pub bandwidth: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub codecs: Option<String>,
}

/// A dash.js or media element error (`code` 200 = MSS_NO_TFRF, for instance).
#[derive(Clone, Debug, PartialEq)]
pub struct PlayerError {
    /// `dashjs`, `dashjs-playback`, `media` or `page`.
    pub source: String,
    /// Numeric codes as text; some dash.js errors have string codes.
    pub code: String,
    pub message: String,
}

/// What play.mjs reported. `ok == false` means the *playback* failed the checks (exit 1);
/// a harness that could not give a verdict (usage error, crash, hard timeout: exit 2 or 3)
/// is an `Err` from [`play`] instead, so a negative test cannot pass by accident.
#[derive(Clone, Debug)]
pub struct PlayResult {
    pub ok: bool,
    pub reason: String,
    pub exit_code: Option<i32>,
    pub current_time: f64,
    pub duration: Option<f64>,
    pub ended: bool,
    pub video_width: u32,
    pub video_height: u32,
    pub total_video_frames: u64,
    pub video_levels: Vec<Level>,
    pub audio_levels: Vec<Level>,
    pub errors: Vec<PlayerError>,
    pub console_errors: Vec<String>,
    /// The whole JSON line, for fields not mapped above (samples, http_errors, ...).
    pub raw: Value,
    /// play.mjs's stderr (Node warnings, crashes).
    pub stderr: String,
}

impl std::fmt::Display for PlayResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.raw)
    }
}

impl PlayResult {
    fn from_json(raw: Value, exit_code: Option<i32>, stderr: String) -> Result<Self> {
        let ok = raw
            .get("ok")
            .and_then(Value::as_bool)
            .context("play.mjs output has no boolean `ok`")?;
        let f64_of = |k: &str| raw.get(k).and_then(Value::as_f64);
        let u64_of = |k: &str| raw.get(k).and_then(Value::as_u64).unwrap_or(0);
        let str_of = |v: &Value, k: &str| match v.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let list = |k: &str| raw.get(k).and_then(Value::as_array).cloned();
        let levels = |k: &str| {
            list(k)
                .unwrap_or_default()
                .iter()
                .map(|l| Level {
                    id: str_of(l, "id"),
                    bandwidth: l.get("bandwidth").and_then(Value::as_u64).unwrap_or(0),
                    width: dim(l.get("width")),
                    height: dim(l.get("height")),
                    codecs: l.get("codecs").and_then(Value::as_str).map(String::from),
                })
                .collect()
        };
        Ok(PlayResult {
            ok,
            reason: str_of(&raw, "reason"),
            exit_code,
            current_time: f64_of("current_time").unwrap_or(0.0),
            duration: f64_of("duration"),
            ended: raw.get("ended").and_then(Value::as_bool).unwrap_or(false),
            video_width: u32::try_from(u64_of("video_width")).unwrap_or(0),
            video_height: u32::try_from(u64_of("video_height")).unwrap_or(0),
            total_video_frames: u64_of("total_video_frames"),
            video_levels: levels("video_levels"),
            audio_levels: levels("audio_levels"),
            errors: list("errors")
                .unwrap_or_default()
                .iter()
                .map(|e| PlayerError {
                    source: str_of(e, "source"),
                    code: str_of(e, "code"),
                    message: str_of(e, "message"),
                })
                .collect(),
            console_errors: list("console_errors")
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            raw,
            stderr,
        })
    }
}

fn dim(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// `tests/player`, where play.mjs and its node_modules live.
pub fn player_dir() -> PathBuf {
    crate::repo_root().join("tests").join("player")
}

fn chromium() -> PathBuf {
    std::env::var_os("SMOOTHCAST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the harness cannot run here, or `None` if it can.
pub fn unavailable_reason() -> Option<String> {
    let dir = player_dir();
    let modules = dir.join("node_modules");
    for needed in ["dashjs", "playwright-core"] {
        if !modules.join(needed).is_dir() {
            return Some(format!(
                "{} missing: run `npm ci` in {} (or .ci/setup)",
                modules.join(needed).display(),
                dir.display()
            ));
        }
    }
    if !chromium().is_file() {
        return Some(format!(
            "{} missing: apt-get install chromium",
            chromium().display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.map(|o| o.status.success()).unwrap_or(false) {
        return Some("`node` not runnable".into());
    }
    None
}

/// Whether node, node_modules and Chromium are all there.
pub fn available() -> bool {
    unavailable_reason().is_none()
}

/// Test policy in one place: returns true if the player can run. If not, a test *fails*
/// when the `CI` environment variable is set, and otherwise prints why and returns false so
/// the caller can skip.
pub fn ready_or_skip(test: &str) -> bool {
    match unavailable_reason() {
        None => true,
        Some(why) if under_ci() => {
            panic!("{test}: real player unavailable under CI: {why}")
        }
        Some(why) => {
            eprintln!("SKIP {test}: real player unavailable: {why}");
            false
        }
    }
}

/// `CI` set to anything but "", "0" or "false" (CI services set `CI=true`).
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Runs play.mjs and returns its verdict. Bounded in time even if play.mjs itself hangs.
pub fn play(req: &PlayRequest) -> Result<PlayResult> {
    // play.mjs stops itself after seconds + 60 s; this is the backstop if node wedges.
    let limit = Duration::from_secs_f64(req.seconds.max(0.0) + 90.0);
    let (status, raw, stderr) = run_node("play.mjs", &req.args(), limit)?;
    let result = PlayResult::from_json(raw, status.code(), stderr)?;
    match status.code() {
        Some(0) | Some(1) => Ok(result),
        // 2 = usage/harness error, 3 = hard timeout: the player never gave a verdict.
        _ => bail!(
            "play.mjs harness failure ({status}): {}; stderr: {}",
            result.reason,
            result.stderr.trim()
        ),
    }
}

/// Runs another script of `tests/player` (`console.mjs`, `demo.mjs`: pages of the server
/// driven in headless Chromium) with `args`, killing it after `limit`, and returns the one
/// JSON line it prints last (with `ok`, `reason` and what it saw) and its stderr.
pub fn run_script(script: &str, args: &[String], limit: Duration) -> Result<(Value, String)> {
    let (_, value, stderr) = run_node(script, args, limit)?;
    Ok((value, stderr))
}

/// Runs `node <script> args` in `tests/player`, killed after `limit`: its exit status, the
/// last non-empty line of its stdout as JSON, and its stderr.
fn run_node(script: &str, args: &[String], limit: Duration) -> Result<(ExitStatus, Value, String)> {
    let path = player_dir().join(script);
    let mut child = Command::new("node")
        .arg(&path)
        .args(args)
        .current_dir(player_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting node {}", path.display()))?;

    // Drain both pipes on threads so a chatty child can never block on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
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
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {script}"))?
        {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{script} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{script} printed nothing ({status}); stderr: {stderr}"))?;
    let value: Value = serde_json::from_str(line)
        .with_context(|| format!("{script} output is not JSON: {line}; stderr: {stderr}"))?;
    Ok((status, value, stderr))
}
