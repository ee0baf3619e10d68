//! pullStream: configs that fetch a stream from elsewhere (another RTMP server, a file, and
//! the TS and RTSP sources) into a local stream, and keep it coming.
//!
//! - [`uri`]: the pull URI, its checks and the stream name derived from it.
//! - [`params`]: the config's settings under EMS's names (what persistence saves).
//! - [`source`]: which source runs a given scheme.
//! - this file: the [`PullManager`], one task per config, with EMS's statuses and a
//!   reconnect backoff while keepAlive.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::ingest::feed::{Feed, SourceError};
use crate::outputs::mss::StatusRecord;
use crate::state::StateStore;
use crate::status::{ConfigIds, ConfigStatus};
use crate::streams::StreamRegistry;

pub mod params;
pub mod source;
pub mod uri;

pub use params::PullParams;
pub use uri::PullUri;

/// Waits between attempts: the first retry after `initial`, doubling up to `max`, back to
/// `initial` after a run that streamed.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// One pull config as listConfig shows it.
#[derive(Debug, Clone)]
pub struct PullConfigEntry {
    pub config_id: u64,
    pub params: PullParams,
    pub uri: PullUri,
    pub current: StatusRecord,
    pub previous: Option<StatusRecord>,
    /// Why the latest attempt failed, for operators (not an EMS field).
    pub last_error: Option<String>,
}

struct Config {
    entry: PullConfigEntry,
    task: Option<JoinHandle<()>>,
    /// Ends the current attempt (shutdownStream without `permanently`); keepAlive retries.
    reconnect: Arc<Notify>,
}

impl Drop for Config {
    fn drop(&mut self) {
        // Dropping the source's future ends its local stream.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Owns every pull config and its task.
#[derive(Clone)]
pub struct PullManager {
    streams: StreamRegistry,
    ids: ConfigIds,
    backoff: Backoff,
    configs: Arc<Mutex<BTreeMap<u64, Config>>>,
    store: StateStore,
    /// Folders file:// pulls may read, links resolved; empty refuses file pulls.
    file_roots: Arc<Vec<std::path::PathBuf>>,
    max_pulls: usize,
}

/// Pull configs at most unless [`PullManager::with_max_pulls`] says otherwise.
pub const DEFAULT_MAX_PULLS: usize = 64;

/// The state file's section for pulls.
const STATE_SECTION: &str = "pull";

/// A pull as the state file keeps it: its settings and the id it comes back with.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedPull {
    config_id: u64,
    #[serde(flatten)]
    params: PullParams,
}

impl PullManager {
    pub fn new(streams: StreamRegistry, ids: ConfigIds) -> Self {
        Self {
            streams,
            ids,
            backoff: Backoff::default(),
            configs: Arc::default(),
            store: StateStore::in_memory(),
            file_roots: Arc::default(),
            max_pulls: DEFAULT_MAX_PULLS,
        }
    }

    /// Lets file:// pulls read inside these folders (none by default: a pull could read
    /// any file the server can).
    pub fn with_file_roots(mut self, roots: &[std::path::PathBuf]) -> Self {
        self.file_roots = Arc::new(roots.iter().map(|r| crate::paths::real_path(r)).collect());
        self
    }

    /// At most `max` pull configs: each is a task, and with keepAlive retries forever.
    pub fn with_max_pulls(mut self, max: usize) -> Self {
        self.max_pulls = max;
        self
    }

    /// `Ok` when a file pull may read `uri`'s file: its path, links resolved, inside a file
    /// root. The refusal names no folder and no OS error, so the API cannot be used to
    /// learn what exists outside the roots (the log has the details).
    pub fn check_file(&self, uri: &PullUri) -> Result<std::path::PathBuf, String> {
        check_file(&self.file_roots, uri)
    }

    /// Keeps keepAlive configs in this store (the server's state file), as EMS keeps them
    /// in pushPullSetup.xml.
    pub fn with_state(mut self, store: StateStore) -> Self {
        self.store = store;
        self
    }

    #[cfg(test)]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Config>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.configs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `params`, fills in the derived stream name, and starts pulling. `Err` is the
    /// FAIL reply's description.
    pub fn create(&self, params: PullParams) -> Result<PullConfigEntry, PullError> {
        let entry = self.start(params, None)?;
        self.save();
        Ok(entry)
    }

