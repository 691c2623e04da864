//! One publish: every wheel read and checked once, then sent to each target
//! of a [`PublishTargets`], each file's fate recorded in a [`PublishReport`].
//!
//! Order: the wheelhouse (a copy and its index), then the static index pages.
//! A wheel that cannot be read is one `check` failure and goes nowhere; a
//! target's refusal of one file does not stop the other files.

use std::path::{Path, PathBuf};

use std::time::Duration;
use wheelwright_core::builder::wheel::sha256_file;
use wheelwright_core::builder::{BuildReport, Outcome};

use wheelwright_core::publish::{
    PublishReport, PublishStatus, PublishTargets, PublishedFile, TargetKind, UploadTarget,
};

use crate::http::{HttpClient, HttpConfig};
use crate::upload;

use crate::index::{self, html::encode_segment, IndexEntry};
use crate::wheel_file::WheelFile;
use crate::{wheelhouse, PublishError};

/// Publish `wheels` to every target in `targets`. Errors are for what stops
/// the whole publish (no target, a target not available in this build, an
/// index folder that cannot be written); everything per file is in the report.
pub fn publish(
    wheels: &[PathBuf],
    targets: &PublishTargets,
) -> Result<PublishReport, PublishError> {
    if targets.is_empty() {
        return Err(PublishError::NoTarget);
    }
    if targets.github_release.is_some() {
        return Err(PublishError::NotAvailable {
            what: "--github-release".to_string(),
        });
    }
    if targets.manylinux {
        return Err(PublishError::NotAvailable {
            what: "--manylinux".to_string(),
        });
    }
    if let Some(upload) = &targets.upload {
        if !wheelwright_core::net::is_http_url(&upload.url) {
            return Err(PublishError::Usage {
                message: format!("--index-url {}: not an http:// or https:// URL", upload.url),
            });
        }
    }
    if let Some(index) = &targets.index {
        if index.from_release.is_some() {
            return Err(PublishError::NotAvailable {
                what: "--from-release".to_string(),
            });
        }
        if index.base_url.is_none() {
            return Err(PublishError::Usage {
                message: "--index-dir needs --base-url (where the wheels are served)".to_string(),
            });
        }
    }

    let mut report = PublishReport::default();
    let mut ready = Vec::new();
    for path in wheels {
        let read = WheelFile::read(path).and_then(|w| {
            // The variant folder is checked before anything is written.
            match w.name.local_version().map(index::variant_label) {
                Some(Err(message)) => Err(PublishError::BadWheel {
                    path: path.clone(),
                    message,
                }),
                _ => Ok(w),
            }
        });
        match read {
            Ok(w) => ready.push(w),
            Err(e) => report.files.push(PublishedFile {
                target: TargetKind::Check,
                file: file_name(path),
                path: Some(path.clone()),
                status: PublishStatus::Failed,
                url: None,
                sha256: String::new(),
                message: Some(e.to_string()),
            }),
        }
    }

    if let Some(dir) = &targets.wheelhouse {
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
        add_to_index(dir, entries, targets.clobber, &mut report)?;
    }

    if let Some(target) = &targets.index {
        let base = target.base_url.as_deref().unwrap_or_default();
        let base = base.trim_end_matches('/');
        // The `.metadata` files are only known to sit beside the wheels when
        // this publish also uploads them to a release.
        let metadata_served = targets.github_release.is_some();
        let entries = ready
            .iter()
            .map(|w| {
                let url = format!("{base}/{}", encode_segment(&w.file_name));
                (IndexEntry::for_wheel(w, Some(url), metadata_served), w)
            })
            .collect();
        add_to_index(&target.dir, entries, targets.clobber, &mut report)?;
    }

    if let Some(target) = &targets.upload {
        upload_all(target, &ready, &mut report)?;
    }
    Ok(report)
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
    let config = HttpConfig::from_env();
    let connect = config.connect_timeout.min(total);
    let client = HttpClient::new(config)
        .map_err(|e| PublishError::Network {
            message: e.to_string(),
        })?
        .with_timeouts(connect, total);
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
    dir: &Path,
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
    for outcome in index::update_index(dir, good, clobber)? {
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

/// The wheel a build report names, for publishing exactly that file: the
/// build must have succeeded, and the file (at its recorded path, else beside
/// the report) must still have the sha256 the report recorded.
pub fn report_wheel(report_path: &Path) -> Result<PathBuf, PublishError> {
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
    Ok(path)
}
