//! Target-folder confinement: targetFolder and the group folders stay inside the roots this
//! server may write to, symbolic links resolved.

use std::path::{Path, PathBuf};

use super::{OutputManager, TargetError};
use crate::paths::{normalize, resolve_links};

impl OutputManager {
    /// Resolves targetFolder against the working directory (as EMS does) and checks that it
    /// stays inside an allowed root, following symbolic links: a link inside the web root
    /// that leads elsewhere does not make elsewhere writable.
    pub(super) fn resolve_target(&self, target: &str) -> Result<PathBuf, TargetError> {
        if target.is_empty() || target.contains('\0') {
            return Err(TargetError::Invalid);
        }
        let resolved = normalize(Path::new(target));
        match self.confined(&resolved) {
            Ok(()) => Ok(resolved),
            Err(()) => Err(TargetError::Outside {
                target: target.to_string(),
                resolved,
                roots: self.allowed_roots.to_vec(),
            }),
        }
    }

    /// `Ok` when `path`, links resolved, lies inside an allowed root (or none are set).
    /// Asked again right before files are deleted, since links can appear after creation.
    pub(in crate::outputs) fn confined(&self, path: &Path) -> Result<(), ()> {
        if self.allowed_roots.is_empty() {
            return Ok(());
        }
        match resolve_links(path) {
            Some(real) if self.allowed_roots.iter().any(|r| real.starts_with(r)) => Ok(()),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_manager as manager;
    use super::super::MssParams;

    #[test]
    fn target_folders_stay_inside_the_allowed_roots() {
        let root = std::env::temp_dir().join("smoothcast-roots").join("www");
        let m = manager(&root);
        let inside = root.join("a/../b").display().to_string();
        assert_eq!(m.resolve_target(&inside), Ok(root.join("b")));
        for outside in [
            root.join("../elsewhere").display().to_string(),
            root.join("x/../../..").display().to_string(),
            "/etc".to_string(),
            String::new(),
            "bad\0path".to_string(),
        ] {
            assert!(
                m.resolve_target(&outside).is_err(),
                "{outside:?} was accepted"
            );
        }
    }

    /// A link inside the web root leading out is not a way out: not as targetFolder, not as
    /// the group folder, and not at removeConfig time when it appears after creation.
    #[tokio::test]
    async fn symbolic_links_do_not_lead_out_of_the_roots() {
        let base = std::env::temp_dir().join(format!("smoothcast-links-{}", std::process::id()));
        let root = base.join("www");
        let outside = base.join("elsewhere");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("out")).expect("symlink");
        std::os::unix::fs::symlink(&outside, root.join("g")).expect("symlink");
        std::os::unix::fs::symlink(base.join("nowhere"), root.join("dangling")).expect("symlink");
        let m = manager(&root);
        for target in ["out", "out/sub", "dangling", "dangling/x"] {
            let t = root.join(target).display().to_string();
            let e = m.resolve_target(&t).expect_err(target).to_string();
            assert!(e.contains("outside the folders"), "{e}");
            let mut p = MssParams::with_defaults(vec!["cam".into()], t, "grp".into());
            p.cleanup_destination = true;
            assert!(m.create_mss(p).is_err(), "{target}");
        }
        let target = root.display().to_string();
        let e = m
            .create_mss(MssParams::with_defaults(
                vec!["cam".into()],
                target.clone(),
                "g".into(),
            ))
            .expect_err("the group folder is a link out")
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        // A link to a folder inside the root is fine.
        std::fs::create_dir_all(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).expect("symlink");
        assert!(m
            .resolve_target(&root.join("alias").display().to_string())
            .is_ok());

        // Created while real, swapped for a link before removeConfig removeFiles=1.
        let keep = outside.join("keep.txt");
        std::fs::write(&keep, b"keep").expect("write");
        let (_, task) = m
            .create(MssParams::with_defaults(
                vec!["cam".into()],
                target,
                "later".into(),
            ))
            .expect("created");
        let later = root.join("later");
        std::fs::create_dir_all(&later).expect("mkdir");
        std::fs::remove_dir_all(&later).expect("rm");
        std::os::unix::fs::symlink(&outside, &later).expect("symlink");
        assert!(m.remove_group("later", true).is_ok());
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("group stops")
            .expect("join");
        assert!(keep.exists(), "nothing deleted through the link");
        let _ = std::fs::remove_dir_all(&base);
    }
}
