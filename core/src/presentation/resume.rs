//! Resuming a live presentation from what an earlier run left in its folder (the host was
//! restarted, maybe killed mid-write).
//!
//! The host lists [`Presentation::fragment_folders`], hands over every fragment file it finds
//! and the manifest it last wrote, and [`Presentation::resume`] rebuilds the timeline:
//!
//! - A file cut short (a kill during a plain write) or otherwise unreadable was never
//!   announced (a fragment is announced in tfrf and manifest only after it is written), so it
//!   is removed ([`Output::Remove`]) and its time slot is filled by new media.
//! - New media continues after the last complete fragment on disk (and after anything a tfrf
//!   announced), not after the last listed one: the manifest lags by the look-ahead, but
//!   players already know the unlisted fragments from the listed ones' tfrf.
//! - The timeline continues without a gap, as for a source that returns within one run
//!   ([`Presentation::restart_level`]), not after a gap as long as the downtime. dash.js
//!   never reloads a live manifest: a viewer who was watching learns the next fragment from
//!   the first tfrf entry of the one it fetched and stretches that one up to it (a downtime
//!   gap would become a hole in its buffer), and a viewer arriving later asks for no fragment
//!   after a hole in the manifest's `c` list. Even the small gap left where the new source's
//!   first sample lands is closed, by stretching the last old fragment (kept, not yet listed)
//!   over it; `host-native/tests/it/restart.rs` plays both viewers across a `kill -9`.
//! - The newest `lookahead` fragments are kept, so they gain tfrf entries (are rewritten) as
//!   new fragments follow, exactly as if the run had not stopped.
//! - Rolling removal counts the old fragments: files beyond the window go as new ones come.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::level::kind_index;
use super::{error, KeptFragment, Output, Presentation, PresentationError, PresentationErrorKind};
use crate::fragment::{BoxHeader, Fragment, Moof};
use crate::layout::Layout;
use crate::media::TrackKind;

/// One fragment file found in the group folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFragment {
    /// Relative to the group folder, as [`Output::WriteFragment`] named it.
    pub path: String,
    /// The file's size on disk.
    pub len: u64,
    /// The file's bytes: all of them, or a head holding at least the `moof` and the `mdat`
    /// header. Give the newest files whole: only whole fragments can be rewritten.
    pub data: Vec<u8>,
}

/// What [`Presentation::resume`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Complete fragments the timeline continues from, over all levels and kinds.
    pub fragments: usize,
    /// Files that were cut short or unreadable; each also comes as an [`Output::Remove`].
    pub removed: Vec<String>,
    /// Files named like fragments that could not be judged (a head too short to hold the
    /// `moof`, or times that disagree with the name): left alone and not listed.
    pub ignored: Vec<String>,
    /// Where new media starts on the timeline (the presentation's times, offset included).
    pub resume_at: Option<u64>,
}

/// One file, judged.
enum Verdict {
    Complete {
        moof: Box<Moof>,
        whole: Option<Box<Fragment>>,
    },
    Broken,
    Unknown,
}

/// A complete fragment of one level and kind.
struct Found {
    t: u64,
    d: u64,
    sequence: u32,
    /// The latest time its tfrf announces.
    announced_end: u64,
    path: String,
    whole: Option<Box<Fragment>>,
}

impl Presentation {
    /// The folders (relative to the group, ending in `/`) holding the quality levels'
    /// fragments, for a host to list before [`Presentation::resume`].
    pub fn fragment_folders(&self) -> Vec<String> {
        let mut out = Vec::new();
        for level in &self.levels {
            for kind in [TrackKind::Video, TrackKind::Audio] {
                let folder = self
                    .options
                    .layout
                    .fragment_folder(kind.as_str(), level.bitrate_of(kind));
                if !out.contains(&folder) {
                    out.push(folder);
                }
            }
        }
        out
    }

