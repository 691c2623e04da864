//! Persistent work dirs on shared runners: one directory per source and
//! build variant, locked while a build uses it, evicted by age and total size.
//!
//! A rebuild in the same work dir reuses every finished object (44 s against
//! 22 min cold for flash-attn, measured on the H200 machine), but objects
//! compiled for one variant must never be linked into another: a different
//! torch (with its patch version), CUDA, Python, C++ ABI, arch list or host
//! compiler gives `undefined symbol` wheels or wrong device code. So the
//! directory's name is a hash of all of them ([`Variant::key`]), with the
//! sha256 of the source. A scope (`release`, `pull-request`) keeps builds of
//! untrusted changes away from the objects release builds reuse.
//!
//! Several runner agents on one host share one tool cache: a build holds an
//! exclusive `flock` on `<dir>.lock` ([`WorkDirLock`]), and eviction removes
//! only directories whose lock it can take at once. Lock files live beside
//! their directories and are removed with them; a waiter that got the lock
//! of a removed file checks the inode and takes the new one.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use wheelwright_base::facts::{Compiler, Facts};
use wheelwright_base::safe_read::read_own_small_file;
use wheelwright_base::safe_write::write_atomically;
use wheelwright_plan::preflight::default_gcc;

mod select;

pub use select::{select, Evicted, SelectError, SelectRequest, Selection};

/// The file in each work dir that records its variant; eviction touches only
/// directories that hold one.
pub const VARIANT_FILE: &str = ".wheelwright-variant.json";

/// Everything compiled objects depend on, and the source they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// `release`, `pull-request`, ...: builds of different trust never share objects.
    pub scope: String,
    /// sha256 of the sdist (or of a source tree's absolute path).
    pub source_sha256: String,
    /// torch's version with its patch and local label, `2.8.0+cu128`.
    pub torch: String,
    /// The CUDA toolkit's version (nvcc), `12.8`.
    pub cuda: String,
    /// The building Python's version, `3.12.3`.
    pub python: String,
    /// torch's `_GLIBCXX_USE_CXX11_ABI`.
    pub cxx11_abi: Option<bool>,
    /// The CUDA archs compiled, compact and sorted (`80`, `90a`).
    pub archs: Vec<String>,
    /// The host compiler nvcc and the `.cpp` files use: path and version.
    pub compiler: String,
}

