//! PlayReady protection end to end (issue 16): `smoothcast package --key` and a live
//! createMSSStream with drm parameters, checked by ffmpeg decrypting the fragments (the
//! decrypted packets equal the clear packaging's, a wrong key does not), and by dash.js
//! playing them in Chromium through ClearKey.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use smoothcast_core::crypto::KeyId;
use smoothcast_core::fragment::Fragment;
use smoothcast_core::TrackKind;
use smoothcast_tests::cenc_oracle::{all_packet_md5s, decode_errors, fragment_files};
use smoothcast_tests::media::{self, ClipSpec};
use smoothcast_tests::peer::LiveEncode;
use smoothcast_tests::player::{self, PlayRequest};
use smoothcast_tests::presentation::{check_listed_fragments, fragment_path, read_manifest};
use smoothcast_tests::server::Server;
use smoothcast_tests::wait_for;
use smoothcast_tests::TempDir;

/// The reference's test vectors (shared/reference/protection-text-audio.md §3.2).
pub const KID: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";
pub const KEY: &str = "00112233445566778899aabbccddeeff";
const WRONG_KEY: &str = "00112233445566778899aabbccddeefe";
const LA_URL: &str = "http://127.0.0.1:8090/pr";

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_smoothcast"))
}

fn package(target: &Path, group: &str, extra: &[&str], input: &Path) {
    let out = Command::new(exe())
        .arg("package")
        .arg("--target-folder")
        .arg(target)
        .args(["--group-name", group])
        .args(extra)
        .arg(input)
        .output()
        .expect("run smoothcast");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "package failed: {stderr}");
    // The key is never echoed.
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "{stdout}{stderr}"
    );
}

/// ffmpeg's packet MD5s of the clear and the protected presentation in `clear_dir` and
/// `enc_dir`, per track kind: decrypted with the key they must be equal, with a wrong key
/// none may be (and the H.264 decoder complains). Only the fragments both list (at the
/// same times) are compared: two live presentations of one stream list the same ones,
/// give or take their newest.
pub fn assert_ffmpeg_decrypts(clear_dir: &Path, enc_dir: &Path, manifest: &str, work: &Path) {
    let kid = KeyId::parse(KID).expect("kid");
    let mut clear = read_manifest(&clear_dir.join(manifest)).expect("clear manifest");
    let mut enc = read_manifest(&enc_dir.join(manifest)).expect("protected manifest");
    assert!(enc.protection.is_some(), "no ProtectionHeader");
    assert!(
        clear.protection.is_none(),
        "a ProtectionHeader in the clear manifest"
    );
    check_listed_fragments(enc_dir, &enc);
    for (c, e) in clear.stream_indexes.iter_mut().zip(&mut enc.stream_indexes) {
        let common: Vec<u64> = e
            .chunks
            .iter()
            .map(|x| x.t)
            .filter(|t| c.chunks.iter().any(|y| y.t == *t))
            .collect();
        assert!(common.len() >= 2, "{:?}: too few common fragments", e.kind);
        c.chunks.retain(|x| common.contains(&x.t));
        e.chunks.retain(|x| common.contains(&x.t));
    }
    for kind in [TrackKind::Video, TrackKind::Audio] {
        let name = kind.as_str();
        let c = fragment_files(clear_dir, &clear, kind, None, work).expect("clear files");
        let e = fragment_files(enc_dir, &enc, kind, Some(&kid), work).expect("protected files");
        let want = all_packet_md5s(&c, None).expect("clear md5s");
        assert!(want.len() > 20, "{name}: {} packets", want.len());
        let got = all_packet_md5s(&e, Some(KEY)).expect("decrypted md5s");
        assert_eq!(got.len(), want.len(), "{name}: packet counts");
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "{name}: {differ} decrypted packets differ from the clear ones"
        );
        let wrong = all_packet_md5s(&e, Some(WRONG_KEY)).expect("wrongly decrypted md5s");
        assert_eq!(wrong.len(), want.len());
        let same = wrong.iter().zip(&want).filter(|(a, b)| a == b).count();
        assert_eq!(same, 0, "{name}: {same} packets equal under a wrong key");
        if kind == TrackKind::Video {
            let errors = decode_errors(&e[0], WRONG_KEY).expect("decode");
            assert!(!errors.is_empty(), "a wrong key decoded without errors");
            assert_eq!(decode_errors(&e[0], KEY).expect("decode"), "");
        }
    }
}

