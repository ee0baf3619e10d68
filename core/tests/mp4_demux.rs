//! MP4 demuxer against files made by ffmpeg, cross-checked with ffprobe and mp4-atom.
//!
//! Every test skips (passes with a note) when ffmpeg or ffprobe is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::have_ffmpeg;
use smoothcast_core::demux::mp4::Mp4Demuxer;
use smoothcast_core::demux::{DemuxError, DemuxErrorKind, DemuxEvent, Demuxer};
use smoothcast_core::{CodecConfig, Sample, TrackInfo, TrackKind};

/// What a demux run produced.
#[derive(Debug, Default, PartialEq)]
struct Out {
    tracks: Vec<TrackInfo>,
    samples: Vec<Sample>,
    seeks: Vec<u64>,
}

impl Out {
    fn track_samples(&self, id: u32) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.track == id).collect()
    }
    fn track(&self, kind: TrackKind) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.kind() == kind)
    }
}

/// Feeds `file` in `chunk`-byte pushes like a host would, honouring seeks.
fn demux(file: &[u8], seekable: bool, chunk: usize) -> Result<Out, DemuxError> {
    demux_with(file, seekable, chunk, false)
}

/// As [`demux`]; with `shared`, each chunk is handed over as a shared buffer.
fn demux_with(file: &[u8], seekable: bool, chunk: usize, shared: bool) -> Result<Out, DemuxError> {
    let mut d = Mp4Demuxer::new(seekable);
    let mut out = Out::default();
    let mut pos = 0usize;
    loop {
        assert!(out.seeks.len() < 64, "seek loop");
        if pos >= file.len() {
            d.finish()?;
            match drain(&mut d, &mut out) {
                Some(to) => pos = to,
                None => return Ok(out),
            }
            continue;
        }
        let end = (pos + chunk).min(file.len());
        if shared {
            d.push_shared(bytes::Bytes::copy_from_slice(&file[pos..end]))?;
        } else {
            d.push(&file[pos..end])?;
        }
        pos = end;
        if let Some(to) = drain(&mut d, &mut out) {
            pos = to;
        }
    }
}

fn drain(d: &mut Mp4Demuxer, out: &mut Out) -> Option<usize> {
    let mut seek = None;
    while let Some(ev) = d.poll() {
        match ev {
            DemuxEvent::Track(t) => {
                assert!(
                    !out.samples.iter().any(|s| s.track == t.id),
                    "track announced after its samples"
                );
                out.tracks.push(t);
            }
            DemuxEvent::Sample(s) => {
                assert!(
                    out.tracks.iter().any(|t| t.id == s.track),
                    "sample before its track"
                );
                out.samples.push(s);
            }
            DemuxEvent::Seek(to) => {
                assert!(seek.is_none(), "two seeks from one call");
                out.seeks.push(to);
                seek = Some(usize::try_from(to).unwrap());
            }
            DemuxEvent::TrackChanged(_) => panic!("mp4 never changes tracks"),
            DemuxEvent::Ignored { .. } => {}
        }
    }
    seek
}

fn tmp(name: &str) -> PathBuf {
    common::scratch("mp4-demux", "files").join(name)
}

/// Runs ffmpeg with lavfi test sources (`video`/`audio` select them) and `extra` options.
fn make(name: &str, video: bool, audio: bool, extra: &[&str]) -> Vec<u8> {
    let path = tmp(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if video {
        cmd.args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]);
    }
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    cmd.args(["-t", "4"]);
    cmd.args(extra);
    cmd.arg(&path);
    let out = cmd.output().expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

const H264_AAC: [&str; 8] = ["-c:v", "libx264", "-g", "50", "-c:a", "aac", "-b:a", "96k"];

/// One packet as ffprobe reports it.
#[derive(Debug)]
struct Packet {
    stream: u32,
    pts: i64,
    dts: i64,
    /// `None` when ffprobe says N/A.
    duration: Option<u32>,
    size: usize,
    key: bool,
}

fn ffprobe_packets(path: &Path) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("packet=stream_index,pts,dts,duration,size,flags")
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Packet {
                stream: f[0].parse().unwrap(),
                pts: f[1].parse().unwrap(),
                dts: f[2].parse().unwrap(),
                duration: f[3].parse().ok(),
                size: f[4].parse().unwrap(),
                key: f[5].contains('K'),
            }
        })
        .collect()
}

