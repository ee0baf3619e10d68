//! State machine tests over hand-built files.

use alloc::vec;
use alloc::vec::Vec;

use super::boxes::tests::{mk, mk_full};
use super::moov::trak::stsd::tests::{avc1_stsd, mp4a_stsd};
use super::moov::trak::tests::trak;
use super::*;
use crate::demux::DemuxErrorKind;

fn table(kind: &[u8; 4], entries: &[&[u32]]) -> Vec<u8> {
    let mut b = (entries.len() as u32).to_be_bytes().to_vec();
    for e in entries {
        for v in *e {
            b.extend(v.to_be_bytes());
        }
    }
    mk_full(kind, 0, 0, &b)
}

/// Two video samples (2-byte NAL lengths) and one audio sample, interleaved v, a, v, in
/// one chunk each.
const V1: [u8; 5] = [0, 3, 0x65, 1, 2];
const V2: [u8; 4] = [0, 2, 0x41, 9];
const A1: [u8; 3] = [0x21, 0x22, 0x23];

fn moov(v_offsets: [u32; 2], a_offset: u32) -> Vec<u8> {
    let mut mvhd = vec![0u8; 96];
    mvhd[8..12].copy_from_slice(&1000u32.to_be_bytes());
    let mut body = mk_full(b"mvhd", 0, 0, &mvhd);
    let mut vt = Vec::new();
    let mut stsz = 0u32.to_be_bytes().to_vec();
    stsz.extend(2u32.to_be_bytes());
    stsz.extend((V1.len() as u32).to_be_bytes());
    stsz.extend((V2.len() as u32).to_be_bytes());
    vt.extend(mk_full(b"stsz", 0, 0, &stsz));
    vt.extend(table(b"stco", &[&[v_offsets[0]], &[v_offsets[1]]]));
    vt.extend(table(b"stsc", &[&[1, 1, 1]]));
    vt.extend(table(b"stts", &[&[2, 3000]]));
    vt.extend(table(b"stss", &[&[1]]));
    // Half a second of delay before the video (movie timescale 1000).
    let mut elst = 2u32.to_be_bytes().to_vec();
    for (d, t) in [(500u32, u32::MAX), (6, 0)] {
        elst.extend(d.to_be_bytes());
        elst.extend(t.to_be_bytes());
        elst.extend(0x0001_0000u32.to_be_bytes());
    }
    let elst = mk_full(b"elst", 0, 0, &elst);
    body.extend(trak(1, 90000, &avc1_stsd(2), &vt, Some(&elst)));
    let mut at = Vec::new();
    let mut stsz = (A1.len() as u32).to_be_bytes().to_vec();
    stsz.extend(1u32.to_be_bytes());
    at.extend(mk_full(b"stsz", 0, 0, &stsz));
    at.extend(table(b"stco", &[&[a_offset]]));
    at.extend(table(b"stsc", &[&[1, 1, 1]]));
    at.extend(table(b"stts", &[&[1, 1024]]));
    body.extend(trak(2, 44100, &mp4a_stsd(0, 0x40, false), &at, None));
    mk(b"moov", &body)
}

fn mdat_payload() -> Vec<u8> {
    let mut p = V1.to_vec();
    p.extend(A1);
    p.extend(V2);
    p
}

fn ftyp() -> Vec<u8> {
    mk(b"ftyp", b"isom\0\0\0\0isom")
}

/// ftyp, moov, then mdat with the given header.
fn moov_first(mdat_header: &[u8]) -> Vec<u8> {
    let f = ftyp();
    // The moov's size does not depend on the offsets, so build it twice.
    let moov_len = moov([0, 0], 0).len();
    let data = (f.len() + moov_len + mdat_header.len()) as u32;
    let mut file = f;
    file.extend(moov(
        [data, data + (V1.len() + A1.len()) as u32],
        data + V1.len() as u32,
    ));
    file.extend_from_slice(mdat_header);
    file.extend(mdat_payload());
    file
}

fn moov_last() -> Vec<u8> {
    let mut file = ftyp();
    let data = (file.len() + 8) as u32;
    file.extend(mk(b"mdat", &mdat_payload()));
    file.extend(moov(
        [data, data + (V1.len() + A1.len()) as u32],
        data + V1.len() as u32,
    ));
    file
}

