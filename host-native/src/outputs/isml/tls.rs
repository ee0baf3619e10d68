//! The TLS client of `https://` publishing points: rustls with `ring` (as the listeners,
//! `crate::tls`), trusting the certificates in `$SSL_CERT_FILE` or the system's bundle
//! (Debian's `ca-certificates`, or the Red Hat and BSD paths), read once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Where systems keep their trusted certificates, first found wins.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The client configuration every https push uses; an error says why there is none.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let path = std::env::var_os("SSL_CERT_FILE")
                .map(PathBuf::from)
                .or_else(|| {
                    SYSTEM_BUNDLES
                        .iter()
                        .map(Path::new)
                        .find(|p| p.exists())
                        .map(Path::to_path_buf)
                })
                .ok_or_else(|| String::from("no trusted certificates found (set SSL_CERT_FILE)"))?;
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for c in certs.flatten() {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(format!("no certificates in {}", path.display()));
            }
            with_roots(roots)
        })
        .clone()
}

/// A client configuration trusting `roots`, speaking HTTP/1.1.
pub fn with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let mut cc =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    cc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cc))
}
