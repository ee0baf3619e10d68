//! The packaging session: the `package` loop turned inside out, so that every host (the
//! native command, JavaScript, the WASI components) owns the bytes and the event loop and
//! drives the same code.
//!
//! The host pushes the bytes of one input at a time, calls [`Session::end`] at the end of
//! each, and drains [`Session::poll`]. A [`Step::Seek`] means "continue this input from that
//! offset" (an MP4 with its `moov` at the end, or a second pass to measure a bitrate); only
//! a seekable input (see [`InputSpec::seekable`]) asks for one.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use crate::demux::{self, DemuxEvent, Demuxer};
use crate::manifest::Manifest;
use crate::measure::{Measure, Observed};
use crate::presentation::{LevelId, Output, Presentation, PresentationOptions};

/// Where a piece of a hollow fragment's payload is: bytes of one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRange {
    /// Index of the input (as given to the session).
    pub input: usize,
    pub offset: u64,
    pub len: u64,
}

/// A hollow session's bookkeeping (see [`Session::hollow`]).
#[derive(Default)]
struct Hollow {
    /// Samples handed to the presentation, by the address of their zeroed stand-in
    /// buffer (unique while the buffer lives, and it lives until its fragment is written):
    /// (input, file offset, length).
    origins: BTreeMap<usize, (usize, u64, u64)>,
    /// Per fragment written (in the order of the WriteFragment steps): its payload's source.
    fills: VecDeque<Vec<PayloadRange>>,
}

use super::error::{Error, ErrorKind};
use super::options::{check_inputs, InputSpec, SessionOptions};

/// Bytes sniffed before choosing a demuxer: two TS packets, so an M2TS (a 4-byte timecode
/// before each packet) is confirmed by its second sync byte.
const HEAD_LEN: usize = 376;

/// What the host must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write, rewrite or remove a file, or note an event.
    Output(Output),
    /// Push the current input again from this byte offset; bytes already pushed after the
    /// call that asked are ignored.
    Seek(u64),
    /// The input with this index is complete; the next push starts the next input.
    InputDone(usize),
    /// The presentation is complete: the last manifest has been polled before this.
    Done,
}

/// Bytes as a host hands them over: borrowed, or owned so samples can slice them.
enum Chunk<'a> {
    Borrowed(&'a [u8]),
    Shared(bytes::Bytes),
}

/// Where the current pass over an input is.
enum Pass {
    /// Collecting the first bytes to recognise the container.
    Head { buf: Vec<u8>, mode: Mode },
    Demux {
        demuxer: Box<dyn Demuxer + Send>,
        mode: Mode,
    },
    /// Every input is done (or the session failed).
    Over,
}

enum Mode {
    /// No bitrate yet: tracks are held back until it is known.
    Measure {
        measure: Measure,
        held: Vec<DemuxEvent>,
    },
    Package(LevelId),
}

pub struct Session {
    presentation: Presentation,
    /// A measured bitrate is written back into its input, so [`Session::bitrate`] has it.
    inputs: Vec<InputSpec>,
    /// The default of inputs that do not say.
    seekable: bool,
    current: usize,
    pass: Pass,
    steps: VecDeque<Step>,
    /// Set when the last push/end queued a seek: that pass is not over yet.
    seek_pending: bool,
    failed: Option<Error>,
    hollow: Option<Hollow>,
}

impl Session {
    /// A session with `smoothcast package`'s presentation: VOD, layout from the inputs.
    pub fn new(options: SessionOptions) -> Result<Self, Error> {
        let presentation = options.presentation_options()?;
        Self::with_presentation(options.inputs, options.seekable, presentation)
    }

    /// A session with presentation options the host chose (the WASI packager's layouts and
    /// live options, the origin's layout); the inputs are checked as [`Session::new`] does.
    pub fn with_presentation(
        inputs: Vec<InputSpec>,
        seekable: bool,
        options: PresentationOptions,
    ) -> Result<Self, Error> {
        check_inputs(&inputs)?;
        let mut session = Self {
            presentation: Presentation::new(options),
            inputs,
            seekable,
            current: 0,
            pass: Pass::Over,
            steps: VecDeque::new(),
            seek_pending: false,
            failed: None,
            hollow: None,
        };
        session.pass = session.start_input()?;
        Ok(session)
    }

