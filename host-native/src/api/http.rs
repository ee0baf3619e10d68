//! The HTTP API (EMS `inboundHttpJsonCli`, port 7777): `GET /<command>?params=<base64>`,
//! where the base64 text is the command's `key=value key=value` parameters. As in EMS, the
//! first query parameter is decoded whatever its name, and the reply is the JSON envelope as
//! `text/plain` on a connection that then closes. Errors are FAIL envelopes with status 200,
//! as EMS sends them, so scripts read every outcome the same way. Requests that fail the
//! access rules (`auth.rs`: Host, browser origin, token) are the exception: 403 or 401 with
//! `WWW-Authenticate`, and a FAIL envelope saying why; nothing runs. With `[tls]
//! https_api_port`, the same API is served over TLS on that port too ([`serve_tls`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CONNECTION, CONTENT_TYPE, ORIGIN, VARY,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::connection::{self, MAX_LINE};
use super::line::Line;
use super::reply::Reply;
use crate::server::{AppState, Shutdown};
use crate::tls::{Protocol, Tls};

/// A client that has not sent its request head by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(state: Arc<AppState>, listener: TcpListener, shutdown: Shutdown) -> Result<()> {
    crate::accept::accept_loop(
        connection::policy("HTTP API", 0),
        listener,
        shutdown,
        |_| true,
        move |stream, _, shutdown| serve_tcp(state.clone(), stream, shutdown),
    )
    .await
}

/// The same API over TLS on a port of its own (`[tls] https_api_port`).
pub async fn serve_tls(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Arc<Tls>,
    shutdown: Shutdown,
) -> Result<()> {
    crate::accept::accept_loop(
        connection::policy("HTTPS API", 0),
        listener,
        shutdown,
        |_| true,
        move |stream, _, shutdown| {
            let (state, tls) = (state.clone(), tls.clone());
            async move {
                // Who is asking and where they reached us decide the token and Host rules.
                let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
                    return;
                };
                // The handshake runs in the connection's task, bounded by its timeout.
                match tls.accept(stream, Protocol::Http, &shutdown).await {
                    Ok(s) => serve_connection(state, s, peer, local, shutdown).await,
                    Err(e) => tracing::debug!("HTTPS API: TLS handshake failed: {e}"),
                }
            }
        },
    )
    .await
}

/// One plain HTTP connection.
async fn serve_tcp(state: Arc<AppState>, stream: TcpStream, shutdown: Shutdown) {
    // Who is asking and where they reached us decide the token and Host rules.
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    serve_connection(state, stream, peer, local, shutdown).await
}

/// One HTTP connection, over TCP or TLS.
async fn serve_connection<S>(
    state: Arc<AppState>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    mut shutdown: Shutdown,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(&state, &req, peer, local)) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_LINE + 8192)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!("HTTP API connection: {e}");
            }
        }
        _ = shutdown.changed() => {
            // Let a request in progress finish, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

fn respond(
    state: &AppState,
    req: &Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<Full<Bytes>> {
    // A listed page's browser asks first whether it may send the token (CORS preflight):
    // nothing runs, so the cross-site rules alone decide.
    if req.method() == Method::OPTIONS && req.headers().contains_key(ORIGIN) {
        let sec = &state.config.security;
        return match super::auth::check_cross_site(sec, local, req.headers()) {
            Ok(()) => {
                let mut r = text(String::new(), StatusCode::NO_CONTENT);
                let h = r.headers_mut();
                if let Some(origin) = req.headers().get(ORIGIN) {
                    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                }
                h.insert(VARY, HeaderValue::from_static("Origin"));
                h.insert(
                    hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, HEAD"),
                );
                h.insert(
                    hyper::header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("Authorization"),
                );
                r
            }
            Err(refusal) => {
                super::auth::log_refusal(peer, "HTTP API preflight", &refusal.message);
                text(Reply::fail(refusal.message).to_json(), refusal.status)
            }
        };
    }
    // Every path, `/metrics` included, passes the same gate before anything runs.
    if let Err(refusal) =
        super::auth::check_http(&state.config.security, peer, local, req.headers())
    {
        super::auth::log_refusal(peer, "HTTP API request", &refusal.message);
        let mut r = text(Reply::fail(refusal.message).to_json(), refusal.status);
        if refusal.status == StatusCode::UNAUTHORIZED {
            let h = r.headers_mut();
            h.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smoothcast\", charset=\"UTF-8\""),
            );
            h.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"smoothcast\""),
            );
        }
        return r;
    }
    let mut r = respond_allowed(state, req);
    // A listed origin may read the reply from its page.
    if let Some(origin) = req.headers().get(ORIGIN) {
        r.headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        r.headers_mut()
            .insert(VARY, HeaderValue::from_static("Origin"));
    }
    r
}

