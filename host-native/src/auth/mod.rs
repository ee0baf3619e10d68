//! Who may publish and play: the decisions behind `[auth]` (see [`crate::config::auth`]).
//!
//! - [`rules`]: the static lists (stream name pattern, app, token from the stream key's
//!   query), decided at once without I/O.
//! - [`hook`]: the HTTP callback (`on_publish`/`on_play`), asked after the static rules
//!   allowed; only a 2xx answer in time allows.
//! - [`allowlist`]: the MPEG-TS source address allowlist, with rate-limited logging.
//! - [`signed_url`]: HMAC-signed playback URLs for the web server.
//!
//! Ingest code asks an [`Authorizer`]: [`Authorizer::check_rules`] synchronously (the RTMP
//! session is sans-I/O), then, when [`Authorizer::needs_hook`], the connection task awaits
//! [`Authorizer::check_hook`]. A refusal is reported once through [`Authorizer::refused`]:
//! a log line and an `inStreamRefused` event.
//!
//! Pulls (`pullStream`) are not checked against the publish rules: the control API creates
//! them, so whoever may call the API (its own authentication) is already the operator, and a
//! pull has no stream key to carry a token. A pull can therefore take a name an encoder was
//! meant to use; that is the operator's choice, not a stranger's.

pub mod allowlist;
pub mod hook;
pub mod rules;
pub mod signed_url;

use std::sync::Arc;

use serde_json::json;

use crate::config::AuthConfig;
use crate::events::{EventBus, EventType};

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Play,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

/// One publish or play to decide on.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: Action,
    /// `rtmp` (the only protocol with names and tokens today).
    pub protocol: &'static str,
    /// The application (`live` in `rtmp://host/live/cam1`).
    pub app: String,
    /// The local stream name, without the query.
    pub stream: String,
    /// The stream key's query (`token=...&x=y`), as sent, without the `?`.
    pub query: String,
    /// The client's address and port.
    pub client: String,
}

impl Request {
    /// A request for an RTMP stream key (`name?query`) whose name already passed the
    /// stream-name rules.
    pub fn rtmp(action: Action, app: &str, name: &str, stream_key: &str, client: &str) -> Self {
        Self {
            action,
            protocol: "rtmp",
            app: app.to_string(),
            stream: name.to_string(),
            query: stream_key
                .split_once('?')
                .map(|(_, q)| q.to_string())
                .unwrap_or_default(),
            client: client.to_string(),
        }
    }

    /// The client's address without the port, as nginx-rtmp's `addr`.
    pub fn address(&self) -> &str {
        match self.client.rsplit_once(':') {
            // `[::1]:5000` and `127.0.0.1:5000`.
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
                host.trim_start_matches('[').trim_end_matches(']')
            }
            _ => &self.client,
        }
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, with the reason for the log and the event (never a secret).
    Refuse(String),
}

/// The `[auth]` decisions of one server. Cheap to clone.
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Inner>,
}

struct Inner {
    config: AuthConfig,
    hook: hook::HookClient,
    events: EventBus,
}

impl Authorizer {
    pub fn new(config: &AuthConfig, events: EventBus) -> Self {
        Self {
            inner: Arc::new(Inner {
                hook: hook::HookClient::new(config),
                config: config.clone(),
                events,
            }),
        }
    }

    /// Everyone may do everything (the default configuration).
    pub fn open() -> Self {
        Self::new(&AuthConfig::default(), EventBus::disabled())
    }

    /// The static rules' answer.
    pub fn check_rules(&self, req: &Request) -> Decision {
        let c = &self.inner.config;
        let list = match req.action {
            Action::Publish => &c.publish,
            Action::Play => &c.play,
        };
        rules::check(list, &c.token_param, req)
    }

    /// Whether a callback must be asked too.
    pub fn needs_hook(&self, action: Action) -> bool {
        self.hook_url(action).is_some()
    }

    fn hook_url(&self, action: Action) -> Option<&hyper::Uri> {
        let c = &self.inner.config;
        match action {
            Action::Publish => c.on_publish.as_ref().map(|u| &u.0),
            Action::Play => c.on_play.as_ref().map(|u| &u.0),
        }
    }

    /// The callback's answer (allows when none is configured). Bounded by `hook_timeout_ms`.
    pub async fn check_hook(&self, req: &Request) -> Decision {
        match self.hook_url(req.action) {
            Some(url) => self.inner.hook.ask(url, req).await,
            None => Decision::Allow,
        }
    }

    /// Reports a refusal: a warning and an `inStreamRefused` event.
    pub fn refused(&self, req: &Request, reason: &str) {
        tracing::warn!(
            action = req.action.as_str(),
            protocol = req.protocol,
            app = %req.app,
            stream = %req.stream,
            client = %req.client,
            "{} refused: {reason}",
            req.action.as_str()
        );
        self.inner.events.emit(
            EventType::InStreamRefused,
            json!({
                "action": req.action.as_str(),
                "protocol": req.protocol,
                "stream": req.stream,
                "app": req.app,
                "address": req.client,
                "reason": reason,
            }),
        );
    }

    /// The MPEG-TS source allowlist of this configuration.
    pub fn ts_allowlist(&self) -> allowlist::SourceAllowlist {
        allowlist::SourceAllowlist::new(
            self.inner.config.mpegts_allow.clone(),
            self.inner.events.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parts() {
        let r = Request::rtmp(
            Action::Publish,
            "live",
            "cam1",
            "cam1?token=a%20b&x=1",
            "[::1]:5000",
        );
        assert_eq!(r.query, "token=a%20b&x=1");
        assert_eq!(r.address(), "::1");
        let r = Request::rtmp(Action::Play, "live", "cam1", "cam1", "127.0.0.1:9");
        assert_eq!((r.query.as_str(), r.address()), ("", "127.0.0.1"));
    }
}
