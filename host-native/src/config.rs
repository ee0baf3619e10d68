//! The server's configuration: EMS's default ports, all on loopback unless told otherwise.
//! Read from a TOML file (`smoothcast serve --config FILE`); every key is optional. An EMS
//! `config.lua` is read too (by its extension), alone or over a TOML file: its `autoMSS`
//! block and acceptor ports apply.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub mod auth;
mod auto_mss;
pub mod drm;
pub mod ems;
mod jit;
mod limits;
pub mod lua;
pub mod object_store;
pub mod security;
pub mod smooth_ingest;
pub mod tls;
mod web;

pub use auth::AuthConfig;
pub use auto_mss::AutoMss;
pub use jit::JitConfig;
pub use limits::Limits;
pub use security::Security;
pub use web::WebConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct ServerConfig {
    /// Address the media listeners (RTMP, MPEG-TS, web) bind to unless `[security]` gives
    /// one their own. Loopback by default. The API listeners stay on loopback whatever this
    /// is (`[security] api_bind` moves them).
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
    /// A folder whose `dash.all.min.js` and `dash.mss.min.js` replace the copies of dash.js
    /// built into the binary (served under `/_smoothcast/` for the built-in player page).
    /// Relative to the working directory. Unset: the built-in ones.
    pub player_assets: Option<PathBuf>,
    /// autoMSS: a rolling MSS presentation for every new inbound stream (off without it).
    pub auto_mss: Option<AutoMss>,
    /// Event sinks (`[events]`): a JSON-lines file and/or an HTTP endpoint.
    pub events: crate::events::EventsConfig,
    /// Bounds against hostile or broken peers (`[limits]`; see `config/limits.rs`).
    pub limits: Limits,
    /// Who may publish and play (`[auth]`); open by default.
    pub auth: AuthConfig,
    /// `[security]`: per-listener binds, the API token and cross-site rules, file-pull roots
    /// and config caps.
    pub security: Security,
    /// TLS (`[tls]`): HTTPS for the web server and the HTTP API, RTMPS; off without it.
    pub tls: Option<tls::TlsConfig>,
    /// The web server's limits and cache (`[web]`).
    pub web: WebConfig,
    /// Smoothcast as a Smooth Streaming publishing point (`[smooth_ingest]`).
    pub smooth_ingest: smooth_ingest::SmoothIngestConfig,
    /// Just-in-time VOD of MP4 files under the web root (`[jit]`).
    pub jit: JitConfig,
    /// `[object_store]`: endpoint and credentials for `s3://` folders (over `AWS_*`).
    pub object_store: object_store::ObjectStoreConfig,
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
            player_assets: None,
            auto_mss: None,
            events: crate::events::EventsConfig::default(),
            limits: Limits::default(),
            auth: AuthConfig::default(),
            security: Security::default(),
            tls: None,
            web: WebConfig::default(),
            smooth_ingest: Default::default(),
            jit: JitConfig::default(),
            object_store: Default::default(),
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
    /// EMS serves its web root from `../evo-webroot` (beside its `bin/` folder) and an EMS
    /// config.lua's autoMSS `targetFolder` is usually that web root, written relative. So
    /// with the web root left at its default (`evo-webroot`), a relative autoMSS
    /// targetFolder naming another `evo-webroot` (EMS's `../evo-webroot`) becomes the web
    /// root: the operator's config.lua starts, and `/autoMSS/<stream>/<stream>.ismc` is
    /// served. Any other folder still has to be inside the web root or allowed_output_roots.
    /// Returns what was changed, for the log. `webroot_given`: set on the command line.
    pub fn settle_web_root(&mut self, webroot_given: bool) -> Option<String> {
        let auto = self.auto_mss.as_ref()?;
        let default = Self::default().webroot;
        if webroot_given || self.webroot != default {
            return None;
        }
        let folder = Path::new(&auto.target_folder);
        if folder.is_absolute() || folder.file_name() != default.file_name() {
            return None;
        }
        let normalize = crate::paths::normalize;
        let target = normalize(folder);
        let inside = std::iter::once(&self.webroot)
            .chain(&self.allowed_output_roots)
            .any(|r| target.starts_with(normalize(r)));
        if inside {
            return None;
        }
        self.webroot = PathBuf::from(&auto.target_folder);
        Some(format!(
            "web root: {} (autoMSS targetFolder {}, as EMS serves it; set webroot to choose another)",
            target.display(),
            auto.target_folder
        ))
    }

    /// autoMSS's targetFolder must be one this server may write to, as createMSSStream's
    /// must: found now, not when the first stream arrives.
    pub fn check_auto_mss(&self) -> Result<()> {
        let Some(auto) = &self.auto_mss else {
            return Ok(());
        };
        // A store location (`s3://...`) is checked by the store (its credentials).
        if crate::store::is_store_location(&auto.target_folder) {
            return crate::store::Location::parse(&auto.target_folder).map(|_| ());
        }
        // Links resolved, as createMSSStream's targetFolder is checked; a dangling link
        // resolves nowhere and is refused.
        use crate::paths::{normalize, real_path, resolve_links};
        let given = Path::new(&auto.target_folder);
        let resolved = resolve_links(given);
        let mut roots = vec![real_path(&self.webroot)];
        roots.extend(self.allowed_output_roots.iter().map(|r| real_path(r)));
        if let Some(real) = &resolved {
            if roots.iter().any(|r| real.starts_with(r)) {
                return Ok(());
            }
        }
        let target = resolved.unwrap_or_else(|| normalize(given));
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

        // EMS's usual `../evo-webroot` with the default web root: it becomes the web root.
        let ems = dir.join("ems.lua");
        std::fs::write(
            &ems,
            "configuration = { applications = { { autoMSS = { targetFolder = '..\\\\evo-webroot' } } } }",
        )
        .expect("write");
        let mut c = ServerConfig::load(&ems).expect("loads");
        assert!(c.check_auto_mss().is_err(), "outside ./evo-webroot as such");
        let note = c.settle_web_root(false).expect("settled");
        assert!(note.contains("evo-webroot"), "{note}");
        assert_eq!(c.webroot, Path::new("../evo-webroot"));
        assert!(c.check_auto_mss().is_ok());
        // Not when the web root was chosen, nor for other folders.
        let mut c = ServerConfig::load(&ems).expect("loads");
        assert!(c.settle_web_root(true).is_none());
        let mut other = ServerConfig::load(&lua).expect("loads");
        assert!(
            other.settle_web_root(false).is_none(),
            "/srv/www stays refused"
        );
        assert!(other.check_auto_mss().is_err());

        let e = ServerConfig::load_all(&[lua, toml]).expect_err("TOML after config.lua");
        assert!(e.to_string().contains("must come first"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
