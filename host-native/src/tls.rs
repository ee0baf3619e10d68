//! TLS for the listeners that ask for it (`[tls]`): HTTPS for the web server and the HTTP
//! API, RTMPS ingest. rustls with the `ring` provider (aws-lc-rs needs cmake).
//!
//! One [`CertResolver`] holds the certificate and key read from the PEM files; every TLS
//! listener's `ServerConfig` asks it for the certificate at each handshake, so a reload
//! (SIGHUP, [`Tls::reload`]) swaps the certificate for new connections at once, while open
//! connections keep the one they started with. A reload that fails (unreadable file, bad
//! PEM, a key that does not match) keeps the old certificate and logs an error: a typo
//! during renewal must not take the server off the air.
//!
//! - [`Tls`]: the certificate, the acceptors, [`Tls::accept`] (a bounded handshake).
//! - [`SighupReload`]: reloads on SIGHUP.
//! - [`Listeners`]: the TLS ports, bound and run beside the plain ones.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

mod listeners;
pub use listeners::Listeners;

use crate::config::tls::TlsConfig;
use crate::server::Shutdown;

/// PEM files larger than this are not certificates or keys: refused before parsing.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The certificate every TLS listener presents, replaceable while the server runs.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
}

impl CertResolver {
    /// Reads the files; an error here stops the start (nothing to fall back on yet).
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self> {
        let current = load_certified_key(cert, key, &provider)?;
        Ok(Self {
            current: RwLock::new(Arc::new(current)),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
        })
    }

