//! IIS Smooth Streaming URLs, parsed into what to serve.

use smoothcast_core::layout;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/<group>/Manifest` or `/<group>/manifest.ismc`.
    Manifest { group: String },
    /// `/<group>/QualityLevels(<bitrate>)/Fragments(<kind>=<t>)`, or `FragmentInfo(...)`
    /// for the moof alone (dash.js asks for it when it pauses or seeks).
    Fragment {
        group: String,
        bitrate: u32,
        /// The stream's name (`video`, `audio`, `audio_<lang>`); the index decides.
        stream: String,
        start: u64,
        info_only: bool,
    },
}

/// Why a path is not served: 404 (no such resource) or 400 (malformed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    NotFound,
    BadRequest(String),
}

pub fn parse(path: &str) -> Result<Route, Reject> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let group = |g: &str| {
        layout::validate_component("group", g)
            .map(|()| g.to_string())
            .map_err(|_| Reject::NotFound)
    };
    match parts.as_slice() {
        [g, "Manifest" | "manifest" | "manifest.ismc"] => Ok(Route::Manifest { group: group(g)? }),
        [g, level, fragment] => {
            let bitrate = inside(level, "QualityLevels").ok_or(Reject::NotFound)?;
            let bitrate: u32 = bitrate
                .parse()
                .map_err(|_| Reject::BadRequest(format!("bad bitrate {bitrate:?}")))?;
            let (info_only, spec) = match inside(fragment, "Fragments") {
                Some(s) => (false, s),
                None => (
                    true,
                    inside(fragment, "FragmentInfo").ok_or(Reject::NotFound)?,
                ),
            };
            let (name, t) = spec
                .split_once('=')
                .ok_or_else(|| Reject::BadRequest(format!("bad fragment {spec:?}")))?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Reject::NotFound);
            }
            let start: u64 = t
                .parse()
                .map_err(|_| Reject::BadRequest(format!("bad start time {t:?}")))?;
            Ok(Route::Fragment {
                group: group(g)?,
                bitrate,
                stream: name.to_string(),
                start,
                info_only,
            })
        }
        _ => Err(Reject::NotFound),
    }
}

/// `Name(inner)` -> `inner`.
fn inside<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}
