//! The web server (EMS's EWS, port 8888): the web root as static files, plus IIS-style
//! Smooth Streaming URLs (`Manifest`, `QualityLevels(B)/Fragments(NAME=T)`,
//! `FragmentInfo(...)`) mapped onto the files our packager writes, and a built-in dash.js
//! player page.
//!
//! - [`files`]: request path -> file, never outside the web root.
//! - [`iis`]: the IIS URL forms and the manifest lookups they need.
//! - [`headers`]: types, caching, validators, ranges.
//! - [`body`]: streamed file bodies.

mod body;
pub mod files;
pub mod headers;
pub mod iis;

use std::convert::Infallible;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::server::{AppState, Shutdown};
use body::Body;
use files::{Found, PathError};
use headers::{ByteRange, Kind};

/// Connections served at once; further clients wait in the listen backlog.
const MAX_CONNECTIONS: u32 = 1024;
/// Time a client gets to send a request's headers, also the keep-alive idle limit (hyper
/// starts the clock when it waits for a request): drops slow-loris and idle clients.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Request line plus headers; players send well under 2 KiB.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Time in-flight responses get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Manifests up to this size are read whole, to see `IsLive` and send one consistent copy
/// even while the writer replaces the file.
const MANIFEST_IN_MEMORY: u64 = 16 * 1024 * 1024;

const PLAYER_PAGE: &str = include_str!("player.html");

struct Web {
    state: Arc<AppState>,
    manifests: iis::ManifestCache,
}

pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    mut shutdown: Shutdown,
) -> Result<()> {
    let web = Arc::new(Web {
        state,
        manifests: iis::ManifestCache::default(),
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS as usize));
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
        let web = web.clone();
        let http = http.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let web = web.clone();
                async move { Ok::<_, Infallible>(handle(&web, req).await) }
            });
            let conn = http.serve_connection(TokioIo::new(stream), service);
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
            drop(permit);
        });
    }
    // Every connection holds a permit until it is done: all permits back means all closed.
    let _ = tokio::time::timeout(
        SHUTDOWN_GRACE + Duration::from_secs(1),
        limit.acquire_many(MAX_CONNECTIONS),
    )
    .await;
    Ok(())
}

async fn handle(web: &Web, req: Request<Incoming>) -> Response<Body> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        Method::OPTIONS => return preflight(req.headers()),
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
            set(&mut r, header::ALLOW, "GET, HEAD, OPTIONS");
            return r;
        }
    };
    let names = match files::segments(req.uri().path()) {
        Ok(n) => n,
        Err(PathError::Malformed(why)) => return error(StatusCode::BAD_REQUEST, why),
        Err(PathError::Forbidden(why)) => return error(StatusCode::FORBIDDEN, why),
        Err(PathError::Hidden) => return not_found("not found"),
    };
    let h = req.headers();
    if names.first().map(String::as_str) == Some("_smoothcast") {
        return assets(web, &names[1..], h, head).await;
    }
    let root = match files::canonical_root(&web.state.config.webroot).await {
        Ok(r) => r,
        Err(_) if names.is_empty() => return player_page(head, &web.state.config),
        Err(e) => {
            tracing::warn!("web: web root {}: {e}", web.state.config.webroot.display());
            return not_found("the web root does not exist");
        }
    };
    if names.is_empty() {
        return match files::resolve(&root, &["index.html"]).await {
            Found::File(path) => send_file(h, head, &path, "index.html", Window::Whole).await,
            _ => player_page(head, &web.state.config),
        };
    }
    match files::resolve(&root, &names).await {
        Found::File(path) => {
            let name = names.last().map_or("", String::as_str);
            return send_file(h, head, &path, name, Window::Whole).await;
        }
        // No listings: a folder's contents are not for browsing.
        Found::Dir(_) | Found::Outside => return not_found("not found"),
        Found::Missing => {}
    }
    match iis::parse(&names) {
        Ok(Some(r)) => iis_request(web, &root, r, h, head).await,
        Ok(None) => not_found("not found"),
        Err(why) => error(StatusCode::BAD_REQUEST, why),
    }
}