/// Checks every track's samples against ffprobe's packets (ffmpeg numbers tracks from 1 in
/// stream order). ffprobe's decode times are shifted by the edit list (`edits`), ours are not.
fn check_against_ffprobe(path: &Path, out: &Out, edits: bool) {
    let packets = ffprobe_packets(path);
    for t in &out.tracks {
        let ours = out.track_samples(t.id);
        let theirs: Vec<&Packet> = packets.iter().filter(|p| p.stream + 1 == t.id).collect();
        assert_eq!(ours.len(), theirs.len(), "sample count of track {}", t.id);
        assert!(!ours.is_empty());
        let dts0 = if edits { theirs[0].dts } else { 0 };
        for (i, (s, p)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(s.dts, p.dts - dts0, "dts of sample {i} of track {}", t.id);
            assert_eq!(s.cts_offset, p.pts - p.dts, "cts of sample {i}");
            // In fragments ffmpeg replaces the last AAC frame's trun duration by a whole frame.
            let last_of_fragmented = !edits && i + 1 == theirs.len();
            if p.duration.is_some() && !last_of_fragmented {
                assert_eq!(s.duration, p.duration, "duration of sample {i}");
            }
            assert_eq!(s.data.len(), p.size, "size of sample {i}");
            assert_eq!(s.keyframe, p.key, "keyframe flag of sample {i}");
        }
        // ffmpeg applies the edit list: its first decode time is minus our edit offset.
        if edits {
            assert_eq!(t.edit_offset, -dts0, "edit offset of track {}", t.id);
        }
    }
}

/// Sample data and timing sanity per track: H.264 access units are 4-byte length prefixed
/// NAL units that exactly fill the sample; the first video sample is a keyframe; decode times
/// are contiguous.
fn check_samples(out: &Out) {
    for t in &out.tracks {
        let samples = out.track_samples(t.id);
        let mut next = 0i64;
        for s in &samples {
            assert_eq!(s.dts, next, "gap in track {}", t.id);
            next += i64::from(s.duration.unwrap());
        }
        if let CodecConfig::H264(_) = t.codec {
            assert!(samples[0].keyframe, "first video sample must be a keyframe");
            for s in &samples {
                let mut d = &s.data[..];
                while !d.is_empty() {
                    assert!(d.len() >= 4);
                    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                    assert!(n > 0 && n + 4 <= d.len(), "bad NAL length");
                    d = &d[4 + n..];
                }
            }
        }
        assert!(t.avg_bitrate.is_some_and(|b| b > 0) || samples.is_empty());
    }
}

/// mdhd durations and sample counts, read with mp4-atom.
fn mp4_atom_tracks(file: &[u8]) -> Vec<(u32, u32, u64, u32)> {
    use mp4_atom::{Any, Decode};
    let mut buf = std::io::Cursor::new(file);
    let mut tracks = Vec::new();
    while (buf.position() as usize) < file.len() {
        if let Any::Moov(moov) = Any::decode(&mut buf).expect("mp4-atom decodes it") {
            for trak in moov.trak {
                let count = match trak.mdia.minf.stbl.stsz.samples {
                    mp4_atom::StszSamples::Identical { count, .. } => count,
                    mp4_atom::StszSamples::Different { sizes } => sizes.len() as u32,
                };
                tracks.push((
                    trak.tkhd.track_id,
                    trak.mdia.mdhd.timescale,
                    trak.mdia.mdhd.duration,
                    count,
                ));
            }
        }
    }
    tracks
}

fn check_against_mp4_atom(file: &[u8], out: &Out) {
    for (id, timescale, duration, count) in mp4_atom_tracks(file) {
        let Some(t) = out.tracks.iter().find(|t| t.id == id) else {
            continue;
        };
        assert_eq!(t.timescale, timescale);
        let samples = out.track_samples(id);
        assert_eq!(samples.len() as u32, count);
        let total: u64 = samples.iter().map(|s| u64::from(s.duration.unwrap())).sum();
        assert_eq!(total, duration, "durations of track {id} add up to mdhd");
    }
}

