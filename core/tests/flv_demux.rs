//! FLV demuxing of files written by ffmpeg, checked against ffprobe.

use std::process::Command;

mod common;

use common::have_ffmpeg;
use smoothcast_core::demux::flv::FlvDemuxer;
use smoothcast_core::demux::{DemuxError, DemuxErrorKind, DemuxEvent, Demuxer};
use smoothcast_core::{CodecConfig, Sample};

/// Encodes lavfi test video and a sine tone to FLV; returns the file and ffprobe's
/// (pts, dts, keyframe) for the video and audio packets.
type Probed = Vec<(i64, i64, bool)>;

fn make_flv(name: &str, bframes: u32) -> (Vec<u8>, Probed, Probed) {
    let dir = common::scratch("flv", name);
    let path = dir.join("out.flv");
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
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", "3", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-pix_fmt", "yuv420p", "-bf", &bframes.to_string()])
        .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    let probe = |sel: &str| -> Probed {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", sel])
            .args(["-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .expect("run ffprobe");
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
    };
    let (v, a) = (probe("v"), probe("a"));
    let data = std::fs::read(&path).expect("read flv");
    let _ = std::fs::remove_dir_all(&dir);
    (data, v, a)
}

fn demux(
    mut d: FlvDemuxer,
    data: &[u8],
    chunk: usize,
) -> (Vec<DemuxEvent>, Result<(), DemuxError>) {
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

fn samples(events: &[DemuxEvent], id: u32) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Sample(s) if s.track == id => Some(s),
            _ => None,
        })
        .collect()
}

fn check(name: &str, bframes: u32) {
    if !have_ffmpeg() {
        eprintln!("ffmpeg not found; skipping");
        return;
    }
    let (data, probed_v, probed_a) = make_flv(name, bframes);
    let (events, r) = demux(FlvDemuxer::new(), &data, 65536);
    r.expect("clean demux");
    for chunk in [1, 188] {
        let (e, r) = demux(FlvDemuxer::new(), &data, chunk);
        r.expect("clean demux");
        assert!(e == events, "chunk size {chunk} gives different events");
    }

    let tracks: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Track(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tracks.len(), 2);
    for t in &tracks {
        assert_eq!(t.timescale, 1000);
        match &t.codec {
            CodecConfig::H264(c) => {
                assert_eq!((t.id, c.width, c.height), (9, 640, 360));
            }
            CodecConfig::Aac(c) => {
                assert_eq!((t.id, c.sample_rate, c.channels), (8, 44100, 1));
            }
            CodecConfig::Text(_) => panic!("FLV has no text tracks"),
        }
    }

    let v = samples(&events, 9);
    let ours: Vec<(i64, i64, bool)> = v
        .iter()
        .map(|s| (s.dts + s.cts_offset, s.dts, s.keyframe))
        .collect();
    assert_eq!(ours, probed_v);
    let keys: Vec<usize> = (0..v.len()).filter(|&i| v[i].keyframe).collect();
    assert_eq!(keys, (0..v.len()).step_by(25).collect::<Vec<_>>());
    if bframes > 0 {
        assert!(v.iter().any(|s| s.cts_offset > 0 && !s.keyframe));
    }

    let a = samples(&events, 8);
    let ours: Vec<(i64, i64, bool)> = a.iter().map(|s| (s.dts, s.dts, s.keyframe)).collect();
    assert_eq!(ours, probed_a);

    // The same tags without the file header and PreviousTagSize fields.
    let mut tags = Vec::new();
    let mut pos = 13;
    while pos + 11 <= data.len() {
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        tags.extend_from_slice(&data[pos..pos + 11 + size]);
        pos += 11 + size + 4;
    }
    let (e, r) = demux(FlvDemuxer::tags_only(), &tags, 1000);
    r.expect("clean demux");
    assert!(e == events);

    // Cut inside a tag: truncated, and every tag before it still demuxed.
    let (cut, r) = demux(FlvDemuxer::new(), &data[..data.len() / 2], 4096);
    assert_eq!(r.expect_err("cut").kind, DemuxErrorKind::Truncated);
    let vc = samples(&cut, 9);
    assert!(!vc.is_empty() && vc.len() < v.len());
    assert!(vc.iter().zip(&v).all(|(x, y)| x == y));
}

#[test]
fn ffmpeg_flv_without_bframes() {
    check("nob", 0);
}

#[test]
fn ffmpeg_flv_with_bframes() {
    check("b", 3);
}

#[test]
fn not_flv() {
    let (_, r) = demux(FlvDemuxer::new(), &[0x47; 1000], 100);
    let e = r.expect_err("garbage");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (DemuxErrorKind::Malformed, "not an FLV file")
    );
}
