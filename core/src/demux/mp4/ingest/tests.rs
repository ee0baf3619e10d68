//! The ingest parser over a body ffmpeg really sent, in every chunking, and over the
//! hostile forms a receiver must refuse.

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::bytes_util::write_box;
use crate::demux::mp4::boxes::tests::mk;
use crate::demux::mp4::lsm::LSM_UUID;
use crate::fragment::tfxd::Tfxd;
use crate::media::TrackKind;

/// ffmpeg 5.1 `-f ismv -movflags isml+frag_keyframe`: 1 s, video GOP 0.5 s, AAC at 8 kHz.
const FFMPEG: &[u8] = include_bytes!("../../../../../media/ingest_ffmpeg.ismv");

fn run(body: &[u8], chunk: usize, limits: IngestLimits) -> Result<Vec<IngestEvent>, DemuxError> {
    let mut p = SmoothIngest::new(limits);
    let mut out = Vec::new();
    for part in body.chunks(chunk.max(1)) {
        p.push(part)?;
        out.extend(core::iter::from_fn(|| p.poll()));
    }
    p.finish()?;
    out.extend(core::iter::from_fn(|| p.poll()));
    Ok(out)
}

#[test]
fn ffmpeg_body_in_any_chunking() {
    let whole = run(FFMPEG, FFMPEG.len(), IngestLimits::default()).unwrap();
    let IngestEvent::Manifest(m) = &whole[0] else {
        panic!("manifest first: {:?}", whole[0]);
    };
    assert_eq!(m.tracks.len(), 2);
    assert_eq!(m.tracks[0].system_bitrate, 20_000);
    let tracks: Vec<_> = whole
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Media(DemuxEvent::Track(t)) => Some((t.id, t.kind(), t.timescale)),
            _ => None,
        })
        .collect();
    assert_eq!(
        tracks,
        [
            (1, TrackKind::Video, 10_000_000),
            (2, TrackKind::Audio, 10_000_000)
        ]
    );
    let frags: Vec<_> = whole
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Fragment(f) => Some((f.track, f.start, f.end)),
            _ => None,
        })
        .collect();
    // tfxd times, the audio's first one negative (AAC priming), read as signed.
    assert_eq!(
        frags,
        [
            (1, 0, 5_000_000),
            (2, -1_280_000, 5_120_000),
            (1, 5_000_000, 10_000_000),
            (2, 5_120_000, 10_000_000)
        ]
    );
    // Each fragment's samples follow it and start at its time.
    let mut last_frag = None;
    let mut samples = 0;
    for e in &whole {
        match e {
            IngestEvent::Fragment(f) => last_frag = Some(*f),
            IngestEvent::Media(DemuxEvent::Sample(s)) => {
                let f = last_frag.filter(|f| f.track == s.track).or_else(|| {
                    // The other track's fragment came last; find this track's latest.
                    whole
                        .iter()
                        .filter_map(|e| match e {
                            IngestEvent::Fragment(f) if f.track == s.track => Some(*f),
                            _ => None,
                        })
                        .filter(|f| f.start <= s.dts)
                        .last()
                });
                let f = f.expect("a fragment before each sample");
                assert!(s.dts >= f.start && s.dts < f.end, "{s:?} in {f:?}");
                samples += 1;
            }
            _ => {}
        }
    }
    // 10 video frames and the AAC frames of 1 s at 8 kHz (with priming).
    assert!(samples > 10 + 7, "{samples}");
    assert_eq!(whole.last(), Some(&IngestEvent::End));
    for chunk in [1, 7, 24, 1000, 4096] {
        assert_eq!(
            run(FFMPEG, chunk, IngestLimits::default()).unwrap(),
            whole,
            "{chunk}"
        );
    }
}

/// The body up to the first moof (ftyp, manifest, moov).
fn header() -> &'static [u8] {
    let mut at = 0;
    while &FFMPEG[at + 4..at + 8] != b"moof" {
        at += u32::from_be_bytes(FFMPEG[at..at + 4].try_into().unwrap()) as usize;
    }
    &FFMPEG[..at]
}

