//! The presentation state machine: samples in, fragment files, manifests and events out.
//!
//! In the style of str0m and quinn-proto it does no I/O and keeps no clock. The host feeds it
//! ([`Presentation::handle_demux_event`], [`Presentation::push_sample`],
//! [`Presentation::finish`]) and drains [`Presentation::poll_output`] until `None`, acting on
//! each [`Output`]: writing files (manifests atomically), rewriting, removing.
//!
//! ```
//! use smoothcast_core::layout::Layout;
//! use smoothcast_core::presentation::{Presentation, PresentationOptions};
//!
//! let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
//! let level = p.add_quality_level("in.mp4", 1_000_000).unwrap();
//! // for each demuxer event: p.handle_demux_event(level, event)?;
//! p.finish().unwrap_err(); // nothing was pushed: "no samples"
//! while let Some(output) = p.poll_output() {
//!     // write output to disk, a socket, memory...
//!     let _ = output;
//! }
//! # let _ = level;
//! ```

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;

mod fragment_bytes;
mod level;
mod resume;
mod streams;
mod text;
mod track;

pub use fragment_bytes::FragmentBytes;
use level::{CutRule, Level, LevelNote};
pub use resume::{Resumed, StoredFragment};
use streams::{StreamKey, StreamName};
pub use text::sidecar_language;
use track::{Accepted, ClosedFragment, ForcedCut, Limits};

use crate::crypto::{cenc, Protection};
use crate::demux::DemuxEvent;
use crate::fragment::{Fragment, Mfhd, Moof, Tfhd, Tfrf, TfrfEntry, Tfxd, Traf, Trun};
use crate::layout::Layout;
use crate::manifest::{self, Chunk, Manifest, QualityLevel, StreamIndex};
use crate::media::{Language, Sample, TrackInfo, TrackKind};
use crate::time::MSS_TIMESCALE;

/// Audio tracks packaged from one input, at most: real catalogues carry a handful of
/// languages; each is a level, a stream and files, so a file claiming thousands is refused
/// track by track (with [`Event::TrackIgnored`]).
pub const MAX_AUDIO_TRACKS: usize = 16;

/// Audio tracks of two quality levels with one codec configuration and bitrates this close
/// (percent of the higher) are one rendition. Separately measured windows of one AAC stream
/// differ by a few percent; renditions meant to differ (64/96/128 kbit/s) by far more.
const SAME_AUDIO_PERCENT: u64 = 10;

/// How a live manifest keeps its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playlist {
    /// Every fragment stays listed and on disk (EMS `playlistType=appending`).
    Appending,
    /// The manifest lists the newest `length` fragments; files older than that plus
    /// `stale_retention` more are removed (EMS `playlistType=rolling`).
    Rolling {
        length: usize,
        stale_retention: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationOptions {
    pub layout: Layout,
    /// The manifest file name (EMS `manifestName`), ignored by the autoMSS layout.
    pub manifest_name: String,
    /// Target fragment duration in 10 MHz ticks (EMS `chunkLength` seconds × 10⁷).
    pub chunk_length: u64,
    /// Cut only where a video sync sample starts (EMS `chunkOnIDR`).
    pub chunk_on_idr: bool,
    /// Live: fragments carry tfrf and are rewritten as later ones complete; the manifest is
    /// rewritten as fragments are published.
    pub live: bool,
    /// Fragments each live fragment's tfrf announces, and by which the manifest lags.
    pub lookahead: u8,
    pub playlist: Playlist,
    /// Added to every time (e.g. a live start in wall-clock 10 MHz ticks); 0 for VOD.
    pub time_offset: u64,
    /// The longest a fragment may grow before it is cut anyway, in 10 MHz ticks, even where
    /// no keyframe starts the next (reported as [`Event::FragmentCut`]). `None`, the default:
    /// [`PresentationOptions::fragment_duration_limit`], 4 × `chunk_length` and at least 20 s.
    pub max_fragment_duration: Option<u64>,
    /// The most sample bytes a fragment may hold before it is cut anyway (reported as
    /// [`Event::FragmentCut`]); default [`DEFAULT_MAX_FRAGMENT_BYTES`].
    pub max_fragment_bytes: u64,
    /// The live manifest is first written when every stream lists this many fragments:
    /// dash.js starts four fragment durations behind the live edge, and a manifest with
    /// fewer gives it nothing to start on (it stalls instead of waiting).
    pub live_start_chunks: usize,
    /// PlayReady protection: every audio and video fragment is encrypted (`cenc`) and the
    /// manifest carries the PlayReady header. `None`, the default: clear.
    pub protection: Option<Protection>,
    /// Every input's audio is a stream of its own, never one rendition shared with another
    /// input's (whose fragments would then be written once, by whichever input closes them
    /// first). Smooth ingest pushes each input with its own audio. Default `false`.
    pub separate_audio: bool,
    /// Live: a fragment keeps room in its tfrf for its `lookahead` entries from its first
    /// version on (a `free` box fills what is not announced yet), so its head keeps one size,
    /// and its later versions are output as [`Output::RewriteFragmentHead`], the head alone:
    /// the payload is let go as soon as it is written, instead of being kept for the two
    /// rewrites (two fragments per track: most of a live server's memory). For hosts that
    /// write files they can patch; a store that takes whole objects cannot. Default `false`.
    pub rewrite_in_place: bool,
}

impl PresentationOptions {
    /// On-demand packaging with 2 s fragments cut on IDR frames.
    pub fn vod(layout: Layout) -> Self {
        Self {
            layout,
            manifest_name: String::from("manifest.ismc"),
            chunk_length: 2 * MSS_TIMESCALE,
            chunk_on_idr: true,
            live: false,
            lookahead: 2,
            playlist: Playlist::Appending,
            time_offset: 0,
            live_start_chunks: 4,
            max_fragment_duration: None,
            max_fragment_bytes: DEFAULT_MAX_FRAGMENT_BYTES,
            protection: None,
            separate_audio: false,
            rewrite_in_place: false,
        }
    }

    /// The fragment duration limit in force: [`PresentationOptions::max_fragment_duration`],
    /// or 4 × `chunk_length` but at least [`MIN_DEFAULT_MAX_FRAGMENT_DURATION`], so that
    /// sources with GOPs of several seconds and short chunks are not cut between keyframes.
    pub fn fragment_duration_limit(&self) -> u64 {
        self.max_fragment_duration.unwrap_or_else(|| {
            self.chunk_length
                .saturating_mul(4)
                .max(MIN_DEFAULT_MAX_FRAGMENT_DURATION)
        })
    }
}

/// Default [`PresentationOptions::max_fragment_bytes`]: 64 MiB, far above any real fragment
/// (a 2 s fragment of 50 Mbit/s video is 12.5 MB), as MediaMTX's `hlsSegmentMaxSize` (50M).
pub const DEFAULT_MAX_FRAGMENT_BYTES: u64 = 64 << 20;

/// The least default fragment duration limit: 20 s in 10 MHz ticks.
pub const MIN_DEFAULT_MAX_FRAGMENT_DURATION: u64 = 20 * MSS_TIMESCALE;

/// What the host should do. Paths are relative to the group folder and use `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A new fragment file.
    WriteFragment {
        path: String,
        /// Its head and the samples' own buffers ([`FragmentBytes`]), shared with the
        /// presentation while it may rewrite the fragment (live), so a host that keeps the
        /// newest version in memory holds no second copy.
        data: FragmentBytes,
        info: FragmentInfo,
    },
    /// An earlier live fragment, now announcing more following fragments in its tfrf.
    /// Its new head and the payload it shares with the fragment's other versions
    /// ([`FragmentBytes`]).
    RewriteFragment {
        path: String,
        data: FragmentBytes,
        info: FragmentInfo,
    },
    /// An earlier live fragment's new head, with [`PresentationOptions::rewrite_in_place`]:
    /// the first `head.len()` bytes of the file, as long as the head they replace; the
    /// payload after them is unchanged. `info.size` is the whole file's.
    RewriteFragmentHead {
        path: String,
        head: Bytes,
        info: FragmentInfo,
    },
    /// The manifest changed; replace it atomically (readers may fetch it at any moment).
    WriteManifest {
        path: String,
        xml: String,
    },
    /// A fragment left the rolling window and its stale allowance.
    Remove {
        path: String,
    },
    Event(Event),
}