/// The same samples whatever the chunking and seekability.
fn check_chunkings(file: &[u8], reference: &Out) {
    for chunk in [1, 7, 65536] {
        for seekable in [true, false] {
            let out = demux(file, seekable, chunk).unwrap();
            assert_eq!(
                out.tracks, reference.tracks,
                "chunk {chunk} seekable {seekable}"
            );
            assert_eq!(
                out.samples, reference.samples,
                "chunk {chunk} seekable {seekable}"
            );
        }
    }
}

#[test]
fn moov_at_end_and_faststart_give_the_same_samples() {
    if !have_ffmpeg() {
        return;
    }
    let end = make("end.mp4", true, true, &H264_AAC);
    let mut args = H264_AAC.to_vec();
    args.extend(["-movflags", "+faststart"]);
    let fast = make("fast.mp4", true, true, &args);

    let a = demux(&end, true, 65536).unwrap();
    // moov after mdat: seek past the mdat, then back to it.
    assert_eq!(a.seeks.len(), 2, "{:?}", a.seeks);
    assert_eq!(a.tracks.len(), 2);
    check_samples(&a);
    check_against_ffprobe(&tmp("end.mp4"), &a, true);
    check_against_mp4_atom(&end, &a);
    check_chunkings(&end, &a);

    // Shared buffers change who owns the bytes, never which bytes a sample has.
    assert_eq!(
        demux_with(&end, true, 65536, true).unwrap().samples,
        a.samples
    );
    assert_eq!(demux_with(&end, true, 7, true).unwrap().samples, a.samples);

    let b = demux(&fast, true, 65536).unwrap();
    assert!(b.seeks.is_empty());
    check_against_ffprobe(&tmp("fast.mp4"), &b, true);
    check_chunkings(&fast, &b);
    assert_eq!(a.tracks, b.tracks);
    assert_eq!(a.samples, b.samples);

    let video = a.track(TrackKind::Video).unwrap();
    let CodecConfig::H264(avc) = &video.codec else {
        panic!()
    };
    assert_eq!((avc.width, avc.height), (320, 240));
    let audio = a.track(TrackKind::Audio).unwrap();
    let CodecConfig::Aac(aac) = &audio.codec else {
        panic!()
    };
    assert_eq!((aac.sample_rate, aac.channels), (44100, 1));
    assert!(a.track_samples(audio.id).iter().all(|s| s.keyframe));
    // Bitrates are in the right ballpark: 96 kbit/s audio.
    let ab = audio.avg_bitrate.unwrap();
    assert!((60_000..130_000).contains(&ab), "{ab}");
}

#[test]
fn b_frames_have_cts_offsets_and_an_edit() {
    if !have_ffmpeg() {
        return;
    }
    let mut args = H264_AAC.to_vec();
    args.extend(["-bf", "2", "-movflags", "+faststart"]);
    let file = make("bf.mp4", true, true, &args);
    let out = demux(&file, true, 4096).unwrap();
    check_samples(&out);
    check_against_ffprobe(&tmp("bf.mp4"), &out, true);
    check_against_mp4_atom(&file, &out);
    let video = out.track(TrackKind::Video).unwrap();
    assert!(video.edit_offset > 0);
    let samples = out.track_samples(video.id);
    assert!(samples.iter().any(|s| s.cts_offset > 0));
    assert!(samples.iter().any(|s| !s.keyframe));
    // Presentation times, once the edit is applied, start at 0.
    let first_pts = samples
        .iter()
        .map(|s| s.dts + s.cts_offset - video.edit_offset)
        .min();
    assert_eq!(first_pts, Some(0));
}

#[test]
fn quicktime_mov() {
    if !have_ffmpeg() {
        return;
    }
    let file = make("q.mov", true, true, &H264_AAC);
    let out = demux(&file, true, 65536).unwrap();
    assert_eq!(out.tracks.len(), 2);
    check_samples(&out);
    check_against_ffprobe(&tmp("q.mov"), &out, true);
    check_chunkings(&file, &out);
}