fn clip() -> PathBuf {
    media::clip(&ClipSpec {
        seconds: 8.0,
        width: 320,
        height: 240,
        video_bitrate_kbps: 300,
        bframes: true,
        ..ClipSpec::default()
    })
    .expect("clip")
}

#[test]
fn packaged_vod_decrypts_in_ffmpeg_to_the_clear_packets() {
    let dir = TempDir::new("drm-vod");
    let input = clip();
    package(dir.path(), "clear", &[], &input);
    let key = format!("{KID}:{KEY}");
    package(
        dir.path(),
        "enc",
        &["--key", &key, "--playready-la-url", LA_URL],
        &input,
    );
    assert_ffmpeg_decrypts(
        &dir.path().join("clear"),
        &dir.path().join("enc"),
        "manifest.ismc",
        dir.path(),
    );
    // The seed form gives the key the seed derives (the reference's vector), so the same
    // oracle with that key.
    package(
        dir.path(),
        "seeded",
        &[
            "--key",
            KID,
            "--key-seed",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",
            "--playready-la-url",
            LA_URL,
        ],
        &input,
    );
    let kid = KeyId::parse(KID).expect("kid");
    let m = read_manifest(&dir.path().join("seeded/manifest.ismc")).expect("manifest");
    let seeded = dir.path().join("seeded-files");
    std::fs::create_dir_all(&seeded).expect("mkdir");
    let files = fragment_files(
        &dir.path().join("seeded"),
        &m,
        TrackKind::Audio,
        Some(&kid),
        &seeded,
    )
    .expect("files");
    let clear = read_manifest(&dir.path().join("clear/manifest.ismc")).expect("manifest");
    let clear_files = fragment_files(
        &dir.path().join("clear"),
        &clear,
        TrackKind::Audio,
        None,
        &seeded,
    )
    .expect("files");
    assert_eq!(
        all_packet_md5s(&files, Some("5dcfec0988bf30e0ada823085a3330ad")).expect("md5s"),
        all_packet_md5s(&clear_files, None).expect("md5s")
    );
}

/// The key ID and key as the ClearKey page wants them (big-endian KID).
pub fn clearkey() -> ([u8; 16], [u8; 16]) {
    let kid = KeyId::parse(KID).expect("kid");
    let key = smoothcast_core::crypto::parse_key(KEY).expect("key");
    (kid.0, key)
}

#[test]
fn packaged_vod_plays_in_dashjs_through_clearkey() {
    if !player::ready_or_skip("packaged_vod_plays_in_dashjs_through_clearkey") {
        return;
    }
    let dir = TempDir::new("drm-vod-play");
    let input = media::clip(&ClipSpec {
        seconds: 12.0,
        width: 320,
        height: 240,
        video_bitrate_kbps: 300,
        ..ClipSpec::default()
    })
    .expect("clip");
    let key = format!("{KID}:{KEY}");
    package(
        dir.path(),
        "enc",
        &["--key", &key, "--playready-la-url", LA_URL],
        &input,
    );
    let mut req = PlayRequest::dir(dir.path(), "enc/manifest.ismc");
    req.clearkey = Some(clearkey());
    req.min_time = 10.0;
    let r = player::play(&req).expect("harness");
    assert!(r.ok, "{r}");
    assert!(r.total_video_frames > 0, "{r}");
    assert_eq!(r.raw["key_status"], "usable", "{r}");
    // The KID in GUID order (what a LE/BE mix-up would register) matches nothing: the
    // player waits for a key and does not get anywhere.
    let (kid, key) = clearkey();
    let mut wrong = PlayRequest::dir(dir.path(), "enc/manifest.ismc");
    wrong.clearkey = Some((
        smoothcast_core::crypto::playready::guid_bytes(&KeyId(kid)),
        key,
    ));
    wrong.seconds = 6.0;
    let r = player::play(&wrong).expect("harness");
    assert!(!r.ok, "played with the KID in the wrong byte order: {r}");
    assert!(r.current_time < 1.0, "{r}");
}

