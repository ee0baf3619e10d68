//! Packaging on demand: the core's packaging session, as `smoothcast package` drives it, so
//! manifests and fragments are byte-identical to it (only the manifest's `Url` differs:
//! IIS URLs here).

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use smoothcast_core::layout::Layout;
use smoothcast_core::manifest;
use smoothcast_core::package::{InputSpec, Session, Step};
use smoothcast_core::presentation::PresentationOptions;
use smoothcast_core::{Output, TrackKind};

use crate::source::{Blob, InputName, Source};

const READ_CHUNK: usize = 1 << 20;

/// The IIS `Url` template this origin answers.
pub fn iis_url(kind: TrackKind) -> String {
    format!(
        "QualityLevels({{bitrate}})/Fragments({}={{start time}})",
        kind.as_str()
    )
}

/// An input with its settled bitrate.
pub struct Input {
    pub name: InputName,
    pub bitrate: u32,
}

/// The session of `smoothcast package` over these inputs, with the origin's layout (its
/// URLs are IIS URLs, whatever the number of inputs).
fn session(inputs: Vec<InputSpec>) -> Result<Session, String> {
    Session::with_presentation(inputs, true, PresentationOptions::vod(Layout::Multi))
        .map_err(|e| e.to_string())
}

/// Drives `session` over the current input's source, honouring seeks, until the input is
/// done or `on_step` breaks.
fn drive(
    session: &mut Session,
    blob: &mut Blob,
    mut on_step: impl FnMut(&Session, Step) -> ControlFlow<()>,
) -> Result<(), String> {
    let input = session.input();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = blob.read(&mut buf).map_err(|e| e.to_string())?;
        let result = match n {
            0 => session.end(),
            n => session.push(&buf[..n]),
        };
        result.map_err(|e| e.to_string())?;
        let (mut sought, mut done) = (false, false);
        while let Some(step) = session.poll() {
            match step {
                Step::Seek(offset) => {
                    blob.seek(SeekFrom::Start(offset))
                        .map_err(|e| e.to_string())?;
                    sought = true;
                }
                // The last input's last fragments follow its InputDone (the presentation
                // finishes after it): the queue is drained before returning.
                Step::InputDone(i) => done |= i == input,
                Step::Done => done = true,
                step => {
                    if on_step(session, step).is_break() {
                        return Ok(());
                    }
                }
            }
        }
        if done {
            return Ok(());
        }
        if n == 0 && !sought {
            return Err("the packager neither finished the input nor asked to read on".into());
        }
    }
}

/// The group's inputs with bitrates: from the file name, else measured as `smoothcast
/// package` measures it (an MP4 states it in `moov`: reading stops at the first sample).
pub async fn inputs(
    source: &Source,
    group: &str,
    names: Vec<InputName>,
) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for name in names {
        let bitrate = match name.bitrate {
            Some(b) => b,
            None => {
                let mut blob = source.open(group, &name.file).await?;
                let mut s = session(vec![spec(&name.file, None)])?;
                drive(&mut s, &mut blob, |s, _| match s.bitrate(0) {
                    Some(_) => ControlFlow::Break(()),
                    None => ControlFlow::Continue(()),
                })?;
                s.bitrate(0)
                    .ok_or_else(|| format!("{}: no bitrate; name it NAME@BITRATE.mp4", name.file))?
            }
        };
        out.push(Input { name, bitrate });
    }
    Ok(out)
}

fn spec(file: &str, bitrate: Option<u32>) -> InputSpec {
    InputSpec {
        name: file.to_string(),
        bitrate,
        seekable: None,
    }
}

/// The whole presentation's manifest, with IIS URLs.
pub async fn manifest(source: &Source, group: &str, inputs: &[Input]) -> Result<String, String> {
    let mut s = session(
        inputs
            .iter()
            .map(|i| spec(&i.name.file, Some(i.bitrate)))
            .collect(),
    )?;
    for i in inputs {
        let mut blob = source.open(group, &i.name.file).await?;
        // Fragments are not needed here: dropped as they come, to bound memory.
        drive(&mut s, &mut blob, |_, _| ControlFlow::Continue(()))?;
    }
    let mut m = s.manifest().map_err(|e| e.to_string())?;
    for s in &mut m.stream_indexes {
        s.url = iis_url(s.kind);
    }
    Ok(manifest::write(&m))
}

/// The `kind` fragment of quality level `bitrate` starting at `start` in one input, or
/// `None` if this input has none. A video level is its input's bitrate, but an audio level
/// is the audio's own bitrate, measured while packaging: so the search stops as soon as a
/// fragment of that kind reaches `start`, whoever's it is. Only that input is packaged,
/// and only up to the fragment: a fragment's bytes depend on its own input alone (its
/// sequence number counts that input's earlier fragments).
pub async fn fragment(
    source: &Source,
    group: &str,
    input: &Input,
    kind: TrackKind,
    bitrate: u32,
    start: u64,
) -> Result<Option<Vec<u8>>, String> {
    let mut s = session(vec![spec(&input.name.file, Some(input.bitrate))])?;
    let mut found = None;
    let mut blob = source.open(group, &input.name.file).await?;
    drive(&mut s, &mut blob, |_, step| match step {
        Step::Output(Output::WriteFragment { data, info, .. })
            if info.kind == kind && info.start >= start =>
        {
            if info.start == start && info.bitrate == bitrate {
                found = Some(Vec::from(data));
            }
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })?;
    Ok(found)
}

/// The `moof` of a fragment (FragmentInfo answers it without the media data).
pub fn moof_only(fragment: &[u8]) -> &[u8] {
    let size = fragment
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_be_bytes(b) as usize);
    fragment.get(..size).unwrap_or(fragment)
}
