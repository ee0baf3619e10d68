//! `smoothcast-wasi-serve --media DIR [--addr 127.0.0.1:8080] [--component FILE]`: serves the
//! JIT origin component like `wasmtime serve -S cli --dir DIR::/media`, for machines
//! without wasmtime-cli. Without `--component` it builds the component first.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use smoothcast_wasi_host::build::{self, Guest};
use smoothcast_wasi_host::origin::{self, Origin};

#[tokio::main]
async fn main() -> Result<()> {
    let mut media = None;
    let mut addr = "127.0.0.1:8080".to_string();
    let mut component = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--media" => media = Some(PathBuf::from(value()?)),
            "--addr" => addr = value()?,
            "--component" => component = Some(PathBuf::from(value()?)),
            _ => bail!(
                "usage: smoothcast-wasi-serve --media DIR [--addr HOST:PORT] [--component FILE]"
            ),
        }
    }
    let media = media.context("--media DIR is required")?;
    let component = match component {
        Some(c) => c,
        None => build::component(Guest::Origin)?,
    };
    let origin = Origin::new(&component, &media)?;
    let (local, task) = origin::spawn(origin, addr.parse()?).await?;
    println!(
        "serving {} on http://{local}/<group>/Manifest",
        media.display()
    );
    task.await?
}
