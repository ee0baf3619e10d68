//! `[security]`: who can reach which listener, what the control API demands of its callers,
//! and where API-created work may read and write.
//!
//! The defaults suit a first run on a laptop: every API listener on loopback whatever the
//! media `bind` says, no token needed from loopback, file pulls only from the web root. A
//! server facing a network sets the media binds, a token, and (if the API must be reached
//! from elsewhere) `api_bind`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::Deserialize;

/// Environment variable holding the API token, for the server (when the configuration names
/// none) and for `smoothcast api`.
pub const TOKEN_ENV: &str = "SMOOTHCAST_API_TOKEN";

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Security {
    /// RTMP's address; the top-level `bind` when unset.
    pub rtmp_bind: Option<IpAddr>,
    /// MPEG-TS over TCP and UDP; the top-level `bind` when unset.
    pub mpegts_bind: Option<IpAddr>,
    /// The web server; the top-level `bind` when unset.
    pub web_bind: Option<IpAddr>,
    /// The three API listeners (JSON CLI, ASCII CLI, HTTP API with `/metrics`). Unset:
    /// loopback, whatever `bind` is, so making the media ports public never makes the API
    /// public.
    pub api_bind: Option<IpAddr>,
    /// Per-API-listener overrides of `api_bind` (EMS configures each acceptor's `ip`).
    pub json_cli_bind: Option<IpAddr>,
    pub ascii_cli_bind: Option<IpAddr>,
    pub http_api_bind: Option<IpAddr>,
    /// The API token. Required from every API client that is not on loopback; a request
    /// from elsewhere is refused while no token is set. Also read from `api_token_file` or
    /// the `SMOOTHCAST_API_TOKEN` environment variable.
    pub api_token: Option<String>,
    /// A file whose first line is the token (keeps it out of a configuration file that is
    /// shared or checked in).
    pub api_token_file: Option<PathBuf>,
    /// Ask loopback clients for the token too (a machine shared with other users).
    pub require_token_on_loopback: bool,
    /// The user name HTTP Basic credentials must carry; unset: any user name, the password
    /// is the token (EMS's apiProxy sends basic auth).
    pub api_user: Option<String>,
    /// `Host` names the HTTP API answers besides loopback names and the address the
    /// request arrived on (e.g. `ems.example.com`), so DNS rebinding cannot reach it.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the HTTP API (e.g. `https://dashboard.example.com`);
    /// requests from any other page are refused.
    pub allowed_origins: Vec<String>,
    /// Folders `pullStream uri=file://...` may read from. Unset: the web root only. An
    /// empty list refuses file pulls.
    pub file_pull_roots: Option<Vec<PathBuf>>,
    /// Pull configs at most (each one is a task that reconnects forever with keepAlive).
    pub max_pulls: usize,
    /// MSS configs (createMSSStream and autoMSS streams) at most.
    pub max_mss_configs: usize,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            rtmp_bind: None,
            mpegts_bind: None,
            web_bind: None,
            api_bind: None,
            json_cli_bind: None,
            ascii_cli_bind: None,
            http_api_bind: None,
            api_token: None,
            api_token_file: None,
            require_token_on_loopback: false,
            api_user: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            file_pull_roots: None,
            max_pulls: 64,
            max_mss_configs: 256,
        }
    }
}

/// Written out without the token, so a logged or printed configuration does not leak it.
impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("rtmp_bind", &self.rtmp_bind)
            .field("mpegts_bind", &self.mpegts_bind)
            .field("web_bind", &self.web_bind)
            .field("api_bind", &self.api_bind)
            .field("json_cli_bind", &self.json_cli_bind)
            .field("ascii_cli_bind", &self.ascii_cli_bind)
            .field("http_api_bind", &self.http_api_bind)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("api_token_file", &self.api_token_file)
            .field("require_token_on_loopback", &self.require_token_on_loopback)
            .field("api_user", &self.api_user)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .field("file_pull_roots", &self.file_pull_roots)
            .field("max_pulls", &self.max_pulls)
            .field("max_mss_configs", &self.max_mss_configs)
            .finish()
    }
}

