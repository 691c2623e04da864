//! One publish: every wheel read and checked once, then sent to each target
//! of a [`PublishTargets`], each file's fate recorded in a [`PublishReport`].
//!
//! Order: the wheelhouse (a copy and its index), then the static index pages.
//! A wheel that cannot be read is one `check` failure and goes nowhere; a
//! target's refusal of one file does not stop the other files.

use std::path::{Path, PathBuf};

use std::time::Duration;
use wheelwright_base::digest::sha256_file;
use wheelwright_job::report::{BuildReport, Outcome};

use wheelwright_job::net::{Fetch, FetchOptions};
use wheelwright_job::publish::{
    GithubReleaseTarget, PublishReport, PublishStatus, PublishTargets, PublishedFile, TargetKind,
    UploadTarget,
};
use wheelwright_wheel::file::WheelName;
use wheelwright_wheel::{check_wheel, CheckOptions, Purpose};

use crate::http::{HttpClient, HttpConfig};
use crate::upload;

use crate::index::{self, html::encode_segment, IndexEntry, LockedIndex};
use crate::wheel_file::{CoreMetadata, WheelFile};
use crate::{wheelhouse, HttpNetwork, PublishError};

/// Publish `wheels` to every target in `targets`. Errors are for what stops
/// the whole publish (no target, contradicting targets, an index folder that
/// cannot be written); everything per file is in the report.
///
/// Each wheel is read once and must pass `wheel check` with index strictness
/// ([`check_before_leaving`]); it is published as it is, byte for byte (the
/// manylinux retag and the torch pin happen in `build`, before the wheel is
/// recorded and attested; `targets.manylinux` is refused). Then: the GitHub release, the wheelhouse, the static index
/// pages (linking to the release's assets or `base_url`), the upload index.
pub fn publish(
    wheels: &[PathBuf],
    targets: &PublishTargets,
) -> Result<PublishReport, PublishError> {
    validate(targets)?;
    let net = HttpNetwork::from_env();
    let mut report = PublishReport::default();
    let mut ready = Vec::new();
    for path in wheels {
        match check_before_leaving(path) {
            Ok(w) => ready.push(w),
            Err(message) => report.files.push(PublishedFile {
                target: TargetKind::Check,
                file: file_name(path),
                path: Some(path.clone()),
                status: PublishStatus::Failed,
                url: None,
                sha256: String::new(),
                message: Some(message),
            }),
        }
    }

    let mut on_release = false;
    if let Some(gh) = &targets.github_release {
        match net.publish_to_github(gh, &ready, targets.clobber) {
            Ok(files) => {
                on_release = true;
                report.files.extend(files);
            }
            Err(e) if e.is_usage() => {
                return Err(PublishError::Usage {
                    message: format!("{e} (hint: {})", e.hint()),
                })
            }
            Err(e) => {
                for w in &ready {
                    report
                        .files
                        .push(failed(TargetKind::GithubRelease, w, e.to_string()));
                }
            }
        }
    }

    if let Some(dir) = &targets.wheelhouse {
        // Locked before the first copy: two publishes of one name with other
        // bytes must not both copy, and every row added stays in the manifest.
        let mut index = LockedIndex::open(dir)?;
        let mut entries = Vec::new();
        for w in &ready {
            let added = wheelhouse::add_wheel(dir, w, targets.clobber)?;
            if added.status != PublishStatus::Failed {
                entries.push((IndexEntry::for_wheel(w, None, true), w));
            }
            report.files.push(PublishedFile {
                target: TargetKind::Wheelhouse,
                file: w.file_name.clone(),
                path: Some(w.path.clone()),
                status: added.status,
                url: Some(added.dest.display().to_string()),
                sha256: w.sha256.clone(),
                message: added.message,
            });
        }
        add_to_index(&mut index, entries, targets.clobber, &mut report)?;
    }

    if let Some(target) = &targets.index {
        let mut entries = Vec::new();
        if let Some(base) = target.base_url.as_deref() {
            let base = base.trim_end_matches('/');
            for w in &ready {
                let url = format!("{base}/{}", encode_segment(&w.file_name));
                // The `.metadata` files sit beside the wheels only when this
                // publish put them on the release.
                entries.push((IndexEntry::for_wheel(w, Some(url), on_release), w));
            }
            let mut index = LockedIndex::open(&target.dir)?;
            add_to_index(&mut index, entries, targets.clobber, &mut report)?;
        }
        if let Some(tag) = &target.from_release {
            index_from_release(&net, targets, tag, &target.dir, &mut report)?;
        }
    }

    if let Some(target) = &targets.upload {
        upload_all(target, &ready, &mut report)?;
    }
    Ok(report)
}

