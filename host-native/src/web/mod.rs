//! The web server (EMS's EWS, port 8888): the web root as static files, plus IIS-style
//! Smooth Streaming URLs (`Manifest`, `QualityLevels(B)/Fragments(NAME=T)`,
//! `FragmentInfo(...)`) mapped onto the files our packager writes, and a built-in dash.js
//! player page.
//!
//! - [`files`]: request path -> file, never outside the web root.
//! - [`iis`]: the IIS URL forms and the manifest lookups they need.
//! - [`headers`]: types, caching, validators, ranges.
//! - [`body`]: streamed file bodies.
//!
//! HTTPS ([`serve_tls`]) serves the same content on a port of its own; the TLS handshake
//! happens per connection, then the same connection code runs over the TLS stream.

mod body;
pub mod cache;
mod conn;
pub mod files;
pub mod headers;
mod hot;
pub mod iis;
pub mod jit;
pub mod lookahead;
pub mod plain;
pub(crate) mod player_assets;
mod starting;
mod store;
#[cfg(test)]
mod tests;
mod wire;

use std::convert::Infallible;
use std::io::SeekFrom;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::WebConfig;
use crate::server::{AppState, Shutdown};
use crate::tls::{Protocol, Tls};
use body::Body;
use cache::Cached;
use files::{Found, PathError};
use headers::{ByteRange, Kind};

/// Request line plus headers; players send well under 2 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Time in-flight responses get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Manifests up to this size are read whole (even past the cache's file limit), to see
/// `IsLive` and send one consistent copy even while the writer replaces the file.
const MANIFEST_IN_MEMORY: u64 = 16 * 1024 * 1024;
/// How long the canonical web root is reused before it is resolved again (a web root
/// switched by replacing a symlink is seen within this).
const ROOT_TTL: Duration = Duration::from_secs(1);

const PLAYER_PAGE: &str = include_str!("player.html");

pub(crate) struct Web {
    state: Arc<AppState>,
    manifests: iis::ManifestCache,
    /// Just-in-time VOD: indexes of MP4 files served as Smooth Streaming.
    jit: jit::IndexCache,
    cache: cache::Cache,
    paths: files::Resolver,
    /// Ready responses for targets served recently ([`hot`]), used by plain-TCP connections.
    hot: hot::Table,
    /// Off with signed URLs: each request's signature must be checked.
    hot_enabled: bool,
    gzip: bool,
    /// Read-mostly, as the other shared maps here: `RwLock`, so a worker thread that the OS
    /// preempts while reading never holds the others up.
    root: RwLock<Option<(Instant, PathBuf)>>,
    /// A web root in an object store (`s3://...`): `Err` if its client could not be made.
    store: Option<Result<store::StoreRoot, String>>,
}

impl Web {
    fn new(state: Arc<AppState>) -> Self {
        let webroot = state.config.webroot.to_string_lossy();
        let store = crate::store::is_store_location(&webroot).then(|| {
            crate::store::Location::parse(&webroot)
                .and_then(|l| crate::store::Store::connect(&l, &state.config.object_store))
                .map(|s| store::StoreRoot::new(s, state.outputs.web_cache().clone()))
                .map_err(|e| {
                    tracing::error!("web: web root {webroot}: {e:#}");
                    format!("{e:#}")
                })
        });
        Self {
            store,
            cache: state.outputs.web_cache().clone(),
            gzip: state.config.web.gzip,
            hot: hot::Table::new(state.config.web.sendfile),
            hot_enabled: state.config.auth.signed_urls.is_none(),
            manifests: iis::ManifestCache::default(),
            jit: jit::IndexCache::new(&state.config.jit),
            paths: files::Resolver::default(),
            root: RwLock::new(None),
            state,
        }
    }

    /// The canonical web root, resolved at most once per [`ROOT_TTL`] (a canonicalize per
    /// request was a syscall per path component); failures are never reused.
    fn root(&self) -> std::io::Result<PathBuf> {
        if let Some((at, root)) = &*self.root.read().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < ROOT_TTL {
                return Ok(root.clone());
            }
        }
        let root = files::canonical_root(&self.state.config.webroot)?;
        *self.root.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), root.clone()));
        Ok(root)
    }
}

