//! Turning a request path into a file under the web root, and nothing outside it.
//!
//! Two independent checks: the decoded path is split into plain names (no `..`, no
//! separators, no NUL), and the joined path's canonical form (symlinks resolved) must still
//! start with the canonical web root. The first keeps the intent clear and the errors
//! useful; the second is what actually holds against symlinks.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path is refused before touching the disk.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not a path we can read at all (bad escape, not UTF-8, no leading `/`): 400.
    Malformed(&'static str),
    /// A path that tries to leave the web root or name something unnameable: 403.
    Forbidden(&'static str),
    /// A hidden (dot) name: served as absent, so their existence is not revealed.
    Hidden,
}

/// Decodes the percent escapes of a request path *before* splitting and checking it, so
/// `%2e%2e` and `%2f` are seen as the `..` and `/` they become.
pub fn segments(raw_path: &str) -> Result<Vec<String>, PathError> {
    if !raw_path.starts_with('/') {
        return Err(PathError::Malformed("the path must start with /"));
    }
    let bytes = percent_decode(raw_path.as_bytes())?;
    let path =
        String::from_utf8(bytes).map_err(|_| PathError::Malformed("the path is not UTF-8"))?;
    let mut out = Vec::new();
    for seg in path.split('/') {
        if seg.is_empty() || seg == "." {
            continue;
        }
        if seg == ".." {
            return Err(PathError::Forbidden("`..` in path"));
        }
        if seg.chars().any(|c| c.is_control()) {
            return Err(PathError::Forbidden("control character in path"));
        }
        if seg.contains('\\') {
            return Err(PathError::Forbidden("backslash in path"));
        }
        // Whatever the platform thinks is a root, prefix or parent must not appear in the
        // middle of a join (Windows drive letters, for instance).
        let mut comps = Path::new(seg).components();
        if !matches!(
            (comps.next(), comps.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(PathError::Forbidden("not a plain name"));
        }
        if seg.starts_with('.') {
            return Err(PathError::Hidden);
        }
        out.push(seg.to_string());
    }
    Ok(out)
}

fn percent_decode(input: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            let hex = |j: usize| input.get(j).and_then(|&c| (c as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(PathError::Malformed("bad percent escape")),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(PathError::Forbidden("NUL in path"));
    }
    Ok(out)
}

/// What a checked path is on disk.
#[derive(Debug)]
pub enum Found {
    /// Canonical path.
    File(PathBuf),
    Dir(PathBuf),
    Missing,
    /// Exists, but resolves (through a symlink) outside the root: treated as absent.
    Outside,
}

/// Resolves `names` (already checked by [`segments`], or built from them) under
/// `root`, which must be canonical.
///
/// Blocking, on purpose: a canonicalize and a stat of files the kernel has cached take
/// microseconds, far less than two trips to tokio's blocking pool (which is what
/// `tokio::fs` does for each call, and what made the web tier slow). The web root is
/// expected on a local filesystem; a hung network mount would stall a worker thread.
pub fn resolve(root: &Path, names: &[impl AsRef<str>]) -> Found {
    resolve_meta(root, names).0
}

/// As [`resolve`], with the file's metadata (for the cache's identity check).
pub fn resolve_meta(root: &Path, names: &[impl AsRef<str>]) -> (Found, Option<std::fs::Metadata>) {
    let mut path = root.to_path_buf();
    for n in names {
        path.push(n.as_ref());
    }
    let canon = match std::fs::canonicalize(&path) {
        Ok(c) => c,
        Err(_) => return (Found::Missing, None),
    };
    if !canon.starts_with(root) {
        return (Found::Outside, None);
    }
    match std::fs::metadata(&canon) {
        Ok(m) if m.is_file() => (Found::File(canon), Some(m)),
        Ok(m) if m.is_dir() => (Found::Dir(canon), None),
        _ => (Found::Missing, None),
    }
}

/// The canonical web root, or why it cannot be served. Blocking, as [`resolve`].
pub fn canonical_root(root: &Path) -> io::Result<PathBuf> {
    let c = std::fs::canonicalize(root)?;
    if std::fs::metadata(&c)?.is_dir() {
        Ok(c)
    } else {
        Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths() {
        assert_eq!(
            segments("/vod//a/./b%20c.ismc"),
            Ok(vec!["vod".into(), "a".into(), "b c.ismc".into()])
        );
        assert_eq!(segments("/"), Ok(vec![]));
        assert_eq!(
            segments("/vod/QualityLevels(100)/Fragments(video=0)"),
            Ok(vec![
                "vod".into(),
                "QualityLevels(100)".into(),
                "Fragments(video=0)".into()
            ])
        );
    }

    #[test]
    fn tricks_are_refused() {
        for p in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/vod/..%2f..%2fetc/passwd",
            "/vod/%2e%2e%2f%2e%2e%2fetc/passwd",
            "/a/b\\..\\c",
            "/a%00b",
            "/a%0ab",
        ] {
            assert!(
                matches!(segments(p), Err(PathError::Forbidden(_))),
                "{p}: {:?}",
                segments(p)
            );
        }
        assert!(matches!(segments("etc"), Err(PathError::Malformed(_))));
        assert!(matches!(segments("/%zz"), Err(PathError::Malformed(_))));
        assert!(matches!(segments("/%2"), Err(PathError::Malformed(_))));
        assert!(matches!(segments("/%ff"), Err(PathError::Malformed(_))));
        assert_eq!(segments("/.git/config"), Err(PathError::Hidden));
    }
}
