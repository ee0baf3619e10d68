//! The packaging session behind the `packager` resource, free of WIT types: inputs with
//! their demuxers, bitrate settlement, and the core `Presentation`.
//!
//! Bitrates: the core's quality levels are named by bitrate, and their order is the
//! manifest's order, so the presentation starts only once every input's bitrate is known.
//! Until then each input's demuxed events wait in its queue.

use std::collections::VecDeque;

use smoothcast_core::demux::{self, DemuxError, DemuxErrorKind, DemuxEvent, Demuxer};
use smoothcast_core::presentation::{
    LevelId, Presentation, PresentationError, PresentationErrorKind, PresentationOptions,
};
use smoothcast_core::Output;

/// An error as the WIT reports it: a kind and a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Malformed,
    Truncated,
    Unsupported,
    Usage,
    Mismatch,
    Empty,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

fn usage(message: String) -> Error {
    Error {
        kind: Kind::Usage,
        message,
    }
}

impl From<PresentationError> for Error {
    fn from(e: PresentationError) -> Self {
        let kind = match e.kind {
            PresentationErrorKind::Usage => Kind::Usage,
            PresentationErrorKind::Mismatch => Kind::Mismatch,
            PresentationErrorKind::Empty => Kind::Empty,
        };
        Error {
            kind,
            message: e.message,
        }
    }
}

fn demux_error(name: &str, e: DemuxError) -> Error {
    let kind = match e.kind {
        DemuxErrorKind::Malformed => Kind::Malformed,
        DemuxErrorKind::Truncated => Kind::Truncated,
        DemuxErrorKind::Unsupported => Kind::Unsupported,
    };
    Error {
        kind,
        message: format!("{name}: {e}"),
    }
}

/// What the session hands out, beyond the core's outputs.
#[derive(Debug)]
pub enum SessionOutput {
    Core(Output),
    Seek { input: u32, offset: u64 },
}

/// Bytes needed to tell the container apart (TS wants two packet starts).
const SNIFF_LEN: usize = 189;

struct Input {
    name: String,
    seekable: bool,
    /// Given or, once the tracks are known, measured.
    bitrate: Option<u32>,
    /// Stated average bitrates of the tracks announced so far (MP4 sample tables).
    stated: Vec<Option<u64>>,
    /// Bytes kept until the container can be sniffed.
    head: Vec<u8>,
    demuxer: Option<Box<dyn Demuxer + Send>>,
    /// Events waiting for the presentation to start.
    pending: VecDeque<DemuxEvent>,
    level: Option<LevelId>,
    finished: bool,
    /// A demuxer error poisons the input: its demuxer state is undefined afterwards.
    failed: bool,
}

pub struct Session {
    presentation: Presentation,
    inputs: Vec<Input>,
    started: bool,
    outputs: VecDeque<SessionOutput>,
}

impl Session {
    pub fn new(options: PresentationOptions) -> Self {
        Self {
            presentation: Presentation::new(options),
            inputs: Vec::new(),
            started: false,
            outputs: VecDeque::new(),
        }
    }

    pub fn add_input(
        &mut self,
        name: String,
        bitrate: Option<u32>,
        seekable: bool,
    ) -> Result<u32, Error> {
        if self.started
            || self
                .inputs
                .iter()
                .any(|i| !i.head.is_empty() || i.demuxer.is_some())
        {
            return Err(usage(format!(
                "{name}: add every input before pushing bytes"
            )));
        }
        if bitrate == Some(0) {
            return Err(usage(format!("{name}: bitrate must be above 0")));
        }
        let id = u32::try_from(self.inputs.len()).map_err(|_| usage("too many inputs".into()))?;
        self.inputs.push(Input {
            name,
            seekable,
            bitrate,
            stated: Vec::new(),
            head: Vec::new(),
            demuxer: None,
            pending: VecDeque::new(),
            level: None,
            finished: false,
            failed: false,
        });
        Ok(id)
    }

    pub fn bitrate(&self, input: u32) -> Option<u32> {
        self.inputs.get(input as usize).and_then(|i| i.bitrate)
    }

    fn input_mut(&mut self, input: u32) -> Result<&mut Input, Error> {
        let i = self
            .inputs
            .get_mut(input as usize)
            .ok_or_else(|| usage(format!("unknown input {input}")))?;
        if i.failed {
            return Err(usage(format!("{}: the input already failed", i.name)));
        }
        if i.finished {
            return Err(usage(format!("{}: the input is already finished", i.name)));
        }
        Ok(i)
    }

    pub fn push(&mut self, input: u32, data: &[u8]) -> Result<(), Error> {
        let i = self.input_mut(input)?;
        let result = match i.demuxer.as_mut() {
            Some(d) => d.push(data),
            None => {
                i.head.extend_from_slice(data);
                if i.head.len() < SNIFF_LEN {
                    return Ok(());
                }
                i.start_demuxer().and_then(|()| i.push_head())
            }
        };
        self.after_demux(input, result)
    }

