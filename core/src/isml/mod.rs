//! Smooth Streaming live ingest, the writing side: the fMP4 stream an encoder POSTs to a
//! publishing point (`<pp>.isml/Streams(<id>)`, `reference/smooth-ingest.md`).
//!
//! One [`IsmlMuxer`] makes one POST body: [`IsmlMuxer::header`] (`ftyp`, the
//! LiveServerManifestBox, `moov`), sent first on every connection, then one
//! [`IsmlMuxer::fragment`] per packaged fragment (`moof` with one `traf`: `tfhd`, `trun`,
//! `tfxd`, no `tfrf`; and `mdat`), and [`END_OF_STREAM`] (the empty `mfra`).
//!
//! The fragments are the packager's own ([`crate::fragment`], as the presentation writes
//! them for files): only the track id, the sequence number and the look-ahead change. The
//! header depends only on the tracks, so a reconnect resends it byte for byte, as the
//! protocol requires.
//!
//! ```text
//! ftyp                 ftyp.rs
//! uuid LSM (SMIL)      lsm.rs    (its uuid: demux::mp4::lsm::LSM_UUID, the reading side)
//! moov                 moov/
//! moof + mdat          crate::fragment
//! mfra (empty)         END_OF_STREAM
//! ```

pub mod ftyp;
pub mod lsm;
pub mod moov;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fragment::{Fragment, ParseError, Tfhd};
use crate::media::{CodecConfig, Language, TrackKind};

/// The empty `mfra` that ends a stream (MS-SSTR 3.3.4.2; FFmpeg writes the same 8 bytes).
pub const END_OF_STREAM: [u8; 8] = [0, 0, 0, 8, b'm', b'f', b'r', b'a'];

/// One track of an ingest stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsmlTrack {
    /// `tkhd`/`tfhd` track_ID and the LSM's `trackID`; unique in the stream, not 0.
    pub track_id: u32,
    /// The LSM's `trackName`: the name clients see in `Fragments(<name>=t)`.
    pub name: String,
    /// H.264 or AAC.
    pub codec: CodecConfig,
    /// The LSM's `systemBitrate` (bits/s), which becomes the client's `QualityLevels(...)`.
    pub bitrate: u32,
    pub language: Option<Language>,
}

/// Why a stream cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsmlError(pub String);

impl fmt::Display for IsmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IsmlError {}

/// Writes one ingest stream (one POST body).
#[derive(Debug, Clone)]
pub struct IsmlMuxer {
    tracks: Vec<IsmlTrack>,
    header: Vec<u8>,
    /// The last `mfhd` sequence number written: it counts across all tracks of the stream
    /// (one `traf` per `moof`, as FFmpeg's `ismv` muxer writes).
    sequence: u32,
}

impl IsmlMuxer {
    /// A stream of these tracks (video and audio only), described as `creator` in the LSM.
    pub fn new(creator: &str, tracks: Vec<IsmlTrack>) -> Result<Self, IsmlError> {
        if tracks.is_empty() {
            return Err(IsmlError(String::from("an ingest stream needs a track")));
        }
        for (i, t) in tracks.iter().enumerate() {
            if matches!(t.codec, CodecConfig::Text(_)) {
                return Err(IsmlError(format!(
                    "track {}: text tracks are not pushed",
                    t.track_id
                )));
            }
            if t.track_id == 0 || tracks[..i].iter().any(|o| o.track_id == t.track_id) {
                return Err(IsmlError(format!(
                    "track id {} is 0 or repeated",
                    t.track_id
                )));
            }
        }
        let mut header = Vec::new();
        ftyp::encode(&mut header);
        lsm::encode(creator, &tracks, &mut header);
        moov::encode(&tracks, &mut header);
        Ok(Self {
            tracks,
            header,
            sequence: 0,
        })
    }

    pub fn tracks(&self) -> &[IsmlTrack] {
        &self.tracks
    }

