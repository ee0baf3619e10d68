//! A group's disk writer: applies the presentation's outputs in order on the blocking pool
//! ([`Serial`]) while the group goes on packaging, and records the write delay of every batch
//! that completes a fragment (from the sample's arrival from ingest to the last file on disk).
//!
//! It also emits the chunk events, since only it knows when a file is on disk:
//! `mssChunkCreated` just before a new fragment is written, `mssChunkClosed` once it is
//! (our fragments are written whole, so the two bracket one write; a live fragment's later
//! heads, rewritten in place, bring none), `mssPlaylistUpdated`
//! after a manifest write, and `mssChunkError` for a failed write. Events a group queues with
//! [`Writer::emit_after`] go out after everything queued before them is on disk. What the
//! events say is built in `chunk_events.rs`.
//!
//! A write that fails (a full disk) is not the end of the presentation: the fragment is
//! held in memory (up to [`HOLD_BUDGET`] per group) and written again once a write can
//! succeed, and while any fragment is missing from disk the manifest is not rewritten, so
//! the manifest on disk never lists a fragment that is not there. Players then see the
//! presentation pause, and catch up when space returns. A fragment that did not fit in the
//! budget is lost: the manifest stays as it was until the fragment leaves the rolling window
//! (its `Remove`), or for good in an appending presentation (which cannot list a gap).
//!
//! A folder this process's web server serves may keep the versions of a live fragment before
//! its last in memory instead (`[web] lookahead_memory_bytes`, [`crate::web::lookahead`]):
//! the fragment is then written once, as its last version, and its chunk events bracket that
//! write.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use smoothcast_core::presentation::{Event, FragmentBytes, FragmentInfo, Output};

use super::chunk_events::{chunk_payload, group_payload, ms, EventContext};
use super::destination::{Destination, Standby};
use super::serial::Serial;
use super::stats::WriteStats;
use crate::events::EventType;
use crate::metrics::{self, ErrorKind};
use crate::web::cache::{Cache, CacheKey};

/// Batches waiting for the disk; a group that gets this far ahead waits for it.
const QUEUE: usize = 64;

/// How many times a group had to wait for its writer (the queue was full): ingest was held
/// back. Should stay 0, also while a store is failing (fragments are held, not waited for).
static WAITED: AtomicU64 = AtomicU64::new(0);

/// See [`WAITED`].
pub fn writer_waits() -> u64 {
    WAITED.load(Ordering::Relaxed)
}

struct Batch {
    outputs: Vec<Output>,
    /// When the sample that produced a new fragment arrived, if this batch has one.
    arrival: Option<Instant>,
    /// Emitted once `outputs` are applied.
    after: Vec<(EventType, Value)>,
}

/// Bytes of fragments a group holds in memory while they cannot be written.
pub const HOLD_BUDGET: usize = 64 << 20;

/// Held fragments are written again at most this often while the disk refuses them.
const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// What the writer keeps between batches.
struct Shared {
    ev: EventContext,
    /// A write failed and none has succeeded since: one warning per outage, not per file.
    failing: AtomicBool,
    held: std::sync::Mutex<Held>,
    /// Look-ahead versions stay in memory for the web server ([`crate::web::lookahead`]):
    /// the folder is inside the web root this process serves.
    lookahead: bool,
}

/// Fragments not on disk yet: what the manifest must wait for.
#[derive(Default)]
struct Held {
    /// Failed writes kept for another try, in order.
    fragments: Vec<(String, FragmentBytes)>,
    bytes: usize,
    /// Failed writes that did not fit in [`HOLD_BUDGET`].
    lost: std::collections::BTreeSet<String>,
    last_retry: Option<Instant>,
    /// A manifest was held back and not written since (for one log line per outage).
    manifest_held: bool,
    /// The latest manifest held back: written as soon as nothing is missing, so a
    /// presentation that ended during the outage still gets its last manifest.
    manifest: Option<(String, String)>,
    /// Fragments whose look-ahead version is in memory, not on disk yet.
    lookahead: std::collections::HashSet<String>,
}

impl Held {
    fn is_clear(&self) -> bool {
        self.fragments.is_empty() && self.lost.is_empty()
    }

