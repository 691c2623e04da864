//! [`BuildRecord`]: what one build did, as the builder knows it, and the
//! parts of the report contract it fills ([`Outcome`], [`Attempt`],
//! [`BuildEnvironment`]).
//!
//! The builder hands its record over each time it changes (after the records
//! open, after every attempt, at the end: [`KeepRecord`]); the Job above puts
//! it into the `BuildReport` (wheelwright-job), with the spec, the host, the
//! plan, the prebuilt lookup and the publishing around it, and writes
//! `report.json`. The builder knows nothing of those.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use wheelwright_base::finding::Finding;
use wheelwright_wheel::file::WheelInfo;
use wheelwright_wheel::variant::VariantWheel;

use crate::compile_cache::CacheUsage;
use crate::memory::MemoryPeak;
use crate::verify::VerifyResult;

/// How an attempt, or the whole build, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The wheel was built (and verified, when asked).
    Ok,
    /// The compiler was killed for memory (the OOM killer or a cgroup limit).
    OomKilled,
    /// Stopped by wheelwright's thrash watchdog: the build's tasks stalled on
    /// memory at the ceiling for too long (`builder::oom::thrash`); retried
    /// like an OOM kill.
    Thrashing,
    /// The build failed for another reason.
    Failed,
    /// The job was cancelled (a signal, or the caller's flag).
    Cancelled,
}

impl Outcome {
    /// The outcome as reports spell it (`ok`, `oom-killed`, `thrashing`,
    /// `failed`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OomKilled => "oom-killed",
            Outcome::Thrashing => "thrashing",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The documented exit code for this outcome: 0, 1, or 130.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::OomKilled | Outcome::Thrashing | Outcome::Failed => 1,
            Outcome::Cancelled => 130,
        }
    }
}

/// One run of the package's build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attempt {
    /// MAX_JOBS of this attempt.
    pub max_jobs: u32,
    /// NVCC_THREADS of this attempt.
    pub nvcc_threads: u32,
    /// How long it ran.
    pub seconds: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// Exit code of the build command; `None` when a signal ended it.
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    /// The signal that ended the build command, if one did.
    pub signal: Option<i32>,
    #[serde(default)]
    /// The highest memory use seen while it ran.
    pub peak_memory: MemoryPeak,
    /// Findings the diagnoser made on this attempt's output, most important first.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Why an attempt that died or was stopped was judged as it was, in
    /// words: the out-of-memory evidence, why a kill was not one, or the
    /// thrash watchdog's evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The highest memory pressure of this attempt: the largest share
    /// (percent) of any 10 s of it in which all of the build's tasks stalled
    /// on memory, from the PSI `full total=` stall counter read at its own
    /// samples (so, unlike the kernel's `avg10`, nothing of an earlier
    /// attempt's stall; 3-10 s windows in its first 10 s). Absent where PSI
    /// is unreadable or the attempt ended within 3 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_pressure_peak: Option<f64>,
    /// What watched it and what could not, e.g. that no thrash watchdog ran
    /// because memory pressure was unreadable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The environment the build command ran in, as wheelwright set it: enough,
/// with [`BuildReport::command`], to run the same command by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// The link names the Job's report (wheelwright-job, above this crate); the
// committed report schema quotes this doc, so it stays as written.
#[allow(rustdoc::broken_intra_doc_links)]
pub struct BuildEnvironment {
    /// Variables set on top of the inherited environment for the first
    /// attempt (the plan's, MAX_JOBS, NVCC_THREADS, ...), PATH aside.
    pub set: std::collections::BTreeMap<String, String>,
    /// Variables removed from the inherited environment.
    pub removed: Vec<String>,
    /// Directories put in front of the inherited PATH (the interpreter's).
    pub path_prepend: Vec<PathBuf>,
    /// The directory the command ran in.
    pub cwd: PathBuf,
}

