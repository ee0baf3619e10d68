//! `--webroot s3://bucket/prefix`: a stateless origin. Manifests, fragments, IIS URLs and
//! other files come straight from the object store that packagers write (outputs/destination.rs),
//! so any number of origins behind an HTTP cache serve the same presentations.
//!
//! Objects go through the web tier's bounded cache ([`Cache`]), keyed by their URL and
//! their version (length and the store's ETag). A cached version is trusted for a short
//! time without asking the store ([`MANIFEST_TTL`] for manifests: a live one changes every
//! fragment; [`FRAGMENT_TTL`] for fragments, which are immutable), then revalidated with a
//! conditional GET (`If-None-Match`: a 304 from the store costs no body). Clients get the
//! store's ETag, so their own conditional requests work across origins.
//!
//! A missing key is a 404 (not cached: a live fragment may appear in a second); a store
//! that fails or does not answer within its timeout (store.rs) is a 502, never a hang.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use smoothcast_core::manifest::{self, Manifest};

use super::body::Body;
use super::cache::{self, Cache, Cached, Ident};
use super::headers::{classify, Kind};
use super::{describe_cached, error, iis, not_found, player_page, respond, Web, Window};
use crate::store::{Store, StoreError};

/// A cached manifest version is served this long before the store is asked again.
pub const MANIFEST_TTL: Duration = Duration::from_secs(1);
/// Fragments never change once stored.
pub const FRAGMENT_TTL: Duration = Duration::from_secs(3600);
/// Anything else (pages, scripts).
pub const OTHER_TTL: Duration = Duration::from_secs(10);
/// Versions remembered at most (then forgotten all at once, and revalidated).
const CHECKED_ENTRIES: usize = 65_536;
/// Parsed manifests kept (by key and version).
const MANIFESTS: usize = 256;
/// Larger objects are refused: what we serve are fragments and manifests.
const MAX_OBJECT: u64 = 256 << 20;

pub(super) struct StoreRoot {
    store: Store,
    cache: Cache,
    checked: RwLock<HashMap<String, Checked>>,
    manifests: Mutex<HashMap<String, (String, Arc<Manifest>)>>,
}

#[derive(Clone)]
struct Checked {
    at: Instant,
    etag: String,
    id: Ident,
}

fn ttl(rel: &str) -> Duration {
    match classify(rel.rsplit('/').next().unwrap_or(rel)).1 {
        Kind::Manifest => MANIFEST_TTL,
        Kind::Fragment => FRAGMENT_TTL,
        Kind::Other => OTHER_TTL,
    }
}

impl StoreRoot {
    pub fn new(store: Store, cache: Cache) -> Self {
        Self {
            store,
            cache,
            checked: RwLock::default(),
            manifests: Mutex::default(),
        }
    }

    /// The object's current bytes, from the cache while its version is fresh.
    async fn fetch(&self, rel: &str) -> Result<(Arc<Cached>, String), StoreError> {
        let key = PathBuf::from(self.store.url(rel));
        let prior = self
            .checked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(rel)
            .cloned();
        let held = prior
            .as_ref()
            .and_then(|c| self.cache.get(&key, &c.id).map(|data| (c.clone(), data)));
        if let Some((c, data)) = &held {
            if c.at.elapsed() < ttl(rel) {
                return Ok((data.clone(), c.etag.clone()));
            }
        }
        let asked = held.as_ref().map(|(c, _)| c.etag.as_str());
        match self.store.get(rel, asked).await? {
            None => {
                // Not modified: the cached version is good for another TTL.
                let (mut c, data) = held.ok_or_else(|| {
                    StoreError::Failed(anyhow::anyhow!("304 without a cached version"))
                })?;
                c.at = Instant::now();
                let etag = c.etag.clone();
                self.remember(rel, c);
                Ok((data, etag))
            }
            Some(obj) => {
                let len = obj.bytes.len() as u64;
                if len > MAX_OBJECT {
                    return Err(StoreError::Failed(anyhow::anyhow!("object too large")));
                }
                let etag = match obj.etag {
                    Some(e) if e.starts_with('"') => e,
                    Some(e) => format!("\"{e}\""),
                    None => format!("\"{len}-{:?}\"", obj.last_modified),
                };
                let mut data = Cached::new(obj.bytes, Some(obj.last_modified));
                data.etag = cache::value(etag.clone());
                let data = Arc::new(data);
                let id = Ident::object(len, &etag);
                self.cache.insert(&key, id, data.clone());
                self.remember(
                    rel,
                    Checked {
                        at: Instant::now(),
                        etag: etag.clone(),
                        id,
                    },
                );
                Ok((data, etag))
            }
        }
    }

    fn remember(&self, rel: &str, c: Checked) {
        let mut map = self.checked.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CHECKED_ENTRIES {
            map.clear();
        }
        map.insert(rel.to_string(), c);
    }

    /// A manifest parsed once per version.
    fn parsed(&self, rel: &str, etag: &str, data: &Cached) -> Result<Arc<Manifest>, String> {
        let mut map = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, m)) = map.get(rel) {
            if e == etag {
                return Ok(m.clone());
            }
        }
        let text = std::str::from_utf8(&data.bytes).map_err(|_| "manifest is not UTF-8")?;
        let m = Arc::new(manifest::parse(text)?);
        if map.len() >= MANIFESTS {
            map.clear();
        }
        map.insert(rel.to_string(), (etag.to_string(), m.clone()));
        Ok(m)
    }
}

