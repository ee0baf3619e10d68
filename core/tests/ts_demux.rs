//! MPEG-TS demuxing of files written by ffmpeg, checked against ffprobe.

use std::path::Path;
use std::process::Command;

mod common;

use common::have_ffmpeg;
use smoothcast_core::demux::ts::TsDemuxer;
use smoothcast_core::demux::{DemuxError, DemuxErrorKind, DemuxEvent, Demuxer};
use smoothcast_core::{CodecConfig, Sample, TrackInfo};

/// Encodes lavfi test video and a sine tone to MPEG-TS.
fn make_ts(name: &str, bframes: u32, rate: u32, seconds: u32) -> Vec<u8> {
    let path = common::scratch("ts", name).join("out.ts");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=640x360:rate=25")
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate={rate}"))
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-bf", &bframes.to_string()])
        .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "mpegts"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    let data = std::fs::read(&path).expect("read ts");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    data
}

/// (pts, dts, keyframe) of each packet of one kind of stream, as ffprobe sees them.
fn probe(data: &[u8], name: &str, kind: &str) -> Vec<(i64, i64, bool)> {
    let dir = common::scratch("ts", &format!("probe-{name}-{kind}"));
    let path = dir.join("in.ts");
    std::fs::write(&path, data).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &kind[..1]])
        .args(["-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("run ffprobe");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |s: &str| s.parse::<i64>().expect("number");
            (n(f[0]), n(f[1]), f[2].starts_with('K'))
        })
        .collect()
}

fn demux(data: &[u8], chunk: usize) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
    let mut d = TsDemuxer::new();
    let mut events = Vec::new();
    for c in data.chunks(chunk) {
        let r = d.push(c);
        events.extend(std::iter::from_fn(|| d.poll()));
        if r.is_err() {
            return (events, r);
        }
    }
    let r = d.finish();
    events.extend(std::iter::from_fn(|| d.poll()));
    (events, r)
}

fn track(events: &[DemuxEvent], video: bool) -> &TrackInfo {
    events
        .iter()
        .find_map(|e| match e {
            DemuxEvent::Track(t) if matches!(t.codec, CodecConfig::H264(_)) == video => Some(t),
            _ => None,
        })
        .expect("track")
}

fn samples(events: &[DemuxEvent], id: u32) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Sample(s) if s.track == id => Some(s),
            _ => None,
        })
        .collect()
}

fn check_file(name: &str, bframes: u32, rate: u32) {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not found; skipping");
        return;
    }
    let data = make_ts(name, bframes, rate, 3);
    let (events, r) = demux(&data, 65536);
    r.expect("clean demux");
    for chunk in [1, 188] {
        let (e, r) = demux(&data, chunk);
        r.expect("clean demux");
        assert!(e == events, "chunk size {chunk} gives different events");
    }
    assert!(!events
        .iter()
        .any(|e| matches!(e, DemuxEvent::TrackChanged(_))));

    let v = track(&events, true);
    let a = track(&events, false);
    assert_eq!((v.timescale, a.timescale), (90_000, 90_000));
    let CodecConfig::H264(avc) = &v.codec else {
        unreachable!()
    };
    assert_eq!((avc.width, avc.height), (640, 360));
    let CodecConfig::Aac(aac) = &a.codec else {
        unreachable!()
    };
    assert_eq!(
        (aac.sample_rate, aac.channels, aac.object_type),
        (rate, 1, 2)
    );

    // Video: every packet, same times and keyframes as ffprobe.
    let vs = samples(&events, v.id);
    let probed = probe(&data, name, "video");
    assert_eq!(vs.len(), probed.len());
    let ours: Vec<(i64, i64, bool)> = vs
        .iter()
        .map(|s| (s.dts + s.cts_offset, s.dts, s.keyframe))
        .collect();
    assert_eq!(ours, probed);
    let keys: Vec<usize> = (0..vs.len()).filter(|&i| vs[i].keyframe).collect();
    assert_eq!(keys, (0..vs.len()).step_by(25).collect::<Vec<_>>());
    if bframes > 0 {
        assert!(vs.iter().any(|s| s.cts_offset > 0 && !s.keyframe));
    }
    assert!(vs.windows(2).all(|w| w[0].dts < w[1].dts));
    for s in &vs {
        // 4-byte length-prefixed NAL units that exactly fill the sample, no AUD.
        let mut rest = &s.data[..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            assert_ne!(rest[4] & 0x1f, 9, "AUD left in");
            rest = &rest[4 + len..];
        }
    }

    // Audio: one sample per ADTS frame, 1024 samples apart.
    let aus = samples(&events, a.id);
    let probed = probe(&data, name, "audio");
    assert_eq!(aus.len(), probed.len());
    let step = 1024.0 * 90_000.0 / f64::from(rate);
    for (s, p) in aus.iter().zip(&probed) {
        assert!(
            (s.dts - p.1).abs() <= 1,
            "audio dts {} vs ffprobe {}",
            s.dts,
            p.1
        );
        assert!(s.keyframe && s.cts_offset == 0 && s.data[0] != 0xff);
    }
    for w in aus.windows(2) {
        let d = (w[1].dts - w[0].dts) as f64;
        assert!((d - step).abs() <= 1.0, "audio step {d}, expected {step}");
    }
}

