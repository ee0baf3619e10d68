//! Packaging on demand: the same core calls as `smoothcast package`, so manifests and
//! fragments are byte-identical to it (only the manifest's `Url` differs: IIS URLs here).

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use smoothcast_core::demux::{self, DemuxEvent};
use smoothcast_core::layout::Layout;
use smoothcast_core::manifest;
use smoothcast_core::presentation::{Event, Presentation, PresentationOptions};
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

/// Reads a source through the right demuxer, honouring seeks, until `on_event` breaks.
fn demux(
    blob: &mut Blob,
    mut on_event: impl FnMut(DemuxEvent) -> Result<ControlFlow<()>, String>,
) -> Result<(), String> {
    let mut buf = vec![0u8; READ_CHUNK];
    let head = read_full(blob, &mut buf[..376])?;
    let container = demux::sniff(&buf[..head])
        .ok_or("not a media file Smoothcast reads (MP4, MOV, MPEG-TS or FLV)")?;
    blob.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut demuxer = demux::for_container(container, true);
    loop {
        let n = blob.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            demuxer.finish().map_err(|e| e.to_string())?;
        } else {
            demuxer.push(&buf[..n]).map_err(|e| e.to_string())?;
        }
        while let Some(event) = demuxer.poll() {
            if let DemuxEvent::Seek(offset) = event {
                blob.seek(SeekFrom::Start(offset))
                    .map_err(|e| e.to_string())?;
            } else if on_event(event)?.is_break() {
                return Ok(());
            }
        }
        if n == 0 {
            return Ok(());
        }
    }
}

fn read_full(blob: &mut Blob, buf: &mut [u8]) -> Result<usize, String> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = blob.read(&mut buf[filled..]).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The group's inputs with bitrates: from the file name, else the MP4's stated average
/// bitrate (sum over tracks, read from `moov` only), as `smoothcast package` measures it.
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
                stated_bitrate(&mut blob).map_err(|e| format!("{}: {e}", name.file))?
            }
        };
        out.push(Input { name, bitrate });
    }
    Ok(out)
}

fn stated_bitrate(blob: &mut Blob) -> Result<u32, String> {
    let mut stated: Vec<Option<u64>> = Vec::new();
    demux(blob, |event| {
        Ok(match event {
            DemuxEvent::Track(info) | DemuxEvent::TrackChanged(info) => {
                stated.push(info.avg_bitrate);
                ControlFlow::Continue(())
            }
            DemuxEvent::Sample(_) => ControlFlow::Break(()),
            DemuxEvent::Seek(_) => ControlFlow::Continue(()),
        })
    })?;
    if stated.is_empty() || stated.iter().any(Option::is_none) {
        return Err("states no bitrate; name it NAME@BITRATE.mp4".into());
    }
    u32::try_from(stated.iter().flatten().sum::<u64>().max(1)).map_err(|e| e.to_string())
}

fn options() -> PresentationOptions {
    PresentationOptions::vod(Layout::Multi)
}

/// The whole presentation's manifest, with IIS URLs.
pub async fn manifest(source: &Source, group: &str, inputs: &[Input]) -> Result<String, String> {
    let mut p = Presentation::new(options());
    let mut levels = Vec::new();
    for i in inputs {
        levels.push(
            p.add_quality_level(&i.name.file, i.bitrate)
                .map_err(|e| e.to_string())?,
        );
    }
    for (i, level) in inputs.iter().zip(levels) {
        let mut blob = source.open(group, &i.name.file).await?;
        demux(&mut blob, |event| {
            p.handle_demux_event(level, event)
                .map_err(|e| e.to_string())?;
            // Fragments are not needed here; drop them as they come to bound memory.
            while p.poll_output().is_some() {}
            Ok(ControlFlow::Continue(()))
        })
        .map_err(|e| format!("{}: {e}", i.name.file))?;
    }
    p.finish().map_err(|e| e.to_string())?;
    let mut m = p.manifest().map_err(|e| e.to_string())?;
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
    let mut p = Presentation::new(options());
    let level = p
        .add_quality_level(&input.name.file, input.bitrate)
        .map_err(|e| e.to_string())?;
    let mut written: Option<(String, Vec<u8>)> = None;
    let mut found = None;
    let mut passed = false;
    let mut take = |p: &mut Presentation| {
        while let Some(o) = p.poll_output() {
            match o {
                Output::WriteFragment { path, data } => written = Some((path, data)),
                Output::Event(Event::FragmentClosed {
                    path,
                    kind: k,
                    bitrate: b,
                    start: t,
                    ..
                }) if k == kind && t >= start => {
                    if t == start && b == bitrate {
                        found = written.take().filter(|(p, _)| *p == path).map(|(_, d)| d);
                    }
                    passed = true;
                }
                _ => {}
            }
        }
        passed
    };
    let mut blob = source.open(group, &input.name.file).await?;
    demux(&mut blob, |event| {
        p.handle_demux_event(level, event)
            .map_err(|e| e.to_string())?;
        Ok(if take(&mut p) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .map_err(|e| format!("{}: {e}", input.name.file))?;
    if !take(&mut p) {
        p.finish_level(level).map_err(|e| e.to_string())?;
        take(&mut p);
    }
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