/// Why a work dir cannot be had.
#[derive(Debug, Error)]
pub enum WorkDirError {
    /// What a variant is made of was not detected.
    #[error("cannot key the work dir: no {0} was detected")]
    Undetected(&'static str),
    /// A scope must be a short name that can be part of a directory name.
    #[error("scope `{0}` is not a name (letters, digits, `-`, at most 40)")]
    BadScope(String),
    /// Another build holds the work dir longer than we wait.
    #[error("{path} is in use by another build (waited {waited:?})")]
    Locked {
        /// The locked work dir.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The wait for another build's lock was cancelled.
    #[error("cancelled while waiting for {path}")]
    Cancelled {
        /// The locked work dir.
        path: PathBuf,
    },
    /// A directory named by a key holds another variant (a corrupted record).
    #[error("{path} records another variant than its name says")]
    Mismatch {
        /// The work dir.
        path: PathBuf,
    },
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl WorkDirError {
    /// What to do about it, for the `hint:` line.
    pub fn hint(&self) -> String {
        match self {
            WorkDirError::Undetected(what) => format!("make {what} visible to `wheelwright detect` (it is part of the work dir's key), or pass an explicit work dir"),
            WorkDirError::BadScope(_) => "use e.g. `release` or `pull-request`".into(),
            WorkDirError::Locked { .. } => "wait for the other build, or give this one another work dir".into(),
            WorkDirError::Cancelled { .. } => "run it again when the other build is done".into(),
            WorkDirError::Mismatch { path } => format!("remove {} and build again", path.display()),
            WorkDirError::Io { .. } => "give the work dir root a directory this user can create and write".into(),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WorkDirError + '_ {
    move |source| WorkDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Variant {
    /// The variant of a build on a host with `facts` compiling `archs`
    /// (compact, `80`, `90a`) from a source with `source_sha256`.
    pub fn from_facts(
        facts: &Facts,
        archs: &[String],
        source_sha256: &str,
        scope: &str,
    ) -> Result<Variant, WorkDirError> {
        let torch = facts
            .torch
            .as_ref()
            .ok_or(WorkDirError::Undetected("torch"))?;
        let cuda = facts
            .cuda
            .as_ref()
            .ok_or(WorkDirError::Undetected("CUDA toolkit"))?;
        let python = facts
            .python
            .as_ref()
            .ok_or(WorkDirError::Undetected("Python"))?;
        let compiler = nvcc_host_compiler(facts).ok_or(WorkDirError::Undetected("gcc"))?;
        let mut archs = archs.to_vec();
        archs.sort();
        archs.dedup();
        Ok(Variant {
            scope: scope.to_string(),
            source_sha256: source_sha256.to_string(),
            torch: torch.version.clone(),
            cuda: cuda.version.clone(),
            python: python.version.clone(),
            cxx11_abi: torch.cxx11_abi,
            archs,
            compiler: format!("{} {} {}", compiler.name, compiler.version, compiler.path),
        })
    }

    /// The directory name: `<scope>-<24 hex digits of the sha256 of the whole variant>`.
    pub fn key(&self) -> Result<String, WorkDirError> {
        let scope_ok = !self.scope.is_empty()
            && self.scope.len() <= 40
            && self
                .scope
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !scope_ok {
            return Err(WorkDirError::BadScope(self.scope.clone()));
        }
        // Field order is the struct's: serde_json keeps it.
        let json = serde_json::to_vec(self).expect("a Variant serializes");
        let hex = wheelwright_base::digest::hex(&Sha256::digest(&json)[..12]);
        Ok(format!("{}-{hex}", self.scope))
    }
}

/// The compiler the build will use: the default gcc, or, when nvcc does not
/// accept it, the newest installed gcc it does (the one the plan picks).
fn nvcc_host_compiler(facts: &Facts) -> Option<&Compiler> {
    let default = default_gcc(facts)?;
    let max = facts.cuda.as_ref().and_then(|c| c.max_gcc_major);
    match max {
        Some(max) if default.major > max => facts
            .compilers
            .iter()
            .filter(|c| c.name == "gcc" && c.major <= max)
            .max_by_key(|c| c.major)
            .or(Some(default)),
        _ => Some(default),
    }
}

/// The sha256 (hex) of a string: a source tree's path, a requirement.
pub fn text_sha256(text: &str) -> String {
    wheelwright_base::digest::sha256_bytes(text.as_bytes())
}

/// The sha256 (hex) of a file, read in chunks.
pub fn file_sha256(path: &Path) -> Result<String, WorkDirError> {
    wheelwright_base::digest::sha256_file(path).map_err(io_err(path))
}

/// An exclusive lock on a work dir, held until dropped.
#[derive(Debug)]
pub struct WorkDirLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl WorkDirLock {
    /// The lock file of `dir`: `<dir>.lock` beside it.
    pub fn lock_path(dir: &Path) -> PathBuf {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        dir.with_file_name(name)
    }

    /// Lock `dir` (creating its parent), waiting up to `timeout` for
    /// another holder.
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<WorkDirLock, WorkDirError> {
        let start = Instant::now();
        loop {
            if let Some(lock) = Self::try_acquire(dir)? {
                return Ok(lock);
            }
            if start.elapsed() >= timeout {
                return Err(WorkDirError::Locked {
                    path: dir.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(200).min(timeout));
        }
    }

    /// Lock `dir`, waiting as long as another build holds it, until
    /// `cancel` is set; `on_wait` is called once if it has to wait.
    pub fn acquire_cancellable(
        dir: &Path,
        cancel: &AtomicBool,
        on_wait: impl FnOnce(&Path),
    ) -> Result<WorkDirLock, WorkDirError> {
        if let Some(lock) = Self::try_acquire(dir)? {
            return Ok(lock);
        }
        on_wait(&Self::lock_path(dir));
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(WorkDirError::Cancelled {
                    path: dir.to_path_buf(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
            if let Some(lock) = Self::try_acquire(dir)? {
                return Ok(lock);
            }
        }
    }

    /// Lock `dir` if no one holds it; `None` if someone does.
    pub fn try_acquire(dir: &Path) -> Result<Option<WorkDirLock>, WorkDirError> {
        let path = Self::lock_path(dir);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        loop {
            // Never through a link: one planted at `<dir>.lock` (the root is
            // shared) would make us create or lock a file elsewhere. We
            // never make links, so it is removed (the link, not its target).
            let opened = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&path);
            let file = match opened {
                Ok(file) => file,
                Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                    std::fs::remove_file(&path).map_err(io_err(&path))?;
                    continue;
                }
                Err(e) => return Err(io_err(&path)(e)),
            };
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, e)) => return Err(io_err(&path)(e.into())),
            };
            // An evictor may have removed the file we locked: then lock the new one.
            let held = lock.metadata().map_err(io_err(&path))?;
            match std::fs::metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Some(WorkDirLock { _lock: lock, path }))
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// When old work dirs go.
#[derive(Debug, Clone, Copy)]
pub struct EvictionPolicy {
    /// Remove work dirs not used for longer than this.
    pub max_age: Duration,
    /// Then remove the least recently used until all together take at most this.
    pub max_total_bytes: u64,
}

/// A work dir under the root, as eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkDirEntry {
    /// The directory.
    pub path: PathBuf,
    /// Bytes of the files in it.
    pub bytes: u64,
    /// When a build last prepared it (its variant file's mtime).
    #[serde(skip)]
    pub last_used: SystemTime,
}

/// Why a work dir was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvictionReason {
    /// Not used for longer than the policy's age.
    Age,
    /// The least recently used while the total was over the policy's size.
    Size,
}

/// The work dirs of one root (a runner's tool cache).
#[derive(Debug, Clone)]
pub struct WorkDirs {
    root: PathBuf,
}

impl WorkDirs {
    /// Work dirs under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkDirs { root: root.into() }
    }

    /// The directory of `variant` (not created).
    pub fn path_for(&self, variant: &Variant) -> Result<PathBuf, WorkDirError> {
        Ok(self.root.join(variant.key()?))
    }

    /// Create (or reuse) the directory of `variant`, record the variant in
    /// it and mark it used now. A directory whose record names another
    /// variant is refused.
    pub fn prepare(&self, variant: &Variant) -> Result<PathBuf, WorkDirError> {
        let dir = self.path_for(variant)?;
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let record = dir.join(VARIANT_FILE);
        // Neither read nor written through a link planted in its place (a
        // link is replaced by the write); a record is a few hundred bytes.
        if let Ok(text) = read_own_small_file(&record, 64 * 1024) {
            match serde_json::from_str::<Variant>(&text) {
                Ok(v) if v == *variant => {}
                _ => return Err(WorkDirError::Mismatch { path: dir }),
            }
        }
        let json = serde_json::to_string_pretty(variant).expect("a Variant serializes");
        // Rewriting it sets its mtime: the last use, which eviction reads.
        write_atomically(&record, json.as_bytes()).map_err(io_err(&record))?;
        Ok(dir)
    }

    /// Every work dir under the root (directories holding a variant file),
    /// least recently used first.
    pub fn list(&self) -> Result<Vec<WorkDirEntry>, WorkDirError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.root)(e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(io_err(&self.root))?;
            // Work dirs are directories we made, holding a record we wrote:
            // a link in their place is not followed.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(path.join(VARIANT_FILE)) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let last_used = meta.modified().map_err(io_err(&path))?;
            out.push(WorkDirEntry {
                bytes: tree_bytes(&path),
                path,
                last_used,
            });
        }
        out.sort_by_key(|e| e.last_used);
        Ok(out)
    }

    /// Remove work dirs by `policy` as of `now`, never `keep` and never one
    /// another build holds locked. Returns what went, and why.
    pub fn evict(
        &self,
        policy: &EvictionPolicy,
        now: SystemTime,
        keep: Option<&Path>,
    ) -> Result<Vec<(WorkDirEntry, EvictionReason)>, WorkDirError> {
        let mut entries = self.list()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let mut evicted = Vec::new();
        let mut i = 0;
        while i < entries.len() {
            let e = &entries[i];
            let age = now.duration_since(e.last_used).unwrap_or_default();
            let reason = if age > policy.max_age {
                EvictionReason::Age
            } else if total > policy.max_total_bytes {
                EvictionReason::Size
            } else {
                i += 1;
                continue;
            };
            if keep == Some(e.path.as_path()) {
                i += 1;
                continue;
            }
            let Some(lock) = WorkDirLock::try_acquire(&e.path)? else {
                i += 1;
                continue; // in use
            };
            std::fs::remove_dir_all(&e.path).map_err(io_err(&e.path))?;
            std::fs::remove_file(lock.path()).map_err(io_err(lock.path()))?;
            drop(lock);
            let e = entries.remove(i);
            total -= e.bytes;
            evicted.push((e, reason));
        }
        Ok(evicted)
    }
}

/// Bytes of the regular files under `dir` (symlinks not followed; what
/// cannot be read counts nothing).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests;
