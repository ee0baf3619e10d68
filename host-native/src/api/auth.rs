//! Who may use the control API: the token rule for every API listener, and the HTTP API's
//! cross-site rules (Host, Origin, Sec-Fetch-Site, Referer).
//!
//! "From loopback" means the connection's peer address is a loopback address (`127.0.0.0/8`,
//! `::1`, or `::ffff:127.x` on a dual-stack socket); the address the listener is bound to
//! does not matter. A reverse proxy on the same machine is therefore "loopback": it must do
//! its own authentication, or `require_token_on_loopback` must be set.
//!
//! Browsers are the reason for the HTTP rules: a page on any site can make the browser send
//! a GET to `http://127.0.0.1:7777/removeConfig?...` (CSRF), and a name that resolves to
//! 127.0.0.1 lets a page read the replies (DNS rebinding). Scripts and curl send neither
//! `Origin` nor `Sec-Fetch-Site`, and their `Host` is the address they connected to, so they
//! keep working.

use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use hyper::header::{HeaderMap, AUTHORIZATION, HOST, ORIGIN, REFERER};
use hyper::StatusCode;

use crate::config::Security;

/// Whether `ip` is this machine over loopback (IPv4-mapped forms included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a client at `peer` must present the token.
pub fn token_required(sec: &Security, peer: IpAddr) -> bool {
    sec.require_token_on_loopback || !is_loopback(peer)
}

/// Whether `given` is the configured token. No token configured: nothing matches, so a
/// client that must authenticate cannot (the API is closed to it, not open).
pub fn token_matches(sec: &Security, given: &str) -> bool {
    sec.api_token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), given.as_bytes()))
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right. (The length may show; tokens are long random
/// strings, so knowing it gains nothing.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

/// Logs a refused API request: a warning at most every 10 s (with how many were refused
/// meanwhile), the rest at debug, so a client hammering the API cannot flood the log.
pub fn log_refusal(peer: SocketAddr, what: &str, why: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARN_SECS: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    const EVERY_SECS: u64 = 10;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST_WARN_SECS.load(Ordering::Relaxed);
    if now >= last + EVERY_SECS
        && LAST_WARN_SECS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let more = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(%peer, refused_since_last_warning = more, "{what} refused: {why}");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "{what} refused: {why}");
    }
}

/// An HTTP request the API will not run: its status and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn forbidden(message: String) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message,
        }
    }
}

/// The HTTP API's checks, in order: cross-site rules (403), then the token (401).
/// `local` is the address the request arrived on: its literal is a valid `Host`.
pub fn check_http(
    sec: &Security,
    peer: SocketAddr,
    local: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    check_cross_site(sec, local, headers)?;
    if !token_required(sec, peer.ip()) {
        return Ok(());
    }
    match http_token(sec, headers) {
        Some(true) => Ok(()),
        Some(false) => Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: "Authentication failed: wrong API token".into(),
        }),
        None => Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: "Authentication required: send the API token as `Authorization: Bearer \
                      <token>` or as the Basic password"
                .into(),
        }),
    }
}

/// The Host and browser-origin rules alone (a CORS preflight carries no credentials).
pub fn check_cross_site(
    sec: &Security,
    local: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    check_host(sec, local, headers)?;
    check_browser(sec, headers)
}

/// `Some(true)` for a valid Bearer token or Basic password, `Some(false)` for credentials
/// that do not match, `None` when there are none.
fn http_token(sec: &Security, headers: &HeaderMap) -> Option<bool> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(token_matches(sec, rest));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Some(false);
        };
        let user_ok = sec
            .api_user
            .as_deref()
            .is_none_or(|u| constant_time_eq(u.as_bytes(), user.as_bytes()));
        // Both compared whatever the first gave, so the time does not tell which was wrong.
        let token_ok = token_matches(sec, password);
        return Some(user_ok & token_ok);
    }
    Some(false)
}

/// `Host` must name this server as a client reaching it directly would: a loopback name or
/// literal, the literal address the request arrived on, or a configured name. A missing
/// `Host` (an HTTP/1.0 script) passes: browsers always send one.
fn check_host(sec: &Security, local: SocketAddr, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(raw) = headers.get(HOST) else {
        return Ok(());
    };
    let refuse = |shown: &str| {
        Refusal::forbidden(format!(
            "Host {shown:?} is not allowed: use a loopback address or a name listed in \
             [security] allowed_hosts"
        ))
    };
    let Ok(text) = raw.to_str() else {
        return Err(refuse("(not text)"));
    };
    let name = host_name(text).to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name == "localhost" || name.ends_with(".localhost") {
        return Ok(());
    }
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if is_loopback(ip) || ip == local.ip() || Some(ip) == local_v4(local) {
            return Ok(());
        }
    }
    if sec
        .allowed_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name) || h.eq_ignore_ascii_case(text))
    {
        return Ok(());
    }
    Err(refuse(text))
}

