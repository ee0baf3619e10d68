//! PlayReady protection settings as createMSSStream takes them (`drmKeyId`, `drmKey`,
//! `drmKeySeed`, `playreadyLaUrl`, `playreadyLuiUrl`, `playreadyCustomAttributes`) and as
//! the autoMSS section takes them (`[auto_mss.drm]`, the same names in snake_case).
//!
//! Secrets: the saved state keeps the key (or seed), since a restarted server must encrypt
//! with the same one (the state file is written owner-only); every echo of the settings
//! (createMSSStream's reply, listConfig, events) goes through [`DrmParams::redacted`].

use serde::{Deserialize, Serialize};
use smoothcast_core::crypto::Protection;

/// What replaces a key or seed in every echo of the settings.
pub const REDACTED: &str = "<redacted>";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
// No deny_unknown_fields: MssParams flattens these in. A misspelt key still fails loudly:
// protection() refuses a license URL or key without a key ID.
#[serde(rename_all = "camelCase")]
pub struct DrmParams {
    /// Hex, dashes allowed (big-endian UUID order).
    #[serde(default, alias = "drm_key_id", skip_serializing_if = "Option::is_none")]
    pub drm_key_id: Option<String>,
    /// The content key, hex.
    #[serde(default, alias = "drm_key", skip_serializing_if = "Option::is_none")]
    pub drm_key: Option<String>,
    /// A PlayReady key seed (base64 or hex), instead of `drm_key`.
    #[serde(
        default,
        alias = "drm_key_seed",
        skip_serializing_if = "Option::is_none"
    )]
    pub drm_key_seed: Option<String>,
    #[serde(
        default,
        alias = "playready_la_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub playready_la_url: Option<String>,
    #[serde(
        default,
        alias = "playready_lui_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub playready_lui_url: Option<String>,
    /// `NAME=VALUE` each.
    #[serde(
        default,
        alias = "playready_custom_attributes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub playready_custom_attributes: Vec<String>,
}

impl DrmParams {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The protection these settings ask for: `None` when they are empty.
    pub fn protection(&self) -> Result<Option<Protection>, String> {
        crate::protection::parse(&crate::protection::ProtectionArgs {
            key: self.drm_key_id.as_deref(),
            content_key: self.drm_key.as_deref(),
            key_seed: self.drm_key_seed.as_deref(),
            la_url: self.playready_la_url.as_deref(),
            lui_url: self.playready_lui_url.as_deref(),
            custom_attributes: &self.playready_custom_attributes,
        })
    }

    /// The settings as they may be shown: key and seed replaced by [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let hide = |s: &Option<String>| s.as_ref().map(|_| REDACTED.to_string());
        Self {
            drm_key: hide(&self.drm_key),
            drm_key_seed: hide(&self.drm_key_seed),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn auto_mss_drm_table() {
        let c: ServerConfig = toml::from_str(
            "web_port = 0\n[auto_mss]\ntarget_folder = \"www\"\n[auto_mss.drm]\ndrm_key_id = \"01020304-0506-0708-090a-0b0c0d0e0f10\"\ndrm_key = \"00112233445566778899aabbccddeeff\"\nplayready_la_url = \"http://x/pr\"\n",
        )
        .expect("parses");
        let a = c.auto_mss.expect("autoMSS on");
        let p = a.drm.protection().expect("valid").expect("protected");
        assert_eq!(p.key[15], 0xff);
        let params = crate::outputs::auto_mss::params_for(&a, "cam");
        assert!(params.presentation_options().protection.is_some());
        // Incomplete settings fail at load, naming the problem, not the key.
        let e = toml::from_str::<ServerConfig>(
            "[auto_mss]\ntarget_folder = \"www\"\n[auto_mss.drm]\ndrm_key_id = \"01020304-0506-0708-090a-0b0c0d0e0f10\"\ndrm_key = \"00112233445566778899aabbccddeeff\"\n",
        )
        .expect_err("no license URL");
        assert!(e.to_string().contains("license URL"), "{e}");
        assert!(!e.to_string().contains("0011223344"), "{e}");
    }
}
