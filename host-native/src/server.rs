//! `smoothcast serve`: binds every listener, runs them until shutdown, then stops cleanly.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::events::EventBus;
use crate::ingest::pull::PullManager;
use crate::outputs::OutputManager;
use crate::streams::StreamRegistry;
use crate::{api, ingest, web};

/// The server's handles together, for the API (whose commands span them) and the web
/// server; the other listeners and tasks are given only the handles they use.
pub struct AppState {
    pub config: ServerConfig,
    pub streams: StreamRegistry,
    pub outputs: OutputManager,
    pub pulls: PullManager,
    pub started: Instant,
    pub events: EventBus,
    /// Smooth Streaming publishing points (`[smooth_ingest]`, POSTs on the web port).
    pub smooth_ingest: crate::ingest::smooth::Points,
}

/// Flips to `true` once, when the server should stop; tasks select on `changed()`.
pub type Shutdown = watch::Receiver<bool>;

/// The bound listeners; binding happens before anything runs so a taken port is an error
/// at start, and port 0 (tests) resolves to a real port that can be printed.
pub struct Listeners {
    pub rtmp: TcpListener,
    pub json_cli: TcpListener,
    pub ascii_cli: TcpListener,
    pub http_api: TcpListener,
    pub web: TcpListener,
    pub mpegts_tcp: TcpListener,
    pub mpegts_udp: UdpSocket,
    /// HTTPS and RTMPS, with the certificate they share; `None` without `[tls]`.
    pub tls: Option<crate::tls::Listeners>,
}

impl Listeners {
    pub async fn bind(config: &ServerConfig) -> Result<Self> {
        use crate::config::security::ApiListener;
        let sec = &config.security;
        let bind = |ip: IpAddr, port: u16, what: &'static str| {
            let addr = SocketAddr::new(ip, port);
            async move {
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for {what} on {addr}"))
            }
        };
        // Media listeners follow `bind` unless given their own; the API stays on loopback.
        let api = |which| sec.api_listener_bind(which, config.bind);
        for (which, what) in [
            (ApiListener::JsonCli, "JSON CLI"),
            (ApiListener::AsciiCli, "ASCII CLI"),
            (ApiListener::HttpApi, "HTTP API"),
        ] {
            if !api(which).is_loopback() && sec.api_token.is_none() {
                tracing::warn!(
                    "the {what} listens on {} without an API token: requests from other \
                     machines are refused until [security] api_token is set",
                    api(which)
                );
            }
        }
        let mpegts = sec.mpegts_bind.unwrap_or(config.bind);
        Ok(Self {
            rtmp: bind(
                sec.rtmp_bind.unwrap_or(config.bind),
                config.rtmp_port,
                "RTMP",
            )
            .await?,
            json_cli: bind(
                api(ApiListener::JsonCli),
                config.json_cli_port,
                "the JSON CLI",
            )
            .await?,
            ascii_cli: bind(
                api(ApiListener::AsciiCli),
                config.ascii_cli_port,
                "the ASCII CLI",
            )
            .await?,
            http_api: bind(
                api(ApiListener::HttpApi),
                config.http_api_port,
                "the HTTP API",
            )
            .await?,
            web: bind(
                sec.web_bind.unwrap_or(config.bind),
                config.web_port,
                "the web server",
            )
            .await?,
            mpegts_tcp: bind(mpegts, config.mpegts_port, "MPEG-TS over TCP").await?,
            mpegts_udp: {
                let addr = SocketAddr::new(mpegts, config.mpegts_port);
                UdpSocket::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for MPEG-TS over UDP on {addr}"))?
            },
            tls: crate::tls::Listeners::bind(config).await?,
        })
    }

    /// One line tests and operators can read: `listening rtmp=... json=... ...`.
    pub fn describe(&self) -> String {
        let a = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let udp = |s: &UdpSocket| s.local_addr().map(|a| a.to_string()).unwrap_or_default();
        format!(
            "listening rtmp={} json_cli={} ascii_cli={} http_api={} web={} mpegts_tcp={} mpegts_udp={}",
            a(&self.rtmp),
            a(&self.json_cli),
            a(&self.ascii_cli),
            a(&self.http_api),
            a(&self.web),
            a(&self.mpegts_tcp),
            udp(&self.mpegts_udp)
        ) + &self.tls.as_ref().map(crate::tls::Listeners::describe).unwrap_or_default()
    }
}