fn run(
    file: &[u8],
    seekable: bool,
    chunk: usize,
) -> Result<(Vec<DemuxEvent>, Vec<u64>), DemuxError> {
    let mut d = Mp4Demuxer::new(seekable);
    let (mut events, mut seeks) = (Vec::new(), Vec::new());
    let mut pos = 0usize;
    let mut drain = |d: &mut Mp4Demuxer, pos: &mut usize| {
        while let Some(e) = d.poll() {
            match e {
                DemuxEvent::Seek(to) => {
                    seeks.push(to);
                    *pos = to as usize;
                }
                e => events.push(e),
            }
        }
    };
    loop {
        if pos >= file.len() {
            d.finish()?;
            let before = pos;
            drain(&mut d, &mut pos);
            if pos == before {
                break;
            }
            continue;
        }
        let end = (pos + chunk).min(file.len());
        d.push(&file[pos..end])?;
        pos = end;
        drain(&mut d, &mut pos);
    }
    Ok((events, seeks))
}

fn samples(events: &[DemuxEvent]) -> Vec<Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Sample(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn check_expected(events: &[DemuxEvent]) {
    let tracks: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            DemuxEvent::Track(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].edit_offset, -45000);
    assert_eq!(tracks[1].edit_offset, 0);
    assert_eq!(tracks[1].avg_bitrate, Some(3 * 8 * 44100 / 1024));
    let s = samples(events);
    // File order: v1, a1, v2; H.264 lengths rewritten to 4 bytes.
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].track, &s[0].data[..]),
        (1, &[0, 0, 0, 3, 0x65, 1, 2][..])
    );
    assert_eq!((s[1].track, &s[1].data[..]), (2, &A1[..]));
    assert_eq!(
        (s[2].track, &s[2].data[..]),
        (1, &[0, 0, 0, 2, 0x41, 9][..])
    );
    assert_eq!(
        (s[2].dts, s[2].duration, s[2].keyframe),
        (3000, Some(3000), false)
    );
    assert!(s[0].keyframe && s[1].keyframe);
}

#[test]
fn moov_first_any_chunking() {
    let file = moov_first(&mk(b"mdat", &[])[..8]);
    let mut file = file;
    // Patch the mdat size now that the payload follows.
    let at = file.len() - mdat_payload().len() - 8;
    let size = (8 + mdat_payload().len()) as u32;
    file[at..at + 4].copy_from_slice(&size.to_be_bytes());
    for chunk in [1, 2, 3, 5, 8, 1000] {
        for seekable in [false, true] {
            let (events, seeks) = run(&file, seekable, chunk).unwrap();
            assert!(seeks.is_empty());
            check_expected(&events);
        }
    }
}

#[test]
fn largesize_and_size_zero_mdat() {
    let n = (16 + mdat_payload().len()) as u64;
    let mut large = vec![0, 0, 0, 1, b'm', b'd', b'a', b't'];
    large.extend(n.to_be_bytes());
    for chunk in [1, 7, 1000] {
        check_expected(&run(&moov_first(&large), true, chunk).unwrap().0);
        let zero = [0, 0, 0, 0, b'm', b'd', b'a', b't'];
        check_expected(&run(&moov_first(&zero), false, chunk).unwrap().0);
    }
}

#[test]
fn moov_last_seeks_or_buffers() {
    let file = moov_last();
    for chunk in [1, 4, 1000] {
        let (events, seeks) = run(&file, true, chunk).unwrap();
        let mdat_start = ftyp().len() as u64;
        let after_mdat = mdat_start + 8 + mdat_payload().len() as u64;
        if chunk == 1000 {
            // The mdat ended inside the pushed bytes: skipped without a seek.
            assert_eq!(seeks, vec![mdat_start]);
        } else {
            assert_eq!(seeks, vec![after_mdat, mdat_start], "chunk {chunk}");
        }
        check_expected(&events);
        let (events, seeks) = run(&file, false, chunk).unwrap();
        assert!(seeks.is_empty());
        check_expected(&events);
    }
}

#[test]
fn seek_past_the_end_is_truncation() {
    let mut file = moov_last();
    file.truncate(ftyp().len() + 10);
    for seekable in [true, false] {
        let e = run(&file, seekable, 1000).unwrap_err();
        assert_eq!(e.kind, DemuxErrorKind::Truncated, "{e}");
    }
}

#[test]
fn short_mdat_is_truncated_with_the_expected_end() {
    let mut file = moov_first(&mk(b"mdat", &[])[..8]);
    let at = file.len() - mdat_payload().len() - 8;
    file[at..at + 4].copy_from_slice(&((8 + mdat_payload().len()) as u32).to_be_bytes());
    let len = file.len();
    file.truncate(len - 2);
    let e = run(&file, true, 3).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Truncated);
    assert_eq!(
        e.message,
        alloc::format!(
            "file ends inside mdat at byte {} (sample table expects {})",
            len - 2,
            len
        )
    );
}

