//! Ways media arrives; each ends in a local stream in the registry.

pub mod file;
pub mod rtmp;
