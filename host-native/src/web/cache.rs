//! A bounded in-memory cache of small served files (fragments, manifests, player scripts),
//! so a file many viewers ask for is read from the disk once and then handed to hyper as the
//! same `Bytes` (no copy, no blocking-pool trip per 64 KiB chunk).
//!
//! Never stale, by construction: an entry is keyed by the canonical path *and* the file's
//! identity (device, inode, length, modification time). Every request stats the file it
//! resolved anyway (the web root confinement needs it), and only an entry whose identity
//! matches that stat is used. Our live writer replaces every file by rename (a new inode),
//! so a rewrite on disk is a different identity at once; a removed file no longer resolves,
//! so it answers 404 whatever the cache holds. Other writers that rewrite in place change the
//! length or the modification time.
//!
//! The live writer also fills the cache with the bytes it has just written (`store`) and
//! drops removed files (`remove`), so viewers of a live presentation never make the server
//! read what it wrote a moment ago. That is an optimisation only: correctness never depends
//! on the writer telling the cache.
//!
//! Eviction is first-in first-out by insertion within a byte budget: live viewers want the
//! newest files, which are the last inserted; a VOD presentation within the budget stays.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderValue;
use smoothcast_core::presentation::FragmentBytes;

use super::headers;

/// What a stat says about a file's version. Equal identities mean the same bytes for files
/// replaced by rename or rewritten with a new length or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Ident {
    /// The file's length in this version.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// A version of an object in a store (web/store.rs): its length and ETag.
    pub fn object(len: u64, etag: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        etag.hash(&mut h);
        Self {
            // No file has this device: store versions never match a file's stat.
            dev: u64::MAX,
            ino: h.finish(),
            len,
            mtime_ns: 0,
        }
    }

    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self {
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            Self {
                dev: 0,
                ino: 0,
                len: meta.len(),
                mtime_ns,
            }
        }
    }
}

/// One file's bytes and the header values derived from them, computed once.
pub struct Cached {
    pub bytes: Bytes,
    /// Header values made once per version (a clone is a reference count).
    pub etag: HeaderValue,
    pub last_modified: Option<HeaderValue>,
    pub modified: Option<SystemTime>,
    /// A manifest declaring `IsLive` (decides its caching headers).
    pub live: bool,
    gzip: OnceLock<Option<Bytes>>,
    etag_gzip: OnceLock<HeaderValue>,
}

impl Cached {
    pub fn new(bytes: Bytes, modified: Option<SystemTime>) -> Self {
        // The root element comes first, so IsLive is within the head of the file.
        let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
        Self {
            live: headers::sniff_live(head),
            etag: value(headers::etag(bytes.len() as u64, modified, "")),
            last_modified: modified.map(|m| value(headers::http_date(m))),
            modified,
            bytes,
            gzip: OnceLock::new(),
            etag_gzip: OnceLock::new(),
        }
    }

    /// The gzip form of the bytes, made on first use and kept with the entry (manifests are
    /// asked for many times per version). `None` if compressing failed.
    pub fn gzip(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.bytes.len() / 4 + 64),
                    flate2::Compression::fast(),
                );
                enc.write_all(&self.bytes).ok()?;
                enc.finish().ok().map(Bytes::from)
            })
            .as_ref()
    }

    /// The gzip form's own strong validator (another representation, another tag).
    pub fn etag_gzip(&self) -> &HeaderValue {
        self.etag_gzip.get_or_init(|| {
            let base = self.etag.to_str().unwrap_or("").trim_end_matches('"');
            value(format!("{base}-gz\""))
        })
    }
}

/// Our validators and dates are plain ASCII; anything else would be a bug, sent as empty.
pub fn value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""))
}

/// Enough of a manifest's head to see its root element's attributes.
const SNIFF_BYTES: usize = 4096;

/// Default byte budget (`[web] cache_bytes`).
pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;
/// Default largest file kept (`[web] cache_max_file_bytes`); larger ones are streamed.
pub const DEFAULT_MAX_FILE: u64 = 16 * 1024 * 1024;

/// A handle on the process's cache; clones share it.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    budget: u64,
    max_file: u64,
    /// Live look-ahead versions, which have no file (outside the budget above).
    lookahead: super::lookahead::Lookahead,
    /// Lookups share it; only fills and removals take it alone.
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    map: HashMap<PathBuf, Entry>,
    /// Insertion order; an item whose `seq` no longer matches its entry is stale.
    order: VecDeque<(u64, PathBuf)>,
    bytes: u64,
    seq: u64,
}

struct Entry {
    id: Ident,
    seq: u64,
    data: Arc<Cached>,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET, DEFAULT_MAX_FILE)
    }
}

impl Cache {
    /// `budget` bytes in all, files up to `max_file` bytes (0 for either: nothing cached).
    pub fn new(budget: u64, max_file: u64) -> Self {
        Self::with_lookahead(budget, max_file, super::lookahead::DEFAULT_BUDGET)
    }

