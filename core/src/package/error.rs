//! Errors as JavaScript sees them: a stable `kind` to branch on and a readable message.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

use crate::demux::{DemuxError, DemuxErrorKind};
use crate::presentation::{PresentationError, PresentationErrorKind};

/// What went wrong, as a short string JavaScript can switch on (`err.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad packager options (chunk length, names, bitrates).
    Options,
    /// The bytes are not a container Smoothcast reads (a text file, an image...).
    NotMedia,
    /// A recognised container with broken structure.
    Malformed,
    /// The input ended inside a structure (a cut-off download).
    Truncated,
    /// A well-formed input with a codec or feature the core does not package.
    Unsupported,
    /// A one-way stream whose container states no bitrate, and none was given.
    BitrateUnknown,
    /// Inputs that cannot form one presentation (different tracks, unaligned keyframes).
    Mismatch,
    /// Nothing to package.
    Empty,
    /// The packager was called out of order (push after the end, after a failure...).
    Usage,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Options => "options",
            ErrorKind::NotMedia => "not-media",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::BitrateUnknown => "bitrate-unknown",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Empty => "empty",
            ErrorKind::Usage => "usage",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A demuxer error, prefixed with the input's name as the native host prints it.
    pub fn demux(input: &str, e: &DemuxError) -> Self {
        let kind = match e.kind {
            DemuxErrorKind::Malformed => ErrorKind::Malformed,
            DemuxErrorKind::Truncated => ErrorKind::Truncated,
            DemuxErrorKind::Unsupported => ErrorKind::Unsupported,
        };
        Self::new(kind, format!("{input}: {e}"))
    }

    pub fn presentation(input: Option<&str>, e: &PresentationError) -> Self {
        let kind = match e.kind {
            PresentationErrorKind::Usage => ErrorKind::Usage,
            PresentationErrorKind::Mismatch => ErrorKind::Mismatch,
            PresentationErrorKind::Empty => ErrorKind::Empty,
        };
        match input {
            Some(name) => Self::new(kind, format!("{name}: {e}")),
            None => Self::new(kind, e.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
