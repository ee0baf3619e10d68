//! Resuming after a host restart: a presentation is run, "killed" (dropped mid-stream, one
//! fragment left half-written), and a new one resumes from the files it left.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use bytes::Bytes;

use super::tests::{audio_track, drain, push_av, video_track};
use super::*;

/// A folder in memory: outputs applied as a host would.
#[derive(Default)]
struct Disk {
    files: BTreeMap<String, Vec<u8>>,
    manifest: Option<String>,
}

impl Disk {
    fn apply(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::WriteFragment { path, data, .. }
                | Output::RewriteFragment { path, data, .. } => {
                    self.files.insert(path, data.to_vec());
                }
                Output::RewriteFragmentHead { path, head, .. } => {
                    if let Some(file) = self.files.get_mut(&path) {
                        file[..head.len()].copy_from_slice(&head);
                    }
                }
                Output::WriteManifest { xml, .. } => self.manifest = Some(xml),
                Output::Remove { path } => {
                    self.files.remove(&path);
                }
                Output::Event(_) => {}
            }
        }
    }

    /// What a host hands to `resume`: files in the folders, the newest `whole` per folder
    /// given whole and the rest as heads of `head` bytes.
    fn stored(&self, folders: &[String], whole: usize, head: usize) -> Vec<StoredFragment> {
        let mut out = Vec::new();
        for folder in folders {
            let mut names: Vec<(&String, &Vec<u8>)> = self
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(folder.as_str()))
                .collect();
            names.sort_by_key(|(p, _)| {
                Layout::fragment_time(p.rsplit('/').next().unwrap_or("")).unwrap_or(0)
            });
            let n = names.len();
            for (i, (path, data)) in names.into_iter().enumerate() {
                let take = if i + whole >= n {
                    data.len()
                } else {
                    head.min(data.len())
                };
                out.push(StoredFragment {
                    path: path.clone(),
                    len: data.len() as u64,
                    data: data[..take].to_vec(),
                });
            }
        }
        out
    }

    fn fragment(&self, path: &str) -> Fragment {
        let data = self.files.get(path).expect("file exists");
        Fragment::decode(data).expect("decodes")
    }
}

fn live_options(playlist: Playlist) -> PresentationOptions {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    options.playlist = playlist;
    options
}

fn live(options: &PresentationOptions, bitrates: &[u32]) -> (Presentation, Vec<LevelId>) {
    let mut p = Presentation::new(options.clone());
    let ids = bitrates
        .iter()
        .map(|b| p.add_quality_level(&b.to_string(), *b).expect("level"))
        .collect();
    (p, ids)
}

fn with_tracks(p: &mut Presentation, l: LevelId) {
    p.add_track(l, video_track(0)).expect("video");
    p.add_track(l, audio_track()).expect("audio");
}

fn video_chunks(xml: &str) -> Vec<Chunk> {
    let m = crate::manifest::parse(xml).expect("manifest parses");
    m.stream_indexes[0].chunks.clone()
}

