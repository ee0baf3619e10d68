//! Header values: content types, caching, validators and byte ranges.

use std::time::{SystemTime, UNIX_EPOCH};

/// What a file is to a player, which decides its type and how long caches may keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Manifest,
    /// A Smooth fragment: written once under a name that is its own start time, so it
    /// never changes and caches may keep it forever.
    Fragment,
    Other,
}

/// The type and kind of a file, from its name. IIS-style names (`Manifest`,
/// `Fragments(video=0)`) have no extension but are known too, so folders written by other
/// packagers (FFmpeg's `smoothstreaming`) are served with the right types.
pub fn classify(file_name: &str) -> (&'static str, Kind) {
    let lower = file_name.to_ascii_lowercase();
    if lower == "manifest" {
        return (MANIFEST_TYPE, Kind::Manifest);
    }
    if lower.starts_with("fragments(") || lower.starts_with("fragmentinfo(") {
        return ("video/mp4", Kind::Fragment);
    }
    let ext = match lower.rsplit_once('.') {
        Some((_, ext)) => ext,
        None => "",
    };
    match ext {
        "ismc" | "ism" => (MANIFEST_TYPE, Kind::Manifest),
        "fmp4" | "m4s" => ("video/mp4", Kind::Fragment),
        "ismv" | "mp4" | "m4v" => ("video/mp4", Kind::Other),
        "isma" | "m4a" => ("audio/mp4", Kind::Other),
        "mpd" => ("application/dash+xml", Kind::Manifest),
        "m3u8" => ("application/vnd.apple.mpegurl", Kind::Manifest),
        "ts" => ("video/mp2t", Kind::Other),
        "html" | "htm" => ("text/html; charset=utf-8", Kind::Other),
        "js" | "mjs" => ("text/javascript; charset=utf-8", Kind::Other),
        "css" => ("text/css; charset=utf-8", Kind::Other),
        "json" => ("application/json", Kind::Other),
        "map" => ("application/json", Kind::Other),
        "txt" => ("text/plain; charset=utf-8", Kind::Other),
        "xml" => ("application/xml", Kind::Other),
        "png" => ("image/png", Kind::Other),
        "jpg" | "jpeg" => ("image/jpeg", Kind::Other),
        "gif" => ("image/gif", Kind::Other),
        "svg" => ("image/svg+xml", Kind::Other),
        "ico" => ("image/x-icon", Kind::Other),
        "wasm" => ("application/wasm", Kind::Other),
        _ => ("application/octet-stream", Kind::Other),
    }
}

/// Shaka guesses nothing from `/Manifest` URLs; this type is what it registers for MSS.
pub const MANIFEST_TYPE: &str = "application/vnd.ms-sstr+xml";

pub fn cache_control(kind: Kind, live: bool) -> &'static str {
    match kind {
        Kind::Fragment => "public, max-age=31536000, immutable",
        // A live manifest is rewritten every chunk; players that reload it (ExoPlayer) must
        // never get a stale window.
        Kind::Manifest if live => "no-cache",
        Kind::Manifest => "public, max-age=60",
        // Pages and scripts change while developing; the ETag keeps revalidation cheap.
        Kind::Other => "no-cache",
    }
}

/// Whether a manifest's opening bytes declare a live presentation. The root element comes
/// first, so its attributes are within the head; quote style and case vary by writer.
pub fn sniff_live(head: &[u8]) -> bool {
    let lower = head.to_ascii_lowercase();
    lower
        .windows(13)
        .any(|w| w == b"islive=\"true\"" || w == b"islive='true'")
}

/// A strong validator from size and modification time (plus a tag for derived bodies such
/// as FragmentInfo's moof), good enough for files replaced by rename.
pub fn etag(len: u64, modified: Option<SystemTime>, tag: &str) -> String {
    let nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}{tag}\"")
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form HTTP senders may use.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WEEKDAYS[(days % 7) as usize];
    let mon = MONTHS[(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); H. Hinnant's `civil_from_days`
/// restricted to dates after the epoch, which is all a file time can be here.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// No range, one we do not support (several ranges, other units) or bad syntax: RFC 9110
    /// lets a server ignore those and send the whole body.
    Whole,
    /// `start..start+len`.
    Part {
        start: u64,
        len: u64,
    },
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if len == 0 => ByteRange::Unsatisfiable,
            Some(n) => {
                let n = n.min(len);
                ByteRange::Part {
                    start: len - n,
                    len: n,
                }
            }
        },
        (a, "") => match num(a) {
            None => ByteRange::Whole,
            Some(a) if a >= len => ByteRange::Unsatisfiable,
            Some(a) => ByteRange::Part {
                start: a,
                len: len - a,
            },
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= len {
                    ByteRange::Unsatisfiable
                } else {
                    let end = b.min(len - 1);
                    ByteRange::Part {
                        start: a,
                        len: end - a + 1,
                    }
                }
            }
            _ => ByteRange::Whole,
        },
    }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for GET).
pub fn none_match(header: &str, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
    let ours = strip(etag);
    header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn types() {
        assert_eq!(classify("manifest.ismc").0, MANIFEST_TYPE);
        assert_eq!(classify("Manifest"), (MANIFEST_TYPE, Kind::Manifest));
        assert_eq!(classify("123.fmp4"), ("video/mp4", Kind::Fragment));
        assert_eq!(classify("Fragments(video=0)").1, Kind::Fragment);
        assert_eq!(classify("a.isma").0, "audio/mp4");
        assert_eq!(classify("x.JS").0, "text/javascript; charset=utf-8");
        assert_eq!(classify("noext").0, "application/octet-stream");
    }

    #[test]
    fn live_sniffing() {
        assert!(sniff_live(
            b"<SmoothStreamingMedia IsLive=\"TRUE\" Duration=\"0\">"
        ));
        assert!(sniff_live(b"<SmoothStreamingMedia isLive='true'>"));
        assert!(!sniff_live(b"<SmoothStreamingMedia Duration=\"10\">"));
        assert!(!sniff_live(b"<SmoothStreamingMedia IsLive=\"FALSE\">"));
    }

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=0-9"), ByteRange::Part { start: 0, len: 10 });
        assert_eq!(r("bytes=90-"), ByteRange::Part { start: 90, len: 10 });
        assert_eq!(r("bytes=-5"), ByteRange::Part { start: 95, len: 5 });
        assert_eq!(r("bytes=-500"), ByteRange::Part { start: 0, len: 100 });
        assert_eq!(r("bytes=50-500"), ByteRange::Part { start: 50, len: 50 });
        assert_eq!(r("bytes=100-"), ByteRange::Unsatisfiable);
        assert_eq!(r("bytes=-0"), ByteRange::Unsatisfiable);
        assert_eq!(r("bytes=5-1"), ByteRange::Whole);
        assert_eq!(r("bytes=0-1,5-6"), ByteRange::Whole);
        assert_eq!(r("items=0-1"), ByteRange::Whole);
        assert_eq!(r("bytes=x-1"), ByteRange::Whole);
        assert_eq!(r("bytes=-"), ByteRange::Whole);
        assert_eq!(parse_range(None, 100), ByteRange::Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // leap day 2000
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn etags() {
        let e = etag(10, Some(UNIX_EPOCH + Duration::from_secs(1)), "");
        assert!(none_match(&e, &e));
        assert!(none_match(&format!("\"x\", W/{e}"), &e));
        assert!(none_match("*", &e));
        assert!(!none_match("\"other\"", &e));
    }
}
