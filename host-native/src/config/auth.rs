//! The `[auth]` section: who may publish and play (RTMP stream-key tokens, HTTP callbacks),
//! which addresses may send MPEG-TS, and signed playback URLs for the web server.
//!
//! Every part is off by default, so a first run on a laptop behaves as before: anyone who
//! reaches a port may publish and play. Values are checked while the file is read (a bad
//! CIDR, callback URL or secret stops the start), not when the first encoder connects.

use std::fmt;
use std::net::IpAddr;

use hyper::Uri;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct AuthConfig {
    /// Who may publish over RTMP. Empty: anyone (unless `on_publish` says otherwise). Not
    /// empty: a publish must match a rule (name pattern and, if the rule has one, the token
    /// in the stream key's query), so names no rule covers cannot be taken at all.
    pub publish: Vec<StreamRule>,
    /// Who may play over RTMP; the same rules as `publish`.
    pub play: Vec<StreamRule>,
    /// `http://` URL POSTed on every RTMP publish (after the static rules allowed it); only a
    /// 2xx answer in time lets the publish go on (nginx-rtmp `on_publish`, SRS `on_publish`).
    pub on_publish: Option<HookUrl>,
    /// The same for plays (nginx-rtmp `on_play`).
    pub on_play: Option<HookUrl>,
    /// Longest wait for a callback's answer (at most 30 s); no answer in time refuses.
    pub hook_timeout_ms: u64,
    /// The callbacks' body: `json` (default) or `form` (nginx-rtmp's
    /// `application/x-www-form-urlencoded` with `call`, `app`, `name`, `addr` and the query).
    pub hook_format: HookFormat,
    /// The query parameter of the stream key that carries the token (`cam1?token=...`).
    pub token_param: String,
    /// Networks MPEG-TS senders (TCP and UDP) may come from, as CIDRs (`10.0.0.0/8`,
    /// `127.0.0.1/32`, `::1/128`) or single addresses. Empty: any sender.
    pub mpegts_allow: Vec<Cidr>,
    /// Signed playback URLs for the web server (off without it).
    pub signed_urls: Option<SignedUrls>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            publish: Vec::new(),
            play: Vec::new(),
            on_publish: None,
            on_play: None,
            hook_timeout_ms: 3_000,
            hook_format: HookFormat::Json,
            token_param: "token".into(),
            mpegts_allow: Vec::new(),
            signed_urls: None,
        }
    }
}

/// One static rule: a stream name pattern and the token that unlocks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct StreamRule {
    /// The stream name, or a pattern where `*` matches any run of characters (`cam*`, `*`).
    pub stream: String,
    /// The application (`live` in `rtmp://host/live/cam1`); any when unset.
    #[serde(default)]
    pub app: Option<String>,
    /// The token the stream key's query must carry; none needed when unset (a rule without
    /// a token opens its names explicitly).
    #[serde(default)]
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookFormat {
    Json,
    Form,
}

/// `[auth.signed_urls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SignedUrls {
    /// The HMAC-SHA256 key (at least 16 characters); whoever issues playback URLs shares it.
    pub secret: SigningKey,
    /// URL path prefixes that need a signature (`/live/`); other paths stay open.
    pub prefixes: Vec<UrlPrefix>,
}

/// A string kept out of logs and `Debug` output (tokens, secrets).
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Secret {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Err("a token or secret must not be empty");
        }
        Ok(Self(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The signed-URL key: long enough that guessing it is not an option.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct SigningKey(pub Secret);

impl TryFrom<String> for SigningKey {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() < 16 {
            return Err("the signed URL secret needs at least 16 characters");
        }
        Ok(Self(Secret(s)))
    }
}

/// An absolute URL path prefix (`/live/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct UrlPrefix(pub String);

impl TryFrom<String> for UrlPrefix {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if !s.starts_with('/') {
            return Err(format!("{s:?}: a signed URL prefix starts with '/'"));
        }
        Ok(Self(s))
    }
}

/// A callback URL: `http://host[:port]/path` (as the events sink takes).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct HookUrl(pub Uri);

impl TryFrom<String> for HookUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let uri: Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!(
                "{s:?}: only http://host[:port]/path callbacks are supported"
            ));
        }
        Ok(Self(uri))
    }
}

/// A network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `addr` is inside. IPv4 peers seen on a dual-stack socket (`::ffff:a.b.c.d`)
    /// match IPv4 networks.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.net, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| format!("{s:?} is not a CIDR ({why})");
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.as_str(), None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad("bad address"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| bad("bad prefix length"))?,
            None => max,
        };
        Ok(Self {
            net: net.to_canonical(),
            bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = |s: &str| Cidr::try_from(s.to_string());
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let lo = c("127.0.0.1/32").expect("parses");
        assert!(lo.contains(ip("127.0.0.1")));
        assert!(lo.contains(ip("::ffff:127.0.0.1")));
        assert!(!lo.contains(ip("127.0.0.2")));
        let ten = c("10.0.0.0/8").expect("parses");
        assert!(ten.contains(ip("10.200.3.4")) && !ten.contains(ip("11.0.0.1")));
        let odd = c("192.168.4.0/22").expect("parses");
        assert!(odd.contains(ip("192.168.7.255")) && !odd.contains(ip("192.168.8.0")));
        assert!(c("0.0.0.0/0").expect("any").contains(ip("8.8.8.8")));
        assert!(c("::1").expect("v6").contains(ip("::1")));
        assert!(!c("::1").expect("v6").contains(ip("127.0.0.1")));
        for bad in ["", "10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert!(c(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parses_and_checks() {
        let a: AuthConfig = toml::from_str(
            r#"
            publish = [{ stream = "cam*", token = "s3cret" }, { stream = "open", app = "live" }]
            on_publish = "http://127.0.0.1:9/hook"
            mpegts_allow = ["127.0.0.1/32"]
            [signed_urls]
            secret = "0123456789abcdef"
            prefixes = ["/live/"]
            "#,
        )
        .expect("parses");
        assert_eq!(a.hook_timeout_ms, 3_000);
        assert_eq!(a.publish.len(), 2);
        assert!(
            !format!("{a:?}").contains("s3cret"),
            "secrets stay out of logs"
        );
        for bad in [
            "on_play = \"https://x/\"",
            "mpegts_allow = [\"1.2.3.4/40\"]",
            "publish = [{ stream = \"a\", token = \"\" }]",
            "[signed_urls]\nsecret = \"x\"\nprefixes = [\"live\"]",
            "nope = 1",
        ] {
            assert!(
                toml::from_str::<AuthConfig>(bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