#[test]
fn a_killed_live_presentation_continues_from_its_files() {
    let options = live_options(Playlist::Rolling {
        length: 4,
        stale_retention: 1,
    });
    let mut disk = Disk::default();
    let (mut before, ids) = live(&options, &[1_000_000]);
    with_tracks(&mut before, ids[0]);
    push_av(&mut before, ids[0], 16, 50, 0);
    disk.apply(drain(&mut before));
    let old_manifest = disk.manifest.clone().expect("a live manifest");
    let old_listed = video_chunks(&old_manifest);
    // 7 video fragments closed (0..14 s); the manifest lists up to the look-ahead.
    let old_end = 140_000_000;
    assert_eq!(
        old_listed.last().map(|c| c.t + c.d),
        Some(old_end - 40_000_000)
    );
    // The kill came while the 8th fragment was being written.
    let cut = disk.files["1000000/video/120000000.fmp4"].clone();
    disk.files.insert(
        "1000000/video/140000000.fmp4".into(),
        cut[..cut.len() / 2].to_vec(),
    );
    let announced_before = disk.fragment("1000000/video/120000000.fmp4");
    drop(before);

    let (mut after, ids) = live(&options, &[1_000_000]);
    after.adopt_audio_bitrates(&crate::manifest::parse(&old_manifest).expect("manifest"));
    let stored = disk.stored(&after.fragment_folders(), 3, 4096);
    let report = after
        .resume(Some(old_manifest.clone()), stored)
        .expect("resumes");
    assert_eq!(report.removed, vec!["1000000/video/140000000.fmp4"]);
    assert!(report.ignored.is_empty(), "{:?}", report.ignored);
    // Audio frames do not end exactly where video fragments do: the level resumes at the
    // later of its tracks' ends, a fraction of an audio frame after the video's.
    let resume_at = report.resume_at.expect("resume point");
    assert!(
        (old_end..old_end + 250_000).contains(&resume_at),
        "{resume_at}"
    );
    disk.apply(drain(&mut after));
    assert!(!disk.files.contains_key("1000000/video/140000000.fmp4"));
    assert_eq!(disk.manifest.as_deref(), Some(old_manifest.as_str()));

    // The encoder restarts its clock at 0.
    with_tracks(&mut after, ids[0]);
    push_av(&mut after, ids[0], 10, 50, 0);
    let outputs = drain(&mut after);
    let new_fragments: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::WriteFragment { path, .. } if path.contains("/video/") => Some(path.clone()),
            _ => None,
        })
        .collect();
    disk.apply(outputs);
    assert_eq!(
        new_fragments.first().cloned(),
        Some(alloc::format!("1000000/video/{resume_at}.fmp4")),
        "contiguous: the first new fragment starts where the last complete one ended"
    );

    let m = crate::manifest::parse(disk.manifest.as_deref().expect("manifest")).expect("parses");
    for s in &m.stream_indexes {
        assert_eq!(s.chunks.len(), 4, "rolling window kept");
        // The last old fragment was stretched over the gap to the first new one.
        for w in s.chunks.windows(2) {
            assert_eq!(w[0].t + w[0].d, w[1].t, "no gap, no overlap: {w:?}");
        }
        for c in &s.chunks {
            let path = options
                .layout
                .fragment_path(&s.name, s.quality_levels[0].bitrate, c.t);
            let f = disk.fragment(&path);
            assert_eq!(
                (f.moof.traf.tfxd.time, f.moof.traf.tfxd.duration),
                (c.t, c.d)
            );
            let samples: u64 = f
                .moof
                .traf
                .trun
                .samples
                .iter()
                .map(|s| u64::from(s.duration))
                .sum();
            assert_eq!(samples, c.d, "{path}: trun durations add up to c@d");
            let tfrf = f.moof.traf.tfrf.expect("live fragments carry tfrf");
            assert!(!tfrf.entries.is_empty(), "{path} announces what follows");
        }
    }
    // The fragments unlisted at the kill were rewritten to announce the new ones.
    let rewritten = disk.fragment("1000000/video/120000000.fmp4");
    let entries = rewritten.moof.traf.tfrf.expect("tfrf").entries;
    assert_eq!(
        entries.iter().map(|e| e.time).collect::<Vec<_>>(),
        vec![resume_at, resume_at + 20_000_000]
    );
    assert!(
        announced_before
            .moof
            .traf
            .tfrf
            .expect("tfrf")
            .entries
            .is_empty(),
        "it announced nothing before"
    );
    assert_eq!(
        disk.fragment(&new_fragments[0]).moof.mfhd.sequence_number,
        announced_before.moof.mfhd.sequence_number + 1,
        "sequence numbers go on"
    );
    // The window moved over the old fragments: the oldest files are gone.
    let video_files: Vec<&String> = disk
        .files
        .keys()
        .filter(|p| p.contains("/video/"))
        .collect();
    assert!(!video_files.iter().any(|p| p.ends_with("/0.fmp4")));
    assert!(video_files.len() <= 4 + 1 + 2 + 1, "{video_files:?}");
}

#[test]
fn levels_resume_on_one_timeline_whichever_connects_first() {
    let options = live_options(Playlist::Appending);
    let mut disk = Disk::default();
    let (mut before, ids) = live(&options, &[2, 1]);
    for l in &ids {
        with_tracks(&mut before, *l);
    }
    push_av(&mut before, ids[0], 9, 50, 0);
    push_av(&mut before, ids[1], 9, 50, 0);
    disk.apply(drain(&mut before));
    drop(before);

    let (mut after, ids) = live(&options, &[2, 1]);
    if let Some(m) = disk
        .manifest
        .as_deref()
        .and_then(|m| crate::manifest::parse(m).ok())
    {
        after.adopt_audio_bitrates(&m);
    }
    let stored = disk.stored(&after.fragment_folders(), 2, 100_000);
    let report = after
        .resume(disk.manifest.clone(), stored)
        .expect("resumes");
    assert_eq!(report.resume_at, Some(80_000_000));
    for l in &ids {
        with_tracks(&mut after, *l);
    }
    // `hi` comes back first; `lo` two seconds later with the same encoder clock.
    push_av(&mut after, ids[0], 2, 50, 0);
    for f in 50..200i64 {
        after
            .push_sample(
                ids[1],
                Sample {
                    track: 1,
                    dts: f * 512,
                    cts_offset: 0,
                    duration: None,
                    keyframe: f % 50 == 0,
                    data: bytes::Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                },
            )
            .expect("video");
    }
    push_av(&mut after, ids[0], 8, 50, 0);
    let lo = after.levels[1].video.as_ref().expect("lo video");
    assert!(
        lo.chunks.contains(&(100_000_000, 20_000_000)),
        "lo lands 2 s after the resume point: {:?}",
        lo.chunks
    );
    let m = after.manifest().expect("levels aligned");
    let video = &m.stream_indexes[0].chunks;
    let hi = after.levels[0].video.as_ref().expect("hi video");
    assert!(
        hi.chunks.contains(&(80_000_000, 20_000_000))
            && hi.chunks.contains(&(100_000_000, 20_000_000)),
        "hi resumes at the end and shares lo's boundaries: {:?}",
        hi.chunks
    );
    for w in video.windows(2) {
        assert!(w[0].t + w[0].d <= w[1].t);
    }
}