    /// `ftyp` + LSM + `moov`: the start of every connection's body, always the same bytes.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The id of the stream's first track of this kind.
    pub fn track_of(&self, kind: TrackKind) -> Option<u32> {
        self.tracks
            .iter()
            .find(|t| t.codec.kind() == kind)
            .map(|t| t.track_id)
    }

    /// A packaged fragment as this stream's `moof` + `mdat`: the track id, the next
    /// sequence number, no `tfrf` (the publishing point adds its own look-ahead). Its
    /// `tfxd` (time and duration, 10 MHz) is kept. `None` for a track this stream lacks.
    pub fn fragment(&mut self, track_id: u32, mut fragment: Fragment) -> Option<Vec<u8>> {
        let track = self.tracks.iter().find(|t| t.track_id == track_id)?;
        self.sequence = self.sequence.wrapping_add(1);
        let traf = &mut fragment.moof.traf;
        traf.tfhd = match track.codec.kind() {
            TrackKind::Video => Tfhd::video(track_id),
            _ => Tfhd::audio(track_id),
        };
        traf.tfrf = None;
        fragment.moof.mfhd.sequence_number = self.sequence;
        Some(fragment.encode())
    }

    /// [`IsmlMuxer::fragment`] of a fragment file's bytes, as the presentation writes them.
    pub fn fragment_bytes(
        &mut self,
        track_id: u32,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, ParseError> {
        Ok(self.fragment(track_id, Fragment::decode(data)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::h264;
    use crate::demux::mp4::Mp4Demuxer;
    use crate::demux::{DemuxEvent, Demuxer};
    use crate::fragment::{trun, Mfhd, Moof, Tfrf, TfrfEntry, Tfxd, Traf, Trun, TrunSample};
    use crate::media::AacConfig;
    use alloc::vec;

    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];

    pub(crate) fn avc_track(track_id: u32) -> IsmlTrack {
        let avc = h264::avc_config(vec![SPS.to_vec()], vec![vec![0x68, 0xeb, 0xe3, 0xcb]])
            .expect("a valid SPS");
        IsmlTrack {
            track_id,
            name: String::from("video"),
            codec: CodecConfig::H264(avc),
            bitrate: 500_000,
            language: None,
        }
    }

    pub(crate) fn aac_track(track_id: u32) -> IsmlTrack {
        IsmlTrack {
            track_id,
            name: String::from("audio"),
            codec: CodecConfig::Aac(AacConfig {
                asc: vec![0x11, 0x90],
                object_type: 2,
                sample_rate: 48_000,
                channels: 2,
            }),
            bitrate: 64_000,
            language: Language::new(b"eng"),
        }
    }

    /// A fragment as the presentation writes one: its own track id and sequence, a tfrf.
    fn packaged(kind: TrackKind, time: u64, samples: &[(u32, &[u8], bool)]) -> Fragment {
        let entries: Vec<TrunSample> = samples
            .iter()
            .map(|(d, data, key)| TrunSample {
                duration: *d,
                size: data.len() as u32,
                flags: match key {
                    true => trun::SYNC_SAMPLE_FLAGS,
                    false => trun::NON_SYNC_SAMPLE_FLAGS,
                },
                cts_offset: 0,
            })
            .collect();
        let duration = samples.iter().map(|s| u64::from(s.0)).sum();
        let (tfhd, trun) = match kind {
            TrackKind::Video => (Tfhd::video(1), Trun::video(entries)),
            _ => (Tfhd::audio(2), Trun::audio(entries)),
        };
        Fragment {
            moof: Moof {
                mfhd: Mfhd { sequence_number: 9 },
                traf: Traf {
                    tfhd,
                    trun,
                    tfxd: Tfxd { time, duration },
                    tfrf: Some(Tfrf {
                        entries: vec![TfrfEntry {
                            time: 1,
                            duration: 1,
                        }],
                        room: 0,
                    }),
                    senc: None,
                    saiz: None,
                    saio: None,
                },
            },
            mdat: samples.iter().flat_map(|s| s.1.iter().copied()).collect(),
        }
    }

    const IDR: &[u8] = &[0, 0, 0, 2, 0x65, 0x88];
    const P: &[u8] = &[0, 0, 0, 2, 0x41, 0x9a];

    fn stream() -> (IsmlMuxer, Vec<Vec<u8>>) {
        let mut m = IsmlMuxer::new("test", vec![avc_track(3), aac_track(4)]).expect("muxer");
        let t0 = 1_700_000_000 * 10_000_000u64;
        let frags = vec![
            m.fragment(
                3,
                packaged(
                    TrackKind::Video,
                    t0,
                    &[(400_000, IDR, true), (400_000, P, false)],
                ),
            ),
            m.fragment(
                4,
                packaged(
                    TrackKind::Audio,
                    t0,
                    &[(213_333, &[1, 2, 3], true), (213_334, &[4, 5], true)],
                ),
            ),
            m.fragment(
                3,
                packaged(TrackKind::Video, t0 + 800_000, &[(400_000, IDR, true)]),
            ),
        ];
        (
            m,
            frags
                .into_iter()
                .map(|f| f.expect("a track of the stream"))
                .collect(),
        )
    }

    #[test]
    fn fragments_are_renumbered_and_lose_their_lookahead() {
        let (mut m, frags) = stream();
        let seqs: Vec<(u32, u32, bool, u64)> = frags
            .iter()
            .map(|b| {
                let f = Fragment::decode(b).expect("decodes");
                let traf = f.moof.traf;
                (
                    f.moof.mfhd.sequence_number,
                    traf.tfhd.track_id,
                    traf.tfrf.is_some(),
                    traf.tfxd.time % 10_000_000,
                )
            })
            .collect();
        assert_eq!(
            seqs,
            [(1, 3, false, 0), (2, 4, false, 0), (3, 3, false, 800_000)]
        );
        // tfhd as PIFF wants it: default-sample-flags only (0x20).
        let f = Fragment::decode(&frags[0]).expect("decodes");
        assert_eq!(f.moof.traf.tfhd, Tfhd::video(3));
        assert!(m
            .fragment(9, packaged(TrackKind::Video, 0, &[(1, IDR, true)]))
            .is_none());
        assert_eq!(m.track_of(TrackKind::Audio), Some(4));
    }

    #[test]
    fn header_box_order_and_stability() {
        let (m, _) = stream();
        let types: Vec<[u8; 4]> = crate::fragment::header::children(m.header())
            .map(|c| c.expect("box").0.typ)
            .collect();
        assert_eq!(types, [*b"ftyp", *b"uuid", *b"moov"]);
        let again = IsmlMuxer::new("test", vec![avc_track(3), aac_track(4)]).expect("muxer");
        assert_eq!(
            again.header(),
            m.header(),
            "a reconnect resends the same bytes"
        );
    }

    #[test]
    fn bad_track_sets_are_refused() {
        assert!(IsmlMuxer::new("t", vec![]).is_err());
        assert!(IsmlMuxer::new("t", vec![avc_track(1), aac_track(1)]).is_err());
        assert!(IsmlMuxer::new("t", vec![avc_track(0)]).is_err());
        let mut text = aac_track(2);
        text.codec = CodecConfig::Text(crate::media::TextFormat::Srt);
        assert!(IsmlMuxer::new("t", vec![text]).is_err());
    }

    /// What the pusher writes is what the receiver reads (`demux::mp4::ingest`): the
    /// manifest's tracks and bitrates, every fragment's tfxd time, and the end of stream.
    #[test]
    fn the_receiver_reads_what_the_pusher_writes() {
        use crate::demux::mp4::ingest::{IngestEvent, IngestLimits, SmoothIngest};
        use crate::demux::mp4::lsm::LsmKind;
        let (m, frags) = stream();
        let mut body = m.header().to_vec();
        for f in &frags {
            body.extend_from_slice(f);
        }
        body.extend_from_slice(&END_OF_STREAM);
        let mut r = SmoothIngest::new(IngestLimits::default());
        let mut events = Vec::new();
        for part in body.chunks(1000) {
            r.push(part).expect("a valid ingest body");
            while let Some(e) = r.poll() {
                events.push(e);
            }
        }
        r.finish().expect("complete");
        while let Some(e) = r.poll() {
            events.push(e);
        }
        let Some(IngestEvent::Manifest(lsm)) = events.first() else {
            panic!("the manifest comes first: {events:?}");
        };
        let kinds: Vec<(LsmKind, u32)> = lsm.tracks.iter().map(|t| (t.kind, t.track_id)).collect();
        assert_eq!(kinds, vec![(LsmKind::Video, 3), (LsmKind::Audio, 4)]);
        let t0 = 1_700_000_000 * 10_000_000i64;
        let starts: Vec<(u32, i64)> = events
            .iter()
            .filter_map(|e| match e {
                IngestEvent::Fragment(f) => Some((f.track, f.start)),
                _ => None,
            })
            .collect();
        assert_eq!(starts, vec![(3, t0), (4, t0), (3, t0 + 800_000)]);
        assert_eq!(events.last(), Some(&IngestEvent::End));
        assert!(r.ended());
    }

    /// The whole POST body read back by the core's own MP4 demuxer, a few bytes at a time
    /// (HTTP chunks ignore box boundaries).
    #[test]
    fn demuxer_reads_the_stream_back() {
        let (m, frags) = stream();
        let mut body = m.header().to_vec();
        for f in &frags {
            body.extend_from_slice(f);
        }
        body.extend_from_slice(&END_OF_STREAM);
        for chunk in [7, 4096] {
            let mut d = Mp4Demuxer::new(false);
            let mut events = Vec::new();
            for part in body.chunks(chunk) {
                d.push(part).expect("demuxes");
                while let Some(e) = d.poll() {
                    events.push(e);
                }
            }
            d.finish().expect("complete");
            while let Some(e) = d.poll() {
                events.push(e);
            }
            let tracks: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    DemuxEvent::Track(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(tracks.len(), 2, "{events:?}");
            assert_eq!((tracks[0].id, tracks[0].timescale), (3, 10_000_000));
            assert_eq!(tracks[0].codec, avc_track(3).codec);
            assert_eq!((tracks[1].id, tracks[1].timescale), (4, 10_000_000));
            assert_eq!(tracks[1].codec, aac_track(4).codec);
            assert_eq!(tracks[1].language, Language::new(b"eng"));
            let samples: Vec<(u32, i64, bool, Vec<u8>)> = events
                .iter()
                .filter_map(|e| match e {
                    DemuxEvent::Sample(s) => Some((s.track, s.dts, s.keyframe, s.data.to_vec())),
                    _ => None,
                })
                .collect();
            let video: Vec<_> = samples.iter().filter(|s| s.0 == 3).collect();
            let audio: Vec<_> = samples.iter().filter(|s| s.0 == 4).collect();
            assert_eq!(video.len(), 3, "{samples:?}");
            assert_eq!(audio.len(), 2, "{samples:?}");
            // The demuxer takes each fragment's time from its tfxd (wall clock here).
            let t0 = 1_700_000_000 * 10_000_000i64;
            assert_eq!(
                video.iter().map(|s| s.1).collect::<Vec<_>>(),
                [t0, t0 + 400_000, t0 + 800_000]
            );
            assert_eq!(
                video.iter().map(|s| s.2).collect::<Vec<_>>(),
                [true, false, true]
            );
            assert_eq!(video[1].3, P);
            assert_eq!(audio[1].3, [4, 5]);
        }
    }
}
