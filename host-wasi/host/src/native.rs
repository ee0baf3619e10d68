//! The reference: the native core driven in-process exactly as `smoothcast package` drives
//! it (seekable demux, MP4 bitrates from the sample tables, levels in input order). The
//! tests and the benchmark compare the components against this.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use smoothcast_core::demux::{self, DemuxEvent};
use smoothcast_core::presentation::{Presentation, PresentationOptions};
use smoothcast_core::Output;

/// One input held in memory.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: String,
    pub data: Vec<u8>,
    pub bitrate: Option<u32>,
}

/// A presentation's final files, by path relative to the group folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packaged {
    pub fragments: BTreeMap<String, Vec<u8>>,
    pub manifest: Option<(String, String)>,
}

impl Packaged {
    /// Applies one output as a disk host would.
    pub fn apply(&mut self, output: Output) {
        match output {
            Output::WriteFragment { path, data } | Output::RewriteFragment { path, data } => {
                self.fragments.insert(path, data);
            }
            Output::WriteManifest { path, xml } => self.manifest = Some((path, xml)),
            Output::Remove { path } => {
                self.fragments.remove(&path);
            }
            Output::Event(_) => {}
        }
    }
}

/// Same reads as the native host: 1 MiB chunks from the current offset, seeks honoured.
const READ_CHUNK: usize = 1 << 20;

fn demux_bytes(data: &[u8], mut on_event: impl FnMut(DemuxEvent) -> Result<bool>) -> Result<()> {
    let head = &data[..data.len().min(376)];
    let container =
        demux::sniff(head).ok_or_else(|| anyhow!("not a media file Smoothcast reads"))?;
    let mut demuxer = demux::for_container(container, true);
    let mut pos = 0usize;
    loop {
        let end = (pos + READ_CHUNK).min(data.len());
        let chunk = data.get(pos..end).unwrap_or(&[]);
        if chunk.is_empty() {
            demuxer.finish()?;
        } else {
            demuxer.push(chunk)?;
            pos = end;
        }
        while let Some(event) = demuxer.poll() {
            if let DemuxEvent::Seek(offset) = event {
                pos = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
            } else if !on_event(event)? {
                return Ok(());
            }
        }
        if chunk.is_empty() {
            return Ok(());
        }
    }
}

/// The MP4's stated average bitrate (sum over its tracks), as `smoothcast package` reads it.
pub fn stated_bitrate(data: &[u8]) -> Result<u32> {
    let mut stated = Vec::new();
    demux_bytes(data, |event| {
        Ok(match event {
            DemuxEvent::Track(info) | DemuxEvent::TrackChanged(info) => {
                stated.push(info.avg_bitrate);
                true
            }
            _ => false,
        })
    })?;
    if stated.is_empty() || stated.iter().any(Option::is_none) {
        bail!("the input states no bitrate");
    }
    Ok(u32::try_from(stated.iter().flatten().sum::<u64>().max(1))?)
}

pub fn package(inputs: &[InputSpec], options: PresentationOptions) -> Result<Packaged> {
    let mut p = Presentation::new(options);
    let mut levels = Vec::new();
    for i in inputs {
        let bitrate = match i.bitrate {
            Some(b) => b,
            None => stated_bitrate(&i.data)?,
        };
        levels.push(p.add_quality_level(&i.name, bitrate)?);
    }
    let mut out = Packaged::default();
    for (i, level) in inputs.iter().zip(levels) {
        demux_bytes(&i.data, |event| {
            p.handle_demux_event(level, event)?;
            while let Some(o) = p.poll_output() {
                out.apply(o);
            }
            Ok(true)
        })?;
    }
    p.finish()?;
    while let Some(o) = p.poll_output() {
        out.apply(o);
    }
    Ok(out)
}
