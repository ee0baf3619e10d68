//! The Smooth Streaming client manifest.
