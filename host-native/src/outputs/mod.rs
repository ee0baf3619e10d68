//! Outputs made from local streams. Today: MSS presentations (createMSSStream).

pub mod auto_mss;
mod chunk_events;
mod destination;
mod group;
pub mod mss;
mod saved;
pub mod stats;
mod writer;

pub use destination::{node_id, DELETE_GRACE, LEASE};
pub use writer::writer_waits;

pub use mss::{MssParams, OutputManager, PlaylistType};
