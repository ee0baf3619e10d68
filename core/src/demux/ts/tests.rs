//! Demuxer tests on hand-built transport streams.

use alloc::vec;
use alloc::vec::Vec;

use super::pes::tests::{pes, pes_packets};
use super::psi::tests::{pat, pmt, section_packets};
use super::*;
use crate::demux::DemuxErrorKind;
use crate::media::{CodecConfig, Sample, TrackInfo};

const VIDEO: u16 = 0x100;
const AUDIO: u16 = 0x101;
const PMT_PID: u16 = 0x1000;

// x264 High profile 1280x720 SPS.
const SPS_720P: [u8; 25] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02, 0x80,
    0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
];
const PPS: [u8; 4] = [0x68, 0xeb, 0xe3, 0xcb];

fn annexb(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

fn idr_au() -> Vec<u8> {
    annexb(&[
        &[0x09, 0xf0],
        &SPS_720P,
        &PPS,
        &[0x65, 0x88, 0x84, 0x21, 0x00, 0x7f],
    ])
}

fn p_au(tag: u8) -> Vec<u8> {
    annexb(&[&[0x09, 0xf0], &[0x41, 0x9a, tag, 0x42]])
}

/// An AAC LC 44.1 kHz stereo ADTS frame around `payload`.
fn adts(payload: &[u8]) -> Vec<u8> {
    let len = payload.len() + 7;
    let mut f = vec![
        0xff,
        0xf1,
        0x50,
        0x80 | ((len >> 11) & 0x3) as u8,
        (len >> 3) as u8,
        (((len & 0x7) << 5) as u8) | 0x1f,
        0xfc,
    ];
    f.extend_from_slice(payload);
    f
}

struct Mux {
    out: Vec<u8>,
    cc: [u8; 3],
}

impl Mux {
    fn new(streams: &[(u8, u16)]) -> Self {
        let mut m = Mux {
            out: Vec::new(),
            cc: [0; 3],
        };
        for p in section_packets(0, &pat(PMT_PID), &mut 0) {
            m.out.extend(p);
        }
        // Unsupported entries push the PMT over more than one packet.
        let mut all: Vec<(u8, u16)> = (0..40).map(|i| (0x06, 0x300 + i)).collect();
        all.extend_from_slice(streams);
        for p in section_packets(PMT_PID, &pmt(&all), &mut 0) {
            m.out.extend(p);
        }
        m
    }

    fn video(&mut self, pts: u64, dts: Option<u64>, au: &[u8]) -> &mut Self {
        self.raw(VIDEO, &pes(0xe0, pts, dts, au, false))
    }

    fn audio(&mut self, pts: u64, es: &[u8]) -> &mut Self {
        self.raw(AUDIO, &pes(0xc0, pts, None, es, true))
    }

    fn raw(&mut self, pid: u16, pes: &[u8]) -> &mut Self {
        let cc = &mut self.cc[usize::from(pid - VIDEO).min(2)];
        for p in pes_packets(pid, pes, cc) {
            self.out.extend(p);
        }
        self
    }
}

fn av() -> Mux {
    Mux::new(&[(STREAM_TYPE_H264, VIDEO), (STREAM_TYPE_AAC_ADTS, AUDIO)])
}

fn run_chunks(data: &[u8], chunk: usize) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    for c in data.chunks(chunk.max(1)) {
        if let Err(e) = d.push(c) {
            events.extend(core::iter::from_fn(|| d.poll()));
            return (events, Err(e));
        }
        events.extend(core::iter::from_fn(|| d.poll()));
    }
    let r = d.finish();
    events.extend(core::iter::from_fn(|| d.poll()));
    (events, r)
}

fn run(data: &[u8]) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
    run_chunks(data, data.len())
}

fn samples(events: &[DemuxEvent], track: u16) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Sample(s) if s.track == u32::from(track) => Some(s),
            _ => None,
        })
        .collect()
}

