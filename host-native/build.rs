//! Stamps the build: the git commit and branch and the build date for `version` (unless a
//! packager set SMOOTHCAST_GIT_HASH / SMOOTHCAST_GIT_BRANCH / SMOOTHCAST_BUILD_DATE; a
//! source tarball without `.git` gets "unknown"), and the version of the built-in dash.js.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dashjs = dir.join("assets/dashjs/VERSION");
    println!("cargo:rerun-if-changed={}", dashjs.display());
    let version = std::fs::read_to_string(&dashjs).unwrap_or_default();
    println!(
        "cargo:rustc-env=SMOOTHCAST_DASHJS_VERSION={}",
        version.trim()
    );

    for name in [
        "SMOOTHCAST_GIT_HASH",
        "SMOOTHCAST_GIT_BRANCH",
        "SMOOTHCAST_BUILD_DATE",
        "SOURCE_DATE_EPOCH",
    ] {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let hash = git(&dir, &["rev-parse", "--short=12", "HEAD"]);
    let branch = git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]);
    // Rebuilt when HEAD moves (a commit, a checkout), not on every source change.
    for path in ["HEAD"] {
        if let Some(p) = git(&dir, &["rev-parse", "--git-path", path]) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    if let Some(b) = &branch {
        if let Some(p) = git(
            &dir,
            &["rev-parse", "--git-path", &format!("refs/heads/{b}")],
        ) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    stamp("SMOOTHCAST_GIT_HASH", hash);
    stamp("SMOOTHCAST_GIT_BRANCH", branch);
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        });
    stamp("SMOOTHCAST_BUILD_DATE", epoch.map(date));
}

/// Sets `name` for the compiler unless the environment already gives it.
fn stamp(name: &str, value: Option<String>) {
    if std::env::var_os(name).is_some() {
        return;
    }
    let value = value.unwrap_or_else(|| String::from("unknown"));
    println!("cargo:rustc-env={name}={value}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS UTC` (Howard Hinnant's civil_from_days).
fn date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
