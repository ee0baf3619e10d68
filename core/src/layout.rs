//! Where files go: the EMS disk layout, as pure functions, so that every host (native disk,
//! WASI, browser, tests) names fragments and manifests the same way.
//!
//! All paths are relative to the group folder (`targetFolder/groupName`) and use `/`.
//! File and URL times are the manifest's `c@t` in 10 MHz ticks: a static web server resolves
//! the `Url` template only if the file name is exactly the substituted `c@t`.

use alloc::format;
use alloc::string::String;

/// The start-time token in `Url` templates. IIS spells it `{start time}`; EMS writes
/// `{start_time}`. dash.js, ExoPlayer and Shaka accept both; IIS's spelling is the spec's.
pub const START_TIME_TOKEN: &str = "{start time}";
pub const BITRATE_TOKEN: &str = "{bitrate}";
pub const FRAGMENT_EXTENSION: &str = "fmp4";

/// The three EMS layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One input stream: `<stream>/<type>/<bitrate>/<t>.fmp4`, manifest at the group root.
    Single { stream: String },
    /// Several inputs, one adaptive presentation: `<bitrate>/<type>/<t>.fmp4`.
    Multi,
    /// autoMSS: everything under `<stream>/`, manifest `<stream>/<stream>.ismc`.
    Auto { stream: String },
}

impl Layout {
    /// The folder (relative to the group) that holds the manifest, `""` or `"<stream>/"`.
    fn manifest_dir(&self) -> String {
        match self {
            Layout::Single { .. } | Layout::Multi => String::new(),
            Layout::Auto { stream } => format!("{stream}/"),
        }
    }

    /// The manifest's path relative to the group folder.
    pub fn manifest_path(&self, manifest_name: &str) -> String {
        match self {
            Layout::Auto { stream } => format!("{stream}/{stream}.ismc"),
            _ => format!("{}{manifest_name}", self.manifest_dir()),
        }
    }

    /// The `Url` template of a stream (a `StreamIndex@Name`: `video`, `audio`, `audio_fra`,
    /// `textstream_eng`), relative to the manifest.
    pub fn url_template(&self, stream: &str) -> String {
        let k = stream;
        match self {
            Layout::Single { stream } => {
                format!("{stream}/{k}/{BITRATE_TOKEN}/{START_TIME_TOKEN}.{FRAGMENT_EXTENSION}")
            }
            Layout::Multi => format!("{BITRATE_TOKEN}/{k}/{START_TIME_TOKEN}.{FRAGMENT_EXTENSION}"),
            Layout::Auto { .. } => {
                format!("{k}/{BITRATE_TOKEN}/{START_TIME_TOKEN}.{FRAGMENT_EXTENSION}")
            }
        }
    }

    /// A fragment's path relative to the group folder: the manifest's folder joined with the
    /// `Url` template filled in.
    pub fn fragment_path(&self, stream: &str, bitrate: u32, t: u64) -> String {
        let url = self.url_template(stream);
        let filled = url
            .replace(BITRATE_TOKEN, &format!("{bitrate}"))
            .replace(START_TIME_TOKEN, &format!("{t}"));
        format!("{}{filled}", self.manifest_dir())
    }
}

impl Layout {
    /// The folder (relative to the group, ending in `/`) holding one track's fragments of
    /// one bitrate: every fragment path is this folder then `<t>.fmp4`.
    pub fn fragment_folder(&self, stream: &str, bitrate: u32) -> String {
        let path = self.fragment_path(stream, bitrate, 0);
        match path.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => String::new(),
        }
    }

    /// The start time a fragment file name in [`Layout::fragment_folder`] stands for.
    pub fn fragment_time(file_name: &str) -> Option<u64> {
        let digits = file_name
            .strip_suffix(FRAGMENT_EXTENSION)?
            .strip_suffix('.')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

/// Checks a name that becomes one path component (a stream, group or manifest name): not
/// empty, no separators, no `.`/`..`, no control characters, not absurdly long.
pub fn validate_component(what: &str, name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 200
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == ':' || c.is_control());
    if bad {
        Err(format!(
            "invalid {what} \"{}\": use letters, digits, '-', '_' or '.' without path separators",
            name.escape_debug()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ems_layouts() {
        let single = Layout::Single {
            stream: "cam1".into(),
        };
        assert_eq!(single.manifest_path("manifest.ismc"), "manifest.ismc");
        assert_eq!(
            single.fragment_path("video", 2_000_000, 20_000_000),
            "cam1/video/2000000/20000000.fmp4"
        );
        assert_eq!(
            single.url_template("audio"),
            "cam1/audio/{bitrate}/{start time}.fmp4"
        );
        assert_eq!(
            Layout::Multi.fragment_path("audio", 600_000, 0),
            "600000/audio/0.fmp4"
        );
        let auto = Layout::Auto {
            stream: "cam1".into(),
        };
        assert_eq!(auto.manifest_path("ignored"), "cam1/cam1.ismc");
        assert_eq!(auto.fragment_path("video", 1, 2), "cam1/video/1/2.fmp4");
    }

    #[test]
    fn fragment_folders_and_names() {
        let single = Layout::Single {
            stream: "cam1".into(),
        };
        assert_eq!(
            single.fragment_folder("video", 2_000_000),
            "cam1/video/2000000/"
        );
        assert_eq!(
            Layout::Multi.fragment_folder("audio", 600_000),
            "600000/audio/"
        );
        assert_eq!(Layout::fragment_time("20000000.fmp4"), Some(20_000_000));
        for bad in [
            ".fmp4",
            "x.fmp4",
            "1.fmp4.tmp",
            ".1.fmp4.7.tmp",
            "-1.fmp4",
            "1fmp4",
        ] {
            assert_eq!(Layout::fragment_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_path_tricks() {
        for bad in ["", ".", "..", "a/b", "..\\x", "a\nb", "c:x"] {
            assert!(validate_component("stream name", bad).is_err(), "{bad:?}");
        }
        assert!(validate_component("stream name", "cam_1-low.v2").is_ok());
    }
}
