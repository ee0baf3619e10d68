//! EMS config.lua: the Lua subset evaluator, then the EMS settings applied over defaults.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::config::{ems, lua, ServerConfig};

fuzz_target!(|data: &[u8]| {
    // Contained on purpose (caught and turned into an error): see the crate's regression test.
    smoothcast_fuzz::allow_caught_panics_in(&["full_moon-"]);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(globals) = lua::evaluate(text) {
            let mut config = ServerConfig::default();
            let _ = ems::apply(&globals, &mut config);
        }
    }
});
