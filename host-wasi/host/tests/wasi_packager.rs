//! The `smoothcast:packager` component in wasmtime against `smoothcast package` (the
//! `smoothcast` library in-process): the same inputs and options must give byte-identical
//! fragments and manifests, whatever the chunking; bad input must give the core's error
//! kinds as WIT errors, never traps, and leave the instance usable.

use smoothcast_core::layout::Layout as CoreLayout;
use smoothcast_core::package::{InputSpec as CoreInput, Session, Step};
use smoothcast_core::presentation::{Playlist as CorePlaylist, PresentationOptions};
use smoothcast_core::time::secs_to_mss;
use smoothcast_tests::media::{self, ClipSpec, Container};
use smoothcast_wasi_host::build::{self, Guest};
use smoothcast_wasi_host::packager::{self, ErrorKind, Layout, Options, Playlist, Runtime};
use smoothcast_wasi_host::reference::{self, InputSpec, Packaged};

fn runtime() -> Runtime {
    let path = build::component(Guest::Packager).expect("build the packager component");
    Runtime::new(&path).expect("load the packager component")
}

fn clip(spec: ClipSpec) -> Vec<u8> {
    let path = media::clip(&spec).expect("generate clip");
    std::fs::read(path).expect("read clip")
}

fn spec(kbps: u32, container: Container) -> ClipSpec {
    ClipSpec {
        seconds: 6.0,
        video_bitrate_kbps: kbps,
        container,
        ..ClipSpec::default()
    }
}

fn wit_options(layout: Layout, chunk_ms: u32) -> Options {
    Options {
        layout,
        manifest_name: "manifest.ismc".into(),
        chunk_length_ms: chunk_ms,
        chunk_on_idr: true,
        live: false,
        lookahead: 2,
        playlist: Playlist::Appending,
        time_offset: 0,
        protection: None,
    }
}

/// The component's files for every chunking, against `expected`.
fn assert_component_writes(expected: &Packaged, inputs: &[InputSpec], wit: &Options) {
    assert!(!expected.fragments.is_empty());
    assert!(expected.manifest.is_some());
    let rt = runtime();
    for chunk in [1 << 20, 65_536, 7_777] {
        let got = packager::package(&rt, inputs, wit, chunk)
            .expect("no trap")
            .unwrap_or_else(|e| panic!("component failed: {e:?}"));
        assert_eq!(got.manifest, expected.manifest, "manifest, chunk {chunk}");
        assert_eq!(
            got.fragments.keys().collect::<Vec<_>>(),
            expected.fragments.keys().collect::<Vec<_>>(),
            "fragment paths, chunk {chunk}"
        );
        for (path, data) in &expected.fragments {
            assert!(
                got.fragments[path] == *data,
                "{path} differs, chunk {chunk}"
            );
        }
    }
}

/// Packages through `smoothcast package` and the component; asserts identical files.
fn assert_identical(inputs: &[InputSpec], wit: &Options) {
    let chunk_length = f64::from(wit.chunk_length_ms) / 1000.0;
    let expected = reference::package(inputs, chunk_length).expect("smoothcast package");
    assert_component_writes(&expected, inputs, wit);
}

#[test]
fn single_mp4_measured_bitrate_moov_at_end() {
    let inputs = [InputSpec {
        name: "cam1.mp4".into(),
        data: clip(spec(800, Container::Mp4)),
        bitrate: None,
    }];
    assert_identical(&inputs, &wit_options(Layout::Single("cam1".into()), 2000));
}

