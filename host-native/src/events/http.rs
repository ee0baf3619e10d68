//! The HTTP sink: POSTs each event as JSON to one endpoint, in order. A failed POST (error,
//! timeout or non-2xx) is retried with exponential backoff while later events wait, so the
//! receiver sees them in emission order. The queue is bounded: past its limit the oldest
//! event is dropped and counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;

use super::{backoff, EventsConfig, Outstanding};
use crate::metrics::{self, ErrorKind, EventDrop};

/// A response body larger than this is not read to its end (the connection is dropped).
const MAX_RESPONSE: usize = 64 * 1024;

pub(super) struct HttpSink {
    queue: Mutex<VecDeque<(u64, Bytes)>>,
    ready: Notify,
    limit: usize,
    outstanding: Arc<Outstanding>,
}

struct Settings {
    uri: Uri,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    backoff_max: Duration,
}

impl HttpSink {
    /// Checks the URL and starts the sender task on the current runtime.
    pub fn start(
        url: &str,
        config: &EventsConfig,
        outstanding: Arc<Outstanding>,
    ) -> Result<Arc<Self>> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            bail!("{url:?}: only http://host[:port]/path endpoints are supported");
        }
        let sink = Arc::new(Self {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            limit: config.http_queue_limit.max(1),
            outstanding,
        });
        let settings = Settings {
            uri,
            timeout: Duration::from_millis(config.http_timeout_ms.max(1)),
            retries: config.http_retries,
            backoff: Duration::from_millis(config.http_backoff_ms),
            backoff_max: Duration::from_millis(config.http_backoff_max_ms),
        };
        tokio::spawn(sink.clone().run(settings));
        Ok(sink)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Bytes)>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues events; drops the oldest past the limit.
    pub fn push(&self, events: &[(u64, Bytes)]) {
        if events.is_empty() {
            return;
        }
        {
            let mut q = self.lock();
            q.extend(events.iter().cloned());
            while q.len() > self.limit {
                q.pop_front();
                metrics::get().event_dropped(EventDrop::HttpQueueFull);
                self.outstanding.settle(1);
            }
        }
        self.ready.notify_one();
    }

    async fn run(self: Arc<Self>, s: Settings) {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http::<Full<Bytes>>();
        let mut failing = false;
        loop {
            let front = self.lock().front().cloned();
            let Some((seq, body)) = front else {
                self.ready.notified().await;
                continue;
            };
            let mut attempt = 0;
            let delivered = loop {
                match tokio::time::timeout(s.timeout, post(&client, &s.uri, body.clone())).await {
                    Ok(Ok(())) => break true,
                    Ok(Err(e)) => note_failure(&mut failing, seq, &e),
                    Err(_) => note_failure(&mut failing, seq, "timed out"),
                }
                if attempt >= s.retries {
                    break false;
                }
                tokio::time::sleep(backoff(s.backoff, s.backoff_max, attempt)).await;
                attempt += 1;
            };
            if delivered {
                if failing {
                    tracing::info!(endpoint = %s.uri, "event endpoint accepts events again");
                }
                failing = false;
                metrics::get().events_delivered("http", 1);
            } else {
                metrics::get().event_dropped(EventDrop::HttpRetriesExhausted);
            }
            // Unless the limit already dropped it while it was in flight.
            let mut q = self.lock();
            if q.front().is_some_and(|(front, _)| *front == seq) {
                q.pop_front();
                self.outstanding.settle(1);
            }
        }
    }
}

fn note_failure(failing: &mut bool, seq: u64, why: impl std::fmt::Display) {
    metrics::get().error(ErrorKind::EventSink);
    // One warning per outage, not one per retry.
    if !*failing {
        tracing::warn!(seq, "posting an event failed (retrying): {why}");
    }
    *failing = true;
}

/// One POST; Ok for a 2xx answer read to its end.
async fn post(client: &HttpClient, uri: &Uri, body: Bytes) -> Result<(), String> {
    let status = post_for_status(client, uri, body, "application/json", MAX_RESPONSE).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("endpoint answered {status}"))
    }
}

/// The plain-HTTP pooled client of the event sink and the `[auth]` callbacks.
pub(crate) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// POSTs `body` and reads the answer to its end (at most `max_answer` bytes are waited
/// for), so the pooled connection can be reused; the status says how it went.
pub(crate) async fn post_for_status(
    client: &HttpClient,
    uri: &Uri,
    body: Bytes,
    content_type: &'static str,
    max_answer: usize,
) -> Result<hyper::StatusCode, String> {
    let mut req = Request::post(uri.clone())
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut read = 0usize;
    while read <= max_answer {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls() {
        let c = EventsConfig::default();
        for bad in [
            "https://127.0.0.1/x",
            "127.0.0.1:9000/hook",
            "http:///x",
            "not a url",
        ] {
            assert!(HttpSink::start(bad, &c, Arc::default()).is_err(), "{bad}");
        }
    }

    /// A receiver refusing every body that contains `refuse`, recording the others.
    fn receiver(refuse: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut out = conn.try_clone().expect("clone");
                    let mut r = BufReader::new(conn);
                    loop {
                        let (mut line, mut len) = (String::new(), 0usize);
                        while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                            let l = line.to_ascii_lowercase();
                            if let Some(v) = l.strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            line.clear();
                        }
                        if line.is_empty() {
                            return;
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).into_owned();
                        let status = if body.contains(refuse) {
                            "503 Busy"
                        } else {
                            seen.lock().expect("lock").push(body);
                            "200 OK"
                        };
                        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                        if out.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, got)
    }

    #[tokio::test]
    async fn an_event_refused_through_every_retry_is_dropped_and_the_next_goes_on() {
        let (url, got) = receiver("poison");
        let config = EventsConfig {
            http_retries: 2,
            http_backoff_ms: 1,
            ..EventsConfig::default()
        };
        let dropped = metrics::get().dropped(EventDrop::HttpRetriesExhausted);
        let sink = HttpSink::start(&url, &config, Arc::default()).expect("sink");
        let ev = |n: u64, body: &'static str| (n, Bytes::from_static(body.as_bytes()));
        sink.push(&[ev(1, "one"), ev(2, "poison"), ev(3, "three")]);
        let start = std::time::Instant::now();
        while got.lock().expect("lock").len() < 2 {
            assert!(start.elapsed() < Duration::from_secs(10), "not delivered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*got.lock().expect("lock"), ["one", "three"]);
        assert!(metrics::get().dropped(EventDrop::HttpRetriesExhausted) > dropped);
    }

    #[test]
    fn the_oldest_go_past_the_limit() {
        let sink = HttpSink {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            limit: 2,
            outstanding: Arc::default(),
        };
        let ev = |n: u64| (n, Bytes::from(n.to_string()));
        sink.push(&[ev(1), ev(2)]);
        sink.push(&[ev(3)]);
        let kept: Vec<u64> = sink.lock().iter().map(|(n, _)| *n).collect();
        assert_eq!(kept, [2, 3]);
    }
}
