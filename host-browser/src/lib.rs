//! # smoothcast-browser
//!
//! Smoothcast for JavaScript. wasm-pack builds this crate into the npm package `smoothcast`
//! (see `host-browser/README.md` and `host-browser/build.sh`).
//!
//! - [`session`]: the packaging loop of `smoothcast package` as a push/poll state machine,
//!   plain Rust (unit-tested natively), byte-identical to the native host by construction:
//!   same options, same bitrate measurement, same order of core calls.
//! - [`bindings`]: the wasm-bindgen class `Packager` over a session: `Uint8Array`s in,
//!   plain objects out, `Error`s with a `kind`.
//!
//! The friendly JavaScript API (callbacks, async iterators, `packageFile`) is plain JS in
//! `host-browser/npm/`, layered over `Packager`.

pub mod bindings;
pub mod error;
pub mod measure;
pub mod options;
pub mod session;

pub use error::{Error, ErrorKind};
pub use options::{InputSpec, SessionOptions};
pub use session::{Session, Step};