/// Which API listener, for [`Security::api_listener_bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiListener {
    JsonCli,
    AsciiCli,
    HttpApi,
}

impl Security {
    /// Where an API listener binds: its own setting, else `api_bind`, else loopback. The
    /// loopback follows `bind`'s family when `bind` is loopback itself (`::1` stays IPv6).
    pub fn api_listener_bind(&self, which: ApiListener, bind: IpAddr) -> IpAddr {
        let own = match which {
            ApiListener::JsonCli => self.json_cli_bind,
            ApiListener::AsciiCli => self.ascii_cli_bind,
            ApiListener::HttpApi => self.http_api_bind,
        };
        own.or(self.api_bind).unwrap_or(if bind.is_loopback() {
            bind
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })
    }

    /// Settles the token: the configuration's, else the file's first line, else the
    /// environment's. An unreadable token file stops the start (a server meant to be
    /// protected must not come up open). An empty token counts as none.
    pub fn resolve_token(&mut self) -> anyhow::Result<()> {
        if self.api_token.is_none() {
            if let Some(path) = &self.api_token_file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("reading api_token_file {}: {e}", path.display())
                })?;
                self.api_token = text.lines().next().map(|l| l.trim().to_string());
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
                        tracing::warn!(
                            "api_token_file {} is readable by every user of this machine (chmod 600 it)",
                            path.display()
                        );
                    }
                }
            } else if let Ok(t) = std::env::var(TOKEN_ENV) {
                self.api_token = Some(t.trim().to_string());
            }
        }
        if self.api_token.as_deref().is_some_and(str::is_empty) {
            self.api_token = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_stays_on_loopback_unless_told() {
        let public: IpAddr = "0.0.0.0".parse().expect("ip");
        let v6: IpAddr = "::1".parse().expect("ip");
        let s = Security::default();
        for which in [
            ApiListener::JsonCli,
            ApiListener::AsciiCli,
            ApiListener::HttpApi,
        ] {
            assert_eq!(
                s.api_listener_bind(which, public),
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            );
            assert_eq!(s.api_listener_bind(which, v6), v6);
        }
        let s: Security =
            toml::from_str("api_bind = \"10.0.0.5\"\nhttp_api_bind = \"10.0.0.6\"").expect("toml");
        assert_eq!(
            s.api_listener_bind(ApiListener::JsonCli, public)
                .to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            s.api_listener_bind(ApiListener::HttpApi, public)
                .to_string(),
            "10.0.0.6"
        );
    }

    #[test]
    fn token_from_file_and_empty_means_none() {
        let dir = std::env::temp_dir().join(format!("smoothcast-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("token");
        std::fs::write(&file, "s3cret \nignored\n").expect("write");
        let mut s = Security {
            api_token_file: Some(file.clone()),
            ..Security::default()
        };
        s.resolve_token().expect("reads");
        assert_eq!(s.api_token.as_deref(), Some("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"), "redacted in Debug");
        let mut s = Security {
            api_token: Some(String::new()),
            ..Security::default()
        };
        s.resolve_token().expect("ok");
        assert_eq!(s.api_token, None);
        let mut s = Security {
            api_token_file: Some(dir.join("missing")),
            ..Security::default()
        };
        assert!(s.resolve_token().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// autoMSS's targetFolder is checked with links resolved, as createMSSStream's is.
    #[test]
    fn auto_mss_target_through_a_link_is_refused() {
        let base = std::env::temp_dir().join(format!("smoothcast-automss-{}", std::process::id()));
        let root = base.join("www");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(base.join("other")).expect("mkdir");
        std::os::unix::fs::symlink(base.join("other"), root.join("out")).expect("symlink");
        let mut c = crate::config::ServerConfig {
            webroot: root.clone(),
            auto_mss: Some(crate::config::AutoMss::new(
                root.join("live").display().to_string(),
            )),
            ..crate::config::ServerConfig::default()
        };
        assert!(c.check_auto_mss().is_ok());
        c.auto_mss = Some(crate::config::AutoMss::new(
            root.join("out/live").display().to_string(),
        ));
        assert!(c.check_auto_mss().is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
