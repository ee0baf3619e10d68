//! Responses ready to send: for a request target served recently from the cache, its whole
//! `200` response head (every header but `Date`) and body, so the next request for it costs
//! a lookup and the one `lstat` that proves the file is still that version, instead of
//! decoding, resolving and describing it again. nginx spends about 6 µs of CPU on a cached
//! manifest; the general path here spent 8 (hyper plus ours), this one well under that.
//!
//! Never staler than the general path: an entry keeps the canonical file it was made from
//! and that file's identity, and is used only while an `lstat` of that path still shows the
//! same identity (our writer replaces files by rename, a new inode; a removed file fails the
//! `lstat`), and for at most [`TTL`] after the path was resolved inside the web root (the
//! same reuse window as the resolver's, so a folder swapped for a symlink is seen as soon as
//! the general path would see it). Entries are only made from plain `GET`s answered `200`
//! from memory; anything conditional, ranged or refused goes the general way.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;

use super::cache::Ident;

/// As [`super::files::RESOLVED_TTL`]: how long a proof of confinement is reused.
pub const TTL: std::time::Duration = super::files::RESOLVED_TTL;
/// Targets kept; past it the table starts over (a flood of distinct URLs only costs the
/// general path, as before).
const MAX_ENTRIES: usize = 8192;
/// Longer targets are never kept (no player asks for such).
const MAX_TARGET: usize = 1024;
/// Bodies from this size up go out with `sendfile` from the file's page cache rather than
/// copied from our memory into the socket: measured with wrk over 134 KB fragments, the copy
/// cost ~10 µs of CPU per response, which is what kept this server behind nginx.
pub const SENDFILE_MIN: usize = 16 * 1024;
/// Files held open for `sendfile` at most (each is a descriptor).
const MAX_OPEN_FILES: usize = 1024;

/// What the general path attaches to a response it served from the cache, so the
/// connection can keep the response for the next request with the same target.
#[derive(Clone)]
pub struct Source {
    pub path: PathBuf,
    pub ident: Ident,
}

/// A `200` response for one representation: the status line and headers (no `Date`, no
/// final blank line) and the body, which is the whole of `file` when that is open.
pub struct Rendered {
    pub head: Bytes,
    pub body: Bytes,
    pub file: Option<Arc<OpenFile>>,
}

/// A file held open for `sendfile`, counted against [`MAX_OPEN_FILES`].
pub struct OpenFile {
    pub file: std::fs::File,
    count: Arc<AtomicUsize>,
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Entry {
    source: Source,
    made: Instant,
    /// The body depends on `Accept-Encoding` (a manifest that may go out gzipped).
    pub vary: bool,
    pub identity: Option<Rendered>,
    pub gzip: Option<Rendered>,
}

impl Entry {
    /// The representation for a client that does (`gzip`) or does not take gzip.
    pub fn rendered(&self, gzip: bool) -> Option<&Rendered> {
        if self.vary && gzip {
            self.gzip.as_ref()
        } else {
            self.identity.as_ref()
        }
    }

    /// Whether the file on disk is still the version this entry was made from, within the
    /// reuse window. One `lstat` (a symlink in the file's place is not followed).
    pub fn current(&self, now: Instant) -> bool {
        now.duration_since(self.made) < TTL
            && std::fs::symlink_metadata(&self.source.path)
                .is_ok_and(|m| m.is_file() && Ident::of(&m) == self.source.ident)
    }
}

#[derive(Default)]
pub struct Table {
    map: RwLock<HashMap<Box<str>, Arc<Entry>>>,
    open_files: Arc<AtomicUsize>,
    sendfile: bool,
}

// An entry is of no use once its reuse window has passed, and it holds its body (maybe
// evicted from the cache since) and an open file (maybe deleted since, its disk space held
// while open): `sweep` drops such entries, on a timer and as new ones come.

impl Table {
    /// `sendfile`: whether large bodies may be sent from their files (`[web] sendfile`).
    pub fn new(sendfile: bool) -> Self {
        Self {
            sendfile,
            ..Self::default()
        }
    }

    pub fn get(&self, target: &str) -> Option<Arc<Entry>> {
        self.read().get(target).cloned()
    }