    /// Takes the audio bitrates an earlier run's manifest announced, so
    /// [`Presentation::fragment_folders`] and [`Presentation::resume`] find its audio: call it
    /// first. Audio bitrates are measured from the media, so they are not known otherwise.
    /// One audio quality level per level is taken in order; a single one is shared by all
    /// levels; anything else (or no manifest) leaves the audio to be measured afresh.
    /// The host parses the manifest (the parser needs `std`).
    pub fn adopt_audio_bitrates(&mut self, manifest: &crate::manifest::Manifest) {
        let Some(audio) = manifest
            .stream_indexes
            .iter()
            .find(|s| s.kind == TrackKind::Audio)
        else {
            return;
        };
        let bitrates: Vec<u32> = audio.quality_levels.iter().map(|q| q.bitrate).collect();
        let n = self.levels.len();
        for (i, level) in self.levels.iter_mut().enumerate() {
            level.audio_bitrate = match bitrates.len() {
                1 => bitrates.first().copied(),
                len if len == n => bitrates.get(i).copied(),
                _ => None,
            };
        }
        // The first audio stream keeps its name and language. Further languages start
        // afresh under the same names (their earlier fragments are not listed again).
        if self.audio_streams.is_empty() {
            self.audio_streams.push(super::StreamName {
                name: audio.name.clone(),
                language: audio
                    .language
                    .as_deref()
                    .and_then(|l| crate::media::Language::new(l.as_bytes())),
            });
        }
    }

    /// Continues a live presentation from an earlier run's files, before any media of this
    /// run: `manifest` is the manifest that run last wrote (if any), `files` the fragment
    /// files found in [`Presentation::fragment_folders`] (others are ignored). Quality levels
    /// must have been added with the bitrates the earlier run used.
    pub fn resume(
        &mut self,
        manifest: Option<String>,
        files: Vec<StoredFragment>,
    ) -> Result<Resumed, PresentationError> {
        let usage = |why: &str| error(PresentationErrorKind::Usage, String::from(why));
        if !self.options.live || self.finished {
            return Err(usage("only a running live presentation can resume"));
        }
        if self.levels.iter().any(|l| {
            l.origin().is_some() || l.video.is_some() || l.audio.is_some() || l.end().is_some()
        }) {
            return Err(usage("resume comes before any media"));
        }
        let offset = self.options.time_offset;
        let mut report = Resumed::default();
        // Per level, per kind (video, audio).
        let mut found: Vec<[Vec<Found>; 2]> = self
            .levels
            .iter()
            .map(|_| [Vec::new(), Vec::new()])
            .collect();
        for file in files {
            let Some((level, kind, t)) = self.owner_of(&file.path) else {
                report.ignored.push(file.path);
                continue;
            };
            match judge(&file) {
                Verdict::Broken => {
                    self.outputs.push_back(Output::Remove {
                        path: file.path.clone(),
                    });
                    report.removed.push(file.path);
                }
                Verdict::Complete { moof, whole } => {
                    let tfxd = moof.traf.tfxd;
                    if tfxd.time != t || t < offset || tfxd.duration == 0 {
                        report.ignored.push(file.path);
                        continue;
                    }
                    let announced_end = moof
                        .traf
                        .tfrf
                        .iter()
                        .flat_map(|tfrf| &tfrf.entries)
                        .map(|e| e.time.saturating_add(e.duration))
                        .max()
                        .unwrap_or(0);
                    found[level][kind_index(kind)].push(Found {
                        t,
                        d: tfxd.duration,
                        sequence: moof.mfhd.sequence_number,
                        announced_end,
                        path: file.path,
                        whole,
                    });
                }
                Verdict::Unknown => report.ignored.push(file.path),
            }
        }
        // New media goes after every complete fragment and every announced one, so nothing a
        // player may have seen is replaced.
        let end = found
            .iter()
            .flatten()
            .flatten()
            .map(|f| f.t.saturating_add(f.d).max(f.announced_end))
            .max();
        let Some(end) = end else {
            // Nothing on disk to continue from: a fresh start (the old manifest listed nothing
            // that still exists, so it is replaced once enough is packaged).
            return Ok(report);
        };
        let resume_at = end.saturating_sub(offset).min(i64::MAX as u64) as i64;
        let lookahead = usize::from(self.options.lookahead);
        for (i, kinds) in found.into_iter().enumerate() {
            let mut chunks: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
            for (k, mut list) in kinds.into_iter().enumerate() {
                let kind = if k == 0 {
                    TrackKind::Video
                } else {
                    TrackKind::Audio
                };
                list.sort_by_key(|f| f.t);
                // Fragments of one track never overlap; if files say otherwise, the earlier
                // one wins and the other is neither listed nor touched.
                let mut kept_list: Vec<Found> = Vec::with_capacity(list.len());
                for f in list {
                    match kept_list.last() {
                        Some(prev) if f.t < prev.t.saturating_add(prev.d) => {
                            report.ignored.push(f.path)
                        }
                        _ => kept_list.push(f),
                    }
                }
                report.fragments += kept_list.len();
                chunks[k] = kept_list.iter().map(|f| (f.t - offset, f.d)).collect();
                // Its path was found under this bitrate's folder (`owner_of`).
                let bitrate = self.levels[i].bitrate_of(kind);
                let track = self.tracks.entry((i, kind)).or_default();
                if let Some(last) = kept_list.last() {
                    track.resumed_end = Some(last.t.saturating_add(last.d));
                }
                if let Some(seq) = kept_list.iter().map(|f| f.sequence).max() {
                    track.sequence = seq;
                }
                // The newest fragments go on announcing what follows them.
                let kept = &mut track.kept;
                let tail = kept_list.len().saturating_sub(lookahead);
                for f in kept_list.into_iter().skip(tail) {
                    match f.whole {
                        Some(fragment) => {
                            kept.push_back(KeptFragment::new(f.path, bitrate, *fragment))
                        }
                        // Without its bytes it cannot be rewritten; neither can those before
                        // it be, usefully (a tfrf lists the fragments right after its own).
                        None => kept.clear(),
                    }
                }
            }
            let [video, audio] = chunks;
            self.levels[i].resume(video, audio, resume_at);
        }
        // The earlier run's manifest stays until this run changes it; with it known, the live
        // start threshold (enough fragments before a first manifest) is not applied again.
        self.last_manifest = manifest;
        report.resume_at = Some(end);
        Ok(report)
    }

