//! Between WIT types and core types.

use smoothcast_core::crypto::Protection;
use smoothcast_core::layout::Layout as CoreLayout;
use smoothcast_core::package::{self, ErrorKind as CoreErrorKind};
use smoothcast_core::presentation::{
    Event, FragmentInfo, Playlist as CorePlaylist, PresentationOptions,
};
use smoothcast_core::time::secs_to_mss;
use smoothcast_core::{Output as CoreOutput, TrackKind as CoreKind};

use crate::exports::smoothcast::packager::packaging::{
    Error, ErrorKind, Fragment, Layout, ManifestUpdate, Options, Output, Playlist, TrackKind,
};

/// The core's options; bad protection settings come back as the error `add-input` gives.
pub fn options(o: Options) -> (PresentationOptions, Option<Error>) {
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
    let mut failed = None;
    if let Some(w) = o.protection {
        let made = Protection::from_user(
            &w.key_id,
            w.key.as_deref(),
            w.key_seed.as_deref(),
            &w.la_url,
        )
        .and_then(|mut pr| {
            pr.lui_url = w.lui_url;
            pr.custom_attributes = w.custom_attributes;
            pr.iv_salt = w.iv_salt;
            pr.check().map(|()| pr)
        });
        match made {
            Ok(pr) => p.protection = Some(pr),
            Err(m) => failed = Some(error(package::Error::new(CoreErrorKind::Options, m))),
        }
    }
    (p, failed)
}

pub fn error(e: package::Error) -> Error {
    let kind = match e.kind {
        CoreErrorKind::Options => ErrorKind::Options,
        CoreErrorKind::NotMedia => ErrorKind::NotMedia,
        CoreErrorKind::Malformed => ErrorKind::Malformed,
        CoreErrorKind::Truncated => ErrorKind::Truncated,
        CoreErrorKind::Unsupported => ErrorKind::Unsupported,
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
        CoreKind::Text => TrackKind::Text,
    }
}

/// A core output as the WIT tells it; `None` for what the WIT does not carry (a fragment's
/// closing event repeats its write's facts; manifest updates are told by the manifest).
pub fn output(o: CoreOutput) -> Option<Output> {
    Some(match o {
        CoreOutput::WriteFragment { path, data, info } => {
            fragment(path, Vec::from(data), &info, false)
        }
        CoreOutput::RewriteFragment { path, data, info } => {
            fragment(path, Vec::from(data), &info, true)
        }
        // The packager never sets `rewrite_in_place` (its host writes whole files).
        CoreOutput::RewriteFragmentHead { .. } => return None,
        CoreOutput::WriteManifest { path, xml } => Output::Manifest(ManifestUpdate { path, xml }),
        CoreOutput::Remove { path } => Output::Remove(path),
        CoreOutput::Event(Event::SampleDropped {
            level,
            kind: k,
            reason,
        }) => Output::Note(format!("{level}: {} sample dropped: {reason}", k.as_str())),
        CoreOutput::Event(Event::CodecChanged { level, kind: k }) => Output::Note(format!(
            "{level}: {} codec configuration changed",
            k.as_str()
        )),
        CoreOutput::Event(Event::FragmentCut {
            level,
            kind: k,
            reason,
        }) => Output::Note(format!("{level}: {} fragment cut: {reason}", k.as_str())),
        CoreOutput::Event(Event::TrackIgnored {
            level,
            track,
            reason,
        }) => Output::Note(format!("{level}: track {track} ignored: {reason}")),
        CoreOutput::Event(Event::FragmentClosed { .. } | Event::ManifestUpdated { .. }) => {
            return None
        }
    })
}

fn fragment(path: String, data: Vec<u8>, info: &FragmentInfo, rewrite: bool) -> Output {
    Output::Fragment(Fragment {
        path,
        bitrate: info.bitrate,
        track: kind(info.kind),
        start: info.start,
        duration: info.duration,
        rewrite,
        data,
    })
}
