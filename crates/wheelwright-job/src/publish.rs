//! Where checked wheels go, and what happened to each: the publish contract.
//!
//! [`PublishTargets`] is plain data (part of a job's spec, filled from
//! `wheelwright publish` flags or an Action's inputs): a GitHub release, a
//! wheelhouse, a static PEP 503 index, a PyPI-compatible upload index. The
//! work needs the network and lives in `wheelwright-publish`, which the Job
//! reaches through [`crate::net::Network::publish`]; it answers with a
//! [`PublishReport`]: one [`PublishedFile`] per file and target (uploaded,
//! skipped because the same bytes are already there, or failed, with why).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every place a publish sends wheels to; empty means nowhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct PublishTargets {
    /// Upload each wheel (and its PEP 658 `.metadata`) as a release asset.
    pub github_release: Option<GithubReleaseTarget>,
    /// Copy the wheels into this folder and write the static index beside them
    /// (`DIR/simple/`, `DIR/<local-label>/simple/`).
    pub wheelhouse: Option<PathBuf>,
    /// Write only the static index pages, linking to files hosted elsewhere.
    pub index: Option<StaticIndexTarget>,
    /// Upload to a PyPI-compatible index (pypiserver, devpi, a company mirror).
    pub upload: Option<UploadTarget>,
    /// Refused (a usage error): publishing never changes a wheel's bytes;
    /// the manylinux retag is the build's ([`crate::JobSpec::manylinux`]),
    /// before the wheel is recorded and attested. Kept so that a spec or a
    /// command line that still asks for it gets that answer.
    pub manylinux: bool,
    /// Replace a file of the same name but different bytes where the target
    /// allows it (GitHub asset, wheelhouse file, index entry) instead of failing.
    pub clobber: bool,
}

impl PublishTargets {
    /// No target is set: publishing would do nothing.
    pub fn is_empty(&self) -> bool {
        self.github_release.is_none()
            && self.wheelhouse.is_none()
            && self.index.is_none()
            && self.upload.is_none()
    }
}

/// A GitHub release to upload to (created when missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GithubReleaseTarget {
    /// The release's tag, `v2.8.3`.
    pub tag: String,
    /// `owner/name`; `None` reads `GITHUB_REPOSITORY`.
    #[serde(default)]
    pub repo: Option<String>,
    /// The REST API base (`https://HOST/api/v3` on GitHub Enterprise); `None`
    /// reads `GITHUB_API_URL`, then `https://api.github.com`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The environment variable holding the token (never the token itself);
    /// `None` means `GITHUB_TOKEN`.
    #[serde(default)]
    pub token_env: Option<String>,
}

/// A static PEP 503 index whose pages link to files hosted elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StaticIndexTarget {
    /// The folder the pages (and the manifest) are written into.
    pub dir: PathBuf,
    /// Where the wheels are served: a link is `BASE_URL/<file name>`. `None`
    /// with [`StaticIndexTarget::from_release`] links to that release's assets.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Build the pages from this GitHub release's asset list (the release of
    /// [`PublishTargets::github_release`]'s repository and API) instead of, or
    /// besides, local wheels.
    #[serde(default)]
    pub from_release: Option<String>,
}

/// A PyPI-compatible index taking the legacy upload API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadTarget {
    /// The upload URL (`http://127.0.0.1:8080/`, `https://devpi.example/root/dev/`).
    pub url: String,
    /// The environment variable holding the user name; `None` means
    /// `TWINE_USERNAME`.
    #[serde(default)]
    pub username_env: Option<String>,
    /// The environment variable holding the password or token; `None` means
    /// `TWINE_PASSWORD`.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Give up one upload attempt after this many seconds; `None`: 600.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// What became of one file at one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PublishStatus {
    /// Sent (or written) now.
    Uploaded,
    /// The same bytes (same name and sha256) are already there.
    Skipped,
    /// Not published; the message says why.
    Failed,
}

impl PublishStatus {
    /// `uploaded`, `skipped`, `failed`: the JSON and text spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishStatus::Uploaded => "uploaded",
            PublishStatus::Skipped => "skipped",
            PublishStatus::Failed => "failed",
        }
    }
}

/// Which kind of target a [`PublishedFile`] went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A GitHub release asset.
    GithubRelease,
    /// A file copied into a wheelhouse.
    Wheelhouse,
    /// An entry of a static index's pages.
    Index,
    /// A PyPI-compatible upload.
    Upload,
    /// The `wheel check` and retag that run before anything leaves.
    Check,
}

impl TargetKind {
    /// The JSON and text spelling (`github_release`, `wheelhouse`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::GithubRelease => "github_release",
            TargetKind::Wheelhouse => "wheelhouse",
            TargetKind::Index => "index",
            TargetKind::Upload => "upload",
            TargetKind::Check => "check",
        }
    }
}

/// One file at one target; the field names are a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishedFile {
    /// The target kind.
    pub target: TargetKind,
    /// The file name as published (`flash_attn-2.8.3+cu12...whl`).
    pub file: String,
    /// The local file it came from, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// What happened.
    pub status: PublishStatus,
    /// Where it can be downloaded now (asset URL, index link, file path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Lower-case hex sha256 of the bytes published (empty when unknown).
    pub sha256: String,
    /// Why it was skipped or failed, or a remark on an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Everything one publish did, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PublishReport {
    /// One entry per file and target.
    pub files: Vec<PublishedFile>,
}

impl PublishReport {
    /// Did any file fail at any target? (The CLI exits 1 then.)
    pub fn any_failed(&self) -> bool {
        self.files.iter().any(|f| f.status == PublishStatus::Failed)
    }

    /// How many entries have `status`.
    pub fn count(&self, status: PublishStatus) -> usize {
        self.files.iter().filter(|f| f.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_from_json_and_refuse_unknown_fields() {
        let t: PublishTargets = serde_json::from_str(
            r#"{"github_release": {"tag": "v1"}, "index": {"dir": "site", "base_url": "https://h/d"}, "clobber": true}"#,
        )
        .unwrap();
        assert_eq!(t.github_release.as_ref().unwrap().tag, "v1");
        assert_eq!(t.github_release.as_ref().unwrap().token_env, None);
        assert_eq!(
            t.index.as_ref().unwrap().base_url.as_deref(),
            Some("https://h/d")
        );
        assert!(t.clobber && !t.manylinux && !t.is_empty());
        assert!(PublishTargets::default().is_empty());
        let e = serde_json::from_str::<PublishTargets>(r#"{"wheelhose": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("wheelhose"), "{e}");
    }

    #[test]
    fn a_report_says_whether_anything_failed() {
        let file = |status| PublishedFile {
            target: TargetKind::Wheelhouse,
            file: "a-1.0-py3-none-any.whl".into(),
            path: None,
            status,
            url: None,
            sha256: String::new(),
            message: None,
        };
        let mut r = PublishReport {
            files: vec![file(PublishStatus::Uploaded), file(PublishStatus::Skipped)],
        };
        assert!(!r.any_failed());
        r.files.push(file(PublishStatus::Failed));
        assert!(r.any_failed());
        assert_eq!(r.count(PublishStatus::Skipped), 1);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["files"][2]["status"], "failed");
        assert_eq!(json["files"][0]["target"], "wheelhouse");
        assert!(json["files"][0].get("url").is_none());
    }
}
