//! The Smooth Streaming client manifest (`SmoothStreamingMedia`, [MS-SSTR] 2.2.2).
//!
//! [`model`] is the data, [`write`](mod@write) renders it with `core::fmt` (no_std), and `parse`
//! (feature `std`, quick-xml) reads it back so tests compare structure, not strings.

pub mod model;
#[cfg(feature = "std")]
pub mod parse;
pub mod write;

pub use model::{Chunk, Manifest, ProtectionHeader, QualityLevel, StreamIndex};
#[cfg(feature = "std")]
pub use parse::parse;
pub use write::write;
