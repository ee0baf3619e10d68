//! The server's configuration: EMS's default ports, all on loopback unless told otherwise.
//! Read from a TOML file (`smoothcast serve --config FILE`); every key is optional.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct ServerConfig {
    /// Address every listener binds to. Loopback by default: exposing the API is a choice.
    pub bind: IpAddr,
    /// RTMP publish (EMS inboundRtmp).
    pub rtmp_port: u16,
    /// JSON CLI (EMS inboundJsonCli).
    pub json_cli_port: u16,
    /// ASCII CLI (EMS inboundAsciiCli).
    pub ascii_cli_port: u16,
    /// HTTP JSON API (EMS inboundHttpJsonCli).
    pub http_api_port: u16,
    /// Web server for the web root (EMS EWS).
    pub web_port: u16,
    /// Folder the web server serves; relative targetFolder values resolve against the
    /// server's working directory, as EMS's do.
    pub webroot: PathBuf,
    /// Folders besides the web root that createMSSStream may write into (targetFolder must
    /// resolve inside one of them).
    pub allowed_output_roots: Vec<PathBuf>,
    /// The manifest the built-in player at `/` plays when the URL names none.
    pub default_manifest: Option<String>,
    /// Where API-created configs (keepAlive ones, as EMS keeps them) are kept across
    /// restarts. Default: beside `--config` (`NAME.toml` keeps `NAME.state.json`), or
    /// `smoothcast.state.json` in the working directory. An unreadable file stops the start.
    pub state_file: Option<PathBuf>,
    /// Folder holding dash.js's `dash.all.min.js` and `dash.mss.min.js`, served under
    /// `/_smoothcast/` for the built-in player page. Relative to the working directory; the
    /// default is where the repository's test harness installs dash.js.
    pub player_assets: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtmp_port: 1935,
            json_cli_port: 1112,
            ascii_cli_port: 1222,
            http_api_port: 7777,
            web_port: 8888,
            webroot: PathBuf::from("evo-webroot"),
            allowed_output_roots: Vec::new(),
            default_manifest: None,
            state_file: None,
            player_assets: PathBuf::from("tests/player/node_modules/dashjs/dist/modern/umd"),
        }
    }
}

impl ServerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}", path.display()))
    }
}
