//! The resume path: a live presentation runs and leaves its files; they are damaged
//! (truncated, given as heads, bytes flipped, removed), joined by made-up files and maybe a
//! made-up manifest; a new presentation resumes from them and takes new media.
#![no_main]
use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smoothcast_core::layout::Layout;
use smoothcast_core::presentation::{
    Output, Playlist, Presentation, PresentationOptions, StoredFragment,
};
use smoothcast_fuzz::media::{audio_track, sample, video_track, Num};

#[derive(Debug, Arbitrary)]
struct Input {
    rolling: Option<(u8, u8)>,
    audio: bool,
    seconds: u8,
    first_dts: Num,
    edits: Vec<Edit>,
    extra: Vec<Extra>,
    manifest: Manifest,
    after_dts: Num,
    after: u8,
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Truncate { file: u8, at: u32 },
    Head { file: u8, len: u32 },
    Flip { file: u8, at: u32, xor: u8 },
    Remove { file: u8 },
    Grow { file: u8, len: u32 },
}

#[derive(Debug, Arbitrary)]
struct Extra {
    audio: bool,
    t: u64,
    len: u32,
    data: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
enum Manifest {
    Last,
    None,
    Text(String),
}

const BITRATE: u32 = 1_000_000;

fn options(rolling: Option<(u8, u8)>) -> PresentationOptions {
    let mut o = PresentationOptions::vod(Layout::Multi);
    o.live = true;
    o.live_start_chunks = 1;
    o.chunk_length = 10_000_000;
    // Half the rolling runs write their rewrites as heads in place (the native host's way):
    // the files a resume then reads carry the `free` padding in their tfrf.
    o.rewrite_in_place = rolling.is_some_and(|(length, _)| length >= 128);
    if let Some((length, stale)) = rolling {
        o.playlist = Playlist::Rolling {
            length: usize::from(length % 8) + 1,
            stale_retention: usize::from(stale % 4),
        };
    }
    o
}

/// 25 fps video with a keyframe every second, and 48 kHz AAC if `audio`, from `start`.
fn feed(p: &mut Presentation, audio: bool, start: i64, seconds: i64) -> bool {
    let Ok(level) = p.add_quality_level("in", BITRATE) else {
        return false;
    };
    let _ = p.add_track(level, video_track(1, 90_000, 0));
    if audio {
        let _ = p.add_track(level, audio_track(2, 48_000));
    }
    for frame in 0..seconds * 25 {
        let t = start.saturating_add(frame * 3_600);
        if p.push_sample(level, sample(1, true, t, 0, None, frame % 25 == 0))
            .is_err()
        {
            return false;
        }
        if audio {
            let at = start.saturating_add(frame * 1_920) / 90_000 * 48_000;
            let _ = p.push_sample(level, sample(2, false, at, 0, None, true));
        }
    }
    true
}

fuzz_target!(|input: Input| {
    // The earlier run.
    let mut first = Presentation::new(options(input.rolling));
    let start = input.first_dts.get();
    let seconds = i64::from(input.seconds % 12) + 1;
    feed(&mut first, input.audio, start, seconds);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut manifest = None;
    while let Some(o) = first.poll_output() {
        match o {
            Output::WriteFragment { path, data, .. }
            | Output::RewriteFragment { path, data, .. } => {
                files.insert(path, data.to_vec());
            }
            Output::RewriteFragmentHead { path, head, .. } => {
                if let Some(file) = files.get_mut(&path) {
                    file[..head.len()].copy_from_slice(&head);
                }
            }
            Output::WriteManifest { xml, .. } => manifest = Some(xml),
            Output::Remove { path } => {
                files.remove(&path);
            }
            Output::Event(_) => {}
        }
    }
    let mut stored: Vec<StoredFragment> = files
        .into_iter()
        .map(|(path, data)| StoredFragment {
            path,
            len: data.len() as u64,
            data,
        })
        .collect();
    for edit in input.edits.into_iter().take(16) {
        if stored.is_empty() {
            break;
        }
        let n = stored.len();
        let pick = |i: u8| usize::from(i) % n;
        match edit {
            Edit::Truncate { file, at } => {
                let f = &mut stored[pick(file)];
                f.data.truncate(at as usize);
                f.len = f.data.len() as u64;
            }
            Edit::Head { file, len } => stored[pick(file)].data.truncate(len as usize),
            Edit::Flip { file, at, xor } => {
                let f = &mut stored[pick(file)];
                let at = at as usize;
                if let Some(b) = f.data.get_mut(at) {
                    *b ^= xor;
                }
            }
            Edit::Remove { file } => {
                stored.remove(pick(file));
            }
            Edit::Grow { file, len } => stored[pick(file)].len += u64::from(len),
        }
    }
    let layout = Layout::Multi;
    for extra in input.extra.into_iter().take(8) {
        let kind = if extra.audio {
            smoothcast_core::TrackKind::Audio
        } else {
            smoothcast_core::TrackKind::Video
        };
        stored.push(StoredFragment {
            path: layout.fragment_path(kind.as_str(), BITRATE, extra.t),
            len: extra.data.len() as u64 + u64::from(extra.len % 64),
            data: extra.data,
        });
    }
    let manifest = match input.manifest {
        Manifest::Last => manifest,
        Manifest::None => None,
        Manifest::Text(t) => Some(t),
    };

    // The new run.
    let mut second = Presentation::new(options(input.rolling));
    let Ok(level) = second.add_quality_level("in", BITRATE) else {
        return;
    };
    if second.resume(manifest, stored).is_err() {
        return;
    }
    let _ = second.add_track(level, video_track(1, 90_000, 0));
    let t0 = input.after_dts.get();
    for frame in 0..i64::from(input.after % 100) {
        let t = t0.saturating_add(frame * 3_600);
        if second
            .push_sample(level, sample(1, true, t, 0, None, frame % 25 == 0))
            .is_err()
        {
            break;
        }
        while second.poll_output().is_some() {}
    }
    let _ = second.finish();
    while second.poll_output().is_some() {}
});
