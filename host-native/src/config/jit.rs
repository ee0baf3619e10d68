//! `[jit]`: just-in-time VOD, any MP4 under the web root served as Smooth Streaming
//! (`<file>.mp4/Manifest`, `<name>.ism/Manifest`). Every key is optional.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct JitConfig {
    /// Serve MP4 files just in time (off: `<file>.mp4/...` is a plain 404).
    pub enabled: bool,
    /// MP4 files larger than this are not indexed (404).
    pub max_file_bytes: u64,
    /// The `moov` (sample tables) of a file read to index it, at most: a larger one is
    /// refused before it is buffered.
    pub max_moov_bytes: u64,
    /// Memory the cached indexes may hold; the least recently used go first. An index
    /// larger than this is built for its request and not kept.
    pub index_cache_bytes: u64,
    /// Indexes built at once; further requests for uncached files wait.
    pub max_concurrent_builds: u32,
    /// Files one `.ism` group may list.
    pub max_group_files: u32,
}

impl Default for JitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_file_bytes: 64 << 30,
            max_moov_bytes: 64 << 20,
            index_cache_bytes: 64 << 20,
            max_concurrent_builds: 2,
            max_group_files: 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn jit_section() {
        let c: ServerConfig = toml::from_str("[jit]\nindex_cache_bytes = 1000\n").expect("parses");
        assert_eq!(c.jit.index_cache_bytes, 1000);
        assert!(c.jit.enabled, "the rest default");
        assert!(toml::from_str::<ServerConfig>("[jit]\ncache = 1\n").is_err());
    }
}
