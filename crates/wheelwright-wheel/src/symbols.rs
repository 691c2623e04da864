//! Undefined symbols: does every symbol a wheel's binary needs come from a
//! library it declares (`DT_NEEDED`, followed breadth-first the way the
//! dynamic loader builds a library's lookup scope) or from the Python
//! interpreter that loads it?
//!
//! Libraries are looked up like `ld.so` does, in: the object's `DT_RPATH`
//! (without `DT_RUNPATH`), its `DT_RUNPATH`, then the extra directories (the
//! torch the wheel was built for: `torch/lib` and the `nvidia/*/lib` wheels
//! beside it, which `import torch` has loaded before the extension), then
//! `/etc/ld.so.conf` and the system's directories. `$ORIGIN` is the object's
//! own directory, so libraries shipped in the wheel are found.
//!
//! A symbol that no library in the scope defines fails the check when every
//! needed library was found; when one was not (torch is not installed here),
//! the symbol is listed as unresolved, not failed.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::elf::{read_elf, Detail, ElfInfo};

/// At most this many libraries are read for one binary's scope.
const MAX_SCOPE: usize = 400;
/// At most this many symbol names are listed per outcome.
const MAX_LISTED: usize = 50;

/// Where to look for libraries besides the objects' own run paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct LibrarySearch {
    /// Searched after the run paths, before the system: torch's libraries.
    pub extra_dirs: Vec<PathBuf>,
    /// The system's directories (`/etc/ld.so.conf`, `/lib64`, ...).
    pub system_dirs: Vec<PathBuf>,
    /// Symbols the interpreter provides (`Py*`), read from its ELF; `None`
    /// when no interpreter is known, then `Py*`/`_Py*` names are assumed to
    /// come from it.
    pub interpreter_symbols: Option<HashSet<String>>,
}

impl LibrarySearch {
    /// The system's library directories: those `/etc/ld.so.conf` (and the
    /// files it includes) names, then the usual defaults; existing ones only.
    pub(crate) fn system() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        read_ld_so_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
        for d in [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/lib64",
            "/usr/lib64",
            "/lib",
            "/usr/lib",
        ] {
            dirs.push(PathBuf::from(d));
        }
        let mut seen = BTreeSet::new();
        dirs.retain(|d| d.is_dir() && seen.insert(d.clone()));
        dirs
    }
}

fn read_ld_so_conf(path: &Path, dirs: &mut Vec<PathBuf>, depth: u32) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include ") {
            if depth < 4 {
                let pattern = if pattern.trim().starts_with('/') {
                    pattern.trim().to_string()
                } else {
                    format!("/etc/{}", pattern.trim())
                };
                for p in glob::glob(&pattern).into_iter().flatten().flatten() {
                    read_ld_so_conf(&p, dirs, depth + 1);
                }
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
}

/// One library of a binary's scope and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryLookup {
    /// The `DT_NEEDED` name.
    pub name: String,
    /// Where it was found; `None` when it was not.
    pub path: Option<PathBuf>,
    /// The object that needs it.
    pub needed_by: String,
}

/// What resolving one binary's undefined symbols found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SymbolResolution {
    /// Undefined, non-weak symbols the binary needs.
    pub undefined: usize,
    /// Of those, found in a library of the scope or the interpreter.
    pub resolved: usize,
    /// Not defined anywhere though every needed library was found: the
    /// binary fails to load (`undefined symbol`). At most 50 listed.
    pub missing: Vec<String>,
    /// Not found while a needed library was not found either. At most 50.
    pub unresolved: Vec<String>,
    /// How many were missing or unresolved in all (the lists are cut).
    pub missing_count: usize,
    /// See `missing_count`.
    pub unresolved_count: usize,
    /// Direct and indirect `DT_NEEDED` libraries not found.
    pub libraries_not_found: Vec<LibraryLookup>,
    /// The directly needed libraries and where they were found.
    pub direct: Vec<LibraryLookup>,
    /// `Py*` symbols taken as the interpreter's without reading it.
    pub assumed_from_interpreter: usize,
}