/// What every connection needs: the shared request state, hyper's settings and the limits.
/// `serve_connection` takes any stream, so a TLS layer can wrap accepted sockets.
#[derive(Clone)]
pub(crate) struct Connections {
    web: Arc<Web>,
    http: hyper::server::conn::http1::Builder,
    send_timeout: Option<Duration>,
    /// Time a client gets to send a request head; also how long a keep-alive connection
    /// may sit idle.
    header_timeout: Option<Duration>,
}

impl Connections {
    fn new(web: Arc<Web>, cfg: &WebConfig) -> Self {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .max_header_size(MAX_HEADER_BYTES);
        // Drops slow-loris and idle clients (hyper starts the clock when it waits for a
        // request, so it is also the keep-alive idle limit).
        let header_timeout = WebConfig::secs(cfg.header_timeout_secs);
        if let Some(t) = header_timeout {
            http.header_read_timeout(t);
        }
        Self {
            web,
            http,
            send_timeout: WebConfig::secs(cfg.send_timeout_secs),
            header_timeout,
        }
    }

    /// Serves one connection until the client closes it, it fails, or shutdown (after a
    /// grace period for the responses in flight).
    pub async fn serve_connection<S>(&self, stream: S, peer: SocketAddr, mut shutdown: Shutdown)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let web = self.web.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let web = web.clone();
            async move {
                let started = Instant::now();
                let r = if matches!(*req.method(), Method::POST | Method::PUT) {
                    post(&web, req, peer).await
                } else {
                    handle(&web, req.method(), req.uri(), req.headers()).await
                };
                crate::metrics::get().web_request(r.status().as_u16(), started.elapsed());
                Ok::<_, Infallible>(r)
            }
        });
        let io = TokioIo::new(conn::SendTimeout::new(stream, self.send_timeout));
        let conn = self.http.serve_connection(io, service);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut())
                    .await
                    .unwrap_or(Ok(()))
            }
        };
        if let Err(e) = result {
            tracing::debug!("web: connection from {peer}: {e}");
        }
    }
}

pub async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    accept_loop(state, listener, None, shutdown).await
}

/// The same web server over TLS on a port of its own (`[tls] https_port`).
pub async fn serve_tls(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Arc<Tls>,
    shutdown: Shutdown,
) -> Result<()> {
    accept_loop(state, listener, Some(tls), shutdown).await
}

/// Accepts until shutdown; with `tls`, each connection's handshake runs in its own task
/// (holding a connection permit, bounded by the handshake timeout).
async fn accept_loop(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    mut shutdown: Shutdown,
) -> Result<()> {
    let cfg = state.config.web.clone();
    let conns = Connections::new(Arc::new(Web::new(state)), &cfg);
    let max = cfg.max_connections.max(1);
    let limit = Arc::new(Semaphore::new(max as usize));
    let per_address = conn::PerAddress::new(cfg.max_connections_per_address);
    let web = conns.web.clone();
    let mut sweep_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(hot::TTL);
        loop {
            tokio::select! {
                _ = every.tick() => web.hot.sweep(Instant::now()),
                _ = sweep_shutdown.changed() => break,
            }
        }
    });
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    tracing::warn!("web: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Some(slot) = per_address.claim(peer.ip()) else {
            // Closed at once: one host must not hold every slot.
            crate::metrics::get().web_refused("per_address");
            tracing::debug!("web: {peer}: too many connections from this address");
            continue;
        };
        // Responses go out as soon as they are written: without this, Nagle's algorithm
        // meets the client's delayed ACK and each response's tail waits ~40 ms.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("web: {peer}: TCP_NODELAY: {e}");
        }
        let conns = conns.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => plain::serve(conns, stream, peer, shutdown).await,
                Some(tls) => match tls.accept(stream, Protocol::Http, &shutdown).await {
                    Ok(s) => conns.serve_connection(s, peer, shutdown).await,
                    Err(e) => tracing::debug!("web: TLS handshake with {peer} failed: {e}"),
                },
            }
            drop(slot);
            drop(permit);
        });
    }
    // Every connection holds a permit until it is done: all permits back means all closed.
    let _ = tokio::time::timeout(
        SHUTDOWN_GRACE + Duration::from_secs(1),
        limit.acquire_many(max),
    )
    .await;
    Ok(())
}

