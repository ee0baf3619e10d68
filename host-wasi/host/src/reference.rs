//! The reference the components are compared with: what `smoothcast package` writes, run
//! in-process through the `smoothcast` library on the inputs saved as files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use smoothcast::cli::PackageArgs;
use smoothcast_core::Output;

/// One input held in memory.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// A file name: `smoothcast package` names the stream folder of a single input after it.
    pub name: String,
    pub data: Vec<u8>,
    pub bitrate: Option<u32>,
}

/// A presentation's final files, by path relative to the group folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packaged {
    pub fragments: BTreeMap<String, Vec<u8>>,
    pub manifest: Option<(String, String)>,
}

impl Packaged {
    /// Applies one core output as a disk host would.
    pub fn apply(&mut self, output: Output) {
        match output {
            Output::WriteFragment { path, data, .. }
            | Output::RewriteFragment { path, data, .. } => {
                self.fragments.insert(path, data.to_vec());
            }
            // Written over the file's first bytes, as `disk::rewrite_head` does.
            Output::RewriteFragmentHead { path, head, .. } => {
                if let Some(file) = self.fragments.get_mut(&path) {
                    if let Some(old) = file.get_mut(..head.len()) {
                        old.copy_from_slice(&head);
                    }
                }
            }
            Output::WriteManifest { path, xml } => self.manifest = Some((path, xml)),
            Output::Remove { path } => {
                self.fragments.remove(&path);
            }
            Output::Event(_) => {}
        }
    }
}

/// `smoothcast package --chunk-length <chunk_length> --manifest-name manifest.ismc` over the
/// inputs (`NAME@BITRATE` where a bitrate is given), read back from the group folder.
pub fn package(inputs: &[InputSpec], chunk_length: f64) -> Result<Packaged> {
    package_protected(inputs, chunk_length, Default::default())
}

/// [`package`] with `smoothcast package`'s protection flags (`--key`, `--key-seed`,
/// `--playready-la-url` ...).
pub fn package_protected(
    inputs: &[InputSpec],
    chunk_length: f64,
    protection: smoothcast::protection::ProtectionFlags,
) -> Result<Packaged> {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "smoothcast-wasi-reference-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let result = package_in(&dir, inputs, chunk_length, protection);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn package_in(
    dir: &Path,
    inputs: &[InputSpec],
    chunk_length: f64,
    protection: smoothcast::protection::ProtectionFlags,
) -> Result<Packaged> {
    let sources = dir.join("in");
    std::fs::create_dir_all(&sources)?;
    let mut args = Vec::new();
    for i in inputs {
        let path = sources.join(&i.name);
        std::fs::write(&path, &i.data).with_context(|| path.display().to_string())?;
        args.push(match i.bitrate {
            Some(b) => format!("{}@{b}", path.display()),
            None => path.display().to_string(),
        });
    }
    let out = dir.join("out");
    smoothcast::package::run(&PackageArgs {
        target_folder: out.clone(),
        group_name: "group".into(),
        chunk_length,
        manifest_name: "manifest.ismc".into(),
        protection,
        inputs: args,
    })?;
    let mut packaged = Packaged::default();
    read_tree(&out.join("group"), "", &mut packaged)?;
    Ok(packaged)
}

/// Files under `dir`, by `/`-separated path: `.fmp4` are fragments, the rest the manifest.
fn read_tree(dir: &Path, prefix: &str, out: &mut Packaged) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            read_tree(&entry.path(), &format!("{path}/"), out)?;
        } else if name.ends_with(".fmp4") {
            out.fragments.insert(path, std::fs::read(entry.path())?);
        } else {
            out.manifest = Some((path, std::fs::read_to_string(entry.path())?));
        }
    }
    Ok(())
}
