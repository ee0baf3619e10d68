//! Where a stream is pushed: `publishingPoint` (`http://[user:pass@]host[:port]/path/pp.isml`)
//! plus `/Streams(<name>)`, the request line and headers made from it, and the URL as logs
//! and replies may show it (never with its credentials).

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Bytes escaped in a stream name put into `Streams(...)`: what FFmpeg escapes in a path
/// (`bprint_escaped_path`); `(`, `)` and `=` stay as they are.
const NAME_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'/')
    .add(b'?')
    .add(b'#');

/// A checked publishing point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishingPoint {
    /// Host as the socket connects to it (IPv6 without brackets); also the name the TLS
    /// certificate must have.
    pub host: String,
    /// `https://`: TLS, verified against the system's trusted certificates.
    pub tls: bool,
    pub port: u16,
    /// `Host:` header value (`host:port`, as RMS and FFmpeg send it).
    pub host_header: String,
    /// The path of the point, without a trailing `/`.
    pub path: String,
    /// `Authorization: Basic ...` for `user:pass@` in the URL.
    pub authorization: Option<String>,
    /// The URL without credentials.
    pub shown: String,
}

impl PublishingPoint {
    /// Parses `publishingPoint`; the error is a reply's description (it never repeats the
    /// URL's credentials).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url =
            url::Url::parse(text).map_err(|e| format!("publishingPoint is not a URL ({e})"))?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "publishingPoint must be an http:// or https:// URL, not {other}://"
                ))
            }
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(String::from("publishingPoint has no host")),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let authorization = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
            let pass = url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy())
                .unwrap_or_default();
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            format!("Basic {token}")
        });
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let bracketed = match url.host() {
            Some(url::Host::Ipv6(_)) => format!("[{host}]"),
            _ => host.to_string(),
        };
        Ok(Self {
            host: host.to_string(),
            tls,
            port,
            host_header: format!("{bracketed}:{port}"),
            path: url.path().trim_end_matches('/').to_string(),
            authorization,
            shown: shown.as_str().trim_end_matches('/').to_string(),
        })
    }

    /// The request path of one stream: `<path>/Streams(<name>)`, and with `ingestMode=loop`
    /// the time of this start put into the first `(...)` of an `Events(...)` segment, as
    /// RMS did, so that every run is a new event for the server (`reference/smooth-ingest.md`
    /// §10; RMS used local time, this uses UTC).
    pub fn stream_path(&self, name: &str, loop_stamp: Option<&str>) -> String {
        let mut path = self.path.clone();
        if let (Some(stamp), Some(at)) = (loop_stamp, path.find("Events(")) {
            if let Some(close) = path[at..].find(')') {
                path.insert_str(at + close, stamp);
            }
        }
        let name = utf8_percent_encode(name, NAME_ESCAPES);
        format!("{path}/Streams({name})")
    }

    /// The stream's URL without credentials, for logs, events and listConfig.
    pub fn shown_stream(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.host_header)
    }

    /// The head of the chunked POST (`reference/smooth-ingest.md` §3).
    pub fn request_head(&self, path: &str) -> String {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Smoothcast/{}\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
            self.host_header,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(auth) = &self.authorization {
            head.push_str("Authorization: ");
            head.push_str(auth);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head
    }
}

/// `publishingPoint` with any `user:pass@` removed (for replies and listConfig); text that
/// does not parse is shown as it is only if it cannot hold credentials.
pub fn shown(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) if text.contains('@') => String::from("(hidden)"),
        Err(_) => text.to_string(),
    }
}

/// The `ingestMode=loop` stamp: `%Y-%m-%d-%H:%M:%S` (UTC) of `unix` seconds.
pub fn loop_stamp(unix: u64) -> String {
    let (year, month, day) = crate::web::headers::civil_from_days(unix / 86_400);
    let secs = unix % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}-{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hides_credentials() {
        let p =
            PublishingPoint::parse("http://enc:s3cr%40t@10.0.0.1:8080/live/pp.isml/").expect("ok");
        assert_eq!((p.host.as_str(), p.port), ("10.0.0.1", 8080));
        assert_eq!(p.host_header, "10.0.0.1:8080");
        assert_eq!(p.path, "/live/pp.isml");
        assert_eq!(p.shown, "http://10.0.0.1:8080/live/pp.isml");
        let auth = p.authorization.clone().expect("basic auth");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim_start_matches("Basic "))
            .expect("base64");
        assert_eq!(decoded, b"enc:s3cr@t");
        let path = p.stream_path("cam 1", None);
        assert_eq!(path, "/live/pp.isml/Streams(cam%201)");
        assert_eq!(
            p.shown_stream(&path),
            "http://10.0.0.1:8080/live/pp.isml/Streams(cam%201)"
        );
        let head = p.request_head(&path);
        assert!(head.starts_with(
            "POST /live/pp.isml/Streams(cam%201) HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"
        ));
        assert!(head.contains("Transfer-Encoding: chunked\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
        assert!(!shown("http://enc:s3cr%40t@h/pp.isml").contains("s3cr"));
        assert_eq!(
            PublishingPoint::parse("http://h/pp.isml").expect("ok").port,
            80
        );
        let tls = PublishingPoint::parse("https://h/pp.isml").expect("https");
        assert_eq!((tls.tls, tls.port), (true, 443));
        assert_eq!(
            tls.shown_stream("/pp.isml/Streams(a)"),
            "https://h:443/pp.isml/Streams(a)"
        );
        assert!(PublishingPoint::parse("rtmp://h/pp.isml").is_err());
        assert!(PublishingPoint::parse("pp.isml").is_err());
    }

    #[test]
    fn loop_puts_the_start_into_the_event() {
        let p = PublishingPoint::parse("http://h/pp.isml/Events(show)").expect("ok");
        let stamp = loop_stamp(1_714_557_600);
        assert_eq!(stamp, "2024-05-01-10:00:00");
        assert_eq!(
            p.stream_path("s1", Some(&stamp)),
            "/pp.isml/Events(show2024-05-01-10:00:00)/Streams(s1)"
        );
        // Without Events(...) loop changes nothing (as in RMS).
        let p = PublishingPoint::parse("http://h/pp.isml").expect("ok");
        assert_eq!(p.stream_path("s1", Some(&stamp)), "/pp.isml/Streams(s1)");
    }
}
