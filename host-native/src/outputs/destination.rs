//! Where a group's writer puts files: a folder, or an object store (`s3://bucket/prefix`).
//! The writer (writer.rs) keeps its logic (events, held fragments, manifest after
//! fragments) for both; only the few calls here differ.
//!
//! The store follows the rules for live output on object storage
//! (`reference/object-storage.md` §3):
//! - a fragment is uploaded once, as its last version ([`last_version`](smoothcast_core::presentation::FragmentInfo::last_version):
//!   complete tfrf, or the presentation ended), with `If-None-Match: *`; an existing key is
//!   success (a retry, or a second packager of the same input writing the same bytes);
//! - one node publishes a presentation: a lease object (`.lease` beside the manifest: node,
//!   expiry) created with `If-None-Match: *`, renewed with `If-Match`, taken over only once
//!   expired; the manifest is then written with `If-Match` on our own last version. A node
//!   that is not the owner stands by: it packages and stores fragments, keeps its manifests
//!   back ([`Standby`], said once in the log) and takes over once the owner's lease runs out;
//! - a fragment that left the window is deleted only after [`DELETE_GRACE`] (players, the
//!   CDN and the manifest's TTL may still ask for it);
//! - every object carries Content-Type and Cache-Control (store.rs `object_headers`).
//!
//! Store calls block the writer's blocking-pool thread (`Handle::block_on`), which is what
//! the folder writes do too; each has a timeout, so a stalled store makes writes fail (and
//! the writer hold fragments), never hang.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;

use crate::disk::OutputDir;
use crate::store::{object_headers, Mode, Store, StoreError};
use crate::web::cache::{CacheKey, FolderKeys};
use smoothcast_core::presentation::FragmentBytes;

/// A fragment that left the rolling window stays in the store this long.
pub const DELETE_GRACE: Duration = Duration::from_secs(60);

/// How long a node's claim on a presentation lasts without renewal; another node may take
/// the presentation over after that.
pub const LEASE: Duration = Duration::from_secs(10);

/// The lease object's name beside the manifest; a dot name, so origins never serve it.
const LEASE_NAME: &str = ".lease";

/// A manifest not written because another node publishes the presentation (its lease is
/// live): not a failure of this node, which keeps packaging as a warm standby.
#[derive(Debug)]
pub struct Standby(pub String);

impl std::fmt::Display for Standby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Standby {}

pub(super) enum Destination {
    Dir {
        dir: PathBuf,
        out: OutputDir,
        keys: FolderKeys,
    },
    Store(Box<StoreSink>),
    /// A store location whose client could not be made (bad `AWS_*` settings): every write
    /// fails with this, as into a folder that cannot be created.
    Broken(String),
}

impl Destination {
    /// The destination of a group folder: a store location (`s3://...`) or a local folder.
    pub fn open(
        dir: &Path,
        config: &crate::config::object_store::ObjectStoreConfig,
    ) -> Result<Self> {
        let shown = dir.to_string_lossy();
        if crate::store::is_store_location(&shown) {
            let location = crate::store::Location::parse(&shown)?;
            let store = Store::connect(&location, config)?;
            let mut sink = StoreSink::new(store, tokio::runtime::Handle::try_current()?);
            if let Some(id) = config.node_id.as_ref().filter(|id| !id.is_empty()) {
                sink.node = id.clone();
            }
            return Ok(Self::Store(Box::new(sink)));
        }
        Ok(Self::Dir {
            dir: dir.to_path_buf(),
            out: OutputDir::new(dir.to_path_buf()).with_atomic_fragments(),
            keys: FolderKeys::new(dir.to_path_buf()),
        })
    }

    /// How a file is named in events and logs.
    pub fn shown(&self, rel: &str) -> String {
        match self {
            Self::Dir { dir, .. } => dir.join(rel).display().to_string(),
            Self::Store(s) => s.store.url(rel),
            Self::Broken(_) => rel.to_string(),
        }
    }