    /// Starts a config, with the id it had if it comes back from the state file.
    fn start(
        &self,
        mut params: PullParams,
        saved_id: Option<u64>,
    ) -> Result<PullConfigEntry, PullError> {
        let uri = PullUri::parse(&params.uri).map_err(PullError::Invalid)?;
        if uri.scheme == uri::Scheme::File {
            self.check_file(&uri).map_err(PullError::Invalid)?;
        }
        if params.local_stream_name.is_empty() {
            params.local_stream_name = uri.derived_stream_name().map_err(PullError::Invalid)?;
        } else {
            uri::check_stream_name(&params.local_stream_name).map_err(PullError::Invalid)?;
        }
        let name = params.local_stream_name.clone();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PullError::NoRuntime)?;
        let mut configs = self.lock();
        // A restored config was accepted once: it comes back even over a lowered limit.
        if saved_id.is_none() && configs.len() >= self.max_pulls {
            return Err(PullError::TooMany {
                held: configs.len(),
                limit: self.max_pulls,
            });
        }
        if let Some(c) = configs
            .values()
            .find(|c| c.entry.params.local_stream_name == name)
        {
            return Err(PullError::NameUsed {
                name,
                config_id: c.entry.config_id,
            });
        }
        if self.streams.get(&name).is_some() {
            return Err(PullError::StreamExists(name));
        }
        let config_id = match saved_id {
            Some(id) if configs.contains_key(&id) => return Err(PullError::IdInUse(id)),
            Some(id) => {
                self.ids.skip_past(id);
                id
            }
            None => self.ids.next(),
        };
        let entry = PullConfigEntry {
            config_id,
            params: params.clone(),
            uri: uri.clone(),
            current: record(ConfigStatus::Connecting, 0),
            previous: None,
            last_error: None,
        };
        let reconnect = Arc::new(Notify::new());
        let task = runtime.spawn(run_config(
            self.clone(),
            config_id,
            uri,
            params,
            reconnect.clone(),
        ));
        configs.insert(
            config_id,
            Config {
                entry: entry.clone(),
                task: Some(task),
                reconnect,
            },
        );
        Ok(entry)
    }

    /// Every pull config, by id.
    pub fn list(&self) -> Vec<PullConfigEntry> {
        self.lock().values().map(|c| c.entry.clone()).collect()
    }

    #[cfg(test)]
    pub fn get(&self, config_id: u64) -> Option<PullConfigEntry> {
        self.lock().get(&config_id).map(|c| c.entry.clone())
    }

    /// The config that pulls into local stream `name`.
    pub fn by_stream_name(&self, name: &str) -> Option<PullConfigEntry> {
        self.lock()
            .values()
            .find(|c| c.entry.params.local_stream_name == name)
            .map(|c| c.entry.clone())
    }

    /// Stops and forgets a config (removeConfig, shutdownStream permanently=1); its local
    /// stream ends. `None` if there is no such pull config.
    pub fn remove(&self, config_id: u64) -> Option<PullConfigEntry> {
        let config = self.lock().remove(&config_id)?;
        let entry = config.entry.clone();
        drop(config);
        self.save();
        tracing::info!(config_id, stream = %entry.params.local_stream_name, "pull config removed");
        Some(entry)
    }

    /// Ends the config's current connection (shutdownStream without permanently): with
    /// keepAlive it reconnects after the backoff, as EMS does; without, the config ends.
    pub fn reconnect(&self, config_id: u64) -> bool {
        match self.lock().get(&config_id) {
            Some(c) => {
                c.reconnect.notify_waiters();
                true
            }
            None => false,
        }
    }

    /// Starts the configs the state file holds, with their ids. An error names the one
    /// that could not come back (the server then refuses to start half-configured).
    pub fn restore(&self) -> Result<usize, PullRestoreError> {
        let Some(section) = self.store.section(STATE_SECTION) else {
            return Ok(0);
        };
        let saved: Vec<SavedPull> =
            serde_json::from_value(section).map_err(PullRestoreError::Malformed)?;
        let n = saved.len();
        for s in saved {
            let label = format!("pull config {} ({})", s.config_id, s.params.uri);
            self.start(s.params, Some(s.config_id))
                .map_err(|error| PullRestoreError::Config { label, error })?;
        }
        Ok(n)
    }

    /// Writes every keepAlive config to the state file (errors are logged: pulls run on).
    fn save(&self) {
        let result = self.store.update_section(STATE_SECTION, || {
            let saved: Vec<SavedPull> = self
                .lock()
                .values()
                .filter(|c| c.entry.params.keep_alive)
                .map(|c| SavedPull {
                    config_id: c.entry.config_id,
                    params: c.entry.params.clone(),
                })
                .collect();
            serde_json::to_value(saved).unwrap_or_default()
        });
        if let Err(e) = result {
            tracing::error!("{e:#}");
        }
    }

