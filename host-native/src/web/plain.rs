//! The web port's plain-TCP connections: HTTP/1.1 read with `httparse` and answered here,
//! the way a player uses the port (`GET`/`HEAD` without a body, keep-alive, one request at a
//! time or pipelined). A target answered recently from the cache is sent from its ready
//! response ([`super::hot`]); any other request goes through the same handler as hyper's.
//! A request this path does not speak (a body, `Expect`, `Upgrade`, another method, an
//! absolute target, a head it cannot parse) hands the connection, with the bytes already
//! read, to hyper for the rest of its life, so every answer hyper gave before is given still.
//!
//! Why not hyper for everything: measured with wrk on a 2 KB manifest, hyper's dispatch and
//! our request and header maps were ~40% of the CPU per request, and the server then
//! trailed nginx (0.67x). TLS connections stay on hyper: encryption costs far more than any
//! of this.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode, Uri};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::body::Body;
use super::{hot, wire, Connections, MAX_HEADER_BYTES};
use crate::server::Shutdown;

/// Headers a request may carry on this path; more goes to hyper (which allows 100).
const MAX_HEADERS: usize = 48;
/// File bodies too large for the cache go out in chunks of this size.
const FILE_CHUNK: usize = 256 * 1024;

/// What the path needs to know about one request head.
struct Head {
    /// Bytes of the head, through its blank line.
    len: usize,
    method: Method,
    /// The request target's place in the buffer.
    target: std::ops::Range<usize>,
    /// The client asked to close (or speaks HTTP/1.0): answer, then close.
    close: bool,
    /// No `Range` and no conditional header: the response depends on nothing but the
    /// target (and `Accept-Encoding`).
    plain: bool,
    gzip: bool,
}

enum Parsed {
    Head(Head),
    Partial,
    /// Not for this path: hyper answers it.
    Hyper,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Hyper,
    };
    let method = match req.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        Some("OPTIONS") => Method::OPTIONS,
        _ => return Parsed::Hyper,
    };
    let (Some(path), Some(version)) = (req.path, req.version) else {
        return Parsed::Hyper;
    };
    if !path.starts_with('/') {
        return Parsed::Hyper;
    }
    // The target is a slice of `buf`: its offset locates it.
    let start = path.as_ptr() as usize - buf.as_ptr() as usize;
    let mut head = Head {
        len,
        method,
        target: start..start + path.len(),
        close: version == 0,
        plain: true,
        gzip: false,
    };
    for h in req.headers.iter() {
        let name = h.name;
        let value = std::str::from_utf8(h.value).unwrap_or("");
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return Parsed::Hyper;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.trim() != "0" {
                return Parsed::Hyper;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Parsed::Hyper;
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            head.gzip |= super::takes_gzip(value);
        } else if name.eq_ignore_ascii_case("range")
            || name.len() > 3 && name.as_bytes()[..3].eq_ignore_ascii_case(b"if-")
        {
            head.plain = false;
        }
    }
    Parsed::Head(head)
}

/// What this path makes of a request head: `Some((head length, plain, gzip))` for a
/// request it answers, `None` for one it leaves to hyper or that is incomplete. For the fuzz
/// target: it runs both parses the path does.
pub fn classify(buf: &[u8]) -> Option<(usize, bool, bool)> {
    let Parsed::Head(head) = parse(buf) else {
        return None;
    };
    request_parts(&buf[..head.len], &head)?;
    Some((head.len, head.plain, head.gzip))
}

/// The request as the general handler takes it (`None`: not valid HTTP, for hyper).
fn request_parts(buf: &[u8], head: &Head) -> Option<(Uri, HeaderMap)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(buf).ok()?;
    let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(&buf[head.target.clone()])).ok()?;
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        map.append(
            HeaderName::from_bytes(h.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(h.value).ok()?,
        );
    }
    Some((uri, map))
}

/// Serves `stream` until the client closes it, a limit ends it, shutdown, or the first
/// request this path leaves to hyper (which then serves the rest).
pub(super) async fn serve(
    conns: Connections,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: Shutdown,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut shutdown = shutdown;
    let mut head_out = Vec::with_capacity(512);
    loop {
        let deadline = conns
            .header_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let head = loop {
            if !buf.is_empty() {
                match parse(&buf) {
                    Parsed::Head(h) => break h,
                    Parsed::Partial if buf.len() < MAX_HEADER_BYTES => {}
                    Parsed::Partial | Parsed::Hyper => {
                        return to_hyper(conns, buf, stream, peer, shutdown).await;
                    }
                }
            }
            if *shutdown.borrow() || !fill(&stream, &mut buf, deadline, &mut shutdown).await {
                return;
            }
        };
        let started = Instant::now();
        let close = head.close;
        let sent = if head.plain && !close && head.method != Method::OPTIONS {
            match hot(&conns, &stream, &buf, &head, started).await {
                Some(r) => r,
                None => general(&conns, &stream, &buf, &head, &mut head_out, started).await,
            }
        } else {
            general(&conns, &stream, &buf, &head, &mut head_out, started).await
        };
        match sent {
            Ok(true) => {}
            Ok(false) => return to_hyper(conns, buf, stream, peer, shutdown).await,
            Err(e) => {
                tracing::debug!("web: connection from {peer}: {e}");
                return;
            }
        }
        if close {
            return;
        }
        buf.advance(head.len);
    }
}

