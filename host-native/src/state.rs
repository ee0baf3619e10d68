//! What survives a restart: the configs created over the API, in one JSON file, as EMS keeps
//! its keepAlive configs in pushPullSetup.xml beside its configuration.
//!
//! The file holds one section per kind of config, `{"version":1,"mss":[...],"pull":[...]}`;
//! each owner saves its whole section on every change and reads it once at start. Every save
//! rewrites the file atomically (temporary file, then rename), so a kill at any moment leaves
//! the previous or the new state, never half of one.
//!
//! Where: `state_file` in the configuration; by default beside the first `--config`
//! (`NAME.toml` keeps `NAME.state.json`), or without one in the XDG state directory,
//! `$XDG_STATE_HOME/smoothcast/smoothcast.state.json` (`~/.local/state/smoothcast/...`);
//! never silently in the working directory. The server prints at start which it uses.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// The file format's version; a file written by a newer format is refused, not misread.
const VERSION: u64 = 1;

/// The state file, shared by every owner of a section. Cheap to clone.
#[derive(Clone, Default)]
pub struct StateStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// `None`: nothing is written (library and unit-test use).
    path: Option<PathBuf>,
    sections: Map<String, Value>,
}

impl StateStore {
    /// Reads the state file; a missing file is an empty state. A file that cannot be read or
    /// parsed is an error naming it: starting without the configs it holds would silently
    /// drop them at the next save.
    pub fn open(path: &Path) -> Result<Self> {
        let sections = match std::fs::read(path) {
            Ok(bytes) => parse(&bytes).with_context(|| {
                format!(
                    "state file {} is unreadable; fix it, or move it away to start without the configs it holds",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("reading state file {}", path.display()))
            }
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                path: Some(path.to_path_buf()),
                sections,
            })),
        })
    }

    /// A state kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.lock().path.clone()
    }

    /// A section as last saved (or read at start).
    pub fn section(&self, name: &str) -> Option<Value> {
        self.lock().sections.get(name).cloned()
    }

    /// Replaces a section and rewrites the file.
    pub fn save_section(&self, name: &str, value: Value) -> Result<()> {
        self.update_section(name, || value)
    }

    /// Like [`StateStore::save_section`], but the value is built while the store is held, so
    /// saves racing each other reach the file in the order their values were taken.
    pub fn update_section(&self, name: &str, value: impl FnOnce() -> Value) -> Result<()> {
        let mut inner = self.lock();
        inner.sections.insert(name.to_string(), value());
        let Some(path) = inner.path.clone() else {
            return Ok(());
        };
        let mut doc = Map::new();
        doc.insert("version".into(), Value::from(VERSION));
        for (k, v) in &inner.sections {
            doc.insert(k.clone(), v.clone());
        }
        let text = serde_json::to_vec_pretty(&Value::Object(doc))?;
        crate::disk::write_atomic_private(&path, &text)
            .with_context(|| format!("saving state file {}", path.display()))
    }
}

fn parse(bytes: &[u8]) -> Result<Map<String, Value>> {
    let Value::Object(mut doc) = serde_json::from_slice(bytes)? else {
        bail!("not a JSON object");
    };
    match doc.remove("version").and_then(|v| v.as_u64()) {
        Some(VERSION) => Ok(doc),
        Some(v) => bail!("version {v}, this server reads version {VERSION}"),
        None => bail!("no version"),
    }
}

/// The state file used when the configuration names none: beside the first configuration
/// file, else in the XDG state directory. `None` when there is neither a configuration file
/// nor a home to put it in: configs are then kept in memory only (the server says so).
pub fn default_path(config: Option<&Path>) -> Option<PathBuf> {
    default_path_in(
        config,
        std::env::var_os("XDG_STATE_HOME"),
        std::env::var_os("HOME"),
    )
}

fn default_path_in(
    config: Option<&Path>,
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(c) = config {
        return Some(c.with_extension("state.json"));
    }
    // The XDG spec: a relative XDG_STATE_HOME is invalid and is ignored.
    let state_home = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/state"))
        })?;
    Some(state_home.join("smoothcast").join("smoothcast.state.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("smoothcast-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    #[test]
    fn sections_survive_a_reopen() {
        let dir = scratch("reopen");
        let path = dir.join("s.state.json");
        let store = StateStore::open(&path).expect("missing is empty");
        assert_eq!(store.section("mss"), None);
        store
            .save_section("mss", serde_json::json!([{"a": 1}]))
            .expect("saved");
        store
            .save_section("pull", serde_json::json!([]))
            .expect("saved");
        let again = StateStore::open(&path).expect("reopens");
        assert_eq!(again.section("mss"), Some(serde_json::json!([{"a": 1}])));
        assert_eq!(again.section("pull"), Some(serde_json::json!([])));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        // Owner-only: it may hold PlayReady content keys (createMSSStream drmKey).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_is_left_alone() {
        let dir = scratch("corrupt");
        let path = dir.join("s.state.json");
        for bad in [
            &b"{\"version\":1,\"mss\":["[..],
            b"[]",
            b"{\"version\":9}",
            b"{}",
        ] {
            std::fs::write(&path, bad).expect("write");
            let e = match StateStore::open(&path) {
                Ok(_) => panic!("{:?} was accepted", String::from_utf8_lossy(bad)),
                Err(e) => format!("{e:#}"),
            };
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert_eq!(std::fs::read(&path).expect("still there"), bad);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_path_sits_beside_the_config() {
        assert_eq!(
            default_path(Some(Path::new("/etc/smoothcast/server.toml"))),
            Some(PathBuf::from("/etc/smoothcast/server.state.json"))
        );
        assert_eq!(
            default_path_in(Some(Path::new("cfg/a.toml")), Some("/x".into()), None),
            Some(PathBuf::from("cfg/a.state.json"))
        );
        // Without a configuration file: the XDG state directory, never the working one.
        assert_eq!(
            default_path_in(None, Some("/var/state".into()), Some("/home/u".into())),
            Some(PathBuf::from("/var/state/smoothcast/smoothcast.state.json"))
        );
        assert_eq!(
            default_path_in(None, Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from(
                "/home/u/.local/state/smoothcast/smoothcast.state.json"
            ))
        );
        assert_eq!(default_path_in(None, None, None), None);
    }
}