/// The demo clip at three quality levels (one source, one GOP layout, so their fragments
/// line up and a player can switch between them), compiled in so `smoothcast serve --demo`
/// works from anywhere: local stream name, file name, bytes, bitrate (video + audio, bit/s).
const DEMO_LEVELS: [(&str, &str, &[u8], u32); 3] = [
    (
        "demo_hi",
        "demo_hi.mp4",
        include_bytes!("../../media/demo_hi.mp4"),
        1_350_000,
    ),
    (
        "demo",
        "demo.mp4",
        include_bytes!("../../media/demo.mp4"),
        530_000,
    ),
    (
        "demo_lo",
        "demo_lo.mp4",
        include_bytes!("../../media/demo_lo.mp4"),
        260_000,
    ),
];

/// Runs the server until `stop` resolves. With `demo`, the embedded clip is published as the
/// looping live stream `demo` and packaged into `<webroot>/demo/` (rolling, 2 s fragments).
pub async fn run(
    config: ServerConfig,
    listeners: Listeners,
    demo: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // The port the web server really listens on (0 in the config: chosen at bind), for
    // pages that link to it (the console's manifest links).
    let mut config = config;
    if let Ok(addr) = listeners.web.local_addr() {
        config.web_port = addr.port();
    }
    let events = crate::events::start(&config.events)?;
    let streams = StreamRegistry::new().with_events(events.clone());
    // createMSSStream may write under the web root and the configured output roots only.
    let mut roots = vec![config.webroot.clone()];
    roots.extend(config.allowed_output_roots.iter().cloned());
    // API-created configs come back from the state file: one section per kind of config.
    let store = match &config.state_file {
        Some(path) => crate::state::StateStore::open(path)?,
        None => crate::state::StateStore::in_memory(),
    };
    let ids = crate::status::ConfigIds::default();
    // file:// pulls read inside the web root unless told otherwise.
    let file_pull_roots = config
        .security
        .file_pull_roots
        .clone()
        .unwrap_or_else(|| vec![config.webroot.clone()]);
    // One file cache: the writers fill it, the web server reads it.
    let web_cache = web::cache::Cache::with_lookahead(
        config.web.cache_bytes,
        config.web.cache_max_file_bytes,
        config.web.lookahead_memory_bytes,
    );
    let state = Arc::new(AppState {
        outputs: OutputManager::new(streams.clone())
            .with_allowed_roots(roots)
            .with_max_configs(config.security.max_mss_configs)
            .with_fragment_limits(
                config.limits.max_fragment_seconds,
                Some(config.limits.max_fragment_bytes),
            )
            .with_rewrite_in_place(config.web.live_rewrite_in_place)
            .with_config_ids(ids.clone())
            .with_events(events.clone())
            .with_state(store.clone())
            .with_web_cache(web_cache)
            .with_served_root(&config.webroot)
            .with_object_store(config.object_store.clone()),
        pulls: PullManager::new(streams.clone(), ids)
            .with_state(store.clone())
            .with_file_roots(&file_pull_roots)
            .with_max_pulls(config.security.max_pulls),
        smooth_ingest: crate::ingest::smooth::Points::new(
            config.smooth_ingest.clone(),
            crate::auth::Authorizer::new(&config.auth, events.clone()),
        ),
        streams,
        events,
        config,
        started: Instant::now(),
    });
    let restored = state.outputs.restore().map_err(|e| {
        anyhow::anyhow!(
            "state file {}: {e}",
            store.path().unwrap_or_default().display()
        )
    })?;
    let restored_pulls = state.pulls.restore().map_err(|e| {
        anyhow::anyhow!(
            "state file {}: {e}",
            store.path().unwrap_or_default().display()
        )
    })?;
    // One line on stdout (the last of the start lines): what came back from the state file.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "restored mss={} mss_failed={} pull={}",
            restored.running, restored.failed, restored_pulls
        );
        let _ = out.flush();
    }
    if restored.running + restored.failed + restored_pulls > 0 {
        tracing::info!(
            mss = restored.running,
            mss_failed = restored.failed,
            pull = restored_pulls,
            "configs restored from the state file"
        );
    }
    // Subscribed before anything can publish (the demo starts below): a notice sent before
    // the subscription would never be logged.
    tokio::spawn(log_stream_lifecycle(state.streams.notices()));
    let (tx, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut listeners = listeners;
    let tls = listeners.tls.take();
    spawn_listeners(&state, listeners, &mut tasks, &rx)?;
    if let Some(tls) = tls {
        tls.spawn(&state, &mut tasks, &rx);
    }
    if demo {
        start_demo(&state, &mut tasks, rx.clone())?;
    }
    if let Some(auto) = state.config.auto_mss.clone() {
        tasks.spawn(crate::outputs::auto_mss::run(
            auto,
            state.streams.clone(),
            state.outputs.clone(),
            rx.clone(),
        ));
    }
    tokio::select! {
        () = stop => {}
        Some(res) = tasks.join_next() => {
            // A listener ending on its own is a failure: report it after stopping the rest.
            let _ = tx.send(true);
            state.pulls.shutdown_all();
            while tasks.join_next().await.is_some() {}
            return match res {
                Ok(Ok(())) => Err(anyhow::anyhow!("a listener stopped unexpectedly")),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::anyhow!("a listener panicked: {e}")),
            };
        }
    }
    tracing::info!(target: crate::NOTICE, "shutting down");
    let _ = tx.send(true);
    state.pulls.shutdown_all();
    state.outputs.shutdown_all();
    while tasks.join_next().await.is_some() {}
    // Fragments that left a window before the stop are gone before a restart looks.
    let _ = tokio::task::spawn_blocking(|| {
        crate::outputs::reaper::drain(std::time::Duration::from_secs(5))
    })
    .await;
    // The stopping outputs' and streams' last events reach the sinks (bounded wait).
    state.events.drain(std::time::Duration::from_secs(3)).await;
    Ok(())
}

