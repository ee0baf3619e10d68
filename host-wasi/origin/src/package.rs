//! Packaging on demand through the core's just-in-time index (the same one the native web
//! server uses): the group's MP4s are read up to their `moov`s, the packaging session cuts
//! the presentation from the sample tables alone, and a fragment is its head plus the
//! bytes of its samples, read from the sources. So manifests and fragments are
//! byte-identical to `smoothcast package` (only the manifest's `Url` differs: IIS URLs
//! here), and a fragment request reads that fragment's samples, not the file up to it.

use std::io::{Read, Seek, SeekFrom};

use smoothcast_core::layout::Layout;
use smoothcast_core::manifest;
use smoothcast_core::package::{FileIndex, IndexBuilder, IndexedFragment, InputSpec, Want};
use smoothcast_core::presentation::PresentationOptions;

use crate::source::{Blob, InputName};

/// The IIS `Url` template this origin answers, by stream name (`video`, `audio`, and
/// the further languages' `audio_<lang>`).
pub fn iis_url(stream: &str) -> String {
    format!("QualityLevels({{bitrate}})/Fragments({stream}={{start time}})")
}

/// Reads up to `len` bytes from `offset` (fewer only at the end).
fn read_at(blob: &mut Blob, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    blob.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(len.min(1 << 24));
    blob.take(len as u64)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The index of the group's inputs, with the origin's layout (`Layout::Multi`, whatever
/// the number of inputs). A `name@BITRATE.mp4` input has that bitrate; others are measured
/// as `smoothcast package` measures them.
pub fn index(names: &[InputName], blobs: &mut [Blob]) -> Result<FileIndex, String> {
    let inputs = names
        .iter()
        .map(|n| InputSpec {
            name: n.file.clone(),
            bitrate: n.bitrate,
            seekable: None,
        })
        .collect();
    let mut builder = IndexBuilder::new(inputs, PresentationOptions::vod(Layout::Multi))
        .map_err(|e| e.to_string())?;
    loop {
        match builder.want() {
            Want::Done => return builder.finish().map_err(|e| e.to_string()),
            Want::Read { input, offset, len } => {
                let blob = blobs.get_mut(input).ok_or("an unknown input")?;
                let data = read_at(blob, offset, len)?;
                builder.push(&data).map_err(|e| e.to_string())?;
            }
        }
    }
}

/// The whole presentation's manifest, with IIS URLs.
pub fn manifest(index: &FileIndex) -> String {
    let mut m = index.manifest.clone();
    for s in &mut m.stream_indexes {
        s.url = iis_url(&s.name);
    }
    manifest::write(&m)
}

/// The fragment file: its head and its samples, read from the sources.
pub fn fragment(f: &IndexedFragment, blobs: &mut [Blob]) -> Result<Vec<u8>, String> {
    let mut parts = Vec::with_capacity(f.ranges.len());
    for r in &f.ranges {
        let blob = blobs
            .get_mut(r.input)
            .ok_or("a range of an unknown input")?;
        let len = usize::try_from(r.len).map_err(|_| "range too large")?;
        parts.push(read_at(blob, r.offset, len)?);
    }
    f.assemble(&parts).map_err(|e| e.to_string())
}
