//! Outputs made from local streams: MSS presentations (createMSSStream), written to files
//! or pushed to a Smooth publishing point (`ismType=isml`).

pub mod auto_mss;
mod chunk_events;
mod group;
pub mod isml;
pub mod mss;
mod saved;
mod sink;
pub mod stats;
mod writer;

pub use mss::{MssParams, OutputManager, PlaylistType};