/// Every listener under [`crate::supervise::supervise`]: a listener that panics is bound
/// again on its address and restarted; the rest of the server runs on.
fn spawn_listeners(
    state: &Arc<AppState>,
    listeners: Listeners,
    tasks: &mut JoinSet<Result<()>>,
    rx: &Shutdown,
) -> Result<()> {
    use crate::supervise::{supervise, ListenerFuture};
    /// A listener run under the supervisor with the handle `serve` takes (each listener is
    /// given only what it needs: the RTMP and MPEG-TS ingest their narrow contexts).
    fn tcp<H, F>(
        what: &'static str,
        handle: H,
        listener: TcpListener,
        rx: &Shutdown,
        serve: fn(H, TcpListener, Shutdown) -> F,
    ) -> Result<impl std::future::Future<Output = Result<()>> + Send + 'static>
    where
        H: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let mut first = Some(listener);
        let shutdown = rx.clone();
        Ok(supervise(what, rx.clone(), move || -> ListenerFuture {
            let (pre, handle, shutdown) = (first.take(), handle.clone(), shutdown.clone());
            Box::pin(async move {
                let listener = match pre {
                    Some(l) => l,
                    None => TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen for {what} on {addr} again"))?,
                };
                serve(handle, listener, shutdown).await
            })
        }))
    }
    let rtmp =
        ingest::rtmp::Context::new(state.streams.clone(), &state.config, state.events.clone());
    tasks.spawn(tcp("RTMP", rtmp, listeners.rtmp, rx, ingest::rtmp::serve)?);
    tasks.spawn(tcp(
        "JSON CLI",
        state.clone(),
        listeners.json_cli,
        rx,
        api::json_cli::serve,
    )?);
    tasks.spawn(tcp(
        "ASCII CLI",
        state.clone(),
        listeners.ascii_cli,
        rx,
        api::ascii_cli::serve,
    )?);
    tasks.spawn(tcp(
        "HTTP API",
        state.clone(),
        listeners.http_api,
        rx,
        api::http::serve,
    )?);
    tasks.spawn(tcp("web", state.clone(), listeners.web, rx, web::serve)?);
    let tcp_addr = listeners.mpegts_tcp.local_addr()?;
    let udp_addr = listeners.mpegts_udp.local_addr()?;
    let mut first = Some((listeners.mpegts_tcp, listeners.mpegts_udp));
    let mpegts = ingest::mpegts::inbound::Context::new(
        state.streams.clone(),
        &state.config,
        state.events.clone(),
    );
    let shutdown = rx.clone();
    tasks.spawn(supervise(
        "MPEG-TS",
        rx.clone(),
        move || -> ListenerFuture {
            let (pre, ctx, shutdown) = (first.take(), mpegts.clone(), shutdown.clone());
            Box::pin(async move {
                let (tcp, udp) = match pre {
                    Some(pair) => pair,
                    None => (
                        TcpListener::bind(tcp_addr).await.with_context(|| {
                            format!("cannot listen for MPEG-TS over TCP on {tcp_addr} again")
                        })?,
                        UdpSocket::bind(udp_addr).await.with_context(|| {
                            format!("cannot listen for MPEG-TS over UDP on {udp_addr} again")
                        })?,
                    ),
                };
                ingest::mpegts::inbound::serve(ctx, tcp, udp, shutdown).await
            })
        },
    ));
    Ok(())
}