/// The IPv4 form of a dual-stack socket's `::ffff:a.b.c.d` address.
fn local_v4(local: SocketAddr) -> Option<IpAddr> {
    match local.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    }
}

/// `name`, `name:port`, `[v6]` or `[v6]:port` -> the name or literal with brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        // A bare IPv6 literal has several colons and no port.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Requests a browser sends on behalf of a page from another origin are refused, unless
/// that origin is listed: `Origin` present and not listed, `Sec-Fetch-Site` cross-site or
/// same-site (sent even on `<img>` loads, which carry no `Origin`), or a `Referer` from
/// another origin (older browsers without `Sec-Fetch-*`).
fn check_browser(sec: &Security, headers: &HeaderMap) -> Result<(), Refusal> {
    let listed = |origin: &str| {
        sec.allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    // The request's own `Host` (already checked to name this server): a page it served,
    // such as the console at `/console`, is same-origin, wherever it is reached from.
    let own_host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let same_origin = |host: Option<&str>, port: Option<u16>| {
        let (Some(host), Some(own)) = (host, own_host) else {
            return false;
        };
        let given = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        given.eq_ignore_ascii_case(own.trim())
    };
    let origin = headers
        .get(ORIGIN)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    if let Some(origin) = origin {
        let own = url::Url::parse(origin).is_ok_and(|u| same_origin(u.host_str(), u.port()));
        if listed(origin) || own {
            return Ok(());
        }
        return Err(Refusal::forbidden(format!(
            "requests from web pages at {origin:?} are not allowed (cross-site control); \
             list the origin in [security] allowed_origins"
        )));
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Err(Refusal::forbidden(format!(
                "requests from other web sites are not allowed (Sec-Fetch-Site: {site})"
            )));
        }
    }
    if let Some(referer) = headers.get(REFERER).and_then(|v| v.to_str().ok()) {
        if let Ok(url) = url::Url::parse(referer) {
            let origin = url.origin().ascii_serialization();
            let own = url.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.trim_matches(|c| c == '[' || c == ']')
                        .parse::<IpAddr>()
                        .is_ok_and(is_loopback)
            });
            let own = own || same_origin(url.host_str(), url.port());
            if !own && !listed(&origin) {
                return Err(Refusal::forbidden(format!(
                    "requests from web pages at {origin:?} are not allowed (cross-site control)"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn with_token() -> Security {
        Security {
            api_token: Some("s3cret".into()),
            ..Security::default()
        }
    }

    const LOCAL: &str = "127.0.0.1:7777";

    #[test]
    fn loopback_peers_need_no_token_by_default() {
        let sec = Security::default();
        let curl = headers(&[("host", "127.0.0.1:7777"), ("user-agent", "curl/8")]);
        assert_eq!(
            check_http(&sec, addr("127.0.0.1:5000"), addr(LOCAL), &curl),
            Ok(())
        );
        assert_eq!(
            check_http(
                &sec,
                addr("[::1]:5000"),
                addr("[::1]:7777"),
                &headers(&[("host", "[::1]:7777")])
            ),
            Ok(())
        );
        assert!(is_loopback("::ffff:127.0.0.9".parse().expect("ip")));
        assert!(!is_loopback("10.1.2.3".parse().expect("ip")));
    }

    #[test]
    fn remote_peers_need_the_token_bearer_or_basic() {
        let sec = with_token();
        let peer = addr("10.1.2.3:5000");
        let local = addr("10.1.2.1:7777");
        let host = ("host", "10.1.2.1:7777");
        let refused = check_http(&sec, peer, local, &headers(&[host])).expect_err("no token");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        for good in [
            "Bearer s3cret",
            "bearer  s3cret",
            "Basic YWRtaW46czNjcmV0", /* admin:s3cret */
        ] {
            assert_eq!(
                check_http(
                    &sec,
                    peer,
                    local,
                    &headers(&[host, ("authorization", good)])
                ),
                Ok(()),
                "{good}"
            );
        }
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic YWRtaW46bm9wZQ==",
            "Basic !!",
            "Token s3cret",
            "s3cret",
        ] {
            let r = check_http(&sec, peer, local, &headers(&[host, ("authorization", bad)]))
                .expect_err(bad);
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        }
        // With a user configured, Basic must name it.
        let sec = Security {
            api_user: Some("ops".into()),
            ..with_token()
        };
        let ops = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ops:s3cret")
        );
        assert_eq!(
            check_http(
                &sec,
                peer,
                local,
                &headers(&[host, ("authorization", &ops)])
            ),
            Ok(())
        );
        assert!(check_http(
            &sec,
            peer,
            local,
            &headers(&[host, ("authorization", "Basic YWRtaW46czNjcmV0")])
        )
        .is_err());
        // No token configured: remote clients cannot get in at all.
        let open = Security::default();
        assert!(check_http(
            &open,
            peer,
            local,
            &headers(&[host, ("authorization", "Bearer ")])
        )
        .is_err());
        // Loopback too when asked.
        let strict = Security {
            require_token_on_loopback: true,
            ..with_token()
        };
        assert!(check_http(&strict, addr("127.0.0.1:1"), addr(LOCAL), &headers(&[])).is_err());
        assert_eq!(
            check_http(
                &strict,
                addr("127.0.0.1:1"),
                addr(LOCAL),
                &headers(&[("authorization", "Bearer s3cret")])
            ),
            Ok(())
        );
    }

    #[test]
    fn foreign_hosts_are_refused() {
        let sec = Security {
            allowed_hosts: vec!["media.example.com".into()],
            ..Security::default()
        };
        let peer = addr("127.0.0.1:5000");
        for ok in [
            "127.0.0.1:7777",
            "127.0.0.2",
            "localhost",
            "LOCALHOST:7777",
            "app.localhost:1",
            "[::1]:7777",
            "media.example.com",
            "media.example.com:7777",
        ] {
            assert_eq!(
                check_http(&sec, peer, addr(LOCAL), &headers(&[("host", ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "evil.example:7777",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "localhost.evil.example",
            "[::2]:7777",
        ] {
            let r = check_http(&sec, peer, addr(LOCAL), &headers(&[("host", bad)])).expect_err(bad);
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}");
            assert!(r.message.contains("allowed_hosts"), "{}", r.message);
        }
        // The address the request arrived on is a valid Host (remote scripts use the IP).
        assert_eq!(
            check_http(
                &sec,
                peer,
                addr("10.0.0.1:7777"),
                &headers(&[("host", "10.0.0.1:7777")])
            ),
            Ok(())
        );
    }

    #[test]
    fn browser_requests_from_other_origins_are_refused() {
        let sec = Security {
            allowed_origins: vec!["https://dash.example.com/".into()],
            ..Security::default()
        };
        let peer = addr("127.0.0.1:5000");
        let host = ("host", LOCAL);
        for bad in [
            vec![("origin", "http://evil.example")],
            vec![("origin", "null")],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![("referer", "http://evil.example/page.html")],
        ] {
            let mut all = vec![host];
            all.extend(bad.iter().cloned());
            let r = check_http(&sec, peer, addr(LOCAL), &headers(&all)).expect_err("refused");
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad:?}");
        }
        for ok in [
            vec![
                ("origin", "https://dash.example.com"),
                ("sec-fetch-site", "cross-site"),
            ],
            vec![("sec-fetch-site", "none")],
            vec![("sec-fetch-site", "same-origin")],
            vec![("referer", "http://127.0.0.1:7777/")],
            vec![],
        ] {
            let mut all = vec![host];
            all.extend(ok.iter().cloned());
            assert_eq!(
                check_http(&sec, peer, addr(LOCAL), &headers(&all)),
                Ok(()),
                "{ok:?}"
            );
        }
    }

    /// The console's own requests reach the API from a page it served: same origin, even
    /// when the server is reached by a name or a non-loopback address.
    #[test]
    fn pages_of_this_server_are_same_origin() {
        let sec = Security {
            api_token: Some("s3cret".into()),
            allowed_hosts: vec!["ems.example.com".into()],
            ..Security::default()
        };
        let peer = addr("10.1.2.3:5000");
        let local = addr("10.1.2.1:7777");
        let bearer = ("authorization", "Bearer s3cret");
        for (host, page) in [
            (
                "ems.example.com:7777",
                "http://ems.example.com:7777/console",
            ),
            ("10.1.2.1:7777", "http://10.1.2.1:7777/console"),
        ] {
            for h in [("referer", page), ("origin", &page[..page.len() - 8])] {
                let all = headers(&[("host", host), h, bearer]);
                assert_eq!(check_http(&sec, peer, local, &all), Ok(()), "{h:?}");
            }
            // Another port on the same name is another origin.
            let other = page.replace(":7777", ":8080");
            let all = headers(&[("host", host), ("referer", &other), bearer]);
            assert!(check_http(&sec, peer, local, &all).is_err(), "{other}");
        }
        // A foreign Host is refused before its own origin could count.
        let all = headers(&[
            ("host", "evil.example:7777"),
            ("origin", "http://evil.example:7777"),
            bearer,
        ]);
        assert_eq!(
            check_http(&sec, peer, local, &all).map_err(|r| r.status),
            Err(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
