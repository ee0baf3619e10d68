//! The PlayReady side of a protected presentation: the PlayReady Object (PRO) with its
//! WRMHEADER that the manifest's `ProtectionHeader` carries, the KID byte order PlayReady
//! uses, the header's CHECKSUM, and the PlayReady key-seed derivation.
//!
//! WRMHEADER 4.0.0.0 only: dash.js, Shaka 4 and ExoPlayer read the KID of this form alone
//! (`DATA/KID`); 4.1+ moves it into PROTECTINFO where they find nothing
//! (shared/reference/protection-text-audio.md §3.2).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use sha2::{Digest, Sha256};

use super::base64;
use super::{KeyId, Protection};

/// PlayReady's DRM system ID, as the manifest writes it: lowercase, no braces (Shaka looks
/// it up lowercased; braces make it treat the streams as clear).
pub const SYSTEM_ID: &str = "9a04f079-9840-4286-ab92-e65be0885f95";

/// The PRO record type of a rights management header.
const RECORD_WRMHEADER: u16 = 1;

/// The PlayReady byte order of a key ID: .NET `Guid.ToByteArray()`, the first three fields
/// little-endian. The same swap converts back.
pub fn guid_bytes(kid: &KeyId) -> [u8; 16] {
    let b = kid.0;
    let mut le = b;
    le[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    le[4..6].copy_from_slice(&[b[5], b[4]]);
    le[6..8].copy_from_slice(&[b[7], b[6]]);
    le
}

/// `<CHECKSUM>` for AESCTR: the first 8 bytes of AES-128-ECB(content key, KID in GUID order).
pub fn checksum(kid: &KeyId, key: &[u8; 16]) -> [u8; 8] {
    let cipher = Aes128::new(key.into());
    let mut block = guid_bytes(kid).into();
    cipher.encrypt_block(&mut block);
    let mut out = [0u8; 8];
    out.copy_from_slice(&block[..8]);
    out
}

/// The content key PlayReady derives from a key seed and a KID ("PlayReady Key Seed",
/// learn.microsoft.com): with the first 30 bytes of the seed and the KID in GUID order,
/// A = SHA-256(seed‖kid), B = SHA-256(seed‖kid‖seed), C = SHA-256(seed‖kid‖seed‖kid), and
/// key[i] = A[i]⊕A[i+16]⊕B[i]⊕B[i+16]⊕C[i]⊕C[i+16]. `None` when the seed is under 30 bytes.
pub fn key_from_seed(seed: &[u8], kid: &KeyId) -> Option<[u8; 16]> {
    let seed = seed.get(..30)?;
    let kid = guid_bytes(kid);
    let a = Sha256::new()
        .chain_update(seed)
        .chain_update(kid)
        .finalize();
    let b = Sha256::new()
        .chain_update(seed)
        .chain_update(kid)
        .chain_update(seed)
        .finalize();
    let c = Sha256::new()
        .chain_update(seed)
        .chain_update(kid)
        .chain_update(seed)
        .chain_update(kid)
        .finalize();
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = a[i] ^ a[i + 16] ^ b[i] ^ b[i + 16] ^ c[i] ^ c[i + 16];
    }
    Some(key)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// The WRMHEADER 4.0.0.0 XML: one key, AES-CTR, the KID and CHECKSUM, LA_URL, then the
/// optional LUI_URL and CUSTOMATTRIBUTES, elements closed explicitly (MS syntax rules).
pub fn wrm_header(p: &Protection) -> String {
    let mut x = String::with_capacity(400);
    x.push_str("<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" version=\"4.0.0.0\"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>");
    x.push_str(&base64::encode(&guid_bytes(&p.key_id)));
    x.push_str("</KID><CHECKSUM>");
    x.push_str(&base64::encode(&checksum(&p.key_id, &p.key)));
    x.push_str("</CHECKSUM><LA_URL>");
    escape_into(&mut x, &p.la_url);
    x.push_str("</LA_URL>");
    if let Some(lui) = &p.lui_url {
        x.push_str("<LUI_URL>");
        escape_into(&mut x, lui);
        x.push_str("</LUI_URL>");
    }
    if !p.custom_attributes.is_empty() {
        x.push_str("<CUSTOMATTRIBUTES>");
        for (name, value) in &p.custom_attributes {
            // Names were checked as XML names when the protection was made.
            let _ = write!(x, "<{name}>");
            escape_into(&mut x, value);
            let _ = write!(x, "</{name}>");
        }
        x.push_str("</CUSTOMATTRIBUTES>");
    }
    x.push_str("</DATA></WRMHEADER>");
    x
}

/// The PlayReady Object, all little-endian: total length, record count (1), then the one
/// record: type 1 (WRMHEADER), length, the XML in UTF-16LE without BOM. dash.js reads only a
/// first record of type 1; Shaka needs the length to be exact.
pub fn playready_object(p: &Protection) -> Vec<u8> {
    let xml: Vec<u8> = wrm_header(p)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let total = 10 + xml.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&RECORD_WRMHEADER.to_le_bytes());
    out.extend_from_slice(&(xml.len() as u16).to_le_bytes());
    out.extend_from_slice(&xml);
    out
}

