//! PlayReady protection of Smooth Streaming output: PIFF 1.1 / CENC `cenc` (AES-128-CTR)
//! sample encryption and the PlayReady header of the manifest.
//!
//! A presentation has one key (MSS players put the manifest's one KID in every track's
//! `tenc`): [`Protection`] holds it, and [`crate::PresentationOptions::protection`] turns
//! encryption on for every fragment the presentation writes, VOD and live alike, so every
//! host writes the same bytes. Text is never encrypted.
//!
//! - [`cenc`]: which bytes of a sample are encrypted, the IVs, the cipher.
//! - [`playready`]: the PlayReady Object / WRMHEADER 4.0.0.0, KID byte order, key seed.
//!
//! The format facts and the players' demands: shared/reference/protection-text-audio.md §3.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub mod base64;
pub mod cenc;
pub mod playready;

/// A key ID in the big-endian UUID byte order (`tenc`, EME `keyids`, JWK `kid`, ffmpeg
/// `-encryption_kid`); PlayReady's `<KID>` uses [`playready::guid_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(pub [u8; 16]);

impl KeyId {
    /// 32 hex digits, dashes allowed anywhere (`01020304-0506-…` or `0102…10`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        parse_hex16(&digits)
            .map(Self)
            .ok_or_else(|| format!("key ID {text:?} is not 32 hex digits"))
    }

    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

fn parse_hex16(text: &str) -> Option<[u8; 16]> {
    let b = text.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// A content key: 32 hex digits. The message never repeats the text (it may be a key).
pub fn parse_key(text: &str) -> Result<[u8; 16], String> {
    parse_hex16(text).ok_or_else(|| String::from("the content key is not 32 hex digits"))
}

/// A PlayReady key seed: base64 (as Microsoft and Bento4 give it) or hex, at least 30 bytes.
pub fn parse_key_seed(text: &str) -> Result<Vec<u8>, String> {
    let hex_digits = text.len().is_multiple_of(2) && text.bytes().all(|c| c.is_ascii_hexdigit());
    let bytes = if hex_digits {
        (0..text.len() / 2)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()
    } else {
        base64::decode(text)
    };
    match bytes {
        Some(b) if b.len() >= 30 => Ok(b),
        _ => Err(String::from(
            "the key seed is not at least 30 bytes of base64 or hex",
        )),
    }
}

/// How a presentation is protected. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Protection {
    pub key_id: KeyId,
    pub key: [u8; 16],
    /// The license server (`<LA_URL>`).
    pub la_url: String,
    /// The license UI (`<LUI_URL>`), optional.
    pub lui_url: Option<String>,
    /// `<CUSTOMATTRIBUTES>` children, name and text (names checked by [`Protection::check`]).
    pub custom_attributes: Vec<(String, String)>,
    /// Added to every IV's counter part (see [`cenc`]): 0 for on-demand packaging (so every
    /// host writes the same bytes); a live host gives the wall clock at the start of a run,
    /// so a run that starts its timeline over never meets an IV of an earlier run.
    pub iv_salt: u64,
}

impl fmt::Debug for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protection")
            .field("key_id", &self.key_id.hex())
            .field("key", &"<redacted>")
            .field("la_url", &self.la_url)
            .field("lui_url", &self.lui_url)
            .field("custom_attributes", &self.custom_attributes)
            .field("iv_salt", &self.iv_salt)
            .finish()
    }
}

impl Protection {
    pub fn new(key_id: KeyId, key: [u8; 16], la_url: String) -> Self {
        Self {
            key_id,
            key,
            la_url,
            lui_url: None,
            custom_attributes: Vec::new(),
            iv_salt: 0,
        }
    }

    /// With the content key PlayReady derives from `seed` for this KID.
    pub fn from_seed(key_id: KeyId, seed: &[u8], la_url: String) -> Result<Self, String> {
        let key = playready::key_from_seed(seed, &key_id)
            .ok_or_else(|| String::from("the key seed is shorter than 30 bytes"))?;
        Ok(Self::new(key_id, key, la_url))
    }

    /// From what a user gave: a key ID (hex), and a content key (hex) or a PlayReady key
    /// seed (base64 or hex), and the license URL; checked. Messages never repeat a key.
    pub fn from_user(
        key_id: &str,
        key: Option<&str>,
        key_seed: Option<&str>,
        la_url: &str,
    ) -> Result<Self, String> {
        let key_id = KeyId::parse(key_id)?;
        let p = match (key, key_seed) {
            (Some(k), None) => Self::new(key_id, parse_key(k)?, la_url.into()),
            (None, Some(s)) => Self::from_seed(key_id, &parse_key_seed(s)?, la_url.into())?,
            (Some(_), Some(_)) => return Err("give a content key or a key seed, not both".into()),
            (None, None) => return Err("a key ID needs a content key or a key seed".into()),
        };
        p.check()?;
        Ok(p)
    }

    /// The checks a host makes on what a user gave.
    pub fn check(&self) -> Result<(), String> {
        if self.la_url.is_empty() {
            return Err("a PlayReady license URL (LA_URL) is required".into());
        }
        for (name, _) in &self.custom_attributes {
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return Err(format!("custom attribute name {name:?} is not an XML name"));
            }
        }
        // The PRO must stay under 15 KB (PlayReady Header Specification).
        if playready::playready_object(self).len() > 15 * 1024 {
            return Err("the PlayReady header would exceed 15 KB".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_redaction() {
        let kid = KeyId::parse("01020304-0506-0708-090a-0b0c0d0e0f10").expect("kid");
        assert_eq!(kid.hex(), "0102030405060708090a0b0c0d0e0f10");
        assert!(KeyId::parse("0102").is_err());
        assert!(KeyId::parse("zz020304050607080900a0b0c0d0e0f10").is_err());
        let key = parse_key("00112233445566778899AABBCCDDEEFF").expect("key");
        let e = parse_key("00112233445566778899aabbccddeeXX").unwrap_err();
        assert!(!e.contains("0011"), "{e}");
        let p = Protection::new(kid, key, "http://x/pr".into());
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("00112233") && !shown.contains("0, 17, 34"),
            "{shown}"
        );
        assert!(p.check().is_ok());
        let mut bad = p.clone();
        bad.custom_attributes = alloc::vec![("a b".into(), "x".into())];
        assert!(bad.check().is_err());
        assert_eq!(
            parse_key_seed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd").map(|s| s.len()),
            Ok(30)
        );
        assert_eq!(
            parse_key_seed("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"),
            parse_key_seed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd")
        );
        assert!(parse_key_seed("AAEC").is_err());
    }
}
