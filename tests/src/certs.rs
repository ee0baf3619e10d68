//! Certificates made at test time (rcgen): a CA, and leaves it signs for `localhost` and
//! 127.0.0.1, written as the PEM files a server reads.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PublicKeyData, SanType};

/// A certificate authority that tests trust (or, a second one, do not).
pub struct Ca {
    /// The CA certificate, for clients' trust stores (`curl --cacert`, ffmpeg `-ca_file`).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
    /// base64 of SHA-256 of the SubjectPublicKeyInfo, as Chromium's
    /// `--ignore-certificate-errors-spki-list` takes it.
    pub spki_sha256: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA cert");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `localhost` and 127.0.0.1, with a fresh key.
    pub fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(spki.as_ref()),
        }
    }

    /// Writes the CA certificate as `ca.pem` in `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join("ca.pem");
        std::fs::write(&p, &self.pem).expect("write CA");
        p
    }
}

impl Leaf {
    /// Writes `cert.pem` and `key.pem` into `dir` (replacing them): (cert path, key path).
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        write(dir, &self.cert_pem, &self.key_pem)
    }
}

/// Writes any text as `cert.pem` and `key.pem` into `dir` (tests write bad ones too).
pub fn write(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}