#[test]
fn ffmpeg_ts_without_bframes() {
    check_file("nob", 0, 48_000);
}

#[test]
fn ffmpeg_ts_with_bframes() {
    check_file("b", 3, 44_100);
}

#[test]
fn ffmpeg_ts_cut_inside_a_pes() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not found; skipping");
        return;
    }
    let data = make_ts("cut", 2, 48_000, 2);
    let (full, r) = demux(&data, 65536);
    r.expect("clean demux");
    let v = track(&full, true).id;
    let a = track(&full, false).id;

    // Inside a transport packet in the middle of the file.
    let cut = data.len() / 2 + 100;
    check_cut(&data[..cut], &full, v, a);

    // On a packet boundary just after the start of an audio PES (ffmpeg writes its length).
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let start = (data.len() / 2 / 188..data.len() / 188)
        .find(|&i| {
            let p = &data[i * 188..];
            u32::from(pid(p)) == a && p[1] & 0x40 != 0 && pid(&p[188..]) == pid(p)
        })
        .expect("an audio PES over several packets");
    let e = check_cut(&data[..(start + 1) * 188], &full, v, a);
    assert!(e.message.contains(&format!("PID {a:#x}")), "{}", e.message);
}

fn check_cut(data: &[u8], full: &[DemuxEvent], v: u32, a: u32) -> DemuxError {
    for chunk in [188, 65536] {
        let (events, r) = demux(data, chunk);
        let e = r.expect_err("truncated");
        assert_eq!(e.kind, DemuxErrorKind::Truncated, "{}", e.message);
        assert!(
            e.message.starts_with("stream ends inside a"),
            "{}",
            e.message
        );
        for id in [v, a] {
            let got = samples(&events, id);
            let all = samples(full, id);
            assert!(!got.is_empty() && got.len() < all.len());
            assert!(got.iter().zip(&all).all(|(x, y)| x == y));
        }
    }
    demux(data, 65536).1.expect_err("truncated")
}

/// A throughput check; run with `cargo test --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    if !have_ffmpeg() {
        return;
    }
    let dir = common::scratch("ts", "perf");
    let path = dir.join("perf.ts");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=1280x720:rate=25")
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "20"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "5M",
            "-g",
            "50",
        ])
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let one = std::fs::read(Path::new(&path)).expect("read");
    let _ = std::fs::remove_dir_all(&dir);
    // Fifteen copies make five minutes; the joins only cost a PES each.
    let data: Vec<u8> = std::iter::repeat_n(&one[..], 15)
        .flatten()
        .copied()
        .collect();
    let start = std::time::Instant::now();
    let mut d = TsDemuxer::new();
    let mut n = 0usize;
    for c in data.chunks(65536) {
        d.push(c).expect("ok");
        n += std::iter::from_fn(|| d.poll()).count();
    }
    d.finish().expect("ok");
    let elapsed = start.elapsed();
    eprintln!(
        "{} MB, {n} events in {elapsed:?} ({:.0} MB/s)",
        data.len() / 1_000_000,
        data.len() as f64 / 1e6 / elapsed.as_secs_f64()
    );
}
