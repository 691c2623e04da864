//! Reading a source tree or an sdist (`.tar.gz`, `.tar`): its file list
//! relative to the package root (an extracted sdist's single top folder
//! taken as the root), its `setup.py` and `__version__`; and which of its
//! files a recipe compiles (flash-attn 2's `csrc/flash_attn/` sources, a
//! torch extension's own files outside vendored, test and build folders).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::units::TranslationUnit;
use crate::PlanError;

/// flash-attn 2's units: `flash_api.cpp` and the `.cu` files directly under
/// `csrc/flash_attn/src/` (the `sources` of its `setup.py`).
pub(super) fn is_flash_attn_unit(path: &str) -> bool {
    if path == "csrc/flash_attn/flash_api.cpp" {
        return true;
    }
    path.strip_prefix("csrc/flash_attn/src/")
        .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".cu"))
}

/// Folders a torch extension's own sources are not in.
const SKIPPED_DIRS: &[&str] = &[
    "build",
    "dist",
    "third_party",
    "3rdparty",
    "cutlass",
    "composable_kernel",
    "test",
    "tests",
    "examples",
    "benchmarks",
    "docs",
    "node_modules",
];

/// `path` lies in a folder that holds no torch extension's own sources: a
/// hidden one, build output or one of [`SKIPPED_DIRS`].
pub(super) fn in_skipped_dir(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts
        .iter()
        .any(|d| d.starts_with('.') || d.starts_with("build") || SKIPPED_DIRS.contains(d))
}

/// The file list of a source tree or sdist, relative to its root.
pub(super) struct SourceFiles {
    /// Every file, `/`-separated.
    pub paths: Vec<String>,
    /// The root's `setup.py`.
    pub setup_py: Option<String>,
    /// `__version__` of `flash_attn/__init__.py`.
    pub version: Option<String>,
}

impl SourceFiles {
    /// The translation units among the files that `keep` selects.
    pub(super) fn units(&self, keep: impl Fn(&str) -> bool) -> Vec<TranslationUnit> {
        self.paths
            .iter()
            .filter(|p| keep(p))
            .filter_map(|p| TranslationUnit::from_path(p))
            .collect()
    }
}

const MAX_FILES: usize = 200_000;

/// The files of `src`, a folder or an sdist.
pub(super) fn read_source(src: &Path) -> Result<SourceFiles, PlanError> {
    let meta = std::fs::metadata(src).map_err(|e| PlanError::Source {
        path: src.to_path_buf(),
        message: e.to_string(),
    })?;
    if meta.is_dir() {
        read_dir_source(src)
    } else {
        read_tarball(src)
    }
}

fn read_dir_source(src: &Path) -> Result<SourceFiles, PlanError> {
    // An extracted sdist's parent (one folder holding `flash_attn-2.8.3/`) is
    // taken as that folder.
    let root = single_child_dir(src).unwrap_or_else(|| src.to_path_buf());
    let mut paths = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| PlanError::Source {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                let name = entry.file_name();
                if !name.to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(&root) {
                paths.push(rel.to_string_lossy().replace('\\', "/"));
                if paths.len() > MAX_FILES {
                    return Err(PlanError::Source {
                        path: src.to_path_buf(),
                        message: format!("more than {MAX_FILES} files; point --source at the package's own folder"),
                    });
                }
            }
        }
    }
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    Ok(SourceFiles {
        setup_py: read("setup.py"),
        version: read("flash_attn/__init__.py").and_then(|t| parse_version_assignment(&t)),
        paths,
    })
}

fn single_child_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("setup.py").exists() || dir.join("csrc").exists() {
        return None;
    }
    let mut children = std::fs::read_dir(dir).ok()?.flatten();
    let only = children.next()?;
    if children.next().is_some() || !only.file_type().ok()?.is_dir() {
        return None;
    }
    Some(only.path())
}

fn read_tarball(src: &Path) -> Result<SourceFiles, PlanError> {
    let err = |message: String| PlanError::Source {
        path: src.to_path_buf(),
        message,
    };
    let file = File::open(src).map_err(|e| err(e.to_string()))?;
    let name = src.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".tar") {
        Box::new(file)
    } else {
        Box::new(flate2::read::GzDecoder::new(file))
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| err(format!("not a .tar.gz sdist: {e}")))?;
    let mut out = SourceFiles {
        paths: Vec::new(),
        setup_py: None,
        version: None,
    };
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("unreadable archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(path) = entry.path() else { continue };
        let full = path.to_string_lossy().replace('\\', "/");
        // Strip the sdist's top folder (`flash_attn-2.8.3/`).
        let rel = match full.split_once('/') {
            Some((_, rest)) => rest.to_string(),
            None => continue,
        };
        if rel == "setup.py" || rel == "flash_attn/__init__.py" {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                if rel == "setup.py" {
                    out.setup_py = Some(text);
                } else {
                    out.version = parse_version_assignment(&text);
                }
            }
        }
        out.paths.push(rel);
        if out.paths.len() > MAX_FILES {
            return Err(err(format!("more than {MAX_FILES} files")));
        }
    }
    if out.paths.is_empty() {
        return Err(err("the archive holds no files".into()));
    }
    Ok(out)
}

/// `__version__ = "2.8.3"` → `2.8.3`.
pub(super) fn parse_version_assignment(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("__version__")?.trim_start();
        let rest = rest.strip_prefix('=')?.trim();
        let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = &rest[1..];
        Some(body[..body.find(q)?].to_string())
    })
}
