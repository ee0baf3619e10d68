//! createMSSStream `ismType=isml`: each local stream of the group pushed live to a Smooth
//! Streaming publishing point (IIS Media Services, Unified Origin, Azure Media Services,
//! another Smoothcast) instead of written to files (`reference/smooth-ingest.md` §9).
//!
//! The group task packages its streams as for files (one live presentation, one quality
//! level per local stream, each with its own audio); this sink takes the fragments it makes
//! and, per local stream, turns them into one ingest stream with the core's
//! [`IsmlMuxer`] and hands them to that stream's [`push::Connection`]: one long chunked
//! POST to `<publishingPoint>/Streams(<localStreamName>)`, one stream per local stream so
//! that a failing one does not take the others along (RMS used one POST for all).
//!
//! - [`target`]: the publishing point URL, credentials kept out of logs and replies.
//! - [`push`]: the connection, reconnects and the replay; [`tls`] for `https://` points.
//!
//! The queue to each connection is bounded: a publishing point that cannot keep up loses
//! fragments (logged, `mssChunkError`), never stalls the packaging of the other outputs.

pub mod push;
pub mod target;
pub mod tls;

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use smoothcast_core::isml::{IsmlMuxer, IsmlTrack};
use smoothcast_core::presentation::{Event, FragmentInfo, LevelId, Output};
use smoothcast_core::{CodecConfig, TrackInfo, TrackKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::chunk_events::{chunk_payload, group_payload, ms, EventContext};
use super::mss::MssParams;
use crate::events::EventType;
use push::{Connection, Msg, Timing};
use target::PublishingPoint;

/// Fragments queued to one connection before new ones are dropped.
pub const QUEUE_FRAGMENTS: usize = 64;
/// Fragments held while waiting for every track's first one (the header names their
/// bitrates); past this many the header is made with what is known.
const MAX_PENDING: usize = 8;
/// `systemBitrate` of an audio track whose rate is neither configured nor measured yet
/// (RMS wrote 64000 "for compatibility with Smooth servers that require bitrate info").
const FALLBACK_AUDIO_BITRATE: u32 = 64_000;
/// How long closing waits for each connection to send its end.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// One local stream's ingest stream.
struct StreamPush {
    name: String,
    config_id: u64,
    /// `<path>/Streams(<name>)`.
    path: String,
    video: Option<TrackInfo>,
    audio: Option<TrackInfo>,
    /// Made at the first fragments; the header never changes afterwards.
    muxer: Option<IsmlMuxer>,
    /// Fragments before the header is made, as the presentation wrote them.
    pending: Vec<(FragmentInfo, bytes::Bytes)>,
    video_bitrate: Option<u32>,
    audio_bitrate: Option<u32>,
    configured_video: u32,
    configured_audio: u32,
    tx: Option<mpsc::Sender<Msg>>,
    task: Option<JoinHandle<()>>,
    dropped: u64,
    warned_track_change: bool,
}

/// The group's output to a publishing point.
pub(super) struct IsmlSink {
    ev: EventContext,
    point: Option<PublishingPoint>,
    keep_alive: bool,
    streams: Vec<StreamPush>,
    timing: Timing,
}

impl IsmlSink {
    pub fn start(params: &MssParams, config_ids: &[u64], ev: EventContext) -> Self {
        let point = match PublishingPoint::parse(params.publishing_point.as_deref().unwrap_or("")) {
            Ok(p) => Some(p),
            Err(e) => {
                // Checked at createMSSStream; a restored config may still be wrong.
                tracing::error!("isml push: {e}");
                let mut inner = ev.manager.lock();
                for id in config_ids {
                    if let Some(c) = inner.configs.get_mut(id) {
                        c.last_error = Some(e.clone());
                    }
                }
                None
            }
        };
        // ingestMode=loop: one stamp per start of the output (RMS: at each initialisation).
        let stamp = (params.ingest_mode.as_deref() == Some("loop")).then(|| {
            target::loop_stamp(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            )
        });
        let streams = params
            .local_stream_names
            .iter()
            .enumerate()
            .map(|(i, name)| StreamPush {
                name: name.clone(),
                config_id: config_ids.get(i).copied().unwrap_or(0),
                path: point
                    .as_ref()
                    .map(|p| p.stream_path(name, stamp.as_deref()))
                    .unwrap_or_default(),
                video: None,
                audio: None,
                muxer: None,
                pending: Vec::new(),
                video_bitrate: None,
                audio_bitrate: None,
                configured_video: params.video_bitrates.get(i).copied().unwrap_or(0),
                configured_audio: params.audio_bitrates.get(i).copied().unwrap_or(0),
                tx: None,
                task: None,
                dropped: 0,
                warned_track_change: false,
            })
            .collect();
        Self {
            ev,
            point,
            keep_alive: params.keep_alive,
            streams,
            timing: Timing::default(),
        }
    }

    /// A track of input `i` as its stream announced it: the first H.264 and the first AAC
    /// track are pushed (the header is made once; later changes are not sent).
    pub fn note_track(&mut self, i: usize, info: &TrackInfo) {
        let Some(s) = self.streams.get_mut(i) else {
            return;
        };
        let slot = match info.codec {
            CodecConfig::H264(_) => &mut s.video,
            CodecConfig::Aac(_) => &mut s.audio,
            CodecConfig::Text(_) => return,
        };
        if s.muxer.is_some() {
            let same = slot.as_ref().is_some_and(|t| t.codec == info.codec);
            if !same && !s.warned_track_change {
                s.warned_track_change = true;
                tracing::warn!(
                    stream = %s.name,
                    "isml push: a track changed after the stream started; the publishing point keeps the first header"
                );
            }
            return;
        }
        if slot.is_none() || slot.as_ref().is_some_and(|t| t.id == info.id) {
            *slot = Some(info.clone());
        }
    }

    /// Takes the presentation's outputs: fragments go to their stream's connection; files,
    /// manifests and removals do not exist for a publishing point.
    pub fn write(&mut self, outputs: Vec<Output>, levels: &[Option<LevelId>]) {
        for o in outputs {
            match o {
                Output::WriteFragment { data, info, .. } => {
                    let Some(i) = levels.iter().position(|l| *l == Some(info.level)) else {
                        continue;
                    };
                    if info.kind != TrackKind::Text {
                        self.fragment(i, info, data.to_bytes());
                    }
                }
                Output::Event(Event::FragmentCut {
                    level,
                    kind,
                    reason,
                }) => tracing::warn!("isml push: {level} {}: {reason}", kind.as_str()),
                Output::Event(Event::TrackIgnored {
                    level,
                    track,
                    reason,
                }) => tracing::warn!("isml push: {level}: track {track} not packaged: {reason}"),
                _ => {}
            }
        }
    }

    fn fragment(&mut self, i: usize, info: FragmentInfo, data: bytes::Bytes) {
        let s = &mut self.streams[i];
        if s.muxer.is_none() {
            match info.kind {
                TrackKind::Video => s.video_bitrate = s.video_bitrate.or(Some(info.bitrate)),
                _ => s.audio_bitrate = s.audio_bitrate.or(Some(info.bitrate)),
            }
            s.pending.push((info, data));
            let ready = (s.video.is_none() || s.video_bitrate.is_some())
                && (s.audio.is_none() || s.audio_bitrate.is_some());
            if ready || s.pending.len() >= MAX_PENDING {
                self.begin(i);
            }
            return;
        }
        self.send(i, info, &data);
    }

    /// Makes stream `i`'s header from its tracks, starts its connection and sends what
    /// waited for it.
    fn begin(&mut self, i: usize) {
        let Some(point) = self.point.clone() else {
            self.streams[i].pending.clear();
            return;
        };
        let s = &mut self.streams[i];
        let mut tracks = Vec::new();
        if let Some(v) = &s.video {
            tracks.push(IsmlTrack {
                track_id: 1,
                name: String::from("video"),
                codec: v.codec.clone(),
                bitrate: nonzero(s.configured_video).or(s.video_bitrate).unwrap_or(1),
                language: None,
            });
        }
        if let Some(a) = &s.audio {
            tracks.push(IsmlTrack {
                track_id: 2,
                name: String::from("audio"),
                codec: a.codec.clone(),
                bitrate: nonzero(s.configured_audio)
                    .or(s.audio_bitrate)
                    .or(a.avg_bitrate.and_then(|b| u32::try_from(b).ok()))
                    .unwrap_or(FALLBACK_AUDIO_BITRATE),
                language: a.language,
            });
        }
        let creator = format!("Smoothcast {}", env!("CARGO_PKG_VERSION"));
        let muxer = match IsmlMuxer::new(&creator, tracks) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(stream = %s.name, "isml push: {e}");
                s.pending.clear();
                return;
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE_FRAGMENTS);
        let _ = tx.try_send(Msg::Header(Bytes::copy_from_slice(muxer.header())));
        let conn = Connection {
            point,
            path: s.path.clone(),
            keep_alive: self.keep_alive,
            config_id: s.config_id,
            manager: self.ev.manager.clone(),
            bus: self.ev.bus.clone(),
            timing: self.timing,
            tls: None,
            tls_error: None,
        };
        let mut conn = conn;
        if conn.point.tls {
            match tls::client_config() {
                Ok(c) => conn.tls = Some(c),
                Err(e) => conn.tls_error = Some(e),
            }
        }
        tracing::info!(stream = %s.name, url = %conn.point.shown_stream(&s.path), "isml push: starting");
        s.task = Some(tokio::spawn(tracing::Instrument::in_current_span(
            conn.run(rx),
        )));
        s.tx = Some(tx);
        s.muxer = Some(muxer);
        for (info, data) in std::mem::take(&mut s.pending) {
            self.send(i, info, &data);
        }
    }

    fn send(&mut self, i: usize, info: FragmentInfo, data: &[u8]) {
        let ev = &self.ev;
        let s = &mut self.streams[i];
        let (Some(muxer), Some(tx)) = (s.muxer.as_mut(), s.tx.as_ref()) else {
            return;
        };
        let Some(track) = muxer.track_of(info.kind) else {
            // A track that appeared after the header: the point does not know it.
            return;
        };
        let file = self
            .point
            .as_ref()
            .map(|p| format!("{}#t={}", p.shown_stream(&s.path), ms(info.start)))
            .unwrap_or_default();
        // Dropped before it is muxed: no work for it, and no gap in the sequence numbers.
        // (Only this task sends, so the room seen here is there for the send below.)
        if tx.capacity() == 0 {
            s.dropped += 1;
            if s.dropped == 1 || s.dropped.is_multiple_of(100) {
                tracing::warn!(
                    stream = %s.name,
                    dropped = s.dropped,
                    "isml push: the publishing point does not keep up; fragments dropped"
                );
            }
            if ev.bus.enabled() {
                let mut p = group_payload(ev);
                if let Some(obj) = p.as_object_mut() {
                    obj.insert("file".into(), json!(file));
                    obj.insert(
                        "error".into(),
                        json!("dropped: the publishing point does not keep up"),
                    );
                }
                ev.bus.emit(EventType::MssChunkError, p);
            }
            return;
        }
        let bytes = match muxer.fragment_bytes(track, data) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(stream = %s.name, "isml push: fragment not re-muxed: {e}");
                return;
            }
        };
        let payload = ev.bus.enabled().then(|| chunk_payload(ev, &file, &info));
        let closed = payload.clone().map(|mut p| {
            if let Some(obj) = p.as_object_mut() {
                obj.insert("stopTime".into(), json!(ms(info.start + info.duration)));
                obj.insert("frameCount".into(), json!(info.samples));
            }
            p
        });
        let msg = Msg::Fragment {
            track,
            data: Bytes::from(bytes),
            closed,
        };
        match tx.try_send(msg) {
            Ok(()) => {
                if let Some(p) = payload {
                    ev.bus.emit(EventType::MssChunkCreated, p);
                }
            }
            // Not while this task holds the only sender and saw room.
            Err(mpsc::error::TrySendError::Full(_)) => {}
            // The connection gave up (keepAlive=0): nothing more goes.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// outStreamCreated/Closed: nothing waits on a disk, so at once.
    pub fn emit(&self, kind: EventType, payload: serde_json::Value) {
        self.ev.bus.emit(kind, payload);
    }

    /// Sends what is queued and, with `end`, ends every stream (empty `mfra`, last chunk);
    /// without, drops the connections as a crash would (the point waits for a reconnect).
    /// Waits a bounded time for each.
    pub async fn close(mut self, end: bool) {
        for s in &mut self.streams {
            if let Some(tx) = s.tx.take() {
                if end {
                    let _ = tokio::time::timeout(CLOSE_WAIT, tx.send(Msg::End)).await;
                }
            }
        }
        for s in &mut self.streams {
            if let Some(task) = s.task.take() {
                if tokio::time::timeout(CLOSE_WAIT, task).await.is_err() {
                    tracing::warn!(stream = %s.name, "isml push: the end was not sent in time");
                }
            }
        }
    }
}