    /// As [`Cache::new`], with `lookahead` bytes for live look-ahead versions (0: none, every
    /// version goes to disk).
    pub fn with_lookahead(budget: u64, max_file: u64, lookahead: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                budget,
                max_file: max_file.min(budget),
                lookahead: super::lookahead::Lookahead::new(lookahead),
                state: RwLock::default(),
            }),
        }
    }

    /// The live look-ahead versions (see [`super::lookahead`]).
    pub fn lookahead(&self) -> &super::lookahead::Lookahead {
        &self.inner.lookahead
    }

    /// The writer's look-ahead version of the file at `key`, kept in memory instead of
    /// written. `Err` gives the bytes back: not kept (no budget left), so write them.
    pub fn pend(&self, key: &CacheKey, data: FragmentBytes) -> Result<(), FragmentBytes> {
        self.inner.lookahead.put(&key.0, data)
    }

    /// The writer is done with the look-ahead versions of the file at `key` (its last
    /// version is on disk, or it left the window).
    pub fn unpend(&self, key: &CacheKey) {
        if self.inner.lookahead.held() == 0 {
            return;
        }
        self.inner.lookahead.remove(&key.0);
    }

    /// Whether a file of `len` bytes may be kept.
    pub fn fits(&self, len: u64) -> bool {
        len <= self.inner.max_file && self.inner.max_file > 0
    }

    /// The cached version of `path` (canonical) if it is the version `id` describes.
    pub fn get(&self, path: &Path, id: &Ident) -> Option<Arc<Cached>> {
        let m = crate::metrics::get();
        let st = self.read();
        match st.map.get(path) {
            Some(e) if e.id == *id => {
                m.web_cache(true);
                Some(e.data.clone())
            }
            _ => {
                m.web_cache(false);
                None
            }
        }
    }

    /// Keeps `data` as the version `id` of `path` (canonical), replacing any other version.
    pub fn insert(&self, path: &Path, id: Ident, data: Arc<Cached>) {
        let len = data.bytes.len() as u64;
        if !self.fits(len) {
            return;
        }
        let mut st = self.lock();
        st.seq += 1;
        let seq = st.seq;
        if let Some(old) = st.map.insert(path.to_path_buf(), Entry { id, seq, data }) {
            st.bytes -= old.data.bytes.len() as u64;
        }
        st.bytes += len;
        st.order.push_back((seq, path.to_path_buf()));
        while st.bytes > self.inner.budget {
            let Some((s, p)) = st.order.pop_front() else {
                break;
            };
            if st.map.get(&p).is_some_and(|e| e.seq == s) {
                if let Some(old) = st.map.remove(&p) {
                    st.bytes -= old.data.bytes.len() as u64;
                }
            }
        }
        // Replacements (a live manifest every chunk) leave stale order items: compact.
        if st.order.len() > 2 * st.map.len() + 64 {
            let State { map, order, .. } = &mut *st;
            order.retain(|(s, p)| map.get(p).is_some_and(|e| e.seq == *s));
        }
        crate::metrics::get().web_cache_bytes(st.bytes);
    }

    /// The writer's fill: `data` was just written to the file at `key` (renamed into place).
    /// Blocking (a stat): call it from the writer's blocking task.
    pub fn store(&self, key: &CacheKey, data: Bytes) {
        if !self.fits(data.len() as u64) {
            return;
        }
        let Ok(meta) = std::fs::metadata(&key.0) else {
            return;
        };
        // Someone else's write since ours: leave it to the readers.
        if meta.len() != data.len() as u64 {
            return;
        }
        let cached = Arc::new(Cached::new(data, meta.modified().ok()));
        self.insert(&key.0, Ident::of(&meta), cached);
    }

    /// The writer's removal of the file at `key` (already gone from the disk, or rewritten).
    pub fn remove(&self, key: &CacheKey) {
        self.inner.lookahead.remove(&key.0);
        // Most files the writer rewrites or removes were never cached (only small ones are
        // filled, and others only once a viewer asks): a shared lock says so.
        if !self.read().map.contains_key(&key.0) {
            return;
        }
        let mut st = self.lock();
        if let Some(old) = st.map.remove(&key.0) {
            st.bytes -= old.data.bytes.len() as u64;
        }
        crate::metrics::get().web_cache_bytes(st.bytes);
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.read().bytes
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot break it.
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where a file is in the cache: its canonical path (links resolved), as a request for the
/// file resolves it. A writer makes them from its folder, resolved once ([`FolderKeys`]);
/// [`CacheKey::resolve`] resolves the file's folder each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(PathBuf);

impl CacheKey {
    /// The key of `path`, whose folder exists (the file itself may not). Blocking (a
    /// canonicalize of the folder).
    pub fn resolve(path: &Path) -> Option<Self> {
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir).ok().map(|d| Self(d.join(name))),
            _ => None,
        }
    }
}

