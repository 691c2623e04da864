//! The work dir for building a spec on this host ([`select`]): what
//! `wheelwright workdir` does before a build. A requirement's sdist is
//! downloaded first (its sha256 is part of the key) under the root, so the
//! build takes the same file; the variant comes from the host's facts (or
//! saved ones) and the archs; old work dirs under the root are evicted.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{
    file_sha256, text_sha256, EvictionPolicy, EvictionReason, Variant, WorkDirError, WorkDirLock,
    WorkDirs,
};
use crate::source;
use crate::source::{SourceError, SourceSpec};
use wheelwright_base::archs::{parse_arch_list, Arch, ArchError};
use wheelwright_base::env_files::multiline_output;
use wheelwright_base::facts::Facts;
use wheelwright_base::text::one_line;
use wheelwright_base::units::format_bytes;
use wheelwright_detect as detect;
use wheelwright_detect::DetectOptions;

/// How long a download (and the wait for another one's lock) may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(1800);

/// What [`select`] needs.
#[derive(Debug, Clone)]
pub struct SelectRequest {
    /// What will be built, as a job takes it: a requirement, an sdist or a
    /// source tree.
    pub spec: String,
    /// The folder that holds the work dirs.
    pub root: PathBuf,
    /// Builds of different trust never share objects (`release`, `pull-request`).
    pub scope: String,
    /// The interpreter that builds (its torch and Python are part of the key).
    pub python: Option<PathBuf>,
    /// CUDA archs the build compiles (`80;90`); without, the GPUs present.
    pub archs: Option<String>,
    /// The host's facts, instead of detecting them.
    pub facts: Option<Facts>,
    /// When old work dirs go.
    pub policy: EvictionPolicy,
}

/// The work dir found, and what was evicted.
#[derive(Debug, Serialize)]
pub struct Selection {
    /// The work dir (created).
    pub work_dir: PathBuf,
    /// What the build should take as its spec: the downloaded sdist, or the spec.
    pub source: String,
    /// The work dir's name ([`Variant::key`]).
    pub variant_key: String,
    /// What the key is made of.
    pub variant: Variant,
    /// The work dirs removed.
    pub evicted: Vec<Evicted>,
}

/// A work dir [`select`] removed.
#[derive(Debug, Serialize)]
pub struct Evicted {
    /// The directory.
    pub path: PathBuf,
    /// Bytes it held.
    pub bytes: u64,
    /// Why it went.
    pub reason: EvictionReason,
}

/// Why there is no work dir.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The spec is none of a requirement, an sdist or a source tree.
    #[error("{0}")]
    BadSpec(SourceError),
    /// No interpreter to detect torch with or to download with.
    #[error("no Python interpreter found (no --python, no active venv, no python3 on PATH)")]
    NoPython,
    /// The requirement's sdist could not be downloaded.
    #[error("cannot download the sdist of {requirement}: {source}")]
    Download {
        /// The requirement.
        requirement: String,
        /// Why.
        source: SourceError,
    },
    /// A source tree's path could not be resolved.
    #[error("cannot resolve {}", path.display())]
    Resolve {
        /// The tree.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The arch list does not parse.
    #[error("{0}")]
    BadArchs(ArchError),
    /// No arch given and no GPU detected.
    #[error("no CUDA archs: no GPU was detected and no --archs given")]
    NoArchs,
    /// The work dirs (or the sdist's folder) could not be used.
    #[error(transparent)]
    WorkDir(#[from] WorkDirError),
}

impl SelectError {
    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            SelectError::BadSpec(_) => "pass a requirement (`flash-attn==2.8.3`), a .tar.gz sdist or a directory with setup.py".into(),
            SelectError::NoPython => "pass the interpreter that has torch with --python".into(),
            SelectError::Download { .. } => "check the requirement and the runner's access to the index (pip's configuration applies)".into(),
            SelectError::Resolve { .. } => "check that the source tree exists".into(),
            SelectError::BadArchs(_) => "write archs as `80;90` or `8.0,9.0`".into(),
            SelectError::NoArchs => "pass --archs (the same as the build's), e.g. --archs '80;90'".into(),
            SelectError::WorkDir(e) => e.hint(),
        }
    }
}

/// Find (or create) the work dir for `req` under its root, after evicting
/// old ones; `detect` reads this host where `req` has no facts (its python
/// and disk path are the request's). `on_note` hears what takes long (the
/// sdist's download) before it starts.
pub fn select(
    req: &SelectRequest,
    mut detect: DetectOptions,
    on_note: &mut dyn FnMut(&str),
) -> Result<Selection, SelectError> {
    let spec = SourceSpec::parse(&req.spec).map_err(SelectError::BadSpec)?;
    detect.python = req.python.clone();
    detect.disk_path = req.root.clone();
    // The interpreter is needed to detect its torch and to download an sdist.
    if req.facts.is_none() || matches!(spec, SourceSpec::Requirement(_)) {
        let python = detect::resolve_python(&detect).ok_or(SelectError::NoPython)?;
        detect.python = Some(crate::absolute_program(python));
    }
    let (source, source_sha256) = match spec {
        SourceSpec::Requirement(r) => {
            let python = detect.python.clone().unwrap_or_default();
            let sdist = download(&req.root, &python, &r, on_note)?;
            let sha = file_sha256(&sdist)?;
            (sdist.display().to_string(), sha)
        }
        SourceSpec::Sdist(p) => (req.spec.clone(), file_sha256(&p)?),
        // A tree changes in place, as in any incremental build: its path is its identity.
        SourceSpec::Tree(p) => {
            let abs = std::fs::canonicalize(&p)
                .map_err(|source| SelectError::Resolve { path: p, source })?;
            (req.spec.clone(), text_sha256(&abs.display().to_string()))
        }
    };
    let facts = match &req.facts {
        Some(f) => f.clone(),
        None => detect::detect(&detect),
    };
    let archs: Vec<Arch> = match &req.archs {
        Some(list) => parse_arch_list(list).map_err(SelectError::BadArchs)?,
        None => facts
            .gpus
            .iter()
            .filter_map(|g| Arch::from_compute_capability(&g.compute_capability))
            .collect(),
    };
    if archs.is_empty() {
        return Err(SelectError::NoArchs);
    }
    let archs: Vec<String> = archs.iter().map(Arch::compact).collect();
    let variant = Variant::from_facts(&facts, &archs, &source_sha256, &req.scope)?;
    let dirs = WorkDirs::new(&req.root);
    let work_dir = dirs.prepare(&variant)?;
    let evicted = dirs
        .evict(&req.policy, SystemTime::now(), Some(&work_dir))?
        .into_iter()
        .map(|(e, reason)| Evicted {
            path: e.path,
            bytes: e.bytes,
            reason,
        })
        .collect();
    Ok(Selection {
        variant_key: variant.key()?,
        work_dir,
        source,
        variant,
        evicted,
    })
}

