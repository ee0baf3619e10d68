//! PlayReady protection settings as users give them (the `package` flags, createMSSStream's
//! parameters, autoMSS's config): hex KID and key, or a KID and a PlayReady key seed, and
//! the header's URLs. The core does the encrypting ([`smoothcast_core::crypto`]); this only
//! parses and checks, with messages that never repeat a key or a seed.

use smoothcast_core::crypto::{self, KeyId, Protection};

/// `smoothcast package`'s protection flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProtectionFlags {
    /// PlayReady protection: the key ID and content key in hex (`KID:KEY`), or the key ID
    /// alone with --key-seed. Encrypts audio and video (PIFF, AES-128-CTR). `@FILE` reads
    /// the value from FILE (keeps the key out of `ps`).
    #[arg(long, value_name = "KID[:KEY]")]
    pub key: Option<String>,
    /// A PlayReady key seed (base64 or hex, 30 bytes or more): the content key derives
    /// from it and the key ID. `@FILE` reads it from FILE.
    #[arg(long, value_name = "SEED")]
    pub key_seed: Option<String>,
    /// The PlayReady license server URL written into the header (LA_URL); required with --key.
    #[arg(long, value_name = "URL")]
    pub playready_la_url: Option<String>,
    /// The PlayReady license UI URL (LUI_URL), optional.
    #[arg(long, value_name = "URL")]
    pub playready_lui_url: Option<String>,
    /// A PlayReady header custom attribute, NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub playready_custom_attribute: Vec<String>,
}

/// A flag's value, or with `@FILE` the file's first line (the message names the file only).
fn value_or_file(v: &Option<String>) -> Result<Option<String>, String> {
    match v.as_deref() {
        Some(v) if v.starts_with('@') => std::fs::read_to_string(&v[1..])
            .map(|text| Some(text.lines().next().unwrap_or("").trim().to_string()))
            .map_err(|e| format!("reading {}: {e}", &v[1..])),
        other => Ok(other.map(str::to_string)),
    }
}

impl ProtectionFlags {
    pub fn parse(&self) -> Result<Option<Protection>, String> {
        let key = value_or_file(&self.key)?;
        let key_seed = value_or_file(&self.key_seed)?;
        parse(&ProtectionArgs {
            key: key.as_deref(),
            content_key: None,
            key_seed: key_seed.as_deref(),
            la_url: self.playready_la_url.as_deref(),
            lui_url: self.playready_lui_url.as_deref(),
            custom_attributes: &self.playready_custom_attribute,
        })
    }
}

/// What a user gave, as strings.
#[derive(Debug, Clone, Default)]
pub struct ProtectionArgs<'a> {
    /// `KID` or `KID:KEY` (hex, dashes allowed in the KID).
    pub key: Option<&'a str>,
    /// A separate key (createMSSStream's `drmKey`), when `key` is a bare KID.
    pub content_key: Option<&'a str>,
    /// A PlayReady key seed (base64 or hex): the key derives from it and the KID.
    pub key_seed: Option<&'a str>,
    pub la_url: Option<&'a str>,
    pub lui_url: Option<&'a str>,
    /// `NAME=VALUE`, each a `<CUSTOMATTRIBUTES>` child.
    pub custom_attributes: &'a [String],
}