    fn hold(&mut self, path: String, data: FragmentBytes) {
        self.forget(&path);
        if self.bytes + data.len() <= HOLD_BUDGET {
            self.bytes += data.len();
            self.fragments.push((path, data));
        } else {
            tracing::error!(
                fragment = %path,
                "mss output: more than {HOLD_BUDGET} bytes of fragments wait for the disk; this one is lost, and the manifest stays as it is until it leaves the window"
            );
            self.lost.insert(path);
        }
    }

    /// Gives a held fragment its new head (same length: rewritten in place); `false` when
    /// `path` is not held.
    fn rehead(&mut self, path: &str, head: &bytes::Bytes) -> bool {
        let Some((_, data)) = self.fragments.iter_mut().find(|(p, _)| p == path) else {
            return false;
        };
        let (_, payload) = data.clone().into_pieces();
        *data = FragmentBytes::pieces_after(head.clone(), payload);
        true
    }

    fn forget(&mut self, path: &str) {
        self.lost.remove(path);
        if let Some(i) = self.fragments.iter().position(|(p, _)| p == path) {
            let (_, data) = self.fragments.remove(i);
            self.bytes -= data.len();
        }
    }

    /// Writes held fragments again (not more often than [`RETRY_INTERVAL`] unless `now`).
    fn retry(&mut self, out: &Destination, now: bool) {
        if self.fragments.is_empty() {
            return;
        }
        // `now` (before a manifest) skips the wait on a folder, whose failures are quick; a
        // store's failure may take its whole timeout, so it is never tried more often.
        if (!now || out.is_store())
            && self
                .last_retry
                .is_some_and(|t| t.elapsed() < RETRY_INTERVAL)
        {
            return;
        }
        self.last_retry = Some(Instant::now());
        let m = metrics::get();
        while let Some((path, data)) = self.fragments.first() {
            let len = data.len();
            if out.write_fragment(path, data).is_err() {
                return;
            }
            m.fragment_written(len);
            tracing::info!(fragment = %path, "mss output: a held fragment is stored now");
            self.bytes -= len;
            self.fragments.remove(0);
        }
    }
}

pub(super) struct Writer {
    line: Serial<Batch>,
    /// Look-ahead versions to let go of when the writer closes.
    lookahead: Option<(PathBuf, Arc<Shared>)>,
}

impl Writer {
    pub fn start(dir: PathBuf, stats: Arc<WriteStats>, events: EventContext) -> Self {
        // A store keeps no versions but the last (destination.rs): nothing in memory for it.
        let in_store = crate::store::is_store_location(&dir.to_string_lossy());
        let lookahead = !in_store && events.manager.keeps_lookahead(&dir);
        let shared = Arc::new(Shared {
            ev: events,
            failing: AtomicBool::new(false),
            held: Default::default(),
            lookahead,
        });
        let dest = Destination::open(&dir, &shared.ev.manager.object_store_config())
            .unwrap_or_else(|e| {
                // createMSSStream checked the location; a store that cannot be reached
                // now fails every write (mssChunkError), as a missing folder does.
                tracing::error!("mss output: {e:#}");
                Destination::Broken(format!("{e:#}"))
            });
        let line = {
            let shared = shared.clone();
            Serial::new(QUEUE, move |batches: Vec<Batch>| {
                let arrivals: Vec<Instant> = batches.iter().filter_map(|b| b.arrival).collect();
                apply(&dest, batches, &shared);
                // Measured where the files are in place, by the thread that put them there.
                for at in arrivals {
                    let delay = at.elapsed();
                    stats.record(delay);
                    metrics::get().write_delay(delay);
                }
            })
        };
        Self {
            line,
            lookahead: lookahead.then_some((dir, shared)),
        }
    }

    /// Queues outputs; waits only when the disk is `QUEUE` batches behind.
    pub async fn write(&self, outputs: Vec<Output>, arrival: Instant) {
        if outputs.is_empty() {
            return;
        }
        let fragment = outputs
            .iter()
            .any(|o| matches!(o, Output::WriteFragment { .. }));
        let batch = Batch {
            outputs,
            arrival: fragment.then_some(arrival),
            after: Vec::new(),
        };
        if self.line.push(batch).await {
            WAITED.fetch_add(1, Ordering::Relaxed);
            metrics::get().writer_waited();
            tracing::warn!(
                "mss output: the writer was {QUEUE} batches behind; packaging waited for it"
            );
        }
    }