async fn iis_request(
    web: &Web,
    root: &Path,
    req: iis::Request,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let dir_names = match &req {
        iis::Request::Manifest { dir } | iis::Request::Fragment { dir, .. } => dir,
    };
    let Found::Dir(dir) = files::resolve(root, dir_names).await else {
        return not_found("no such presentation folder");
    };
    let Some(manifest) = iis::find_manifest(&dir).await else {
        return not_found("no manifest in this folder");
    };
    // The manifest itself may be a symlink: it is served only if it stays inside.
    let manifest = match files::resolve(&dir, &[file_name(&manifest)]).await {
        Found::File(p) => p,
        _ => return not_found("no manifest in this folder"),
    };
    let iis::Request::Fragment {
        bitrate,
        stream,
        time,
        info,
        ..
    } = req
    else {
        return send_file(h, head, &manifest, "Manifest", Window::Whole).await;
    };
    let parsed = match web.manifests.get(&manifest).await {
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
    let path = match files::resolve(&dir, &rel_names).await {
        Found::File(p) => p,
        _ => return not_found("fragment not found"),
    };
    if info {
        send_file(h, head, &path, "FragmentInfo()", Window::Moof).await
    } else {
        send_file(h, head, &path, "Fragments()", Window::Whole).await
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `/_smoothcast/...`: the built-in player page and the dash.js files it loads.
async fn assets(web: &Web, names: &[String], h: &HeaderMap, head: bool) -> Response<Body> {
    match names {
        [] => player_page(head, &web.state.config),
        [page] if page == "player.html" => player_page(head, &web.state.config),
        [file] => {
            let dir = &web.state.config.player_assets;
            let Ok(root) = files::canonical_root(dir).await else {
                return not_found(&format!(
                    "player assets folder {} not found: install dash.js 5 (`npm ci` in \
                     tests/player) or set player_assets in the server configuration",
                    dir.display()
                ));
            };
            match files::resolve(&root, &[file]).await {
                Found::File(p) => send_file(h, head, &p, file, Window::Whole).await,
                _ => not_found(&format!("{file} is not in {}", dir.display())),
            }
        }
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
    let page = PLAYER_PAGE.replace("__DEFAULT_MANIFEST__", &preset);
    let len = page.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::bytes(Bytes::from(page))
    });
    set(&mut r, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(&mut r, header::CACHE_CONTROL, "no-cache");
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

/// Sends a file (or its moof), honouring conditional and range requests. `name` decides
/// the content type and caching; the file is opened once and described from that handle,
/// so a file replaced meanwhile is sent whole and consistent.
async fn send_file(
    h: &HeaderMap,
    head: bool,
    path: &Path,
    name: &str,
    window: Window,
) -> Response<Body> {
    let (ctype, kind) = headers::classify(name);
    let opened = async {
        let mut file = tokio::fs::File::open(path).await?;
        let meta = file.metadata().await?;
        let (offset, len) = match window {
            Window::Whole => (0, meta.len()),
            Window::Moof => match iis::find_moof(&mut file, meta.len()).await? {
                Some(w) => w,
                None => return Ok(None),
            },
        };
        // Manifests: read whole, both to see IsLive and to send one consistent copy.
        let memory = if kind == Kind::Manifest && len <= MANIFEST_IN_MEMORY {
            file.seek(SeekFrom::Start(0)).await?;
            let mut buf = Vec::with_capacity(len as usize);
            (&mut file).take(len).read_to_end(&mut buf).await?;
            Some(Bytes::from(buf))
        } else {
            None
        };
        Ok::<_, std::io::Error>(Some((file, meta, offset, len, memory)))
    };
    let (mut file, meta, offset, len, memory) = match opened.await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found("the fragment has no moof box"),
        Err(e) => {
            tracing::debug!("web: {}: {e}", path.display());
            return not_found("not found");
        }
    };
    // The in-memory copy is what is sent, so its length is the one to describe.
    let len = memory.as_ref().map_or(len, |b| b.len() as u64);
    let live = memory.as_ref().is_some_and(|b| headers::sniff_live(b));
    let modified = meta.modified().ok();
    let tag = headers::etag(
        len,
        modified,
        if window == Window::Moof { "-moof" } else { "" },
    );
    let last_modified = modified.map(headers::http_date);

    let mut r = Response::new(Body::empty());
    set(&mut r, header::CONTENT_TYPE, ctype);
    set(
        &mut r,
        header::CACHE_CONTROL,
        headers::cache_control(kind, live),
    );
    set(&mut r, header::ETAG, &tag);
    if let Some(lm) = &last_modified {
        set(&mut r, header::LAST_MODIFIED, lm);
    }
    set(&mut r, header::ACCEPT_RANGES, "bytes");
    cors(&mut r);

    let text = |n: HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    let not_modified = match text(header::IF_NONE_MATCH) {
        Some(inm) => headers::none_match(inm, &tag),
        None => {
            text(header::IF_MODIFIED_SINCE).is_some_and(|ims| Some(ims) == last_modified.as_deref())
        }
    };
    if not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    // A range of an older version would splice two files: If-Range guards against it.
    let range_applies =
        text(header::IF_RANGE).is_none_or(|ir| ir == tag || Some(ir) == last_modified.as_deref());
    let range = if range_applies {
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
            set(&mut r, header::CACHE_CONTROL, "no-store");
            set(&mut r, header::CONTENT_LENGTH, "0");
            return r;
        }
    };
    set(&mut r, header::CONTENT_LENGTH, &count.to_string());
    if head {
        return r;
    }
    *r.body_mut() = match memory {
        Some(b) => {
            // start + count <= len == b.len(), both from parse_range.
            let (s, e) = (start as usize, (start + count) as usize);
            Body::bytes(b.slice(s..e))
        }
        None => {
            if let Err(e) = file.seek(SeekFrom::Start(offset + start)).await {
                tracing::debug!("web: {}: {e}", path.display());
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
    set(r, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    set(
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

fn set(r: &mut Response<Body>, name: HeaderName, value: &str) {
    // Every value here is ours or was a valid header value already; a bad one is dropped.
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}
