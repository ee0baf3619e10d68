//! A media file played out in real time as a local stream, optionally looped: the demo's
//! source, `pullStream uri=file:///...` (MP4, TS or FLV on disk), and the simplest ingest to
//! test outputs with.
//!
//! The file is demuxed up front (it is meant for clips, hence [`MAX_FILE_BYTES`]); each loop
//! continues the timestamps where the previous one ended, so outputs see one continuous live
//! stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use smoothcast_core::demux::{self, DemuxEvent};
use smoothcast_core::media::{Sample, TrackInfo};
use smoothcast_core::time::to_mss;
use tokio::time::Instant;

use crate::ingest::feed::{Feed, SourceError};
use crate::ingest::pull::PullUri;
use crate::server::Shutdown;
use crate::streams::{StreamKind, StreamRegistry};

/// Largest file played: the whole file and its demuxed samples are held in memory.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// A demuxed file: its tracks, its samples in file order, and its length in 10 MHz ticks.
struct Clip {
    tracks: Vec<TrackInfo>,
    samples: Vec<Sample>,
    length: i64,
}

/// Where the media comes from.
pub enum Source {
    /// Media compiled into the binary (the demo clip).
    Embedded {
        name: &'static str,
        data: &'static [u8],
    },
    /// A file on this machine (pullStream file://).
    Disk(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Embedded { name, .. } => format!("embedded://{name}"),
            Source::Disk(path) => format!("file://{}", path.display()),
        }
    }
}

fn load(source: &Source) -> Result<Clip> {
    match source {
        Source::Embedded { name, data } => demux_clip(Path::new(name), data),
        Source::Disk(path) => {
            use std::io::Read as _;
            // The OS's reason goes to the log only: replies (listConfig's lastError) say
            // what failed, not why, so they cannot probe the filesystem.
            let unreadable = |e: std::io::Error| {
                tracing::warn!(path = %path.display(), "file pull: {e}");
                anyhow!(
                    "{}: cannot be read (the server log says why)",
                    path.display()
                )
            };
            let meta = std::fs::metadata(path).map_err(unreadable)?;
            // Devices and pipes have no end to read to.
            if !meta.is_file() {
                bail!("{}: not a regular file", path.display());
            }
            let mut data = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut data))
                .map_err(unreadable)?;
            if data.len() as u64 > MAX_FILE_BYTES {
                bail!(
                    "{}: too large to play out (more than {MAX_FILE_BYTES} bytes)",
                    path.display()
                );
            }
            demux_clip(path, &data)
        }
    }
}

fn demux_clip(path: &Path, data: &[u8]) -> Result<Clip> {
    let container =
        demux::sniff(data).ok_or_else(|| anyhow!("{}: not a media file", path.display()))?;
    let mut d = demux::for_container(container, false);
    d.push(data)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    d.finish().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (mut tracks, mut samples) = (Vec::new(), Vec::new());
    while let Some(ev) = d.poll() {
        match ev {
            DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t) => tracks.push(t),
            DemuxEvent::Sample(s) => samples.push(s),
            DemuxEvent::Ignored { track, reason } => {
                tracing::warn!(file = %path.display(), track, "track not played: {reason}");
            }
            DemuxEvent::Seek(_) => {}
        }
    }
    let length = samples
        .iter()
        .filter_map(|s| {
            let t = tracks.iter().find(|t| t.id == s.track)?;
            Some(to_mss(
                s.dts + i64::from(s.duration.unwrap_or(0)),
                t.timescale,
            ))
        })
        .max()
        .unwrap_or(0);
    if samples.is_empty() || length <= 0 {
        bail!("{}: no samples", path.display());
    }
    Ok(Clip {
        tracks,
        samples,
        length,
    })
}

/// Publishes `source` as local stream `name` until shutdown (or its end, unless `looped`).
pub async fn play(
    streams: StreamRegistry,
    source: Source,
    name: String,
    looped: bool,
    mut shutdown: Shutdown,
) -> Result<()> {
    let describe = source.describe();
    let clip = tokio::task::spawn_blocking(move || load(&source))
        .await
        .map_err(|e| anyhow!("loading: {e}"))??;
    let mut feed = Feed::new(streams, &name, StreamKind::File, &describe);
    // The name is claimed before playing, so a clash is this call's error.
    feed.open().map_err(|e| anyhow!("{e}"))?;
    tokio::select! {
        r = play_out(&clip, looped, &mut feed) => r.map_err(|e| anyhow!("{e}")),
        _ = shutdown.changed() => Ok(()),
    }
}

/// The file source of a pull (`file:///abs/path`): a file that cannot be read or demuxed is
/// a failed connection, with the reason.
pub async fn pull(uri: &PullUri, looped: bool, feed: &mut Feed) -> Result<(), SourceError> {
    let path = uri
        .file_path()
        .ok_or_else(|| SourceError::ConnectFailed(format!("{}: not a file path", uri.original)))?;
    let clip = tokio::task::spawn_blocking(move || load(&Source::Disk(path)))
        .await
        .map_err(|e| SourceError::ConnectFailed(format!("loading: {e}")))?
        .map_err(|e| SourceError::ConnectFailed(format!("{e:#}")))?;
    play_out(&clip, looped, feed).await
}

/// Sends the clip's samples at their times, looping if asked, until its end or
/// shutdownStream.
async fn play_out(clip: &Clip, looped: bool, feed: &mut Feed) -> Result<(), SourceError> {
    for t in &clip.tracks {
        feed.send(DemuxEvent::Track(t.clone()))?;
    }
    let start = Instant::now();
    let first = clip
        .samples
        .iter()
        .filter_map(|s| {
            clip.tracks
                .iter()
                .find(|t| t.id == s.track)
                .map(|t| to_mss(s.dts, t.timescale))
        })
        .min()
        .unwrap_or(0);
    let mut round: i64 = 0;
    loop {
        let offset = round * clip.length;
        for s in &clip.samples {
            let Some(track) = clip.tracks.iter().find(|t| t.id == s.track) else {
                continue;
            };
            let at = to_mss(s.dts, track.timescale) - first + offset;
            let due = start + Duration::from_nanos((at.max(0) as u64).saturating_mul(100));
            tokio::select! {
                () = feed.shutdown_requested() => return Ok(()),
                () = tokio::time::sleep_until(due) => {}
            }
            let mut s = s.clone();
            // The loop offset in this track's ticks, from the 10 MHz length: rounding once per
            // loop, not per sample.
            s.dts += (i128::from(offset) * i128::from(track.timescale) / 10_000_000) as i64;
            feed.add_wire_bytes(s.data.len() as u64);
            feed.send(DemuxEvent::Sample(s))?;
        }
        if !looped {
            return Ok(());
        }
        round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Devices, pipes and folders have no end to play to: refused with the reason.
    #[tokio::test]
    async fn only_regular_files_play() {
        for text in ["file:///dev/zero", "file:///tmp"] {
            let uri = PullUri::parse(text).expect("uri");
            let mut feed = Feed::new(StreamRegistry::new(), "x", StreamKind::File, text);
            match pull(&uri, false, &mut feed).await {
                Err(SourceError::ConnectFailed(why)) => {
                    assert!(why.contains("not a regular file"), "{why}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