#[test]
fn sample_past_its_mdat_is_malformed() {
    let mut file = moov_first(&mk(b"mdat", &[])[..8]);
    let at = file.len() - mdat_payload().len() - 8;
    // Declare the mdat one byte short of the last sample.
    file[at..at + 4].copy_from_slice(&((7 + mdat_payload().len()) as u32).to_be_bytes());
    let e = run(&file, true, 1000).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Malformed, "{e}");
}

#[test]
fn no_supported_track() {
    let mut mvhd = vec![0u8; 96];
    mvhd[8..12].copy_from_slice(&1000u32.to_be_bytes());
    let mut body = mk_full(b"mvhd", 0, 0, &mvhd);
    let mut b = 1u32.to_be_bytes().to_vec();
    b.extend(mk(b"tmcd", &[0u8; 20]));
    body.extend(trak(1, 600, &mk_full(b"stsd", 0, 0, &b), &[], None));
    let mut file = ftyp();
    file.extend(mk(b"moov", &body));
    let mut d = Mp4Demuxer::new(false);
    let e = d.push(&file).unwrap_err();
    assert_eq!(e.kind, DemuxErrorKind::Unsupported);
    assert_eq!(e.message, "no H.264 or AAC track");
    assert!(d.poll().is_none());
    assert_eq!(d.finish().unwrap_err(), e);
}

#[test]
fn never_panics_on_damage() {
    let file = moov_first(&[0, 0, 0, 0, b'm', b'd', b'a', b't']);
    for cut in 0..file.len() {
        let _ = run(&file[..cut], true, 3);
    }
    for i in 0..file.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            let mut f = file.clone();
            f[i] = v;
            let _ = run(&f, true, 1000);
            let _ = run(&f, false, 7);
        }
    }
}

#[test]
fn fragmented_hand_built() {
    // moov with one AAC track and mvex; one moof (default-base-is-moof, tfdt) + mdat.
    let mut mvhd = vec![0u8; 96];
    mvhd[8..12].copy_from_slice(&1000u32.to_be_bytes());
    let mut body = mk_full(b"mvhd", 0, 0, &mvhd);
    body.extend(trak(5, 44100, &mp4a_stsd(0, 0x40, false), &[], None));
    let mut trex = Vec::new();
    for v in [5u32, 1, 1024, 0, 0] {
        trex.extend(v.to_be_bytes());
    }
    body.extend(mk(b"mvex", &mk_full(b"trex", 0, 0, &trex)));
    let mut file = ftyp();
    file.extend(mk(b"moov", &body));

    let fragment = |tfdt: Option<u32>, data_offset: u32| {
        let mut traf = mk_full(b"tfhd", 0, 0x02_0000, &5u32.to_be_bytes());
        if let Some(t) = tfdt {
            traf.extend(mk_full(b"tfdt", 0, 0, &t.to_be_bytes()));
        }
        let mut trun = 2u32.to_be_bytes().to_vec();
        trun.extend(data_offset.to_be_bytes());
        trun.extend(2u32.to_be_bytes());
        trun.extend(3u32.to_be_bytes());
        traf.extend(mk_full(b"trun", 0, 0x201, &trun));
        mk(b"moof", &mk(b"traf", &traf))
    };
    let moof_len = fragment(Some(0), 0).len() as u32;
    file.extend(fragment(Some(2048), moof_len + 8));
    file.extend(mk(b"mdat", &[1, 2, 3, 4, 5]));
    // No tfdt: continues from the previous fragment's end.
    let moof_len = fragment(None, 0).len() as u32;
    file.extend(mk(b"styp", b"msdh\0\0\0\0"));
    file.extend(fragment(None, moof_len + 8));
    file.extend(mk(b"mdat", &[6, 7, 8, 9, 10]));
    for chunk in [1, 9, 1000] {
        let (events, seeks) = run(&file, true, chunk).unwrap();
        assert!(seeks.is_empty());
        let s = samples(&events);
        let dts: Vec<i64> = s.iter().map(|s| s.dts).collect();
        assert_eq!(dts, vec![2048, 3072, 4096, 5120]);
        assert_eq!(&s[1].data[..], &[3, 4, 5]);
        assert_eq!(&s[3].data[..], &[8, 9, 10]);
        assert!(s.iter().all(|s| s.track == 5 && s.keyframe));
    }
}