/// A POST or PUT: Smooth ingest when the URL is one (`crate::ingest::smooth`), else the
/// general handler's 405.
async fn post(web: &Web, req: hyper::Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let state = &web.state;
    let ctx = crate::ingest::smooth::Context {
        streams: state.streams.clone(),
        outputs: state.outputs.clone(),
        webroot: state.config.webroot.clone(),
    };
    let answer = state
        .smooth_ingest
        .handle(&ctx, parts.uri.path(), parts.uri.query(), body, peer)
        .await;
    match answer {
        Some((StatusCode::OK, _)) => {
            let mut r = Response::new(Body::empty());
            set_static(&mut r, header::CONTENT_LENGTH, "0");
            r
        }
        Some((status, why)) => error(status, &why),
        None => handle(web, &parts.method, &parts.uri, &parts.headers).await,
    }
}

/// One request. Checks (a signed URL, say) go first, as one call returning early.
async fn handle(web: &Web, method: &Method, uri: &Uri, h: &HeaderMap) -> Response<Body> {
    let head = match *method {
        Method::GET => false,
        Method::HEAD => true,
        Method::OPTIONS => return preflight(h),
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
            set(&mut r, header::ALLOW, "GET, HEAD, OPTIONS");
            return r;
        }
    };
    // Signed playback URLs ([auth.signed_urls]): the path to serve, without a `/_sig/` prefix.
    let path = match crate::auth::signed_url::gate(&web.state.config.auth, uri) {
        Ok(p) => p,
        Err(why) => return error(StatusCode::FORBIDDEN, why),
    };
    let names = match files::segments(&path) {
        Ok(n) => n,
        Err(PathError::Malformed(why)) => return error(StatusCode::BAD_REQUEST, why),
        Err(PathError::Forbidden(why)) => return error(StatusCode::FORBIDDEN, why),
        Err(PathError::Hidden) => return not_found("not found"),
    };
    if names.first().map(String::as_str) == Some("_smoothcast") {
        return assets(web, &names[1..], h, head).await;
    }
    match &web.store {
        Some(Ok(root)) => return store::handle(web, root, names, h, head).await,
        Some(Err(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the object store web root is not configured correctly",
            )
        }
        None => {}
    }
    let root = match web.root() {
        Ok(r) => r,
        Err(_) if names.is_empty() => return player_page(head, &web.state.config),
        Err(e) => {
            // The first presentation may be about to create it.
            let webroot = &web.state.config.webroot;
            let configured = crate::outputs::mss::normalize(webroot);
            match (
                hold_starting(web, &configured, &names).await,
                files::canonical_root(webroot),
            ) {
                (Some(r), _) => return r,
                (None, Ok(root)) => root,
                (None, Err(_)) => {
                    tracing::warn!("web: web root {}: {e}", webroot.display());
                    return not_found("the web root does not exist");
                }
            }
        }
    };
    if names.is_empty() {
        return match web.paths.resolve_meta(&root, &["index.html"]) {
            (Found::File(path), Some(meta)) => {
                send_file(web, h, head, &path, meta, "index.html", Window::Whole).await
            }
            _ => player_page(head, &web.state.config),
        };
    }
    match web.paths.resolve_meta(&root, &names) {
        (Found::File(path), Some(meta)) => {
            let name = names.last().map_or("", String::as_str);
            return send_file(web, h, head, &path, meta, name, Window::Whole).await;
        }
        // No listings: a folder's contents are not for browsing.
        (Found::Dir(_) | Found::Outside | Found::File(_), _) => return not_found("not found"),
        (Found::Missing, _) => {
            if let Some(r) = hold_starting(web, &root, &names).await {
                return r;
            }
            // Written while the request was held.
            if let (Found::File(path), Some(meta)) = web.paths.resolve_meta(&root, &names) {
                let name = names.last().map_or("", String::as_str);
                return send_file(web, h, head, &path, meta, name, Window::Whole).await;
            }
            if let Some(r) = send_lookahead(web, h, head, &root, &names, Window::Whole).await {
                return r;
            }
        }
    }
    // `<file>.mp4/...`, `<group>.ism/...`: an MP4 served as Smooth Streaming just in time.
    if web.state.config.jit.enabled {
        if let Some(at) = jit::split(&names) {
            if let (Found::File(_), _) = web.paths.resolve_meta(&root, &names[..=at]) {
                return jit::serve(web, &root, &names, at, h, head).await;
            }
        }
    }
    // `<dir>/<name>.ismc/<rest>`: a manifest file used as a base URL (GStreamer's mssdemux
    // appends fragment paths to it), resolved as `<dir>/<rest>` with that manifest.
    let mut manifest_name = None;
    let mut names = names;
    if let Some(i) = iis::manifest_file_segment(&names) {
        if let Found::File(_) = web.paths.resolve(&root, &names[..=i]) {
            manifest_name = Some(names.remove(i));
            if let (Found::File(path), Some(meta)) = web.paths.resolve_meta(&root, &names) {
                let name = names.last().map_or("", String::as_str);
                return send_file(web, h, head, &path, meta, name, Window::Whole).await;
            }
            if let Some(r) = send_lookahead(web, h, head, &root, &names, Window::Whole).await {
                return r;
            }
        }
    }
    match iis::parse(&names) {
        Ok(Some(r)) => iis_request(web, &root, r, manifest_name.as_deref(), h, head).await,
        Ok(None) => not_found("not found"),
        Err(why) => error(StatusCode::BAD_REQUEST, why),
    }
}