#[test]
fn resume_refuses_to_run_late_and_starts_fresh_on_an_empty_folder() {
    let options = live_options(Playlist::Appending);
    let (mut p, ids) = live(&options, &[1_000_000]);
    let report = p.resume(None, Vec::new()).expect("nothing to resume");
    assert_eq!(report.resume_at, None);
    with_tracks(&mut p, ids[0]);
    push_av(&mut p, ids[0], 3, 25, 0);
    assert!(p.resume(None, Vec::new()).is_err(), "media already arrived");
    let vod = PresentationOptions::vod(Layout::Multi);
    let (mut v, _) = live(&vod, &[1]);
    assert!(v.resume(None, Vec::new()).is_err(), "VOD does not resume");
}

#[test]
fn files_that_are_not_whole_fragments_are_judged_carefully() {
    let options = live_options(Playlist::Appending);
    let mut disk = Disk::default();
    let (mut before, ids) = live(&options, &[1_000_000]);
    with_tracks(&mut before, ids[0]);
    push_av(&mut before, ids[0], 9, 50, 0);
    disk.apply(drain(&mut before));
    let good = disk.files["1000000/video/20000000.fmp4"].clone();
    let (mut after, _) = live(&options, &[1_000_000]);
    let file = |path: &str, len: usize, data: &[u8]| StoredFragment {
        path: path.into(),
        len: len as u64,
        data: data.to_vec(),
    };
    let mut padded = good.clone();
    padded.push(0);
    let stored = vec![
        // Whole and good; good but misnamed; cut short; an empty file; trailing junk.
        file("1000000/video/20000000.fmp4", good.len(), &good),
        file("1000000/video/0.fmp4", good.len(), &good),
        file(
            "1000000/video/40000000.fmp4",
            good.len() - 1,
            &good[..good.len() - 1],
        ),
        file("1000000/video/60000000.fmp4", 0, &[]),
        file("1000000/video/70000000.fmp4", padded.len(), &padded),
        // Too short a head to judge, a name that is not a fragment, another folder.
        file("1000000/video/80000000.fmp4", good.len(), &good[..10]),
        file("1000000/video/.90.fmp4.1.tmp", 3, b"abc"),
        file("5/video/0.fmp4", good.len(), &good),
    ];
    let report = after.resume(None, stored).expect("resumes");
    assert_eq!(
        report.removed,
        vec![
            "1000000/video/40000000.fmp4",
            "1000000/video/60000000.fmp4",
            "1000000/video/70000000.fmp4"
        ]
    );
    assert_eq!(
        report.ignored,
        vec![
            // Its tfxd says 20000000: not the fragment its name claims.
            "1000000/video/0.fmp4",
            "1000000/video/80000000.fmp4",
            "1000000/video/.90.fmp4.1.tmp",
            "5/video/0.fmp4"
        ]
    );
    assert_eq!(report.fragments, 1);
}

// Fuzzing regression (fuzz target `resume`): after a resume, a returning source whose
// decode times sit near i64::MIN overflowed `to_mss(dts) - origin` in debug builds.
#[test]
fn resume_then_extreme_decode_times_do_not_overflow() {
    let options = live_options(Playlist::Rolling {
        length: 2,
        stale_retention: 3,
    });
    let mut disk = Disk::default();
    let (mut before, ids) = live(&options, &[1_000_000]);
    with_tracks(&mut before, ids[0]);
    push_av(&mut before, ids[0], 8, 25, 0);
    disk.apply(drain(&mut before));
    drop(before);

    let (mut after, ids) = live(&options, &[1_000_000]);
    let stored = disk.stored(&after.fragment_folders(), 3, 4096);
    after
        .resume(disk.manifest.clone(), stored)
        .expect("resumes");
    p_add_video(&mut after, ids[0]);
    let t0 = -(1i64 << 62) - 1;
    for frame in 0..100 {
        let _ = after.push_sample(
            ids[0],
            Sample {
                track: 1,
                dts: t0.saturating_add(frame * 3_600),
                cts_offset: 0,
                duration: None,
                keyframe: frame % 25 == 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            },
        );
        drain(&mut after);
    }
    let _ = after.finish();
    drain(&mut after);
}

fn p_add_video(p: &mut Presentation, l: LevelId) {
    p.add_track(l, video_track(0)).expect("video");
}
