//! The `smoothcast:packager` component in wasmtime against the native core in-process: the
//! same inputs and options must give byte-identical fragments and manifests, whatever the
//! chunking; bad input must give WIT errors, never traps, and leave the instance usable.

use smoothcast_core::layout::Layout as CoreLayout;
use smoothcast_core::presentation::{Playlist as CorePlaylist, PresentationOptions};
use smoothcast_core::time::secs_to_mss;
use smoothcast_tests::media::{self, ClipSpec, Container};
use smoothcast_wasi_host::build::{self, Guest};
use smoothcast_wasi_host::native::{self, InputSpec};
use smoothcast_wasi_host::packager::{self, ErrorKind, Layout, Options, Playlist, Runtime};

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
    }
}

fn core_options(layout: CoreLayout, chunk_ms: u32) -> PresentationOptions {
    let mut o = PresentationOptions::vod(layout);
    o.chunk_length = secs_to_mss(u64::from(chunk_ms), 1000);
    o
}

/// Packages through both and asserts identical files, for several chunkings.
fn assert_identical(inputs: &[InputSpec], wit: &Options, core: PresentationOptions) {
    let rt = runtime();
    let expected = native::package(inputs, core).expect("native core packages");
    assert!(!expected.fragments.is_empty());
    assert!(expected.manifest.is_some());
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

#[test]
fn single_mp4_measured_bitrate_moov_at_end() {
    let data = clip(spec(800, Container::Mp4));
    let inputs = [InputSpec {
        name: "cam1.mp4".into(),
        data,
        bitrate: None,
    }];
    let stream = "cam1".to_string();
    assert_identical(
        &inputs,
        &wit_options(Layout::Single(stream.clone()), 2000),
        core_options(CoreLayout::Single { stream }, 2000),
    );
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
    assert_identical(
        &inputs,
        &wit_options(Layout::Multi, 4000),
        core_options(CoreLayout::Multi, 4000),
    );
}

#[test]
fn ts_and_flv_with_given_bitrates() {
    for container in [Container::Ts, Container::Flv] {
        let inputs = [InputSpec {
            name: format!("in.{}", container.extension()),
            data: clip(spec(600, container)),
            bitrate: Some(700_000),
        }];
        assert_identical(
            &inputs,
            &wit_options(Layout::Multi, 2000),
            core_options(CoreLayout::Multi, 2000),
        );
    }
}

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
    let mut core = core_options(
        CoreLayout::Auto {
            stream: "live".into(),
        },
        2000,
    );
    core.live = true;
    core.playlist = CorePlaylist::Rolling {
        length: 3,
        stale_retention: 1,
    };
    assert_identical(&inputs, &wit, core);
}

#[test]
fn bad_input_is_an_error_not_a_trap() {
    let rt = runtime();
    let options = wit_options(Layout::Multi, 2000);
    let mut inst = rt.packager(&options).expect("instantiate");

    // Random bytes: not a container.
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
    assert_eq!(err.kind, ErrorKind::Malformed, "{err:?}");
    // The same packager goes on answering: pushing into a failed input is a usage error.
    let err = inst
        .push(id, &noise)
        .expect("no trap")
        .expect_err("input failed");
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");
    let err = inst
        .push(99, b"x")
        .expect("no trap")
        .expect_err("unknown input");
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");

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

    // TS states no bitrate: the caller must give one.
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
    assert_eq!(err.kind, ErrorKind::Usage, "{err:?}");

    // Finishing with nothing pushed is `empty`... after the input is finished.
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
    assert_eq!(err.kind, ErrorKind::Malformed, "{err:?}");

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