/// The store failed: 502, and the reason in the log (not to the client).
fn failed(store: &Store, rel: &str, e: &StoreError) -> Response<Body> {
    tracing::warn!("web: {}: {e}", store.url(rel));
    error(StatusCode::BAD_GATEWAY, "the object store failed")
}

async fn serve(
    web: &Web,
    h: &HeaderMap,
    head: bool,
    data: &Cached,
    name: &str,
    window: Window,
) -> Response<Body> {
    let (ctype, kind) = classify(name);
    match describe_cached(web, h, data, ctype, kind, window) {
        Some(d) => respond(h, head, d).await,
        None => not_found("the fragment has no moof box"),
    }
}

/// A request under a store web root (`names`: the checked path segments).
pub(super) async fn handle(
    web: &Web,
    root: &StoreRoot,
    names: Vec<String>,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    if names.is_empty() {
        return match root.fetch("index.html").await {
            Ok((data, _)) => serve(web, h, head, &data, "index.html", Window::Whole).await,
            Err(_) => player_page(head, &web.state.config),
        };
    }
    let rel = names.join("/");
    let name = names.last().map_or("", String::as_str);
    match root.fetch(&rel).await {
        Ok((data, _)) => return serve(web, h, head, &data, name, Window::Whole).await,
        Err(StoreError::NotFound) => {}
        Err(e) => return failed(&root.store, &rel, &e),
    }
    // `<dir>/<name>.ismc/<rest>`: the manifest file as a base URL (GStreamer).
    let mut names = names;
    let mut manifest_name = None;
    if let Some(i) = iis::manifest_file_segment(&names) {
        manifest_name = Some(names.remove(i));
        let rel = names.join("/");
        let name = names.last().map_or("", String::as_str);
        match root.fetch(&rel).await {
            Ok((data, _)) => return serve(web, h, head, &data, name, Window::Whole).await,
            Err(StoreError::NotFound) => {}
            Err(e) => return failed(&root.store, &rel, &e),
        }
    }
    // `<file>.mp4/...` or `<name>.ism/...`: just-in-time VOD from the store's objects.
    if manifest_name.is_none() && web.state.config.jit.enabled {
        if let Some(at) = super::jit::split(&names) {
            return super::jit::serve_from_store(web, &root.store, &names, at, h, head).await;
        }
    }
    match iis::parse(&names) {
        Ok(Some(r)) => iis_request(web, root, r, manifest_name, h, head).await,
        Ok(None) => not_found("not found"),
        Err(why) => error(StatusCode::BAD_REQUEST, why),
    }
}

async fn iis_request(
    web: &Web,
    root: &StoreRoot,
    req: iis::Request,
    manifest_name: Option<String>,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let dir = match &req {
        iis::Request::Manifest { dir } | iis::Request::Fragment { dir, .. } => dir.join("/"),
    };
    let within = |name: &str| {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    };
    // The named manifest, else `manifest.ismc`, else `<folder>.ismc` (autoMSS's layout):
    // no listing, which a store makes slow and which is not in a request's hot path.
    let candidates: Vec<String> = match manifest_name {
        Some(n) => vec![n],
        None => {
            let mut c = vec!["manifest.ismc".to_string()];
            if let Some(last) = dir.rsplit('/').next().filter(|l| !l.is_empty()) {
                c.push(format!("{last}.ismc"));
            }
            c
        }
    };
    let mut found = None;
    for c in &candidates {
        let rel = within(c);
        match root.fetch(&rel).await {
            Ok(got) => {
                found = Some((rel, got));
                break;
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return failed(&root.store, &rel, &e),
        }
    }
    let Some((manifest_rel, (data, etag))) = found else {
        return not_found("no manifest in this folder");
    };
    let iis::Request::Fragment {
        bitrate,
        stream,
        time,
        info,
        ..
    } = req
    else {
        return serve(web, h, head, &data, "Manifest", Window::Whole).await;
    };
    let parsed = match root.parsed(&manifest_rel, &etag, &data) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("web: {}: {e}", root.store.url(&manifest_rel));
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the manifest is unreadable",
            );
        }
    };
    let rel = match iis::fragment_path(&parsed, &stream, bitrate, time) {
        Ok(rel) => rel,
        Err(iis::NotFound::Stream) => return not_found("no such stream in the manifest"),
        Err(iis::NotFound::Bitrate) => return not_found("no such bitrate in the manifest"),
        Err(iis::NotFound::Time) => return not_found("no fragment starts at this time"),
    };
    // The Url template comes from an object, so it gets the same checks as a request path.
    let rel_names = match super::files::segments(&format!("/{rel}")) {
        Ok(n) if !n.is_empty() => n,
        _ => return not_found("the manifest's Url template is unusable"),
    };
    let rel = within(&rel_names.join("/"));
    match root.fetch(&rel).await {
        Ok((data, _)) if info => serve(web, h, head, &data, "FragmentInfo()", Window::Moof).await,
        Ok((data, _)) => serve(web, h, head, &data, "Fragments()", Window::Whole).await,
        Err(StoreError::NotFound) => not_found("fragment not found"),
        Err(e) => failed(&root.store, &rel, &e),
    }
}