#[test]
fn fragmented_mp4() {
    if !have_ffmpeg() {
        return;
    }
    let mut args = H264_AAC.to_vec();
    args.extend(["-movflags", "frag_keyframe+empty_moov+default_base_moof"]);
    let file = make("frag.mp4", true, true, &args);
    let out = demux(&file, true, 65536).unwrap();
    assert!(out.seeks.is_empty());
    assert_eq!(out.tracks.len(), 2);
    assert!(out.tracks.iter().all(|t| t.avg_bitrate.is_none()));
    check_samples_fragmented(&out);
    check_against_ffprobe(&tmp("frag.mp4"), &out, false);
    check_chunkings(&file, &out);

    // Without tfdt or default-base-is-moof (older ffmpeg layout): same samples.
    let mut args = H264_AAC.to_vec();
    args.extend(["-movflags", "frag_keyframe+empty_moov"]);
    let plain = make("frag_plain.mp4", true, true, &args);
    let out2 = demux(&plain, false, 7).unwrap();
    check_against_ffprobe(&tmp("frag_plain.mp4"), &out2, false);
    assert_eq!(out2.samples.len(), out.samples.len());
}

fn check_samples_fragmented(out: &Out) {
    for t in &out.tracks {
        let samples = out.track_samples(t.id);
        assert!(samples.len() > 10);
        let mut next = samples[0].dts;
        for s in &samples {
            assert_eq!(s.dts, next);
            next += i64::from(s.duration.unwrap());
        }
        if t.kind() == TrackKind::Video {
            assert!(samples[0].keyframe);
            assert!(samples.iter().any(|s| !s.keyframe));
        }
    }
}

#[test]
fn truncated_files() {
    if !have_ffmpeg() {
        return;
    }
    let mut args = H264_AAC.to_vec();
    args.extend(["-movflags", "+faststart"]);
    let fast = make("cut_fast.mp4", true, true, &args);
    let cut = &fast[..fast.len() * 6 / 10];
    for (seekable, chunk) in [(true, 65536), (false, 7)] {
        let e = demux(cut, seekable, chunk).unwrap_err();
        assert_eq!(e.kind, DemuxErrorKind::Truncated, "{e}");
        assert!(e.message.contains("file ends inside mdat at byte"), "{e}");
        assert!(e.message.contains("sample table expects"), "{e}");
    }
    // moov at the end, cut inside the mdat: the moov never arrives.
    let end = make("cut_end.mp4", true, true, &H264_AAC);
    let cut = &end[..end.len() * 6 / 10];
    for seekable in [true, false] {
        let e = demux(cut, seekable, 65536).unwrap_err();
        assert_eq!(e.kind, DemuxErrorKind::Truncated, "{e}");
    }
    // Cut inside the moov.
    let e = demux(&fast[..2000], true, 100).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Truncated, "{e}");
}

#[test]
fn random_bytes_are_not_mp4() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let e = demux(&noise, true, 4096).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Malformed);
    assert!(e.message.starts_with("not an MP4 file"), "{e}");
    let e = demux(&noise[..3], true, 4096).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Malformed);
    let e = demux(&[], true, 4096).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Malformed);
}

#[test]
fn audio_only() {
    if !have_ffmpeg() {
        return;
    }
    let file = make("audio.mp4", false, true, &["-c:a", "aac"]);
    let out = demux(&file, true, 65536).unwrap();
    assert_eq!(out.tracks.len(), 1);
    assert_eq!(out.tracks[0].kind(), TrackKind::Audio);
    check_samples(&out);
    check_against_ffprobe(&tmp("audio.mp4"), &out, true);
    check_against_mp4_atom(&file, &out);
}

#[test]
fn no_supported_track_is_unsupported() {
    if !have_ffmpeg() {
        return;
    }
    let file = make("mpeg4.mp4", true, false, &["-c:v", "mpeg4"]);
    for seekable in [true, false] {
        let e = demux(&file, seekable, 65536).unwrap_err();
        assert_eq!(e.kind, DemuxErrorKind::Unsupported, "{e}");
        assert_eq!(e.message, "no H.264 or AAC track");
    }
    // An unsupported track next to a supported one is skipped silently.
    let file = make(
        "mpeg4_aac.mp4",
        true,
        true,
        &["-c:v", "mpeg4", "-c:a", "aac", "-movflags", "+faststart"],
    );
    let out = demux(&file, true, 65536).unwrap();
    assert_eq!(out.tracks.len(), 1);
    assert_eq!(out.tracks[0].kind(), TrackKind::Audio);
}