/// The cache keys of one folder's files: the folder is resolved through its links once, the
/// first time it exists, not once per file. A canonicalize is a `readlink` per component of
/// the path: some fifteen system calls per live fragment, ~3% of the server's CPU at 1,000
/// streams. A link swapped into the folder's path later only makes the writer's fills miss:
/// entries are matched on the file's identity too, so a stale key never serves other bytes.
pub struct FolderKeys {
    dir: PathBuf,
    canonical: OnceLock<PathBuf>,
}

impl FolderKeys {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            canonical: OnceLock::new(),
        }
    }

    /// The key of `rel` in the folder; `None` while the folder does not exist. Blocking
    /// until the folder has been resolved.
    pub fn key(&self, rel: &str) -> Option<CacheKey> {
        let dir = match self.canonical.get() {
            Some(dir) => dir,
            None => {
                let dir = std::fs::canonicalize(&self.dir).ok()?;
                self.canonical.get_or_init(|| dir)
            }
        };
        Some(CacheKey(dir.join(rel)))
    }
}

/// Reads a file whole and returns it with the identity it had while read; `insert` is
/// false when the file changed during the read (not a version to keep). Blocking.
pub fn read_file(path: &Path) -> std::io::Result<(Ident, Arc<Cached>, bool)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let before = f.metadata()?;
    let mut buf = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
    f.read_to_end(&mut buf)?;
    let after = std::fs::metadata(path)?;
    let id = Ident::of(&before);
    let stable = id == Ident::of(&after) && buf.len() as u64 == before.len();
    Ok((
        id,
        Arc::new(Cached::new(Bytes::from(buf), before.modified().ok())),
        stable,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("smoothcast-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::canonicalize(d).expect("canonical")
    }

    fn key(file: &Path) -> CacheKey {
        CacheKey::resolve(file).expect("its folder exists")
    }

    #[test]
    fn a_folders_keys_are_its_files_resolved_through_links() {
        let d = tmp("keys");
        let real = d.join("real");
        std::fs::create_dir_all(real.join("QualityLevels(1)")).expect("mkdir");
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let keys = FolderKeys::new(link.join("missing"));
        assert_eq!(keys.key("a"), None, "not before the folder exists");
        let keys = FolderKeys::new(link.clone());
        let rel = "QualityLevels(1)/Fragments(video=0)";
        assert_eq!(keys.key(rel), Some(key(&link.join(rel))));
        assert_eq!(keys.key(rel), Some(CacheKey(real.join(rel))));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn identity_follows_renames_and_budget_holds() {
        let d = tmp("ident");
        let p = d.join("a.fmp4");
        crate::disk::write_atomic(&p, b"first").expect("write");
        let cache = Cache::new(12, 10);
        cache.store(&key(&p), Bytes::from_static(b"first"));
        let id1 = Ident::of(&std::fs::metadata(&p).expect("stat"));
        assert_eq!(
            cache.get(&p, &id1).map(|c| c.bytes.clone()),
            Some(Bytes::from_static(b"first"))
        );
        // Same length, replaced by rename without telling the cache: another identity.
        crate::disk::write_atomic(&p, b"secnd").expect("write");
        let id2 = Ident::of(&std::fs::metadata(&p).expect("stat"));
        assert_ne!(id1, id2);
        assert!(cache.get(&p, &id2).is_none(), "never the old bytes");
        // The budget (12 bytes) holds: a second 5-byte file fits, a third evicts the first.
        let q = d.join("b.fmp4");
        let r = d.join("c.fmp4");
        crate::disk::write_atomic(&q, b"bbbbb").expect("write");
        crate::disk::write_atomic(&r, b"ccccc").expect("write");
        cache.store(&key(&q), Bytes::from_static(b"bbbbb"));
        cache.store(&key(&r), Bytes::from_static(b"ccccc"));
        assert!(cache.held() <= 12);
        assert!(cache.get(&p, &id1).is_none());
        let idr = Ident::of(&std::fs::metadata(&r).expect("stat"));
        assert!(cache.get(&r, &idr).is_some(), "the newest stays");
        // Too large for max_file: not kept.
        let big = d.join("big");
        std::fs::write(&big, [0u8; 11]).expect("write");
        cache.store(&key(&big), Bytes::from(vec![0u8; 11]));
        let idb = Ident::of(&std::fs::metadata(&big).expect("stat"));
        assert!(cache.get(&big, &idb).is_none());
        // Removal drops the entry.
        std::fs::remove_file(&r).expect("rm");
        cache.remove(&key(&r));
        assert!(cache.get(&r, &idr).is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn gzip_round_trip() {
        let c = Cached::new(Bytes::from(vec![b'a'; 10_000]), None);
        let gz = c.gzip().expect("gzip").clone();
        assert!(gz.len() < 1000);
        let mut out = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, vec![b'a'; 10_000]);
        assert!(c.etag_gzip().to_str().expect("ascii").ends_with("-gz\""));
        assert_ne!(c.etag_gzip(), c.etag);
    }
}