/// Resolve the undefined symbols of `binary` (read with [`Detail::Full`]),
/// found at `path` (its directory is `$ORIGIN`).
pub(crate) fn resolve_symbols(
    path: &Path,
    binary: &ElfInfo,
    search: &LibrarySearch,
) -> SymbolResolution {
    let mut out = SymbolResolution::default();
    let mut defined: HashSet<String> = HashSet::new();
    let mut loaded: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut queue: VecDeque<(String, PathBuf, ElfInfo)> = VecDeque::new();
    queue.push_back((display_name(path), path.to_path_buf(), binary.clone()));
    let mut first = true;
    while let Some((who, at, info)) = queue.pop_front() {
        for lib in &info.needed {
            if loaded.contains_key(lib) || loaded.len() >= MAX_SCOPE {
                continue;
            }
            let found = locate(lib, &at, &info, search);
            let lookup = LibraryLookup {
                name: lib.clone(),
                path: found.clone(),
                needed_by: who.clone(),
            };
            if first {
                out.direct.push(lookup.clone());
            }
            let Some(found) = found else {
                out.libraries_not_found.push(lookup);
                loaded.insert(lib.clone(), PathBuf::new());
                continue;
            };
            loaded.insert(lib.clone(), found.clone());
            match read_elf(&found, Detail::Dependency) {
                Ok(dep) => {
                    defined.extend(dep.defined.iter().cloned());
                    queue.push_back((lib.clone(), found, dep));
                }
                Err(_) => out.libraries_not_found.push(LibraryLookup {
                    path: None,
                    ..lookup
                }),
            }
        }
        first = false;
    }
    let incomplete = !out.libraries_not_found.is_empty();
    let mut missing = BTreeSet::new();
    let mut unresolved = BTreeSet::new();
    for sym in binary.undefined.iter().filter(|s| !s.weak) {
        out.undefined += 1;
        let from_interpreter = match &search.interpreter_symbols {
            Some(names) => names.contains(&sym.name),
            None => {
                let assumed = sym.name.starts_with("Py") || sym.name.starts_with("_Py");
                out.assumed_from_interpreter += usize::from(assumed);
                assumed
            }
        };
        if from_interpreter || defined.contains(&sym.name) {
            out.resolved += 1;
        } else if incomplete {
            unresolved.insert(sym.name.clone());
        } else {
            missing.insert(sym.name.clone());
        }
    }
    out.missing_count = missing.len();
    out.unresolved_count = unresolved.len();
    out.missing = missing.into_iter().take(MAX_LISTED).collect();
    out.unresolved = unresolved.into_iter().take(MAX_LISTED).collect();
    out
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Find `lib`, needed by `info` at `at`, the way the dynamic loader would.
fn locate(lib: &str, at: &Path, info: &ElfInfo, search: &LibrarySearch) -> Option<PathBuf> {
    if lib.contains('/') {
        let p = PathBuf::from(lib);
        return p.is_file().then_some(p);
    }
    let origin = at.parent().unwrap_or(Path::new("/"));
    let expand = |dir: &String| {
        PathBuf::from(
            dir.replace("${ORIGIN}", &origin.to_string_lossy())
                .replace("$ORIGIN", &origin.to_string_lossy()),
        )
    };
    let rpath: Vec<PathBuf> = if info.runpath.is_empty() {
        info.rpath.iter().map(expand).collect()
    } else {
        Vec::new()
    };
    let runpath: Vec<PathBuf> = info.runpath.iter().map(expand).collect();
    rpath
        .iter()
        .chain(&runpath)
        .chain(&search.extra_dirs)
        .chain(&search.system_dirs)
        .map(|d| d.join(lib))
        .find(|p| p.is_file())
}

/// The dynamic symbols an interpreter provides to the extensions it loads:
/// those of the executable and of the `libpython` it needs, if any (found
/// in `libdir`).
pub(crate) fn interpreter_symbols(
    executable: &Path,
    libdir: Option<&Path>,
) -> Option<HashSet<String>> {
    let exe = read_elf(executable, Detail::Dependency).ok()?;
    let mut names: HashSet<String> = exe.defined.iter().cloned().collect();
    let search = LibrarySearch {
        extra_dirs: libdir.map(Path::to_path_buf).into_iter().collect(),
        system_dirs: LibrarySearch::system(),
        interpreter_symbols: None,
    };
    for lib in exe.needed.iter().filter(|l| l.starts_with("libpython")) {
        if let Some(p) = locate(lib, executable, &exe, &search) {
            if let Ok(info) = read_elf(&p, Detail::Dependency) {
                names.extend(info.defined);
            }
        }
    }
    Some(names)
}
