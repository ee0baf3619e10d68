//! Server metrics, served as Prometheus text (format 0.0.4) at `GET /metrics` on the HTTP API
//! port.
//!
//! One process-wide set: the places that count (ingest, the disk writer, the web server, the
//! event sinks) are far apart, and a counter is an atomic add, so they reach it directly
//! instead of threading a handle through every constructor. Gauges that mirror state (the
//! stream registry) are read at scrape time.

use std::sync::{LazyLock, Mutex};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::server::AppState;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Names, help and buckets below are constants: only a typo in them could fail.
const CONST_OPTS: &str = "constant metric options are valid";

/// What goes wrong, by kind (`smoothcast_errors_total{kind}`).
#[derive(Debug, Clone, Copy)]
pub enum ErrorKind {
    /// A fragment or manifest could not be written, rewritten or removed.
    DiskWrite,
    /// Media the core refused (demux or packaging).
    Packaging,
    /// An event could not be delivered to a sink.
    EventSink,
    /// A source failed or broke its protocol: a pull that could not connect or was lost, an
    /// inbound MPEG-TS sender refused, an RTMP peer closed for misbehaving.
    Ingest,
    /// A panic caught in one connection, sender or listener (a bug met by some input): that
    /// peer was dropped and everything else ran on.
    Panic,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::DiskWrite => "disk_write",
            ErrorKind::Packaging => "packaging",
            ErrorKind::EventSink => "event_sink",
            ErrorKind::Ingest => "ingest",
            ErrorKind::Panic => "panic",
        }
    }
}

/// Where events were lost (`smoothcast_events_dropped_total{reason}`).
#[derive(Debug, Clone, Copy)]
pub enum EventDrop {
    /// The bus was full: emitters never wait.
    BusFull,
    /// The file sink fell behind.
    FileQueueFull,
    /// The HTTP sink's queue passed its limit; the oldest event went.
    HttpQueueFull,
    /// The HTTP endpoint refused an event through every retry.
    HttpRetriesExhausted,
}