#[test]
fn refusals() {
    let err = |body: &[u8], limits: IngestLimits| run(body, 5, limits).unwrap_err();
    let d = IngestLimits::default();
    // Garbage.
    assert!(err(&[0xff; 32], d).message.contains("invalid box header"));
    // Text reads as a box of a gigabyte: refused at its header.
    assert!(err(b"GET / HTTP/1.1\r\n\r\nxxxxxxxxxxxx", d)
        .message
        .contains("more than"));
    // An absurd size, refused at its header.
    let mut huge = header().to_vec();
    huge.extend([0, 0, 0, 1, b'm', b'd', b'a', b't']);
    huge.extend((1u64 << 40).to_be_bytes());
    let mut p = SmoothIngest::new(d);
    assert!(p.push(&huge).unwrap_err().message.contains("more than"));
    // Size 0 (to the end).
    let mut zero = header().to_vec();
    zero.extend([0, 0, 0, 0, b'm', b'd', b'a', b't']);
    assert!(err(&zero, d).message.contains("size 0"));
    // No manifest: moov straight after ftyp.
    let h = header();
    let lsm_len = u32::from_be_bytes(h[24..28].try_into().unwrap()) as usize;
    let mut no_lsm = h[..24].to_vec();
    no_lsm.extend(&h[24 + lsm_len..]);
    assert!(err(&no_lsm, d).message.contains("manifest"));
    // ... accepted when the manifest is optional.
    let lax = IngestLimits {
        require_manifest: false,
        ..d
    };
    assert!(run(&no_lsm, 3, lax).is_ok());
    // Too many tracks for the limit (the manifest has two).
    let one = IngestLimits { max_tracks: 1, ..d };
    assert!(err(FFMPEG, one).message.contains("more than 1"));
    // A manifest larger than allowed.
    let small = IngestLimits {
        max_manifest_bytes: 100,
        ..d
    };
    assert!(err(FFMPEG, small).message.contains("larger than 100"));
    // Bytes after the mfra; a body cut inside a box; a body without moov.
    let mut after = FFMPEG.to_vec();
    after.extend(mk(b"free", &[]));
    assert!(err(&after, d).message.contains("after the mfra"));
    assert_eq!(
        err(&FFMPEG[..FFMPEG.len() - 100], d).kind,
        crate::demux::DemuxErrorKind::Truncated
    );
    assert!(err(&FFMPEG[..24], d).message.contains("before any moov"));
    // A second manifest.
    let mut two = h[..24 + lsm_len].to_vec();
    two.extend(&h[24..]);
    assert!(err(&two, d).message.contains("second live server manifest"));
}

/// `free`, `sdtp` and unknown boxes in a traf, unknown top-level uuids and `free` between
/// fragments are skipped; a traf with tfdt and no tfxd takes the tfdt.
#[test]
fn skips_unknown_and_falls_back_to_tfdt() {
    let mut body = header().to_vec();
    body.extend(mk(b"free", &[1, 2, 3]));
    let mut other = vec![0x11u8; 16];
    other.extend([9; 4]);
    body.extend(mk(b"uuid", &other));
    // The first moof/mdat of the capture, its tfxd (v1, 44 bytes) swapped for a tfdt and
    // an sdtp, sizes fixed up.
    let moof_at = header().len();
    let moof_len = u32::from_be_bytes(FFMPEG[moof_at..moof_at + 4].try_into().unwrap()) as usize;
    let moof = &FFMPEG[moof_at..moof_at + moof_len];
    let mdat_len = u32::from_be_bytes(
        FFMPEG[moof_at + moof_len..moof_at + moof_len + 4]
            .try_into()
            .unwrap(),
    ) as usize;
    let mdat = &FFMPEG[moof_at + moof_len..moof_at + moof_len + mdat_len];
    let tfxd_at = moof
        .windows(16)
        .position(|w| w == crate::fragment::tfxd::TFXD_UUID)
        .unwrap()
        - 8;
    let mut tfdt = Vec::new();
    write_box(&mut tfdt, b"tfdt", |o| {
        crate::bytes_util::put_version_flags(o, 1, 0);
        o.extend(777u64.to_be_bytes());
    });
    let mut sdtp = mk(b"sdtp", &[0; 8]);
    sdtp.truncate(8 + 4);
    sdtp[3] = 12;
    // tfdt 20 + sdtp 12 = 32 bytes in place of tfxd's 44: pad with a 12-byte free.
    let pad = mk(b"free", &[0; 4]);
    let mut new_moof = moof[..tfxd_at].to_vec();
    new_moof.extend(&tfdt);
    new_moof.extend(&sdtp);
    new_moof.extend(&pad);
    new_moof.extend(&moof[tfxd_at + Tfxd::ENCODED_LEN..]);
    assert_eq!(
        new_moof.len(),
        moof.len(),
        "same size: the data offset stays right"
    );
    body.extend(&new_moof);
    body.extend(mdat);
    // An mfra with children still ends the stream.
    body.extend(mk(b"mfra", &mk(b"mfro", &[0; 8])));
    let events = run(&body, 11, IngestLimits::default()).unwrap();
    let frags: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Fragment(f) => Some(f.start),
            _ => None,
        })
        .collect();
    assert_eq!(frags, [777]);
    assert!(events.iter().any(|e| matches!(
        e,
        IngestEvent::Media(DemuxEvent::Sample(s)) if s.dts == 777
    )));
    assert_eq!(events.last(), Some(&IngestEvent::End));
    // The capture's own LSM is what header() starts with.
    assert_eq!(&header()[32..48], &LSM_UUID);
}
