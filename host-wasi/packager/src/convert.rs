//! Between WIT types and core types.

use std::collections::VecDeque;

use smoothcast_core::layout::Layout as CoreLayout;
use smoothcast_core::package::{self, ErrorKind as CoreErrorKind};
use smoothcast_core::presentation::{Event, Playlist as CorePlaylist, PresentationOptions};
use smoothcast_core::time::secs_to_mss;
use smoothcast_core::{Output as CoreOutput, TrackKind as CoreKind};

use crate::exports::smoothcast::packager::packaging::{
    Error, ErrorKind, Fragment, Layout, ManifestUpdate, Options, Output, Playlist, TrackKind,
};

pub fn options(o: Options) -> PresentationOptions {
    let layout = match o.layout {
        Layout::Single(stream) => CoreLayout::Single { stream },
        Layout::Multi => CoreLayout::Multi,
        Layout::Auto(stream) => CoreLayout::Auto { stream },
    };
    let mut p = PresentationOptions::vod(layout);
    p.manifest_name = o.manifest_name;
    // Milliseconds, converted exactly as `smoothcast package --chunk-length` converts.
    p.chunk_length = secs_to_mss(u64::from(o.chunk_length_ms), 1000);
    p.chunk_on_idr = o.chunk_on_idr;
    p.live = o.live;
    p.lookahead = o.lookahead;
    p.playlist = match o.playlist {
        Playlist::Appending => CorePlaylist::Appending,
        Playlist::Rolling(w) => CorePlaylist::Rolling {
            length: w.length as usize,
            stale_retention: w.stale_retention as usize,
        },
    };
    p.time_offset = o.time_offset;
    p
}

pub fn error(e: package::Error) -> Error {
    let kind = match e.kind {
        CoreErrorKind::Options => ErrorKind::Options,
        CoreErrorKind::NotMedia => ErrorKind::NotMedia,
        CoreErrorKind::Malformed => ErrorKind::Malformed,
        CoreErrorKind::Truncated => ErrorKind::Truncated,
        CoreErrorKind::Unsupported => ErrorKind::Unsupported,
        CoreErrorKind::NoVideo => ErrorKind::NoVideo,
        CoreErrorKind::BitrateUnknown => ErrorKind::BitrateUnknown,
        CoreErrorKind::Mismatch => ErrorKind::Mismatch,
        CoreErrorKind::Empty => ErrorKind::Empty,
        CoreErrorKind::Usage => ErrorKind::Usage,
    };
    Error {
        kind,
        message: e.message,
    }
}

fn kind(k: CoreKind) -> TrackKind {
    match k {
        CoreKind::Video => TrackKind::Video,
        CoreKind::Audio => TrackKind::Audio,
    }
}

/// Fragment facts kept for live rewrites, which the core reports by path only.
#[derive(Clone)]
struct Meta {
    path: String,
    bitrate: u32,
    track: TrackKind,
    start: u64,
    duration: u64,
}

/// Enough for every rewrite: the core rewrites only the last `lookahead` (≤ 255) fragments
/// of each level and kind, and a host rarely has more than a handful of levels.
const KEPT_META: usize = 4096;

/// Pairs each core `WriteFragment` with the `FragmentClosed` event that follows it, so a
/// WIT fragment carries its bitrate, track and times.
#[derive(Default)]
pub struct Outputs {
    written: Option<(String, Vec<u8>)>,
    recent: VecDeque<Meta>,
}

impl Outputs {
    pub fn convert(&mut self, o: CoreOutput, out: &mut Vec<Output>) {
        match o {
            CoreOutput::WriteFragment { path, data } => {
                self.flush(out);
                self.written = Some((path, data));
            }
            CoreOutput::Event(Event::FragmentClosed {
                path,
                kind: k,
                bitrate,
                start,
                duration,
                ..
            }) => {
                let data = match self.written.take() {
                    Some((p, data)) if p == path => data,
                    other => {
                        self.written = other;
                        return;
                    }
                };
                let meta = Meta {
                    path,
                    bitrate,
                    track: kind(k),
                    start,
                    duration,
                };
                out.push(fragment(&meta, false, data));
                if self.recent.len() == KEPT_META {
                    self.recent.pop_front();
                }
                self.recent.push_back(meta);
            }
            CoreOutput::RewriteFragment { path, data } => {
                self.flush(out);
                if let Some(meta) = self.recent.iter().rev().find(|m| m.path == path) {
                    out.push(fragment(meta, true, data));
                }
            }
            CoreOutput::WriteManifest { path, xml } => {
                self.flush(out);
                out.push(Output::Manifest(ManifestUpdate { path, xml }));
            }
            CoreOutput::Remove { path } => {
                self.flush(out);
                out.push(Output::Remove(path));
            }
            CoreOutput::Event(Event::SampleDropped {
                level,
                kind: k,
                reason,
            }) => out.push(Output::Note(format!(
                "{level}: {} sample dropped: {reason}",
                k.as_str()
            ))),
            CoreOutput::Event(Event::CodecChanged { level, kind: k }) => out.push(Output::Note(
                format!("{level}: {} codec configuration changed", k.as_str()),
            )),
            CoreOutput::Event(Event::FragmentCut {
                level,
                kind: k,
                reason,
            }) => out.push(Output::Note(format!(
                "{level}: {} fragment cut: {reason}",
                k.as_str()
            ))),
            CoreOutput::Event(Event::ManifestUpdated { .. }) => {}
        }
    }

    /// A write whose event never came (the core always sends both; this is a backstop that
    /// keeps the bytes rather than dropping them).
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        if let Some((path, data)) = self.written.take() {
            let meta = Meta {
                path,
                bitrate: 0,
                track: TrackKind::Video,
                start: 0,
                duration: 0,
            };
            out.push(fragment(&meta, false, data));
        }
    }
}

fn fragment(m: &Meta, rewrite: bool, data: Vec<u8>) -> Output {
    Output::Fragment(Fragment {
        path: m.path.clone(),
        bitrate: m.bitrate,
        track: m.track,
        start: m.start,
        duration: m.duration,
        rewrite,
        data,
    })
}
