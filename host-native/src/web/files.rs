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
///
/// Returns the file's metadata too (for the cache's identity check).
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

/// Recently resolved paths: (joined path) -> (when, canonical path). A request for a path
/// resolved less than [`RESOLVED_TTL`] ago stats the canonical path (one syscall) instead of
/// canonicalizing again (a readlink per path component, each walking the whole path).
///
/// The stat still runs on every request, so a removed file answers 404 and a replaced one
/// is seen at once; what is reused for up to the TTL is only the proof that the path stays
/// inside the root, as nginx's `open_file_cache_valid` reuses its lookups. (A directory
/// swapped for a symlink was already a race between the check and the open; the TTL bounds
/// how long that window can be.) Only found paths are kept, at most [`RESOLVED_MAX`].
#[derive(Default)]
pub struct Resolver {
    seen: std::sync::RwLock<Seen>,
}

type Seen = std::collections::HashMap<PathBuf, (std::time::Instant, PathBuf)>;

pub const RESOLVED_TTL: std::time::Duration = std::time::Duration::from_secs(1);
const RESOLVED_MAX: usize = 4096;
/// Deeper paths skip the walk (its prefix lookups grow with the square of the depth).
const WALK_MAX: usize = 32;

impl Resolver {
    /// As the free [`resolve_meta`], with recent resolutions reused.
    pub fn resolve_meta(
        &self,
        root: &Path,
        names: &[impl AsRef<str>],
    ) -> (Found, Option<std::fs::Metadata>) {
        let mut path = root.to_path_buf();
        for n in names {
            path.push(n.as_ref());
        }
        let known = {
            let seen = self.read();
            seen.get(&path)
                .filter(|(at, _)| at.elapsed() < RESOLVED_TTL)
                .map(|(_, c)| c.clone())
        };
        if let Some(canon) = known {
            // lstat: a file replaced by a symlink since is checked again in full, never
            // followed on the strength of the old proof.
            match std::fs::symlink_metadata(&canon) {
                Ok(m) if m.is_file() => return (Found::File(canon), Some(m)),
                Ok(m) if m.is_dir() => return (Found::Dir(canon), None),
                Ok(_) => {
                    self.lock().remove(&path);
                }
                Err(_) => {
                    self.lock().remove(&path);
                    return (Found::Missing, None);
                }
            }
        }
        let (found, meta) = if names.len() > WALK_MAX {
            resolve_meta(root, names)
        } else {
            self.walk(root, names)
        };
        if let Found::File(c) | Found::Dir(c) = &found {
            self.remember(path, c);
        }
        (found, meta)
    }

    /// Walks down from the deepest folder resolved recently, one `lstat` per further name:
    /// a name that is no symlink, under a canonical folder inside the root, is canonical and
    /// inside too. A symlink met on the way gets the full check (canonicalize). A missing
    /// path costs one syscall this way, where canonicalize made one per component.
    fn walk(&self, root: &Path, names: &[impl AsRef<str>]) -> (Found, Option<std::fs::Metadata>) {
        let Some((_, parents)) = names.split_last() else {
            return (Found::Dir(root.to_path_buf()), None);
        };
        let (mut cur, mut key, mut start) = (root.to_path_buf(), root.to_path_buf(), 0);
        {
            let seen = self.read();
            let mut k = root.to_path_buf();
            for (i, n) in parents.iter().enumerate() {
                k.push(n.as_ref());
                match seen.get(&k).filter(|(at, _)| at.elapsed() < RESOLVED_TTL) {
                    Some((_, c)) => {
                        cur = c.clone();
                        key = k.clone();
                        start = i + 1;
                    }
                    None => break,
                }
            }
        }
        for (i, n) in names.iter().enumerate().skip(start) {
            let next = cur.join(n.as_ref());
            key.push(n.as_ref());
            let Ok(m) = std::fs::symlink_metadata(&next) else {
                return (Found::Missing, None);
            };
            if m.file_type().is_symlink() {
                return resolve_meta(root, names);
            }
            let last = i + 1 == names.len();
            if m.is_dir() && !last {
                self.remember(key.clone(), &next);
                cur = next;
            } else if m.is_dir() {
                return (Found::Dir(next), None);
            } else if m.is_file() && last {
                return (Found::File(next), Some(m));
            } else {
                return (Found::Missing, None);
            }
        }
        (Found::Missing, None)
    }

    fn remember(&self, path: PathBuf, canon: &Path) {
        let mut seen = self.lock();
        if seen.len() >= RESOLVED_MAX {
            seen.clear();
        }
        seen.insert(path, (std::time::Instant::now(), canon.to_path_buf()));
    }

    pub fn resolve(&self, root: &Path, names: &[impl AsRef<str>]) -> Found {
        self.resolve_meta(root, names).0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Seen> {
        self.seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, Seen> {
        self.seen
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The canonical web root, or why it cannot be served. Blocking, as [`resolve_meta`].
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

    #[cfg(unix)]
    #[test]
    fn resolver_keeps_to_the_root() {
        let base = std::env::temp_dir().join(format!("smoothcast-resolver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(base.join("outside")).expect("mkdir");
        std::fs::write(root.join("a/b/f.fmp4"), b"x").expect("write");
        std::fs::write(base.join("outside/secret"), b"s").expect("write");
        std::os::unix::fs::symlink(base.join("outside"), root.join("a/out")).expect("symlink");
        std::os::unix::fs::symlink(root.join("a/b"), root.join("in")).expect("symlink");
        let root = std::fs::canonicalize(&root).expect("canonical");
        let r = Resolver::default();
        for _ in 0..2 {
            // Twice: once walked, once from what the first pass remembered.
            assert!(matches!(
                r.resolve_meta(&root, &["a", "b", "f.fmp4"]),
                (Found::File(_), Some(_))
            ));
            assert!(matches!(r.resolve(&root, &["a", "b"]), Found::Dir(_)));
            assert!(matches!(
                r.resolve(&root, &["a", "out", "secret"]),
                Found::Outside
            ));
            assert!(matches!(r.resolve(&root, &["a", "out"]), Found::Outside));
            assert!(matches!(
                r.resolve(&root, &["a", "nope", "x"]),
                Found::Missing
            ));
            assert!(matches!(
                r.resolve(&root, &["a", "b", "f.fmp4", "x"]),
                Found::Missing
            ));
            match r.resolve(&root, &["in", "f.fmp4"]) {
                Found::File(p) => assert_eq!(p, root.join("a/b/f.fmp4"), "canonical"),
                other => panic!("{other:?}"),
            }
        }
        // Replaced by a symlink to the outside: refused at once, whatever was remembered.
        std::fs::remove_file(root.join("a/b/f.fmp4")).expect("rm");
        std::os::unix::fs::symlink(base.join("outside/secret"), root.join("a/b/f.fmp4"))
            .expect("symlink");
        assert!(matches!(
            r.resolve(&root, &["a", "b", "f.fmp4"]),
            Found::Outside
        ));
        std::fs::remove_file(root.join("a/b/f.fmp4")).expect("rm");
        std::fs::write(root.join("a/b/f.fmp4"), b"x").expect("write");
        assert!(matches!(
            r.resolve(&root, &["a", "b", "f.fmp4"]),
            Found::File(_)
        ));
        // Removed: gone at once, whatever was remembered.
        std::fs::remove_file(root.join("a/b/f.fmp4")).expect("rm");
        assert!(matches!(
            r.resolve(&root, &["a", "b", "f.fmp4"]),
            Found::Missing
        ));
        let _ = std::fs::remove_dir_all(&base);
    }
}
