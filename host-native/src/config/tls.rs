//! `[tls]`: the certificate and key (PEM files) and which listeners speak TLS.
//!
//! A `[tls]` section with only `cert` and `key` turns on EMS's RTMPS port (8081) and HTTPS for
//! the web server on 8443. Naming any port turns on exactly the named ones. Every TLS
//! listener is a port of its own: the plain ones keep working as they were.

use std::path::PathBuf;

use serde::Deserialize;

/// EMS's inboundRtmps port.
pub const DEFAULT_RTMPS_PORT: u16 = 8081;
/// The usual alternative HTTPS port, beside the web server's 8888.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TlsConfig {
    /// PEM file: the server certificate first, then its chain. Read again on SIGHUP.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1). Read again on SIGHUP.
    pub key: PathBuf,
    /// HTTPS for the web root (the same content as `web_port`).
    #[serde(default)]
    pub https_port: Option<u16>,
    /// HTTPS for the HTTP API (the same API as `http_api_port`).
    #[serde(default)]
    pub https_api_port: Option<u16>,
    /// RTMPS publish and play (EMS inboundRtmps).
    #[serde(default)]
    pub rtmps_port: Option<u16>,
    /// Time a client gets to complete the TLS handshake (seconds).
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
}

fn default_handshake_timeout() -> u64 {
    10
}

/// The TLS listeners to open: `None` means that one stays off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPorts {
    pub https: Option<u16>,
    pub https_api: Option<u16>,
    pub rtmps: Option<u16>,
}

impl TlsConfig {
    /// The files, every port left to the defaults.
    pub fn new(cert: PathBuf, key: PathBuf) -> Self {
        Self {
            cert,
            key,
            https_port: None,
            https_api_port: None,
            rtmps_port: None,
            handshake_timeout_secs: default_handshake_timeout(),
        }
    }

    /// Names every listener explicitly (so the defaults no longer apply).
    pub fn set_ports(&mut self, ports: TlsPorts) {
        self.https_port = ports.https;
        self.https_api_port = ports.https_api;
        self.rtmps_port = ports.rtmps;
    }

    /// The listeners this section asks for (see the module comment for the defaults).
    pub fn ports(&self) -> TlsPorts {
        if self.https_port.is_none() && self.https_api_port.is_none() && self.rtmps_port.is_none() {
            return TlsPorts {
                https: Some(DEFAULT_HTTPS_PORT),
                https_api: None,
                rtmps: Some(DEFAULT_RTMPS_PORT),
            };
        }
        TlsPorts {
            https: self.https_port,
            https_api: self.https_api_port,
            rtmps: self.rtmps_port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TlsConfig {
        toml::from_str(text).expect("valid [tls]")
    }

    #[test]
    fn defaults_and_explicit_ports() {
        let c = parse("cert = \"c.pem\"\nkey = \"k.pem\"\n");
        assert_eq!(
            c.ports(),
            TlsPorts {
                https: Some(8443),
                https_api: None,
                rtmps: Some(8081)
            }
        );
        assert_eq!(c.handshake_timeout_secs, 10);
        let c = parse("cert = \"c.pem\"\nkey = \"k.pem\"\nhttps_api_port = 0\n");
        assert_eq!(
            c.ports(),
            TlsPorts {
                https: None,
                https_api: Some(0),
                rtmps: None
            }
        );
        assert!(toml::from_str::<TlsConfig>("cert = \"c.pem\"\n").is_err());
        assert!(toml::from_str::<TlsConfig>("cert = \"c\"\nkey = \"k\"\nport = 1\n").is_err());
    }
}