/// The ready response for the target, if there is a current one (`None`: go the general
/// way). `Some(Ok(true))` once sent.
async fn hot(
    conns: &Connections,
    stream: &TcpStream,
    buf: &[u8],
    head: &Head,
    started: Instant,
) -> Option<io::Result<bool>> {
    let web = &conns.web;
    if !web.hot_enabled {
        return None;
    }
    let target = std::str::from_utf8(&buf[head.target.clone()]).ok()?;
    let entry = web.hot.get(target)?;
    let rendered = entry.rendered(head.gzip)?;
    if !entry.current(started) {
        web.hot.forget(target, &entry);
        return None;
    }
    let date = wire::DateLine::now();
    let m = crate::metrics::get();
    m.web_ready();
    m.web_request(200, started.elapsed());
    let r = match (&rendered.file, head.method == Method::HEAD) {
        (_, true) => {
            let mut parts = [IoSlice::new(&rendered.head), IoSlice::new(date.as_bytes())];
            write_all(stream, &mut parts, conns.send_timeout).await
        }
        (Some(file), false) => {
            send_file(
                stream,
                &rendered.head,
                date.as_bytes(),
                file,
                rendered.body.len(),
                conns.send_timeout,
            )
            .await
        }
        (None, false) => {
            let mut parts = [
                IoSlice::new(&rendered.head),
                IoSlice::new(date.as_bytes()),
                IoSlice::new(&rendered.body),
            ];
            write_all(stream, &mut parts, conns.send_timeout).await
        }
    };
    if head.method != Method::HEAD {
        m.web_bytes(rendered.body.len());
    }
    Some(r.map(|()| true))
}

/// The head, then `len` bytes of `file` from its start with `sendfile`. The head is sent
/// with `MSG_MORE`, so the kernel packs it with the body's first bytes as nginx's
/// `tcp_nopush` does.
async fn send_file(
    stream: &TcpStream,
    head: &[u8],
    date: &[u8],
    file: &hot::OpenFile,
    len: usize,
    limit: Option<Duration>,
) -> io::Result<()> {
    let mut first = Vec::with_capacity(head.len() + date.len());
    first.extend_from_slice(head);
    first.extend_from_slice(date);
    let mut at = 0;
    while at < first.len() {
        match stream.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::net::send(
                stream,
                &first[at..],
                rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
            )
            .map_err(io::Error::from)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(stream, limit).await?,
            Err(e) => return Err(e),
        }
    }
    let mut offset = 0u64;
    while (offset as usize) < len {
        let left = len - offset as usize;
        match stream.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &file.file, Some(&mut offset), left)
                .map_err(io::Error::from)
        }) {
            Ok(0) => {
                // The file is shorter than when it was opened: end the connection rather
                // than let the client wait for bytes that never come.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being sent",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(stream, limit).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until the socket takes bytes again, at most `limit` (the send timeout).
async fn writable(stream: &TcpStream, limit: Option<Duration>) -> io::Result<()> {
    match limit {
        Some(l) => tokio::time::timeout(l, stream.writable())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "send timeout: the client read nothing",
                )
            })?,
        None => stream.writable().await,
    }
}