    /// The first new fragment of a resumed track starts a little after the old end (the
    /// level resumes at the end of its longest track, and the source's first samples need not
    /// fall on it). A gap in the manifest's timeline stops dash.js there (it asks for no
    /// fragment after a hole in a `c` list), so the last old fragment, kept and not yet
    /// listed, is stretched over the gap: its last sample lasts longer, as dash.js itself
    /// patches a segment whose tfrf successor starts later. Gaps longer than a chunk stay,
    /// and so do gaps where another level has a fragment (it lost its source later):
    /// stretching would misalign the levels' fragments.
    pub(super) fn close_resume_gap(&mut self, level: usize, kind: TrackKind, end: u64, start: u64) {
        let gap = start.saturating_sub(end);
        if gap == 0 || gap > self.options.chunk_length {
            return;
        }
        let offset = self.options.time_offset;
        let (from, to) = (end.saturating_sub(offset), start.saturating_sub(offset));
        let covered = self.levels.iter().enumerate().any(|(j, l)| {
            j != level
                && l.track(kind).is_some_and(|t| {
                    // Newest first: only the last few can start inside the gap.
                    let mut newest = t.chunks.iter().rev().take_while(|c| c.0 >= from);
                    newest.any(|c| c.0 < to)
                })
        });
        if covered {
            return;
        }
        // The fragment is written once for every level carrying its rendition (a shared
        // audio's), by whichever closed it first: that level keeps it.
        let sharing = self.sharing_rendition(level, kind);
        let ends_at_gap = |k: &KeptFragment| {
            let tfxd = &k.fragment.moof.traf.tfxd;
            tfxd.time.saturating_add(tfxd.duration) == end
        };
        let owner = sharing.iter().copied().find(|&j| {
            let kept = self.tracks.get(&(j, kind)).and_then(|t| t.kept.back());
            kept.is_some_and(ends_at_gap)
        });
        let Some(last) = owner
            .and_then(|j| self.tracks.get_mut(&(j, kind)))
            .and_then(|t| t.kept.back_mut())
        else {
            return;
        };
        let traf = &mut last.fragment.moof.traf;
        let t = traf.tfxd.time;
        let Some(sample) = traf.trun.samples.last_mut() else {
            return;
        };
        let Ok(longer) = u32::try_from(u64::from(sample.duration) + gap) else {
            return;
        };
        sample.duration = longer;
        traf.tfxd.duration = traf.tfxd.duration.saturating_add(gap);
        // Every level carrying the rendition lists the fragment and announces it in its own
        // kept fragments: each takes the new duration (the listing merges their lists and
        // would otherwise keep the shorter one, leaving the hole).
        let rel = t.saturating_sub(self.options.time_offset);
        for j in sharing {
            if let Some(track) = self.tracks.get_mut(&(j, kind)) {
                for e in track
                    .kept
                    .iter_mut()
                    .flat_map(|k| k.fragment.moof.traf.tfrf.iter_mut())
                    .flat_map(|f| &mut f.entries)
                {
                    if e.time == t {
                        e.duration = e.duration.saturating_add(gap);
                    }
                }
            }
            if let Some(track) = self.levels[j].track_mut(kind).as_mut() {
                if let Some(c) = track.chunks.iter_mut().rev().find(|c| c.0 == rel) {
                    c.1 = c.1.saturating_add(gap);
                }
            }
        }
    }

