//! The operator's console: a page at `/console` on the HTTP API's port, so it has exactly the
//! API's exposure and its access rules. `http.rs` runs the same checks (Host, browser origin,
//! token) before anything here answers; a browser that must send the token is asked for it
//! with the API's `WWW-Authenticate: Basic` challenge and then sends it with every request of
//! the page (the password is the token), so the page never stores it itself.
//!
//! Everything is built in (HTML, CSS, script, and the dash.js copies the web port's player
//! page uses), with no build step and nothing from the network. The page reads
//! `/console/state` (one JSON document: streams, configs, presentations, metric counters,
//! recent events) every second or two, and acts through the API's own commands
//! (`/createMSSStream?params=...`, `/removeConfig`, `/pullStream`), so it can do nothing a
//! script with the same credentials could not. Its responses forbid framing and foreign
//! scripts (CSP), so another site can neither embed it nor inject into it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::server::AppState;

/// The path prefix everything here is served under.
pub const PREFIX: &str = "/console";

/// Events shown (the newest ones).
const EVENTS_SHOWN: usize = 50;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// Whether `path` is the console's (so the API must not read it as a command).
pub fn is_console(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|r| r.starts_with('/'))
}

/// The response for a console path; the caller has already checked access.
pub fn respond(state: &AppState, path: &str) -> Response<Full<Bytes>> {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    match rest {
        "" | "/" | "/index.html" => page(INDEX.as_bytes(), "text/html; charset=utf-8"),
        "/console.js" => page(SCRIPT.as_bytes(), "text/javascript; charset=utf-8"),
        "/console.css" => page(STYLE.as_bytes(), "text/css; charset=utf-8"),
        "/state" => {
            let body = serde_json::to_vec(&state_json(state)).unwrap_or_default();
            page_owned(body, "application/json")
        }
        other => {
            // The player's dash.js: the same built-in copies the web port's player page uses.
            let name = other.trim_start_matches('/');
            match crate::web::player_assets::file(name) {
                Some((ctype, data)) => page(data, ctype),
                None => {
                    let mut r = page(b"no such console file\n", "text/plain; charset=utf-8");
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        }
    }
}

fn page(body: &'static [u8], ctype: &'static str) -> Response<Full<Bytes>> {
    respond_with(Bytes::from_static(body), ctype)
}

fn page_owned(body: Vec<u8>, ctype: &'static str) -> Response<Full<Bytes>> {
    respond_with(Bytes::from(body), ctype)
}

fn respond_with(body: Bytes, ctype: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    // Authenticated content: never kept by a shared cache, always fresh for the operator.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No framing by another page (clickjacking the forms), own scripts and styles only;
    // manifests and fragments come from the web port, any host (it may sit behind a proxy).
    h.insert(
        hyper::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' http: https:; media-src 'self' blob:; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        hyper::header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// Everything the page shows, in one document.
pub fn state_json(state: &AppState) -> Value {
    let data = |command: &str| {
        super::execute(state, command)
            .map(|r| r.data)
            .unwrap_or(Value::Null)
    };
    let streams = data("listStreams");
    let inbound: Vec<Value> = streams
        .as_array()
        .map(|a| a.iter().filter(|s| s["type"] != "OFMSS").cloned().collect())
        .unwrap_or_default();
    let config = data("listConfig");
    let webroot = &state.config.webroot;
    let mss: Vec<Value> = config["mss"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let mut c = c.clone();
                    let path = manifest_path(webroot, &c);
                    c["manifestPath"] = json!(path);
                    c
                })
                .collect()
        })
        .unwrap_or_default();
    let events = crate::events::recent::snapshot();
    let skip = events.len().saturating_sub(EVENTS_SHOWN);
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "webPort": state.config.web_port,
        // A console opened over HTTPS links to the web server's HTTPS port (a page on
        // https cannot load media over http).
        "webTlsPort": state.config.tls.as_ref().and_then(|t| t.https_port).filter(|p| *p != 0),
        "webroot": crate::paths::normalize(webroot).display().to_string(),
        "streams": inbound,
        "mss": mss,
        "pulls": config["pull"].clone(),
        "metrics": crate::metrics::get().snapshot(),
        "events": events[skip..].to_vec(),
    })
}

/// Characters a URL path segment cannot hold as they are.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The URL path of a config's manifest on the web port, when its folder is inside the web
/// root (a config writing under another allowed root has no URL here).
fn manifest_path(webroot: &Path, config: &Value) -> Option<String> {
    let group = PathBuf::from(config["groupTargetFolder"].as_str()?);
    let name = config["manifestName"].as_str()?;
    let manifest = group.join(name);
    let relative = [
        crate::paths::normalize(webroot),
        crate::paths::real_path(webroot),
    ]
    .iter()
    .find_map(|root| {
        crate::paths::normalize(&manifest)
            .strip_prefix(root)
            .ok()
            .map(Path::to_path_buf)
    })?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| {
            percent_encoding::utf8_percent_encode(&c.as_os_str().to_string_lossy(), PATH_SEGMENT)
                .to_string()
        })
        .collect();
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;

    #[test]
    fn console_paths_are_not_commands() {
        assert!(is_console("/console"));
        assert!(is_console("/console/"));
        assert!(is_console("/console/removeConfig"));
        assert!(!is_console("/consoleX"));
        assert!(!is_console("/listStreams"));
    }

    #[test]
    fn serves_the_page_with_a_strict_policy() {
        let state = test_support::state();
        for path in [
            "/console",
            "/console/",
            "/console/console.js",
            "/console/console.css",
        ] {
            let r = respond(&state, path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let csp = r.headers()[hyper::header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("csp");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(r.headers()[hyper::header::X_FRAME_OPTIONS], "DENY");
        }
        let r = respond(&state, "/console/dash.all.min.js");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            respond(&state, "/console/nope").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn state_lists_streams_and_manifest_paths() {
        let state = test_support::state();
        let _p = state
            .streams
            .publish("cam 1", crate::streams::StreamKind::Rtmp, "127.0.0.1:5000")
            .expect("publish");
        let s = state_json(&state);
        assert_eq!(s["streams"][0]["name"], "cam 1");
        assert!(s["metrics"]["fragmentsWritten"].is_u64());
        let root = Path::new("/srv/www");
        let c = json!({ "groupTargetFolder": "/srv/www/live a", "manifestName": "manifest.ismc" });
        assert_eq!(
            manifest_path(root, &c).as_deref(),
            Some("/live%20a/manifest.ismc")
        );
        let outside = json!({ "groupTargetFolder": "/elsewhere/g", "manifestName": "m" });
        assert_eq!(manifest_path(root, &outside), None);
    }
}
