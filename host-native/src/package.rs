//! `smoothcast package`: media files in, an on-demand Smooth Streaming presentation out.
//!
//! The presentation is built in a hidden staging folder beside the target and renamed into
//! place at the end, so a failure leaves nothing half-written and an earlier presentation of
//! the same group stays intact until the new one is complete.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use smoothcast_core::layout;
use smoothcast_core::package::{InputSpec, Session, SessionOptions, Step};
use smoothcast_core::presentation::{Event, Output};

use crate::cli::PackageArgs;
use crate::disk::OutputDir;
use crate::progress::Progress;

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
    let options = SessionOptions {
        inputs: inputs
            .iter()
            .map(|i| InputSpec {
                name: i.path.display().to_string(),
                bitrate: i.bitrate,
                seekable: None,
            })
            .collect(),
        chunk_length: args.chunk_length,
        manifest_name: args.manifest_name.clone(),
        stream_name: None,
        seekable: true,
        protection: args.protection.parse().map_err(|e| anyhow!(e))?,
    };
    // Checked before anything touches the disk.
    let session = Session::new(options).map_err(|e| anyhow!(e))?;

    let target = args.target_folder.to_string_lossy();
    if crate::store::is_store_location(&target) {
        return package_to_store(args, &inputs, session, &target);
    }

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
        package_into(&inputs, session, &staging).and_then(|()| replace_dir(&staging, &final_dir));
    match result {
        Ok(replaced) => {
            report(args, &final_dir, replaced);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// `--target-folder s3://bucket/prefix`: packaged into a private temporary folder as for a
/// local target, then uploaded, fragments first and the manifest last, so the presentation
/// appears in the store only once it is whole (an earlier one stays playable until then).
fn package_to_store(
    args: &PackageArgs,
    inputs: &[Input],
    session: Session,
    target: &str,
) -> Result<()> {
    let location = crate::store::Location::parse(target)?;
    let store =
        crate::store::Store::connect(&location, &Default::default())?.child(&args.group_name)?;
    let staging = std::env::temp_dir().join(format!(
        "smoothcast-package-{}-{}",
        args.group_name,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let result = package_into(inputs, session, &staging).and_then(|()| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(crate::store::upload_folder(&store, &staging))
    });
    if let Ok(count) = &result {
        println!("uploaded {count} objects to {}", store.location());
        report(args, &staging, false);
    }
    let _ = fs::remove_dir_all(&staging);
    result.map(|_| ())
}

/// Says on stdout what was made and how to play it (a script may ignore it; a person
/// should not have to guess).
fn report(args: &PackageArgs, dir: &Path, replaced: bool) {
    let manifest = dir.join(&args.manifest_name);
    if replaced {
        println!("replaced the presentation that was in {}", dir.display());
    }
    let summary = fs::read_to_string(&manifest)
        .ok()
        .and_then(|xml| smoothcast_core::manifest::parse(&xml).ok())
        .map(|m| {
            let streams: Vec<String> = m
                .stream_indexes
                .iter()
                .map(|s| {
                    let rates: Vec<String> = s
                        .quality_levels
                        .iter()
                        .map(|q| format!("{}", q.bitrate))
                        .collect();
                    format!("{} at {} bit/s", s.name, rates.join(", "))
                })
                .collect();
            format!(
                "{:.1} s; {}",
                m.duration as f64 / m.timescale.max(1) as f64,
                streams.join("; ")
            )
        })
        .unwrap_or_default();
    println!("made {} ({summary})", manifest.display());
    println!(
        "play /{group}/{name} (or /{group}/Manifest) from a web server whose root is {target}, \
         e.g. smoothcast serve --webroot {target}",
        group = args.group_name,
        name = args.manifest_name,
        target = args.target_folder.display(),
    );
}

/// Drives the core's packaging session over the input files, writing into `dir`.
fn package_into(inputs: &[Input], mut session: Session, dir: &Path) -> Result<()> {
    let out = OutputDir::new(dir.to_path_buf());
    let mut buf = vec![0u8; READ_CHUNK];
    for (index, input) in inputs.iter().enumerate() {
        let name = input.path.display().to_string();
        let mut file = File::open(&input.path).with_context(|| format!("{name}: cannot open"))?;
        let size = fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0);
        let mut progress = Progress::new(&name, size);
        let mut offset = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .with_context(|| format!("{name}: read failed"))?;
            if n == 0 {
                session.end().map_err(|e| anyhow!(e))?;
            } else {
                session.push(&buf[..n]).map_err(|e| anyhow!(e))?;
                offset += n as u64;
                progress.set(offset);
            }
            let (mut input_done, mut sought) = (false, false);
            while let Some(step) = session.poll() {
                match step {
                    Step::Output(Output::Event(Event::TrackIgnored {
                        level,
                        track,
                        reason,
                    })) => eprintln!("warning: {level}: track {track} not packaged: {reason}"),
                    Step::Output(output) => out.apply(output)?,
                    Step::Seek(to) => {
                        file.seek(SeekFrom::Start(to))
                            .with_context(|| format!("{name}: seek failed"))?;
                        offset = to;
                        sought = true;
                    }
                    Step::InputDone(i) => input_done |= i == index,
                    Step::Done => input_done = true,
                }
            }
            if input_done {
                break;
            }
            if n == 0 && !sought {
                // At the end of the file the session either moves on or asks to read again.
                bail!("{name}: the packager neither finished the input nor asked to read on");
            }
        }
        progress.done();
    }
    Ok(())
}

/// Moves the finished staging folder into place, replacing an earlier presentation only
/// after the new one is complete. True if one was replaced.
fn replace_dir(staging: &Path, target: &Path) -> Result<bool> {
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
        Ok(true)
    } else {
        fs::rename(staging, target)
            .with_context(|| format!("moving the presentation into {}", target.display()))?;
        Ok(false)
    }
}
