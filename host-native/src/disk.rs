//! Applying the core's outputs to a folder: confined paths, atomic manifest writes.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use smoothcast_core::presentation::Output;

/// A folder that outputs are written into. Every path must stay inside it.
pub struct OutputDir {
    root: PathBuf,
    atomic_fragments: bool,
}

impl OutputDir {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            atomic_fragments: false,
        }
    }

    /// New fragments too are written beside their name and renamed into place: a live folder
    /// is read while it is written, and a process killed mid-write must leave no fragment
    /// that is half there (only a temporary file, which a restart removes).
    pub fn with_atomic_fragments(mut self) -> Self {
        self.atomic_fragments = true;
        self
    }

    /// Resolves a relative output path, refusing anything that could leave the root.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let p = Path::new(rel);
        if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("refusing output path {rel:?}: it would leave the output folder");
        }
        Ok(self.root.join(p))
    }

    /// Carries out one output; events are returned for the caller to log or forward.
    pub fn apply(&self, output: Output) -> Result<()> {
        match output {
            Output::WriteFragment { path, data, .. } if self.atomic_fragments => {
                write_atomic(&self.resolve(&path)?, &data)
            }
            Output::WriteFragment { path, data, .. } => write_file(&self.resolve(&path)?, &data),
            // A rewritten fragment may be read mid-write by a player: replace it atomically.
            Output::RewriteFragment { path, data, .. } => {
                write_atomic(&self.resolve(&path)?, &data)
            }
            Output::RewriteFragmentHead { path, head, info } => {
                rewrite_head(&self.resolve(&path)?, &head, info.size as u64)
            }
            Output::WriteManifest { path, xml } => {
                write_atomic(&self.resolve(&path)?, xml.as_bytes())
            }
            Output::Remove { path } => {
                let p = self.resolve(&path)?;
                match fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(e).with_context(|| format!("removing {}", p.display()))
                    }
                    _ => Ok(()),
                }
            }
            Output::Event(_) => Ok(()),
        }
    }
}

pub fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// Writes a live fragment's new head over its old one, in place (the core's
/// `RewriteFragmentHead`): the file must be there with the length the core gave it, whose
/// head is as long as the new one, so only the bytes that describe later fragments change.
///
/// Why not a new file and a rename: the new file is the payload again (a fragment is written
/// once instead of three times), and the packager need not keep the payload for it. What
/// readers see: one `pwrite` of a few hundred bytes within the first page, so a reader of
/// the file sees the old head or the new one unless its read overlaps that copy (well under
/// a microsecond per rewrite); the modification time is then set again, after the copy, so
/// a cache that read the file during it (whose identity the write's own, earlier time
/// update gave it) no longer matches. A symbolic link in the fragment's place is refused,
/// not followed.
pub fn rewrite_head(path: &Path, head: &[u8], size: u64) -> Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let result = (|| -> Result<()> {
        let f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)?;
        let len = f.metadata()?.len();
        if len != size || (head.len() as u64) > len {
            bail!("it holds {len} bytes, not the {size} its head describes; left as it is");
        }
        f.write_all_at(head, 0)?;
        f.set_modified(std::time::SystemTime::now())?;
        Ok(())
    })();
    result.with_context(|| format!("rewriting the head of {}", path.display()))
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// Writes to a temporary file beside the target, then renames it over the target, so a
/// reader sees either the old or the new file, never a partial one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with(path, data, false)
}

/// [`write_atomic`] for a file that is replaced again and again (a live manifest, the next
/// look-ahead version of a fragment), without freeing the old version in the writing thread:
/// the new file is exchanged with the old one (`renameat2(RENAME_EXCHANGE)`, as atomic for
/// readers as a rename) and `retire` gets the temporary name that now holds the old version,
/// to remove when it suits the caller (see `outputs::reaper`). A plain rename over an
/// existing file makes ext4 start writing the new file out in the rename (its
/// `auto_da_alloc` safeguard), and the file it replaces is freed there, with a synchronous
/// discard on a `discard` mount: both blocked writer threads under load. Where exchanging
/// is not supported, or there is nothing to replace, it is a plain rename. The new file is
/// `pieces` one after the other, written with vectored writes (a fragment's pieces are its
/// head and its samples: a hundred or more).
pub fn replace_atomic<'a>(
    path: &Path,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    retire: fn(PathBuf),
) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Each write its own temporary name: the retired one may still be waiting for removal.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = temp_beside(path, &format!("{}.{seq}", std::process::id()));
    let mut f = create_with_folder(&tmp, path)?;
    let result = (|| -> std::io::Result<bool> {
        let mut slices: Vec<std::io::IoSlice<'_>> = pieces
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(std::io::IoSlice::new)
            .collect();
        write_all_vectored(&mut f, &mut slices)?;
        drop(f);
        // Only a regular file is exchanged (a folder in the way fails the rename, as before).
        #[cfg(target_os = "linux")]
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            use rustix::fs::{renameat_with, RenameFlags, CWD};
            if renameat_with(CWD, &tmp, CWD, path, RenameFlags::EXCHANGE).is_ok() {
                return Ok(true);
            }
        }
        fs::rename(&tmp, path).map(|()| false)
    })();
    match result {
        Ok(true) => {
            retire(tmp);
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e).with_context(|| format!("writing {}", path.display()))
        }
    }
}