/// The facts of a fragment file, carried by its write and each rewrite, so that a host can
/// name, count and report it from the output alone (the [`Event::FragmentClosed`] that
/// follows a write says the same, for event sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// The input whose samples it holds.
    pub level: LevelId,
    pub kind: TrackKind,
    /// Its quality level's bitrate (for audio, the audio's own), as in its path.
    pub bitrate: u32,
    /// The manifest's `c@t`, in 10 MHz ticks, time offset included.
    pub start: u64,
    /// In 10 MHz ticks.
    pub duration: u64,
    pub samples: usize,
    /// Bytes of the file as this output writes it.
    pub size: usize,
    /// No later version of this fragment follows: it is on demand, or its tfrf announces
    /// all its look-ahead, or the presentation ended. A host that stores each fragment
    /// only once (object storage, a disk that cannot take every rewrite) writes this
    /// version and may keep the earlier ones in memory only: the manifest never lists a
    /// fragment before its last version is out.
    pub last_version: bool,
}

/// Things worth telling an operator or an event sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A fragment is complete (EMS `mssChunkClosed`).
    FragmentClosed {
        path: String,
        kind: TrackKind,
        bitrate: u32,
        start: u64,
        duration: u64,
        samples: usize,
    },
    /// The manifest was rewritten (EMS `mssPlaylistUpdated`).
    ManifestUpdated { path: String },
    /// A sample was not packaged.
    SampleDropped {
        level: String,
        kind: TrackKind,
        reason: &'static str,
    },
    /// A track's codec configuration changed mid-stream; the manifest shows the newest one.
    CodecChanged { level: String, kind: TrackKind },
    /// A track of an input is not packaged: a codec Smoothcast does not carry, or a second
    /// video track. Hosts report it, so that nothing is dropped without a word.
    TrackIgnored {
        level: String,
        /// The demuxer's id of the track (MP4 track_ID, TS PID).
        track: u32,
        reason: String,
    },
    /// A fragment was cut by [`PresentationOptions::max_fragment_duration`] or
    /// [`PresentationOptions::max_fragment_bytes`] rather than where the cut rule wanted
    /// (with chunkOnIDR, the next fragment starts without a keyframe): the source sends no
    /// keyframes, or timestamps that barely advance. Hosts report it (EMS `mssChunkError`).
    FragmentCut {
        level: String,
        kind: TrackKind,
        reason: &'static str,
    },
}

/// Identifies a quality level (an input) inside a presentation; the default is the first.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelId(usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationError {
    pub kind: PresentationErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentationErrorKind {
    /// A caller mistake: an unknown level, a bitrate used twice, a push after finish.
    Usage,
    /// The inputs cannot form one presentation: different track sets, unaligned fragments.
    Mismatch,
    /// Nothing to package.
    Empty,
}

impl fmt::Display for PresentationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PresentationError {}

fn error(kind: PresentationErrorKind, message: String) -> PresentationError {
    PresentationError { kind, message }
}

/// A live fragment kept so its tfrf can be rewritten as later fragments complete.
#[derive(Debug)]
struct KeptFragment {
    path: String,
    /// As in its path (an audio level's bitrate is settled by its first fragment).
    bitrate: u32,
    /// Its boxes; the payload is not here but in `payload`.
    fragment: Fragment,
    /// The `mdat`'s pieces, as output (shared with the host): every version takes them.
    /// `None` when the fragment is rewritten in place: only its head changes.
    payload: Option<Arc<[Bytes]>>,
    /// Bytes of the payload.
    payload_len: usize,
}

impl KeptFragment {
    /// Keeps `fragment` (its `mdat` becomes the payload).
    fn new(path: String, bitrate: u32, mut fragment: Fragment) -> Self {
        let mdat = core::mem::take(&mut fragment.mdat);
        Self {
            path,
            bitrate,
            fragment,
            payload_len: mdat.len(),
            payload: Some(Arc::from([Bytes::from(mdat)])),
        }
    }

    /// Re-encodes its boxes in front of the payload, as a rewrite: the new head and the
    /// same payload, uncopied; or the new head alone, to be written in place.
    fn rewrite(&self, level: usize, kind: TrackKind, last_version: bool) -> Output {
        let mut head = Vec::with_capacity(self.fragment.moof.encoded_len() + 16);
        self.fragment.encode_head(self.payload_len, &mut head);
        let head = Bytes::from(head);
        let traf = &self.fragment.moof.traf;
        let info = FragmentInfo {
            level: LevelId(level),
            kind,
            bitrate: self.bitrate,
            start: traf.tfxd.time,
            duration: traf.tfxd.duration,
            samples: traf.trun.samples.len(),
            size: head.len() + self.payload_len,
            last_version,
        };
        let path = self.path.clone();
        match &self.payload {
            Some(payload) => Output::RewriteFragment {
                path,
                data: FragmentBytes::pieces_after(head, payload.clone()),
                info,
            },
            None => Output::RewriteFragmentHead { path, head, info },
        }
    }
}

/// What the presentation keeps per level and track kind from one fragment to the next.
#[derive(Debug, Default)]
struct TrackState {
    /// The `mfhd` sequence number of the newest fragment.
    sequence: u32,
    /// Live: the newest fragments, rewritten as later ones complete.
    kept: VecDeque<KeptFragment>,
    /// How many leading fragments have been removed from disk.
    removed: usize,
    /// After [`Presentation::resume`]: where the track ended on disk, until its first new
    /// fragment closes the gap to it.
    resumed_end: Option<u64>,
}

