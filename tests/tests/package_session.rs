//! The session against real clips (ffmpeg, cached): chunking, seeking and the two-pass
//! bitrate measurement must not change a byte; bad inputs fail with the right kind.

use std::collections::BTreeMap;

use smoothcast_core::package::{Error, ErrorKind, InputSpec, Session, SessionOptions, Step};
use smoothcast_core::presentation::Output;
use smoothcast_tests::media::{self, ClipSpec, Container};

/// Files by path, as a host would write them.
type Files = BTreeMap<String, Vec<u8>>;

fn options(name: &str, bitrate: Option<u32>, seekable: bool) -> SessionOptions {
    SessionOptions {
        inputs: vec![InputSpec {
            name: name.into(),
            bitrate,
            seekable: None,
        }],
        seekable,
        ..SessionOptions::default()
    }
}

/// Drives a session over `data` in `chunk`-byte pushes, honouring seeks like a file host.
fn run(data: &[u8], chunk: usize, options: SessionOptions) -> Result<Files, Error> {
    let mut s = Session::new(options)?;
    let mut files = Files::new();
    let mut pos = 0usize;
    loop {
        let end = (pos + chunk).min(data.len());
        if pos >= data.len() {
            s.end()?;
        } else {
            s.push(&data[pos..end])?;
        }
        pos = end;
        let at_end = pos >= data.len();
        let mut sought = false;
        while let Some(step) = s.poll() {
            match step {
                Step::Seek(to) => {
                    pos = usize::try_from(to).expect("offset fits");
                    sought = true;
                }
                Step::Output(Output::WriteFragment { path, data, .. })
                | Step::Output(Output::RewriteFragment { path, data, .. }) => {
                    files.insert(path, data.to_vec());
                }
                Step::Output(Output::WriteManifest { path, xml }) => {
                    files.insert(path, xml.into_bytes());
                }
                Step::Done => return Ok(files),
                _ => {}
            }
        }
        // A pass that ended without a seek request and without Done cannot happen for one input.
        assert!(
            !(at_end && !sought && s.phase() == "done"),
            "ended without Done"
        );
    }
}

fn clip(container: Container, faststart: bool) -> Vec<u8> {
    let path = media::clip(&ClipSpec {
        seconds: 4.0,
        width: 320,
        height: 180,
        container,
        faststart,
        ..ClipSpec::default()
    })
    .expect("ffmpeg clip");
    std::fs::read(path).expect("read clip")
}

#[test]
fn chunking_and_seeking_do_not_change_the_output() {
    let data = clip(Container::Mp4, false);
    let reference = run(&data, 1 << 20, options("c.mp4", None, true)).expect("package");
    assert!(reference.contains_key("manifest.ismc"));
    assert!(reference.keys().any(|k| k.starts_with("c/video/")));
    for chunk in [1, 4096, 65_537] {
        let got = run(&data, chunk, options("c.mp4", None, true)).expect("package");
        assert_eq!(got, reference, "chunk {chunk}");
    }
    // One-way: the demuxer buffers the mdat until the moov, and MP4 states its bitrate.
    let oneway = run(&data, 100_000, options("c.mp4", None, false)).expect("package");
    assert_eq!(oneway, reference);
}

#[test]
fn ts_is_measured_in_a_first_pass() {
    let data = clip(Container::Ts, false);
    let measured = run(&data, 50_000, options("t.ts", None, true)).expect("package");
    let video: Vec<&String> = measured
        .keys()
        .filter(|k| k.starts_with("t/video/"))
        .collect();
    assert!(!video.is_empty());
    let err = run(&data, 50_000, options("t.ts", None, false)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BitrateUnknown, "{err}");
    let given = run(&data, 50_000, options("t.ts", Some(900_000), false)).expect("package");
    assert!(given.keys().any(|k| k.starts_with("t/video/900000/")));
}

#[test]
fn bad_inputs_fail_with_a_kind() {
    let text = b"hello, this is not a video\n".repeat(40);
    let err = run(&text, 1000, options("x.txt", None, true)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotMedia, "{err}");
    assert!(err.message.starts_with("x.txt: "), "{err}");

    let data = clip(Container::Mp4, true);
    let cut = &data[..data.len() / 2];
    let err = run(cut, 10_000, options("cut.mp4", None, true)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Truncated, "{err}");

    // After a failure the session keeps refusing, with the same error.
    let mut s = Session::new(options("x.txt", None, true)).expect("session");
    assert!(s.push(&text).is_err());
    assert_eq!(s.push(b"more").unwrap_err().kind, ErrorKind::NotMedia);
}

#[test]
fn an_input_may_be_seekable_in_a_one_way_session() {
    let data = clip(Container::Ts, false);
    let mut o = options("t.ts", None, false);
    o.inputs[0].seekable = Some(true);
    // Seekable after all: measured in a first pass, as in a seekable session.
    let files = run(&data, 50_000, o).expect("package");
    assert_eq!(
        files,
        run(&data, 50_000, options("t.ts", None, true)).expect("package")
    );
}
