//! The autoMSS settings: EMS's `autoMSS = { ... }` block of config.lua, or `[auto_mss]` in our
//! TOML. Their presence turns autoMSS on: every new inbound stream gets a rolling MSS
//! presentation. Keys, defaults and ranges are EMS's (shared/reference/ems-api.md section 5).

use serde::{Deserialize, Deserializer};

pub const CHUNK_LENGTH: (u32, u32) = (1, 3600);
pub const PLAYLIST_LENGTH: (u32, u32) = (5, 999_999);
pub const STALE_RETENTION_COUNT: (u32, u32) = (0, 999_999);
pub const DEFAULT_GROUP_NAME: &str = "autoMSS";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoMss {
    /// Folder the group folder goes into; relative paths resolve against the working
    /// directory, as createMSSStream's do.
    pub target_folder: String,
    /// EMS's autoMSS default is false (unlike createMSSStream's).
    #[serde(default)]
    pub chunk_on_idr: bool,
    /// Seconds.
    #[serde(default = "default_ten", deserialize_with = "chunk_length")]
    pub chunk_length: u32,
    #[serde(default = "default_ten", deserialize_with = "playlist_length")]
    pub playlist_length: u32,
    /// Defaults to playlistLength.
    #[serde(default, deserialize_with = "stale_retention_count")]
    pub stale_retention_count: Option<u32>,
    #[serde(default = "default_group_name", deserialize_with = "group_name")]
    pub group_name: String,
    /// Where targetFolder was set (`config.lua: line 12, column 20`), for messages.
    #[serde(skip)]
    pub origin: Option<String>,
    /// PlayReady protection of every autoMSS presentation (`[auto_mss.drm]`), checked here.
    #[serde(default, deserialize_with = "drm")]
    pub drm: super::drm::DrmParams,
}

impl AutoMss {
    /// The settings with EMS's defaults for everything but the folder.
    pub fn new(target_folder: String) -> Self {
        Self {
            target_folder,
            chunk_on_idr: false,
            chunk_length: default_ten(),
            playlist_length: default_ten(),
            stale_retention_count: None,
            group_name: default_group_name(),
            origin: None,
            drm: Default::default(),
        }
    }

    pub fn stale_retention_count(&self) -> u32 {
        self.stale_retention_count.unwrap_or(self.playlist_length)
    }
}

/// Checks a value against an EMS range; the message names the key.
pub fn check_range(key: &str, value: f64, (lo, hi): (u32, u32)) -> Result<u32, String> {
    if value.fract() != 0.0 || value < f64::from(lo) || value > f64::from(hi) {
        Err(format!(
            "{key} must be a whole number from {lo} to {hi}, not {value}"
        ))
    } else {
        Ok(value as u32)
    }
}

pub fn check_group_name(key: &str, name: &str) -> Result<(), String> {
    smoothcast_core::layout::validate_component(key, name)
}

fn default_ten() -> u32 {
    10
}

fn default_group_name() -> String {
    DEFAULT_GROUP_NAME.into()
}

fn ranged<'de, D: Deserializer<'de>>(d: D, key: &str, range: (u32, u32)) -> Result<u32, D::Error> {
    let v = f64::deserialize(d)?;
    check_range(key, v, range).map_err(serde::de::Error::custom)
}

fn chunk_length<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    ranged(d, "chunk_length", CHUNK_LENGTH)
}

fn playlist_length<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    ranged(d, "playlist_length", PLAYLIST_LENGTH)
}

fn stale_retention_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ranged(d, "stale_retention_count", STALE_RETENTION_COUNT).map(Some)
}

fn drm<'de, D: Deserializer<'de>>(d: D) -> Result<super::drm::DrmParams, D::Error> {
    let drm = super::drm::DrmParams::deserialize(d)?;
    drm.protection().map_err(serde::de::Error::custom)?;
    Ok(drm)
}

fn group_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_group_name("group_name", &name).map_err(serde::de::Error::custom)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn toml_auto_mss_table() {
        let c: ServerConfig = toml::from_str(
            "web_port = 0\n[auto_mss]\ntarget_folder = \"www\"\nchunk_length = 2\nchunk_on_idr = true\n",
        )
        .expect("parses");
        let a = c.auto_mss.expect("autoMSS on");
        assert_eq!(a.target_folder, "www");
        assert_eq!(a.chunk_length, 2);
        assert!(a.chunk_on_idr);
        assert_eq!(a.playlist_length, 10);
        assert_eq!(a.stale_retention_count(), 10);
        assert_eq!(a.group_name, "autoMSS");

        let none: ServerConfig = toml::from_str("web_port = 0\n").expect("parses");
        assert!(none.auto_mss.is_none(), "autoMSS is off without the table");
    }

    #[test]
    fn toml_auto_mss_errors_name_the_key_and_line() {
        for (text, key, line) in [
            ("[auto_mss]\nchunk_length = 2\n", "target_folder", 1),
            (
                "[auto_mss]\ntarget_folder = \"w\"\nchunk_length = 0\n",
                "chunk_length",
                3,
            ),
            (
                "[auto_mss]\ntarget_folder = \"w\"\nplaylist_length = 4\n",
                "playlist_length",
                3,
            ),
            (
                "[auto_mss]\ntarget_folder = \"w\"\ngroup_name = \"a/b\"\n",
                "group_name",
                3,
            ),
            (
                "[auto_mss]\ntarget_folder = \"w\"\nchunk_on_idr = 1\n",
                "bool",
                3,
            ),
            (
                "[auto_mss]\ntarget_folder = \"w\"\nchunklength = 2\n",
                "chunklength",
                3,
            ),
        ] {
            let e = toml::from_str::<ServerConfig>(text)
                .expect_err(text)
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(&format!("line {line}")), "{text}: {e}");
        }
    }
}