/// `None` when no key was given; an error when the settings are incomplete or malformed.
pub fn parse(a: &ProtectionArgs<'_>) -> Result<Option<Protection>, String> {
    let Some(key_arg) = a.key else {
        if a.key_seed.is_some() || a.content_key.is_some() || a.la_url.is_some() {
            return Err("protection needs a key ID (--key KID:KEY, or drmKeyId)".into());
        }
        return Ok(None);
    };
    let (kid_text, inline_key) = match key_arg.split_once(':') {
        Some((kid, key)) => (kid, Some(key)),
        None => (key_arg, None),
    };
    let kid = KeyId::parse(kid_text)?;
    let key = match (inline_key.or(a.content_key), a.key_seed) {
        (Some(_), Some(_)) => return Err("give a content key or a key seed, not both".into()),
        (Some(k), None) => crypto::parse_key(k)?,
        (None, Some(seed)) => {
            let seed = crypto::parse_key_seed(seed)?;
            crypto::playready::key_from_seed(&seed, &kid)
                .ok_or("the key seed is shorter than 30 bytes")?
        }
        (None, None) => return Err("a key ID needs a content key (KID:KEY) or a key seed".into()),
    };
    let la_url = a
        .la_url
        .ok_or("protection needs a PlayReady license URL (--playready-la-url, playreadyLaUrl)")?;
    let mut p = Protection::new(kid, key, la_url.to_string());
    p.lui_url = a.lui_url.map(str::to_string);
    for attr in a.custom_attributes {
        let (name, value) = attr
            .split_once('=')
            .ok_or_else(|| format!("custom attribute {attr:?} is not NAME=VALUE"))?;
        p.custom_attributes
            .push((name.to_string(), value.to_string()));
    }
    p.check()?;
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";

    #[test]
    fn key_or_seed() {
        let key = format!("{KID}:00112233445566778899aabbccddeeff");
        let p = parse(&ProtectionArgs {
            key: Some(&key),
            la_url: Some("http://x/pr"),
            ..Default::default()
        })
        .expect("ok")
        .expect("protected");
        assert_eq!(p.key[0], 0x00);
        assert_eq!(p.key[15], 0xff);
        let p = parse(&ProtectionArgs {
            key: Some(KID),
            key_seed: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
            la_url: Some("http://x/pr"),
            ..Default::default()
        })
        .expect("ok")
        .expect("protected");
        assert_eq!(crypto::hex(&p.key), "5dcfec0988bf30e0ada823085a3330ad");
        assert!(parse(&ProtectionArgs::default()).expect("clear").is_none());
        for bad in [
            ProtectionArgs {
                key: Some(KID),
                la_url: Some("http://x"),
                ..Default::default()
            },
            ProtectionArgs {
                key: Some(&key),
                ..Default::default()
            },
            ProtectionArgs {
                key_seed: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
                ..Default::default()
            },
        ] {
            let e = parse(&bad).expect_err("rejected");
            assert!(!e.contains("0011") && !e.contains("AAEC"), "{e}");
        }
        let e = parse(&ProtectionArgs {
            key: Some(&format!("{KID}:0011223344556677zz")),
            la_url: Some("http://x"),
            ..Default::default()
        })
        .expect_err("bad key");
        assert!(!e.contains("0011"), "{e}");
    }

    #[test]
    fn flags_read_a_key_from_a_file() {
        let path = std::env::temp_dir().join(format!("smoothcast-key-{}", std::process::id()));
        std::fs::write(&path, format!("{KID}:00112233445566778899aabbccddeeff\n")).expect("write");
        let flags = ProtectionFlags {
            key: Some(format!("@{}", path.display())),
            playready_la_url: Some("http://x/pr".into()),
            ..Default::default()
        };
        let p = flags.parse().expect("ok").expect("protected");
        assert_eq!(p.key[15], 0xff);
        let _ = std::fs::remove_file(&path);
        assert!(flags.parse().is_err(), "a missing file is an error");
    }

    #[tokio::test]
    async fn create_mss_stream_keeps_the_key_out_of_replies_and_listings() {
        let state = crate::api::test_support::state();
        let key = "00112233445566778899aabbccddeeff";
        let seed = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
        let run = |line: &str| crate::api::execute(&state, line).expect("reply");
        let reply = run(&format!(
            "createMSSStream localStreamNames=a targetFolder=/w groupName=g drmKeyId={KID} drmKey={key} playreadyLaUrl=http://x/pr"
        ));
        assert!(reply.is_success(), "{reply:?}");
        let json = reply.to_json();
        assert!(!json.contains(key), "{json}");
        assert_eq!(reply.data["drmKey"], crate::config::drm::REDACTED);
        assert_eq!(reply.data["drmKeyId"], KID);
        assert_eq!(reply.data["playreadyLaUrl"], "http://x/pr");
        let reply = run(&format!(
            "createMSSStream localStreamNames=b targetFolder=/w groupName=h drmKeyId={KID} drmKeySeed={seed} playreadyLaUrl=http://x/pr"
        ));
        assert!(reply.is_success(), "{reply:?}");
        assert!(!reply.to_json().contains(seed));
        let list = run("listConfig").to_json();
        assert!(list.contains("drmKeyId") && list.contains(crate::config::drm::REDACTED));
        assert!(!list.contains(key) && !list.contains(seed), "{list}");
        // The server itself keeps what a restart needs.
        let kept: Vec<_> = state
            .outputs
            .list_mss()
            .into_iter()
            .filter_map(|e| e.params.drm.drm_key.or(e.params.drm.drm_key_seed))
            .collect();
        assert!(kept.contains(&key.to_string()) && kept.contains(&seed.to_string()));
        // Incomplete or malformed settings are refused, without echoing the key.
        for bad in [
            format!("drmKeyId={KID} drmKey={key}"),
            format!("drmKey={key} playreadyLaUrl=http://x"),
            format!("drmKeyId={KID} drmKey=zz{key} playreadyLaUrl=http://x"),
            format!("drmKeyId={KID} drmKey={key} drmKeySeed={seed} playreadyLaUrl=http://x"),
        ] {
            let reply = run(&format!(
                "createMSSStream localStreamNames=c targetFolder=/w groupName=bad {bad}"
            ));
            assert!(!reply.is_success(), "{bad}");
            assert!(!reply.to_json().contains(key), "{reply:?}");
        }
    }
}
