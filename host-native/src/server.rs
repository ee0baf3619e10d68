//! `smoothcast serve`: binds every listener, runs them until shutdown, then stops cleanly.

use std::net::SocketAddr;
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

/// What every task shares.
pub struct AppState {
    pub config: ServerConfig,
    pub streams: StreamRegistry,
    pub outputs: OutputManager,
    pub pulls: PullManager,
    pub started: Instant,
    pub events: EventBus,
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
}

impl Listeners {
    pub async fn bind(config: &ServerConfig) -> Result<Self> {
        let bind = |port: u16, what: &'static str| {
            let addr = SocketAddr::new(config.bind, port);
            async move {
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for {what} on {addr}"))
            }
        };
        Ok(Self {
            rtmp: bind(config.rtmp_port, "RTMP").await?,
            json_cli: bind(config.json_cli_port, "the JSON CLI").await?,
            ascii_cli: bind(config.ascii_cli_port, "the ASCII CLI").await?,
            http_api: bind(config.http_api_port, "the HTTP API").await?,
            web: bind(config.web_port, "the web server").await?,
            mpegts_tcp: bind(config.mpegts_port, "MPEG-TS over TCP").await?,
            mpegts_udp: {
                let addr = SocketAddr::new(config.bind, config.mpegts_port);
                UdpSocket::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for MPEG-TS over UDP on {addr}"))?
            },
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
        )
    }
}

/// The demo clip, compiled in so `smoothcast serve --demo` works from anywhere.
const DEMO_CLIP: &[u8] = include_bytes!("../../media/demo.mp4");

/// Runs the server until `stop` resolves. With `demo`, the embedded clip is published as the
/// looping live stream `demo` and packaged into `<webroot>/demo/` (rolling, 2 s fragments).
pub async fn run(
    config: ServerConfig,
    listeners: Listeners,
    demo: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
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
    // One file cache: the writers fill it, the web server reads it.
    let web_cache = web::cache::Cache::new(config.web.cache_bytes, config.web.cache_max_file_bytes);
    let state = Arc::new(AppState {
        outputs: OutputManager::new(streams.clone())
            .with_allowed_roots(roots)
            .with_config_ids(ids.clone())
            .with_events(events.clone())
            .with_state(store.clone())
            .with_web_cache(web_cache),
        pulls: PullManager::new(streams.clone(), ids).with_state(store.clone()),
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
    if restored + restored_pulls > 0 {
        tracing::info!(
            mss = restored,
            pull = restored_pulls,
            "configs restored from the state file"
        );
    }
    let (tx, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(ingest::rtmp::serve(
        state.clone(),
        listeners.rtmp,
        rx.clone(),
    ));
    tasks.spawn(api::json_cli::serve(
        state.clone(),
        listeners.json_cli,
        rx.clone(),
    ));
    tasks.spawn(api::ascii_cli::serve(
        state.clone(),
        listeners.ascii_cli,
        rx.clone(),
    ));
    tasks.spawn(api::http::serve(
        state.clone(),
        listeners.http_api,
        rx.clone(),
    ));
    tasks.spawn(web::serve(state.clone(), listeners.web, rx.clone()));
    tasks.spawn(ingest::mpegts::inbound::serve(
        state.clone(),
        listeners.mpegts_tcp,
        listeners.mpegts_udp,
        rx.clone(),
    ));
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
    tokio::spawn(log_stream_lifecycle(state.streams.notices()));
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
    let _ = tx.send(true);
    state.pulls.shutdown_all();
    state.outputs.shutdown_all();
    while tasks.join_next().await.is_some() {}
    // The stopping outputs' and streams' last events reach the sinks (bounded wait).
    state.events.drain(std::time::Duration::from_secs(3)).await;
    Ok(())
}

fn start_demo(
    state: &Arc<AppState>,
    tasks: &mut JoinSet<Result<()>>,
    shutdown: Shutdown,
) -> Result<()> {
    let source = ingest::file::Source::Embedded {
        name: "demo.mp4",
        data: DEMO_CLIP,
    };
    let streams = state.streams.clone();
    tasks.spawn(async move {
        ingest::file::play(streams, source, "demo".into(), true, shutdown.clone()).await?;
        // The demo loops until shutdown; wait for it so the server does not stop early.
        let mut shutdown = shutdown;
        let _ = shutdown.changed().await;
        Ok(())
    });
    let mut params = crate::outputs::MssParams::with_defaults(
        vec!["demo".into()],
        state.config.webroot.display().to_string(),
        "demo".into(),
    );
    params.playlist_type = crate::outputs::PlaylistType::Rolling;
    params.chunk_length = 2;
    // The clip's rate is known: stating it skips the two seconds of measuring.
    params.bandwidths = vec![500_000];
    params.cleanup_destination = true;
    params.keep_alive = true;
    state
        .outputs
        .create_mss(params)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

/// Operators see streams come and go at `info` (`SMOOTHCAST_LOG=info`).
async fn log_stream_lifecycle(
    mut notices: tokio::sync::broadcast::Receiver<crate::streams::StreamNotice>,
) {
    use crate::streams::StreamNotice;
    loop {
        match notices.recv().await {
            Ok(StreamNotice::Created { name, id }) => {
                tracing::info!(stream = %name, id, "inbound stream created")
            }
            Ok(StreamNotice::Closed { name, id }) => {
                tracing::info!(stream = %name, id, "inbound stream closed")
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