fn tracks(events: &[DemuxEvent]) -> Vec<&TrackInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Track(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn small_stream() -> Vec<u8> {
    let f = |n: u8| adts(&[n; 20]);
    let mut m = av();
    m.video(3000, Some(0), &idr_au())
        .audio(1000, &[f(1), f(2), f(3)].concat())
        .video(9000, Some(3000), &p_au(1))
        .video(6000, Some(6000), &p_au(2));
    m.out
}

#[test]
fn video_and_audio_samples() {
    let (events, r) = run(&small_stream());
    r.expect("clean end");
    let mut t = tracks(&events);
    t.sort_by_key(|t| t.id);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].id, t[0].timescale), (u32::from(VIDEO), TIMESCALE));
    match &t[0].codec {
        CodecConfig::H264(c) => {
            assert_eq!((c.width, c.height), (1280, 720));
            assert_eq!(c.pps, vec![PPS.to_vec()]);
        }
        other => panic!("{other:?}"),
    }
    match &t[1].codec {
        CodecConfig::Aac(c) => assert_eq!(
            (c.sample_rate, c.channels, &c.asc[..]),
            (44100, 2, &[0x12, 0x10][..])
        ),
        other => panic!("{other:?}"),
    }
    // Each track is announced before its first sample.
    let first_audio = events
        .iter()
        .position(|e| matches!(e, DemuxEvent::Sample(s) if s.track == u32::from(AUDIO)));
    let audio_track = events
        .iter()
        .position(|e| matches!(e, DemuxEvent::Track(t) if t.id == u32::from(AUDIO)));
    assert!(audio_track < first_audio);

    let v = samples(&events, VIDEO);
    assert_eq!(v.len(), 3);
    assert_eq!(
        v.iter()
            .map(|s| (s.dts, s.cts_offset, s.keyframe))
            .collect::<Vec<_>>(),
        vec![(0, 3000, true), (3000, 6000, false), (6000, 0, false)]
    );
    // AUD stripped, SPS/PPS kept, 4-byte lengths.
    let mut expected = Vec::new();
    for nal in [&SPS_720P[..], &PPS, &[0x65, 0x88, 0x84, 0x21, 0x00, 0x7f]] {
        expected.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        expected.extend_from_slice(nal);
    }
    assert_eq!(&v[0].data[..], &expected[..]);
    assert_eq!(&v[1].data[..], &[0, 0, 0, 4, 0x41, 0x9a, 1, 0x42]);
    assert!(v.iter().all(|s| s.duration.is_none()));

    let a = samples(&events, AUDIO);
    assert_eq!(
        a.iter().map(|s| s.dts).collect::<Vec<_>>(),
        vec![
            1000,
            1000 + 1024 * 90000 / 44100,
            1000 + 2 * 1024 * 90000 / 44100
        ]
    );
    assert_eq!(&a[1].data[..], &[2; 20]);
    assert!(a.iter().all(|s| s.keyframe && s.cts_offset == 0));
}

#[test]
fn any_chunking_gives_the_same_events() {
    let data = small_stream();
    let (whole, r) = run(&data);
    r.expect("ok");
    let (ones, r) = run_chunks(&data, 1);
    r.expect("ok");
    assert_eq!(ones, whole);
    for split in 0..=data.len() {
        let mut d = TsDemuxer::new();
        let mut events = Vec::new();
        d.push(&data[..split]).expect("ok");
        events.extend(core::iter::from_fn(|| d.poll()));
        d.push(&data[split..]).expect("ok");
        d.finish().expect("ok");
        events.extend(core::iter::from_fn(|| d.poll()));
        assert_eq!(events, whole, "split at {split}");
    }
}

