//! # smoothcast-core
//!
//! The sans-I/O heart of Smoothcast: it turns container bytes (MP4, fragmented MP4, MPEG-TS,
//! FLV) into Microsoft Smooth Streaming fragments and manifests. It never touches files,
//! sockets or clocks: hosts push bytes and times in and act on the outputs they poll.
//!
//! Where to start: [`package::Session`] packages whole inputs on demand (what
//! `smoothcast package` and the browser package drive);
//! [`Presentation`] is the state machine underneath, fed sample by sample by live hosts.
//!
//! The crate is `#![no_std]` with `alloc`; the `std` feature adds the quick-xml manifest
//! parser and `std::error::Error` impls.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod bytes_util;
pub mod codec;
pub mod crypto;
pub mod demux;
pub mod fragment;
pub mod isml;
pub mod layout;
pub mod manifest;
pub mod measure;
pub mod media;
pub mod package;
pub mod presentation;
pub mod time;

pub use media::{CodecConfig, Language, Sample, TextFormat, TrackInfo, TrackKind};
pub use presentation::{Output, Presentation, PresentationOptions};