/// The manifest's `ProtectionHeader` content: the PRO in base64, no line breaks.
pub fn protection_header(p: &Protection) -> String {
    base64::encode(&playready_object(p))
}

#[cfg(test)]
mod tests {
    //! The vectors of shared/reference/protection-text-audio.md §3.2 (computed in Python,
    //! CHECKSUM re-checked with openssl, the key seed with Bento4's own function).
    use super::*;

    const KID: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";
    const KEY: &str = "00112233445566778899aabbccddeeff";

    fn protection() -> Protection {
        Protection::new(
            KeyId::parse(KID).expect("kid"),
            super::super::parse_key(KEY).expect("key"),
            "http://127.0.0.1:8090/pr".into(),
        )
    }

    #[test]
    fn kid_in_guid_order() {
        let kid = KeyId::parse(KID).expect("kid");
        assert_eq!(
            guid_bytes(&kid),
            [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16]
        );
        assert_eq!(
            base64::encode(&guid_bytes(&kid)),
            "BAMCAQYFCAcJCgsMDQ4PEA=="
        );
        // The swap is its own inverse.
        assert_eq!(guid_bytes(&KeyId(guid_bytes(&kid))), kid.0);
        // JWK (ClearKey) uses the big-endian order.
        assert_eq!(base64::encode_url(&kid.0), "AQIDBAUGBwgJCgsMDQ4PEA");
        let p = protection();
        assert_eq!(base64::encode_url(&p.key), "ABEiM0RVZneImaq7zN3u_w");
    }

    #[test]
    fn checksum_vector_and_a_wrong_key_fails() {
        let p = protection();
        assert_eq!(base64::encode(&checksum(&p.key_id, &p.key)), "yUIuGAjrWbw=");
        let mut wrong = p.key;
        wrong[15] ^= 1;
        assert_ne!(base64::encode(&checksum(&p.key_id, &wrong)), "yUIuGAjrWbw=");
    }

    #[test]
    fn playready_object_vector() {
        let pro = playready_object(&protection());
        assert_eq!(pro.len(), 600);
        assert_eq!(
            &pro[..12],
            &[0x58, 0x02, 0, 0, 1, 0, 1, 0, 0x4e, 0x02, 0x3c, 0x00]
        );
        assert_eq!(&pro[12..14], &[0x57, 0x00]);
        let xml = wrm_header(&protection());
        assert!(xml.contains("<KID>BAMCAQYFCAcJCgsMDQ4PEA==</KID>"), "{xml}");
        assert!(xml.contains("<CHECKSUM>yUIuGAjrWbw=</CHECKSUM>"), "{xml}");
        assert!(!protection_header(&protection()).contains(['\r', '\n']));
    }

    #[test]
    fn optional_elements_are_escaped() {
        let mut p = protection();
        p.lui_url = Some("http://ui/?a=1&b=2".into());
        p.custom_attributes = alloc::vec![("tenant".into(), "a<b".into())];
        let xml = wrm_header(&p);
        assert!(xml.ends_with("<LA_URL>http://127.0.0.1:8090/pr</LA_URL><LUI_URL>http://ui/?a=1&amp;b=2</LUI_URL><CUSTOMATTRIBUTES><tenant>a&lt;b</tenant></CUSTOMATTRIBUTES></DATA></WRMHEADER>"), "{xml}");
        let pro = playready_object(&p);
        assert_eq!(
            u32::from_le_bytes([pro[0], pro[1], pro[2], pro[3]]) as usize,
            pro.len()
        );
    }

    #[test]
    fn key_seed_vector_and_a_wrong_seed_fails() {
        let seed = base64::decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd").expect("seed");
        let kid = KeyId::parse(KID).expect("kid");
        let key = key_from_seed(&seed, &kid).expect("30 bytes");
        assert_eq!(super::super::hex(&key), "5dcfec0988bf30e0ada823085a3330ad");
        // Only the first 30 bytes count; fewer is an error; another seed another key.
        let mut longer = seed.clone();
        longer.extend_from_slice(b"ignored");
        assert_eq!(key_from_seed(&longer, &kid), Some(key));
        assert_eq!(key_from_seed(&seed[..29], &kid), None);
        let mut other = seed.clone();
        other[0] = 1;
        assert_ne!(key_from_seed(&other, &kid), Some(key));
    }
}
