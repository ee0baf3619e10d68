//! Which source runs a pull: one arm per scheme. Every source has the same shape: it runs
//! until its peer ends (`Ok`) or fails (`Err`), writing into the feed, and is stopped by
//! dropping its future.

use super::params::PullParams;
use super::uri::{PullUri, Scheme};
use crate::ingest::feed::{Feed, SourceError};
use crate::streams::StreamKind;

/// Runs the source of `uri` once. A source gets the checked [`PullUri`] (`authority()` is
/// `host:port`, `url()` the parsed rest) and the [`Feed`] to write into; see
/// `crate::ingest::{rtmp, file, mpegts, rtsp}` for the sources.
pub async fn run(
    uri: &PullUri,
    params: &PullParams,
    file_roots: &[std::path::PathBuf],
    feed: &mut Feed,
) -> Result<(), SourceError> {
    match uri.scheme {
        Scheme::Rtmp => crate::ingest::rtmp::pull(uri, params, feed).await,
        Scheme::File => {
            // Again at every attempt: a link may have changed since the config was made.
            super::check_file(file_roots, uri).map_err(SourceError::ConnectFailed)?;
            crate::ingest::file::pull(uri, params.looped, feed).await
        }
        Scheme::MpegTsTcp => {
            let addr = listen_address(uri).await?;
            crate::ingest::mpegts::pull_tcp(addr, feed).await
        }
        Scheme::MpegTsUdp => {
            let addr = listen_address(uri).await?;
            crate::ingest::mpegts::pull_udp(addr, feed).await
        }
        Scheme::Rtsp => crate::ingest::rtsp::pull(&uri.original, params.force_tcp, feed).await,
    }
}

/// EMS "pulls" MPEG-TS by listening on the URI's host and port for a sender.
async fn listen_address(uri: &PullUri) -> Result<std::net::SocketAddr, SourceError> {
    let authority = uri.authority();
    tokio::net::lookup_host(&authority)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| SourceError::ConnectFailed(format!("cannot resolve {authority}")))
}

/// The stream type listStreams shows for a pulled stream (EMS's inbound type names).
pub fn stream_kind(scheme: Scheme) -> StreamKind {
    match scheme {
        Scheme::Rtmp => StreamKind::Rtmp,
        Scheme::Rtsp => StreamKind::Rtsp,
        Scheme::MpegTsTcp | Scheme::MpegTsUdp => StreamKind::MpegTs,
        Scheme::File => StreamKind::File,
    }
}
