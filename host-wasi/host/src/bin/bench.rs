//! `smoothcast-wasi-bench CLIP.mp4 [--rounds N]`: the packager component against
//! `smoothcast package` (in-process, writing its files to a temporary folder) on the same
//! input in the same run (throughput ratio), the components' sizes, and
//! the JIT origin's per-request cold start (instantiation after compilation) and latency.
//! Run it in release: `bench/wasi_bench.sh` does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http_body_util::BodyExt;
use smoothcast_wasi_host::build::{self, Guest};
use smoothcast_wasi_host::origin::Origin;
use smoothcast_wasi_host::packager::{self, Layout, Options, Playlist, Runtime};
use smoothcast_wasi_host::reference::{self, InputSpec};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<()> {
    let mut clip = None;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            _ if clip.is_none() => clip = Some(PathBuf::from(a)),
            _ => bail!("usage: smoothcast-wasi-bench CLIP.mp4 [--rounds N]"),
        }
    }
    let clip = clip.context("usage: smoothcast-wasi-bench CLIP.mp4 [--rounds N]")?;
    let data = std::fs::read(&clip).with_context(|| clip.display().to_string())?;
    let mb = data.len() as f64 / 1e6;
    let inputs = [InputSpec {
        name: "in.mp4".into(),
        data,
        bitrate: Some(1_000_000),
    }];

    let packager_wasm = build::component(Guest::Packager)?;
    let origin_wasm = build::component(Guest::Origin)?;
    println!(
        "component sizes: packager {} bytes, origin {} bytes",
        std::fs::metadata(&packager_wasm)?.len(),
        std::fs::metadata(&origin_wasm)?.len()
    );

    let t = Instant::now();
    let rt = Runtime::new(&packager_wasm)?;
    println!(
        "packager compile: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let options = Options {
        // What `smoothcast package` names a single input's stream folder.
        layout: Layout::Single("in".into()),
        manifest_name: "manifest.ismc".into(),
        chunk_length_ms: 2000,
        chunk_on_idr: true,
        live: false,
        lookahead: 2,
        playlist: Playlist::Appending,
        time_offset: 0,
        protection: None,
    };
    // Interleaved rounds, so drift on the machine hits both alike.
    let (mut nat, mut wasm) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let a = reference::package(&inputs, 2.0)?;
        nat.push(t.elapsed());
        let t = Instant::now();
        let b = packager::package(&rt, &inputs, &options, 1 << 20)?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        wasm.push(t.elapsed());
        if a != b {
            bail!("component output differs from smoothcast package's");
        }
    }
    let (n, w) = (median(nat), median(wasm));
    println!(
        "packaging {mb:.1} MB: native {:.1} ms ({:.0} MB/s), component {:.1} ms ({:.0} MB/s), ratio {:.2}x",
        n.as_secs_f64() * 1e3,
        mb / n.as_secs_f64(),
        w.as_secs_f64() * 1e3,
        mb / w.as_secs_f64(),
        w.as_secs_f64() / n.as_secs_f64()
    );

    // The origin: a media folder with the clip as one group.
    let media = std::env::temp_dir().join(format!("smoothcast-wasi-bench-{}", std::process::id()));
    let group = media.join("movie");
    std::fs::create_dir_all(&group)?;
    std::fs::write(group.join("in@1000000.mp4"), &inputs[0].data)?;
    let t = Instant::now();
    let origin = Origin::new(&origin_wasm, &media)?;
    println!("origin compile: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let tokio = tokio::runtime::Runtime::new()?;
    let first_video = reference::package(&inputs, 2.0)?
        .fragments
        .into_keys()
        .find(|p| p.starts_with("in/video/1000000/"))
        .context("no video fragment")?;
    let t0 = first_video
        .trim_start_matches("in/video/1000000/")
        .trim_end_matches(".fmp4")
        .to_string();
    for (what, path) in [
        ("404", "/movie/index.html".to_string()),
        ("manifest", "/movie/Manifest".to_string()),
        (
            "first fragment",
            format!("/movie/QualityLevels(1000000)/Fragments(video={t0})"),
        ),
    ] {
        let (mut inst, mut total) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) * 4 {
            let req = hyper::Request::get(format!("http://bench{path}")).body(
                http_body_util::Empty::<bytes::Bytes>::new().map_err(
                    |never: std::convert::Infallible| -> wasmtime_wasi_http::Error {
                        match never {}
                    },
                ),
            )?;
            // The body is read to its end: a guest whose reader goes away traps in wstd.
            let (resp, timing) = tokio.block_on(async {
                let (resp, timing) = origin.handle(req).await?;
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                anyhow::Ok((body.to_bytes().len(), timing))
            })?;
            let _ = resp;
            inst.push(timing.instantiate);
            total.push(timing.total);
        }
        println!(
            "origin {what}: cold start (instantiate) {:.2} ms, response head {:.2} ms (medians)",
            median(inst).as_secs_f64() * 1e3,
            median(total).as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&media);
    Ok(())
}
