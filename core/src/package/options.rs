//! Packager options: the same choices as `smoothcast package`, checked the same way.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::crypto::Protection;
use crate::layout::{self, Layout};
use crate::presentation::PresentationOptions;
use crate::time::secs_to_mss;

use super::error::{Error, ErrorKind};

/// One input: a name (a file name; it names the stream folder of a single input) and the
/// bitrate to announce, measured when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    pub bitrate: Option<u32>,
    /// Whether the host can honour seek requests for this input; `None`: the session's
    /// [`SessionOptions::seekable`]. A WASI host decides input by input (a file, a stream).
    pub seekable: Option<bool>,
}

impl InputSpec {
    /// The checks `smoothcast package` makes on one input argument.
    pub fn check(&self) -> Result<(), Error> {
        if self.bitrate == Some(0) {
            return Err(Error::new(
                ErrorKind::Options,
                format!("{}: bitrate must be above 0", self.name),
            ));
        }
        Ok(())
    }
}

/// The checks on the input list, whoever chose the presentation options.
pub(super) fn check_inputs(inputs: &[InputSpec]) -> Result<(), Error> {
    if inputs.is_empty() {
        return Err(Error::new(ErrorKind::Options, "no inputs"));
    }
    inputs.iter().try_for_each(InputSpec::check)
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionOptions {
    pub inputs: Vec<InputSpec>,
    /// Target fragment duration in seconds (`--chunk-length`).
    pub chunk_length: f64,
    /// `--manifest-name`.
    pub manifest_name: String,
    /// Overrides the stream folder name of a single input (default: the input's file stem).
    pub stream_name: Option<String>,
    /// Whether the host can honour seek requests (a `File`/`Blob`: yes; a fetch body: no).
    pub seekable: bool,
    /// PlayReady protection (`--key`, `--playready-la-url`); `None`: clear.
    pub protection: Option<Protection>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            inputs: Vec::new(),
            chunk_length: 2.0,
            manifest_name: String::from("manifest.ismc"),
            stream_name: None,
            seekable: false,
            protection: None,
        }
    }
}

impl SessionOptions {
    /// The core's options, after the checks `smoothcast package` makes.
    pub fn presentation_options(&self) -> Result<PresentationOptions, Error> {
        let opt = |m: String| Error::new(ErrorKind::Options, m);
        layout::validate_component("manifest name", &self.manifest_name).map_err(opt)?;
        if !(self.chunk_length.is_finite() && (0.1..=3600.0).contains(&self.chunk_length)) {
            return Err(opt(
                "chunkLength must be between 0.1 and 3600 seconds".into()
            ));
        }
        check_inputs(&self.inputs)?;
        let layout = match (&self.inputs[..], &self.stream_name) {
            ([_], Some(stream)) => {
                layout::validate_component("stream name", stream).map_err(opt)?;
                Layout::Single {
                    stream: stream.clone(),
                }
            }
            ([one], None) => Layout::Single {
                stream: stream_name(&one.name).map_err(opt)?,
            },
            _ => Layout::Multi,
        };
        let mut options = PresentationOptions::vod(layout);
        options.manifest_name = self.manifest_name.clone();
        // Exactly the native host's conversion, so fragment boundaries match to the tick.
        // +0.5 then truncate: round half up without std's float rounding (no_std).
        options.chunk_length = secs_to_mss((self.chunk_length * 1000.0 + 0.5) as u64, 1000);
        if let Some(p) = &self.protection {
            p.check().map_err(opt)?;
            options.protection = Some(p.clone());
        }
        Ok(options)
    }
}

/// The stream name of a single input: its file stem, cleaned as the native host cleans it
/// (EMS names the stream folder after the stream).
pub fn stream_name(name: &str) -> Result<String, String> {
    // The file stem, on either separator: the name may be a path from any platform.
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match file.rfind('.') {
        Some(dot) if dot > 0 => &file[..dot],
        _ => file,
    };
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('.').to_string();
    layout::validate_component("stream name", &cleaned)?;
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn stream_names_follow_the_native_host() {
        assert_eq!(stream_name("clip.mp4").as_deref(), Ok("clip"));
        assert_eq!(
            stream_name("dir/my clip.v2.ts").as_deref(),
            Ok("my_clip.v2")
        );
        assert!(stream_name("").is_err());
    }

    #[test]
    fn rejects_bad_options() {
        let input = InputSpec {
            name: "a.mp4".into(),
            ..InputSpec::default()
        };
        let base = SessionOptions {
            inputs: vec![input.clone()],
            ..SessionOptions::default()
        };
        assert!(base.presentation_options().is_ok());
        for bad in [
            SessionOptions {
                chunk_length: 0.0,
                ..base.clone()
            },
            SessionOptions {
                manifest_name: "../x".into(),
                ..base.clone()
            },
            SessionOptions {
                inputs: vec![],
                ..base.clone()
            },
            SessionOptions {
                inputs: vec![InputSpec {
                    bitrate: Some(0),
                    ..input
                }],
                ..base.clone()
            },
        ] {
            let e = bad.presentation_options().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Options, "{e}");
        }
    }
}