/// What one build did, as the builder knows it: the fields of the
/// `BuildReport` the builder fills, under the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildRecord {
    /// Where the build keeps its tree, objects and `dist/` between runs.
    pub work_dir: PathBuf,
    /// The extracted sdist or the given tree, once the source is ready.
    pub source_dir: Option<PathBuf>,
    /// The sdist's sha256, or the tree's ([`crate::tree_hash::tree_sha256`]).
    pub source_sha256: Option<String>,
    /// `python -m pip wheel ...` as the first attempt ran it.
    pub command: Vec<String>,
    /// What that command's environment added, removed and ran in.
    pub environment: Option<BuildEnvironment>,
    /// When the records opened (RFC 3339, UTC).
    pub start: String,
    /// When they closed; `None` until then.
    pub end: Option<String>,
    /// From `start` to `end`.
    pub duration_seconds: f64,
    /// The most memory any attempt took.
    pub peak_memory: MemoryPeak,
    /// The attempts so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// The time of the attempts that made no wheel.
    pub time_lost_seconds: f64,
    /// Set when the build ends.
    pub outcome: Option<Outcome>,
    /// [`Outcome::exit_code`] of `outcome`.
    pub exit_code: Option<i32>,
    /// The request's preflight findings, then the builder's; most important
    /// first once the attempts are done.
    pub findings: Vec<Finding>,
    /// The wheel in the out dir (built, or taken: [`crate::record_existing_wheel`]).
    pub wheel: Option<WheelInfo>,
    /// With `--variants`: the PEP 825 variant wheel written beside `wheel`.
    pub variant: Option<VariantWheel>,
    /// The fresh-venv install and import, when it ran (or why not).
    pub verify: Option<VerifyResult>,
    /// The build's `build.log`.
    pub log: Option<PathBuf>,
    /// sccache's hits and the compile time they saved.
    pub compile_cache: Option<CacheUsage>,
}

impl BuildRecord {
    /// The record of a build about to start in `work_dir`.
    pub fn started(work_dir: &Path) -> Self {
        BuildRecord {
            work_dir: work_dir.to_path_buf(),
            source_dir: None,
            source_sha256: None,
            command: Vec::new(),
            environment: None,
            start: now_rfc3339(),
            end: None,
            duration_seconds: 0.0,
            peak_memory: MemoryPeak::default(),
            attempts: Vec::new(),
            time_lost_seconds: 0.0,
            outcome: None,
            exit_code: None,
            findings: Vec::new(),
            wheel: None,
            variant: None,
            verify: None,
            log: None,
            compile_cache: None,
        }
    }
}

/// Where the builder's record goes each time it changes: after the records
/// open, after every attempt and at the end, with the path of `report.json`
/// in the out dir. The Job writes it there within its report; an error at the
/// start or the end stops the build ([`crate::BuildError::Record`]), one
/// after an attempt is ignored (the next write may succeed).
pub type KeepRecord<'a> = dyn FnMut(&BuildRecord, &Path) -> std::io::Result<()> + 'a;

/// The current time as RFC 3339 in UTC, `2026-03-21T14:07:00.123Z`.
pub fn now_rfc3339() -> String {
    let ts = jiff::Timestamp::now();
    // Millisecond precision is plenty for a build report.
    ts.round(jiff::Unit::Millisecond).unwrap_or(ts).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_and_codes_are_the_contract() {
        let names: Vec<String> = [
            Outcome::Ok,
            Outcome::OomKilled,
            Outcome::Thrashing,
            Outcome::Failed,
            Outcome::Cancelled,
        ]
        .iter()
        .map(|o| {
            serde_json::to_value(o)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
        assert_eq!(
            names,
            ["ok", "oom-killed", "thrashing", "failed", "cancelled"]
        );
        assert_eq!(Outcome::Thrashing.as_str(), "thrashing");
        assert_eq!(Outcome::Thrashing.exit_code(), 1);
        assert_eq!(Outcome::OomKilled.as_str(), "oom-killed");
        assert_eq!(Outcome::Cancelled.exit_code(), 130);
        assert_eq!(Outcome::Failed.exit_code(), 1);
    }
}
