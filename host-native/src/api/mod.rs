//! The EMS-compatible API: the JSON CLI, the ASCII CLI and the HTTP API share one command
//! parser and one set of commands (`cmd/`).

pub mod ascii_cli;
pub mod http;
pub mod json_cli;