/// The manifest of a presentation that is starting (configured, not written yet): held
/// until it is written (`None`: go on and serve it, or this is no such request), or a 503
/// with Retry-After once [`starting::HOLD`] has passed.
async fn hold_starting(web: &Web, root: &Path, names: &[String]) -> Option<Response<Body>> {
    let last = names.last()?;
    let (file, dir) = if last.eq_ignore_ascii_case("manifest") {
        (None, Some(root.join(names[..names.len() - 1].join("/"))))
    } else if last.to_ascii_lowercase().ends_with(".ismc") {
        (Some(root.join(names.join("/"))), None)
    } else {
        return None;
    };
    let manifest =
        starting::starting_manifest(&web.state.outputs, file.as_deref(), dir.as_deref())?;
    if starting::wait_for(&manifest, starting::HOLD).await {
        return None;
    }
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the presentation is starting: its manifest is written once its first fragments are",
    );
    set(
        &mut r,
        header::RETRY_AFTER,
        &starting::RETRY_AFTER.to_string(),
    );
    Some(r)
}

async fn iis_request(
    web: &Web,
    root: &Path,
    req: iis::Request,
    manifest_name: Option<&str>,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let dir_names = match &req {
        iis::Request::Manifest { dir } | iis::Request::Fragment { dir, .. } => dir,
    };
    let Found::Dir(dir) = web.paths.resolve(root, dir_names) else {
        return not_found("no such presentation folder");
    };
    // The manifest named by the URL, else `manifest.ismc` (one stat when recently
    // resolved), else the folder's only .ismc. The manifest itself may be a symlink: it is
    // served only if it stays inside.
    let named = manifest_name.unwrap_or("manifest.ismc");
    let (manifest, meta) = match web.paths.resolve_meta(&dir, &[named]) {
        (Found::File(p), Some(m)) => (p, m),
        _ if manifest_name.is_some() => return not_found("no manifest in this folder"),
        _ => {
            let Some(manifest) = iis::find_manifest(&dir) else {
                return not_found("no manifest in this folder");
            };
            match web.paths.resolve_meta(&dir, &[file_name(&manifest)]) {
                (Found::File(p), Some(m)) => (p, m),
                _ => return not_found("no manifest in this folder"),
            }
        }
    };
    let iis::Request::Fragment {
        bitrate,
        stream,
        time,
        info,
        ..
    } = req
    else {
        return send_file(web, h, head, &manifest, meta, "Manifest", Window::Whole).await;
    };
    let parsed = match web.manifests.get(&manifest, &meta).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("web: {}: {e}", manifest.display());
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
    // The Url template comes from a file, so it gets the same checks as a request path.
    let rel_names = match files::segments(&format!("/{rel}")) {
        Ok(n) => n,
        Err(_) => return not_found("the manifest's Url template is unusable"),
    };
    let (path, meta) = match web.paths.resolve_meta(&dir, &rel_names) {
        (Found::File(p), Some(m)) => (p, m),
        _ => {
            let window = if info { Window::Moof } else { Window::Whole };
            return send_lookahead(web, h, head, &dir, &rel_names, window)
                .await
                .unwrap_or_else(|| not_found("fragment not found"));
        }
    };
    if info {
        send_file(web, h, head, &path, meta, "FragmentInfo()", Window::Moof).await
    } else {
        send_file(web, h, head, &path, meta, "Fragments()", Window::Whole).await
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `/_smoothcast/...`: the built-in player page and the dash.js files it loads: built into
/// the binary (`/_smoothcast/dashjs-<version>/<file>`, cached for good: the version is in
/// the path), or from the `player_assets` folder when one is configured.
async fn assets(web: &Web, names: &[String], h: &HeaderMap, head: bool) -> Response<Body> {
    match names {
        [] => player_page(head, &web.state.config),
        [page] if page == "player.html" => player_page(head, &web.state.config),
        [file] => match &web.state.config.player_assets {
            Some(dir) => {
                let Ok(root) = files::canonical_root(dir) else {
                    return not_found(&format!(
                        "player assets folder {} not found: fix player_assets in the server \
                         configuration, or remove it to use the built-in dash.js",
                        dir.display()
                    ));
                };
                match web.paths.resolve_meta(&root, &[file]) {
                    (Found::File(p), Some(meta)) => {
                        send_file(web, h, head, &p, meta, file, Window::Whole).await
                    }
                    _ => not_found(&format!("{file} is not in {}", dir.display())),
                }
            }
            None => player_assets::serve(file, h, head, false),
        },
        [dir, file] if dir == player_assets::DIR => player_assets::serve(file, h, head, true),
        _ => not_found("not found"),
    }
}

fn player_page(head: bool, config: &crate::config::ServerConfig) -> Response<Body> {
    // The preset lands in an HTML attribute: keep only characters a path or URL needs.
    let preset: String = config
        .default_manifest
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "/._-:?=&%".contains(*c))
        .collect();
    let assets = match config.player_assets {
        Some(_) => String::from("/_smoothcast"),
        None => format!("/_smoothcast/{}", player_assets::DIR),
    };
    let page = PLAYER_PAGE
        .replace("__DEFAULT_MANIFEST__", &preset)
        .replace("__PLAYER_ASSETS__", &assets);
    let len = page.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::bytes(Bytes::from(page))
    });
    set_static(&mut r, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set_static(&mut r, header::CACHE_CONTROL, "no-cache");
    set(&mut r, header::CONTENT_LENGTH, &len.to_string());
    cors(&mut r);
    r
}

