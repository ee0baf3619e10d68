//! Which source runs a pull: one arm per scheme. Every source has the same shape: it runs
//! until its peer ends (`Ok`) or fails (`Err`), writing into the feed, and is stopped by
//! dropping its future.

use super::params::PullParams;
use super::uri::{PullUri, Scheme};
use crate::ingest::feed::{Feed, SourceError};
use crate::streams::StreamKind;

/// Runs the source of `uri` once. A source gets the checked [`PullUri`] (`authority()` is
/// `host:port`, `url()` the parsed rest) and the [`Feed`] to write into; see
/// `crate::ingest::rtmp::pull` and `crate::ingest::file::pull` for the two built here.
pub async fn run(uri: &PullUri, params: &PullParams, feed: &mut Feed) -> Result<(), SourceError> {
    match uri.scheme {
        Scheme::Rtmp => crate::ingest::rtmp::pull(uri, params, feed).await,
        Scheme::File => crate::ingest::file::pull(uri, params.looped, feed).await,
        // MERGE: replace with `crate::ingest::mpegts::pull_tcp(...)` when ingest/mpegts lands.
        Scheme::MpegTsTcp => Err(not_built_yet(uri)),
        // MERGE: replace with `crate::ingest::mpegts::pull_udp(...)` when ingest/mpegts lands.
        Scheme::MpegTsUdp => Err(not_built_yet(uri)),
        // MERGE: replace with `crate::ingest::rtsp::pull(...)` (params.force_tcp) when
        // ingest/rtsp lands.
        Scheme::Rtsp => Err(not_built_yet(uri)),
    }
}

fn not_built_yet(uri: &PullUri) -> SourceError {
    SourceError::Protocol(format!("{}:// not built yet", uri.scheme.as_str()))
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