impl EventDrop {
    fn label(self) -> &'static str {
        match self {
            EventDrop::BusFull => "bus_full",
            EventDrop::FileQueueFull => "file_queue_full",
            EventDrop::HttpQueueFull => "http_queue_full",
            EventDrop::HttpRetriesExhausted => "http_retries_exhausted",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    inbound_streams: IntGauge,
    stream_bytes_in: IntGaugeVec,
    mss_configs: IntGauge,
    bytes_in: IntCounter,
    bytes_out: IntCounterVec,
    fragments_written: IntCounter,
    fragments_rewritten: IntCounter,
    manifests_written: IntCounter,
    /// A group waited for its writer (its queue was full): ingest was held back.
    writer_waits: IntCounter,
    write_delay: Histogram,
    /// The web server's: bytes out (the `web` child of `bytes_out`, resolved once: it is
    /// counted per body chunk), requests by status class, time to the response head, cache
    /// lookups, cache size and refused connections.
    web_bytes: IntCounter,
    /// Children resolved once (2xx, 3xx, 4xx, 5xx; hit, miss): counted per request.
    web_requests: [IntCounter; 4],
    web_response: Histogram,
    web_cache: [IntCounter; 2],
    web_ready: IntCounter,
    web_cache_bytes: IntGauge,
    web_refused: IntCounterVec,
    errors: IntCounterVec,
    events_emitted: IntCounter,
    events_delivered: IntCounterVec,
    events_dropped: IntCounterVec,
    /// Scrapes reset and refill the per-stream gauges; one at a time.
    scrape: Mutex<()>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        // A duplicate name would be a bug here; the metric then still counts, unexported.
        fn reg<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
            if let Err(e) = r.register(Box::new(m.clone())) {
                tracing::error!("metric registration: {e}");
            }
            m
        }
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace("smoothcast");
        let counter = |name: &str, help: &str| {
            reg(
                &registry,
                IntCounter::with_opts(opts(name, help)).expect(CONST_OPTS),
            )
        };
        let counter_vec = |name: &str, help: &str, label: &str| {
            reg(
                &registry,
                IntCounterVec::new(opts(name, help), &[label]).expect(CONST_OPTS),
            )
        };
        let gauge = |name: &str, help: &str| {
            reg(
                &registry,
                IntGauge::with_opts(opts(name, help)).expect(CONST_OPTS),
            )
        };
        let write_delay = reg(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "mss_write_delay_seconds",
                    "From the arrival of the sample that completes a fragment to the fragment, \
                     its look-ahead rewrites and the manifest being on disk.",
                )
                .namespace("smoothcast")
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )
            .expect(CONST_OPTS),
        );
        let web_response = reg(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "web_response_seconds",
                    "Web server: from a request's arrival to its response head (status and \
                     headers ready; the body then streams).",
                )
                .namespace("smoothcast")
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ]),
            )
            .expect(CONST_OPTS),
        );
        let bytes_out = counter_vec(
            "bytes_out_total",
            "Bytes written to disk (fragment, manifest) and served by the web server (web).",
            "kind",
        );
        let m = Self {
            inbound_streams: gauge("inbound_streams", "Local streams being published now."),
            stream_bytes_in: reg(
                &registry,
                IntGaugeVec::new(
                    opts(
                        "stream_bytes_in",
                        "Bytes received so far by each current local stream.",
                    ),
                    &["stream"],
                )
                .expect(CONST_OPTS),
            ),
            mss_configs: gauge("mss_configs", "createMSSStream config entries."),
            bytes_in: counter(
                "bytes_in_total",
                "Bytes received by ingest (wire bytes of media).",
            ),
            web_bytes: bytes_out.with_label_values(&["web"]),
            bytes_out,
            web_requests: {
                let v = counter_vec(
                    "web_requests_total",
                    "Web server requests answered, by status class (2xx, 3xx, 4xx, 5xx).",
                    "status",
                );
                ["2xx", "3xx", "4xx", "5xx"].map(|c| v.with_label_values(&[c]))
            },
            web_response,
            web_cache: {
                let v = counter_vec(
                    "web_cache_lookups_total",
                    "Web file cache lookups (hit or miss; hit ratio = hit / (hit + miss)).",
                    "result",
                );
                ["hit", "miss"].map(|r| v.with_label_values(&[r]))
            },
            web_ready: counter(
                "web_ready_responses_total",
                "Web responses sent from a ready response (a target served recently, still current).",
            ),
            web_cache_bytes: gauge("web_cache_bytes", "Bytes held by the web file cache."),
            web_refused: counter_vec(
                "web_connections_refused_total",
                "Web connections closed at accept, by reason (per_address cap).",
                "reason",
            ),
            fragments_written: counter(
                "mss_fragments_written_total",
                "New MSS fragment files written.",
            ),
            fragments_rewritten: counter(
                "mss_fragments_rewritten_total",
                "Live fragments rewritten to announce later ones (tfrf).",
            ),
            manifests_written: counter("mss_manifests_written_total", "MSS manifests written."),
            writer_waits: counter(
                "mss_writer_waits_total",
                "Times packaging waited for a writer that was a full queue behind (ingest held back).",
            ),
            write_delay,
            errors: counter_vec("errors_total", "Errors by kind.", "kind"),
            events_emitted: counter("events_emitted_total", "Events emitted to the event bus."),
            events_delivered: counter_vec(
                "events_delivered_total",
                "Events written to the file sink or accepted by the HTTP endpoint.",
                "sink",
            ),
            events_dropped: counter_vec(
                "events_dropped_total",
                "Events lost, by reason.",
                "reason",
            ),
            scrape: Mutex::new(()),
            registry,
        };
        // Every known series from the start, at 0, so rates and alerts see the first one.
        for kind in ["fragment", "manifest", "web"] {
            m.bytes_out.with_label_values(&[kind]);
        }
        for kind in [
            ErrorKind::DiskWrite,
            ErrorKind::Packaging,
            ErrorKind::EventSink,
            ErrorKind::Ingest,
        ] {
            m.errors.with_label_values(&[kind.label()]);
        }
        for why in [
            EventDrop::BusFull,
            EventDrop::FileQueueFull,
            EventDrop::HttpQueueFull,
            EventDrop::HttpRetriesExhausted,
        ] {
            m.events_dropped.with_label_values(&[why.label()]);
        }
        m.web_refused.with_label_values(&["per_address"]);
        for sink in ["file", "http"] {
            m.events_delivered.with_label_values(&[sink]);
        }
        m
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.inc_by(n);
    }

    pub fn fragment_written(&self, bytes: usize) {
        self.fragments_written.inc();
        self.bytes_out
            .with_label_values(&["fragment"])
            .inc_by(bytes as u64);
    }

    pub fn fragment_rewritten(&self, bytes: usize) {
        self.fragments_rewritten.inc();
        self.bytes_out
            .with_label_values(&["fragment"])
            .inc_by(bytes as u64);
    }

    pub fn manifest_written(&self, bytes: usize) {
        self.manifests_written.inc();
        self.bytes_out
            .with_label_values(&["manifest"])
            .inc_by(bytes as u64);
    }

    pub fn web_bytes(&self, n: usize) {
        self.web_bytes.inc_by(n as u64);
    }

    /// One web response: its status and the time to its head.
    pub fn web_request(&self, status: u16, took: std::time::Duration) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.web_requests[class].inc();
        self.web_response.observe(took.as_secs_f64());
    }

    pub fn web_cache(&self, hit: bool) {
        self.web_cache[usize::from(!hit)].inc();
    }

    /// A response sent from a ready one (also a cache hit).
    pub fn web_ready(&self) {
        self.web_ready.inc();
        self.web_cache(true);
    }

    #[cfg(test)]
    pub fn web_ready_count(&self) -> u64 {
        self.web_ready.get()
    }

    pub fn web_cache_bytes(&self, n: u64) {
        self.web_cache_bytes
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn web_refused(&self, reason: &str) {
        self.web_refused.with_label_values(&[reason]).inc();
    }

    pub fn writer_waited(&self) {
        self.writer_waits.inc();
    }

    pub fn write_delay(&self, d: std::time::Duration) {
        self.write_delay.observe(d.as_secs_f64());
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.label()]).inc();
    }

    pub fn event_emitted(&self) {
        self.events_emitted.inc();
    }

    pub fn events_delivered(&self, sink: &str, n: usize) {
        self.events_delivered
            .with_label_values(&[sink])
            .inc_by(n as u64);
    }

    pub fn event_dropped(&self, why: EventDrop) {
        self.events_dropped.with_label_values(&[why.label()]).inc();
    }

    #[cfg(test)]
    pub fn dropped(&self, why: EventDrop) -> u64 {
        self.events_dropped.with_label_values(&[why.label()]).get()
    }

    /// The counters the console charts (`/console/state`), as plain numbers: its page turns
    /// the differences between two polls into rates.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "bytesIn": self.bytes_in.get(),
            "fragmentsWritten": self.fragments_written.get(),
            "writeDelaySumSeconds": self.write_delay.get_sample_sum(),
            "writeDelayCount": self.write_delay.get_sample_count(),
            "webBytes": self.web_bytes.get(),
            "webRequests": self.web_requests.iter().map(IntCounter::get).sum::<u64>(),
        })
    }

    /// The text a Prometheus scrape gets.
    pub fn render(&self, state: &AppState) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let streams = state.streams.list();
        self.inbound_streams.set(streams.len() as i64);
        self.stream_bytes_in.reset();
        for s in &streams {
            self.stream_bytes_in
                .with_label_values(&[s.name.as_str()])
                .set(i64::try_from(s.bytes_in).unwrap_or(i64::MAX));
        }
        self.mss_configs.set(state.outputs.list_mss().len() as i64);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("encoding metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
