//! Response bodies: small in-memory ones, and file windows streamed in chunks so a large
//! file never sits in memory whole.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use tokio::fs::File;
use tokio::io::{AsyncRead, ReadBuf};

/// Each chunk is one trip to the blocking pool: larger chunks, fewer trips for big files.
const CHUNK: usize = 256 * 1024;

pub enum Body {
    Bytes(Option<Bytes>),
    /// The next `remaining` bytes of `file`, already positioned at the window's start.
    File {
        file: File,
        remaining: u64,
    },
}

impl Body {
    pub fn empty() -> Self {
        Body::Bytes(None)
    }

    pub fn bytes(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        Body::Bytes(if b.is_empty() { None } else { Some(b) })
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| {
                crate::metrics::get().web_bytes(b.len());
                Ok(Frame::data(b))
            })),
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining).map_or(CHUNK, |r| r.min(CHUNK));
                let mut buf = BytesMut::zeroed(want);
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            // Shrunk since we sent Content-Length: abort the connection
                            // rather than let the client wait for bytes that never come.
                            *remaining = 0;
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shrank while being sent",
                            ))));
                        }
                        *remaining -= n as u64;
                        buf.truncate(n);
                        crate::metrics::get().web_bytes(n);
                        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(b) => b.is_none(),
            Body::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
