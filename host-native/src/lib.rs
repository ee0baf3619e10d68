//! Smoothcast's native host as a library: the `smoothcast` binary is a thin `main.rs` over
//! [`cli::main`], and the parsers here can be fuzzed and tested in-process from outside.

pub mod accept;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod disk;
pub mod events;
pub mod generate;
pub mod ingest;
pub mod metrics;
pub mod outputs;
pub mod package;
pub mod paths;
pub mod per_address;
pub mod progress;
pub mod protection;
pub mod server;
pub mod state;
pub mod status;
pub mod store;
pub mod streams;
pub mod supervise;
pub mod tls;
pub mod web;

/// The log target of the few lines an operator sees at the default level (`warn` plus
/// these): a stream arriving, a presentation going live, the server shutting down.
pub const NOTICE: &str = "smoothcast::notice";
