//! Codec bitstream helpers: just enough H.264 and AAC to build Smooth Streaming headers.

pub mod aac;
pub mod h264;