#[test]
fn samples_before_first_idr_are_dropped_and_sps_changes_are_reported() {
    let mut sps2 = SPS_720P;
    sps2[3] = 0x28; // another level: a different SPS with the same size
    let idr2 = annexb(&[&sps2, &PPS, &[0x65, 0x88, 0x84]]);
    let mut m = av();
    m.video(0, None, &annexb(&[&SPS_720P, &PPS, &[0x41, 1]]))
        .video(3000, None, &p_au(2))
        .video(6000, None, &idr_au())
        .video(9000, None, &p_au(3))
        .video(12000, None, &idr2)
        .video(15000, None, &idr2);
    let (events, r) = run(&m.out);
    r.expect("ok");
    let v = samples(&events, VIDEO);
    assert_eq!(
        v.iter().map(|s| s.dts).collect::<Vec<_>>(),
        vec![6000, 9000, 12000, 15000]
    );
    let changed: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, DemuxEvent::TrackChanged(_)))
        .collect();
    assert_eq!(changed.len(), 1);
    let pos = |pred: &dyn Fn(&DemuxEvent) -> bool| events.iter().position(pred);
    assert!(
        pos(&|e| matches!(e, DemuxEvent::TrackChanged(_)))
            < pos(&|e| matches!(e, DemuxEvent::Sample(s) if s.dts == 12000))
    );
}

#[test]
fn clock_wrap_is_unwrapped() {
    let wrap = 1u64 << 33;
    let mut m = av();
    m.video(wrap - 3000 + 1500, Some(wrap - 3000), &idr_au())
        .video(1500, Some(0), &p_au(1))
        .video(4500, Some(3000), &p_au(2))
        .audio(wrap - 1000, &adts(&[1; 10]))
        .audio(
            wrap - 1000 + 2089,
            &[adts(&[2; 10]), adts(&[3; 10])].concat(),
        );
    let (events, r) = run(&m.out);
    r.expect("ok");
    let w = wrap as i64;
    let v = samples(&events, VIDEO);
    assert_eq!(
        v.iter().map(|s| (s.dts, s.cts_offset)).collect::<Vec<_>>(),
        vec![(w - 3000, 1500), (w, 1500), (w + 3000, 1500)]
    );
    let a = samples(&events, AUDIO);
    assert_eq!(
        a.iter().map(|s| s.dts).collect::<Vec<_>>(),
        vec![w - 1000, w + 1089, w + 1089 + 2089]
    );
}

#[test]
fn tracks_starting_across_a_wrap_share_a_timeline() {
    let wrap = 1u64 << 33;
    let mut m = av();
    m.audio(wrap - 900, &adts(&[1; 10]))
        .video(600, Some(0), &idr_au());
    let (events, r) = run(&m.out);
    r.expect("ok");
    let w = wrap as i64;
    assert_eq!(samples(&events, AUDIO)[0].dts, w - 900);
    assert_eq!(samples(&events, VIDEO)[0].dts, w);
}

#[test]
fn continuity_error_drops_only_the_broken_pes() {
    let mut m = av();
    let before = m.out.len();
    m.audio(0, &(0..8).flat_map(|i| adts(&[i; 60])).collect::<Vec<u8>>());
    let mut packets: Vec<Vec<u8>> = m.out[before..].chunks(188).map(<[u8]>::to_vec).collect();
    assert!(packets.len() >= 3);
    packets.remove(1);
    m.out.truncate(before);
    for p in packets {
        m.out.extend(p);
    }
    // The counter now skips one; the next PES is intact.
    m.cc[1] = (m.cc[1] + 1) & 0xf;
    m.audio(20_000, &adts(&[9; 60]));
    let (events, r) = run(&m.out);
    r.expect("ok");
    let a = samples(&events, AUDIO);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].dts, &a[0].data[..]), (20_000, &[9; 60][..]));
}