/// PlayReady protection: the component encrypts exactly as `smoothcast package --key` (IVs
/// are deterministic for on-demand packaging), with a key or a key seed; bad settings
/// fail add-input with `options`.
#[test]
fn protected_package_is_byte_identical() {
    use smoothcast::protection::ProtectionFlags;
    use smoothcast_wasi_host::packager::Protection;
    const KID: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";
    const KEY: &str = "00112233445566778899aabbccddeeff";
    const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
    const LA_URL: &str = "http://127.0.0.1:8090/pr";
    let inputs = [InputSpec {
        name: "cam1.mp4".into(),
        data: clip(spec(800, Container::Mp4)),
        bitrate: Some(900_000),
    }];
    let wit = |key: Option<&str>, key_seed: Option<&str>| Options {
        protection: Some(Protection {
            key_id: KID.into(),
            key: key.map(String::from),
            key_seed: key_seed.map(String::from),
            la_url: LA_URL.into(),
            lui_url: None,
            custom_attributes: Vec::new(),
            iv_salt: 0,
        }),
        ..wit_options(Layout::Single("cam1".into()), 2000)
    };
    let flags = |key: String, key_seed: Option<&str>| ProtectionFlags {
        key: Some(key),
        key_seed: key_seed.map(String::from),
        playready_la_url: Some(LA_URL.into()),
        ..ProtectionFlags::default()
    };
    let expected = reference::package_protected(&inputs, 2.0, flags(format!("{KID}:{KEY}"), None))
        .expect("smoothcast package --key");
    let (_, xml) = expected.manifest.as_ref().expect("manifest");
    assert!(xml.contains("<ProtectionHeader SystemID=\"9a04f079-9840-4286-ab92-e65be0885f95\">"));
    assert_component_writes(&expected, &inputs, &wit(Some(KEY), None));
    let seeded = reference::package_protected(&inputs, 2.0, flags(KID.into(), Some(SEED)))
        .expect("smoothcast package --key-seed");
    assert_component_writes(&seeded, &inputs, &wit(None, Some(SEED)));
    let rt = runtime();
    let e = packager::package(&rt, &inputs, &wit(Some("00"), None), 1 << 20)
        .expect("no trap")
        .expect_err("a bad key fails");
    assert_eq!(e.kind, ErrorKind::Options, "{e:?}");
}

#[test]
fn two_bitrates_multi_layout() {
    let inputs = [
        InputSpec {
            name: "hi.mp4".into(),
            data: clip(spec(900, Container::Mp4)),
            bitrate: Some(1_000_000),
        },
        InputSpec {
            name: "lo.mp4".into(),
            data: clip(ClipSpec {
                faststart: true,
                ..spec(300, Container::Mp4)
            }),
            bitrate: None,
        },
    ];
    assert_identical(&inputs, &wit_options(Layout::Multi, 4000));
}

#[test]
fn ts_and_flv_with_given_bitrates() {
    for container in [Container::Ts, Container::Flv] {
        let inputs = [InputSpec {
            name: format!("in.{}", container.extension()),
            data: clip(spec(600, container)),
            bitrate: Some(700_000),
        }];
        assert_identical(&inputs, &wit_options(Layout::Single("in".into()), 2000));
    }
}

/// A fix: the component used to refuse a TS or FLV without a bitrate; like the core, a
/// seekable one is now read twice, the first pass measuring it.
#[test]
fn ts_and_flv_without_bitrate_are_measured_in_a_first_pass() {
    for container in [Container::Ts, Container::Flv] {
        let inputs = [InputSpec {
            name: format!("in.{}", container.extension()),
            data: clip(spec(600, container)),
            bitrate: None,
        }];
        assert_identical(&inputs, &wit_options(Layout::Single("in".into()), 2000));
    }
}

/// A fix: the component used to decide the container from the first 189 bytes, too few
/// for an M2TS (a 4-byte timecode before each packet: its second sync byte is at 196).
/// Like the core it now waits for 376, so small first pushes do not matter.
#[test]
fn m2ts_is_recognised_from_small_pushes() {
    let ts = clip(spec(500, Container::Ts));
    let mut m2ts = Vec::with_capacity(ts.len() / 188 * 192);
    for (i, packet) in ts.chunks(188).enumerate() {
        m2ts.extend_from_slice(&(i as u32).to_be_bytes());
        m2ts.extend_from_slice(packet);
    }
    let inputs = [InputSpec {
        name: "in.m2ts".into(),
        data: m2ts,
        bitrate: Some(500_000),
    }];
    let expected = reference::package(&inputs, 2.0).expect("smoothcast package");
    let rt = runtime();
    let got = packager::package(
        &rt,
        &inputs,
        &wit_options(Layout::Single("in".into()), 2000),
        190,
    )
    .expect("no trap")
    .unwrap_or_else(|e| panic!("component failed: {e:?}"));
    assert_eq!(got, expected);
}

