//! Paths as the server checks them: lexically normalized, and resolved through symbolic
//! links, so a folder can be confined to a root before it exists.

use std::path::{Component, Path, PathBuf};

/// An absolute, lexically normalized path (`..` resolved without touching the disk, so a
/// folder that does not exist yet can still be checked).
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where `path` really is: normalized, then its longest existing ancestor resolved through
/// symbolic links (`canonicalize`), with the parts that do not exist yet appended (they
/// hold no links, not existing). `None` when a link along the way leads nowhere (a
/// dangling link would be created at its target).
pub fn resolve_links(path: &Path) -> Option<PathBuf> {
    let lexical = normalize(path);
    let mut existing = lexical.as_path();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(mut real) => {
                real.extend(missing.iter().rev());
                return Some(real);
            }
            // It exists (as a link) yet cannot be resolved: dangling or a loop.
            Err(_) if existing.symlink_metadata().is_ok() => return None,
            Err(_) => {
                missing.push(existing.file_name()?.to_owned());
                existing = existing.parent()?;
            }
        }
    }
}

/// A root as the checks compare against it: links resolved where possible, else lexical.
pub fn real_path(path: &Path) -> PathBuf {
    resolve_links(path).unwrap_or_else(|| normalize(path))
}