#[derive(Debug)]
pub struct Presentation {
    options: PresentationOptions,
    levels: Vec<Level>,
    names: Vec<String>,
    outputs: VecDeque<Output>,
    /// Per level and kind.
    tracks: BTreeMap<(usize, TrackKind), TrackState>,
    last_manifest: Option<String>,
    /// Per audio stream and bitrate, the start of the newest audio fragment written: levels
    /// carrying the same audio (one encoder's renditions) write each fragment once.
    audio_written: BTreeMap<(usize, u32), u64>,
    /// The audio `StreamIndex`es, in the order their first fragments closed: one per language.
    audio_streams: Vec<StreamName>,
    /// The text `StreamIndex`es: one per subtitle input.
    text_streams: Vec<StreamName>,
    /// Further audio tracks of an input, by (its level, track id): the level carrying each.
    followers: BTreeMap<(usize, u32), usize>,
    finished: bool,
    /// Hollow ([`Presentation::set_hollow`]): the payloads of the fragments written, in
    /// the order of their [`Output::WriteFragment`]s.
    hollow: Option<VecDeque<Vec<bytes::Bytes>>>,
}

impl Presentation {
    pub fn new(options: PresentationOptions) -> Self {
        Self {
            options,
            levels: Vec::new(),
            names: Vec::new(),
            outputs: VecDeque::new(),
            tracks: BTreeMap::new(),
            last_manifest: None,
            audio_written: BTreeMap::new(),
            audio_streams: Vec::new(),
            text_streams: Vec::new(),
            followers: BTreeMap::new(),
            finished: false,
            hollow: None,
        }
    }

    /// Hollow packaging, for the just-in-time index: each [`Output::WriteFragment`] carries
    /// the fragment's head only (`moof` and `mdat` header; [`FragmentInfo::size`] is still
    /// the whole file's), and its sample payloads, in file order, wait in
    /// [`Presentation::take_payload`], so the host can tell which source bytes fill it.
    /// Not with protection (encryption needs the real bytes).
    pub fn set_hollow(&mut self) {
        self.hollow = Some(VecDeque::new());
    }

    /// Hollow: the payloads of the oldest fragment written and not yet taken.
    pub fn take_payload(&mut self) -> Option<Vec<bytes::Bytes>> {
        self.hollow.as_mut()?.pop_front()
    }

    pub fn options(&self) -> &PresentationOptions {
        &self.options
    }

    /// Adds an input as a quality level. `name` is used in messages; bitrates must differ
    /// because players tell quality levels apart by bitrate and URLs contain it.
    pub fn add_quality_level(
        &mut self,
        name: &str,
        bitrate: u32,
    ) -> Result<LevelId, PresentationError> {
        if bitrate == 0 {
            return Err(error(
                PresentationErrorKind::Usage,
                format!("{name}: bitrate must be above 0"),
            ));
        }
        if let Some(i) = self.levels.iter().position(|l| l.bitrate == bitrate) {
            return Err(error(
                PresentationErrorKind::Usage,
                format!(
                    "{name} and {} both have bitrate {bitrate}; each quality level needs its own",
                    self.names[i]
                ),
            ));
        }
        // Each protected track needs its own IV tag (crypto::cenc).
        if self.options.protection.is_some() && self.levels.len() >= cenc::MAX_PROTECTED_LEVELS {
            return Err(error(
                PresentationErrorKind::Usage,
                format!(
                    "{name}: a protected presentation has at most {} quality levels",
                    cenc::MAX_PROTECTED_LEVELS
                ),
            ));
        }
        self.levels.push(Level::new(bitrate));
        self.names.push(String::from(name));
        Ok(LevelId(self.levels.len() - 1))
    }

    /// Adds a subtitle input: its cues become a text `StreamIndex` whose fragments follow the
    /// presentation's video fragments. `language` is the file's (see
    /// [`text::sidecar_language`] for reading it from a file name).
    pub fn add_text_level(
        &mut self,
        name: &str,
        language: Option<Language>,
    ) -> Result<LevelId, PresentationError> {
        if self.options.live {
            return Err(error(
                PresentationErrorKind::Usage,
                format!("{name}: subtitle files are packaged on demand only"),
            ));
        }
        let stream = streams::new_name(&self.text_streams, "textstream", language);
        self.text_streams.push(stream);
        let mut level = Level::new(text::TEXT_BITRATE);
        level.stream = Some(self.text_streams.len() - 1);
        level.text_level = true;
        self.levels.push(level);
        self.names.push(String::from(name));
        Ok(LevelId(self.levels.len() - 1))
    }

    fn level_mut(&mut self, id: LevelId) -> Result<&mut Level, PresentationError> {
        if self.finished {
            return Err(error(
                PresentationErrorKind::Usage,
                String::from("presentation already finished"),
            ));
        }
        self.levels.get_mut(id.0).ok_or_else(|| {
            error(
                PresentationErrorKind::Usage,
                String::from("unknown quality level"),
            )
        })
    }

    /// Feeds one demuxer event for a level (tracks, codec changes, samples; seeks are the
    /// host's business and ignored here).
    pub fn handle_demux_event(
        &mut self,
        id: LevelId,
        event: DemuxEvent,
    ) -> Result<(), PresentationError> {
        match event {
            DemuxEvent::Track(info) => self.add_track(id, info),
            DemuxEvent::TrackChanged(info) => self.change_track(id, info),
            DemuxEvent::Sample(s) => self.push_sample(id, s),
            DemuxEvent::Ignored { track, reason } => {
                self.ignore_track(id, track, reason);
                Ok(())
            }
            DemuxEvent::Seek(_) => Ok(()),
        }
    }

    fn ignore_track(&mut self, id: LevelId, track: u32, reason: String) {
        let level = self.names.get(id.0).cloned().unwrap_or_default();
        self.outputs.push_back(Output::Event(Event::TrackIgnored {
            level,
            track,
            reason,
        }));
    }