    /// A hollow session, for the just-in-time index: MP4 inputs only, read up to their
    /// `moov` (the demuxer emits zeroed stand-ins for the samples), cut by the same
    /// presentation as [`Session::with_presentation`]. Each fragment step carries the
    /// fragment's head only; [`Session::take_fill`] says where its payload is in the inputs.
    /// The host stops reading an input once [`Session::wants_more`] says no, and calls
    /// [`Session::end`].
    pub fn hollow(inputs: Vec<InputSpec>, options: PresentationOptions) -> Result<Self, Error> {
        if options.protection.is_some() {
            return Err(Error::new(
                ErrorKind::Options,
                "a protected presentation is not packaged just in time",
            ));
        }
        let mut session = Self::with_presentation(inputs, true, options)?;
        session.presentation.set_hollow();
        session.hollow = Some(Hollow::default());
        Ok(session)
    }

    /// Hollow: where the payload of the oldest fragment step not yet asked about comes
    /// from (adjacent pieces merged), one call per [`Output::WriteFragment`] step.
    pub fn take_fill(&mut self) -> Option<Vec<PayloadRange>> {
        self.hollow.as_mut()?.fills.pop_front()
    }

    /// Whether the current input's demuxer wants more bytes (always, but for a hollow
    /// session once the input's `moov` is read).
    pub fn wants_more(&self) -> bool {
        match &self.pass {
            Pass::Demux { demuxer, .. } => demuxer.wants_more(),
            _ => true,
        }
    }

    /// Index of the input being read (the input count once every input is done).
    pub fn input(&self) -> usize {
        self.current
    }

    /// An input's bitrate: given, or measured once known.
    pub fn bitrate(&self, input: usize) -> Option<u32> {
        self.inputs.get(input).and_then(|i| i.bitrate)
    }

    /// The error that ended the session, which every later call repeats.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Whether every input was packaged and the final manifest queued.
    pub fn is_done(&self) -> bool {
        self.failed.is_none() && self.current >= self.inputs.len()
    }

    /// The manifest as it stands (complete once [`Session::is_done`]), for hosts that
    /// rewrite it before serving (the WASI origin's IIS URLs).
    pub fn manifest(&self) -> Result<Manifest, Error> {
        self.presentation
            .manifest()
            .map_err(|e| Error::presentation(None, &e))
    }

    /// Whether the host honours seeks for the current input.
    fn seekable(&self) -> bool {
        self.inputs
            .get(self.current)
            .and_then(|i| i.seekable)
            .unwrap_or(self.seekable)
    }