    /// The levels whose track of `kind` is the same rendition as `level`'s, `level` first:
    /// for audio, those in its stream at its audio bitrate (as the listing groups them);
    /// for video, `level` alone.
    fn sharing_rendition(&self, level: usize, kind: TrackKind) -> Vec<usize> {
        let this = &self.levels[level];
        let mut out = alloc::vec![level];
        if kind == TrackKind::Audio && this.audio_bitrate.is_some() {
            out.extend(self.levels.iter().enumerate().filter_map(|(j, l)| {
                (j != level
                    && l.audio.is_some()
                    && l.stream == this.stream
                    && l.audio_bitrate == this.audio_bitrate)
                    .then_some(j)
            }));
        }
        out
    }

    /// The level, kind and start time a fragment path belongs to.
    fn owner_of(&self, path: &str) -> Option<(usize, TrackKind, u64)> {
        let (folder, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path),
        };
        let t = Layout::fragment_time(name)?;
        for (i, level) in self.levels.iter().enumerate() {
            for kind in [TrackKind::Video, TrackKind::Audio] {
                let f = self
                    .options
                    .layout
                    .fragment_folder(kind.as_str(), level.bitrate_of(kind));
                if f.strip_suffix('/').unwrap_or(&f) == folder {
                    return Some((i, kind, t));
                }
            }
        }
        None
    }
}

/// Whether a file is a complete fragment: its top-level boxes tile the file exactly, with one
/// `moof` that parses and an `mdat` that holds what the `trun` says.
fn judge(file: &StoredFragment) -> Verdict {
    let data = &file.data;
    let whole = data.len() as u64 == file.len;
    if (data.len() as u64) > file.len {
        return Verdict::Unknown;
    }
    let mut pos: u64 = 0;
    let mut moof = None;
    let mut mdat_len = None;
    while pos < file.len {
        let Some(rest) = usize::try_from(pos).ok().and_then(|p| data.get(p..)) else {
            return Verdict::Unknown;
        };
        let h = match BoxHeader::parse(rest) {
            Ok(h) => h,
            // A header cut by the end of the file, or garbage where a header should be.
            Err(_) if whole || rest.len() >= 32 => return Verdict::Broken,
            Err(_) => return Verdict::Unknown,
        };
        // Size 0 ("to the end") is never written here; read it as what the head holds.
        let size = h.size as u64;
        let end = pos.saturating_add(size);
        if size == 0 || end > file.len {
            return Verdict::Broken;
        }
        match &h.typ {
            b"moof" => {
                let Some(body) = rest.get(h.header_len..h.size) else {
                    return Verdict::Unknown;
                };
                match Moof::decode(body) {
                    Ok(m) if moof.is_none() => moof = Some(m),
                    _ => return Verdict::Broken,
                }
            }
            b"mdat" => mdat_len = Some(size - h.header_len as u64),
            _ => {}
        }
        pos = end;
    }
    let (Some(moof), Some(mdat_len)) = (moof, mdat_len) else {
        return Verdict::Broken;
    };
    let sizes: u64 = moof
        .traf
        .trun
        .samples
        .iter()
        .map(|s| u64::from(s.size))
        .sum();
    if sizes != mdat_len {
        return Verdict::Broken;
    }
    let whole = match whole {
        true => match Fragment::decode(data) {
            Ok(f) => Some(Box::new(f)),
            Err(_) => return Verdict::Broken,
        },
        false => None,
    };
    Verdict::Complete {
        moof: Box::new(moof),
        whole,
    }
}
