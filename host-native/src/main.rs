//! The `smoothcast` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod disk;
mod package;
mod progress;

#[derive(Parser)]
#[command(
    name = "smoothcast",
    version,
    about = "Microsoft Smooth Streaming packager and media server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Package media files (MP4, MOV, fragmented MP4, MPEG-TS, FLV) as an on-demand Smooth
    /// Streaming presentation laid out as EMS's createMSSStream does.
    Package(PackageArgs),
}

#[derive(clap::Args)]
pub struct PackageArgs {
    /// Folder the group folder is created in (EMS targetFolder).
    #[arg(long)]
    pub target_folder: PathBuf,
    /// Name of the presentation's folder (EMS groupName).
    #[arg(long)]
    pub group_name: String,
    /// Target fragment duration in seconds; fragments start on IDR frames.
    #[arg(long, default_value_t = 2.0)]
    pub chunk_length: f64,
    /// Manifest file name.
    #[arg(long, default_value = "manifest.ismc")]
    pub manifest_name: String,
    /// Input files, each optionally FILE@BITRATE in bits/s (measured when omitted).
    #[arg(required = true, value_name = "INPUT[@BITRATE]")]
    pub inputs: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Package(args) => package::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what failed and why, outermost context first.
            eprintln!("smoothcast: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
