//! Smoothcast's own TOML configuration.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::config::ServerConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = toml::from_str::<ServerConfig>(text) {
            let _ = config.check_auto_mss();
        }
    }
});