    /// Keeps `rendered` as the response to `target`, for clients taking gzip or not
    /// (`gzip`), made from `source`. A same-version entry keeps its other representation.
    pub fn insert(
        &self,
        target: &str,
        source: Source,
        vary: bool,
        gzip: bool,
        mut rendered: Rendered,
    ) {
        if target.len() > MAX_TARGET {
            return;
        }
        if self.sendfile && rendered.file.is_none() && rendered.body.len() >= SENDFILE_MIN {
            rendered.file = self.open(&source, rendered.body.len());
        }
        let mut map = self.write();
        let (mut identity, mut gz) = (None, None);
        if let Some(old) = map.get(target) {
            if old.source.ident == source.ident && old.source.path == source.path {
                identity = old.identity.as_ref().map(Rendered::clone_shallow);
                gz = old.gzip.as_ref().map(Rendered::clone_shallow);
            }
        }
        if gzip && vary {
            gz = Some(rendered);
        } else {
            identity = Some(rendered);
        }
        if map.len() >= MAX_ENTRIES && !map.contains_key(target) {
            let now = Instant::now();
            map.retain(|_, e| now.duration_since(e.made) < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            target.into(),
            Arc::new(Entry {
                source,
                made: Instant::now(),
                vary,
                identity,
                gzip: gz,
            }),
        );
    }

    /// The file of a whole-file body, opened for `sendfile` if it still is the version served
    /// (`None`: send the body from memory).
    fn open(&self, source: &Source, body_len: usize) -> Option<Arc<OpenFile>> {
        if source.ident.file_len() != body_len as u64
            || self.open_files.load(Ordering::Relaxed) >= MAX_OPEN_FILES
        {
            return None;
        }
        let file = std::fs::File::open(&source.path).ok()?;
        if Ident::of(&file.metadata().ok()?) != source.ident {
            return None;
        }
        self.open_files.fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(OpenFile {
            file,
            count: self.open_files.clone(),
        }))
    }

    /// Drops the entries whose reuse window has passed.
    pub fn sweep(&self, now: Instant) {
        let stale = self
            .read()
            .values()
            .any(|e| now.duration_since(e.made) >= TTL);
        if stale {
            self.write().retain(|_, e| now.duration_since(e.made) < TTL);
        }
    }

    /// Forgets `target` if it still maps to `entry` (a newer entry stays).
    pub fn forget(&self, target: &str, entry: &Arc<Entry>) {
        let mut map = self.write();
        if map.get(target).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            map.remove(target);
        }
    }

    /// Entries held (tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Arc<Entry>>> {
        // Each statement leaves the map consistent; a panic elsewhere cannot break it.
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, Arc<Entry>>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Rendered {
    /// Both halves are reference-counted: no bytes are copied.
    fn clone_shallow(&self) -> Self {
        Self {
            head: self.head.clone(),
            body: self.body.clone(),
            file: self.file.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_the_file_version() {
        let dir = std::env::temp_dir().join(format!("smoothcast-hot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("0.fmp4");
        crate::disk::write_atomic(&path, b"one").expect("write");
        let ident = Ident::of(&std::fs::metadata(&path).expect("stat"));
        let table = Table::new(true);
        let source = Source {
            path: path.clone(),
            ident,
        };
        let r = |b: &'static [u8]| Rendered {
            head: Bytes::from_static(b"HTTP/1.1 200 OK\r\n"),
            body: Bytes::from_static(b),
            file: None,
        };
        table.insert("/a/0.fmp4", source.clone(), true, false, r(b"one"));
        table.insert("/a/0.fmp4", source, true, true, r(b"gz"));
        let e = table.get("/a/0.fmp4").expect("kept");
        assert!(e.current(Instant::now()));
        assert_eq!(e.rendered(false).map(|r| &r.body[..]), Some(&b"one"[..]));
        assert_eq!(e.rendered(true).map(|r| &r.body[..]), Some(&b"gz"[..]));
        assert!(!e.current(Instant::now() + TTL), "the reuse window ends");
        // Replaced by rename: another identity, never the old bytes.
        crate::disk::write_atomic(&path, b"two").expect("write");
        assert!(!e.current(Instant::now()));
        // Removed: not current either.
        std::fs::remove_file(&path).expect("rm");
        assert!(!e.current(Instant::now()));
        table.forget("/a/0.fmp4", &e);
        assert_eq!(table.len(), 0);
        // Past the window, a sweep drops what is left.
        let source = Source { path, ident };
        table.insert("/b", source, false, false, r(b"x"));
        table.sweep(Instant::now());
        assert_eq!(table.len(), 1);
        table.sweep(Instant::now() + TTL);
        assert_eq!(table.len(), 0);
        assert!(table.get(&"/".repeat(MAX_TARGET + 1)).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