#[test]
fn adts_frame_spanning_pes_boundary() {
    let frames: Vec<Vec<u8>> = (1..=4u8).map(|i| adts(&[i; 100])).collect();
    let all = frames.concat();
    let step = 1024 * 90000 / 44100;
    // Cut inside frame 2's payload, then inside frame 4's header.
    let cut1 = 107 + 50;
    let cut2 = 3 * 107 + 3;
    let mut m = av();
    m.audio(10_000, &all[..cut1])
        .audio(10_000 + 2 * step as u64 + 1, &all[cut1..cut2]) // PTS of frame 3
        .audio(10_000 + 3 * step as u64 + 2, &all[cut2..]); // no frame starts here
    let (events, r) = run(&m.out);
    r.expect("ok");
    let a = samples(&events, AUDIO);
    assert_eq!(
        a.iter().map(|s| (s.dts, s.data[0])).collect::<Vec<_>>(),
        vec![
            (10_000, 1),
            (10_000 + step, 2),
            (10_000 + 2 * step + 1, 3),
            (10_000 + 2 * step + 1 + 1024 * 90000 / 44100, 4)
        ]
    );
    assert!(a.iter().all(|s| s.data.len() == 100));
}

#[test]
fn adts_resyncs_after_garbage() {
    let mut es = adts(&[1; 30]);
    es.extend_from_slice(&[0xff, 0xf1, 0x00, 0x12, 0x34]); // a false sync word
    es.extend(adts(&[2; 30]));
    es.extend_from_slice(&[0, 0x12, 0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f]); // and another
    es.extend(adts(&[3; 30]));
    let mut m = av();
    m.audio(0, &es);
    let (events, r) = run(&m.out);
    r.expect("ok");
    let a = samples(&events, AUDIO);
    assert_eq!(
        a.iter().map(|s| s.data[0]).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn garbage_is_not_ts() {
    let garbage: Vec<u8> = (0..50_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let (events, r) = run_chunks(&garbage, 1000);
    assert!(events.is_empty());
    let e = r.expect_err("garbage");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (DemuxErrorKind::Malformed, "not an MPEG-TS stream")
    );
    let e = run(b"not a transport stream").1.expect_err("short");
    assert_eq!(e.kind, DemuxErrorKind::Malformed);
    let e = run(b"").1.expect_err("empty");
    assert_eq!(e.kind, DemuxErrorKind::Malformed);
}

#[test]
fn missing_pmt_and_unsupported_streams() {
    let mut out = Vec::new();
    let mut cc = 0;
    for _ in 0..10 {
        out.extend(section_packets(0, &pat(PMT_PID), &mut cc).concat());
    }
    let e = run(&out).1.expect_err("no pmt");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (DemuxErrorKind::Malformed, "no PMT found")
    );

    let mut big = Vec::new();
    while big.len() <= PMT_SEARCH_LIMIT as usize {
        big.extend(section_packets(0, &pat(PMT_PID), &mut cc).concat());
    }
    let e = run_chunks(&big, 65536).1.expect_err("no pmt");
    assert!(e.message.starts_with("no PMT found"));

    let m = Mux::new(&[(0x02, 0x100), (0x03, 0x101)]);
    let e = run(&m.out).1.expect_err("mpeg-2");
    assert_eq!(e.kind, DemuxErrorKind::Unsupported);
    assert!(e.message.contains("0x02, 0x03"), "{}", e.message);
}

#[test]
fn truncated_pes_is_reported_after_the_complete_samples() {
    let mut m = av();
    m.video(0, None, &idr_au()).audio(0, &adts(&[1; 30]));
    let keep = m.out.len();
    m.audio(
        2089,
        &(0..5).flat_map(|i| adts(&[i; 100])).collect::<Vec<u8>>(),
    );
    // Cut on a packet boundary inside the declared-length audio PES.
    let (events, r) = run(&m.out[..keep + 188]);
    let e = r.expect_err("truncated");
    assert_eq!(e.kind, DemuxErrorKind::Truncated);
    assert!(
        e.message
            .starts_with("stream ends inside a PES on PID 0x101"),
        "{}",
        e.message
    );
    assert_eq!(samples(&events, VIDEO).len(), 1);
    assert_eq!(samples(&events, AUDIO).len(), 1);

    // Cut inside a video packet: the unbounded video PES is cut as well.
    let mut m = av();
    m.video(0, None, &idr_au())
        .video(3000, None, &[p_au(1), vec![0x55; 400]].concat());
    let (events, r) = run(&m.out[..m.out.len() - 100]);
    let e = r.expect_err("truncated");
    assert!(
        e.message
            .starts_with("stream ends inside a PES on PID 0x100"),
        "{}",
        e.message
    );
    assert_eq!(samples(&events, VIDEO).len(), 1);

    // Cut at a packet boundary after an unbounded PES: it ends the stream normally.
    let (events, r) = run(&m.out);
    r.expect("ok");
    assert_eq!(samples(&events, VIDEO).len(), 2);
}

#[test]
fn errors_are_sticky() {
    let mut d = TsDemuxer::new();
    let garbage = [0u8; 20_000];
    assert!(d.push(&garbage).is_err());
    assert!(d.push(&small_stream()).is_err());
    assert!(d.finish().is_err());
}

/// Corrupted input must never panic, whatever it does to the output.
#[test]
fn corrupted_streams_do_not_panic() {
    let clean = small_stream();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut data = clean.clone();
        for _ in 0..(1 + round % 20) {
            let i = next() as usize % data.len();
            data[i] = next() as u8;
        }
        if round % 3 == 0 {
            let cut = next() as usize % data.len();
            data.truncate(cut);
        }
        let chunk = 1 + next() as usize % 400;
        let _ = run_chunks(&data, chunk);
    }
}