/// Any request, through the general handler. `Ok(false)`: it is for hyper after all.
async fn general(
    conns: &Connections,
    stream: &TcpStream,
    buf: &[u8],
    head: &Head,
    out: &mut Vec<u8>,
    started: Instant,
) -> io::Result<bool> {
    let web = &conns.web;
    let Some((uri, headers)) = request_parts(&buf[..head.len], head) else {
        return Ok(false);
    };
    let response = super::handle(web, &head.method, &uri, &headers).await;
    let (parts, body) = response.into_parts();
    crate::metrics::get().web_request(parts.status.as_u16(), started.elapsed());
    // As hyper does: no body after a HEAD, 1xx, 204 or 304 head, whatever the handler made
    // (an error page, say); a body there would be read as the next response.
    let status = parts.status;
    let bodiless = head.method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let length = match &body {
        Body::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
        Body::File { remaining, .. } => *remaining,
    };
    out.clear();
    // A HEAD response's length is the handler's (that of the GET), never the empty body's.
    let length = (head.method != Method::HEAD).then_some(length);
    wire::head(out, status, &parts.headers, length, head.close);
    let body = if bodiless { Body::empty() } else { body };
    match body {
        Body::Bytes(b) => {
            let b = b.unwrap_or_default();
            let keep = web.hot_enabled
                && head.plain
                && !head.close
                && head.method == Method::GET
                && parts.status == StatusCode::OK;
            if let (true, Some(source)) = (keep, parts.extensions.get::<hot::Source>()) {
                let vary = parts.headers.contains_key(hyper::header::VARY);
                if let Ok(target) = std::str::from_utf8(&buf[head.target.clone()]) {
                    let rendered = hot::Rendered {
                        head: Bytes::copy_from_slice(out),
                        body: b.clone(),
                        file: None,
                    };
                    web.hot
                        .insert(target, source.clone(), vary, head.gzip, rendered);
                }
            }
            let date = wire::DateLine::now();
            let mut parts = [
                IoSlice::new(out),
                IoSlice::new(date.as_bytes()),
                IoSlice::new(&b),
            ];
            write_all(stream, &mut parts, conns.send_timeout).await?;
            crate::metrics::get().web_bytes(b.len());
        }
        Body::File {
            mut file,
            mut remaining,
        } => {
            let date = wire::DateLine::now();
            let mut parts = [IoSlice::new(out), IoSlice::new(date.as_bytes())];
            write_all(stream, &mut parts, conns.send_timeout).await?;
            let mut chunk =
                vec![0u8; FILE_CHUNK.min(usize::try_from(remaining).unwrap_or(FILE_CHUNK))];
            while remaining > 0 {
                let want = chunk
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(chunk.len()));
                let n = file.read(&mut chunk[..want]).await?;
                if n == 0 {
                    // Shrunk since Content-Length went out: end the connection rather than
                    // let the client wait for bytes that never come.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    ));
                }
                write_all(stream, &mut [IoSlice::new(&chunk[..n])], conns.send_timeout).await?;
                crate::metrics::get().web_bytes(n);
                remaining -= n as u64;
            }
        }
    }
    Ok(true)
}

/// Reads more of the next request. `false`: the client closed, the header timeout passed
/// (also the keep-alive idle limit, as hyper's), or the server is shutting down.
async fn fill(
    stream: &TcpStream,
    buf: &mut BytesMut,
    deadline: Option<tokio::time::Instant>,
    shutdown: &mut Shutdown,
) -> bool {
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match stream.try_read_buf(buf) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
        let ready = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, stream.readable())
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                None => stream.readable().await,
            }
        };
        tokio::select! {
            r = ready => if r.is_err() { return false },
            _ = shutdown.changed() => return false,
        }
    }
}

/// Writes every slice, waiting at most `limit` each time the client takes nothing (the
/// send timeout: a client that stops reading frees its connection).
async fn write_all(
    stream: &TcpStream,
    mut parts: &mut [IoSlice<'_>],
    limit: Option<Duration>,
) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match stream.try_write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(stream, limit).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn to_hyper(
    conns: Connections,
    buf: BytesMut,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: Shutdown,
) {
    let stream = wire::Rewind::new(buf.freeze(), stream);
    conns.serve_connection(stream, peer, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Option<Head> {
        match parse(raw.as_bytes()) {
            Parsed::Head(h) => Some(h),
            _ => None,
        }
    }

    #[test]
    fn what_this_path_takes() {
        let h = head("GET /a/Manifest HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            .expect("plain GET");
        assert!(h.plain && h.gzip && !h.close);
        let raw = "GET /a/Manifest HTTP/1.1\r\n\r\n";
        assert_eq!(
            h.len,
            raw.len() + "Host: x\r\nAccept-Encoding: gzip\r\n".len()
        );
        let h = head("HEAD /x HTTP/1.0\r\nRange: bytes=0-1\r\n\r\n").expect("HEAD");
        assert!(h.close && !h.plain);
        assert!(
            !head("GET /x HTTP/1.1\r\nIf-None-Match: \"a\"\r\n\r\n")
                .expect("conditional")
                .plain
        );
        assert!(
            head("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
                .expect("close")
                .close
        );
        for hyper in [
            "POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\na",
            "GET /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET http://h/x HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(matches!(parse(hyper.as_bytes()), Parsed::Hyper), "{hyper}");
        }
        assert!(matches!(parse(b"GET /x HTTP/1.1\r\nHost"), Parsed::Partial));
    }
}