/// Download the sdist of `requirement` under `root/sdists/`, one folder per
/// requirement, locked so two builds on this host do not write it at once.
fn download(
    root: &Path,
    python: &Path,
    requirement: &str,
    on_note: &mut dyn FnMut(&str),
) -> Result<PathBuf, SelectError> {
    let key = text_sha256(requirement);
    let dir = root.join("sdists").join(&key[..24]);
    let _lock = WorkDirLock::acquire(&dir, DOWNLOAD_TIMEOUT)?;
    on_note(&format!(
        "wheelwright: downloading the sdist of {requirement} (pip download --no-binary :all:)\n"
    ));
    let no_cancel = AtomicBool::new(false);
    let env = Default::default();
    source::download_sdist(
        python,
        requirement,
        &dir,
        &env,
        DOWNLOAD_TIMEOUT,
        &no_cancel,
        None,
    )
    .map_err(|source| SelectError::Download {
        requirement: requirement.to_string(),
        source,
    })
}

impl Selection {
    /// `work-dir`, `source` and `variant-key` for `GITHUB_OUTPUT`.
    pub fn github_outputs(&self) -> String {
        let work_dir = self.work_dir.display().to_string();
        [
            ("work-dir", work_dir.as_str()),
            ("source", &self.source),
            ("variant-key", &self.variant_key),
        ]
        .map(|(name, value)| multiline_output(name, value))
        .concat()
    }

    /// A line per evicted work dir, saying why it went: not used for over
    /// `max_age_days`, or the work dirs took over `max_total` bytes.
    pub fn evicted_text(&self, max_age_days: u64, max_total: u64) -> String {
        let mut text = String::new();
        for e in &self.evicted {
            let why = match e.reason {
                EvictionReason::Age => format!("unused for over {max_age_days} days"),
                EvictionReason::Size => {
                    format!("the work dirs took over {}", format_bytes(max_total))
                }
            };
            text.push_str(&format!(
                "wheelwright: removed {} ({}, {why})\n",
                one_line(&e.path.to_string_lossy()),
                format_bytes(e.bytes)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::host_fixture;

    fn request(root: &Path, tree: &Path) -> SelectRequest {
        let facts = host_fixture("h100-cuda13.0/wheelwright-detect.json");
        SelectRequest {
            spec: tree.display().to_string(),
            root: root.to_path_buf(),
            scope: "release".into(),
            python: None,
            archs: None,
            facts: Some(serde_json::from_str(&facts).unwrap()),
            policy: EvictionPolicy {
                max_age: Duration::from_secs(86_400),
                max_total_bytes: 1 << 40,
            },
        }
    }

    #[test]
    fn a_tree_with_saved_facts_gets_one_dir_keyed_by_the_gpus_archs() {
        let (root, tree) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(tree.path().join("setup.py"), "").unwrap();
        let req = request(root.path(), tree.path());
        let mut notes = Vec::new();
        let first = select(&req, DetectOptions::from_process_env(), &mut |n| {
            notes.push(n.to_string())
        })
        .unwrap();
        assert!(notes.is_empty(), "nothing to download: {notes:?}");
        assert_eq!(first.variant.archs, ["90"], "the H100's");
        assert_eq!(first.work_dir, root.path().join(&first.variant_key));
        assert!(first.work_dir.is_dir() && first.evicted.is_empty());
        let again = select(&req, DetectOptions::from_process_env(), &mut |_| {}).unwrap();
        assert_eq!(again.work_dir, first.work_dir);
        let outputs = first.github_outputs();
        assert!(outputs.starts_with("work-dir<<") && outputs.contains("variant-key<<"));

        let other = SelectRequest {
            archs: Some("80".into()),
            ..req.clone()
        };
        let other = select(&other, DetectOptions::from_process_env(), &mut |_| {}).unwrap();
        assert_ne!(other.work_dir, first.work_dir, "other archs, other objects");
    }

    #[test]
    fn no_archs_and_bad_archs_are_refused_with_a_hint() {
        let (root, tree) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(tree.path().join("setup.py"), "").unwrap();
        let mut req = request(root.path(), tree.path());
        req.archs = Some("sm_banana".into());
        let e = select(&req, DetectOptions::from_process_env(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, SelectError::BadArchs(_)), "{e}");
        req.archs = None;
        req.facts.as_mut().unwrap().gpus.clear();
        let e = select(&req, DetectOptions::from_process_env(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, SelectError::NoArchs), "{e}");
        assert!(e.hint().contains("--archs"));
    }
}
