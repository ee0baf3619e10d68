//! `[object_store]`: how `s3://bucket/prefix` target folders and web roots reach the store.
//!
//! Everything here is optional: the standard `AWS_*` environment variables (the ones every
//! AWS tool reads: `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`) come first, and a value
//! set here overrides them. The secret never appears in `Debug` output or logs.

use serde::Deserialize;

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ObjectStoreConfig {
    /// e.g. `http://127.0.0.1:19000` for a local SeaweedFS; unset: AWS's own endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Permit a plain-HTTP endpoint (a store on the same host or network).
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// A whole request (with the client's own retries) may take this long (seconds; 0: the
    /// default, [`DEFAULT_TIMEOUT_SECS`]). A stalled store then fails fast and the writer
    /// holds the fragment, instead of hanging.
    #[serde(default)]
    pub timeout_secs: u64,
    /// This node's name in presentation leases (over `SMOOTHCAST_NODE_ID`; unset: host
    /// name and process id). Nodes sharing a store need distinct names.
    #[serde(default)]
    pub node_id: Option<String>,
}

/// Seconds one store request may take before it counts as failed.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("timeout_secs", &self.timeout_secs)
            .field("node_id", &self.node_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let c: ObjectStoreConfig =
            toml::from_str("endpoint = \"http://x\"\nsecret_access_key = \"s3cret\"\n")
                .expect("parse");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.endpoint.as_deref(), Some("http://x"));
        assert!(toml::from_str::<ObjectStoreConfig>("bogus = 1\n").is_err());
    }
}
