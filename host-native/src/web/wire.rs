//! HTTP/1.1 on the wire for the plain-TCP connection ([`super::plain`]): response heads as
//! bytes, the `Date` line, and the stream that hands already-read bytes to hyper when a
//! connection leaves the plain path.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use hyper::header::{self, HeaderMap};
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The status line and headers of a response, without `Date` and the blank line that ends
/// the head (see [`DateLine`]). `length` is added as `Content-Length` when the headers have
/// none and the status has a body; `close` adds `Connection: close`.
pub fn head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if let (Some(n), false, false) = (
        length,
        bodiless,
        headers.contains_key(header::CONTENT_LENGTH),
    ) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
}

/// `date: <IMF-fixdate>\r\n\r\n`: the line every response ends its head with, made once
/// per second per thread (as hyper does). Returned by value, so no borrow of the
/// thread-local spans the write that follows.
#[derive(Clone, Copy)]
pub struct DateLine {
    bytes: [u8; 48],
    len: usize,
}

impl DateLine {
    pub fn now() -> Self {
        thread_local! {
            static LINE: Cell<(u64, DateLine)> =
                const { Cell::new((u64::MAX, DateLine { bytes: [0; 48], len: 0 })) };
        }
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        LINE.with(|line| {
            let (at, cached) = line.get();
            if at == secs {
                return cached;
            }
            let text = format!("date: {}\r\n\r\n", super::headers::http_date(now));
            let mut fresh = DateLine {
                bytes: [0; 48],
                len: text.len().min(48),
            };
            fresh.bytes[..fresh.len].copy_from_slice(&text.as_bytes()[..fresh.len]);
            line.set((secs, fresh));
            fresh
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A stream that first yields `prefix` (bytes the plain path read but did not serve), then
/// reads from `inner`: hyper takes the connection from exactly where the plain path left it.
pub struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn heads() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "video/mp4".parse().expect("value"));
        let mut out = Vec::new();
        head(&mut out, StatusCode::OK, &h, Some(5), true);
        out.extend_from_slice(DateLine::now().as_bytes());
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\n"));
        assert!(text.contains("content-length: 5\r\nconnection: close\r\ndate: "));
        assert!(text.ends_with(" GMT\r\n\r\n"));
        let mut out = Vec::new();
        head(&mut out, StatusCode::NOT_MODIFIED, &h, Some(5), false);
        assert!(!String::from_utf8_lossy(&out).contains("content-length"));
    }

    #[tokio::test]
    async fn rewind_yields_the_prefix_first() {
        let inner: &[u8] = b" world";
        let mut r = Rewind::new(Bytes::from_static(b"hello"), inner);
        let mut s = String::new();
        r.read_to_string(&mut s).await.expect("read");
        assert_eq!(s, "hello world");
    }
}
