//! The `smoothcast:packager` component: the core's `Presentation` behind a WIT resource.
//!
//! Built only for wasm32-wasip2 (`cargo build --target wasm32-wasip2` in host-wasi/); the
//! component model has no traps for bad input here: every failure is a WIT `error`.

mod convert;
mod session;

use std::cell::RefCell;

use exports::smoothcast::packager::packaging::{
    Error, Guest, GuestPackager, Options, Output as WitOutput,
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
    session: RefCell<session::Session>,
    outputs: RefCell<convert::Outputs>,
}

impl GuestPackager for Packager {
    fn new(options: Options) -> Self {
        Self {
            session: RefCell::new(session::Session::new(convert::options(options))),
            outputs: RefCell::new(convert::Outputs::default()),
        }
    }

    fn add_input(&self, name: String, bitrate: Option<u32>, seekable: bool) -> Result<u32, Error> {
        self.session
            .borrow_mut()
            .add_input(name, bitrate, seekable)
            .map_err(convert::error)
    }

    fn push(&self, input: u32, data: Vec<u8>) -> Result<(), Error> {
        self.session
            .borrow_mut()
            .push(input, &data)
            .map_err(convert::error)
    }

    fn finish_input(&self, input: u32) -> Result<(), Error> {
        self.session
            .borrow_mut()
            .finish_input(input)
            .map_err(convert::error)
    }

    fn finish(&self) -> Result<(), Error> {
        self.session.borrow_mut().finish().map_err(convert::error)
    }

    fn poll(&self) -> Vec<WitOutput> {
        let mut session = self.session.borrow_mut();
        let mut outputs = self.outputs.borrow_mut();
        let mut out = Vec::new();
        while let Some(o) = session.poll() {
            outputs.convert(o, &mut out);
        }
        outputs.flush(&mut out);
        out
    }

    fn bitrate(&self, input: u32) -> Option<u32> {
        self.session.borrow().bitrate(input)
    }
}

export!(Component);
