//! dash.js and its MSS bundle, built into the binary so the player page works wherever the
//! server is installed. The files are copies of the npm package pinned in `tests/player`
//! (`host-native/assets/dashjs/update.sh` refreshes them; a test checks they are current),
//! with its licence, which is served beside them.

use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};

use super::body::Body;
use super::{cors, not_found, set};

#[cfg(test)]
const VERSION: &str = env!("SMOOTHCAST_DASHJS_VERSION");
/// The folder under `/_smoothcast/` the built-in files are served from: versioned, so they
/// can be cached for good and an upgrade changes the URLs.
pub const DIR: &str = concat!("dashjs-", env!("SMOOTHCAST_DASHJS_VERSION"));

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "dash.all.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashjs/dash.all.min.js"),
    ),
    (
        "dash.mss.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashjs/dash.mss.min.js"),
    ),
    (
        "LICENSE.md",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/dashjs/LICENSE.md"),
    ),
];

/// A built-in file's content type and bytes (the console serves them on the API port too).
pub fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ctype, data)| (*ctype, *data))
}

/// One built-in file. `versioned`: requested under [`DIR`], so cached for a year; the bare
/// `/_smoothcast/<file>` form (older pages, hand-written ones) is revalidated daily.
pub fn serve(name: &str, h: &HeaderMap, head: bool, versioned: bool) -> Response<Body> {
    let Some((_, ctype, data)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return not_found("no such built-in player file");
    };
    let etag = format!("\"{DIR}-{}\"", data.len());
    let matches = h
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(if head {
            Body::empty()
        } else {
            Body::bytes(Bytes::from_static(data))
        });
        set(&mut r, header::CONTENT_TYPE, ctype);
        set(&mut r, header::CONTENT_LENGTH, &data.len().to_string());
        r
    };
    let cache = match versioned {
        true => "public, max-age=31536000, immutable",
        false => "public, max-age=86400",
    };
    set(&mut r, header::CACHE_CONTROL, cache);
    set(&mut r, header::ETAG, &etag);
    cors(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The built-in copies equal the npm package pinned in `tests/player`: the version in
    /// its package.json always, the bytes when `npm ci` has run there (CI runs it first).
    #[test]
    fn vendored_dashjs_equals_the_pinned_package() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/player");
        let pkg = std::fs::read_to_string(root.join("package.json")).expect("package.json");
        let pkg: serde_json::Value = serde_json::from_str(&pkg).expect("json");
        assert_eq!(
            pkg["devDependencies"]["dashjs"], VERSION,
            "tests/player pins another dash.js: run host-native/assets/dashjs/update.sh"
        );
        let dist = root.join("node_modules/dashjs");
        if !dist.join("package.json").is_file() {
            let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
            assert!(!ci, "{}: run npm ci in tests/player", dist.display());
            eprintln!("SKIP comparing bytes: no {}", dist.display());
            return;
        }
        for (name, _, data) in FILES {
            let path = match *name {
                "LICENSE.md" => dist.join(name),
                _ => dist.join("dist/modern/umd").join(name),
            };
            let npm = std::fs::read(&path).expect("the package's file");
            assert!(
                npm == *data,
                "{name} differs from {}: run host-native/assets/dashjs/update.sh",
                path.display()
            );
        }
    }
}