    /// Emits an event once everything queued so far is on disk.
    /// Sent with or without sinks: the console's recent events (`events::recent`) list
    /// outputs starting and stopping; two per stream, so nothing to save by skipping them.
    pub async fn emit_after(&self, kind: EventType, payload: Value) {
        let batch = Batch {
            outputs: Vec::new(),
            arrival: None,
            after: vec![(kind, payload)],
        };
        self.line.push(batch).await;
    }

    /// Writes everything queued, then stops.
    pub async fn close(mut self) {
        self.line.flush().await;
        // Stopped before its newest fragments were settled: their look-ahead versions are
        // for nobody now.
        if let Some((dir, shared)) = self.lookahead.take() {
            let _ = tokio::task::spawn_blocking(move || forget_lookahead(&dir, &shared)).await;
        }
    }
}

impl Drop for Writer {
    /// Dropped without `close` (its group task panicked): the look-ahead versions are let
    /// go all the same, after what is still queued, so they do not hold the budget.
    fn drop(&mut self) {
        let (Some((dir, shared)), Ok(runtime)) =
            (self.lookahead.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let line = self.line.clone();
        runtime.spawn(async move {
            line.flush().await;
            let _ = tokio::task::spawn_blocking(move || forget_lookahead(&dir, &shared)).await;
        });
    }
}

fn apply(out: &Destination, batches: Vec<Batch>, shared: &Shared) {
    let m = metrics::get();
    let ev = &shared.ev;
    // Viewers get what was just written from memory: filled after each file is in place.
    let cache = ev.manager.web_cache();
    let fail = |file: &str, e: &anyhow::Error| failed(shared, file, e);
    // A link put in place of the folder since it was checked must not lead writes and
    // deletions out of the allowed roots: checked per trip to the disk (a few syscalls).
    let confined = out.dir().is_none_or(|dir| ev.manager.confined(dir).is_ok());
    let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
    for batch in batches {
        if !confined {
            fail(
                &out.shown(""),
                &anyhow::anyhow!("the folder now leads outside the allowed roots; nothing written"),
            );
            for (kind, payload) in batch.after {
                ev.bus.emit(kind, payload);
            }
            continue;
        }
        held.retry(out, false);
        if let Err(e) = out.tick() {
            fail(&out.shown(""), &e);
        }
        if held.is_clear() {
            if let Some((path, xml)) = held.manifest.take() {
                held.manifest_held = false;
                let file = out.shown(&path);
                match out.write_manifest(&path, xml) {
                    Ok(()) => tracing::info!(
                        "mss output: the held manifest is written; the presentation caught up"
                    ),
                    // Another node publishes it (said once already).
                    Err(e) if e.is::<Standby>() => {}
                    Err(e) => fail(&file, &e),
                }
            }
        }
        let mut manifest_ok = true;
        for o in batch.outputs {
            let o_kind = match &o {
                Output::RewriteFragment { .. } => OutKind::Rewrite,
                _ => OutKind::Write,
            };
            match o {
                Output::WriteFragment { path, data, info }
                | Output::RewriteFragment { path, data, info } => {
                    let new = matches!(o_kind, OutKind::Write);
                    if out.is_store() {
                        // A store keeps only a fragment's last version, written once (an
                        // object behind a CDN never changes): earlier versions are dropped.
                        if info.last_version {
                            write_new(out, cache, &mut held, shared, path, data, &info);
                        }
                    } else if shared.lookahead && !info.last_version {
                        keep_lookahead(out, cache, &mut held, shared, path, data, &info);
                    } else if new || shared.lookahead {
                        write_new(out, cache, &mut held, shared, path, data, &info);
                    } else {
                        // Every version: dash.js reads only a tfrf's first entry, so a
                        // viewer at the edge learns the next fragment only from a version
                        // that announces it (after a restart, from the files on disk).
                        rewrite(out, cache, &mut held, shared, path, data, &info);
                    }
                }
                Output::RewriteFragmentHead { path, head, info } => {
                    rewrite_head(out, cache, &mut held, shared, path, head, &info);
                }
                Output::WriteManifest { path, xml } => {
                    let len = xml.len();
                    held.retry(out, true);
                    if !held.is_clear() {
                        // It would list fragments that are not on disk: the last good
                        // manifest stays until they are.
                        if !held.manifest_held {
                            held.manifest_held = true;
                            tracing::warn!(
                                waiting = held.fragments.len() + held.lost.len(),
                                "mss output: manifest update held back until the fragments it lists are on disk"
                            );
                        }
                        held.manifest = Some((path, xml));
                        manifest_ok = false;
                        continue;
                    }
                    held.manifest_held = false;
                    held.manifest = None;
                    let kept = bytes::Bytes::from(xml.clone().into_bytes());
                    manifest_ok = match out.write_manifest(&path, xml) {
                        Ok(()) => {
                            if let Some(key) = out.cache_key(&path) {
                                cache.store(&key, kept);
                            }
                            m.manifest_written(len);
                            shared.failing.store(false, Ordering::Relaxed);
                            true
                        }
                        Err(e) if e.is::<Standby>() => false,
                        Err(e) => {
                            fail(&out.shown(&path), &e);
                            false
                        }
                    };
                }
                Output::Event(Event::ManifestUpdated { path }) => {
                    if manifest_ok && ev.bus.enabled() {
                        let mut p = group_payload(ev);
                        if let Some(obj) = p.as_object_mut() {
                            obj.insert("file".into(), json!(out.shown(&path)));
                        }
                        ev.bus.emit(EventType::MssPlaylistUpdated, p);
                    }
                }
                Output::Event(Event::FragmentCut {
                    level,
                    kind,
                    reason,
                }) => {
                    // A fragment limit cut a fragment short of a keyframe (issue 11): the
                    // source is misbehaving, which an operator should hear of.
                    tracing::warn!("mss output: {level} {}: {reason}", kind.as_str());
                    if ev.bus.enabled() {
                        let mut p = group_payload(ev);
                        if let Some(obj) = p.as_object_mut() {
                            obj.insert("error".into(), json!(format!("{level}: {reason}")));
                        }
                        ev.bus.emit(EventType::MssChunkError, p);
                    }
                }
                Output::Event(Event::TrackIgnored {
                    level,
                    track,
                    reason,
                }) => tracing::warn!("mss output: {level}: track {track} not packaged: {reason}"),
                // Its write carried the same facts (mssChunkCreated/Closed above).
                Output::Event(Event::FragmentClosed { .. }) => {}
                Output::Event(e) => tracing::debug!(?e, "mss event"),
                Output::Remove { path } => {
                    // Left the window: nothing waits for it any more.
                    held.forget(&path);
                    held.lookahead.remove(&path);
                    match out.remove(&path) {
                        Ok(()) => {
                            if let Some(key) = out.cache_key(&path) {
                                cache.remove(&key);
                            }
                        }
                        Err(e) => fail(&out.shown(&path), &e),
                    }
                }
            }
        }
        for (kind, payload) in batch.after {
            ev.bus.emit(kind, payload);
        }
    }
}

/// Fragments from this size up are not put in the web cache as they are written: they go
/// out with `sendfile` from the page cache, and are read into memory only once a viewer asks
/// for them, so a live server holds in memory only what is watched (256 MB of fragments
/// nobody asked for was most of its memory per stream with a few hundred streams).
const PREFILL_MAX: usize = 16 * 1024;

/// The web cache's fill with what was just written, for small files in their last version
/// (an earlier one is rewritten a moment later, which drops it again).
fn prefill(cache: &Cache, key: &CacheKey, data: &FragmentBytes, info: &FragmentInfo) {
    if data.len() < PREFILL_MAX && info.last_version {
        cache.store(key, data.to_bytes());
    }
}

enum OutKind {
    Write,
    Rewrite,
}

/// A fragment's first write to disk (its only one when look-ahead versions stay in
/// memory): bracketed by `mssChunkCreated` and `mssChunkClosed`, held if the disk refuses it.
#[allow(clippy::too_many_arguments)]
fn write_new(
    out: &Destination,
    cache: &Cache,
    held: &mut Held,
    shared: &Shared,
    path: String,
    data: FragmentBytes,
    info: &FragmentInfo,
) {
    let ev = &shared.ev;
    let file = out.shown(&path);
    let payload = ev.bus.enabled().then(|| chunk_payload(ev, &file, info));
    if let Some(p) = &payload {
        ev.bus.emit(EventType::MssChunkCreated, p.clone());
    }
    let len = data.len();
    // While earlier fragments wait, a new one waits behind them: order kept, and no second
    // timeout of a store that is down.
    let written = if held.fragments.is_empty() {
        out.write_fragment(&path, &data)
    } else {
        Err(anyhow::anyhow!(
            "waiting behind {} held fragments",
            held.fragments.len()
        ))
    };
    match written {
        Ok(()) => {
            if let Some(key) = out.cache_key(&path) {
                prefill(cache, &key, &data, info);
                if held.lookahead.remove(&path) {
                    cache.unpend(&key);
                }
            }
            metrics::get().fragment_written(len);
            shared.failing.store(false, Ordering::Relaxed);
            if let Some(mut p) = payload {
                if let Some(obj) = p.as_object_mut() {
                    obj.insert("stopTime".into(), json!(ms(info.start + info.duration)));
                    obj.insert("frameCount".into(), json!(info.samples));
                }
                ev.bus.emit(EventType::MssChunkClosed, p);
            }
        }
        Err(e) => {
            failed(shared, &file, &e);
            held.hold(path, data);
        }
    }
}

/// A later version of a fragment on disk: the rewrite announces the next fragment (tfrf),
/// which a listed live fragment must, so a failed one is held like a new fragment, and a
/// newer version replaces whatever was held for the path.
fn rewrite(
    out: &Destination,
    cache: &Cache,
    held: &mut Held,
    shared: &Shared,
    path: String,
    data: FragmentBytes,
    info: &FragmentInfo,
) {
    let len = data.len();
    match out.write_fragment(&path, &data) {
        Ok(()) => {
            if let Some(key) = out.cache_key(&path) {
                prefill(cache, &key, &data, info);
            }
            metrics::get().fragment_rewritten(len);
            held.forget(&path);
        }
        Err(e) => {
            failed(shared, &out.shown(&path), &e);
            held.hold(path, data);
        }
    }
}

/// A live fragment's new head, written over the old one in the file (the core's
/// `RewriteFragmentHead`). A fragment still waiting for the disk takes it in its held copy.
/// A failed rewrite leaves the earlier version, a whole fragment the manifest may list
/// (its tfrf announces less): reported, not retried, as the payload is not kept for it.
fn rewrite_head(
    out: &Destination,
    cache: &Cache,
    held: &mut Held,
    shared: &Shared,
    path: String,
    head: bytes::Bytes,
    info: &FragmentInfo,
) {
    if held.rehead(&path, &head) {
        return;
    }
    match out.rewrite_head(&path, &head, info.size as u64) {
        Ok(()) => {
            if let Some(key) = out.cache_key(&path) {
                // Its identity changed with it; the old bytes are of no use to anyone.
                cache.remove(&key);
            }
            metrics::get().fragment_rewritten(head.len());
        }
        Err(e) => failed(shared, &out.shown(&path), &e),
    }
}

/// A look-ahead version ([`crate::web::lookahead`]): kept in memory for this server's
/// viewers, not written; on disk after all when the memory budget is spent (no events:
/// the fragment's last version brings them).
fn keep_lookahead(
    out: &Destination,
    cache: &Cache,
    held: &mut Held,
    shared: &Shared,
    path: String,
    data: FragmentBytes,
    info: &FragmentInfo,
) {
    // Only folders keep look-ahead versions (Writer::start).
    let (Some(folder), Some(key)) = (out.folder(), out.cache_key(&path)) else {
        return rewrite(out, cache, held, shared, path, data, info);
    };
    let refused = match folder
        .resolve(&path)
        .and_then(|p| crate::disk::ensure_parent(&p))
    {
        // Kept in its pieces: joined only if a viewer asks for it.
        Ok(()) => cache.pend(&key, data).err(),
        Err(_) => Some(data),
    };
    match refused {
        None => {
            held.lookahead.insert(path);
        }
        Some(data) => rewrite(out, cache, held, shared, path, data, info),
    }
}

/// Drops the look-ahead versions a stopped writer left in memory. Blocking.
fn forget_lookahead(dir: &Path, shared: &Shared) {
    let cache = shared.ev.manager.web_cache();
    let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
    for path in held.lookahead.drain() {
        if let Some(key) = CacheKey::resolve(&dir.join(path)) {
            cache.unpend(&key);
        }
    }
}

fn failed(shared: &Shared, file: &str, e: &anyhow::Error) {
    metrics::get().error(ErrorKind::DiskWrite);
    if shared.failing.swap(true, Ordering::Relaxed) {
        tracing::debug!("mss output: {e:#}");
    } else {
        tracing::warn!(
            "mss output: {e:#} (further failures are logged at debug until a write succeeds)"
        );
    }
    let ev = &shared.ev;
    if ev.bus.enabled() {
        let mut p = group_payload(ev);
        if let Some(obj) = p.as_object_mut() {
            obj.insert("file".into(), json!(file));
            obj.insert("error".into(), json!(format!("{e:#}")));
        }
        ev.bus.emit(EventType::MssChunkError, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::outputs::OutputManager;
    use crate::streams::StreamRegistry;

    fn frag(path: &str, n: u8) -> Output {
        Output::WriteFragment {
            path: path.into(),
            data: vec![n; 1000].into(),
            info: smoothcast_core::presentation::FragmentInfo {
                level: Default::default(),
                kind: smoothcast_core::TrackKind::Video,
                bitrate: 1000,
                start: u64::from(n),
                duration: 1,
                samples: 1,
                size: 1000,
                last_version: true,
            },
        }
    }

    fn manifest(xml: &str) -> Output {
        Output::WriteManifest {
            path: "manifest.ismc".into(),
            xml: xml.into(),
        }
    }

    /// The writer over a folder.
    fn apply(dir: &std::path::Path, batches: Vec<Batch>, shared: &Shared) {
        let dest = Destination::open(dir, &Default::default()).expect("folder");
        super::apply(&dest, batches, shared)
    }

    fn batch(outputs: Vec<Output>) -> Vec<Batch> {
        vec![Batch {
            outputs,
            arrival: None,
            after: Vec::new(),
        }]
    }

    /// A writer dropped without `close` (its group task panicked) still lets its look-ahead
    /// versions go, after what it had queued.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_writer_lets_its_look_ahead_versions_go() {
        let root =
            std::env::temp_dir().join(format!("smoothcast-writer-drop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("group");
        std::fs::create_dir_all(dir.join("v")).expect("folder");
        let manager = OutputManager::new(StreamRegistry::new())
            .with_web_cache(crate::web::cache::Cache::with_lookahead(
                1 << 20,
                1 << 20,
                1 << 20,
            ))
            .with_served_root(&root)
            .with_rewrite_in_place(false);
        let lookahead = || manager.web_cache().lookahead().held();
        let ev = EventContext {
            bus: EventBus::disabled(),
            manager: manager.clone(),
            group_name: "g".into(),
            config_ids: vec![1],
        };
        let writer = Writer::start(dir.clone(), Arc::new(WriteStats::default()), ev);
        let mut first = frag("v/0.fmp4", 0);
        if let Output::WriteFragment { info, .. } = &mut first {
            info.last_version = false;
        }
        writer.write(vec![first], Instant::now()).await;
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while lookahead() == 0 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(lookahead() > 0, "the first version was not kept in memory");
        assert!(
            !dir.join("v/0.fmp4").exists(),
            "a look-ahead version reached the disk"
        );
        drop(writer);
        while lookahead() > 0 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            lookahead(),
            0,
            "a dropped writer kept its look-ahead versions"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A fault-injecting disk: while a file sits where the group folder should be, every
    /// write fails (as on a full disk); removing it is space coming back. Works unprivileged,
    /// where a small tmpfs cannot be mounted (the hostile suite uses a real tmpfs).
    #[test]
    fn failed_fragments_are_held_and_the_manifest_waits_for_them() {
        let root =
            std::env::temp_dir().join(format!("smoothcast-writer-hold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_file(&root);
        let dir = root.join("group");
        let shared = Shared {
            ev: EventContext {
                bus: EventBus::disabled(),
                manager: OutputManager::new(StreamRegistry::new()),
                group_name: "g".into(),
                config_ids: vec![1],
            },
            failing: AtomicBool::new(false),
            held: Default::default(),
            lookahead: false,
        };
        apply(
            &dir,
            batch(vec![frag("v/0.fmp4", 0), manifest("m0")]),
            &shared,
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("manifest.ismc"))
                .ok()
                .as_deref(),
            Some("m0")
        );

        // The disk "fills": the group folder's place is taken by a file.
        std::fs::remove_dir_all(&dir).expect("rm");
        std::fs::write(&dir, b"in the way").expect("block");
        apply(
            &dir,
            batch(vec![frag("v/1.fmp4", 1), manifest("m1")]),
            &shared,
        );
        apply(
            &dir,
            batch(vec![frag("v/2.fmp4", 2), manifest("m2")]),
            &shared,
        );
        {
            let held = shared.held.lock().expect("lock");
            assert_eq!(held.fragments.len(), 2, "both fragments held");
            assert_eq!(held.manifest.as_ref().map(|m| m.1.as_str()), Some("m2"));
        }

        // Space returns: the held fragments go first, then the manifest that lists them.
        std::fs::remove_file(&dir).expect("unblock");
        std::thread::sleep(RETRY_INTERVAL);
        apply(
            &dir,
            batch(vec![frag("v/3.fmp4", 3), manifest("m3")]),
            &shared,
        );
        for n in 1..=3u8 {
            assert_eq!(
                std::fs::read(dir.join(format!("v/{n}.fmp4"))).expect("fragment on disk"),
                vec![n; 1000]
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("manifest.ismc")).expect("m"),
            "m3"
        );
        assert!(shared.held.lock().expect("lock").is_clear());

        // A held manifest is written once the fragments are back even if nothing new comes
        // (a presentation that ended during the outage).
        std::fs::remove_dir_all(&dir).expect("rm");
        std::fs::write(&dir, b"in the way").expect("block");
        apply(
            &dir,
            batch(vec![frag("v/4.fmp4", 4), manifest("m4")]),
            &shared,
        );
        std::fs::remove_file(&dir).expect("unblock");
        std::thread::sleep(RETRY_INTERVAL);
        apply(&dir, batch(Vec::new()), &shared);
        assert_eq!(
            std::fs::read_to_string(dir.join("manifest.ismc")).expect("m"),
            "m4"
        );
        assert!(dir.join("v/4.fmp4").is_file());

        // A fragment that left the window while missing no longer holds the manifest back.
        std::fs::remove_dir_all(&dir).expect("rm");
        std::fs::write(&dir, b"in the way").expect("block");
        apply(
            &dir,
            batch(vec![frag("v/5.fmp4", 5), manifest("m5")]),
            &shared,
        );
        std::fs::remove_file(&dir).expect("unblock");
        shared.held.lock().expect("lock").last_retry = None;
        let removed = Output::Remove {
            path: "v/5.fmp4".into(),
        };
        // The retry at the batch's start writes it; then the window drops it.
        apply(&dir, batch(vec![removed, manifest("m6")]), &shared);
        assert_eq!(
            std::fs::read_to_string(dir.join("manifest.ismc")).expect("m"),
            "m6"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The group folder swapped for a link leading out after the config was made: the
    /// writer writes nothing through it.
    #[test]
    fn no_writes_through_a_link_out_of_the_roots() {
        let base = std::env::temp_dir().join(format!("smoothcast-writer-{}", std::process::id()));
        let root = base.join("www");
        let outside = base.join("elsewhere");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let group = root.join("g");
        std::os::unix::fs::symlink(&outside, &group).expect("symlink");
        let shared = Shared {
            ev: EventContext {
                bus: crate::events::EventBus::disabled(),
                manager: OutputManager::new(StreamRegistry::new())
                    .with_allowed_roots(vec![root.clone()]),
                group_name: "g".into(),
                config_ids: vec![1],
            },
            failing: AtomicBool::new(false),
            held: Default::default(),
            lookahead: false,
        };
        let batch = || Batch {
            outputs: vec![Output::WriteManifest {
                path: "manifest.ismc".into(),
                xml: "<x/>".into(),
            }],
            arrival: None,
            after: Vec::new(),
        };
        apply(&group, vec![batch()], &shared);
        assert!(
            !outside.join("manifest.ismc").exists(),
            "written through the link"
        );
        // A real folder inside the root is written as usual.
        std::fs::remove_file(&group).expect("rm link");
        apply(&group, vec![batch()], &shared);
        assert!(group.join("manifest.ismc").exists());
        let _ = std::fs::remove_dir_all(&base);
    }
}
