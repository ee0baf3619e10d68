//! The API's access rules end to end, in-process: the real listeners on ephemeral ports,
//! spoken to over TCP as curl, a browser and the CLIs would.
//!
//! "Off loopback" is tested honestly where the machine has a non-loopback address: the
//! listener binds it and the client connects to it, so the server sees that address as the
//! peer (the kernel routes it over `lo`, but the peer is not a loopback address). Without
//! such an address those tests say so and stop; `require_token_on_loopback` (which applies
//! the same rule to loopback peers) is tested everywhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::test_support;
use crate::config::{Security, ServerConfig};

const TOKEN: &str = "tok-3f9a";

struct Api {
    addr: SocketAddr,
    state: Arc<crate::server::AppState>,
    _stop: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone, Copy)]
enum Kind {
    Http,
    Json,
    Ascii,
}

async fn start(kind: Kind, ip: IpAddr, security: Security) -> Api {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let state = Arc::new(test_support::state_with(ServerConfig {
        security,
        ..ServerConfig::default()
    }));
    let s = state.clone();
    match kind {
        Kind::Http => tokio::spawn(super::http::serve(s, listener, rx)),
        Kind::Json => tokio::spawn(super::json_cli::serve(s, listener, rx)),
        Kind::Ascii => tokio::spawn(super::ascii_cli::serve(s, listener, rx)),
    };
    Api {
        addr,
        state,
        _stop: tx,
    }
}

fn with_token() -> Security {
    Security {
        api_token: Some(TOKEN.into()),
        ..Security::default()
    }
}

