//! Outputs made from local streams. Today: MSS presentations (createMSSStream).

pub mod auto_mss;
mod group;
pub mod mss;
pub mod stats;
mod writer;

pub use mss::{MssParams, OutputManager, PlaylistType};
