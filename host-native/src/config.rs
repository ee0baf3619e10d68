//! The server's configuration: EMS's default ports, all on loopback unless told otherwise.
//! Read from a TOML file (`smoothcast serve --config FILE`); every key is optional. An EMS
//! `config.lua` is read too (by its extension), alone or over a TOML file: its `autoMSS`
//! block and acceptor ports apply.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

mod auto_mss;
pub mod ems;
pub mod lua;

pub use auto_mss::AutoMss;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct ServerConfig {
    /// Address every listener binds to. Loopback by default: exposing the API is a choice.
    pub bind: IpAddr,
    /// RTMP publish (EMS inboundRtmp).
    pub rtmp_port: u16,
    /// MPEG-TS over TCP and UDP, both on this port (EMS inboundTcpTs / inboundUdpTs).
    pub mpegts_port: u16,
    /// The local stream name of every inbound TS source (EMS acceptor `localStreamName`);
    /// one source at a time then. Unset: `ts_<n>_<audio PID>_<video PID>` per source.
    pub mpegts_stream_name: Option<String>,
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
    /// autoMSS: a rolling MSS presentation for every new inbound stream (off without it).
    pub auto_mss: Option<AutoMss>,
    /// Event sinks (`[events]`): a JSON-lines file and/or an HTTP endpoint.
    pub events: crate::events::EventsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtmp_port: 1935,
            mpegts_port: 9999,
            mpegts_stream_name: None,
            json_cli_port: 1112,
            ascii_cli_port: 1222,
            http_api_port: 7777,
            web_port: 8888,
            webroot: PathBuf::from("evo-webroot"),
            allowed_output_roots: Vec::new(),
            default_manifest: None,
            state_file: None,
            player_assets: PathBuf::from("tests/player/node_modules/dashjs/dist/modern/umd"),
            auto_mss: None,
            events: crate::events::EventsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Reads one file: an EMS config.lua (by extension) over the defaults, or our TOML.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_all(std::slice::from_ref(&path.to_path_buf()))
    }

    /// Reads configuration files in order: a TOML file first (if any), then EMS config.lua
    /// files applied over it. Warnings (EMS settings we ignore) go to the log.
    pub fn load_all(paths: &[PathBuf]) -> Result<Self> {
        let mut config = Self::default();
        for (i, path) in paths.iter().enumerate() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            if is_lua(path) {
                let warnings = lua::evaluate(&text)
                    .and_then(|globals| ems::apply(&globals, &mut config))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                for w in warnings {
                    tracing::warn!("{}: {w}", path.display());
                }
                if let Some(auto) = &mut config.auto_mss {
                    if let Some(at) = auto.origin.take() {
                        auto.origin = Some(format!("{}: {at}", path.display()));
                    }
                }
            } else if i == 0 {
                config = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
            } else {
                anyhow::bail!(
                    "{}: a TOML configuration must come first (config.lua files apply over it)",
                    path.display()
                );
            }
        }
        Ok(config)
    }
}

impl ServerConfig {
    /// autoMSS's targetFolder must be one this server may write to, as createMSSStream's
    /// must: found now, not when the first stream arrives.
    pub fn check_auto_mss(&self) -> Result<()> {
        let Some(auto) = &self.auto_mss else {
            return Ok(());
        };
        let normalize = crate::outputs::mss::normalize;
        let target = normalize(Path::new(&auto.target_folder));
        let mut roots = vec![normalize(&self.webroot)];
        roots.extend(self.allowed_output_roots.iter().map(|r| normalize(r)));
        if roots.iter().any(|r| target.starts_with(r)) {
            return Ok(());
        }
        let at = auto
            .origin
            .as_deref()
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        anyhow::bail!(
            "{at}autoMSS targetFolder {} resolves to {}, outside the web root and allowed_output_roots ({})",
            auto.target_folder,
            target.display(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn is_lua(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("lua"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lua_applies_over_a_toml_file() {
        let dir = std::env::temp_dir().join(format!("smoothcast-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let toml = dir.join("base.toml");
        let lua = dir.join("config.lua");
        std::fs::write(
            &toml,
            "rtmp_port = 0\nweb_port = 0\nwebroot = \"/srv/www\"\n",
        )
        .expect("write");
        std::fs::write(
            &lua,
            "configuration = { applications = { { acceptors = { { protocol = 'inboundJsonCli', port = 1113 } },\n autoMSS = { targetFolder = '\\\\srv\\\\www' } } } }",
        )
        .expect("write");
        let c = ServerConfig::load_all(&[toml.clone(), lua.clone()]).expect("loads");
        assert_eq!((c.rtmp_port, c.web_port, c.json_cli_port), (0, 0, 1113));
        let auto = c.auto_mss.as_ref().expect("autoMSS on");
        assert_eq!(auto.target_folder, "/srv/www");
        assert_eq!(
            auto.origin.as_deref(),
            Some(format!("{}: line 2, column 29", lua.display()).as_str())
        );
        assert!(c.check_auto_mss().is_ok());

        let lua_only = ServerConfig::load(&lua).expect("config.lua alone");
        assert_eq!(lua_only.rtmp_port, 1935, "EMS's defaults otherwise");
        assert!(
            lua_only.check_auto_mss().is_err(),
            "/srv/www is not the web root"
        );

        let e = ServerConfig::load_all(&[lua, toml]).expect_err("TOML after config.lua");
        assert!(e.to_string().contains("must come first"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