/// The stream's transport packets, for tests that damage them.
fn packets_of(data: &[u8]) -> Vec<Vec<u8>> {
    data.chunks(188).map(<[u8]>::to_vec).collect()
}

fn pid_of(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2])
}

fn run_stats(data: &[u8], chunk: usize) -> (Vec<DemuxEvent>, Result<(), DemuxError>, TsStats) {
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    let mut result = Ok(());
    for c in data.chunks(chunk.max(1)) {
        result = d.push(c);
        events.extend(core::iter::from_fn(|| d.poll()));
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = d.finish();
        events.extend(core::iter::from_fn(|| d.poll()));
    }
    (events, result, d.stats())
}

/// Four GOPs of one IDR and three P pictures, each picture large enough to span packets.
fn gops() -> Mux {
    let mut m = av();
    for g in 0..4u64 {
        for i in 0..4u64 {
            let t = (g * 4 + i) * 3000;
            let au = if i == 0 {
                [idr_au(), vec![0x11; 500]].concat()
            } else {
                [p_au(i as u8), vec![0x22; 500]].concat()
            };
            m.video(t, None, &au);
        }
    }
    m
}

#[test]
fn lost_video_packet_drops_only_its_picture() {
    let m = gops();
    let clean = run(&m.out);
    clean.1.expect("ok");
    assert_eq!(samples(&clean.0, VIDEO).len(), 16);
    // Lose the second packet of the picture at 3000 (the first P of GOP 0).
    let mut packets = packets_of(&m.out);
    let first_video = packets
        .iter()
        .position(|p| pid_of(p) == VIDEO)
        .expect("video");
    let starts: Vec<usize> = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| pid_of(p) == VIDEO && p[1] & 0x40 != 0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts[0], first_video);
    packets.remove(starts[1] + 1);
    let damaged = packets.concat();
    for chunk in [damaged.len(), 1316, 100, 1] {
        let (events, r, stats) = run_stats(&damaged, chunk);
        r.expect("a repaired stream ends cleanly");
        let dts: Vec<i64> = samples(&events, VIDEO).iter().map(|s| s.dts).collect();
        assert_eq!(
            dts,
            (0..16)
                .map(|i| i * 3000)
                .filter(|&t| t != 3000)
                .collect::<Vec<i64>>(),
            "chunk {chunk}"
        );
        assert_eq!(stats.continuity_errors, 1);
        assert_eq!(stats.dropped_pes, 1);
        assert_eq!(stats.sync_losses, 0);
    }
}