    /// Announces a track. An input's first video track is packaged; each of its audio
    /// tracks becomes a stream of its language (the first joins `audio`); a further video
    /// track, or a subtitle track inside a media input, is ignored with
    /// [`Event::TrackIgnored`]. A track announced again is a change of its configuration.
    pub fn add_track(&mut self, id: LevelId, info: TrackInfo) -> Result<(), PresentationError> {
        let kind = info.kind();
        let level = self.level_mut(id)?;
        let is_text_level = level.text_level;
        if is_text_level != (kind == TrackKind::Text) {
            let reason = match kind {
                TrackKind::Text => {
                    "a subtitle track inside a media file (give subtitles as SRT or WebVTT files)"
                }
                _ => "a subtitle input carries text only",
            };
            self.ignore_track(id, info.id, String::from(reason));
            return Ok(());
        }
        if level.track(kind).is_none() {
            level.add_track(info);
            return Ok(());
        }
        if level.track(kind).is_some_and(|t| t.info.id == info.id) {
            // Announced again (a live source's new parameter sets): a change, if any.
            return self.change_track(id, info);
        }
        let (bitrate, follows) = (level.bitrate, level.follows);
        match kind {
            TrackKind::Audio if follows.is_none() => {
                if let Some(&f) = self.followers.get(&(id.0, info.id)) {
                    self.levels[f].add_track(info);
                    return Ok(());
                }
                let further = self.followers_of(id.0).len();
                if further + 1 >= MAX_AUDIO_TRACKS {
                    let reason = format!("more than {MAX_AUDIO_TRACKS} audio tracks in one input");
                    self.ignore_track(id, info.id, reason);
                    return Ok(());
                }
                // A further language is a level of its own, with its own IV tag when
                // protected; past the tags there are, it is said, not written in the clear.
                if self.options.protection.is_some()
                    && self.levels.len() >= cenc::MAX_PROTECTED_LEVELS
                {
                    let reason = format!(
                        "a protected presentation has at most {} tracks",
                        cenc::MAX_PROTECTED_LEVELS
                    );
                    self.ignore_track(id, info.id, reason);
                    return Ok(());
                }
                let mut follower = Level::new(bitrate);
                follower.follows = Some(id.0);
                follower.add_track(info.clone());
                let name = format!("{} (track {})", self.names[id.0], info.id);
                self.levels.push(follower);
                self.names.push(name);
                self.followers
                    .insert((id.0, info.id), self.levels.len() - 1);
            }
            _ => self.ignore_track(
                id,
                info.id,
                format!(
                    "a second {} track (an input's first is packaged)",
                    kind.as_str()
                ),
            ),
        }
        Ok(())
    }

    fn change_track(&mut self, id: LevelId, info: TrackInfo) -> Result<(), PresentationError> {
        let id = match self.followers.get(&(id.0, info.id)) {
            Some(&f) => LevelId(f),
            None => id,
        };
        let name = self.names.get(id.0).cloned().unwrap_or_default();
        let level = self.level_mut(id)?;
        let kind = info.kind();
        match level.track_mut(kind).as_mut() {
            Some(t) if t.info.id == info.id => {
                if t.info.codec != info.codec {
                    t.info.codec = info.codec;
                    self.outputs
                        .push_back(Output::Event(Event::CodecChanged { level: name, kind }));
                }
                Ok(())
            }
            // Another track of the kind: a further language, as when first announced.
            Some(_) => self.add_track(id, info),
            None => {
                level.add_track(info);
                Ok(())
            }
        }
    }

    /// Pushes a sample of an announced track (samples of ignored tracks are dropped).
    pub fn push_sample(&mut self, id: LevelId, sample: Sample) -> Result<(), PresentationError> {
        if let Some(&f) = self.followers.get(&(id.0, sample.track)) {
            return self.push_following(f, sample);
        }
        let rule = self.cut_rule();
        // Live inputs of one presentation come from one encoder with one clock: the first
        // input to start fixes the origin for all, so their fragments share boundaries.
        let shared_origin = match self.options.live {
            true => self.levels.iter().find_map(Level::origin),
            false => None,
        };
        let level = self.level_mut(id)?;
        let Some(kind) = level.kind_of(sample.track) else {
            return Ok(());
        };
        let mut closed = Vec::new();
        let mut notes = Vec::new();
        if let (Some(origin), None, false) = (shared_origin, level.origin(), level.resuming()) {
            level.adopt_origin(origin, &rule, &mut closed, &mut notes);
        }
        level.push(kind, sample, &rule, &mut closed, &mut notes);
        let video_ends = video_ends(&closed);
        self.after_push(id.0, closed, notes)?;
        self.sync_followers(id.0, &video_ends)
    }

    /// A sample of a further audio track of an input, for the level carrying it.
    fn push_following(&mut self, f: usize, sample: Sample) -> Result<(), PresentationError> {
        let rule = self.cut_rule();
        let parent = self.levels[f].follows.and_then(|p| self.levels[p].origin());
        let level = self.level_mut(LevelId(f))?;
        let mut closed = Vec::new();
        let mut notes = Vec::new();
        if let (Some(origin), None) = (parent, level.origin()) {
            level.adopt_origin(origin, &rule, &mut closed, &mut notes);
        }
        level.push(TrackKind::Audio, sample, &rule, &mut closed, &mut notes);
        self.after_push(f, closed, notes)
    }

    /// The levels carrying further audio tracks of a level's input.
    fn followers_of(&self, level: usize) -> Vec<usize> {
        self.followers
            .range((level, 0)..=(level, u32::MAX))
            .map(|(_, &f)| f)
            .collect()
    }

    /// Hands a level's origin and video progress to the levels following it, so that their
    /// audio shares its timeline and is cut where its video is.
    fn sync_followers(
        &mut self,
        parent: usize,
        video_ends: &[i64],
    ) -> Result<(), PresentationError> {
        if self.followers.is_empty() {
            return Ok(());
        }
        let rule = self.cut_rule();
        let origin = self.levels[parent].origin();
        let watermark = self.levels[parent].video_watermark();
        let followers = self.followers_of(parent);
        for f in followers {
            let mut closed = Vec::new();
            let mut notes = Vec::new();
            let level = &mut self.levels[f];
            if level.finished {
                continue;
            }
            if let (Some(origin), None) = (origin, level.origin()) {
                level.adopt_origin(origin, &rule, &mut closed, &mut notes);
            }
            if level.origin().is_some() {
                level.follow_video(watermark, video_ends, &rule, &mut closed, &mut notes);
            }
            self.after_push(f, closed, notes)?;
        }
        Ok(())
    }

    /// Ends one input (a file ended, a live source stopped for good) without ending the
    /// others: everything it brought is packaged.
    pub fn finish_level(&mut self, id: LevelId) -> Result<(), PresentationError> {
        self.end_level(id, false)
    }

    /// A live input's source went away and may come back ([`Presentation::restart_level`]):
    /// as [`Presentation::finish_level`], but its video ends on a whole fragment and its
    /// audio with the video, so the returning source continues every level's timeline
    /// without a hole or a misaligned fragment (see `Level::finish`).
    pub fn lose_level(&mut self, id: LevelId) -> Result<(), PresentationError> {
        self.end_level(id, self.options.live)
    }

    fn end_level(&mut self, id: LevelId, lost: bool) -> Result<(), PresentationError> {
        let rule = self.cut_rule();
        let level = self.level_mut(id)?;
        if level.finished {
            return Ok(());
        }
        let mut closed = Vec::new();
        let mut notes = Vec::new();
        level.finish(&rule, &mut closed, &mut notes, lost);
        let video_ends = video_ends(&closed);
        self.after_push(id.0, closed, notes)?;
        self.sync_followers(id.0, &video_ends)?;
        let followers = self.followers_of(id.0);
        for f in followers {
            self.end_level(LevelId(f), lost)?;
        }
        Ok(())
    }

    /// A live input whose source went away ([`Presentation::lose_level`]) came back: its
    /// timeline continues where it stopped, without a gap or an overlap.
    pub fn restart_level(&mut self, id: LevelId) -> Result<(), PresentationError> {
        // Every level resumes at the presentation's end, so levels that lost their source a
        // frame apart still share fragment times afterwards.
        let end = self.levels.iter().filter_map(Level::resume_point).max();
        self.level_mut(id)?.restart(end);
        self.await_resume_gap(id.0);
        let followers = self.followers_of(id.0);
        for f in followers {
            self.levels[f].restart(end);
            self.await_resume_gap(f);
        }
        Ok(())
    }

