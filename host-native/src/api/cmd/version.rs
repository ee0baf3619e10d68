//! `version`: EMS's version reply, filled from the build.

use serde_json::json;

use crate::api::line::Line;
use crate::api::reply::Reply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version;

impl Version {
    pub fn parse(_line: &Line) -> Result<Version, Reply> {
        Ok(Version)
    }

    pub fn apply(self) -> Reply {
        let release = env!("CARGO_PKG_VERSION");
        // build.rs stamps these from git and the clock, unless a packager set them.
        let hash = option_env!("SMOOTHCAST_GIT_HASH").unwrap_or("unknown");
        let branch = option_env!("SMOOTHCAST_GIT_BRANCH").unwrap_or("unknown");
        let build_date = option_env!("SMOOTHCAST_BUILD_DATE").unwrap_or("unknown");
        let build_number = option_env!("SMOOTHCAST_BUILD_NUMBER").unwrap_or("0");
        Reply::success(
            "Version",
            json!({
                "banner": format!("Smoothcast version {release} (EMS-compatible API)"),
                "branchName": branch,
                "buildDate": build_date,
                "buildNumber": build_number,
                "codeName": "Smoothcast",
                "hash": hash,
                "releaseNumber": release,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let r = Version.apply();
        assert!(r.is_success());
        for key in [
            "banner",
            "branchName",
            "buildDate",
            "buildNumber",
            "codeName",
            "hash",
            "releaseNumber",
        ] {
            assert!(r.data[key].is_string(), "{key}");
        }
        assert_eq!(r.data["releaseNumber"], env!("CARGO_PKG_VERSION"));
        for key in ["hash", "branchName", "buildDate"] {
            assert!(
                !r.data[key].as_str().unwrap_or("").is_empty(),
                "{key} stamped"
            );
        }
    }
}
