//! Outputs made from local streams. Today: MSS presentations (createMSSStream).

pub mod mss;

pub use mss::{MssParams, OutputManager, PlaylistType};