/// Which bytes of a file are the response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Window {
    Whole,
    /// Only the fragment's `moof` box (FragmentInfo).
    Moof,
}

/// A response's body before ranges apply: bytes in memory, or a window of an open file.
enum Content {
    Memory(Bytes),
    File { file: tokio::fs::File, offset: u64 },
}

/// Everything the headers say about a body.
struct Described {
    ctype: &'static str,
    cache_control: &'static str,
    tag: HeaderValue,
    last_modified: Option<HeaderValue>,
    len: u64,
    /// `Some` for a gzip-encoded body; `vary` for a body that depends on Accept-Encoding.
    gzip: bool,
    vary: bool,
    content: Content,
}

/// Sends a file (or its moof), honouring conditional and range requests. `name` decides
/// the content type and caching; `meta` is the stat the path was resolved with.
///
/// Small files (and manifests) are served from the cache, read once per version; larger
/// ones are streamed from one open handle, described from that handle, so a file replaced
/// meanwhile is sent whole and consistent.
async fn send_file(
    web: &Web,
    h: &HeaderMap,
    head: bool,
    path: &Path,
    meta: std::fs::Metadata,
    name: &str,
    window: Window,
) -> Response<Body> {
    let (ctype, kind) = headers::classify(name);
    let len = meta.len();
    // The version of the bytes served from memory, if it is one a later request may reuse.
    let mut kept = None;
    let described = if web.cache.fits(len) || (kind == Kind::Manifest && len <= MANIFEST_IN_MEMORY)
    {
        let ident = cache::Ident::of(&meta);
        let cached = match web.cache.get(path, &ident) {
            Some(c) => {
                kept = Some(ident);
                c
            }
            None => {
                let p = path.to_path_buf();
                match tokio::task::spawn_blocking(move || cache::read_file(&p)).await {
                    Ok(Ok((id, c, stable))) => {
                        if stable {
                            web.cache.insert(path, id, c.clone());
                            kept = Some(id);
                        }
                        c
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("web: {}: {e}", path.display());
                        return not_found("not found");
                    }
                    Err(e) => {
                        tracing::warn!("web: reading {}: {e}", path.display());
                        return error(StatusCode::INTERNAL_SERVER_ERROR, "read error");
                    }
                }
            }
        };
        match describe_cached(web, h, &cached, ctype, kind, window) {
            Some(d) => d,
            None => return not_found("the fragment has no moof box"),
        }
    } else {
        match describe_file(path, ctype, kind, window).await {
            Ok(Some(d)) => d,
            Ok(None) => return not_found("the fragment has no moof box"),
            Err(e) => {
                tracing::debug!("web: {}: {e}", path.display());
                return not_found("not found");
            }
        }
    };
    let mut r = respond(h, head, described).await;
    if let (Some(ident), StatusCode::OK) = (kept, r.status()) {
        // This response may be kept whole for the next request of its target.
        r.extensions_mut().insert(hot::Source {
            path: path.to_path_buf(),
            ident,
        });
    }
    r
}

