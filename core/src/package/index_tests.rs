//! The index against the packaging session itself: every fragment and the manifest
//! byte-identical, reading only the `moov`s.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::index::{index_in_memory, IndexBuilder, Want};
use super::{InputSpec, Session, SessionOptions, Step};
use crate::presentation::Output;

const DEMO: &[u8] = include_bytes!("../../../media/demo.mp4");
const DEMO_HI: &[u8] = include_bytes!("../../../media/demo_hi.mp4");
const DEMO_LO: &[u8] = include_bytes!("../../../media/demo_lo.mp4");

fn options(names: &[&str]) -> SessionOptions {
    SessionOptions {
        inputs: names
            .iter()
            .map(|n| InputSpec {
                name: n.to_string(),
                ..InputSpec::default()
            })
            .collect(),
        seekable: true,
        ..SessionOptions::default()
    }
}

/// What `smoothcast package` writes: path -> bytes.
fn packaged(options: SessionOptions, inputs: &[&[u8]]) -> BTreeMap<String, Vec<u8>> {
    let mut s = Session::new(options).expect("session");
    let mut files = BTreeMap::new();
    let mut input = 0;
    let mut offset = 0usize;
    let mut done = false;
    while !done {
        let data = inputs[input];
        let to = (offset + 100_000).min(data.len());
        if offset >= data.len() {
            s.end().expect("end");
        } else {
            s.push(&data[offset..to]).expect("push");
            offset = to;
        }
        while let Some(step) = s.poll() {
            match step {
                Step::Seek(o) => offset = o as usize,
                Step::InputDone(i) => {
                    input = (i + 1).min(inputs.len() - 1);
                    offset = 0;
                }
                Step::Done => done = true,
                Step::Output(Output::WriteFragment { path, data, .. }) => {
                    files.insert(path, data.to_vec());
                }
                Step::Output(Output::WriteManifest { path, xml }) => {
                    files.insert(path, xml.into_bytes());
                }
                Step::Output(_) => {}
            }
        }
    }
    files
}

fn check(names: &[&str], inputs: &[&[u8]]) {
    let expected = packaged(options(names), inputs);
    let index = index_in_memory(
        IndexBuilder::package(options(names)).expect("builder"),
        inputs,
    )
    .expect("index");
    assert_eq!(
        expected.get(&index.manifest_path),
        Some(&index.manifest_xml.clone().into_bytes())
    );
    assert_eq!(crate::manifest::write(&index.manifest), index.manifest_xml);
    assert_eq!(index.fragments.len() + 1, expected.len());
    for (path, f) in &index.fragments {
        let parts: Vec<&[u8]> = f
            .ranges
            .iter()
            .map(|r| &inputs[r.input][r.offset as usize..(r.offset + r.len) as usize])
            .collect();
        let bytes = f.assemble(&parts).expect("assembles");
        assert_eq!(Some(&bytes), expected.get(path), "{path}");
        assert_eq!(f.info.size as u64, f.len());
        assert_eq!(&bytes[f.moof_len() + 4..f.moof_len() + 8], b"mdat");
    }
}

#[test]
fn one_file_is_byte_identical_to_packaging() {
    check(&["demo.mp4"], &[DEMO]);
}

#[test]
fn a_group_is_byte_identical_to_packaging() {
    check(
        &["demo_hi.mp4", "demo.mp4", "demo_lo.mp4"],
        &[DEMO_HI, DEMO, DEMO_LO],
    );
}

#[test]
fn iis_urls_name_fragments() {
    let index = index_in_memory(
        IndexBuilder::package(options(&["demo.mp4"])).expect("builder"),
        &[DEMO],
    )
    .expect("index");
    let video = &index.manifest.stream_indexes[0];
    let (b, t) = (video.quality_levels[0].bitrate, video.chunks[1].t);
    let (path, f) = index.fragment_at("video", b, t).expect("listed");
    assert_eq!(index.fragment(path), Some(f));
    assert_eq!(f.info.start, t);
    assert!(
        index.fragment_at("video", b, t + 1).is_none(),
        "not a boundary"
    );
    assert!(
        index.fragment_at("video", b + 1, t).is_none(),
        "no such bitrate"
    );
    assert!(index.fragment_at("text", b, t).is_none(), "no such stream");
}

