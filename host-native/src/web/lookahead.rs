//! The look-ahead versions of the newest live fragments, held in memory only (when
//! `[web] lookahead_memory_bytes` allows it and `[web] live_rewrite_in_place` is off; by
//! default a fragment's later versions rewrite its head in place, and nothing is kept here).
//!
//! A live fragment's tfrf announces the fragments after it, so without rewrites in place it
//! is written three times (lookahead 2): announcing none, one, then two successors. dash.js reads only the first
//! tfrf entry, so a viewer learns fragment k+1 only from a version of k that announces it:
//! every version matters to it. This memory keeps the versions before the last for the web
//! server of this process, and the disk gets each fragment once, as its last version: a
//! third of the bytes, for a live server whose disk cannot take every rewrite.
//!
//! What it costs, and why it is not the default: an external web server reading the same
//! folder serves every fragment the manifest lists, but not the newest ones that tfrf
//! announces until they are final (a dash.js viewer at the live edge may ask for one too
//! early); and after a crash the announced fragments are not on disk, so a viewer who
//! watched through it may stop at the seam (`tests/it/restart.rs` shows both with the
//! default).
//!
//! Bounded by its byte budget: a version that does not fit goes to the disk as before, so a
//! full budget costs write bandwidth, never a fragment.
//!
//! A version is kept as the presentation output it, a new head and the payload it shares
//! with the fragment's other versions ([`FragmentBytes`]), and joined into one servable
//! buffer only when a viewer first asks for it: of a thousand live streams, the few that are
//! watched pay that copy (and hold that buffer while the version is current), not all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use smoothcast_core::presentation::FragmentBytes;

use super::cache::Cached;

/// Default budget: none (every version is written to disk). Two look-ahead fragments of a
/// thousand 2 Mbit/s streams with 2 s fragments need ~1 GB.
pub const DEFAULT_BUDGET: u64 = 0;

pub struct Lookahead {
    budget: u64,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    map: HashMap<PathBuf, Arc<Version>>,
    bytes: u64,
}

/// One version as the writer handed it over, made servable on first request.
struct Version {
    head: Bytes,
    payload: Arc<[Bytes]>,
    len: u64,
    kept_at: SystemTime,
    servable: OnceLock<Arc<Cached>>,
}

impl Version {
    fn servable(&self) -> Arc<Cached> {
        self.servable
            .get_or_init(|| {
                let file = FragmentBytes::pieces_after(self.head.clone(), self.payload.clone());
                Arc::new(Cached::new(file.to_bytes(), Some(self.kept_at)))
            })
            .clone()
    }
}

impl Lookahead {
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            state: RwLock::default(),
        }
    }

    /// Whether versions are kept at all (a budget of 0 turns it off).
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// Keeps `data` as the current version of `path` (canonical), replacing an earlier one.
    /// `Err` gives the bytes back: over budget, nothing kept (an earlier version is dropped
    /// too, so the caller's disk write is what readers get).
    pub fn put(&self, path: &Path, data: FragmentBytes) -> Result<(), FragmentBytes> {
        let len = data.len() as u64;
        let mut st = self.lock();
        let old = st.map.remove(path).map_or(0, |v| v.len);
        st.bytes -= old;
        if st.bytes + len > self.budget {
            return Err(data);
        }
        st.bytes += len;
        let (head, payload) = data.into_pieces();
        let version = Version {
            head,
            payload,
            len,
            kept_at: SystemTime::now(),
            servable: OnceLock::new(),
        };
        st.map.insert(path.to_path_buf(), Arc::new(version));
        Ok(())
    }

    /// The version of `path` (canonical) held here, if any, in one buffer (joined outside
    /// the lock, once per version).
    pub fn get(&self, path: &Path) -> Option<Arc<Cached>> {
        let version = self.read().map.get(path).cloned()?;
        Some(version.servable())
    }

    /// Forgets `path`: its last version is on disk, or it left the window.
    pub fn remove(&self, path: &Path) {
        let mut st = self.lock();
        if let Some(old) = st.map.remove(path) {
            st.bytes -= old.len;
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.read().bytes
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot break it.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(b: &'static [u8]) -> FragmentBytes {
        FragmentBytes::whole(Bytes::from_static(b))
    }

    #[test]
    fn versions_replace_and_the_budget_holds() {
        let l = Lookahead::new(10);
        let p = Path::new("/w/1000/video/0.fmp4");
        assert!(l.put(p, bytes(b"aaaa")).is_ok());
        let pieces = FragmentBytes::parts(Bytes::from_static(b"bb"), Bytes::from_static(b"bbbb"));
        assert!(l.put(p, pieces).is_ok(), "a version replaces");
        assert_eq!(l.held(), 6);
        let served = l.get(p).map(|c| c.bytes.clone());
        assert_eq!(served, Some(Bytes::from_static(b"bbbbbb")), "joined");
        let again = l.get(p).map(|c| c.bytes.clone());
        assert_eq!(
            again.map(|b| b.as_ptr()),
            served.map(|b| b.as_ptr()),
            "joined once per version"
        );
        let q = Path::new("/w/1000/video/20.fmp4");
        assert!(l.put(q, bytes(b"ccccc")).is_err(), "over budget");
        assert!(l.get(q).is_none());
        l.remove(p);
        assert_eq!(l.held(), 0);
        assert!(l.put(q, bytes(b"ccccc")).is_ok());
        assert!(!Lookahead::new(0).enabled());
    }
}