/// A live fragment's look-ahead version, which is in memory only ([`lookahead`]): `None`
/// when there is none. Never kept for the next request (the next version replaces it), and
/// marked for revalidation, as it will change.
async fn send_lookahead(
    web: &Web,
    h: &HeaderMap,
    head: bool,
    root: &Path,
    names: &[String],
    window: Window,
) -> Option<Response<Body>> {
    if web.cache.lookahead().held() == 0 {
        return None;
    }
    let (last, folders) = names.split_last()?;
    let Found::Dir(dir) = web.paths.resolve(root, folders) else {
        return None;
    };
    let cached = web.cache.lookahead().get(&dir.join(last))?;
    let (ctype, kind) = headers::classify(last);
    let Some(mut d) = describe_cached(web, h, &cached, ctype, kind, window) else {
        return Some(not_found("the fragment has no moof box"));
    };
    d.cache_control = "no-cache";
    Some(respond(h, head, d).await)
}

fn describe_cached(
    web: &Web,
    h: &HeaderMap,
    cached: &Cached,
    ctype: &'static str,
    kind: Kind,
    window: Window,
) -> Option<Described> {
    let mut d = Described {
        ctype,
        cache_control: headers::cache_control(kind, cached.live),
        tag: HeaderValue::from_static(""),
        last_modified: cached.last_modified.clone(),
        len: 0,
        gzip: false,
        vary: web.gzip && kind == Kind::Manifest && window == Window::Whole,
        content: Content::Memory(Bytes::new()),
    };
    let body = match window {
        Window::Whole => {
            // gzip only for whole bodies: a range of the encoded form would be of no use.
            let gz = d.vary && h.get(header::RANGE).is_none() && accepts_gzip(h);
            match cached.gzip().filter(|_| gz) {
                Some(z) => {
                    d.gzip = true;
                    d.tag = cached.etag_gzip().clone();
                    z.clone()
                }
                None => {
                    d.tag = cached.etag.clone();
                    cached.bytes.clone()
                }
            }
        }
        Window::Moof => {
            let (o, l) = iis::find_moof_in(&cached.bytes)?;
            d.tag = cache::value(headers::etag(l as u64, cached.modified, "-moof"));
            cached.bytes.slice(o..o + l)
        }
    };
    d.len = body.len() as u64;
    d.content = Content::Memory(body);
    Some(d)
}

/// A file too large for the cache: described from its open handle, streamed.
async fn describe_file(
    path: &Path,
    ctype: &'static str,
    kind: Kind,
    window: Window,
) -> std::io::Result<Option<Described>> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    let (offset, len) = match window {
        Window::Whole => (0, meta.len()),
        Window::Moof => match iis::find_moof(&mut file, meta.len()).await? {
            Some(w) => w,
            None => return Ok(None),
        },
    };
    let modified = meta.modified().ok();
    Ok(Some(Described {
        ctype,
        // Only manifests can be live, and those are read whole.
        cache_control: headers::cache_control(kind, false),
        tag: cache::value(headers::etag(
            len,
            modified,
            if window == Window::Moof { "-moof" } else { "" },
        )),
        last_modified: modified.map(|m| cache::value(headers::http_date(m))),
        len,
        gzip: false,
        vary: false,
        content: Content::File { file, offset },
    }))
}

