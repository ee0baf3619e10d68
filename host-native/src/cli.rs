//! The `smoothcast` command line: `package`, `serve` and `api`, parsed and dispatched.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::{api, config, package, server, state};

/// `--version`: the release, and the commit, branch and date build.rs stamped.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SMOOTHCAST_GIT_HASH"),
    ", ",
    env!("SMOOTHCAST_GIT_BRANCH"),
    ", built ",
    env!("SMOOTHCAST_BUILD_DATE"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "smoothcast",
    version = VERSION,
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
    /// Run the media server: RTMP ingest, the EMS API (JSON CLI, ASCII CLI, HTTP) and the
    /// web server, on EMS's default ports and loopback unless configured otherwise.
    Serve(ServeArgs),
    /// Send one command to a running server's HTTP API (EMS syntax), print the JSON reply and
    /// exit non-zero unless it is SUCCESS.
    Api(ApiArgs),
    /// Shell completions and man pages from this definition (for packagers).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

/// The whole command-line definition, for `generate` and its tests.
pub fn command() -> clap::Command {
    Cli::command()
}

#[derive(clap::Args)]
pub struct ApiArgs {
    /// Host of the HTTP API.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of the HTTP API (EMS inboundHttpJsonCli).
    #[arg(long, default_value_t = 7777)]
    pub port: u16,
    /// API token, sent as `Authorization: Bearer`; default: the SMOOTHCAST_API_TOKEN
    /// environment variable (which keeps it out of the process list).
    #[arg(long)]
    pub token: Option<String>,
    /// EMS command, e.g. createMSSStream, listConfig, version.
    pub command: String,
    /// Parameters as EMS writes them: localStreamNames=a,b targetFolder=/var/www ...
    #[arg(value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub params: Vec<String>,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file: our TOML (ports, bind address, web root, autoMSS) or an EMS
    /// config.lua (its autoMSS block and acceptor ports). Repeatable: a TOML file first, then
    /// config.lua files applied over it.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    /// Folder the web server serves (overrides the configuration file).
    #[arg(long)]
    pub webroot: Option<PathBuf>,
    /// Publish the built-in clip as the looping live stream `demo`, package it as Smooth
    /// Streaming into `<webroot>/demo/`, and play it at the web server's root page.
    #[arg(long)]
    pub demo: bool,
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
    #[command(flatten)]
    pub protection: crate::protection::ProtectionFlags,
    /// Input files, each optionally FILE@BITRATE in bits/s (measured when omitted).
    #[arg(required = true, value_name = "INPUT[@BITRATE]")]
    pub inputs: Vec<String>,
}

/// Parses the process's arguments and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Package(args) => package::run(&args),
        Command::Serve(args) => serve(&args),
        Command::Api(args) => return api::client::run(&args),
        Command::Generate(args) => crate::generate::run(command(), &args),
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

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    // Colour only for a person at a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMOOTHCAST_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("warn,{}=info", crate::NOTICE))
            }),
        )
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let mut config = config::ServerConfig::load_all(&args.config)?;
    if let Some(webroot) = &args.webroot {
        config.webroot = webroot.clone();
    }
    if let Some(note) = config.settle_web_root(args.webroot.is_some()) {
        tracing::warn!("{note}");
    }
    config.check_auto_mss()?;
    config.security.resolve_token()?;
    if config.state_file.is_none() {
        config.state_file =
            state::default_path(args.config.first().map(std::path::PathBuf::as_path));
    }
    if args.demo && config.default_manifest.is_none() {
        config.default_manifest = Some("/demo/manifest.ismc".into());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listeners = server::Listeners::bind(&config).await?;
        // A closed stdout (a supervisor that stopped reading) must not take the server down.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{}", listeners.describe());
        // What this server reads and writes, one line each, for operators and tests.
        let shown = |p: &std::path::Path| crate::paths::normalize(p).display().to_string();
        let _ = writeln!(out, "webroot {}", shown(&config.webroot));
        let _ = match &config.state_file {
            Some(p) => writeln!(out, "state_file {}", shown(p)),
            None => writeln!(
                out,
                "state_file none (no --config and no HOME: configs are kept in memory only)"
            ),
        };
        let files: Vec<String> = args.config.iter().map(|p| shown(p)).collect();
        let _ = writeln!(
            out,
            "config_files {}",
            if files.is_empty() {
                "none".to_string()
            } else {
                files.join(" ")
            }
        );
        let demo = args.demo;
        if demo {
            let web = listeners.web.local_addr()?;
            let _ = writeln!(
                out,
                "demo: open http://{web}/ to watch the live demo (Ctrl-C stops)"
            );
        }
        let _ = out.flush();
        server::run(config, listeners, demo, stop_signal()).await
    })
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd's stop, `docker stop`, a plain `kill`): either stops
/// the server cleanly, closing what it writes.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
