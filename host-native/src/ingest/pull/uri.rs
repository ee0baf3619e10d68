//! The `uri` of a pullStream: which source protocol, which peer or file, the local stream
//! name EMS would derive from it, and the parsed `uri` object EMS shows in its replies.

use std::path::PathBuf;

use serde_json::{json, Value};
use url::Url;

use crate::ingest::rtmp::stream_name;

/// The protocols a pull can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Rtmp,
    Rtsp,
    /// MPEG-TS over TCP: EMS listens on the given address and takes what a peer sends.
    MpegTsTcp,
    /// MPEG-TS over UDP: EMS binds the given address (unicast or multicast).
    MpegTsUdp,
    /// A media file on this machine, played out in real time.
    File,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtsp => "rtsp",
            Scheme::MpegTsTcp => "mpegtstcp",
            Scheme::MpegTsUdp => "mpegtsudp",
            Scheme::File => "file",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp => 1935,
            Scheme::Rtsp => 554,
            Scheme::MpegTsTcp | Scheme::MpegTsUdp | Scheme::File => 0,
        }
    }
}

/// A checked pull URI. Network schemes always have a host and a port; `file` has an
/// absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullUri {
    pub scheme: Scheme,
    /// The text as given (EMS's `originalUri`).
    pub original: String,
    url: Url,
}

impl PullUri {
    /// Parses and checks a pullStream `uri`; `Err` says what is wrong, for the FAIL reply.
    pub fn parse(text: &str) -> Result<PullUri, String> {
        let url = Url::parse(text).map_err(|e| format!("uri {text:?} is not a valid URI: {e}"))?;
        let scheme = match url.scheme() {
            "rtmp" => Scheme::Rtmp,
            "rtsp" => Scheme::Rtsp,
            "mpegtstcp" => Scheme::MpegTsTcp,
            "mpegtsudp" => Scheme::MpegTsUdp,
            "file" => Scheme::File,
            s @ ("rtmps" | "rtmpt" | "rtmpe" | "rtmpts" | "rtmpte") => {
                return Err(format!(
                    "{s}:// is not supported: only plain rtmp:// can be pulled (no TLS, tunnelling or encryption)"
                ))
            }
            s @ ("dmpegtsudp" | "dmpegtstcp" | "rtp" | "http" | "https") => {
                return Err(format!("{s}:// sources are not supported"))
            }
            s => {
                return Err(format!(
                    "unknown scheme {s}://; use rtmp, rtsp, mpegtstcp, mpegtsudp or file"
                ))
            }
        };
        let uri = PullUri {
            scheme,
            original: text.to_string(),
            url,
        };
        match scheme {
            Scheme::File => {
                if uri.url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err("file:// URIs name a local file: file:///absolute/path".into());
                }
                if uri.file_path().is_none() {
                    return Err(format!("{text:?} does not name an absolute file path"));
                }
            }
            _ => {
                if uri.host().is_empty() {
                    return Err(format!("{text:?} has no host"));
                }
                if uri.port() == 0 {
                    return Err(format!("{text:?} needs a port"));
                }
            }
        }
        if scheme == Scheme::Rtmp && uri.rtmp_app_and_stream().is_none() {
            return Err(format!(
                "{text:?} must name an application and a stream: rtmp://host[:port]/app/stream"
            ));
        }
        Ok(uri)
    }

    /// The URI as listStreams shows it: without a password.
    pub fn shown(&self) -> String {
        if self.url.password().is_none() {
            return self.original.clone();
        }
        let mut u = self.url.clone();
        let _ = u.set_password(None);
        u.to_string()
    }

    /// The host as written (IPv6 without brackets); empty for files.
    pub fn host(&self) -> String {
        match self.url.host_str() {
            Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => String::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.url
            .port()
            .unwrap_or_else(|| self.scheme.default_port())
    }

    /// `host:port`, as `TcpStream::connect` and `UdpSocket::bind` take it.
    pub fn authority(&self) -> String {
        let host = self.host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port())
        } else {
            format!("{host}:{}", self.port())
        }
    }

    /// RTMP's application (the first path segment) and stream key (the rest, with any
    /// query, which carries tokens).
    pub fn rtmp_app_and_stream(&self) -> Option<(String, String)> {
        let path = self.url.path().trim_start_matches('/');
        let (app, stream) = path.split_once('/')?;
        if app.is_empty() || stream.is_empty() {
            return None;
        }
        let app = decode(app);
        let mut stream = decode(stream);
        if let Some(q) = self.url.query() {
            stream.push('?');
            stream.push_str(q);
        }
        Some((app, stream))
    }

    /// The file of a `file://` URI.
    pub fn file_path(&self) -> Option<PathBuf> {
        if self.scheme != Scheme::File {
            return None;
        }
        self.url.to_file_path().ok().filter(|p| p.is_absolute())
    }

    /// The local stream name when pullStream names none: EMS derives it from the URI. The
    /// last path segment (RTMP's stream key, RTSP's last segment, a file's stem), or for
    /// MPEG-TS, which has no names, `<scheme>_<host>_<port>`.
    pub fn derived_stream_name(&self) -> Result<String, String> {
        let last_segment = || {
            self.url
                .path_segments()
                .and_then(|mut s| s.rfind(|s| !s.is_empty()))
                .map(decode)
        };
        let name = match self.scheme {
            Scheme::File => self
                .file_path()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())),
            Scheme::Rtmp | Scheme::Rtsp => last_segment(),
            Scheme::MpegTsTcp | Scheme::MpegTsUdp => None,
        };
        let name = name.unwrap_or_else(|| {
            let host: String = self
                .host()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("{}_{host}_{}", self.scheme.as_str(), self.port())
        });
        check_stream_name(&name).map_err(|why| {
            format!("cannot derive a stream name from the uri ({why}); give localStreamName")
        })?;
        Ok(name)
    }

    /// EMS's parsed `uri` object. The password is never shown.
    pub fn to_json(&self) -> Value {
        let path = self.url.path();
        let (document_path, document) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("/", path),
        };
        let with_params = match self.url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        json!({
            "originalUri": self.original,
            "fullUri": self.url.as_str(),
            "scheme": self.scheme.as_str(),
            "host": self.host(),
            "ip": self.host().parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or_default(),
            "port": self.port(),
            "portSpecified": self.url.port().is_some(),
            "userName": self.url.username(),
            "documentPath": document_path,
            "document": decode(document),
            "fullDocumentPath": path,
            "fullDocumentPathWithParameters": with_params,
        })
    }
}

