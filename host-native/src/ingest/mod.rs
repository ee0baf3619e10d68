//! Ways media arrives; each ends in a local stream in the registry.

#[allow(dead_code)] // until the pull sources land (issue 4)
pub mod feed;
pub mod file;
pub mod mpegts;
pub mod rtmp;
pub mod rtsp;