    /// The returning source's first fragments land a little after where each track ended
    /// (at the end of the level's longest track, or another level's): as after a host
    /// restart, the gap is closed by stretching the track's last fragment
    /// ([`Presentation::close_resume_gap`]).
    fn await_resume_gap(&mut self, level: usize) {
        let offset = self.options.time_offset;
        for kind in [TrackKind::Video, TrackKind::Audio] {
            let end = self.levels[level]
                .track(kind)
                .and_then(|t| t.chunks.last())
                .map(|&(s, d)| s.saturating_add(d).saturating_add(offset));
            if let (Some(end), Some(track)) = (end, self.tracks.get_mut(&(level, kind))) {
                track.resumed_end = Some(end);
            }
        }
    }

    /// Ends the presentation: flushes every input and writes the final manifest (VOD, or a
    /// live presentation closed as VOD).
    pub fn finish(&mut self) -> Result<(), PresentationError> {
        for i in 0..self.levels.len() {
            self.end_level(LevelId(i), false)?;
        }
        self.finished = true;
        self.check_tracks_match()?;
        if self.levels.iter().all(|l| {
            l.video.as_ref().is_none_or(|t| t.chunks.is_empty())
                && l.audio.as_ref().is_none_or(|t| t.chunks.is_empty())
        }) {
            return Err(error(
                PresentationErrorKind::Empty,
                String::from(if self.levels.iter().any(|l| l.text_level) {
                    "no audio or video samples to package: subtitles need a media input"
                } else {
                    "no samples to package"
                }),
            ));
        }
        self.emit_text()?;
        self.settle_kept();
        let manifest = self.build_manifest(true)?;
        self.emit_manifest(manifest);
        Ok(())
    }

    /// The next thing for the host to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The manifest as it would be written now (for inspection and for hosts that serve it
    /// from memory).
    pub fn manifest(&self) -> Result<Manifest, PresentationError> {
        self.build_manifest(self.finished)
    }

    fn cut_rule(&self) -> CutRule {
        CutRule {
            chunk_length: self.options.chunk_length.min(i64::MAX as u64) as i64,
            chunk_on_idr: self.options.chunk_on_idr,
            limits: Limits {
                duration: self.options.fragment_duration_limit().min(i64::MAX as u64) as i64,
                bytes: self.options.max_fragment_bytes,
            },
        }
    }

    fn after_push(
        &mut self,
        level: usize,
        closed: Vec<ClosedFragment>,
        notes: Vec<LevelNote>,
    ) -> Result<(), PresentationError> {
        for note in notes {
            let name = self.names[level].clone();
            let event = match note {
                LevelNote::Dropped(kind, why) => {
                    let reason = match why {
                        Accepted::NotMonotonic => "decode time does not advance",
                        Accepted::WaitingForKeyframe => "waiting for the first keyframe",
                        Accepted::BeforeStart => "earlier than the presentation start",
                        Accepted::Yes => continue,
                    };
                    Event::SampleDropped {
                        level: name,
                        kind,
                        reason,
                    }
                }
                LevelNote::Cut(kind, why) => Event::FragmentCut {
                    level: name,
                    kind,
                    reason: match why {
                        ForcedCut::Duration => {
                            "no fragment boundary within the maximum fragment duration"
                        }
                        ForcedCut::Size => "the fragment reached the maximum fragment size",
                    },
                },
            };
            self.outputs.push_back(Output::Event(event));
        }
        let any = !closed.is_empty();
        for c in closed {
            self.emit_fragment(level, c);
        }
        if any && self.options.live {
            self.publish_live()?;
        }
        Ok(())
    }

    fn emit_fragment(&mut self, level: usize, c: ClosedFragment) {
        if c.kind == TrackKind::Audio && self.levels[level].stream.is_none() {
            let stream = self.audio_stream_for(level);
            self.levels[level].stream = Some(stream);
        }
        if c.kind == TrackKind::Audio && self.levels[level].audio_bitrate.is_none() {
            self.levels[level].audio_bitrate = Some(self.audio_bitrate_for(level, &c));
        }
        let bitrate = self.levels[level].bitrate_of(c.kind);
        let stream = self.stream_of(level, c.kind);
        let start = c.start.saturating_add(self.options.time_offset);
        let resumed_end = self
            .tracks
            .get_mut(&(level, c.kind))
            .and_then(|t| t.resumed_end.take());
        if let Some(end) = resumed_end {
            self.close_resume_gap(level, c.kind, end, start);
        }
        // Levels carrying one audio rendition (an encoder's renditions share their audio)
        // write each of its fragments once: whichever closes it first; a level that joins
        // mid-fragment skips its partial one.
        let duplicate = match stream {
            StreamKey::Audio(s) => match self.audio_written.get(&(s, bitrate)) {
                Some(&end) if start < end => true,
                _ => {
                    self.audio_written.insert((s, bitrate), start + c.duration);
                    false
                }
            },
            _ => false,
        };
        let path = self
            .options
            .layout
            .fragment_path(self.stream_name(stream), bitrate, start);
        if duplicate {
            self.announce_to_kept(level, c.kind, start, c.duration);
            return;
        }
        let track = self.tracks.entry((level, c.kind)).or_default();
        track.sequence += 1;
        let sequence_number = track.sequence;
        let (tfhd, trun) = match c.kind {
            TrackKind::Video => (Tfhd::video(1), Trun::video(c.samples)),
            TrackKind::Audio => (Tfhd::audio(2), Trun::audio(c.samples)),
            TrackKind::Text => (Tfhd::text(3), Trun::audio(c.samples)),
        };
        let samples = trun.samples.len();
        let mut fragment = Fragment {
            moof: Moof {
                mfhd: Mfhd { sequence_number },
                traf: Traf {
                    tfhd,
                    trun,
                    tfxd: Tfxd {
                        time: start,
                        duration: c.duration,
                    },
                    tfrf: self.options.live.then(|| Tfrf {
                        entries: Vec::new(),
                        room: if self.options.rewrite_in_place {
                            self.options.lookahead
                        } else {
                            0
                        },
                    }),
                    senc: None,
                    saiz: None,
                    saio: None,
                },
            },
            mdat: Vec::new(),
        };
        // Protected: plan the IVs and subsamples from the clear samples (the boxes go into
        // the moof, in front of the payload), encrypt the payload once it is copied.
        let protection = self.options.protection.as_ref().and_then(|p| {
            let tag = cenc::iv_tag(level, c.kind)?;
            Some((
                p,
                cenc::plan(
                    c.kind,
                    tag,
                    p.iv_salt,
                    start,
                    c.payload.iter().map(|b| &b[..]),
                ),
            ))
        });
        if let Some((_, planned)) = &protection {
            let traf = &mut fragment.moof.traf;
            traf.senc = Some(planned.senc.clone());
            traf.saiz = Some(planned.saiz.clone());
            traf.saio = Some(planned.saio);
        }
        // The payload goes out as the samples' own buffers, uncopied (`FragmentBytes`); only
        // a protected one is copied, to be encrypted in place.
        let payload_len: usize = c.payload.iter().map(|b| b.len()).sum();
        let mut head = Vec::with_capacity(fragment.moof.encoded_len() + 16);
        fragment.encode_head(payload_len, &mut head);
        let payload: Arc<[Bytes]> = if let Some(payloads) = &mut self.hollow {
            // The host fills the payload in; the head says how long it is.
            payloads.push_back(c.payload);
            Arc::from([])
        } else if let Some((p, planned)) = &protection {
            let mut mdat = Vec::with_capacity(payload_len);
            c.payload.iter().for_each(|b| mdat.extend_from_slice(b));
            let sizes = c.payload.iter().map(|b| b.len());
            cenc::encrypt(p, &planned.senc, sizes, &mut mdat);
            Arc::from([Bytes::from(mdat)])
        } else {
            Arc::from(c.payload)
        };
        let size = head.len() + payload_len;
        let data = FragmentBytes::pieces_after(Bytes::from(head), payload.clone());
        let info = FragmentInfo {
            level: LevelId(level),
            kind: c.kind,
            bitrate,
            start,
            duration: c.duration,
            samples,
            size,
            last_version: !self.options.live || self.options.lookahead == 0,
        };
        self.outputs.push_back(Output::WriteFragment {
            path: path.clone(),
            data,
            info,
        });
        self.outputs.push_back(Output::Event(Event::FragmentClosed {
            path: path.clone(),
            kind: c.kind,
            bitrate,
            start,
            duration: c.duration,
            samples,
        }));
        if self.options.live {
            self.announce_to_kept(level, c.kind, start, c.duration);
            let lookahead = usize::from(self.options.lookahead);
            let kept = &mut self.tracks.entry((level, c.kind)).or_default().kept;
            // Kept for the tfrf rewrites that follow, sharing the payload just output (or
            // not at all: rewritten in place, the payload is the host's alone now).
            kept.push_back(KeptFragment {
                path,
                bitrate,
                fragment,
                payload: (!self.options.rewrite_in_place).then_some(payload),
                payload_len,
            });
            while kept.len() > lookahead {
                kept.pop_front();
            }
        }
    }

