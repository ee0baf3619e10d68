//! The just-in-time index: what `smoothcast package` would write for some MP4 files,
//! known from their `moov`s alone, so that an origin serves any fragment by reading only
//! that fragment's samples.
//!
//! [`IndexBuilder`] drives a hollow [`Session`] (the packaging session itself, whose
//! presentation cuts the fragments, with zeroed stand-ins for the samples) and keeps, per
//! fragment file, its head (`moof` and `mdat` header, final bytes) and where its payload
//! is in the inputs. A fragment is then `head + the bytes of those ranges`
//! ([`IndexedFragment::assemble`]), byte-identical to the packaged file. Sans-I/O: the
//! host answers [`IndexBuilder::want`] with the bytes asked for.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::{Error, ErrorKind};
use super::options::{InputSpec, SessionOptions};
use super::session::{PayloadRange, Session, Step};
use crate::manifest::Manifest;
use crate::presentation::{Event, FragmentInfo, Output, PresentationOptions};

/// Bytes asked for per read while looking for the `moov`: a read past the `moov` into the
/// media data costs little more than a short one.
const READ_LEN: usize = 256 * 1024;

/// One fragment file of the presentation, without its media data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFragment {
    /// `moof` and `mdat` header, as the packaged file starts.
    pub head: Vec<u8>,
    /// Where the rest of the file (the `mdat` payload) is, in order.
    pub ranges: Vec<PayloadRange>,
    pub info: FragmentInfo,
}

impl IndexedFragment {
    /// Length of the `moof` box (what `FragmentInfo(...)` answers).
    pub fn moof_len(&self) -> usize {
        self.head
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u32::from_be_bytes(b) as usize)
            .min(self.head.len())
    }

    /// Bytes of the whole fragment file.
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.ranges.iter().map(|r| r.len).sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fragment file from the bytes of its ranges (`parts[i]` = `ranges[i]`).
    pub fn assemble(&self, parts: &[impl AsRef<[u8]>]) -> Result<Vec<u8>, Error> {
        let ok = parts.len() == self.ranges.len()
            && parts
                .iter()
                .zip(&self.ranges)
                .all(|(p, r)| p.as_ref().len() as u64 == r.len);
        if !ok {
            return Err(Error::new(
                ErrorKind::Usage,
                "the bytes read do not match the fragment's ranges (the file changed?)",
            ));
        }
        let len = usize::try_from(self.len())
            .map_err(|_| Error::new(ErrorKind::Unsupported, "fragment too large"))?;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.head);
        for p in parts {
            out.extend_from_slice(p.as_ref());
        }
        Ok(out)
    }
}

/// What `smoothcast package` writes for the inputs, as an index.
#[derive(Debug, Clone)]
pub struct FileIndex {
    /// The manifest file's name and XML, as written.
    pub manifest_path: String,
    pub manifest_xml: String,
    /// The manifest, parsed, for resolving IIS URLs.
    pub manifest: Manifest,
    /// Fragment files by their path relative to the presentation folder.
    pub fragments: BTreeMap<String, IndexedFragment>,
    /// Packaging notes (tracks ignored, samples dropped), as `smoothcast package` reports.
    pub notes: Vec<String>,
}

impl FileIndex {
    pub fn fragment(&self, path: &str) -> Option<&IndexedFragment> {
        self.fragments.get(path)
    }

    /// The fragment an IIS URL names (`QualityLevels(bitrate)/Fragments(stream=time)`):
    /// the stream by name (or by type, `video`/`audio`, as IIS allows), a bitrate it lists
    /// and a time that is one of its `c@t`; its path and the fragment. `None` for anything
    /// else (a 404).
    pub fn fragment_at(
        &self,
        stream: &str,
        bitrate: u32,
        time: u64,
    ) -> Option<(&str, &IndexedFragment)> {
        let streams = &self.manifest.stream_indexes;
        let s = streams.iter().find(|s| s.name == stream).or_else(|| {
            streams
                .iter()
                .find(|s| s.kind.as_str().eq_ignore_ascii_case(stream))
        })?;
        if !s.quality_levels.iter().any(|q| q.bitrate == bitrate)
            || !s.chunks.iter().any(|c| c.t == time)
        {
            return None;
        }
        let path = s
            .url
            .replace("{bitrate}", &alloc::format!("{bitrate}"))
            .replace("{start time}", &alloc::format!("{time}"));
        self.fragments
            .get_key_value(&path)
            .map(|(p, f)| (p.as_str(), f))
    }

