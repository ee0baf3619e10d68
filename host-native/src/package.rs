//! `smoothcast package`: media files in, an on-demand Smooth Streaming presentation out.
//!
//! The presentation is built in a hidden staging folder beside the target and renamed into
//! place at the end, so a failure leaves nothing half-written and an earlier presentation of
//! the same group stays intact until the new one is complete.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use smoothcast_core::demux::{self, DemuxEvent, Demuxer};
use smoothcast_core::layout::{self, Layout};
use smoothcast_core::presentation::{Presentation, PresentationOptions};
use smoothcast_core::time::secs_to_mss;
use smoothcast_core::TrackKind;

use crate::disk::OutputDir;
use crate::progress::Progress;
use crate::PackageArgs;

const READ_CHUNK: usize = 1 << 20;

/// One command-line input: a file and, optionally, the bitrate to announce for it.
struct Input {
    path: PathBuf,
    bitrate: Option<u32>,
}

fn parse_input(arg: &str) -> Result<Input> {
    // FILE@BITRATE, but a file name may itself contain '@': only a numeric tail is a bitrate.
    if let Some((file, rate)) = arg.rsplit_once('@') {
        if !rate.is_empty() && rate.bytes().all(|b| b.is_ascii_digit()) {
            let bitrate: u32 = rate
                .parse()
                .map_err(|_| anyhow!("{arg}: bitrate {rate} is out of range"))?;
            if bitrate == 0 {
                bail!("{arg}: bitrate must be above 0");
            }
            return Ok(Input {
                path: PathBuf::from(file),
                bitrate: Some(bitrate),
            });
        }
    }
    Ok(Input {
        path: PathBuf::from(arg),
        bitrate: None,
    })
}