    /// Live: the level's kept fragments announce a new one in their tfrf and are rewritten.
    fn announce_to_kept(&mut self, level: usize, kind: TrackKind, start: u64, duration: u64) {
        if !self.options.live {
            return;
        }
        let entry = TfrfEntry {
            time: start,
            duration,
        };
        let Some(track) = self.tracks.get_mut(&(level, kind)) else {
            return;
        };
        let lookahead = usize::from(self.options.lookahead);
        for k in track.kept.iter_mut() {
            let announced = match k.fragment.moof.traf.tfrf.as_mut() {
                Some(tfrf) => {
                    tfrf.entries.push(entry);
                    tfrf.entries.len()
                }
                None => lookahead,
            };
            self.outputs
                .push_back(k.rewrite(level, kind, announced >= lookahead));
        }
        // A fragment that announces all it will is done. It leaves at once: in a level that
        // shares its audio, the fragments after it may all be written by another level, so
        // none would push it out, and it went on gaining entries past the look-ahead.
        track.kept.retain(|k| {
            let tfrf = k.fragment.moof.traf.tfrf.as_ref();
            tfrf.is_some_and(|t| t.entries.len() < lookahead)
        });
    }

    /// The end of a live presentation: the kept fragments will announce nothing more, so
    /// their current versions are their last (written again only for hosts that keep
    /// just the last version; same bytes).
    fn settle_kept(&mut self) {
        let lookahead = usize::from(self.options.lookahead);
        for (&(level, kind), track) in self.tracks.iter_mut() {
            for k in track.kept.drain(..) {
                let announced = k
                    .fragment
                    .moof
                    .traf
                    .tfrf
                    .as_ref()
                    .map_or(lookahead, |t| t.entries.len());
                if announced < lookahead {
                    self.outputs.push_back(k.rewrite(level, kind, true));
                }
            }
        }
    }

    /// An audio track's bitrate, from its first fragment: its payload over its duration,
    /// rounded to 1 kbit/s. A level whose audio has the codec configuration of another
    /// level's and a bitrate within [`SAME_AUDIO_PERCENT`] of it carries the same rendition
    /// (one encoder feeding each video rendition the same audio) and takes its bitrate, so
    /// the rendition is announced and written once. A different audio never takes a
    /// bitrate already used for audio.
    fn audio_bitrate_for(&self, level: usize, c: &ClosedFragment) -> u32 {
        let bytes: usize = c.payload.iter().map(|b| b.len()).sum();
        let measured = match c.duration {
            0 => self.levels[level].bitrate,
            d => {
                let bps = (bytes as u128 * 8 * u128::from(MSS_TIMESCALE)) / u128::from(d);
                let kbps = u32::try_from((bps + 500) / 1000).unwrap_or(u32::MAX / 1000);
                kbps.clamp(1, u32::MAX / 1000) * 1000
            }
        };
        let codec = self.levels[level].audio.as_ref().map(|t| &t.info.codec);
        let stream = self.levels[level].stream;
        let mut used = Vec::new();
        for (i, other) in self.levels.iter().enumerate() {
            let Some(b) = other
                .audio_bitrate
                .filter(|_| i != level && other.stream == stream)
            else {
                continue;
            };
            let same_codec = other.audio.as_ref().map(|t| &t.info.codec) == codec;
            let near = u64::from(b.abs_diff(measured)) * 100
                <= u64::from(b.max(measured)) * SAME_AUDIO_PERCENT;
            if same_codec && near {
                return b;
            }
            used.push(b);
        }
        let mut b = measured;
        while used.contains(&b) {
            b = b.saturating_add(1000);
        }
        b
    }

