//! Outputs made from local streams: MSS presentations (createMSSStream), written to files
//! or pushed to a Smooth publishing point (`ismType=isml`).

pub mod auto_mss;
mod chunk_events;
mod destination;
mod feeds;
mod group;
pub mod isml;
pub mod mss;
pub mod reaper;
mod saved;
mod serial;
mod sink;
pub mod stats;
mod writer;

pub use destination::{node_id, DELETE_GRACE, LEASE};
pub use writer::writer_waits;

pub use mss::{MssParams, OutputManager, PlaylistType};