/// Creates `file`, and its folder if that is missing. The folder is tried first and made
/// only when the create says it is not there: it is there for all but a quality level's
/// first file, and checking first is one more stat per fragment. A failure names the
/// folder when the folder is what failed (a file in its way), else `target`, the file that
/// `file` is written for.
fn create_with_folder(file: &Path, target: &Path) -> Result<fs::File> {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    match fs::File::create(file) {
        Ok(f) => Ok(f),
        Err(e) if matches!(e.kind(), NotFound | NotADirectory) => {
            ensure_parent(file)?;
            fs::File::create(file).with_context(|| format!("writing {}", target.display()))
        }
        Err(e) => Err(e).with_context(|| format!("writing {}", target.display())),
    }
}

/// `write_all` for pieces: as many per call as the system takes (std caps a call at
/// `IOV_MAX`), again from where a short write stopped.
fn write_all_vectored(
    f: &mut fs::File,
    mut slices: &mut [std::io::IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        match f.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`write_atomic`] for a file only its owner may read (mode 0600 on Unix, from its
/// creation on): the state file, which may hold PlayReady content keys.
pub fn write_atomic_private(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_with(path, data, true)
}

/// `.<name>.<tag>.tmp` beside `path`: hidden, and removed by a restart's clean-up.
fn temp_beside(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}.tmp"))
}

fn write_atomic_with(path: &Path, data: &[u8], private: bool) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_beside(path, &std::process::id().to_string());
    let result = (|| {
        // No fsync: the rename is what readers and a killed process depend on, and an
        // fsync here would make ext4 flush every fragment written before it (seconds of
        // stall per manifest under load). Power-loss durability is the filesystem's job.
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options.open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_rewritten_in_place_and_a_wrong_file_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("smoothcast-rehead-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("0.fmp4");
        fs::write(&file, b"HEADpayload").expect("write");
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(old))
            .expect("set time");
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).expect("stat"));
        let before = ino(&file);
        rewrite_head(&file, b"head", 11).expect("rewritten");
        assert_eq!(fs::read(&file).expect("read"), b"headpayload");
        assert_eq!(ino(&file), before, "the same file, not a new one");
        let modified = fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("time");
        assert!(
            modified > old,
            "its time moves on, so a cached read no longer matches"
        );
        // A file of another length is not the fragment the head describes.
        let e = rewrite_head(&file, b"HEAD", 12).expect_err("length");
        assert!(format!("{e:#}").contains("not the 12"), "{e:#}");
        assert_eq!(fs::read(&file).expect("read"), b"headpayload");
        // A link in the fragment's place is not followed.
        let target = dir.join("elsewhere");
        fs::write(&target, b"HEADpayload").expect("write");
        let link = dir.join("1.fmp4");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(rewrite_head(&link, b"head", 11).is_err());
        assert_eq!(fs::read(&target).expect("read"), b"HEADpayload");
        assert!(rewrite_head(&dir.join("missing"), b"head", 11).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn replacing_a_file_retires_its_old_version_under_a_temporary_name() {
        use std::sync::Mutex;
        static RETIRED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        fn retire(p: PathBuf) {
            RETIRED.lock().expect("lock").push(p);
        }
        let dir = std::env::temp_dir().join(format!("smoothcast-replace-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let target = dir.join("m/manifest.ismc");
        replace_atomic(&target, [&b"one"[..]], retire).expect("first");
        assert!(RETIRED.lock().expect("lock").is_empty(), "nothing replaced");
        // A reader that opened the old version keeps reading it.
        let mut reader = fs::File::open(&target).expect("open");
        replace_atomic(&target, [&b"two"[..]], retire).expect("second");
        assert_eq!(fs::read(&target).expect("read"), b"two");
        let mut old = String::new();
        std::io::Read::read_to_string(&mut reader, &mut old).expect("read old");
        assert_eq!(old, "one");
        let retired = RETIRED.lock().expect("lock").clone();
        assert_eq!(retired.len(), 1);
        assert_eq!(fs::read(&retired[0]).expect("retired"), b"one");
        let name = retired[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".manifest.ismc.") && name.ends_with(".tmp"),
            "{name}"
        );
        // A folder in the way is an error, not something to exchange with.
        let folder = dir.join("m/folder");
        fs::create_dir_all(&folder).expect("mkdir");
        assert!(replace_atomic(&folder, [&b"x"[..]], retire).is_err());
        assert!(folder.is_dir());
        assert_eq!(RETIRED.lock().expect("lock").len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_in_more_pieces_than_one_write_takes_is_written_whole() {
        let dir = std::env::temp_dir().join(format!("smoothcast-pieces-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        // Past IOV_MAX (1024), with empty pieces among them: a fragment's head and samples.
        let pieces: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        let target = dir.join("f/0.fmp4");
        replace_atomic(&target, pieces.iter().map(|p| &p[..]), |_| {}).expect("write");
        assert_eq!(fs::read(&target).expect("read"), pieces.concat());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_escaping_paths() {
        let d = OutputDir::new(PathBuf::from("/tmp/x"));
        for bad in ["../a", "a/../../b", "/etc/passwd", "", "./a"] {
            assert!(d.resolve(bad).is_err(), "{bad}");
        }
        assert_eq!(
            d.resolve("v/1/2.fmp4").ok(),
            Some(PathBuf::from("/tmp/x/v/1/2.fmp4"))
        );
    }
}
