//! A media file played out in real time as a local stream, optionally looped: the demo's
//! source, and the simplest ingest to test outputs with.
//!
//! The file is demuxed up front (it is meant for short clips); each loop continues the
//! timestamps where the previous one ended, so outputs see one continuous live stream.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use smoothcast_core::demux::{self, DemuxEvent};
use smoothcast_core::media::{Sample, TrackInfo};
use smoothcast_core::time::to_mss;
use tokio::time::Instant;

use crate::server::Shutdown;
use crate::streams::{StreamItem, StreamKind, StreamRegistry};

/// A demuxed file: its tracks, its samples in file order, and its length in 10 MHz ticks.
struct Clip {
    tracks: Vec<TrackInfo>,
    samples: Vec<Sample>,
    length: i64,
}

/// Where the media comes from (`pullStream uri=file://` will add files on disk).
pub enum Source {
    /// Media compiled into the binary (the demo clip).
    Embedded {
        name: &'static str,
        data: &'static [u8],
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Embedded { name, .. } => format!("embedded://{name}"),
        }
    }
}

fn load(source: &Source) -> Result<Clip> {
    match source {
        Source::Embedded { name, data } => demux_clip(Path::new(name), data),
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
    let publisher = streams.publish(&name, StreamKind::File, &describe)?;
    for t in &clip.tracks {
        publisher.send(StreamItem::Track(t.clone()), 0);
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
                _ = shutdown.changed() => return Ok(()),
                () = publisher.shutdown_requested() => return Ok(()),
                () = tokio::time::sleep_until(due) => {}
            }
            let mut s = s.clone();
            // The loop offset in this track's ticks, from the 10 MHz length: rounding once per
            // loop, not per sample.
            s.dts += (i128::from(offset) * i128::from(track.timescale) / 10_000_000) as i64;
            let bytes = s.data.len() as u64;
            publisher.send(StreamItem::Sample(s), bytes);
        }
        if !looped {
            return Ok(());
        }
        round += 1;
    }
}
