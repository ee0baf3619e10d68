//! Codec bitstream helpers: just enough H.264 and AAC to build Smooth Streaming headers, and
//! the TTML that text fragments carry.

pub mod aac;
pub mod h264;
pub mod ttml;