fn nonzero(n: u32) -> Option<u32> {
    (n != 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::outputs::mss::OutputManager;
    use crate::streams::StreamRegistry;
    use smoothcast_core::fragment::{
        trun, Fragment, Mfhd, Moof, Tfhd, Tfxd, Traf, Trun, TrunSample,
    };
    use smoothcast_core::layout::Layout;
    use smoothcast_core::presentation::{Presentation, PresentationOptions};

    const SPS: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];

    fn video_fragment(start: u64, payload: usize) -> Vec<u8> {
        Fragment {
            moof: Moof {
                mfhd: Mfhd { sequence_number: 1 },
                traf: Traf {
                    tfhd: Tfhd::video(1),
                    trun: Trun::video(vec![TrunSample {
                        duration: 10_000_000,
                        size: payload as u32,
                        flags: trun::SYNC_SAMPLE_FLAGS,
                        cts_offset: 0,
                    }]),
                    tfxd: Tfxd {
                        time: start,
                        duration: 10_000_000,
                    },
                    tfrf: None,
                    senc: None,
                    saiz: None,
                    saio: None,
                },
            },
            mdat: vec![0x55; payload],
        }
        .encode()
    }

    /// A publishing point that accepts and never reads: the packager never waits for it,
    /// and what it cannot take is dropped, counted, within a bounded queue.
    #[tokio::test]
    async fn a_stalled_point_never_stalls_the_packager() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let held = tokio::spawn(async move {
            let mut socks = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                socks.push(s);
            }
        });
        let mut params = MssParams::with_defaults(vec!["cam".into()], "/tmp".into(), "g".into());
        params.ism_type = "isml".into();
        params.publishing_point = Some(format!("http://{addr}/pp.isml"));
        let manager = OutputManager::new(StreamRegistry::new());
        let ev = EventContext {
            bus: EventBus::disabled(),
            manager,
            group_name: "g".into(),
            config_ids: vec![1],
        };
        let mut sink = IsmlSink::start(&params, &[1], ev);
        let level = Presentation::new(PresentationOptions::vod(Layout::Multi))
            .add_quality_level("cam", 1_000_000)
            .expect("level");
        let avc =
            smoothcast_core::codec::h264::avc_config(vec![SPS.to_vec()], vec![vec![0x68, 0xeb]])
                .expect("SPS");
        sink.note_track(
            0,
            &TrackInfo {
                id: 1,
                timescale: 90_000,
                codec: CodecConfig::H264(avc),
                edit_offset: 0,
                avg_bitrate: None,
                language: None,
            },
        );
        let payload = 256 * 1024;
        let started = std::time::Instant::now();
        for n in 0..1_000u64 {
            let info = FragmentInfo {
                level,
                kind: TrackKind::Video,
                bitrate: 1_000_000,
                start: n * 10_000_000,
                duration: 10_000_000,
                samples: 1,
                size: payload,
                last_version: false,
            };
            let data = video_fragment(n * 10_000_000, payload);
            sink.write(
                vec![Output::WriteFragment {
                    path: String::new(),
                    data: data.into(),
                    info,
                }],
                &[Some(level)],
            );
            // The connection task runs meanwhile, as it would between arrivals.
            tokio::task::yield_now().await;
        }
        let took = started.elapsed();
        let dropped = sink.streams[0].dropped;
        println!("1000 fragments of 256 KiB offered in {took:?}, {dropped} dropped");
        // 250 MiB offered; the queue holds 64 fragments and the socket a few MiB.
        assert!(dropped >= 800, "dropped {dropped}");
        assert!(took < std::time::Duration::from_secs(20), "{took:?}");
        held.abort();
    }
}