/// `smoothcast package` has no live mode: the live options are checked against the core's
/// session natively (the one the component runs), honouring seeks as a file host.
#[test]
fn live_rolling_window() {
    let inputs = [InputSpec {
        name: "live.ts".into(),
        data: clip(ClipSpec {
            seconds: 12.0,
            ..spec(500, Container::Ts)
        }),
        bitrate: Some(500_000),
    }];
    let mut wit = wit_options(Layout::Auto("live".into()), 2000);
    wit.live = true;
    wit.playlist = Playlist::Rolling(
        packager::exports::smoothcast::packager::packaging::RollingWindow {
            length: 3,
            stale_retention: 1,
        },
    );
    let mut core = PresentationOptions::vod(CoreLayout::Auto {
        stream: "live".into(),
    });
    core.chunk_length = secs_to_mss(2000, 1000);
    core.live = true;
    core.playlist = CorePlaylist::Rolling {
        length: 3,
        stale_retention: 1,
    };
    let input = &inputs[0];
    let mut session = Session::with_presentation(
        vec![CoreInput {
            name: input.name.clone(),
            bitrate: input.bitrate,
            seekable: Some(true),
        }],
        true,
        core,
    )
    .expect("session");
    session.push(&input.data).expect("push");
    session.end().expect("end");
    let mut expected = Packaged::default();
    while let Some(step) = session.poll() {
        match step {
            Step::Output(o) => expected.apply(o),
            Step::Seek(_) => panic!("a TS with a bitrate is read once"),
            Step::InputDone(_) | Step::Done => {}
        }
    }
    assert_component_writes(&expected, &inputs, &wit);
}

