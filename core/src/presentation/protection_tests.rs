//! Protected presentations: encryption boxes in every fragment, saio right across live
//! rewrites, rewrites re-emitting the same IVs and ciphertext, IVs unique over all tracks.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use super::tests::{audio_track, drain, push_av, two_levels_sharing_audio, video_track};
use super::*;
use crate::crypto::{KeyId, Protection};
use crate::fragment::Fragment;

fn protection() -> Protection {
    Protection::new(KeyId([1; 16]), [2; 16], String::from("http://127.0.0.1/pr"))
}

fn first_iv_at_saio(data: &[u8]) -> (Fragment, [u8; 8]) {
    let f = Fragment::decode(data).expect("decodes");
    let offset = f.moof.traf.saio.expect("saio").offset as usize;
    let mut iv = [0u8; 8];
    iv.copy_from_slice(&data[offset..offset + 8]);
    (f, iv)
}

#[test]
fn live_rewrites_keep_ivs_and_ciphertext_and_saio_follows_the_tfrf() {
    live_rewrites_keep_ivs_and_ciphertext(false);
}

/// As above, with the heads rewritten in place: the padding after the tfrf keeps saio right.
#[test]
fn heads_rewritten_in_place_keep_ivs_ciphertext_and_saio() {
    live_rewrites_keep_ivs_and_ciphertext(true);
}

fn live_rewrites_keep_ivs_and_ciphertext(in_place: bool) {
    let (mut p, levels) = two_levels_sharing_audio(PresentationOptions {
        rewrite_in_place: in_place,
        protection: Some(protection()),
        ..PresentationOptions::vod(Layout::Multi)
    });
    for l in levels {
        push_av(&mut p, l, 12, 50, 0);
    }
    p.finish().expect("finish");
    let out = drain(&mut p);
    let mut versions: BTreeMap<String, Vec<Fragment>> = BTreeMap::new();
    let mut ivs = BTreeSet::new();
    // Every version's whole file, as a disk has it.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for o in &out {
        let (path, data) = match o {
            Output::WriteFragment { path, data, .. }
            | Output::RewriteFragment { path, data, .. } => {
                files.insert(path.clone(), data.to_vec());
                (path, &files[path])
            }
            Output::RewriteFragmentHead { path, head, .. } => {
                let file = files.get_mut(path).expect("written first");
                file[..head.len()].copy_from_slice(head);
                (path, &files[path])
            }
            _ => continue,
        };
        let (f, iv) = first_iv_at_saio(data);
        let senc = f.moof.traf.senc.as_ref().expect("senc");
        // saio points at the first IV of the PIFF box, whatever the tfrf's size.
        assert_eq!(iv, senc.samples[0].iv, "{path}");
        let saiz = f.moof.traf.saiz.as_ref().expect("saiz");
        assert_eq!(saiz.sample_count as usize, f.moof.traf.trun.samples.len());
        assert_eq!(senc.samples.len(), f.moof.traf.trun.samples.len());
        if path.contains("/video/") {
            assert_eq!(senc.flags, crate::fragment::senc::USE_SUBSAMPLES);
        } else {
            assert_eq!((senc.flags, saiz.default_size), (0, 8));
            // Audio is encrypted whole: the clear frames were 0x21 0x10.
            assert_ne!(&f.mdat[..2], &[0x21, 0x10]);
        }
        if matches!(o, Output::WriteFragment { .. }) {
            for s in &senc.samples {
                assert!(ivs.insert(s.iv), "IV {:?} repeated in {path}", s.iv);
            }
        }
        versions.entry(path.clone()).or_default().push(f);
    }
    let mut rewritten = 0;
    for (path, v) in &versions {
        for later in &v[1..] {
            rewritten += 1;
            assert_eq!(later.moof.traf.senc, v[0].moof.traf.senc, "{path}");
            assert_eq!(later.mdat, v[0].mdat, "{path}");
        }
    }
    assert!(rewritten > 10, "{rewritten} rewrites");
    let xml = out
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::WriteManifest { xml, .. } => Some(xml.as_str()),
            _ => None,
        })
        .expect("manifest");
    let m = crate::manifest::parse(xml).expect("parses");
    let header = m.protection.expect("protection header");
    assert_eq!(header.system_id, crate::crypto::playready::SYSTEM_ID);
    assert_eq!(
        header.data,
        crate::crypto::playready::protection_header(&protection())
    );
}