/// A non-loopback address of this machine: the source address the kernel would pick for
/// an outside destination (no packet is sent by a UDP connect).
fn non_loopback_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.77:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Sends a raw request and returns (status code, whole response).
async fn http(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("reply in time")
        .expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_curl_works() {
    let api = start(
        Kind::Http,
        "127.0.0.1".parse().expect("ip"),
        Security::default(),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("smoothcast-xsite-{}", std::process::id()));
    let create = format!(
        "/createMSSStream?params={}",
        b64(&format!(
            "localStreamNames=cam targetFolder={} groupName=g",
            dir.display()
        ))
    );
    for (what, headers) in [
        ("foreign Origin", vec![("Origin", "http://evil.example")]),
        (
            "foreign Host (DNS rebinding)",
            vec![("Host", "evil.example:7777")],
        ),
        (
            "Sec-Fetch-Site cross-site (<img> load)",
            vec![("Sec-Fetch-Site", "cross-site")],
        ),
        (
            "foreign Referer",
            vec![("Referer", "http://evil.example/x.html")],
        ),
    ] {
        for target in [create.as_str(), "/metrics", "/version"] {
            let (status, out) = http(api.addr, target, &headers).await;
            assert_eq!(status, 403, "{what} {target}: {out}");
            assert!(out.contains("\"FAIL\""), "{out}");
            assert!(out.contains("not allowed"), "a clear message: {out}");
        }
    }
    assert!(
        api.state.outputs.list_mss().is_empty(),
        "no refused request created anything"
    );

    // curl: Host is the address it connected to, no Origin; EMS-style base64 params work.
    let (status, out) = http(api.addr, "/version", &[("User-Agent", "curl/8.5.0")]).await;
    assert_eq!(status, 200, "{out}");
    assert!(out.contains("\"SUCCESS\""), "{out}");
    let (status, out) = http(api.addr, &create, &[("Host", "localhost:7777")]).await;
    assert_eq!(status, 200, "{out}");
    assert!(out.contains("\"SUCCESS\""), "{out}");
    let (status, out) = http(api.addr, "/metrics", &[]).await;
    assert_eq!(status, 200, "{out}");
    // A page the operator listed may call it, and read the reply.
    let listed = start(
        Kind::Http,
        "127.0.0.1".parse().expect("ip"),
        Security {
            allowed_origins: vec!["https://ops.example.com".into()],
            ..Security::default()
        },
    )
    .await;
    let (status, out) = http(
        listed.addr,
        "/version",
        &[
            ("Origin", "https://ops.example.com"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://ops.example.com"),
        "{out}"
    );
    // Its preflight (to send the token) is answered; another page's is refused.
    let preflight = |origin: &'static str| {
        let addr = listed.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let req = format!(
                "OPTIONS /version HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nAccess-Control-Request-Headers: authorization\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out)).await;
            out
        }
    };
    let ok = preflight("https://ops.example.com").await;
    assert!(ok.starts_with("HTTP/1.1 204"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("access-control-allow-headers: authorization"),
        "{ok}"
    );
    let refused = preflight("http://evil.example").await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The token rule applied to a peer: `strict` is `require_token_on_loopback` on loopback.
async fn http_token_rule(ip: IpAddr, security: Security) {
    let api = start(Kind::Http, ip, security).await;
    for target in ["/version", "/metrics"] {
        let (status, out) = http(api.addr, target, &[]).await;
        assert_eq!(status, 401, "{target} without a token: {out}");
        let lower = out.to_ascii_lowercase();
        assert!(
            lower.contains("www-authenticate: basic realm=\"smoothcast\""),
            "{out}"
        );
        assert!(lower.contains("www-authenticate: bearer"), "{out}");
        assert!(out.contains("Authentication required"), "{out}");
        let (status, _) = http(api.addr, target, &[("Authorization", "Bearer wrong")]).await;
        assert_eq!(status, 401, "{target} with a wrong token");
        let bearer = format!("Bearer {TOKEN}");
        let (status, out) = http(api.addr, target, &[("Authorization", &bearer)]).await;
        assert_eq!(status, 200, "{target} with the token: {out}");
        // EMS's apiProxy sends basic auth: any user, the token as the password.
        let basic = format!("Basic {}", b64(&format!("admin:{TOKEN}")));
        let (status, out) = http(api.addr, target, &[("Authorization", &basic)]).await;
        assert_eq!(status, 200, "{target} with basic auth: {out}");
    }
}

#[tokio::test]
async fn http_api_needs_the_token_off_loopback() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: off-loopback peer not tested");
        return;
    };
    http_token_rule(ip, with_token()).await;
    // No token configured: a remote client cannot get in at all.
    let open = start(Kind::Http, ip, Security::default()).await;
    let (status, out) = http(open.addr, "/version", &[]).await;
    assert_eq!(status, 401, "{out}");
    // ...while loopback stays open by default.
    let local = start(Kind::Http, "127.0.0.1".parse().expect("ip"), with_token()).await;
    assert_eq!(http(local.addr, "/version", &[]).await.0, 200);
}

#[tokio::test]
async fn http_api_needs_the_token_on_loopback_when_configured() {
    http_token_rule(
        "127.0.0.1".parse().expect("ip"),
        Security {
            require_token_on_loopback: true,
            ..with_token()
        },
    )
    .await;
}

/// Sends `input` on one CLI connection, half-closes, and returns everything it answered.
async fn cli(addr: SocketAddr, input: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(input.as_bytes()).await.expect("write");
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

async fn cli_token_rule(kind: Kind, ip: IpAddr, security: Security) {
    let api = start(kind, ip, security).await;
    // Without `auth`: refused, and the commands after it never run.
    let out = cli(api.addr, "version\r\nlistConfig\r\n").await;
    assert!(out.contains("Authentication required"), "{out}");
    assert!(!out.contains("releaseNumber"), "{out}");
    let out = cli(api.addr, "auth nope\r\nversion\r\n").await;
    assert!(out.contains("Authentication failed"), "{out}");
    assert!(!out.contains("releaseNumber"), "{out}");
    let out = cli(api.addr, &format!("auth {TOKEN}\r\nversion\r\n")).await;
    assert!(out.contains("Authenticated"), "{out}");
    assert!(out.contains("releaseNumber"), "{out}");
}

#[tokio::test]
async fn cli_auth_line_on_loopback_when_configured() {
    let strict = Security {
        require_token_on_loopback: true,
        ..with_token()
    };
    for kind in [Kind::Json, Kind::Ascii] {
        cli_token_rule(kind, "127.0.0.1".parse().expect("ip"), strict.clone()).await;
    }
    // Default: loopback needs nothing, and a correct `auth` line is harmless.
    let api = start(Kind::Json, "127.0.0.1".parse().expect("ip"), with_token()).await;
    let out = cli(api.addr, "version\r\n").await;
    assert!(out.contains("\"SUCCESS\""), "{out}");
    let out = cli(api.addr, &format!("auth {TOKEN}\r\nversion\r\n")).await;
    assert_eq!(out.matches("\"SUCCESS\"").count(), 2, "{out}");
}

/// A client that must authenticate and stays silent is closed after the (test-length)
/// deadline instead of holding a connection slot.
#[tokio::test]
async fn silent_unauthenticated_cli_clients_are_closed() {
    let strict = Security {
        require_token_on_loopback: true,
        ..with_token()
    };
    let api = start(Kind::Json, "127.0.0.1".parse().expect("ip"), strict).await;
    let mut s = TcpStream::connect(api.addr).await.expect("connect");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed by the server")
        .expect("read");
    assert!(String::from_utf8_lossy(&out).contains("Authentication timed out"));
    // An authenticated connection may idle past it.
    let mut s = TcpStream::connect(api.addr).await.expect("connect");
    s.write_all(format!("auth {TOKEN}\r\n").as_bytes())
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.write_all(b"version\r\n").await.expect("write");
    let _ = s.shutdown().await;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("closed")
        .expect("read");
    assert!(out.contains("releaseNumber"), "{out}");
}

#[tokio::test]
async fn cli_auth_line_off_loopback() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: off-loopback peer not tested");
        return;
    };
    for kind in [Kind::Json, Kind::Ascii] {
        cli_token_rule(kind, ip, with_token()).await;
    }
}

/// Media on a public address leaves the API on loopback; `api_bind` and the per-listener
/// binds move exactly what they name.
#[tokio::test]
async fn listeners_bind_where_configured() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: binds not tested");
        return;
    };
    let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
    let mut config = ServerConfig {
        bind: ip,
        rtmp_port: 0,
        mpegts_port: 0,
        json_cli_port: 0,
        ascii_cli_port: 0,
        http_api_port: 0,
        web_port: 0,
        ..ServerConfig::default()
    };
    config.security.web_bind = Some(loopback);
    let l = crate::server::Listeners::bind(&config).await.expect("bind");
    let at = |l: &TcpListener| l.local_addr().expect("addr").ip();
    assert_eq!(at(&l.rtmp), ip);
    assert_eq!(at(&l.mpegts_tcp), ip);
    assert_eq!(l.mpegts_udp.local_addr().expect("addr").ip(), ip);
    assert_eq!(at(&l.web), loopback, "web_bind");
    for api in [&l.json_cli, &l.ascii_cli, &l.http_api] {
        assert_eq!(at(api), loopback, "the API stays on loopback");
    }
    drop(l);
    config.security.api_bind = Some(ip);
    config.security.json_cli_bind = Some(loopback);
    let l = crate::server::Listeners::bind(&config).await.expect("bind");
    assert_eq!(at(&l.http_api), ip);
    assert_eq!(at(&l.ascii_cli), ip);
    assert_eq!(at(&l.json_cli), loopback);
}