    /// `"measure"` (a pass to find the bitrate), `"package"` or `"done"`.
    pub fn phase(&self) -> &'static str {
        match &self.pass {
            Pass::Head { mode, .. } | Pass::Demux { mode, .. } => match mode {
                Mode::Measure { .. } => "measure",
                Mode::Package(_) => "package",
            },
            Pass::Over => "done",
        }
    }

    pub fn poll(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    /// Feeds the next bytes of the current input.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Error> {
        self.guard(|s| s.push_inner(Chunk::Borrowed(data)))
    }

    /// Like [`Session::push`], with an owned buffer samples may share instead of copying.
    pub fn push_shared(&mut self, data: bytes::Bytes) -> Result<(), Error> {
        self.guard(|s| s.push_inner(Chunk::Shared(data)))
    }

    /// Declares the end of the current input (or of the bytes up to a requested seek's
    /// target, when the demuxer asked for it while finishing).
    pub fn end(&mut self) -> Result<(), Error> {
        self.guard(Self::end_inner)
    }

    /// After a failure every call repeats it: the presentation is unusable.
    fn guard(&mut self, f: impl FnOnce(&mut Self) -> Result<(), Error>) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = f(self);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.pass = Pass::Over;
        }
        result
    }

    fn name(&self) -> &str {
        self.inputs
            .get(self.current)
            .map(|i| i.name.as_str())
            .unwrap_or("")
    }

    fn start_input(&mut self) -> Result<Pass, Error> {
        let Some(input) = self.inputs.get(self.current) else {
            return Ok(Pass::Over);
        };
        let mode = match input.bitrate {
            Some(bitrate) => Mode::Package(self.add_level(bitrate)?),
            None => Mode::Measure {
                measure: Measure::default(),
                held: Vec::new(),
            },
        };
        Ok(Pass::Head {
            buf: Vec::new(),
            mode,
        })
    }

    fn add_level(&mut self, bitrate: u32) -> Result<LevelId, Error> {
        let name = self.name().to_string();
        let level = self
            .presentation
            .add_quality_level(&name, bitrate)
            .map_err(|e| Error::presentation(None, &e))?;
        if let Some(input) = self.inputs.get_mut(self.current) {
            input.bitrate = Some(bitrate);
        }
        Ok(level)
    }

    fn push_inner(&mut self, chunk: Chunk<'_>) -> Result<(), Error> {
        let data: &[u8] = match &chunk {
            Chunk::Borrowed(d) => d,
            Chunk::Shared(b) => b,
        };
        self.seek_pending = false;
        match &mut self.pass {
            Pass::Over => Err(Error::new(
                ErrorKind::Usage,
                "push after the last input ended",
            )),
            Pass::Head { buf, .. } => {
                buf.extend_from_slice(data);
                if buf.len() >= HEAD_LEN {
                    self.open_demuxer()?;
                }
                Ok(())
            }
            Pass::Demux { demuxer, .. } => {
                let r = match chunk {
                    Chunk::Borrowed(d) => demuxer.push(d),
                    Chunk::Shared(b) => demuxer.push_shared(b),
                };
                r.map_err(|e| Error::demux(self.name(), &e))?;
                self.drain()
            }
        }
    }

    fn end_inner(&mut self) -> Result<(), Error> {
        self.seek_pending = false;
        if matches!(self.pass, Pass::Over) {
            return Err(Error::new(
                ErrorKind::Usage,
                "end after the last input ended",
            ));
        }
        if matches!(self.pass, Pass::Head { .. }) {
            self.open_demuxer()?;
            if self.seek_pending {
                return Ok(());
            }
        }
        if let Pass::Demux { demuxer, .. } = &mut self.pass {
            let r = demuxer.finish();
            r.map_err(|e| Error::demux(self.name(), &e))?;
        }
        self.drain()?;
        if self.seek_pending {
            return Ok(());
        }
        self.input_ended()
    }

    /// Recognises the container from the collected head and pushes the head through.
    fn open_demuxer(&mut self) -> Result<(), Error> {
        let Pass::Head { buf, mode } = core::mem::replace(&mut self.pass, Pass::Over) else {
            return Ok(());
        };
        let container = demux::sniff(&buf[..buf.len().min(HEAD_LEN)]).ok_or_else(|| {
            Error::new(
                ErrorKind::NotMedia,
                format!(
                    "{}: not a media file Smoothcast reads (MP4, MOV, MPEG-TS, FLV, or SRT or WebVTT subtitles)",
                    self.name()
                ),
            )
        })?;
        // Subtitles have no bitrate to measure: they become a text stream.
        let mode = match (container, mode) {
            (demux::Container::Text(_), Mode::Measure { .. }) => {
                let name = self.name().to_string();
                let level = self
                    .presentation
                    .add_text_level(&name, crate::presentation::sidecar_language(&name))
                    .map_err(|e| Error::presentation(None, &e))?;
                Mode::Package(level)
            }
            (demux::Container::Text(_), Mode::Package(_)) => {
                return Err(Error::new(
                    ErrorKind::Options,
                    format!("{}: a subtitle file takes no bitrate", self.name()),
                ))
            }
            (_, mode) => mode,
        };
        let mut demuxer: Box<dyn Demuxer + Send> = match (container, &self.hollow) {
            (demux::Container::Mp4, Some(_)) => Box::new(demux::mp4::Mp4Demuxer::hollow()),
            (_, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("{}: only MP4 files are packaged just in time", self.name()),
                ))
            }
            (_, None) => demux::for_container(container, self.seekable()),
        };
        demuxer
            .push(&buf)
            .map_err(|e| Error::demux(self.name(), &e))?;
        self.pass = Pass::Demux { demuxer, mode };
        self.drain()
    }

    /// Hands every demuxer event on: to the measurement or to the presentation.
    fn drain(&mut self) -> Result<(), Error> {
        let name = self.name().to_string();
        let seekable = self.seekable();
        let Pass::Demux { demuxer, mode } = &mut self.pass else {
            return Ok(());
        };
        let input = self.current;
        while let Some(event) = demuxer.poll() {
            if let DemuxEvent::Seek(offset) = event {
                self.steps.push_back(Step::Seek(offset));
                self.seek_pending = true;
                continue;
            }
            // Hollow: the sample's source, kept once it goes to the presentation.
            let origin = match &event {
                DemuxEvent::Sample(s) if self.hollow.is_some() => demuxer
                    .take_hollow_offset()
                    .map(|o| (s.data.as_ptr() as usize, (input, o, s.data.len() as u64))),
                _ => None,
            };
            let level = match mode {
                Mode::Package(level) => *level,
                Mode::Measure { measure, held } => {
                    let bitrate = match measure.observe(&event)? {
                        Observed::Stated(bitrate) => bitrate,
                        Observed::More => {
                            if matches!(event, DemuxEvent::Sample(_)) && !seekable {
                                return Err(Error::new(
                                    ErrorKind::BitrateUnknown,
                                    format!("{name}: this container states no bitrate; give one (a one-way stream cannot be read twice to measure it)"),
                                ));
                            }
                            if !matches!(event, DemuxEvent::Sample(_)) {
                                held.push(event);
                            }
                            continue;
                        }
                    };
                    // Known at the first sample: package from here on with the same demuxer,
                    // after the tracks it announced (a fresh pass would announce the same).
                    let level = self
                        .presentation
                        .add_quality_level(&name, bitrate)
                        .map_err(|e| Error::presentation(None, &e))?;
                    if let Some(input) = self.inputs.get_mut(self.current) {
                        input.bitrate = Some(bitrate);
                    }
                    for e in core::mem::take(held) {
                        self.presentation
                            .handle_demux_event(level, e)
                            .map_err(|e| Error::presentation(Some(&name), &e))?;
                    }
                    *mode = Mode::Package(level);
                    level
                }
            };
            if let (Some(h), Some((key, origin))) = (&mut self.hollow, origin) {
                if origin.2 > 0 {
                    h.origins.insert(key, origin);
                }
            }
            self.presentation
                .handle_demux_event(level, event)
                .map_err(|e| Error::presentation(Some(&name), &e))?;
            queue_outputs(&mut self.presentation, &mut self.steps, &mut self.hollow)?;
        }
        Ok(())
    }

    fn input_ended(&mut self) -> Result<(), Error> {
        let name = self.name().to_string();
        match core::mem::replace(&mut self.pass, Pass::Over) {
            Pass::Demux {
                mode: Mode::Measure { measure, .. },
                ..
            } => {
                // A whole pass was needed (MPEG-TS, FLV): read the input again to package it.
                let bitrate = measure
                    .result()
                    .map_err(|e| Error::new(e.kind, format!("{name}: {}", e.message)))?;
                let level = self.add_level(bitrate)?;
                self.pass = Pass::Head {
                    buf: Vec::new(),
                    mode: Mode::Package(level),
                };
                self.steps.push_back(Step::Seek(0));
                self.seek_pending = true;
                Ok(())
            }
            Pass::Demux {
                mode: Mode::Package(_),
                ..
            } => {
                self.steps.push_back(Step::InputDone(self.current));
                self.current += 1;
                if self.current < self.inputs.len() {
                    self.pass = self.start_input()?;
                    return Ok(());
                }
                self.presentation
                    .finish()
                    .map_err(|e| Error::presentation(None, &e))?;
                queue_outputs(&mut self.presentation, &mut self.steps, &mut self.hollow)?;
                self.steps.push_back(Step::Done);
                Ok(())
            }
            Pass::Head { .. } | Pass::Over => Ok(()),
        }
    }
}

/// Moves the presentation's outputs to the steps; hollow, also notes where each fragment's
/// payload comes from.
fn queue_outputs(
    presentation: &mut Presentation,
    steps: &mut VecDeque<Step>,
    hollow: &mut Option<Hollow>,
) -> Result<(), Error> {
    while let Some(output) = presentation.poll_output() {
        if let (Some(h), Output::WriteFragment { .. }) = (hollow.as_mut(), &output) {
            let payload = presentation.take_payload().unwrap_or_default();
            let mut fill: Vec<PayloadRange> = Vec::new();
            for b in payload.iter().filter(|b| !b.is_empty()) {
                let Some((input, offset, len)) = h.origins.remove(&(b.as_ptr() as usize)) else {
                    // Cannot happen: every sample the presentation holds came through drain.
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        "a fragment holds a sample of unknown origin",
                    ));
                };
                match fill.last_mut() {
                    Some(last) if last.input == input && last.offset + last.len == offset => {
                        last.len += len;
                    }
                    _ => fill.push(PayloadRange { input, offset, len }),
                }
            }
            h.fills.push_back(fill);
        }
        steps.push_back(Step::Output(output));
    }
    Ok(())
}