#[test]
fn duplicated_packets_are_skipped() {
    let m = gops();
    let mut packets = packets_of(&m.out);
    // Duplicate every 5th packet (H.222.0 allows one repeat): nothing is lost.
    let mut i = 0;
    while i < packets.len() {
        if i % 5 == 0 {
            let p = packets[i].clone();
            packets.insert(i, p);
            i += 1;
        }
        i += 1;
    }
    let (events, r, stats) = run_stats(&packets.concat(), 777);
    r.expect("ok");
    assert_eq!(events, run(&m.out).0);
    assert_eq!(stats, TsStats::default());
}

#[test]
fn garbage_between_packets_resyncs() {
    let m = gops();
    let mut packets = packets_of(&m.out);
    // A burst of garbage mid-stream (with false sync bytes), as a broken link makes.
    let at = packets.len() / 2;
    packets.insert(at, [0x47, 1, 2, 3, 0x47, 0, 0x47].repeat(40));
    let damaged = packets.concat();
    for chunk in [damaged.len(), 188, 61] {
        let (events, r, stats) = run_stats(&damaged, chunk);
        r.expect("ok");
        let v = samples(&events, VIDEO);
        // The pictures before and after the damage are there; the ones it hit are not.
        assert!(v.len() >= 12 && v.len() < 16, "{} pictures", v.len());
        assert_eq!(v.last().map(|s| s.dts), Some(45_000));
        assert!(v.iter().all(|s| s.data.len() > 500));
        assert_eq!(stats.sync_losses, 1, "chunk {chunk}");
    }
}

#[test]
fn no_psi_at_all_is_an_error_not_garbage() {
    // Elementary packets only: nothing says what they are, so nothing is emitted.
    let m = gops();
    let es: Vec<u8> = packets_of(&m.out)
        .into_iter()
        .filter(|p| pid_of(p) == VIDEO)
        .collect::<Vec<_>>()
        .concat();
    let (events, r) = run(&es);
    assert!(events.is_empty());
    assert_eq!(r.expect_err("no pmt").message, "no PMT found");
    assert!(TsDemuxer::new().program_pids().is_none());

    // A live stream without a PMT fails once the search limit is read, not at its end.
    let mut d = TsDemuxer::new();
    let mut pushed = 0u64;
    let err = loop {
        match d.push(&es) {
            Ok(()) => pushed += es.len() as u64,
            Err(e) => break e,
        }
        assert!(d.poll().is_none());
        assert!(pushed <= PMT_SEARCH_LIMIT, "no error after {pushed} bytes");
    };
    assert!(
        err.message.starts_with("no PMT found in the first"),
        "{err}"
    );
}

#[test]
fn program_pids_after_the_pmt() {
    let mut d = TsDemuxer::new();
    d.push(&av().out).expect("ok");
    assert_eq!(
        d.program_pids(),
        Some(ProgramPids {
            video: Some(VIDEO),
            audio: Some(AUDIO)
        })
    );
}

/// `data`'s packets in a wider framing: M2TS (a timecode before each) or 16/20 parity bytes
/// after each.
fn reframe(data: &[u8], stride: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in data.chunks(188).enumerate() {
        let extra: Vec<u8> = (0..stride - 188).map(|k| (i * 31 + k * 7) as u8).collect();
        if stride == 192 {
            out.extend_from_slice(&extra);
            out.extend_from_slice(p);
        } else {
            out.extend_from_slice(p);
            out.extend_from_slice(&extra);
        }
    }
    out
}

