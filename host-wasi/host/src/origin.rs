//! Serves the JIT origin component over HTTP/1 with wasmtime-wasi-http, one fresh instance
//! per request (as `wasmtime serve` does), so CI needs no wasmtime-cli.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::State;

/// The guest path the media folder is mounted at (the component's default).
pub const GUEST_MEDIA: &str = "/media";

/// A compiled origin and the folder it serves.
pub struct Origin {
    pre: ProxyPre<State>,
    media: PathBuf,
}

/// What one request took, for the benchmark.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Store creation and instantiation: the per-request cold start.
    pub instantiate: Duration,
    /// Until the response head was set.
    pub total: Duration,
}

impl Origin {
    /// Compiles the component (once; every request then instantiates it afresh).
    pub fn new(component: &Path, media: &Path) -> Result<Arc<Self>> {
        let engine = Engine::new(&Config::new()).map_err(|e| anyhow!("{e}"))?;
        let component = Component::from_file(&engine, component).map_err(|e| anyhow!("{e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("{e}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Arc::new(Self {
            pre,
            media: media.to_path_buf(),
        }))
    }

    fn store(&self) -> Result<Store<State>> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr()
            .env("SMOOTHCAST_MEDIA", GUEST_MEDIA)
            .preopened_dir(&self.media, GUEST_MEDIA, FsPerms::ReadOnly)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Store::new(self.pre.engine(), State::new(wasi.build())))
    }

    /// Handles one request in a fresh instance.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: hyper::Request<B>,
    ) -> Result<(hyper::Response<HyperOutgoingBody>, Timing)>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        let mut store = self.store()?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| anyhow!("{e}"))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| anyhow!("{e}"))?;
        let pre = self.pre.clone();
        let (tx_inst, rx_inst) = tokio::sync::oneshot::channel();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            let _ = tx_inst.send(started.elapsed());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(store, req, out)
                .await
        });
        match receiver.await {
            Ok(Ok(resp)) => {
                let instantiate = rx_inst.await.unwrap_or_default();
                Ok((
                    resp,
                    Timing {
                        instantiate,
                        total: started.elapsed(),
                    },
                ))
            }
            Ok(Err(e)) => Err(anyhow!("guest error code: {e:?}")),
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "guest never set a response".to_string(),
                    Ok(Err(e)) => format!("guest trapped: {e}"),
                    Err(e) => format!("guest task failed: {e}"),
                };
                Err(anyhow!(why))
            }
        }
    }

    /// Accepts connections until the task is dropped or aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        loop {
            let (client, _) = listener.accept().await?;
            let origin = self.clone();
            tokio::task::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let origin = origin.clone();
                    async move {
                        match origin.handle(req).await {
                            Ok((resp, _)) => Ok::<_, std::convert::Infallible>(resp),
                            Err(e) => Ok(failure(&e)),
                        }
                    }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(client), service)
                    .await;
            });
        }
    }
}

/// A trap or host failure becomes a 500, never a dropped connection.
fn failure(e: &anyhow::Error) -> hyper::Response<HyperOutgoingBody> {
    use http_body_util::BodyExt;
    let body = http_body_util::Full::new(bytes::Bytes::from(format!("origin failure: {e}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    resp
}

/// Binds `addr` and serves in the background on the current tokio runtime.
pub async fn spawn(
    origin: Arc<Origin>,
    addr: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, tokio::task::spawn(origin.serve(listener))))
}