/// The targets make sense together, and the manifests already in their
/// folders are sound (before anything is written or sent).
fn validate(targets: &PublishTargets) -> Result<(), PublishError> {
    if targets.is_empty() {
        return Err(PublishError::NoTarget);
    }
    if targets.manylinux {
        return Err(PublishError::Usage {
            message: "publish never changes a wheel: --manylinux moved to `wheelwright build \
                      --manylinux` (the retag then happens before the wheel is verified, \
                      recorded and attested)"
                .to_string(),
        });
    }
    for dir in [
        targets.wheelhouse.as_deref(),
        targets.index.as_ref().map(|i| i.dir.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        index::check_manifest(dir)?;
    }
    if let Some(base) = targets.index.as_ref().and_then(|i| i.base_url.as_deref()) {
        index::check_url(base).map_err(|message| PublishError::Usage {
            message: format!("--base-url: {message}"),
        })?;
    }
    if let Some(upload) = &targets.upload {
        if !wheelwright_job::net::is_http_url(&upload.url) {
            return Err(PublishError::Usage {
                message: format!("--index-url {}: not an http:// or https:// URL", upload.url),
            });
        }
    }
    if let Some(index) = &targets.index {
        if index.base_url.is_none() && index.from_release.is_none() {
            return Err(PublishError::Usage {
                message: "--index-dir needs --base-url (where the wheels are served) or --from-release TAG".to_string(),
            });
        }
    }
    Ok(())
}

/// Read `path` and run `wheel check` on it with index strictness (name,
/// tags and METADATA agree as pip requires on an index; every RECORD hash).
/// The wheel to publish, or why none.
pub fn check_before_leaving(path: &Path) -> Result<WheelFile, String> {
    let opts = CheckOptions {
        purpose: Purpose::Index,
        ..CheckOptions::default()
    };
    let checked = check_wheel(path, &opts).map_err(|e| e.to_string())?;
    if !checked.passed {
        let errors: Vec<String> = checked
            .errors()
            .map(|f| format!("{}: {}", f.title, f.message))
            .collect();
        return Err(format!("wheel check failed: {}", errors.join("; ")));
    }
    let w = WheelFile::read(path).map_err(|e| e.to_string())?;
    // The variant folder is checked before anything is written.
    if let Some(Err(message)) = w.name.local_version().map(index::variant_label) {
        return Err(message);
    }
    Ok(w)
}

/// Add the wheels of GitHub release `tag` to the index in `dir`, linking to
/// the release's assets (or `base_url`), with `requires-python` and the PEP 658
/// hash read from each `.metadata` asset where there is one.
fn index_from_release(
    net: &HttpNetwork,
    targets: &PublishTargets,
    tag: &str,
    dir: &Path,
    report: &mut PublishReport,
) -> Result<(), PublishError> {
    let mut gh = targets
        .github_release
        .clone()
        .unwrap_or(GithubReleaseTarget {
            tag: tag.to_string(),
            repo: None,
            api_url: None,
            token_env: None,
        });
    gh.tag = tag.to_string();
    let wheels = net.github_release_wheels(&gh).map_err(|e| {
        let message = format!("--from-release {tag}: {e} (hint: {})", e.hint());
        if e.is_usage() {
            PublishError::Usage { message }
        } else {
            PublishError::Network { message }
        }
    })?;
    let base = targets.index.as_ref().and_then(|i| i.base_url.as_deref());
    let scratch = tempfile::tempdir().map_err(|source| PublishError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let mut entries = Vec::new();
    for rw in &wheels {
        let Ok(name) = WheelName::parse(&rw.name) else {
            continue;
        };
        // A release wheel the index cannot list: failed, with why.
        let not_listed = |message: String| PublishedFile {
            target: TargetKind::Index,
            file: rw.name.clone(),
            path: None,
            status: PublishStatus::Failed,
            url: Some(rw.url.clone()),
            sha256: rw.sha256.clone(),
            message: Some(message),
        };
        // A PEP 825 variant wheel: its variant.json from the release's
        // `{name}-{version}-variants.json` asset, read and checked there.
        let variant = match &rw.variant {
            None => None,
            Some(Ok(doc)) => Some(doc.clone()),
            Some(Err(why)) => {
                report.files.push(not_listed(format!(
                    "not listed: {why} (hint: publish the variant wheel to the release again \
                     with this wheelwright, which merges and uploads its -variants.json; \
                     delete an invalid -variants.json asset first)"
                )));
                continue;
            }
        };
        let label = match name.local_version().map(index::variant_label) {
            Some(Ok(l)) => Some(l),
            Some(Err(message)) => {
                report.files.push(not_listed(message));
                continue;
            }
            None => None,
        };
        let url = match base {
            Some(b) => format!("{}/{}", b.trim_end_matches('/'), encode_segment(&rw.name)),
            None => rw.url.clone(),
        };
        let (requires_python, metadata_sha256) = if rw.has_metadata {
            // pip asks for the link's URL + `.metadata`: announced only when
            // that URL serves it.
            release_metadata(net, &format!("{url}.metadata"), scratch.path())
        } else {
            (None, None)
        };
        entries.push(IndexEntry {
            file: rw.name.clone(),
            project: name.project().to_string(),
            version: name.version.clone(),
            label,
            sha256: rw.sha256.clone(),
            requires_python,
            url: Some(url),
            metadata_sha256,
            variant,
        });
    }
    for outcome in index::update_index(dir, entries, targets.clobber)? {
        let rw = wheels.iter().find(|w| w.name == outcome.file);
        report.files.push(PublishedFile {
            target: TargetKind::Index,
            file: outcome.file,
            path: None,
            status: outcome.status,
            url: Some(format!("{}/", outcome.page.display())),
            sha256: rw.map(|w| w.sha256.clone()).unwrap_or_default(),
            message: outcome.message,
        });
    }
    Ok(())
}

/// `Requires-Python` and the sha256 of the `.metadata` file at `url`; both
/// `None` when it cannot be fetched (the page then links the wheel without them).
fn release_metadata(
    net: &HttpNetwork,
    url: &str,
    scratch: &Path,
) -> (Option<String>, Option<String>) {
    let dest = scratch.join(format!(
        "{}.metadata",
        wheelwright_base::digest::sha256_bytes(url.as_bytes())
    ));
    let Ok(fetched) = net.fetch(url, &dest, &FetchOptions::default()) else {
        return (None, None);
    };
    let text = std::fs::read_to_string(&fetched.path).unwrap_or_default();
    let _ = std::fs::remove_file(&fetched.path);
    (
        CoreMetadata::parse(&text).requires_python,
        Some(fetched.sha256),
    )
}

fn failed(target: TargetKind, w: &WheelFile, message: String) -> PublishedFile {
    PublishedFile {
        target,
        file: w.file_name.clone(),
        path: Some(w.path.clone()),
        status: PublishStatus::Failed,
        url: None,
        sha256: w.sha256.clone(),
        message: Some(message),
    }
}

/// Upload every wheel to a PyPI-compatible index, one after another.
fn upload_all(
    target: &UploadTarget,
    wheels: &[WheelFile],
    report: &mut PublishReport,
) -> Result<(), PublishError> {
    let total = target
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(upload::DEFAULT_UPLOAD_TIMEOUT);
    let mut config = HttpConfig::from_env();
    config.connect_timeout = config.connect_timeout.min(total);
    config.total_timeout = total;
    let client = HttpClient::new(config).map_err(|e| PublishError::Network {
        message: e.to_string(),
    })?;
    let creds = upload::Credentials::from_lookup(target, |name| std::env::var(name).ok());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PublishError::Network {
            message: format!("cannot start the network runtime: {e}"),
        })?;
    for w in wheels {
        let outcome = runtime.block_on(upload::upload_wheel(&client, &target.url, &creds, w));
        report.files.push(PublishedFile {
            target: TargetKind::Upload,
            file: w.file_name.clone(),
            path: Some(w.path.clone()),
            status: outcome.status,
            url: outcome.url,
            sha256: w.sha256.clone(),
            message: outcome.message,
        });
    }
    Ok(())
}

/// Add the entries to the index in `dir` and record each outcome; an entry
/// that could not be made (a bad local label) is a failure of its file.
fn add_to_index(
    index: &mut LockedIndex,
    entries: Vec<(Result<IndexEntry, PublishError>, &WheelFile)>,
    clobber: bool,
    report: &mut PublishReport,
) -> Result<(), PublishError> {
    let mut good = Vec::new();
    let mut wheels = Vec::new();
    for (entry, w) in entries {
        match entry {
            Ok(e) => {
                good.push(e);
                wheels.push(w);
            }
            Err(e) => report.files.push(PublishedFile {
                target: TargetKind::Index,
                file: w.file_name.clone(),
                path: Some(w.path.clone()),
                status: PublishStatus::Failed,
                url: None,
                sha256: w.sha256.clone(),
                message: Some(e.to_string()),
            }),
        }
    }
    for outcome in index.add(good, clobber)? {
        let w = wheels.iter().find(|w| w.file_name == outcome.file);
        report.files.push(PublishedFile {
            target: TargetKind::Index,
            file: outcome.file,
            path: w.map(|w| w.path.clone()),
            status: outcome.status,
            url: Some(format!("{}/", outcome.page.display())),
            sha256: w.map(|w| w.sha256.clone()).unwrap_or_default(),
            message: outcome.message,
        });
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The wheels a build report names, for publishing exactly those files: the
/// wheel, and with `--variants` its PEP 825 variant wheel. The build must
/// have succeeded, and each file (at its recorded path, else beside the
/// report) must still have the sha256 the report recorded.
pub fn report_wheels(report_path: &Path) -> Result<Vec<PathBuf>, PublishError> {
    let bad = |message: String| PublishError::BadReport {
        path: report_path.to_path_buf(),
        message,
    };
    let report = BuildReport::read(report_path).map_err(|e| bad(e.to_string()))?;
    if report.outcome != Some(Outcome::Ok) {
        let outcome = report.outcome.map(|o| o.as_str()).unwrap_or("unfinished");
        return Err(bad(format!(
            "the build's outcome is `{outcome}`; only a successful build's wheel is published"
        )));
    }
    let wheel = report
        .wheel
        .ok_or_else(|| bad("it names no wheel".to_string()))?;
    let mut recorded = vec![wheel];
    recorded.extend(report.variant.map(|v| v.wheel));
    let mut paths = Vec::new();
    for wheel in recorded {
        let beside = report_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&wheel.name);
        let path = if wheel.path.is_file() {
            wheel.path.clone()
        } else if beside.is_file() {
            beside
        } else {
            return Err(bad(format!(
                "its wheel is neither at {} nor at {}",
                wheel.path.display(),
                beside.display()
            )));
        };
        let sha256 = sha256_file(&path).map_err(|source| PublishError::Io {
            path: path.clone(),
            source,
        })?;
        if sha256 != wheel.sha256 {
            return Err(bad(format!(
                "{} has sha256 {sha256}, the report recorded {}: it is not the file the build produced",
                path.display(),
                wheel.sha256
            )));
        }
        paths.push(path);
    }
    Ok(paths)
}