    /// Inputs with video are the video quality levels, and must agree on carrying audio: a
    /// video rendition without the audio the others carry would have no audio to play. Inputs
    /// without video (audio files, subtitles) form or join streams of their own.
    fn check_tracks_match(&self) -> Result<(), PresentationError> {
        if self.levels.is_empty() {
            return Err(error(
                PresentationErrorKind::Empty,
                String::from("no inputs"),
            ));
        }
        let mut video_levels = self
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.video.is_some());
        let Some((first_index, first)) = video_levels.next() else {
            return Ok(());
        };
        for (i, l) in video_levels {
            let (a, b) = (first.audio.is_some(), l.audio.is_some());
            if a != b {
                let (with, without) = if a {
                    (first_index, i)
                } else {
                    (i, first_index)
                };
                return Err(error(
                    PresentationErrorKind::Mismatch,
                    format!(
                        "{} has no audio track but {} has one; every video input of a presentation needs the same tracks",
                        self.names[without], self.names[with]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The chunk timeline of one stream, common to every quality level.
    fn timeline(&self, key: StreamKey, complete: bool) -> Result<Vec<Chunk>, PresentationError> {
        let lists = self.chunk_lists(key);
        let lists: Vec<(usize, &Vec<(u64, u64)>)> = lists.iter().map(|(i, c)| (*i, c)).collect();
        let Some((first_level, first)) = lists.first().copied() else {
            return Ok(Vec::new());
        };
        let offset = self.options.time_offset;
        if complete && !self.options.live {
            // On demand, every input was packaged whole: their timelines must be identical.
            for (i, list) in &lists[1..] {
                if let Some(j) =
                    (0..first.len().max(list.len())).find(|j| list.get(*j) != first.get(*j))
                {
                    return Err(self.misaligned(key.kind(), first_level, *i, j));
                }
            }
            return Ok(first
                .iter()
                .map(|&(t, d)| Chunk {
                    t: t.saturating_add(offset),
                    d,
                })
                .collect());
        }
        // Live inputs may lose and regain their sources at slightly different moments: a chunk
        // is listed when every quality level has that exact fragment.
        let mut common: Vec<Chunk> = first
            .iter()
            .filter(|c| {
                lists[1..].iter().all(|(_, l)| {
                    l.binary_search_by_key(&c.0, |x| x.0)
                        .is_ok_and(|j| l[j] == **c)
                })
            })
            .map(|&(t, d)| Chunk {
                t: t.saturating_add(offset),
                d,
            })
            .collect();
        if !complete {
            // The newest fragments are listed once the fragments announcing them exist.
            common.truncate(
                common
                    .len()
                    .saturating_sub(usize::from(self.options.lookahead)),
            );
        }
        Ok(common)
    }

    /// Each rendition's fragments, with the first level carrying it: a level's own for
    /// video; for audio, one list per audio rendition, merged from the levels that carry
    /// it (as written: in time order, a fragment overlapping the previous one is skipped).
    fn chunk_lists(&self, stream: StreamKey) -> Vec<(usize, Vec<(u64, u64)>)> {
        let mut keys: Vec<(Option<u32>, usize)> = Vec::new();
        let mut lists: Vec<(usize, Vec<(u64, u64)>)> = Vec::new();
        let kind = stream.kind();
        for (i, l) in self.levels.iter().enumerate() {
            let Some(t) = stream_track(l, stream) else {
                continue;
            };
            let key = match (kind, l.audio_bitrate) {
                (TrackKind::Audio, Some(b)) => (Some(b), usize::MAX),
                _ => (None, i),
            };
            match keys.iter().position(|k| *k == key) {
                Some(j) => lists[j].1.extend_from_slice(&t.chunks),
                None => {
                    keys.push(key);
                    lists.push((i, t.chunks.clone()));
                }
            }
        }
        for (_, list) in lists.iter_mut() {
            list.sort_unstable();
            let mut end = 0u64;
            let mut first = true;
            list.retain(|&(t, d)| {
                let keep = first || t >= end;
                if keep {
                    first = false;
                    end = t + d;
                }
                keep
            });
        }
        lists
    }

    /// Every stream of the presentation, in manifest order: video, audio, text.
    fn streams(&self) -> Vec<StreamKey> {
        let mut out = Vec::new();
        if self.levels.iter().any(|l| l.video.is_some()) {
            out.push(StreamKey::Video);
        }
        out.extend((0..self.audio_streams.len()).map(StreamKey::Audio));
        out.extend((0..self.text_streams.len()).map(StreamKey::Text));
        out
    }

    /// The stream a level's track of this kind is in (audio: once its first fragment chose).
    fn stream_of(&self, level: usize, kind: TrackKind) -> StreamKey {
        let s = self.levels[level].stream.unwrap_or(0);
        match kind {
            TrackKind::Video => StreamKey::Video,
            TrackKind::Audio => StreamKey::Audio(s),
            TrackKind::Text => StreamKey::Text(s),
        }
    }

    /// A stream's `Name`, which its `Url` and folders carry.
    fn stream_name(&self, stream: StreamKey) -> &str {
        match stream {
            StreamKey::Video => "video",
            StreamKey::Audio(i) => self.audio_streams.get(i).map_or("audio", |s| &s.name),
            StreamKey::Text(i) => self.text_streams.get(i).map_or("textstream", |s| &s.name),
        }
    }

    fn stream_language(&self, stream: StreamKey) -> Option<Language> {
        match stream {
            StreamKey::Video => None,
            StreamKey::Audio(i) => self.audio_streams.get(i).and_then(|s| s.language),
            StreamKey::Text(i) => self.text_streams.get(i).and_then(|s| s.language),
        }
    }

    /// The audio stream a level's audio joins at its first fragment: the one of its language
    /// (the first stream also takes audio of unknown language, and audio of any language
    /// when its own is unknown) that no other track of the same input is in; else a new one.
    fn audio_stream_for(&mut self, level: usize) -> usize {
        let l = &self.levels[level];
        let root = l.follows.unwrap_or(level);
        // An audio-only input may say its language in its name only (`movie.fra.m4a`).
        let language = l.audio.as_ref().and_then(|t| t.info.language).or_else(|| {
            (l.video.is_none() && l.follows.is_none())
                .then(|| text::sidecar_language(&self.names[root]))
                .flatten()
        });
        let taken: Vec<usize> = self
            .levels
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                *i != level
                    && (self.options.separate_audio || *i == root || o.follows == Some(root))
            })
            .filter_map(|(_, o)| o.stream.filter(|_| o.audio_bitrate.is_some()))
            .collect();
        let found = self.audio_streams.iter().enumerate().position(|(i, s)| {
            !taken.contains(&i)
                && (s.language == language
                    || (i == 0 && (s.language.is_none() || language.is_none())))
        });
        match found {
            Some(i) => i,
            None => {
                let name = streams::new_name(&self.audio_streams, "audio", language);
                self.audio_streams.push(name);
                self.audio_streams.len() - 1
            }
        }
    }

    fn misaligned(&self, kind: TrackKind, a: usize, b: usize, j: usize) -> PresentationError {
        let chunk = |l: usize| self.levels[l].track(kind).and_then(|t| t.chunks.get(j));
        let count = |l: usize| self.levels[l].track(kind).map_or(0, |t| t.chunks.len());
        let at =
            |(t, d): &(u64, u64)| format!("{:.3} s (+{:.3} s)", *t as f64 / 1e7, *d as f64 / 1e7);
        let kind_name = kind.as_str();
        let (na, nb) = (&self.names[a], &self.names[b]);
        let message = match (chunk(a), chunk(b)) {
            (Some(x), Some(y)) => format!(
                "{kind_name} fragment {} is at {} in {nb} but at {} in {na}; encode every input with the same keyframe positions",
                j + 1,
                at(y),
                at(x),
            ),
            // One input ends early: say how long each is.
            (x, y) => {
                let (longer, shorter, c) = match (x, y) {
                    (Some(c), _) => (na, nb, c),
                    (_, Some(c)) => (nb, na, c),
                    _ => (na, nb, &(0, 0)),
                };
                format!(
                    "{longer} has {} {kind_name} fragments but {shorter} only {} (the next would be at {}); every input needs the same length and keyframe positions",
                    count(a).max(count(b)),
                    count(a).min(count(b)),
                    at(c),
                )
            }
        };
        error(PresentationErrorKind::Mismatch, message)
    }

    fn build_manifest(&self, complete: bool) -> Result<Manifest, PresentationError> {
        let live_manifest = self.options.live && !complete;
        let mut stream_indexes = Vec::new();
        let mut duration = 0u64;
        for stream in self.streams() {
            let kind = stream.kind();
            let levels: Vec<(&Level, &TrackInfo)> = self
                .levels
                .iter()
                .filter_map(|l| stream_track(l, stream).map(|t| (l, &t.info)))
                .collect();
            if levels.is_empty() {
                continue;
            }
            let mut chunks = self.timeline(stream, complete)?;
            // A closed rolling presentation keeps its window: older files are gone.
            if let (true, Playlist::Rolling { length, .. }) =
                (self.options.live, self.options.playlist)
            {
                let drop = chunks.len().saturating_sub(length);
                chunks.drain(..drop);
            }
            if let Some(last) = chunks.last() {
                let end = last.t.saturating_add(last.d);
                duration = duration.max(end.saturating_sub(self.options.time_offset));
            }
            // Audio: one quality level per rendition, at its own bitrate (a level is in an
            // audio stream once its first fragment measured it).
            let mut announced: Vec<(u32, &TrackInfo)> = Vec::new();
            for (l, info) in &levels {
                let b = l.bitrate_of(kind);
                if kind == TrackKind::Audio && announced.iter().any(|(x, _)| *x == b) {
                    continue;
                }
                announced.push((b, info));
            }
            let quality_levels: Vec<QualityLevel> = announced
                .iter()
                .enumerate()
                .map(|(i, (b, info))| QualityLevel::for_codec(i as u32, *b, &info.codec))
                .collect();
            let max_width = quality_levels.iter().filter_map(|q| q.max_width).max();
            let max_height = quality_levels.iter().filter_map(|q| q.max_height).max();
            let name = self.stream_name(stream);
            stream_indexes.push(StreamIndex {
                kind,
                name: String::from(name),
                language: self
                    .stream_language(stream)
                    .map(|l| String::from(l.as_str())),
                subtype: (kind == TrackKind::Text).then(|| String::from(text::SUBTYPE)),
                url: self.options.layout.url_template(name),
                timescale: MSS_TIMESCALE,
                max_width,
                max_height,
                quality_levels,
                chunks,
            });
        }
        let dvr = match self.options.playlist {
            Playlist::Appending => 0,
            Playlist::Rolling { length, .. } => length as u64 * self.options.chunk_length,
        };
        Ok(Manifest {
            major_version: 2,
            minor_version: 0,
            timescale: MSS_TIMESCALE,
            duration: if live_manifest { 0 } else { duration },
            is_live: live_manifest,
            lookahead_count: live_manifest.then_some(u32::from(self.options.lookahead)),
            dvr_window_length: live_manifest.then_some(dvr),
            stream_indexes,
            protection: self
                .options
                .protection
                .as_ref()
                .map(|p| manifest::ProtectionHeader {
                    system_id: String::from(crate::crypto::playready::SYSTEM_ID),
                    data: crate::crypto::playready::protection_header(p),
                }),
        })
    }

    fn emit_manifest(&mut self, m: Manifest) {
        let xml = manifest::write(&m);
        if self.last_manifest.as_deref() == Some(xml.as_str()) {
            return;
        }
        let path = self
            .options
            .layout
            .manifest_path(&self.options.manifest_name);
        self.last_manifest = Some(xml.clone());
        self.outputs.push_back(Output::WriteManifest {
            path: path.clone(),
            xml,
        });
        self.outputs
            .push_back(Output::Event(Event::ManifestUpdated { path }));
    }

    /// Rewrites the live manifest when fragments became publishable, and removes files that
    /// left a rolling window.
    fn publish_live(&mut self) -> Result<(), PresentationError> {
        let m = self.build_manifest(false)?;
        // A rolling window smaller than the start count would never start.
        let window = match self.options.playlist {
            Playlist::Appending => usize::MAX,
            Playlist::Rolling { length, .. } => length,
        };
        let start = self.options.live_start_chunks.min(window).max(1);
        // Every audio track must be in its stream (its first fragment closed) before the first
        // manifest: a stream appearing later would be one a player never learns of.
        let audio_pending = self
            .levels
            .iter()
            .any(|l| l.audio.is_some() && l.stream.is_none());
        if self.last_manifest.is_none()
            && (audio_pending || m.stream_indexes.iter().any(|s| s.chunks.len() < start))
        {
            return Ok(());
        }
        self.emit_manifest(m);
        if let Playlist::Rolling {
            length,
            stale_retention,
        } = self.options.playlist
        {
            for stream in self.streams() {
                let kind = stream.kind();
                let published = self.timeline(stream, false)?;
                let keep_from = published.len().saturating_sub(length + stale_retention);
                // Files older than the oldest kept chunk go, level by level (their lists may
                // differ after a source was lost and regained).
                let Some(cutoff) = published
                    .get(keep_from)
                    .map(|c| c.t.saturating_sub(self.options.time_offset))
                else {
                    continue;
                };
                let name = String::from(self.stream_name(stream));
                for (i, level) in self.levels.iter().enumerate() {
                    let Some(track) = stream_track(level, stream) else {
                        continue;
                    };
                    let removed = &mut self.tracks.entry((i, kind)).or_default().removed;
                    while let Some(&(t, _)) = track.chunks.get(*removed).filter(|c| c.0 < cutoff) {
                        let path = self.options.layout.fragment_path(
                            &name,
                            level.bitrate_of(kind),
                            t.saturating_add(self.options.time_offset),
                        );
                        self.outputs.push_back(Output::Remove { path });
                        *removed += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A level's track in a stream, if it has one there.
fn stream_track(l: &Level, stream: StreamKey) -> Option<&level::Track> {
    match stream {
        StreamKey::Video => l.video.as_ref(),
        StreamKey::Audio(s) => l.audio.as_ref().filter(|_| l.stream == Some(s)),
        StreamKey::Text(s) => l.text.as_ref().filter(|_| l.stream == Some(s)),
    }
}

/// Where the video fragments among `closed` end: the boundaries a following level's audio
/// is cut at.
fn video_ends(closed: &[ClosedFragment]) -> Vec<i64> {
    closed
        .iter()
        .filter(|c| c.kind == TrackKind::Video)
        .map(|c| c.start.saturating_add(c.duration).min(i64::MAX as u64) as i64)
        .collect()
}

#[cfg(test)]
mod protection_tests;
#[cfg(test)]
mod resume_tests;
#[cfg(test)]
mod streams_tests;
#[cfg(test)]
mod tests;
