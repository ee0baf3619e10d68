//! The TLS listeners `[tls]` asks for (HTTPS, the HTTPS API, RTMPS): bound at start with
//! the plain ones, announced on the `listening` line, run beside them, and the SIGHUP reload
//! of the certificate they share.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{SighupReload, Tls};
use crate::config::security::ApiListener;
use crate::config::ServerConfig;
use crate::server::{AppState, Shutdown};
use crate::{api, ingest, web};

/// The TLS listeners `[tls]` asks for; each is off (`None`) unless named (see config/tls.rs).
pub struct Listeners {
    pub tls: Arc<Tls>,
    pub https: Option<TcpListener>,
    pub https_api: Option<TcpListener>,
    pub rtmps: Option<TcpListener>,
    reload: SighupReload,
}

impl Listeners {
    /// Reads the certificate (an unusable one stops the start) and binds the TLS ports.
    pub async fn bind(config: &ServerConfig) -> Result<Option<Self>> {
        let Some(tc) = &config.tls else {
            return Ok(None);
        };
        let tls = Arc::new(Tls::load(tc).context("[tls]")?);
        let ports = tc.ports();
        // Each TLS listener binds where its plain twin does: the HTTPS API stays on loopback
        // unless the API is exposed, whatever the media listeners do.
        let sec = &config.security;
        let bind = |ip: IpAddr, port: Option<u16>, what: &'static str| {
            let addr = port.map(|p| SocketAddr::new(ip, p));
            async move {
                match addr {
                    None => Ok(None),
                    Some(addr) => TcpListener::bind(addr)
                        .await
                        .map(Some)
                        .with_context(|| format!("cannot listen for {what} on {addr}")),
                }
            }
        };
        Ok(Some(Self {
            https: bind(sec.web_bind.unwrap_or(config.bind), ports.https, "HTTPS").await?,
            https_api: bind(
                sec.api_listener_bind(ApiListener::HttpApi, config.bind),
                ports.https_api,
                "the HTTPS API",
            )
            .await?,
            rtmps: bind(sec.rtmp_bind.unwrap_or(config.bind), ports.rtmps, "RTMPS").await?,
            reload: SighupReload::install()
                .context("cannot install the SIGHUP handler (TLS certificate reload)")?,
            tls,
        }))
    }

    /// ` https=... https_api=... rtmps=...` for the ones that are on.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (name, l) in [
            ("https", &self.https),
            ("https_api", &self.https_api),
            ("rtmps", &self.rtmps),
        ] {
            if let Some(addr) = l.as_ref().and_then(|l| l.local_addr().ok()) {
                out.push_str(&format!(" {name}={addr}"));
            }
        }
        out
    }

    /// Starts the TLS listeners and the SIGHUP certificate reload.
    pub fn spawn(
        self,
        state: &Arc<AppState>,
        tasks: &mut JoinSet<Result<()>>,
        shutdown: &Shutdown,
    ) {
        if let Some(l) = self.https {
            tasks.spawn(web::serve_tls(
                state.clone(),
                l,
                self.tls.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(l) = self.https_api {
            tasks.spawn(api::http::serve_tls(
                state.clone(),
                l,
                self.tls.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(l) = self.rtmps {
            let ctx = ingest::rtmp::Context::new(
                state.streams.clone(),
                &state.config,
                state.events.clone(),
            );
            tasks.spawn(ingest::rtmp::serve_tls(
                ctx,
                l,
                self.tls.clone(),
                shutdown.clone(),
            ));
        }
        // Not in `tasks`: it is no listener, and it ends with the shutdown signal.
        tokio::spawn(self.reload.run(self.tls, shutdown.clone()));
    }
}