    /// The local folder, if this is one (it is confined to the allowed roots).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Self::Dir { dir, .. } => Some(dir),
            _ => None,
        }
    }

    /// The local folder's writer, if this is one.
    pub fn folder(&self) -> Option<&OutputDir> {
        match self {
            Self::Dir { out, .. } => Some(out),
            _ => None,
        }
    }

    /// Where a file is in the web server's cache (none for a store, nor while the folder
    /// does not exist). Blocking until the folder has been resolved.
    pub fn cache_key(&self, rel: &str) -> Option<CacheKey> {
        match self {
            Self::Dir { keys, .. } => keys.key(rel),
            _ => None,
        }
    }

    pub fn is_store(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Broken(_))
    }

    pub fn write_fragment(&self, rel: &str, data: &FragmentBytes) -> Result<()> {
        match self {
            // In pieces: a rewritten fragment is its new head and a shared payload.
            Self::Dir { out, .. } => crate::disk::replace_atomic(
                &out.resolve(rel)?,
                data.pieces(),
                super::reaper::retire,
            ),
            Self::Store(s) => s.put_fragment(rel, data.to_bytes()),
            Self::Broken(why) => bail!("{why}"),
        }
    }

    /// A live fragment's new head over its old one ([`crate::disk::rewrite_head`]); the
    /// fragment is `size` bytes long.
    pub fn rewrite_head(&self, rel: &str, head: &[u8], size: u64) -> Result<()> {
        match self {
            Self::Dir { out, .. } => crate::disk::rewrite_head(&out.resolve(rel)?, head, size),
            // presentation_for never asks it of a store (rewrites_in_place).
            Self::Store(_) => bail!("an object store takes whole objects, not a new head"),
            Self::Broken(why) => bail!("{why}"),
        }
    }

    pub fn write_manifest(&self, rel: &str, xml: String) -> Result<()> {
        match self {
            Self::Dir { out, .. } => crate::disk::replace_atomic(
                &out.resolve(rel)?,
                [xml.as_bytes()],
                super::reaper::retire,
            ),
            Self::Store(s) => s.put_manifest(rel, xml),
            Self::Broken(why) => bail!("{why}"),
        }
    }

    /// A fragment left the window: removed from a folder by the removal thread (off the
    /// write path, [`super::reaper`]), after [`DELETE_GRACE`] from a store.
    pub fn remove(&self, rel: &str) -> Result<()> {
        match self {
            Self::Dir { out, .. } => super::reaper::remove(out.resolve(rel)?),
            Self::Store(s) => {
                let due = Instant::now() + s.grace;
                s.lock().deletions.push((due, rel.to_string()));
                Ok(())
            }
            Self::Broken(_) => Ok(()),
        }
    }

    /// Work that waits for time: deletions whose grace has passed.
    pub fn tick(&self) -> Result<()> {
        match self {
            Self::Store(s) => s.delete_due(),
            _ => Ok(()),
        }
    }
}

