//! The end-to-end tests that run the server (the real `smoothcast` binary, or in-process),
//! as one test binary: one build and link instead of one per file, and the modules' tests
//! share the test threads. Each module is one area, as each was its own binary before;
//! `in_process` runs the server inside this process for the tests that need no process of
//! their own. `hostile.rs` stays a binary of its own: a panic that escaped there must end
//! only that process.

mod api;
mod auto_mss;
mod console;
mod demo;
mod events;
mod in_process;
mod isml_push;
mod jit;
mod live;
mod mpegts;
mod object_store;
mod package;
mod protection;
mod pull;
mod restart;
mod rtsp;
mod smooth_ingest;
mod tracks;
mod web;
