//! The settings of one pull config, under EMS's names: what pullStream takes, what
//! listConfig shows, and what config persistence saves and restores.

use serde::{Deserialize, Serialize};

/// pullStream's parameters. `local_stream_name` is always filled (derived from the URI when
/// pullStream had none), so a restored config pulls into the same stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PullParams {
    pub uri: String,
    pub local_stream_name: String,
    /// Reconnect after a failure or the end of the source (EMS default 1).
    pub keep_alive: bool,
    /// RTSP: interleaved RTP over the RTSP connection instead of UDP.
    pub force_tcp: bool,
    /// RTMP connect's tcUrl; empty means `rtmp://host:port/app`.
    pub tc_url: String,
    pub page_url: String,
    pub swf_url: String,
    /// RTMP play's start: -2 live or recorded, -1 live only, >= 0 seconds into a recording.
    pub range_start: i64,
    /// RTMP play's duration: -1 to the end.
    pub range_end: i64,
    /// file://: start over at the end instead of ending the stream (ours, not EMS's).
    #[serde(rename = "loop")]
    pub looped: bool,
}

impl Default for PullParams {
    fn default() -> Self {
        Self {
            uri: String::new(),
            local_stream_name: String::new(),
            keep_alive: true,
            force_tcp: false,
            tc_url: String::new(),
            page_url: String::new(),
            swf_url: String::new(),
            range_start: -2,
            range_end: -1,
            looped: false,
        }
    }
}

impl PullParams {
    #[cfg(test)]
    pub fn new(uri: &str, local_stream_name: &str) -> Self {
        Self {
            uri: uri.to_string(),
            local_stream_name: local_stream_name.to_string(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ems_names_and_defaults() {
        let p = PullParams::new("file:///a.mp4", "a");
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["localStreamName"], "a");
        assert_eq!(v["keepAlive"], true);
        assert_eq!(v["rangeStart"], -2);
        assert_eq!(v["loop"], false);
        // A saved config from an older build lacks fields: they take their defaults.
        let back: PullParams =
            serde_json::from_str(r#"{"uri":"rtmp://h/a/b","localStreamName":"b"}"#).expect("de");
        assert_eq!(back, PullParams::new("rtmp://h/a/b", "b"));
    }
}
