//! `smoothcast serve` inside the test process, for tests where a whole process is not the
//! point: the library's server on a runtime thread of its own, every port 0 on 127.0.0.1,
//! stopped (as SIGTERM stops the binary) when dropped. Process-wide state (the metrics
//! registry, stdout) is shared with the rest of this test binary, so tests that read
//! metrics, logs or exit codes keep the real binary (`smoothcast_tests::server::Server`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use smoothcast::config::ServerConfig;
use smoothcast::server::{self, Listeners};

pub struct Server {
    pub json_cli: SocketAddr,
    pub ascii_cli: SocketAddr,
    pub http_api: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `webroot`, keeping API-created configs in `state_file`.
    pub fn start(webroot: &Path, state_file: &Path) -> Server {
        let config = ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtmp_port: 0,
            mpegts_port: 0,
            json_cli_port: 0,
            ascii_cli_port: 0,
            http_api_port: 0,
            web_port: 0,
            webroot: webroot.to_path_buf(),
            state_file: Some(state_file.to_path_buf()),
            ..ServerConfig::default()
        };
        let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let listeners = Listeners::bind(&config).await.expect("bind the listeners");
                let addr = |l: &tokio::net::TcpListener| l.local_addr().expect("local address");
                let _ = addrs_tx.send((
                    addr(&listeners.json_cli),
                    addr(&listeners.ascii_cli),
                    addr(&listeners.http_api),
                ));
                let stop = async move {
                    let _ = stopped.await;
                };
                server::run(config, listeners, false, stop)
                    .await
                    .expect("the server runs until stopped");
            })
        });
        let (json_cli, ascii_cli, http_api) = addrs_rx.recv().expect("the server started");
        Server {
            json_cli,
            ascii_cli,
            http_api,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic there has failed the test already (or will, through this join) only
            // when the test is not unwinding anyway.
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("the in-process server panicked");
            }
        }
    }
}