/// Whether `Accept-Encoding` takes gzip (not refused with `q=0`).
fn accepts_gzip(h: &HeaderMap) -> bool {
    h.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(takes_gzip)
}

/// Whether one `Accept-Encoding` value takes gzip.
fn takes_gzip(value: &str) -> bool {
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && !refused
    })
}

/// The response for a described body: validators, conditionals, ranges, HEAD.
async fn respond(h: &HeaderMap, head: bool, d: Described) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    set_static(&mut r, header::CONTENT_TYPE, d.ctype);
    set_static(&mut r, header::CACHE_CONTROL, d.cache_control);
    r.headers_mut().insert(header::ETAG, d.tag.clone());
    if let Some(lm) = &d.last_modified {
        r.headers_mut().insert(header::LAST_MODIFIED, lm.clone());
    }
    if d.gzip {
        set_static(&mut r, header::CONTENT_ENCODING, "gzip");
    } else {
        set_static(&mut r, header::ACCEPT_RANGES, "bytes");
    }
    if d.vary {
        set_static(&mut r, header::VARY, "Accept-Encoding");
    }
    cors(&mut r);

    let text = |n: HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    let last_modified = d.last_modified.as_ref().and_then(|v| v.to_str().ok());
    let tag = d.tag.to_str().unwrap_or("");
    let not_modified = match text(header::IF_NONE_MATCH) {
        Some(inm) => headers::none_match(inm, tag),
        None => text(header::IF_MODIFIED_SINCE).is_some_and(|ims| Some(ims) == last_modified),
    };
    if not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    let len = d.len;
    // A range of an older version would splice two files: If-Range guards against it.
    let range_applies =
        text(header::IF_RANGE).is_none_or(|ir| ir == tag || Some(ir) == last_modified);
    let range = if range_applies && !d.gzip {
        headers::parse_range(text(header::RANGE), len)
    } else {
        ByteRange::Whole
    };
    let (start, count) = match range {
        ByteRange::Whole => (0, len),
        ByteRange::Part { start, len: n } => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let end = start + n - 1;
            set(
                &mut r,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            (start, n)
        }
        ByteRange::Unsatisfiable => {
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            set(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
            set_static(&mut r, header::CACHE_CONTROL, "no-store");
            set_static(&mut r, header::CONTENT_LENGTH, "0");
            return r;
        }
    };
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if head {
        return r;
    }
    *r.body_mut() = match d.content {
        Content::Memory(b) => {
            // start + count <= len == b.len(), both from parse_range.
            let (s, e) = (start as usize, (start + count) as usize);
            Body::bytes(b.slice(s..e))
        }
        Content::File { mut file, offset } => {
            if let Err(e) = file.seek(SeekFrom::Start(offset + start)).await {
                tracing::debug!("web: seek: {e}");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "read error");
            }
            Body::File {
                file,
                remaining: count,
            }
        }
    };
    r
}

fn preflight(h: &HeaderMap) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    cors(&mut r);
    set(
        &mut r,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, HEAD, OPTIONS",
    );
    let asked = h
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Range");
    set(&mut r, header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    set(&mut r, header::ACCESS_CONTROL_MAX_AGE, "86400");
    r
}

/// Players are usually on another origin (a page on a CDN, a test harness); `Date` is
/// exposed because dash.js's live clock reads it, and it is not a safelisted header.
fn cors(r: &mut Response<Body>) {
    set_static(r, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    set_static(
        r,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "Content-Length, Content-Range, Date, ETag, Last-Modified",
    );
}

fn error(status: StatusCode, msg: &str) -> Response<Body> {
    let text = format!("{msg}\n");
    let mut r = Response::new(Body::bytes(text.clone()));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    // A fragment missing now (live, not yet written) may exist in a second.
    set(&mut r, header::CACHE_CONTROL, "no-store");
    set(&mut r, header::CONTENT_LENGTH, &text.len().to_string());
    cors(&mut r);
    r
}

fn not_found(msg: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, msg)
}

/// A constant value: no parsing per response.
fn set_static(r: &mut Response<Body>, name: HeaderName, value: &'static str) {
    r.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn set(r: &mut Response<Body>, name: HeaderName, value: &str) {
    // Every value here is ours or was a valid header value already; a bad one is dropped.
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}