pub fn run(args: &PackageArgs) -> Result<()> {
    layout::validate_component("group name", &args.group_name).map_err(|e| anyhow!(e))?;
    layout::validate_component("manifest name", &args.manifest_name).map_err(|e| anyhow!(e))?;
    if !(args.chunk_length.is_finite() && (0.1..=3600.0).contains(&args.chunk_length)) {
        bail!("--chunk-length must be between 0.1 and 3600 seconds");
    }
    let inputs: Vec<Input> = args
        .inputs
        .iter()
        .map(|a| parse_input(a))
        .collect::<Result<_>>()?;
    for input in &inputs {
        if !input.path.is_file() {
            bail!("{}: no such file", input.path.display());
        }
    }
    let layout = if inputs.len() == 1 {
        Layout::Single {
            stream: stream_name(&inputs[0].path)?,
        }
    } else {
        Layout::Multi
    };
    let mut options = PresentationOptions::vod(layout);
    options.manifest_name = args.manifest_name.clone();
    options.chunk_length = secs_to_mss((args.chunk_length * 1000.0).round() as u64, 1000);

    fs::create_dir_all(&args.target_folder)
        .with_context(|| format!("creating target folder {}", args.target_folder.display()))?;
    let final_dir = args.target_folder.join(&args.group_name);
    let staging = args.target_folder.join(format!(
        ".{}.partial-{}",
        args.group_name,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let result =
        package_into(&inputs, options, &staging).and_then(|()| replace_dir(&staging, &final_dir));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Builds the whole presentation inside `dir`.
fn package_into(inputs: &[Input], options: PresentationOptions, dir: &Path) -> Result<()> {
    let out = OutputDir::new(dir.to_path_buf());
    let mut presentation = Presentation::new(options);
    let mut levels = Vec::new();
    for input in inputs {
        let name = input.path.display().to_string();
        let bitrate = match input.bitrate {
            Some(b) => b,
            None => measure_bitrate(&input.path).with_context(|| name.clone())?,
        };
        levels.push(
            presentation
                .add_quality_level(&name, bitrate)
                .map_err(|e| anyhow!(e))?,
        );
    }
    for (input, level) in inputs.iter().zip(levels) {
        let name = input.path.display().to_string();
        let mut progress = Progress::new(
            &name,
            fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0),
        );
        demux_file(&input.path, &mut progress, |event| {
            presentation
                .handle_demux_event(level, event)
                .map_err(|e| anyhow!(e))?;
            while let Some(output) = presentation.poll_output() {
                out.apply(output)?;
            }
            Ok(())
        })
        .with_context(|| name.clone())?;
        progress.done();
        // A Smooth presentation without video is legal, but from `package` it is almost
        // always the wrong file; EMS's MSS output needs video too.
        if !presentation.has_track(level, TrackKind::Video) {
            bail!("{name}: no H.264 video track");
        }
    }
    presentation.finish().map_err(|e| anyhow!(e))?;
    while let Some(output) = presentation.poll_output() {
        out.apply(output)?;
    }
    Ok(())
}

/// Reads a file through the right demuxer, honouring seeks, and hands every event on.
fn demux_file(
    path: &Path,
    progress: &mut Progress,
    mut on_event: impl FnMut(DemuxEvent) -> Result<()>,
) -> Result<()> {
    let mut file = File::open(path).context("cannot open")?;
    let mut buf = vec![0u8; READ_CHUNK];
    let head_len = read_full(&mut file, &mut buf[..376])?;
    let container = demux::sniff(&buf[..head_len])
        .ok_or_else(|| anyhow!("not a media file Smoothcast reads (MP4, MOV, MPEG-TS or FLV)"))?;
    file.seek(SeekFrom::Start(0))?;
    let mut demuxer: Box<dyn Demuxer + Send> = demux::for_container(container, true);
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf).context("read failed")?;
        if n == 0 {
            demuxer.finish()?;
        } else {
            demuxer.push(&buf[..n])?;
            done += n as u64;
            progress.set(done);
        }
        while let Some(event) = demuxer.poll() {
            if let DemuxEvent::Seek(offset) = event {
                file.seek(SeekFrom::Start(offset)).context("seek failed")?;
                done = offset;
            } else {
                on_event(event)?;
            }
        }
        if n == 0 {
            return Ok(());
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The input's average bitrate (all packaged tracks), from the container's tables when it has
/// them (MP4), otherwise from one pass over the samples.
fn measure_bitrate(path: &Path) -> Result<u32> {
    let mut stated: Vec<Option<u64>> = Vec::new();
    let mut bytes = 0u64;
    let mut spans: std::collections::HashMap<u32, (i64, i64, u32)> = Default::default();
    let mut timescales: std::collections::HashMap<u32, u32> = Default::default();
    let stop = "stated";
    let result = demux_file(path, &mut Progress::new("", 0), |event| {
        match event {
            DemuxEvent::Track(info) | DemuxEvent::TrackChanged(info) => {
                stated.push(info.avg_bitrate);
                timescales.insert(info.id, info.timescale);
            }
            DemuxEvent::Sample(s) => {
                if !stated.is_empty() && stated.iter().all(Option::is_some) {
                    return Err(anyhow!(stop));
                }
                bytes += s.data.len() as u64;
                let e = spans.entry(s.track).or_insert((s.dts, s.dts, 0));
                e.0 = e.0.min(s.dts);
                e.1 = e.1.max(s.dts + i64::from(s.duration.unwrap_or(0)));
                e.2 = s.duration.unwrap_or(e.2);
            }
            DemuxEvent::Seek(_) => {}
        }
        Ok(())
    });
    if let Err(e) = result {
        if e.to_string() != stop {
            return Err(e);
        }
        let total: u64 = stated.iter().flatten().sum();
        return u32::try_from(total.max(1)).context("bitrate too large");
    }
    let secs = spans
        .iter()
        .map(|(id, (lo, hi, _))| (hi - lo) as f64 / f64::from(*timescales.get(id).unwrap_or(&1)))
        .fold(0.0f64, f64::max);
    if secs <= 0.0 {
        bail!("no samples to measure the bitrate of");
    }
    Ok(((bytes as f64 * 8.0 / secs).round() as u64).clamp(1, u64::from(u32::MAX)) as u32)
}

/// The stream name of a single input: its file stem, as EMS names the stream folder.
fn stream_name(path: &Path) -> Result<String> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('.').to_string();
    layout::validate_component("stream name", &cleaned).map_err(|e| anyhow!(e))?;
    Ok(cleaned)
}

/// Moves the finished staging folder into place, replacing an earlier presentation only
/// after the new one is complete.
fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        let old = target.with_file_name(format!(
            ".{}.old-{}",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        fs::rename(target, &old).with_context(|| format!("moving aside {}", target.display()))?;
        if let Err(e) = fs::rename(staging, target) {
            let _ = fs::rename(&old, target);
            return Err(e)
                .with_context(|| format!("moving the presentation into {}", target.display()));
        }
        let _ = fs::remove_dir_all(&old);
        Ok(())
    } else {
        fs::rename(staging, target)
            .with_context(|| format!("moving the presentation into {}", target.display()))
    }
}