#[test]
fn reads_the_moov_only() {
    let mut b = IndexBuilder::package(options(&["demo.mp4"])).expect("builder");
    let mut read = 0usize;
    loop {
        match b.want() {
            Want::Done => break,
            Want::Read { offset, len, .. } => {
                let from = (offset as usize).min(DEMO.len());
                let to = (from + len.min(16 * 1024)).min(DEMO.len());
                read += to - from;
                b.push(&DEMO[from..to]).expect("push");
            }
        }
    }
    b.finish().expect("index");
    assert!(read < DEMO.len() / 4, "read {read} of {}", DEMO.len());
}

#[test]
fn moov_at_the_end() {
    // The demo file with its moov moved behind the mdat (chunk offsets shifted).
    let file = moov_last(DEMO);
    check(&["demo.mp4"], &[&file]);
}

#[test]
fn not_mp4_is_refused() {
    let b = IndexBuilder::package(options(&["x.ts"])).expect("builder");
    let ts = vec![0x47u8; 188 * 4];
    assert!(index_in_memory(b, &[&ts]).is_err());
}

/// Rewrites `ftyp moov mdat` as `ftyp mdat moov`, shifting `stco`/`co64` entries.
fn moov_last(file: &[u8]) -> Vec<u8> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= file.len() {
        let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        boxes.push((&file[at + 4..at + 8], &file[at..at + size]));
        at += size;
    }
    let moov = boxes.iter().find(|b| b.0 == b"moov").unwrap().1;
    let mdat_len: usize = boxes
        .iter()
        .filter(|b| b.0 != b"moov" && b.0 != b"ftyp")
        .map(|b| b.1.len())
        .sum();
    // Chunk offsets move back by the moov's length.
    let mut moov = moov.to_vec();
    let shift = moov.len() as u64;
    let mut i = 0;
    while i + 8 <= moov.len() {
        if &moov[i + 4..i + 8] == b"stco" {
            let n = u32::from_be_bytes(moov[i + 12..i + 16].try_into().unwrap()) as usize;
            for k in 0..n {
                let p = i + 16 + 4 * k;
                let v = u32::from_be_bytes(moov[p..p + 4].try_into().unwrap()) as u64;
                moov[p..p + 4].copy_from_slice(&((v - shift) as u32).to_be_bytes());
            }
        }
        i += 1;
    }
    let mut out = Vec::new();
    for b in boxes.iter().filter(|b| b.0 == b"ftyp") {
        out.extend_from_slice(b.1);
    }
    for b in boxes.iter().filter(|b| b.0 != b"moov" && b.0 != b"ftyp") {
        out.extend_from_slice(b.1);
    }
    assert_eq!(out.len() + moov.len(), file.len());
    let _ = mdat_len;
    out.extend_from_slice(&moov);
    out
}

#[test]
fn a_table_claiming_huge_samples_is_refused() {
    // The first stsz entry of the demo file claims 2 GB: no stand-in that large is made.
    let mut file = DEMO.to_vec();
    let at = file
        .windows(4)
        .position(|w| w == b"stsz")
        .expect("an stsz box");
    // stsz: version/flags (4), sample_size (4) = 0, sample_count (4), entries.
    assert_eq!(&file[at + 8..at + 12], &[0, 0, 0, 0], "per-sample sizes");
    file[at + 16..at + 20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let b = IndexBuilder::package(options(&["demo.mp4"])).expect("builder");
    let err = index_in_memory(b, &[&file]).expect_err("refused");
    assert!(err.to_string().contains("bytes"), "{err}");
}