#[test]
fn bad_input_is_an_error_not_a_trap() {
    let rt = runtime();
    let options = wit_options(Layout::Multi, 2000);
    let mut inst = rt.packager(&options).expect("instantiate");

    // Random bytes: not a container. A fix: the component called this `malformed` where
    // the core (and so `smoothcast package` and the npm package) says `not-media`.
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let id = inst
        .add_input("noise", Some(1000), false)
        .expect("no trap")
        .expect("added");
    let err = inst
        .push(id, &noise)
        .expect("no trap")
        .expect_err("noise rejected");
    assert_eq!(err.kind, ErrorKind::NotMedia, "{err:?}");
    assert!(err.message.starts_with("noise: "), "{err:?}");
    // The same packager goes on answering: the failed input repeats its error...
    let err = inst
        .push(id, &noise)
        .expect("no trap")
        .expect_err("input failed");
    assert_eq!(err.kind, ErrorKind::NotMedia, "{err:?}");
    // ...finish says why the presentation failed...
    let err = inst.finish().expect("no trap").expect_err("failed");
    assert_eq!(err.kind, ErrorKind::NotMedia, "{err:?}");
    // ...and a caller mistake is a usage error.
    let err = inst
        .push(99, b"x")
        .expect("no trap")
        .expect_err("unknown input");
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");

    // A bitrate of 0 is refused as `smoothcast package` refuses it.
    inst.renew(&options).expect("new packager, same instance");
    let err = inst
        .add_input("zero.mp4", Some(0), false)
        .expect("no trap")
        .expect_err("bitrate 0");
    assert_eq!(err.kind, ErrorKind::Options, "{err:?}");

    // Inputs are read in order.
    let id0 = inst
        .add_input("a.mp4", Some(1000), false)
        .expect("no trap")
        .expect("added");
    let id1 = inst
        .add_input("b.mp4", Some(2000), false)
        .expect("no trap")
        .expect("added");
    let err = inst
        .push(id1, b"x")
        .expect("no trap")
        .expect_err("out of order");
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");
    let _ = id0;

    // A truncated MP4 (moov first, cut mid-mdat): an error at finish, not a trap.
    let data = clip(ClipSpec {
        faststart: true,
        ..spec(400, Container::Mp4)
    });
    inst.renew(&options).expect("new packager, same instance");
    let id = inst
        .add_input("cut.mp4", None, false)
        .expect("no trap")
        .expect("added");
    inst.push(id, &data[..data.len() / 2])
        .expect("no trap")
        .expect("the first half is fine");
    let _ = inst.poll().expect("no trap");
    let err = inst
        .finish_input(id)
        .expect("no trap")
        .expect_err("truncated");
    assert_eq!(err.kind, ErrorKind::Truncated, "{err:?}");

    // A one-way TS states no bitrate: the caller must give one (the core's kind, where the
    // component used to say `usage`).
    let ts = clip(spec(400, Container::Ts));
    inst.renew(&options).expect("new packager, same instance");
    let id = inst
        .add_input("in.ts", None, false)
        .expect("no trap")
        .expect("added");
    let err = inst
        .push(id, &ts)
        .expect("no trap")
        .expect_err("needs a bitrate");
    assert_eq!(err.kind, ErrorKind::BitrateUnknown, "{err:?}");

    // Finishing before every input is finished is a usage error; no bytes at all is not
    // media.
    inst.renew(&options).expect("new packager, same instance");
    let id = inst
        .add_input("none", Some(1), false)
        .expect("no trap")
        .expect("added");
    let err = inst
        .finish()
        .expect("no trap")
        .expect_err("inputs not finished");
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");
    let err = inst
        .finish_input(id)
        .expect("no trap")
        .expect_err("no bytes at all");
    assert_eq!(err.kind, ErrorKind::NotMedia, "{err:?}");

    // After all that, the same runtime still packages a good input.
    let good = [InputSpec {
        name: "ok.mp4".into(),
        data,
        bitrate: Some(400_000),
    }];
    let got = packager::package(&rt, &good, &options, 65_536)
        .expect("no trap")
        .expect("packaged");
    assert!(!got.fragments.is_empty());
}

/// Several audio languages (two tracks of one MP4, one more in an audio file), subtitles,
/// and an audio-only presentation: the component writes what `smoothcast package` writes.
#[test]
fn languages_subtitles_and_audio_only_are_identical() {
    let small = ClipSpec {
        seconds: 6.0,
        width: 320,
        height: 180,
        video_bitrate_kbps: 300,
        ..ClipSpec::default()
    };
    let movie = clip(ClipSpec {
        audio_languages: vec!["eng", "fra"],
        ..small.clone()
    });
    let tone = clip(ClipSpec {
        video: false,
        ..small
    });
    let srt = b"1\n00:00:01,000 --> 00:00:02,500\nHello & <i>welcome</i>\n\n2\n00:00:04,000 --> 00:00:05,000\nBye\n";
    let input = |name: &str, data: &[u8]| InputSpec {
        name: name.into(),
        data: data.to_vec(),
        bitrate: None,
    };
    let inputs = [
        input("movie.mp4", &movie),
        input("movie.deu.m4a", &tone),
        input("movie.fra.srt", srt),
    ];
    let expected = reference::package(&inputs, 2.0).expect("smoothcast package");
    let (_, manifest) = expected.manifest.clone().unwrap_or_default();
    for name in [
        "\"audio\"",
        "\"audio_fra\"",
        "\"audio_deu\"",
        "\"textstream_fra\"",
    ] {
        assert!(manifest.contains(name), "{name} in {manifest}");
    }
    assert_component_writes(&expected, &inputs, &wit_options(Layout::Multi, 2000));

    let radio = [input("radio.m4a", &tone)];
    assert_identical(&radio, &wit_options(Layout::Single("radio".into()), 2000));
}
