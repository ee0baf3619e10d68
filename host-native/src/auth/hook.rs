//! The publish/play HTTP callback, as nginx-rtmp's `on_publish`/`on_play` and SRS's
//! `http_hooks`: one POST per request, and only a 2xx answer within the timeout allows.
//! Anything else (another status, a connection error, a timeout) refuses: a callback that
//! cannot answer must not open the door.
//!
//! The body is JSON by default:
//! `{"action":"publish","protocol":"rtmp","app":"live","stream":"cam1","query":"token=x",
//! "client":"203.0.113.7:50124","addr":"203.0.113.7"}`; with `hook_format = "form"` it is
//! nginx-rtmp's form (`call=publish&app=live&name=cam1&addr=...&clientid=...` followed by the
//! stream key's query arguments), so existing nginx-rtmp auth endpoints work unchanged.
//! Same HTTP client as the events sink (hyper-util's pooled client, plain HTTP).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::{Decision, Request};
use crate::config::auth::HookFormat;
use crate::config::AuthConfig;

/// More of an answer than this is not read (the answer's status is all that counts).
const MAX_RESPONSE: usize = 16 * 1024;

/// The longest `hook_timeout_ms` honoured (RTMP's own setup deadline is 30 s).
pub const MAX_TIMEOUT_MS: u64 = 30_000;

pub struct HookClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    format: HookFormat,
}

impl HookClient {
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build_http(),
            // Capped: a connection waiting for its callback holds a connection slot.
            timeout: Duration::from_millis(config.hook_timeout_ms.clamp(1, MAX_TIMEOUT_MS)),
            format: config.hook_format,
        }
    }

    /// Asks `url` about `req`.
    pub async fn ask(&self, url: &Uri, req: &Request) -> Decision {
        let (body, content_type) = match self.format {
            HookFormat::Json => (json_body(req), "application/json"),
            HookFormat::Form => (form_body(req), "application/x-www-form-urlencoded"),
        };
        match tokio::time::timeout(self.timeout, self.post(url, body, content_type)).await {
            Ok(Ok(status)) if status.is_success() => Decision::Allow,
            Ok(Ok(status)) => Decision::Refuse(format!(
                "the {} callback answered {status}",
                req.action.as_str()
            )),
            Ok(Err(e)) => {
                Decision::Refuse(format!("the {} callback failed: {e}", req.action.as_str()))
            }
            Err(_) => Decision::Refuse(format!(
                "the {} callback did not answer within {:?}",
                req.action.as_str(),
                self.timeout
            )),
        }
    }

    async fn post(
        &self,
        url: &Uri,
        body: String,
        content_type: &'static str,
    ) -> Result<hyper::StatusCode, String> {
        crate::events::http::post_for_status(
            &self.client,
            url,
            Bytes::from(body),
            content_type,
            MAX_RESPONSE,
        )
        .await
    }
}

fn json_body(req: &Request) -> String {
    json!({
        "action": req.action.as_str(),
        "protocol": req.protocol,
        "app": req.app,
        "stream": req.stream,
        "query": req.query,
        "client": req.client,
        "addr": req.address(),
    })
    .to_string()
}

fn form_body(req: &Request) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("call", req.action.as_str())
        .append_pair("app", &req.app)
        .append_pair("name", &req.stream)
        .append_pair("addr", req.address())
        .append_pair("clientid", &req.client);
    let mut body = form.finish();
    // nginx-rtmp appends the client's own arguments as they came.
    if !req.query.is_empty() {
        body.push('&');
        body.push_str(&req.query);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Action;

    #[test]
    fn bodies() {
        let r = Request::rtmp(
            Action::Publish,
            "live",
            "cam 1",
            "cam 1?token=x",
            "10.0.0.1:5",
        );
        assert_eq!(
            form_body(&r),
            "call=publish&app=live&name=cam+1&addr=10.0.0.1&clientid=10.0.0.1%3A5&token=x"
        );
        let j: serde_json::Value = serde_json::from_str(&json_body(&r)).expect("json");
        assert_eq!(j["stream"], "cam 1");
        assert_eq!(j["query"], "token=x");
        assert_eq!(j["addr"], "10.0.0.1");
    }
}