    /// Server shutdown: every pull stops (the configs are not saved from here).
    pub fn shutdown_all(&self) {
        let configs = std::mem::take(&mut *self.lock());
        drop(configs);
    }

    fn set_status(&self, config_id: u64, status: ConfigStatus, error: Option<String>) {
        let unique_stream_id = match status {
            ConfigStatus::Streaming => self.lock().get(&config_id).and_then(|c| {
                self.streams
                    .get(&c.entry.params.local_stream_name)
                    .map(|s| s.unique_id)
            }),
            _ => None,
        };
        let mut configs = self.lock();
        let Some(c) = configs.get_mut(&config_id) else {
            return;
        };
        let id = unique_stream_id.unwrap_or(c.entry.current.unique_stream_id);
        let previous = std::mem::replace(&mut c.entry.current, record(status, id));
        c.entry.previous = Some(previous);
        if error.is_some() || status == ConfigStatus::Streaming {
            c.entry.last_error = error;
        }
    }

    /// A config without keepAlive is gone once its stream ends.
    fn forget(&self, config_id: u64) {
        let config = self.lock().remove(&config_id);
        if let Some(mut c) = config {
            // This task is the one running: returning ends it, aborting would be moot.
            c.task = None;
        }
    }
}

/// Why a pull config is refused: the reply's description follows `Unable to pull <uri>: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// A uri or stream name that does not parse, or a file outside the file roots (their
    /// own messages).
    Invalid(String),
    NoRuntime,
    TooMany {
        held: usize,
        limit: usize,
    },
    NameUsed {
        name: String,
        config_id: u64,
    },
    StreamExists(String),
    IdInUse(u64),
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => f.write_str(why),
            Self::NoRuntime => f.write_str("no runtime to run the pull on"),
            Self::TooMany { held, limit } => write!(
                f,
                "the server holds {held} pull configs; the limit is {limit} ([security] max_pulls)"
            ),
            Self::NameUsed { name, config_id } => write!(
                f,
                "localStreamName {name} is already used by pull config {config_id}"
            ),
            Self::StreamExists(name) => write!(f, "a stream named {name} already exists"),
            Self::IdInUse(id) => write!(f, "config id {id} is already in use"),
        }
    }
}

impl std::error::Error for PullError {}

/// Why the state file's pull configs could not come back (the server then refuses to start
/// half-configured).
#[derive(Debug)]
pub enum PullRestoreError {
    Malformed(serde_json::Error),
    /// The config `label` names could not start.
    Config {
        label: String,
        error: PullError,
    },
}

impl std::fmt::Display for PullRestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the saved pull configs are malformed: {e}"),
            Self::Config { label, error } => write!(f, "{label}: {error}"),
        }
    }
}

impl std::error::Error for PullRestoreError {}

/// See [`PullManager::check_file`]; the file source asks again right before it reads.
pub fn check_file(
    roots: &[std::path::PathBuf],
    uri: &PullUri,
) -> Result<std::path::PathBuf, String> {
    let refused = || {
        format!(
            "{}: file pulls may read only inside the folders set by [security] file_pull_roots",
            uri.original
        )
    };
    let path = uri.file_path().ok_or_else(refused)?;
    match crate::paths::resolve_links(&path) {
        Some(real) if roots.iter().any(|r| real.starts_with(r)) => Ok(path),
        _ => {
            tracing::warn!(path = %path.display(), roots = ?roots, "file pull outside file_pull_roots refused");
            Err(refused())
        }
    }
}

fn record(status: ConfigStatus, unique_stream_id: u64) -> StatusRecord {
    StatusRecord {
        status,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        unique_stream_id,
    }
}

/// How one attempt ended.
enum Outcome {
    Source(Result<(), SourceError>),
    ShutDown,
}

