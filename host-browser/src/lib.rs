//! # smoothcast-browser
//!
//! Smoothcast for JavaScript. wasm-pack builds this crate into the npm package `smoothcast`
//! (see `host-browser/README.md` and `host-browser/build.sh`).
//!
//! - The packaging loop is the core's [`smoothcast_core::package::Session`], the same one
//!   `smoothcast package` drives, so the output is byte-identical by construction.
//! - [`bindings`]: the wasm-bindgen class `Packager` over a session: `Uint8Array`s in,
//!   plain objects out, `Error`s with a `kind`.
//! - `input`: buffers in wasm memory that Node reads files into directly.
//!
//! The friendly JavaScript API (callbacks, async iterators, `packageFile`) is plain JS in
//! `host-browser/npm/`, layered over `Packager`.

pub mod bindings;
mod input;

pub use smoothcast_core::package::{Error, ErrorKind, InputSpec, Session, SessionOptions, Step};