    pub fn finish_input(&mut self, input: u32) -> Result<(), Error> {
        let i = self.input_mut(input)?;
        let mut result = Ok(());
        if i.demuxer.is_none() {
            result = i.start_demuxer().and_then(|()| i.push_head());
        }
        if result.is_ok() {
            if let Some(d) = i.demuxer.as_mut() {
                result = d.finish();
            }
        }
        self.after_demux(input, result)?;
        let i = &mut self.inputs[input as usize];
        i.finished = true;
        if i.bitrate.is_none() {
            // Ended before any sample: settle now so the presentation can start (it will
            // then report the empty input itself).
            i.settle_bitrate()?;
        }
        self.drain(input)?;
        if let Some(level) = self.inputs[input as usize].level {
            self.presentation.finish_level(level)?;
            self.collect();
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(i) = self.inputs.iter().find(|i| !i.finished) {
            return Err(usage(format!(
                "{}: finish-input every input before finish",
                i.name
            )));
        }
        self.start()?;
        self.presentation.finish()?;
        self.collect();
        Ok(())
    }

    pub fn poll(&mut self) -> Option<SessionOutput> {
        self.outputs.pop_front()
    }

    /// Moves the demuxer's events into the input's queue, then on into the presentation.
    fn after_demux(&mut self, input: u32, result: Result<(), DemuxError>) -> Result<(), Error> {
        let i = &mut self.inputs[input as usize];
        if let Err(e) = result {
            i.failed = true;
            return Err(demux_error(&i.name, e));
        }
        let mut seeks = Vec::new();
        // Taken out while polling so the input's other fields stay borrowable.
        if let Some(mut d) = i.demuxer.take() {
            let mut result = Ok(());
            while let Some(event) = d.poll() {
                match event {
                    DemuxEvent::Seek(offset) => seeks.push(offset),
                    DemuxEvent::Track(ref info) | DemuxEvent::TrackChanged(ref info) => {
                        i.stated.push(info.avg_bitrate);
                        i.pending.push_back(event);
                    }
                    DemuxEvent::Sample(_) => {
                        if i.bitrate.is_none() {
                            if let Err(e) = i.settle_bitrate() {
                                result = Err(e);
                                break;
                            }
                        }
                        i.pending.push_back(event);
                    }
                }
            }
            i.demuxer = Some(d);
            if let Err(e) = result {
                i.failed = true;
                return Err(e);
            }
        }
        for offset in seeks {
            self.outputs
                .push_back(SessionOutput::Seek { input, offset });
        }
        self.drain(input)
    }

    /// Starts the presentation once every bitrate is known: the levels go in input order.
    fn start(&mut self) -> Result<bool, Error> {
        if self.started {
            return Ok(true);
        }
        if self.inputs.iter().any(|i| i.bitrate.is_none()) {
            return Ok(false);
        }
        for i in &mut self.inputs {
            let bitrate = i.bitrate.unwrap_or(1);
            i.level = Some(self.presentation.add_quality_level(&i.name, bitrate)?);
        }
        self.started = true;
        Ok(true)
    }

    /// Feeds waiting events into the presentation (every input's, once it starts).
    fn drain(&mut self, input: u32) -> Result<(), Error> {
        let was_started = self.started;
        if !self.start()? {
            return Ok(());
        }
        let which: Vec<usize> = if was_started {
            vec![input as usize]
        } else {
            (0..self.inputs.len()).collect()
        };
        for n in which {
            let Some(level) = self.inputs[n].level else {
                continue;
            };
            while let Some(event) = self.inputs[n].pending.pop_front() {
                self.presentation.handle_demux_event(level, event)?;
                self.collect();
            }
            if !was_started && self.inputs[n].finished {
                self.presentation.finish_level(level)?;
                self.collect();
            }
        }
        Ok(())
    }

    fn collect(&mut self) {
        while let Some(o) = self.presentation.poll_output() {
            self.outputs.push_back(SessionOutput::Core(o));
        }
    }
}

impl Input {
    fn start_demuxer(&mut self) -> Result<(), DemuxError> {
        let container = demux::sniff(&self.head).ok_or_else(|| {
            DemuxError::malformed("not a media file Smoothcast reads (MP4, MOV, MPEG-TS or FLV)")
        })?;
        self.demuxer = Some(demux::for_container(container, self.seekable));
        Ok(())
    }

    fn push_head(&mut self) -> Result<(), DemuxError> {
        let head = std::mem::take(&mut self.head);
        match self.demuxer.as_mut() {
            Some(d) if !head.is_empty() => d.push(&head),
            _ => Ok(()),
        }
    }

    /// The sum of the stated track bitrates, as `smoothcast package` measures an MP4.
    fn settle_bitrate(&mut self) -> Result<(), Error> {
        if self.stated.is_empty() || self.stated.iter().any(Option::is_none) {
            return Err(usage(format!(
                "{}: the container states no bitrate; give one to add-input",
                self.name
            )));
        }
        let total: u64 = self.stated.iter().flatten().sum();
        let bitrate = u32::try_from(total.max(1))
            .map_err(|_| usage(format!("{}: bitrate too large", self.name)))?;
        self.bitrate = Some(bitrate);
        Ok(())
    }
}
