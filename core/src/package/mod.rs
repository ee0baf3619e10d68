//! On-demand packaging as a session: the loop behind `smoothcast package`, turned inside out
//! so that every host (the native binary, the browser, the WASI packager and origin) drives
//! the same code and writes the same bytes.
//!
//! The host pushes the bytes of one input at a time, calls [`Session::end`] at the end of
//! each, and drains [`Session::poll`]. A [`Step::Seek`] means "continue this input from that
//! offset" (an MP4 with its `moov` at the end, or a second pass to measure a bitrate); only a
//! seekable input asks for one.

mod error;
pub mod index;
mod options;
mod session;

pub use error::{Error, ErrorKind};
pub use index::{FileIndex, IndexBuilder, IndexedFragment, Want};
pub use options::{stream_name, InputSpec, SessionOptions};
pub use session::{PayloadRange, Session, Step};

#[cfg(test)]
mod index_tests;
