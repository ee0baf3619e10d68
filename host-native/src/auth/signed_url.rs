//! Signed playback URLs for the web server, as nginx's `secure_link`: a token that is an
//! HMAC-SHA256 over an expiry time and a path, so a URL can be handed to one viewer for a
//! limited time without any state on the server.
//!
//! The token signs a *folder* (a path ending in `/`, usually the presentation's folder,
//! `/live/demo/`), so the manifest and all its fragments share one token:
//! `st = base64url(HMAC-SHA256(secret, "<expiry>:<folder>"))`, no padding, `e = <expiry>` in
//! Unix seconds. A token for a file's exact path works too. A request is allowed when the
//! token matches its path or one of its parent folders and `e` is not past.
//!
//! Two forms carry the token:
//! - the query, `/live/demo/demo.isml/Manifest?st=<token>&e=<expiry>`: fine for a single
//!   file, but players resolve a manifest's relative fragment URLs against the manifest URL
//!   *without* its query (dash.js uses the browser's `new URL(relative, manifest)`; the
//!   WHATWG rules drop the base's query), so fragments would arrive unsigned;
//! - a path prefix, `/_sig/<token>/<expiry>/live/demo/demo.isml/Manifest`: relative fragment
//!   URLs keep the prefix, so this is the form to give players.
//!
//! Only paths under the configured `prefixes` need a token; the `/_sig/` form is accepted
//! anywhere (and checked) once signed URLs are configured.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::rules::query_param;
use crate::config::auth::SignedUrls;
use crate::config::AuthConfig;

/// The first segment of the path form.
pub const PATH_FORM: &str = "/_sig/";

type HmacSha256 = Hmac<Sha256>;

/// The web server's one call: the path to serve, or why the request is refused (403).
/// Without `[auth.signed_urls]` the path passes unchanged.
pub fn gate<'a>(config: &AuthConfig, uri: &'a hyper::Uri) -> Result<Cow<'a, str>, &'static str> {
    let Some(signed) = &config.signed_urls else {
        return Ok(Cow::Borrowed(uri.path()));
    };
    check(signed, uri.path(), uri.query(), unix_now())
}

/// [`gate`] at a given time (tests).
pub fn check<'a>(
    signed: &SignedUrls,
    path: &'a str,
    query: Option<&str>,
    now: u64,
) -> Result<Cow<'a, str>, &'static str> {
    if let Some(rest) = path.strip_prefix(PATH_FORM) {
        let mut parts = rest.splitn(3, '/');
        let (Some(token), Some(expiry), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed signed URL");
        };
        // The real path keeps its leading slash: it starts one byte before `tail`.
        let real = &path[path.len() - tail.len() - 1..];
        verify(signed, real, token, expiry, now)?;
        return Ok(Cow::Borrowed(real));
    }
    if !signed.prefixes.iter().any(|p| path.starts_with(&p.0)) {
        return Ok(Cow::Borrowed(path));
    }
    let query = query.unwrap_or_default();
    let (Some(token), Some(expiry)) = (query_param(query, "st"), query_param(query, "e")) else {
        return Err("this URL needs a signature (st and e)");
    };
    verify(signed, path, &token, &expiry, now)?;
    Ok(Cow::Borrowed(path))
}

fn verify(
    signed: &SignedUrls,
    path: &str,
    token: &str,
    expiry: &str,
    now: u64,
) -> Result<(), &'static str> {
    const BAD: &str = "invalid signature";
    let expiry_secs: u64 = expiry.parse().map_err(|_| BAD)?;
    let token = URL_SAFE_NO_PAD.decode(token).map_err(|_| BAD)?;
    // The path itself, then each parent folder: `/a/b/c`, `/a/b/`, `/a/`, `/`.
    let mut candidates = vec![path];
    candidates.extend(path.match_indices('/').map(|(i, _)| &path[..=i]));
    // Keyed once; each candidate continues from a copy (saves hashing the key pads).
    let keyed = mac(signed);
    for candidate in candidates {
        let mut mac = keyed.clone();
        mac.update(expiry.as_bytes());
        mac.update(b":");
        mac.update(candidate.as_bytes());
        if mac.verify_slice(&token).is_ok() {
            // Checked after the MAC, so an altered expiry reads as a bad signature and a
            // genuine old link as expired.
            return if now > expiry_secs {
                Err("the signed URL has expired")
            } else {
                Ok(())
            };
        }
    }
    Err(BAD)
}

fn mac(signed: &SignedUrls) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(signed.secret.0.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

/// The token for `path` (a folder ending in `/`, or a file) valid until `expiry` (Unix
/// seconds): what whoever hands out playback URLs computes.
pub fn sign(secret: &str, path: &str, expiry: u64) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(format!("{expiry}:{path}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-test";

    fn config() -> SignedUrls {
        toml::from_str(&format!("secret = \"{SECRET}\"\nprefixes = [\"/live/\"]")).expect("toml")
    }

    #[test]
    fn query_and_path_forms() {
        let c = config();
        let now = 1_000_000;
        let st = sign(SECRET, "/live/demo/", now + 60);
        let e = (now + 60).to_string();
        let q = format!("st={st}&e={e}");
        let manifest = "/live/demo/demo.isml/Manifest";
        assert_eq!(check(&c, manifest, Some(&q), now).as_deref(), Ok(manifest));
        let frag = "/live/demo/demo.isml/QualityLevels(500000)/Fragments(video=0)";
        assert!(
            check(&c, frag, Some(&q), now).is_ok(),
            "one token per folder"
        );
        assert!(check(&c, "/live/other/Manifest", Some(&q), now).is_err());
        assert!(check(&c, manifest, None, now).is_err(), "unsigned");
        assert!(
            check(&c, "/open/x", None, now).is_ok(),
            "not a protected prefix"
        );
        assert_eq!(
            check(&c, manifest, Some(&q), now + 61),
            Err("the signed URL has expired")
        );
        let later = format!("st={st}&e={}", now + 3600);
        assert_eq!(
            check(&c, manifest, Some(&later), now),
            Err("invalid signature")
        );
        let signed_path = format!("/_sig/{st}/{e}{frag}");
        assert_eq!(check(&c, &signed_path, None, now).as_deref(), Ok(frag));
        let mut bad = st.clone().into_bytes();
        bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).expect("ascii");
        assert!(check(&c, &format!("/_sig/{bad}/{e}{frag}"), None, now).is_err());
        assert!(check(&c, "/_sig/x", None, now).is_err());
        assert!(check(&c, "/live/demo/a", Some("st=%%%&e=x"), now).is_err());
    }
}
