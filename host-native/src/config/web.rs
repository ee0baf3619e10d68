//! `[web]`: the web server's limits and its file cache. Every key is optional.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct WebConfig {
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: u32,
    /// Connections one client address may hold at once; more are closed at accept, so one
    /// host cannot take every slot. 0: no per-address limit.
    pub max_connections_per_address: u32,
    /// A response that makes no progress (the client reads nothing) for this many seconds
    /// closes its connection. 0: no limit.
    pub send_timeout_secs: f64,
    /// Time a client gets to send a request's headers, also the keep-alive idle limit.
    pub header_timeout_secs: f64,
    /// Bytes of served files kept in memory (0: no cache).
    pub cache_bytes: u64,
    /// Files larger than this are streamed from the disk, never cached.
    pub cache_max_file_bytes: u64,
    /// Used only with `live_rewrite_in_place = false`: bytes of live look-ahead versions kept
    /// in memory (the newest fragments of a live presentation under the web root, before
    /// their tfrf is complete), so that each fragment is written to disk once instead of
    /// three times. Only for folders that this server alone serves: see `web::lookahead` for
    /// what an external web server and a crash then miss. 0 (the default): none.
    pub lookahead_memory_bytes: u64,
    /// A live fragment in a folder is written once, with room in its tfrf for the fragments
    /// it will announce, and each later version rewrites its head in place: one write of the
    /// media instead of three, every version on disk for any web server, and no media kept
    /// in memory for the rewrites. `lookahead_memory_bytes` then goes unused. `false`: every
    /// version is a new file renamed into place (the media written three times). Default on.
    pub live_rewrite_in_place: bool,
    /// Manifests are sent gzip-compressed to clients that accept it.
    pub gzip: bool,
    /// Fragment bodies (16 KiB and up) on plain HTTP go out with `sendfile` from the page
    /// cache instead of being copied from memory (as nginx's `sendfile on`). Off for file
    /// systems where `sendfile` misbehaves.
    pub sendfile: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_address: 64,
            send_timeout_secs: 30.0,
            header_timeout_secs: 15.0,
            cache_bytes: crate::web::cache::DEFAULT_BUDGET,
            cache_max_file_bytes: crate::web::cache::DEFAULT_MAX_FILE,
            lookahead_memory_bytes: crate::web::lookahead::DEFAULT_BUDGET,
            live_rewrite_in_place: true,
            gzip: true,
            sendfile: true,
        }
    }
}

impl WebConfig {
    /// A seconds value as a duration; `None` for 0 (off), negative or not a number.
    pub fn secs(v: f64) -> Option<std::time::Duration> {
        (v.is_finite() && v > 0.0).then(|| std::time::Duration::from_secs_f64(v.min(1e9)))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn web_section() {
        let c: ServerConfig = toml::from_str(
            "[web]\nsend_timeout_secs = 2.5\nmax_connections_per_address = 0\ngzip = false\n",
        )
        .expect("parses");
        assert_eq!(c.web.send_timeout_secs, 2.5);
        assert_eq!(c.web.max_connections_per_address, 0);
        assert!(!c.web.gzip);
        assert_eq!(c.web.max_connections, 1024, "the rest default");
        assert!(toml::from_str::<ServerConfig>("[web]\nsend_timeout = 1\n").is_err());
        assert_eq!(
            super::WebConfig::secs(2.5),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(super::WebConfig::secs(0.0), None, "0 is off");
        assert_eq!(super::WebConfig::secs(f64::NAN), None);
    }
}