fn respond_allowed(state: &AppState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if (req.method() == Method::GET || req.method() == Method::HEAD)
        && req.uri().path() == "/metrics"
    {
        let mut r = text(crate::metrics::get().render(state), StatusCode::OK);
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        );
        return r;
    }
    // The operator's console (`console.rs`): behind the same checks as every command.
    if (req.method() == Method::GET || req.method() == Method::HEAD)
        && super::console::is_console(req.uri().path())
    {
        return super::console::respond(state, req.uri().path());
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            Reply::fail("Only GET is supported").to_json(),
            StatusCode::METHOD_NOT_ALLOWED,
        );
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let reply = match request_line(req.uri().path(), req.uri().query()) {
        Ok(line) => super::execute_line(state, line),
        Err(reply) => reply,
    };
    text(reply.to_json(), StatusCode::OK)
}

/// The command from the path and its parameters from the first query value.
pub fn request_line(
    path: &str,
    query: Option<&str>,
) -> Result<Result<Line, super::line::LineError>, Reply> {
    // EWS's apiProxy in EMS 1.7 needed `%3f` for `?`; accept requests passed on that way.
    let (path, query) = match query {
        Some(q) => (path, Some(q)),
        None => match find_ignore_case(path, "%3f") {
            Some(i) => (&path[..i], Some(&path[i + 3..])),
            None => (path, None),
        },
    };
    // The last path segment, so a proxy prefix such as `/ems/` does not matter.
    let command = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let encoded = query
        .and_then(|q| q.split('&').next())
        .map(|first| match first.split_once('=') {
            Some((_, v)) => v,
            None => first,
        })
        .unwrap_or("");
    let params = decode_params(encoded)?;
    Ok(Line::with_params(command, &params))
}

fn decode_params(encoded: &str) -> Result<String, Reply> {
    let bad = || Reply::fail("Invalid parameters: not base64 of key=value text");
    let raw = percent_decode(encoded).ok_or_else(bad)?;
    if raw.is_empty() {
        return Ok(String::new());
    }
    // Scripts differ in padding and alphabet; accept every common form.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let bytes = standard
        .decode(&raw)
        .or_else(|_| url_safe.decode(&raw))
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// `%XX` decoding. `+` stays `+`: it is a base64 character, not a space, here.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

fn text(body: String, status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    // Replies echo request text (a refused Host or Origin): never to be read as HTML.
    h.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(path: &str, query: Option<&str>) -> Result<Line, String> {
        match request_line(path, query) {
            Ok(Ok(l)) => Ok(l),
            Ok(Err(e)) => Err(e.error.0),
            Err(r) => Err(r.description),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn command_and_base64_params() {
        let q = format!("params={}", b64("localStreamNames=a,b targetFolder=/w"));
        let l = line("/createMSSStream", Some(&q)).expect("ok");
        assert_eq!(l.command, "createMSSStream");
        assert_eq!(
            l.list("localstreamnames"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(l.string("targetFolder"), Ok(Some("/w".into())));
    }

    #[test]
    fn first_parameter_whatever_its_name() {
        let q = format!("x={}&params=zzz", b64("a=1"));
        assert_eq!(
            line("/v", Some(&q)).expect("ok").string("a"),
            Ok(Some("1".into()))
        );
        let q = b64("a=2");
        assert_eq!(
            line("/v", Some(&q)).expect("ok").string("a"),
            Ok(Some("2".into()))
        );
    }

    #[test]
    fn padding_alphabet_and_percent_encoding() {
        // "a=1?>" encodes with `+`/`/` in standard base64 and `-`/`_` in the URL-safe one.
        let text = "a=1?>?";
        let std = b64(text);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let pct = std
            .replace('=', "%3D")
            .replace('/', "%2F")
            .replace('+', "%2B");
        for q in [std, url, pct] {
            let l = line("/v", Some(&format!("params={q}"))).expect(&q);
            assert_eq!(l.string("a"), Ok(Some("1?>?".into())), "{q}");
        }
    }

    #[test]
    fn no_params_and_proxy_forms() {
        assert_eq!(line("/version", None).expect("ok").command, "version");
        assert_eq!(line("/version", Some("")).expect("ok").command, "version");
        assert_eq!(line("/ems/version/", None).expect("ok").command, "version");
        let l = line(&format!("/listStreams%3Fparams={}", b64("a=1")), None).expect("ok");
        assert_eq!(l.command, "listStreams");
        assert_eq!(l.string("a"), Ok(Some("1".into())));
    }

    #[test]
    fn bad_base64() {
        for q in ["params=!!!", "params=%ZZ", "params=%", "params=/w=="] {
            let e = line("/version", Some(q)).expect_err(q);
            assert!(e.starts_with("Invalid parameters"), "{q}: {e}");
        }
        // Valid base64 of bytes that are not UTF-8.
        let q = format!(
            "params={}",
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe])
        );
        assert!(line("/version", Some(&q)).is_err());
    }
}
