//! Outputs made from local streams. Today: MSS presentations (createMSSStream).

pub mod auto_mss;
mod chunk_events;
mod group;
pub mod mss;
mod saved;
pub mod stats;
mod writer;

pub use mss::{MssParams, OutputManager, PlaylistType};
