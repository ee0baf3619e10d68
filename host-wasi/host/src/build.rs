//! Builds the guest components on demand, so `cargo test --workspace` works on a fresh
//! clone. The guests are their own workspace (host-wasi/), built into `target/wasi-guests`:
//! a separate target dir, so this nested cargo never waits on the outer cargo's lock.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// The two components, by cargo package name and output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    Packager,
    Origin,
}

impl Guest {
    fn package(self) -> &'static str {
        match self {
            Guest::Packager => "smoothcast-wasi-packager",
            Guest::Origin => "smoothcast-wasi-origin",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Guest::Packager => "smoothcast_wasi_packager.wasm",
            Guest::Origin => "smoothcast-wasi-origin.wasm",
        }
    }
}

/// The repository root (this crate is `<root>/host-wasi/host`).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

pub fn guest_target_dir() -> PathBuf {
    repo_root().join("target").join("wasi-guests")
}

/// Builds (release, wasm32-wasip2; a no-op when up to date) and returns the component's
/// path. `SMOOTHCAST_WASI_NO_BUILD=1` skips the build and uses what is there.
pub fn component(guest: Guest) -> Result<PathBuf> {
    // Tests in one binary run in parallel; one build at a time keeps cargo's output sane.
    static BUILD: Mutex<()> = Mutex::new(());
    let _once = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let path = guest_target_dir()
        .join("wasm32-wasip2")
        .join("release")
        .join(guest.file());
    if std::env::var("SMOOTHCAST_WASI_NO_BUILD").is_ok_and(|v| v == "1") {
        return Ok(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            guest.package(),
        ])
        .arg("--manifest-path")
        .arg(repo_root().join("host-wasi").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(guest_target_dir())
        // The outer cargo's settings describe the native test build, not this one.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("running cargo to build the WASI guests")?;
    if !status.success() {
        bail!(
            "building {} for wasm32-wasip2 failed: {status}",
            guest.package()
        );
    }
    if !path.is_file() {
        bail!("{} was not produced", path.display());
    }
    Ok(path)
}