/// One config's life: connect, stream, and while keepAlive, wait and connect again.
async fn run_config(
    manager: PullManager,
    config_id: u64,
    uri: PullUri,
    params: PullParams,
    reconnect: Arc<Notify>,
) {
    let name = params.local_stream_name.clone();
    let mut delay = manager.backoff.initial;
    loop {
        manager.set_status(config_id, ConfigStatus::Connecting, None);
        let streamed = Arc::new(AtomicBool::new(false));
        let hook = {
            let manager = manager.clone();
            let streamed = streamed.clone();
            Arc::new(move |status: ConfigStatus| {
                if status == ConfigStatus::Streaming {
                    streamed.store(true, Ordering::Relaxed);
                }
                manager.set_status(config_id, status, None);
            })
        };
        let mut feed = Feed::new(
            manager.streams.clone(),
            &name,
            source::stream_kind(uri.scheme),
            &uri.shown(),
        )
        .with_status_hook(hook);
        let outcome = tokio::select! {
            r = source::run(&uri, &params, &manager.file_roots, &mut feed) => Outcome::Source(r),
            () = reconnect.notified() => Outcome::ShutDown,
        };
        // Ends the local stream before the status says so.
        drop(feed);
        let streamed = streamed.load(Ordering::Relaxed);
        let (status, error) = match outcome {
            Outcome::Source(Ok(())) => (ConfigStatus::Disconnected, None),
            Outcome::ShutDown => (ConfigStatus::Disconnected, Some("shutdownStream".into())),
            Outcome::Source(Err(e)) => {
                let status = match &e {
                    SourceError::Lost(_) => ConfigStatus::Disconnected,
                    _ if streamed => ConfigStatus::Disconnected,
                    _ => ConfigStatus::ConnectionFailed,
                };
                tracing::warn!(config_id, stream = %name, uri = %uri.shown(), "pull: {e}");
                crate::metrics::get().error(crate::metrics::ErrorKind::Ingest);
                (status, Some(e.to_string()))
            }
        };
        manager.set_status(config_id, status, error);
        if !params.keep_alive {
            manager.forget(config_id);
            return;
        }
        if streamed {
            delay = manager.backoff.initial;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(manager.backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> PullManager {
        PullManager::new(StreamRegistry::new(), ConfigIds::default())
            .with_backoff(Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(200),
            })
            .with_file_roots(&[std::env::temp_dir()])
    }

    /// file:// reads only inside the roots, links resolved; a refusal reads the same
    /// whether the file outside exists or not, and names neither the roots nor an OS error.
    #[tokio::test]
    async fn file_pulls_stay_inside_their_roots_and_say_nothing_of_outside() {
        let base = std::env::temp_dir().join(format!("smoothcast-roots-{}", std::process::id()));
        let root = base.join("media");
        let outside = base.join("private");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let secret = outside.join("secret.mp4");
        std::fs::write(&secret, b"not media").expect("write");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        let m = PullManager::new(StreamRegistry::new(), ConfigIds::default())
            .with_file_roots(std::slice::from_ref(&root));
        let refused = |path: &std::path::Path| {
            let uri = format!("file://{}", path.display());
            let e = m
                .create(PullParams::new(&uri, "x"))
                .expect_err(&uri)
                .to_string();
            assert!(!e.contains("No such file") && !e.contains("denied"), "{e}");
            e.replacen(&uri, "URI", 1)
        };
        let texts = [
            refused(&secret),
            refused(&outside.join("missing.mp4")),
            refused(std::path::Path::new("/etc/passwd")),
            refused(&root.join("link/secret.mp4")),
            refused(&root.join("../private/secret.mp4")),
        ];
        assert!(texts.iter().all(|t| t == &texts[0]), "{texts:?}");
        assert!(texts[0].contains("file_pull_roots"), "{}", texts[0]);
        assert!(
            !texts[0].contains(&root.display().to_string()),
            "{}",
            texts[0]
        );

        // Inside: accepted; a missing file fails without the OS's words.
        let missing = root.join("missing.mp4");
        let uri = format!("file://{}", missing.display());
        let e = m
            .create(PullParams::new(&uri, "in"))
            .expect("inside the root");
        let failed = wait_status(&m, e.config_id, ConfigStatus::ConnectionFailed).await;
        let why = failed.last_error.unwrap_or_default();
        assert!(why.contains("cannot be read"), "{why}");
        assert!(!why.contains("No such file"), "{why}");
        m.remove(e.config_id);
        // No roots: no file pulls at all.
        let none = PullManager::new(StreamRegistry::new(), ConfigIds::default());
        assert!(none.create(PullParams::new(&uri, "n")).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[tokio::test]
    async fn pulls_are_capped() {
        let m = manager().with_max_pulls(2);
        let a = m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/a", "a"))
            .expect("first");
        m.create(PullParams::new("rtmp://127.0.0.1:9/live/b", "b"))
            .expect("second");
        let e = m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/c", "c"))
            .expect_err("over the cap")
            .to_string();
        assert!(e.contains("the limit is 2"), "{e}");
        m.remove(a.config_id);
        m.create(PullParams::new("rtmp://127.0.0.1:9/live/c", "c"))
            .expect("room again");
        m.shutdown_all();
    }

    async fn wait_status(m: &PullManager, id: u64, want: ConfigStatus) -> PullConfigEntry {
        for _ in 0..500 {
            if let Some(e) = m.get(id) {
                if e.current.status == want {
                    return e;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("status {want:?} never reached: {:?}", m.get(id));
    }

    #[tokio::test]
    async fn failing_source_retries_until_it_works() {
        let m = manager();
        let path = std::env::temp_dir().join(format!("smoothcast-pull-{}.mp4", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let uri = format!("file://{}", path.display());
        let e = m.create(PullParams::new(&uri, "")).expect("create");
        assert_eq!(
            e.params.local_stream_name,
            format!("smoothcast-pull-{}", std::process::id())
        );
        let failed = wait_status(&m, e.config_id, ConfigStatus::ConnectionFailed).await;
        assert!(
            failed
                .last_error
                .as_deref()
                .is_some_and(|s| s.contains(&path.display().to_string())),
            "{failed:?}"
        );
        // keepAlive: it tries again, and streams once the file is there.
        std::fs::write(&path, include_bytes!("../../../../media/demo.mp4")).expect("write");
        let streaming = wait_status(&m, e.config_id, ConfigStatus::Streaming).await;
        let _ = std::fs::remove_file(&path);
        let info = m
            .streams
            .get(&e.params.local_stream_name)
            .expect("local stream");
        assert_eq!(streaming.current.unique_stream_id, info.unique_id);
        assert_eq!(info.source, uri);
        assert!(m.remove(e.config_id).is_some());
        assert!(m.list().is_empty());
        // The task is aborted; its stream ends when the runtime drops it.
        for _ in 0..100 {
            if m.streams.get(&e.params.local_stream_name).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            m.streams.get(&e.params.local_stream_name).is_none(),
            "stream ended"
        );
        assert!(m.remove(e.config_id).is_none());
    }

    #[tokio::test]
    async fn keep_alive_configs_are_saved_and_come_back_with_their_ids() {
        let store = StateStore::in_memory();
        let ids = ConfigIds::default();
        let m = PullManager::new(StreamRegistry::new(), ids.clone()).with_state(store.clone());
        ids.next();
        let kept = m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/a", "kept"))
            .expect("create");
        let mut once = PullParams::new("rtmp://127.0.0.1:9/live/b", "once");
        once.keep_alive = false;
        m.create(once).expect("create");
        let section = store.section(STATE_SECTION).expect("saved");
        assert_eq!(section.as_array().map(Vec::len), Some(1), "{section}");
        m.shutdown_all();

        let fresh_ids = ConfigIds::default();
        let again =
            PullManager::new(StreamRegistry::new(), fresh_ids.clone()).with_state(store.clone());
        assert_eq!(again.restore().map_err(|e| e.to_string()), Ok(1));
        let back = again.list();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].config_id, kept.config_id);
        assert_eq!(back[0].params, kept.params);
        assert!(
            fresh_ids.next() > kept.config_id,
            "new ids come after restored ones"
        );
        assert!(again.remove(kept.config_id).is_some());
        assert_eq!(store.section(STATE_SECTION), Some(serde_json::json!([])));
    }

    #[tokio::test]
    async fn names_are_checked_and_unique() {
        let m = manager();
        let e = m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/a", "cam"))
            .expect("create");
        let dup = m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/b", "cam"))
            .expect_err("duplicate")
            .to_string();
        assert!(dup.contains("already used"), "{dup}");
        assert!(m
            .create(PullParams::new("rtmp://127.0.0.1:9/live/b", "a/b"))
            .is_err());
        assert!(m.create(PullParams::new("rtmps://h/live/b", "x")).is_err());
        assert_eq!(
            m.by_stream_name("cam").map(|c| c.config_id),
            Some(e.config_id)
        );
        m.shutdown_all();
        assert!(m.list().is_empty());
    }

    #[tokio::test]
    async fn without_keep_alive_the_config_ends() {
        let m = manager();
        // A missing file inside the file roots: it fails once and, without keepAlive, ends.
        let missing =
            std::env::temp_dir().join(format!("smoothcast-none-{}/x.mp4", std::process::id()));
        let mut p = PullParams::new(&format!("file://{}", missing.display()), "");
        p.keep_alive = false;
        let e = m.create(p).expect("create");
        for _ in 0..200 {
            if m.get(e.config_id).is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("config still there: {:?}", m.get(e.config_id));
    }
}
