//! Outputs made from local streams. Today: MSS presentations (createMSSStream).

mod group;
pub mod mss;
pub mod stats;
mod writer;

pub use mss::{MssParams, OutputManager, PlaylistType};