    /// Reads the files again and swaps the certificate in; on an error the old one stays.
    pub fn reload(&self) -> Result<()> {
        let fresh = load_certified_key(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The certificate presented now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Certificate chain and key from PEM files, checked to belong together.
fn load_certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let cert_pem = read_pem(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: not a PEM certificate file: {e}", cert.display()))?;
    if chain.is_empty() {
        bail!("{}: no CERTIFICATE in the file", cert.display());
    }
    let key_pem = read_pem(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow!("{}: no usable PEM private key: {e}", key.display()))?;
    // from_der checks the key against the certificate's public key.
    CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        anyhow!(
            "{} and {}: the key does not fit the certificate or is unsupported: {e}",
            cert.display(),
            key.display()
        )
    })
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_PEM_BYTES {
        bail!(
            "{}: {len} bytes, more than a PEM certificate or key ({MAX_PEM_BYTES})",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Which protocol a TLS listener carries: decides the ALPN offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/1.1` by ALPN (the web server and API speak HTTP/1.1 only, so no `h2`).
    Http,
    /// RTMPS: no ALPN (encoders send none).
    Rtmp,
}

/// The TLS side of the server: the shared certificate and one acceptor per protocol.
pub struct Tls {
    resolver: Arc<CertResolver>,
    http: TlsAcceptor,
    rtmp: TlsAcceptor,
    handshake_timeout: Duration,
}

impl Tls {
    /// Reads the certificate and key named in `[tls]`.
    pub fn load(config: &TlsConfig) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = Arc::new(CertResolver::load(
            &config.cert,
            &config.key,
            provider.clone(),
        )?);
        let acceptor = |alpn: &[&[u8]]| -> Result<TlsAcceptor> {
            let mut sc = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .context("TLS protocol versions")?
                .with_no_client_auth()
                .with_cert_resolver(resolver.clone());
            sc.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(TlsAcceptor::from(Arc::new(sc)))
        };
        Ok(Self {
            http: acceptor(&[b"http/1.1"])?,
            rtmp: acceptor(&[])?,
            resolver,
            handshake_timeout: Duration::from_secs(config.handshake_timeout_secs.max(1)),
        })
    }

    /// Reads the files again (SIGHUP): logs the outcome; a failure keeps the old certificate.
    pub fn reload(&self) -> Result<()> {
        match self.resolver.reload() {
            Ok(()) => {
                tracing::info!(
                    cert = %self.resolver.cert.display(),
                    "TLS certificate reloaded"
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!("TLS certificate not reloaded, the old one stays in use: {e:#}");
                Err(e)
            }
        }
    }

    /// The certificate presented now (tests compare it across reloads).
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.resolver.current()
    }

    /// The TLS handshake on an accepted connection, bounded by the handshake timeout and
    /// given up when the server stops. TCP_NODELAY is set on the socket first: small RTMP
    /// control replies and HTTP heads should not wait for Nagle under the TLS layer.
    pub async fn accept(
        &self,
        socket: TcpStream,
        protocol: Protocol,
        shutdown: &Shutdown,
    ) -> io::Result<TlsStream<TcpStream>> {
        let _ = socket.set_nodelay(true);
        let acceptor = match protocol {
            Protocol::Http => &self.http,
            Protocol::Rtmp => &self.rtmp,
        };
        let mut shutdown = shutdown.clone();
        let stopping = || io::Error::new(io::ErrorKind::Interrupted, "server shutting down");
        if *shutdown.borrow() {
            return Err(stopping());
        }
        tokio::select! {
            r = tokio::time::timeout(self.handshake_timeout, acceptor.accept(socket)) => match r {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout")),
            },
            _ = shutdown.changed() => Err(stopping()),
        }
    }
}

/// Reloads the certificate on every SIGHUP. Made before the server announces its
/// listeners, so a SIGHUP sent as soon as they are up already reloads (a process without a
/// SIGHUP handler would die of it).
pub struct SighupReload {
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl SighupReload {
    /// Installs the SIGHUP handler (needs a tokio runtime).
    pub fn install() -> io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    /// Reloads `tls` on each SIGHUP until `shutdown`.
    pub async fn run(self, tls: Arc<Tls>, mut shutdown: Shutdown) {
        #[cfg(unix)]
        {
            let mut hangup = self.hangup;
            loop {
                tokio::select! {
                    got = hangup.recv() => {
                        if got.is_none() {
                            return;
                        }
                        // The outcome is logged; the server goes on either way.
                        let _ = tls.reload();
                    }
                    _ = shutdown.changed() => return,
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (tls, shutdown.changed().await);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use smoothcast_tests::certs::{write, Ca};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("smoothcast-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn config(cert: PathBuf, key: PathBuf) -> TlsConfig {
        TlsConfig {
            cert,
            key,
            https_port: None,
            https_api_port: None,
            rtmps_port: None,
            handshake_timeout_secs: 1,
        }
    }

    /// Serves one echo-less TLS listener: each connection is handshaken and held briefly.
    async fn start(tls: Arc<Tls>, protocol: Protocol) -> std::net::SocketAddr {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        // Never stops: the runtime ends with the test.
        std::mem::forget(stop);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (tls, shutdown) = (tls.clone(), shutdown.clone());
                tokio::spawn(async move {
                    if let Ok(mut s) = tls.accept(s, protocol, &shutdown).await {
                        let _ = s.write_all(b"ok").await;
                        let _ = s.shutdown().await;
                    }
                });
            }
        });
        addr
    }

    /// Connects trusting `ca_pem`: the leaf the server presented and the ALPN it chose.
    async fn handshake(
        addr: std::net::SocketAddr,
        ca_pem: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.expect("CA pem")).expect("add CA");
        }
        let mut cc = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        cc.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cc));
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("name");
        let mut s = connector.connect(name, tcp).await?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await?;
        assert_eq!(got, b"ok");
        let (_, conn) = s.get_ref();
        let leaf = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Ok((leaf, conn.alpn_protocol().map(|p| p.to_vec())))
    }

    #[tokio::test]
    async fn reload_swaps_the_certificate_and_a_bad_one_keeps_the_old() {
        let dir = temp_dir("reload");
        let ca = Ca::new("test CA");
        let first = ca.leaf();
        let (c, k) = first.write(&dir);
        let tls = Arc::new(Tls::load(&config(c.clone(), k.clone())).expect("loads"));
        let addr = start(tls.clone(), Protocol::Http).await;
        let (leaf, alpn) = handshake(addr, &ca.pem, &[b"h2", b"http/1.1"])
            .await
            .expect("handshake");
        assert_eq!(leaf, first.der);
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]), "no h2 offered");

        // A renewed certificate: new connections get it.
        let second = ca.leaf();
        second.write(&dir);
        tls.reload().expect("reloads");
        let (leaf, _) = handshake(addr, &ca.pem, &[]).await.expect("handshake");
        assert_eq!(leaf, second.der);

        // Garbage, a key of another certificate, a missing file: the old one stays.
        let third = ca.leaf();
        for (cert, key) in [
            ("not a certificate", second.key_pem.as_str()),
            (
                second.cert_pem.as_str(),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            (second.cert_pem.as_str(), third.key_pem.as_str()),
        ] {
            write(&dir, cert, key);
            assert!(tls.reload().is_err(), "{cert:.20} / {key:.40}");
            let (leaf, _) = handshake(addr, &ca.pem, &[]).await.expect("handshake");
            assert_eq!(leaf, second.der, "old certificate kept");
        }
        std::fs::remove_file(&c).expect("rm");
        assert!(tls.reload().is_err());
        assert_eq!(tls.current().cert[0].as_ref(), &second.der[..]);

        // A client that does not trust the CA is refused.
        let other = Ca::new("other CA");
        assert!(handshake(addr, &other.pem, &[]).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn startup_errors_name_the_file() {
        let dir = temp_dir("load");
        let ca = Ca::new("test CA");
        let leaf = ca.leaf();
        let (c, k) = write(&dir, &leaf.cert_pem, "");
        let e = Tls::load(&config(c.clone(), k.clone()))
            .err()
            .expect("no key");
        assert!(e.to_string().contains("key.pem"), "{e}");
        write(&dir, "", &leaf.key_pem);
        let e = Tls::load(&config(c.clone(), k.clone()))
            .err()
            .expect("no cert");
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
        let e = Tls::load(&config(dir.join("missing.pem"), k))
            .err()
            .expect("missing");
        assert!(format!("{e:#}").contains("missing.pem"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_handshake_ends_at_its_timeout_or_at_shutdown() {
        let dir = temp_dir("timeout");
        let ca = Ca::new("test CA");
        let (c, k) = ca.leaf().write(&dir);
        let tls = Tls::load(&config(c, k)).expect("loads");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (s, _) = listener.accept().await.expect("accept");
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let started = std::time::Instant::now();
        let e = tls
            .accept(s, Protocol::Rtmp, &shutdown)
            .await
            .expect_err("times out");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // The timeout is 1 s; a busy machine may add some.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(10),
            "{took:?}"
        );

        // Shutdown ends a handshake in progress at once.
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (s, _) = listener.accept().await.expect("accept");
        let handshake = tokio::spawn(async move {
            tls.accept(s, Protocol::Http, &shutdown)
                .await
                .map(|_| ())
                .map_err(|e| e.kind())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).expect("send");
        let r = tokio::time::timeout(Duration::from_millis(900), handshake)
            .await
            .expect("ends before the handshake timeout")
            .expect("task");
        assert_eq!(r, Err(io::ErrorKind::Interrupted));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