fn start_demo(
    state: &Arc<AppState>,
    tasks: &mut JoinSet<Result<()>>,
    shutdown: Shutdown,
) -> Result<()> {
    for (stream, name, data, _) in DEMO_LEVELS {
        let source = ingest::file::Source::Embedded { name, data };
        let streams = state.streams.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            ingest::file::play(streams, source, stream.into(), true, shutdown.clone()).await?;
            // The demo loops until shutdown; wait for it so the server does not stop early.
            let mut shutdown = shutdown;
            let _ = shutdown.changed().await;
            Ok(())
        });
    }
    let mut params = crate::outputs::MssParams::with_defaults(
        DEMO_LEVELS.iter().map(|l| l.0.to_string()).collect(),
        state.config.webroot.display().to_string(),
        "demo".into(),
    );
    params.playlist_type = crate::outputs::PlaylistType::Rolling;
    params.chunk_length = 2;
    // The clips' rates are known: stating them skips the two seconds of measuring.
    params.bandwidths = DEMO_LEVELS.iter().map(|l| l.3).collect();
    params.cleanup_destination = true;
    params.keep_alive = true;
    state
        .outputs
        .create_mss(params)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

/// Operators see streams arrive at the default level (one line each, target
/// [`crate::NOTICE`]) and go at `info` (`SMOOTHCAST_LOG=info`).
async fn log_stream_lifecycle(
    mut notices: tokio::sync::broadcast::Receiver<crate::streams::StreamNotice>,
) {
    use crate::streams::StreamNotice;
    loop {
        match notices.recv().await {
            Ok(StreamNotice::Created { name, id }) => {
                tracing::info!(target: crate::NOTICE, stream = %name, id, "inbound stream created")
            }
            Ok(StreamNotice::Closed { name, id }) => {
                tracing::info!(stream = %name, id, "inbound stream closed")
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
