//! Which POSTs are Smooth ingest: `<path>/<point>.isml/Streams(<id>)`, optionally with
//! `Events(<event>)/` before `Streams(`, both matched in any case (Azure writes `streams(`).

use crate::web::files;

/// The longest stream id taken; ids are short names (`1080p`, `8872-stream0`).
const MAX_ID: usize = 64;

/// One ingest URL, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path segments up to and including `<point>.isml`: the point's key and folder
    /// under the web root.
    pub point: Vec<String>,
    /// `<point>` without `.isml`.
    pub name: String,
    /// The `Streams(<id>)` id.
    pub stream: String,
    /// `Events(<event>)`, when given (not used for naming: one point, one presentation).
    pub event: Option<String>,
}

impl Route {
    /// The point's path, as the key of the point and the app of publish rules:
    /// `live/pp.isml`.
    pub fn point_path(&self) -> String {
        self.point.join("/")
    }

    /// The local stream the id's media becomes: `<point>_<id>`.
    pub fn local_stream(&self) -> String {
        format!("{}_{}", self.name, self.stream)
    }
}

/// `Ok(None)`: not an ingest URL (no `.isml` segment). `Err`: an ingest URL that is wrong.
pub fn parse(raw_path: &str) -> Result<Option<Route>, String> {
    let Ok(names) = files::segments(raw_path) else {
        return Ok(None);
    };
    let Some(i) = names
        .iter()
        .position(|n| n.len() > 5 && n.to_ascii_lowercase().ends_with(".isml"))
    else {
        return Ok(None);
    };
    let point = names[..=i].to_vec();
    let name = names[i][..names[i].len() - 5].to_string();
    let (event, stream) = match &names[i + 1..] {
        [s] => (None, s),
        [e, s] => (Some(arg(e, "events")?), s),
        _ => {
            return Err(format!(
                "an ingest URL is {}/Streams(<id>)",
                raw_path.split(".isml").next().unwrap_or_default()
            ) + ".isml")
        }
    };
    let stream = arg(stream, "streams")?;
    Ok(Some(Route {
        point,
        name,
        stream,
        event,
    }))
}

/// The `<x>` of `Name(<x>)`, checked to be a short URI-safe identifier.
fn arg(segment: &str, name: &str) -> Result<String, String> {
    let lower = segment.to_ascii_lowercase();
    let inner = lower
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .map(|_| &segment[name.len() + 1..segment.len() - 1]);
    let Some(inner) = inner else {
        return Err(format!("expected {name}(<id>) in the URL, not {segment:?}"));
    };
    let ok = !inner.is_empty()
        && inner.len() <= MAX_ID
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        return Err(format!(
            "{name}({inner:?}): use 1 to {MAX_ID} letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let r = parse("/pp.isml/Streams(hi)").unwrap().unwrap();
        assert_eq!(
            (r.point_path(), r.local_stream()),
            ("pp.isml".into(), "pp_hi".into())
        );
        let r = parse("/live/Ch1.ISML/events(show)/streams(720p)")
            .unwrap()
            .unwrap();
        assert_eq!(r.point, ["live", "Ch1.ISML"]);
        assert_eq!((r.name.as_str(), r.stream.as_str()), ("Ch1", "720p"));
        assert_eq!(r.event.as_deref(), Some("show"));
        let r = parse("/pp.isml/Streams%28a-b.c_d%29").unwrap().unwrap();
        assert_eq!(r.stream, "a-b.c_d");
        assert_eq!(parse("/pp.ism/Streams(a)").unwrap(), None);
        assert_eq!(parse("/x/.isml").unwrap(), None);
        for bad in [
            "/pp.isml",
            "/pp.isml/Streams()",
            "/pp.isml/Streams(a b)",
            "/pp.isml/Streams(a/b)",
            "/pp.isml/Stream(a)",
            "/pp.isml/x/y/Streams(a)",
            "/pp.isml/Events(e)/Manifest",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = format!("/pp.isml/Streams({})", "a".repeat(65));
        assert!(parse(&long).is_err());
    }
}