#[test]
fn m2ts_and_parity_framings_give_the_same_events() {
    let plain = gops().out;
    let (want, r) = run(&plain);
    r.expect("ok");
    assert_eq!(
        crate::demux::sniff(&plain[..376]),
        Some(crate::demux::Container::MpegTs)
    );
    for stride in [192, 204, 208] {
        let framed = reframe(&plain, stride);
        assert_eq!(
            crate::demux::sniff(&framed[..376]),
            Some(crate::demux::Container::MpegTs),
            "stride {stride}"
        );
        for chunk in [framed.len(), 1316, 189, 7] {
            let (events, r, stats) = run_stats(&framed, chunk);
            r.expect("ok");
            assert_eq!(events, want, "stride {stride} chunk {chunk}");
            assert_eq!(stats, TsStats::default());
        }
        // Without the last packet's parity (a cut after the packet itself): still whole.
        if stride != 192 {
            let cut = &framed[..framed.len() - (stride - 188)];
            let (events, r) = run(cut);
            r.expect("ok");
            assert_eq!(events, want, "stride {stride} without the last parity");
        }
    }
    assert_eq!(
        crate::demux::sniff(b"abcdG and some text that is not TS"),
        None
    );
}

/// PAT + a PMT listing `streams` (no unsupported padding entries).
fn psi_only(streams: &[(u8, u16)]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in section_packets(0, &pat(PMT_PID), &mut 0) {
        out.extend(p);
    }
    for p in section_packets(PMT_PID, &pmt(streams), &mut 0) {
        out.extend(p);
    }
    out
}

#[test]
fn a_pmt_listing_200_pids_gets_at_most_max_streams() {
    let pids: Vec<u16> = (0..200).map(|i| 0x100 + i).collect();
    let listed: Vec<(u8, u16)> = pids.iter().map(|&p| (STREAM_TYPE_H264, p)).collect();
    let mut data = psi_only(&listed);
    for &pid in &pids {
        for p in pes_packets(pid, &pes(0xe0, 9000, None, &idr_au(), true), &mut 0) {
            data.extend(p);
        }
    }
    let (events, r) = run(&data);
    r.expect("demuxes");
    let ids: Vec<u32> = tracks(&events).iter().map(|t| t.id).collect();
    let first: Vec<u32> = pids[..MAX_STREAMS].iter().map(|&p| u32::from(p)).collect();
    assert_eq!(
        ids, first,
        "the first {MAX_STREAMS} listed streams, no others"
    );
}

#[test]
fn pes_buffered_over_all_streams_is_bounded() {
    // Three video PIDs each start an unbounded PES (length 0) and send 22 MiB of it: the
    // third one takes the total past MAX_BUFFERED_BYTES and loses its PES.
    let pids = [0x100u16, 0x101, 0x102];
    let listed: Vec<(u8, u16)> = pids.iter().map(|&p| (STREAM_TYPE_H264, p)).collect();
    let mut d = TsDemuxer::new();
    d.push(&psi_only(&listed)).expect("psi");
    let per_pid = 22 << 20;
    let mut peak = 0;
    for &pid in &pids {
        let mut cc = 0u8;
        let mut batch = Vec::with_capacity(188 * 1024);
        let head = pes(0xe0, 9000, None, &idr_au(), false);
        for p in pes_packets(pid, &head, &mut cc) {
            batch.extend(p);
        }
        let mut sent = head.len();
        while sent < per_pid {
            batch.extend_from_slice(&[0x47, (pid >> 8) as u8, pid as u8, 0x10 | cc]);
            batch.resize(batch.len() + 184, 0x5a);
            cc = (cc + 1) & 0xf;
            sent += 184;
            if batch.len() >= 188 * 1024 {
                d.push(&batch).expect("pushes");
                batch.clear();
                peak = peak.max(d.buffered_bytes());
            }
        }
        d.push(&batch).expect("pushes");
        peak = peak.max(d.buffered_bytes());
        while d.poll().is_some() {}
    }
    assert!(peak <= MAX_BUFFERED_BYTES, "peak {peak}");
    assert_eq!(d.stats().dropped_pes, 1);
    // The first two PIDs keep theirs.
    let kept = d.buffered_bytes();
    assert!(
        (2 * per_pid..=2 * (per_pid + 184)).contains(&kept),
        "{kept}"
    );
}
