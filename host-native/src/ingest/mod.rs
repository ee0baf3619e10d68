//! Ways media arrives; each ends in a local stream in the registry.

pub mod feed;
pub mod file;
pub mod mpegts;
pub mod pull;
pub mod rtmp;
pub mod rtsp;
pub mod smooth;