/// A local stream name must be usable as a folder name by outputs: the same rules as an
/// RTMP publisher's stream key, without the `?query` leniency.
pub fn check_stream_name(name: &str) -> Result<(), String> {
    match stream_name(name) {
        Ok(n) if n == name => Ok(()),
        Ok(_) => Err(format!("stream name {name:?} contains '?'")),
        Err(why) => Err(format!("invalid stream name {name:?}: {why}")),
    }
}

/// Percent-decoding of a path part; bytes that are not UTF-8 are replaced, not refused (the
/// name checks run on the result).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_without_password() {
        let u = PullUri::parse("rtsp://admin:s3cret@127.0.0.1:554/live").expect("parse");
        assert_eq!(u.shown(), "rtsp://admin@127.0.0.1:554/live");
        let plain = "rtsp://127.0.0.1:554/live";
        assert_eq!(PullUri::parse(plain).expect("parse").shown(), plain);
    }

    #[test]
    fn rtmp() {
        let u = PullUri::parse("rtmp://127.0.0.1:1936/live/cam1").expect("parse");
        assert_eq!(u.scheme, Scheme::Rtmp);
        assert_eq!(u.authority(), "127.0.0.1:1936");
        assert_eq!(
            u.rtmp_app_and_stream(),
            Some(("live".into(), "cam1".into()))
        );
        assert_eq!(u.derived_stream_name(), Ok("cam1".into()));
        let u = PullUri::parse("rtmp://example.com/app/inst/key?token=a").expect("parse");
        assert_eq!(u.port(), 1935);
        assert_eq!(
            u.rtmp_app_and_stream(),
            Some(("app".into(), "inst/key?token=a".into()))
        );
        assert_eq!(u.derived_stream_name(), Ok("key".into()));
        assert_eq!(u.to_json()["portSpecified"], false);
        assert_eq!(u.to_json()["document"], "key");
        for bad in [
            "rtmp://host/app",
            "rtmp://host/",
            "rtmp:///live/x",
            "rtmps://host/live/x",
            "rtmpt://host/live/x",
            "ftp://host/x",
            "not a uri",
            "",
        ] {
            assert!(PullUri::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = PullUri::parse("rtmps://h/a/b").expect_err("rtmps");
        assert!(e.contains("rtmps:// is not supported"), "{e}");
    }

    #[test]
    fn other_schemes() {
        let u = PullUri::parse("rtsp://10.0.0.2/cams/front").expect("rtsp");
        assert_eq!(u.authority(), "10.0.0.2:554");
        assert_eq!(u.derived_stream_name(), Ok("front".into()));
        let u = PullUri::parse("mpegtsudp://0.0.0.0:9999").expect("udp");
        assert_eq!(u.scheme, Scheme::MpegTsUdp);
        assert_eq!(u.derived_stream_name(), Ok("mpegtsudp_0_0_0_0_9999".into()));
        assert!(PullUri::parse("mpegtstcp://127.0.0.1").is_err(), "no port");
        let u = PullUri::parse("mpegtstcp://[::1]:9000").expect("v6");
        assert_eq!(u.authority(), "[::1]:9000");
    }

    #[test]
    fn files() {
        let u = PullUri::parse("file:///media/clips/intro%20a.mp4").expect("file");
        assert_eq!(
            u.file_path(),
            Some(PathBuf::from("/media/clips/intro a.mp4"))
        );
        assert_eq!(u.derived_stream_name(), Ok("intro a".into()));
        assert!(PullUri::parse("file://server/share/a.mp4").is_err());
        assert!(PullUri::parse("file:relative.mp4")
            .map(|u| u.file_path())
            .map_or(true, |p| p.is_some_and(|p| p.is_absolute())));
    }

    #[test]
    fn names() {
        assert!(check_stream_name("cam1").is_ok());
        assert!(check_stream_name("a/b").is_err());
        assert!(check_stream_name("a?b").is_err());
        assert!(check_stream_name("..").is_err());
    }
}