#[test]
fn clear_presentations_carry_no_encryption_boxes() {
    let mut p = Presentation::new(PresentationOptions::vod(Layout::Multi));
    let l = p.add_quality_level("v", 1_000_000).expect("level");
    p.add_track(l, video_track(0)).expect("video");
    push_av(&mut p, l, 4, 50, 0);
    p.finish().expect("finish");
    for o in drain(&mut p) {
        if let Output::WriteFragment { data, .. } = &o {
            let f = Fragment::decode(data).expect("decodes");
            assert!(f.moof.traf.senc.is_none() && f.moof.traf.saio.is_none());
        }
        if let Output::WriteManifest { xml, .. } = o {
            assert!(!xml.contains("Protection"));
        }
    }
}

#[test]
fn a_resumed_live_run_keeps_old_ivs_and_never_repeats_one() {
    let mut options = PresentationOptions::vod(Layout::Multi);
    options.live = true;
    let mut protection = protection();
    protection.iv_salt = 1_000;
    options.protection = Some(protection.clone());
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut manifest = None;
    fn apply(
        outputs: Vec<Output>,
        files: &mut BTreeMap<String, Vec<u8>>,
        manifest: &mut Option<String>,
    ) {
        for o in outputs {
            match o {
                Output::WriteFragment { path, data, .. }
                | Output::RewriteFragment { path, data, .. } => {
                    files.insert(path, data.to_vec());
                }
                Output::RewriteFragmentHead { path, head, .. } => {
                    if let Some(file) = files.get_mut(&path) {
                        file[..head.len()].copy_from_slice(&head);
                    }
                }
                Output::WriteManifest { xml, .. } => *manifest = Some(xml),
                Output::Remove { path } => {
                    files.remove(&path);
                }
                Output::Event(_) => {}
            }
        }
    }
    let mut before = Presentation::new(options.clone());
    let l = before.add_quality_level("cam", 1_000_000).expect("level");
    before.add_track(l, video_track(0)).expect("video");
    before.add_track(l, audio_track()).expect("audio");
    push_av(&mut before, l, 16, 50, 0);
    apply(drain(&mut before), &mut files, &mut manifest);
    drop(before);
    let old = files.clone();
    let old_manifest = manifest.clone().expect("manifest");

    // The restarted run: a later wall clock, so a larger salt.
    protection.iv_salt = 2_000;
    options.protection = Some(protection);
    let mut after = Presentation::new(options);
    let l = after.add_quality_level("cam", 1_000_000).expect("level");
    after.adopt_audio_bitrates(&crate::manifest::parse(&old_manifest).expect("manifest"));
    let stored = files
        .iter()
        .map(|(path, data)| StoredFragment {
            path: path.clone(),
            len: data.len() as u64,
            data: data.clone(),
        })
        .collect();
    after.resume(Some(old_manifest), stored).expect("resumes");
    apply(drain(&mut after), &mut files, &mut manifest);
    after.add_track(l, video_track(0)).expect("video");
    after.add_track(l, audio_track()).expect("audio");
    push_av(&mut after, l, 8, 50, 0);
    apply(drain(&mut after), &mut files, &mut manifest);

    let mut rewritten = 0;
    let mut ivs = BTreeSet::new();
    for (path, data) in &files {
        let (f, iv) = first_iv_at_saio(data);
        let senc = f.moof.traf.senc.as_ref().expect("senc");
        assert_eq!(iv, senc.samples[0].iv, "{path}: saio");
        for s in &senc.samples {
            assert!(ivs.insert(s.iv), "IV {:?} repeated in {path}", s.iv);
        }
        if let Some(was) = old.get(path) {
            let was = Fragment::decode(was).expect("old");
            if was.moof.traf.tfrf != f.moof.traf.tfrf {
                rewritten += 1;
            }
            // Old fragments keep their IVs and ciphertext, rewritten after the restart or not.
            assert_eq!(was.moof.traf.senc, f.moof.traf.senc, "{path}");
            assert_eq!(was.mdat, f.mdat, "{path}");
        }
    }
    assert!(
        rewritten >= 2,
        "{rewritten} old fragments rewritten after the restart"
    );
    assert!(files.len() > old.len());
}
