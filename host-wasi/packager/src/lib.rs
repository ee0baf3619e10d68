//! The `smoothcast:packager` component: the core's packaging session behind a WIT resource.
//!
//! Built only for wasm32-wasip2 (`cargo build --target wasm32-wasip2` in host-wasi/); the
//! component model has no traps for bad input here: every failure is a WIT `error`.

mod convert;

use std::cell::RefCell;

use smoothcast_core::package::{self, InputSpec, Session, Step};
use smoothcast_core::presentation::PresentationOptions;

use exports::smoothcast::packager::packaging::{
    Error, Guest, GuestPackager, Options, Output as WitOutput, SeekRequest,
};

wit_bindgen::generate!({
    path: "../wit",
    world: "packager",
});

struct Component;

impl Guest for Component {
    type Packager = Packager;
}

/// Resource methods take `&self`; one component instance is single-threaded.
struct Packager {
    state: RefCell<State>,
}

struct State {
    options: PresentationOptions,
    /// Options that could not be used (bad protection settings): `add-input` reports it.
    options_error: Option<Error>,
    inputs: Vec<InputSpec>,
    /// Created at the first push or finish-input: the WIT adds inputs one by one, the
    /// session wants them all at once.
    session: Option<Session>,
    queued: Vec<WitOutput>,
}

fn usage(message: String) -> package::Error {
    package::Error::new(package::ErrorKind::Usage, message)
}

impl State {
    /// The session, once `input` may take bytes: inputs are read in order, as the session
    /// reads them.
    fn session_for(&mut self, input: u32) -> Result<&mut Session, package::Error> {
        let index = input as usize;
        let Some(spec) = self.inputs.get(index) else {
            return Err(usage(format!("unknown input {input}")));
        };
        let name = spec.name.clone();
        if self.session.is_none() {
            self.session = Some(Session::with_presentation(
                self.inputs.clone(),
                false,
                self.options.clone(),
            )?);
        }
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| usage("no session".into()))?;
        let current = session.input();
        if index < current {
            return Err(usage(format!("{name}: the input is already finished")));
        }
        if index > current {
            let first = self.inputs.get(current).map_or("", |i| i.name.as_str());
            return Err(usage(format!(
                "{name}: inputs are read in order; finish {first} first"
            )));
        }
        Ok(session)
    }

    /// Moves the session's steps into the WIT queue; a seek names the input it belongs to.
    fn collect(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let mut input = session.input();
        while let Some(step) = session.poll() {
            match step {
                Step::Output(o) => self.queued.extend(convert::output(o)),
                Step::Seek(offset) => self.queued.push(WitOutput::Seek(SeekRequest {
                    input: u32::try_from(input).unwrap_or(u32::MAX),
                    offset,
                })),
                Step::InputDone(i) => input = i + 1,
                Step::Done => {}
            }
        }
    }

    /// Runs one session call, queueing its outputs even when it fails (they happened).
    fn call(
        &mut self,
        input: u32,
        f: impl FnOnce(&mut Session) -> Result<(), package::Error>,
    ) -> Result<(), Error> {
        let result = self.session_for(input).and_then(f);
        self.collect();
        result.map_err(convert::error)
    }
}

impl GuestPackager for Packager {
    fn new(options: Options) -> Self {
        let (options, options_error) = convert::options(options);
        Self {
            state: RefCell::new(State {
                options,
                options_error,
                inputs: Vec::new(),
                session: None,
                queued: Vec::new(),
            }),
        }
    }

    fn add_input(&self, name: String, bitrate: Option<u32>, seekable: bool) -> Result<u32, Error> {
        let mut state = self.state.borrow_mut();
        if let Some(e) = &state.options_error {
            return Err(e.clone());
        }
        if state.session.is_some() {
            return Err(convert::error(usage(format!(
                "{name}: add every input before pushing bytes"
            ))));
        }
        let spec = InputSpec {
            name,
            bitrate,
            seekable: Some(seekable),
        };
        spec.check().map_err(convert::error)?;
        let id = u32::try_from(state.inputs.len())
            .map_err(|_| convert::error(usage("too many inputs".into())))?;
        state.inputs.push(spec);
        Ok(id)
    }

    fn push(&self, input: u32, data: Vec<u8>) -> Result<(), Error> {
        self.state
            .borrow_mut()
            .call(input, |s| s.push_shared(data.into()))
    }

    fn finish_input(&self, input: u32) -> Result<(), Error> {
        self.state.borrow_mut().call(input, Session::end)
    }

    fn finish(&self) -> Result<(), Error> {
        let state = self.state.borrow();
        match &state.session {
            Some(s) if s.is_done() => Ok(()),
            // A failed presentation says why, as every call after the failure does.
            Some(s) => Err(convert::error(match s.error() {
                Some(e) => e.clone(),
                None => {
                    let name = state.inputs.get(s.input()).map_or("", |i| i.name.as_str());
                    usage(format!("{name}: finish-input every input before finish"))
                }
            })),
            None if state.inputs.is_empty() => Err(convert::error(package::Error::new(
                package::ErrorKind::Options,
                "no inputs",
            ))),
            None => Err(convert::error(usage(
                "finish-input every input before finish".into(),
            ))),
        }
    }

    fn poll(&self) -> Vec<WitOutput> {
        std::mem::take(&mut self.state.borrow_mut().queued)
    }

    fn bitrate(&self, input: u32) -> Option<u32> {
        let state = self.state.borrow();
        match &state.session {
            Some(s) => s.bitrate(input as usize),
            None => state.inputs.get(input as usize).and_then(|i| i.bitrate),
        }
    }
}

export!(Component);
