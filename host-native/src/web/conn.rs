//! Per-connection limits: a send timeout around any stream, and a cap on the connections
//! one client address holds. Both are generic over the stream so a TLS layer can sit in
//! between.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose writes fail with `TimedOut` once one has waited `limit` without the
/// peer taking a byte: a client that stops reading a response frees its connection (and
/// the file and memory behind it). The clock runs only while a write is blocked, so a slow
/// but reading client, or an idle keep-alive connection, is never cut by it.
pub struct SendTimeout<S> {
    inner: S,
    limit: Option<Duration>,
    /// Armed when a write first returns `Pending`; reset by any progress.
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl<S> SendTimeout<S> {
    pub fn new(inner: S, limit: Option<Duration>) -> Self {
        Self {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
        }
    }

    /// A write is blocked: start or check the clock.
    fn blocked<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        if !self.armed {
            self.sleep.as_mut().reset(Instant::now() + limit);
            self.armed = true;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "send timeout: the client read nothing",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        r: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => self.blocked(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progressed(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progressed(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.progressed(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progressed(r, cx)
    }
}

/// Connections held per client address, capped.
#[derive(Clone)]
pub struct PerAddress {
    cap: u32,
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One connection's place under its address's cap; given back on drop.
pub struct Slot {
    owner: Option<(PerAddress, IpAddr)>,
}

impl PerAddress {
    /// `cap` connections per address (0: no cap).
    pub fn new(cap: u32) -> Self {
        Self {
            cap,
            held: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` if it holds `cap` already.
    pub fn claim(&self, ip: IpAddr) -> Option<Slot> {
        if self.cap == 0 {
            return Some(Slot { owner: None });
        }
        let mut held = self.lock();
        let n = held.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            owner: Some((self.clone(), ip)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        // Counts stay consistent between statements; a panic elsewhere cannot break them.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((pa, ip)) = self.owner.take() {
            let mut held = pa.lock();
            if let Some(n) = held.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    // Only addresses with connections are kept: the map stays small.
                    held.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_slots() {
        let pa = PerAddress::new(2);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let s1 = pa.claim(a).expect("first");
        let _s2 = pa.claim(a).expect("second");
        assert!(pa.claim(a).is_none(), "third refused");
        assert!(pa.claim(b).is_some(), "another address is not affected");
        drop(s1);
        assert!(pa.claim(a).is_some(), "a slot comes back on close");
        assert!(PerAddress::new(0).claim(a).is_some());
    }
}