/// The node name in leases (unless `[object_store] node_id` names it): `SMOOTHCAST_NODE_ID`,
/// else host name and process id.
pub fn node_id() -> String {
    if let Ok(id) = std::env::var("SMOOTHCAST_NODE_ID") {
        if !id.is_empty() {
            return id;
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into());
    format!("{host}-{}", std::process::id())
}

pub(super) struct StoreSink {
    store: Store,
    runtime: tokio::runtime::Handle,
    node: String,
    /// [`DELETE_GRACE`] (shorter in tests).
    grace: Duration,
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    /// Our lease: its ETag and when it runs out.
    lease: Option<(String, Instant)>,
    /// The ETag of the manifest we last wrote (the `If-Match` of the next).
    manifest_etag: Option<String>,
    /// Another node publishes the presentation (said once in the log).
    standby: bool,
    deletions: Vec<(Instant, String)>,
}

/// What a lease object holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    node: String,
    /// Unix milliseconds.
    expires: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl StoreSink {
    pub fn new(store: Store, runtime: tokio::runtime::Handle) -> Self {
        Self {
            store,
            runtime,
            node: node_id(),
            grace: DELETE_GRACE,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put_fragment(&self, rel: &str, data: Bytes) -> Result<()> {
        let (ctype, cache) = object_headers(rel, true);
        let put = self.store.put(rel, data, ctype, cache, Mode::Create);
        match self.runtime.block_on(put) {
            // Already there: written by an earlier try whose answer was lost, or by another
            // packager of the same input (deterministic bytes).
            Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(anyhow!("uploading {}: {e}", self.store.url(rel))),
        }
    }

    fn put_manifest(&self, rel: &str, xml: String) -> Result<()> {
        self.hold_lease(rel)?;
        let (ctype, cache) = object_headers(rel, crate::web::headers::sniff_live(xml.as_bytes()));
        let mode = match self.lock().manifest_etag.clone() {
            Some(e) => Mode::Update(e),
            // First write under our lease: whatever an earlier owner left is replaced.
            None => Mode::Overwrite,
        };
        let put = self.store.put(rel, Bytes::from(xml), ctype, cache, mode);
        match self.runtime.block_on(put) {
            Ok(etag) => {
                self.lock().manifest_etag = etag;
                Ok(())
            }
            Err(StoreError::Precondition) => {
                // Another node wrote the manifest: it owns the presentation now.
                let mut st = self.lock();
                st.lease = None;
                st.manifest_etag = None;
                bail!(
                    "{}: another node wrote the manifest; this node ({}) stops publishing it",
                    self.store.url(rel),
                    self.node
                )
            }
            Err(e) => Err(anyhow!("uploading {}: {e}", self.store.url(rel))),
        }
    }

    /// Takes or renews the presentation's lease (the manifest's folder); an error if
    /// another node holds it.
    fn hold_lease(&self, manifest: &str) -> Result<()> {
        let rel = match manifest.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{LEASE_NAME}"),
            None => LEASE_NAME.to_string(),
        };
        let ours = self.lock().lease.clone();
        if let Some((_, until)) = &ours {
            // Renewed once half of it has passed: one extra PUT per half lease.
            if until.saturating_duration_since(Instant::now()) > LEASE / 2 {
                return Ok(());
            }
        }
        let now = SystemTime::now();
        let body = serde_json::to_vec(&LeaseBody {
            node: self.node.clone(),
            expires: unix_ms(now + LEASE),
        })?;
        let mode = match ours {
            Some((etag, _)) => Mode::Update(etag),
            None => {
                // Whose is it? Absent: create it. Expired, or ours from before a restart
                // (same node id): take it over on its ETag.
                match self.runtime.block_on(self.store.get(&rel, None)) {
                    Err(StoreError::NotFound) => Mode::Create,
                    Err(e) => bail!("reading {}: {e}", self.store.url(&rel)),
                    Ok(None) => Mode::Create,
                    Ok(Some(obj)) => {
                        let held: Option<LeaseBody> = serde_json::from_slice(&obj.bytes).ok();
                        let theirs = held
                            .as_ref()
                            .filter(|l| l.node != self.node && l.expires > unix_ms(now));
                        if let Some(l) = theirs {
                            let why = format!(
                                "{} is published by node {} (lease for {} ms more); this node ({}) stands by",
                                self.store.url(manifest),
                                l.node,
                                l.expires - unix_ms(now),
                                self.node
                            );
                            if !std::mem::replace(&mut self.lock().standby, true) {
                                tracing::warn!("mss output: {why}");
                            }
                            return Err(Standby(why).into());
                        }
                        match obj.etag {
                            Some(e) => Mode::Update(e),
                            None => Mode::Overwrite,
                        }
                    }
                }
            }
        };
        let put = self.store.put(
            &rel,
            Bytes::from(body),
            "application/json",
            "no-store",
            mode,
        );
        let started = Instant::now();
        match self.runtime.block_on(put) {
            Ok(Some(etag)) => {
                let mut st = self.lock();
                if st.lease.is_none() {
                    // A new claim: our manifest version is not known yet.
                    st.manifest_etag = None;
                    if std::mem::take(&mut st.standby) {
                        tracing::warn!(
                            "mss output: node {} took over {} (the other node's lease ran out)",
                            self.node,
                            self.store.url(manifest)
                        );
                    }
                }
                st.lease = Some((etag, started + LEASE));
                Ok(())
            }
            Ok(None) => bail!("{}: the store gave no ETag", self.store.url(&rel)),
            Err(StoreError::AlreadyExists | StoreError::Precondition) => {
                let mut st = self.lock();
                st.lease = None;
                st.manifest_etag = None;
                bail!(
                    "{}: another node took the presentation; this node ({}) does not publish it",
                    self.store.url(manifest),
                    self.node
                )
            }
            Err(e) => bail!("writing {}: {e}", self.store.url(&rel)),
        }
    }

    fn delete_due(&self) -> Result<()> {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut st = self.lock();
            let (due, wait): (Vec<_>, Vec<_>) =
                st.deletions.drain(..).partition(|(at, _)| *at <= now);
            st.deletions = wait;
            due.into_iter().map(|(_, p)| p).collect()
        };
        let mut due = due.into_iter();
        while let Some(rel) = due.next() {
            if let Err(e) = self.runtime.block_on(self.store.delete(&rel)) {
                // The store is failing: the rest wait too (one timeout, not one each), and
                // all are tried again shortly. A missed deletion leaves an orphan, never
                // breaks playback.
                let later = now + Duration::from_secs(1);
                let mut st = self.lock();
                st.deletions.push((later, rel.clone()));
                st.deletions.extend(due.map(|r| (later, r)));
                return Err(anyhow!("deleting {}: {e}", self.store.url(&rel)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "<SmoothStreamingMedia IsLive=\"TRUE\"/>";

    #[test]
    fn one_node_publishes_fragments_are_written_once_and_deletions_wait() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let store = Store::in_memory("p");
        let node = |name: &str| {
            let mut s = StoreSink::new(store.clone(), rt.handle().clone());
            s.node = name.into();
            s
        };
        let (a, b) = (node("a"), node("b"));
        a.put_fragment("g/v/1.fmp4", Bytes::from_static(b"one"))
            .expect("first write");
        // A retry, or another packager of the same input: the key exists, which is success.
        b.put_fragment("g/v/1.fmp4", Bytes::from_static(b"one"))
            .expect("existing key");
        a.put_manifest("g/manifest.ismc", LIVE.into())
            .expect("a publishes");
        let e = b
            .put_manifest("g/manifest.ismc", "<b/>".into())
            .expect_err("b may not publish");
        assert!(e.is::<Standby>(), "{e:#}");
        a.put_manifest("g/manifest.ismc", LIVE.into())
            .expect("a updates its own version");
        // Someone else replaced the manifest behind a's back: a stops publishing.
        rt.block_on(store.put(
            "g/manifest.ismc",
            Bytes::from_static(b"<other/>"),
            "text/xml",
            "no-store",
            Mode::Overwrite,
        ))
        .expect("put");
        assert!(a.put_manifest("g/manifest.ismc", LIVE.into()).is_err());
        let got = rt
            .block_on(store.get("g/manifest.ismc", None))
            .expect("get")
            .expect("object");
        assert_eq!(&got.bytes[..], b"<other/>");

        let mut c = node("c");
        c.grace = Duration::from_millis(300);
        let sink = Destination::Store(Box::new(c));
        sink.remove("g/v/1.fmp4").expect("scheduled");
        sink.tick().expect("tick");
        assert!(
            rt.block_on(store.len("g/v/1.fmp4")).is_ok(),
            "deleted before the grace"
        );
        std::thread::sleep(Duration::from_millis(350));
        sink.tick().expect("tick");
        assert!(matches!(
            rt.block_on(store.len("g/v/1.fmp4")),
            Err(StoreError::NotFound)
        ));
    }
}
