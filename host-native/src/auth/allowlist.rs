//! The MPEG-TS source allowlist (`[auth] mpegts_allow`). Checked before a sender gets any
//! state: a refused UDP source does not take a place in the sender table, so spoofed
//! datagrams from outside the allowed networks cannot crowd out the real encoder.
//!
//! Refusals are counted one by one but logged (and sent as `inStreamRefused`) at most once
//! per address and transport per minute: a UDP sender sends hundreds of datagrams a second.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::auth::Cidr;
use crate::events::{EventBus, EventType};

/// How often one address's refusals are logged.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Addresses remembered for rate-limiting the log; past this (a spoofing flood) refusals of
/// new addresses are still counted and dropped, only not logged one by one.
const MAX_TRACKED: usize = 4096;

/// A refused source as the log counts it: address and transport. Its entry holds when it
/// was last logged and the refusals since.
type Source = (IpAddr, &'static str);

pub struct SourceAllowlist {
    allow: Vec<Cidr>,
    events: EventBus,
    refused: AtomicU64,
    last_logged: Mutex<HashMap<Source, (Instant, u64)>>,
}

impl SourceAllowlist {
    pub fn new(allow: Vec<Cidr>, events: EventBus) -> Self {
        Self {
            allow,
            events,
            refused: AtomicU64::new(0),
            last_logged: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `from` may send; a refusal is counted and, at most once a minute per
    /// address, logged and reported. `what` names the transport for the log.
    pub fn admits(&self, from: SocketAddr, what: &'static str) -> bool {
        if self.allow.is_empty() || self.allow.iter().any(|c| c.contains(from.ip())) {
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let report = {
            let mut seen = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= MAX_TRACKED && !seen.contains_key(&(from.ip(), what)) {
                seen.retain(|_, (at, _)| now.duration_since(*at) < LOG_EVERY);
            }
            let room = seen.len() < MAX_TRACKED;
            match seen.get_mut(&(from.ip(), what)) {
                Some((at, since)) if now.duration_since(*at) < LOG_EVERY => {
                    *since += 1;
                    None
                }
                Some((at, since)) => {
                    *at = now;
                    Some(std::mem::take(since) + 1)
                }
                None if room => {
                    seen.insert((from.ip(), what), (now, 0));
                    Some(1)
                }
                None => None,
            }
        };
        if let Some(count) = report {
            let reason = "source address not in auth.mpegts_allow";
            tracing::warn!(%from, refused = count, "MPEG-TS over {what} refused: {reason}");
            self.events.emit(
                EventType::InStreamRefused,
                json!({
                    "action": "publish",
                    "protocol": what,
                    "stream": "",
                    "app": "",
                    "address": from.to_string(),
                    "reason": reason,
                }),
            );
        }
        false
    }

    /// Datagrams and connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_listed_networks_and_counts_the_rest() {
        let list = SourceAllowlist::new(
            vec![Cidr::try_from("127.0.0.1/32".to_string()).expect("cidr")],
            EventBus::disabled(),
        );
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(list.admits(a("127.0.0.1:5000"), "udp"));
        for _ in 0..1000 {
            assert!(!list.admits(a("127.0.0.2:5000"), "udp"));
        }
        assert_eq!(list.refused(), 1000);
        let seen = list.last_logged.lock().expect("lock");
        assert_eq!(seen.len(), 1, "one entry per address");
        assert_eq!(seen.values().next().map(|v| v.1), Some(999), "logged once");
        drop(seen);
        let open = SourceAllowlist::new(Vec::new(), EventBus::disabled());
        assert!(open.admits(a("[2001:db8::1]:1"), "tcp"));
    }
}