#[test]
fn live_rtmp_fragments_decrypt_in_ffmpeg_and_play_in_dashjs_through_clearkey() {
    let dir = TempDir::new("drm-live");
    let webroot = dir.path().join("www");
    let server = Server::start(exe(), &webroot, "", &[]).expect("server");
    let target = webroot.display().to_string();
    // One stream, two presentations of it: clear and protected.
    for (group, drm) in [
        ("clear", String::new()),
        (
            "enc",
            format!("drmKeyId={KID} drmKey={KEY} playreadyLaUrl={LA_URL}"),
        ),
    ] {
        let created = server
            .api(
                "createMSSStream",
                &format!("localstreamnames=cam bandwidths=500000 targetfolder={target} groupname={group} chunkLength=2 {drm}"),
            )
            .expect("api");
        assert_eq!(created["status"], "SUCCESS", "{created}");
        assert!(!created.to_string().contains(KEY), "{created}");
    }
    let configs = server.api("listConfig", "").expect("api");
    assert!(!configs.to_string().contains(KEY), "{configs}");
    let _encoder = LiveEncode::new(50)
        .rtmp(format!("rtmp://{}/live/cam", server.addr("rtmp")), 500)
        .start();
    let enc = webroot.join("enc");
    wait_for("the live manifests", Duration::from_secs(40), || {
        ["clear", "enc"].iter().all(|g| {
            read_manifest(&webroot.join(g).join("manifest.ismc"))
                .is_ok_and(|m| m.stream_indexes.iter().all(|s| s.chunks.len() >= 4))
        })
    });
    // Every listed live fragment has been rewritten at least once (the manifest lags the
    // newest by the look-ahead): its tfrf grew in front of the encryption boxes.
    let m = read_manifest(&enc.join("manifest.ismc")).expect("manifest");
    assert!(m.is_live);
    for s in &m.stream_indexes {
        let q = &s.quality_levels[0];
        let data = std::fs::read(fragment_path(&enc, s, q, &s.chunks[0])).expect("fragment");
        let f = Fragment::decode(&data).expect("fragment");
        let tfrf = f.moof.traf.tfrf.expect("tfrf");
        assert!(!tfrf.entries.is_empty(), "{:?}: tfrf", s.kind);
        let saio = f.moof.traf.saio.expect("saio").offset as usize;
        let senc = f.moof.traf.senc.expect("PIFF sample encryption box");
        assert_eq!(data[saio..saio + 8], senc.samples[0].iv);
    }
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    assert_ffmpeg_decrypts(&webroot.join("clear"), &enc, "manifest.ismc", &work);

    if player::ready_or_skip(
        "live_rtmp_fragments_decrypt_in_ffmpeg_and_play_in_dashjs_through_clearkey",
    ) {
        let mut req = PlayRequest::url(format!("http://{}/enc/manifest.ismc", server.addr("web")));
        req.live = true;
        req.seconds = 16.0;
        req.min_time = 12.0;
        req.clearkey = Some(clearkey());
        let r = player::play(&req).expect("harness");
        assert!(r.ok, "{r}");
        assert_eq!(r.raw["key_status"], "usable", "{r}");
    }
}

/// Subtitles are never encrypted (ExoPlayer applies DRM to audio and video only; dash.js
/// and Shaka parse text outside MSE): a protected presentation's TTML fragments are plain.
#[test]
fn text_stays_clear_in_a_protected_presentation() {
    let dir = TempDir::new("drm-text");
    let srt = dir.path().join("clip.en.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:03,000\nHello\n\n").expect("srt");
    let key = format!("{KID}:{KEY}");
    let out = Command::new(exe())
        .arg("package")
        .arg("--target-folder")
        .arg(dir.path())
        .args([
            "--group-name",
            "enc",
            "--key",
            &key,
            "--playready-la-url",
            LA_URL,
        ])
        .arg(clip())
        .arg(&srt)
        .output()
        .expect("run smoothcast");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let group = dir.path().join("enc");
    let m = read_manifest(&group.join("manifest.ismc")).expect("manifest");
    let mut kinds = Vec::new();
    for s in &m.stream_indexes {
        let q = &s.quality_levels[0];
        let data = std::fs::read(fragment_path(&group, s, q, &s.chunks[0])).expect("fragment");
        let f = Fragment::decode(&data).expect("fragment");
        assert_eq!(
            f.moof.traf.senc.is_some(),
            s.kind != TrackKind::Text,
            "{:?}",
            s.kind
        );
        if s.kind == TrackKind::Text {
            assert!(
                String::from_utf8_lossy(&f.mdat).contains("<tt"),
                "plain TTML"
            );
        }
        kinds.push(s.kind);
    }
    assert!(kinds.contains(&TrackKind::Text), "{kinds:?}");
}