    /// About how much memory the index holds, for a host's cache bound.
    pub fn approx_bytes(&self) -> usize {
        let per_fragment = core::mem::size_of::<IndexedFragment>() + 64;
        self.manifest_xml.len() * 2
            + self
                .fragments
                .iter()
                .map(|(p, f)| {
                    per_fragment
                        + p.len()
                        + f.head.len()
                        + f.ranges.len() * core::mem::size_of::<PayloadRange>()
                })
                .sum::<usize>()
    }
}

/// What the builder needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Bytes of input `input` from `offset`, at most `len` (fewer at its end; none past it).
    Read {
        input: usize,
        offset: u64,
        len: usize,
    },
    /// The index is complete: [`IndexBuilder::finish`].
    Done,
}

pub struct IndexBuilder {
    session: Session,
    input: usize,
    offset: u64,
    done: bool,
    manifest: Option<(String, String)>,
    fragments: BTreeMap<String, IndexedFragment>,
    notes: Vec<String>,
}

impl IndexBuilder {
    /// The index of what `smoothcast package` makes of these options' inputs (one file: the
    /// single-stream layout named after it).
    pub fn package(options: SessionOptions) -> Result<Self, Error> {
        let presentation = options.presentation_options()?;
        Self::new(options.inputs, presentation)
    }

    pub fn new(inputs: Vec<InputSpec>, options: PresentationOptions) -> Result<Self, Error> {
        Ok(Self {
            session: Session::hollow(inputs, options)?,
            input: 0,
            offset: 0,
            done: false,
            manifest: None,
            fragments: BTreeMap::new(),
            notes: Vec::new(),
        })
    }

    pub fn want(&self) -> Want {
        if self.done {
            return Want::Done;
        }
        Want::Read {
            input: self.input,
            offset: self.offset,
            len: READ_LEN,
        }
    }

    /// The bytes [`IndexBuilder::want`] asked for; empty at the input's end.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.done {
            return Err(Error::new(ErrorKind::Usage, "push after the index is done"));
        }
        if data.is_empty() {
            self.session.end()?;
        } else {
            self.offset += data.len() as u64;
            self.session.push(data)?;
        }
        self.drain()?;
        // The moov is read: the rest of this input is not needed.
        while !self.done && !self.session.wants_more() {
            self.session.end()?;
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), Error> {
        while let Some(step) = self.session.poll() {
            match step {
                Step::Seek(offset) => self.offset = offset,
                Step::InputDone(i) => {
                    self.input = i + 1;
                    self.offset = 0;
                }
                Step::Done => self.done = true,
                Step::Output(Output::WriteFragment { path, data, info }) => {
                    let ranges = self.session.take_fill().ok_or_else(|| {
                        Error::new(ErrorKind::Usage, "a fragment without its payload's source")
                    })?;
                    self.fragments.insert(
                        path,
                        IndexedFragment {
                            head: Vec::from(data),
                            ranges,
                            info,
                        },
                    );
                }
                Step::Output(Output::WriteManifest { path, xml }) => {
                    self.manifest = Some((path, xml));
                }
                Step::Output(Output::Event(e)) => match e {
                    Event::TrackIgnored { level, reason, .. } => self
                        .notes
                        .push(alloc::format!("{level}: not packaged: {reason}")),
                    Event::SampleDropped { level, reason, .. } => self
                        .notes
                        .push(alloc::format!("{level}: sample dropped: {reason}")),
                    _ => {}
                },
                // VOD: fragments are never rewritten or removed.
                Step::Output(_) => {}
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<FileIndex, Error> {
        let (Some((manifest_path, manifest_xml)), true) = (self.manifest, self.done) else {
            return Err(Error::new(ErrorKind::Usage, "the index is not complete"));
        };
        let manifest = self.session.manifest()?;
        Ok(FileIndex {
            manifest_path,
            manifest_xml,
            manifest,
            fragments: self.fragments,
            notes: self.notes,
        })
    }
}

/// Builds an index from inputs held in memory (tests, small hosts).
pub fn index_in_memory(mut builder: IndexBuilder, inputs: &[&[u8]]) -> Result<FileIndex, Error> {
    // Each step reads something or ends an input: bounded by the inputs' sizes.
    loop {
        match builder.want() {
            Want::Done => return builder.finish(),
            Want::Read { input, offset, len } => {
                let data = inputs.get(input).copied().unwrap_or_default();
                let from = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let to = from.saturating_add(len).min(data.len());
                builder.push(&data[from..to])?;
            }
        }
    }
}
