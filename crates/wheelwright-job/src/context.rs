//! What a job gets from its caller besides the spec ([`JobContext`]), and
//! what it tells the caller as it goes ([`JobEvent`]).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use wheelwright_base::finding::Finding;
use wheelwright_build::BuildEvent;
use wheelwright_detect::DetectOptions;

use crate::net::Network;
use crate::publish::PublishReport;

/// What a job needs from its caller besides the spec.
pub struct JobContext<'a> {
    /// How to detect the host (root, PATH, followed variables); the job sets
    /// its interpreter and disk path from the spec.
    pub detect: DetectOptions,
    /// Fetches `http(s)://` sources; [`crate::net::Offline`] where there is no network.
    pub network: &'a dyn Network,
    /// Set it (from a signal handler, another thread) to stop the job: the
    /// download or the build's process tree is stopped, the records are kept.
    pub cancel: &'a AtomicBool,
    /// Run the build's commands under this supervisor (the `wheelwright`
    /// binary passes itself), so they die with this process even after
    /// `kill -9`; `None` runs them directly ([`wheelwright_process::supervisor`] says what
    /// that misses).
    pub supervisor: Option<wheelwright_process::supervisor::Supervisor>,
}

impl std::fmt::Debug for JobContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("detect", &self.detect)
            .field("cancel", &self.cancel)
            .field("supervisor", &self.supervisor)
            .finish_non_exhaustive()
    }
}

/// Progress of a job: the stages before the build, then the build's own events.
#[derive(Debug)]
pub enum JobEvent<'a> {
    /// Detecting the host and planning the build.
    Planning,
    /// Downloading the source: a requirement's sdist (through pip) or a URL
    /// (through the job's network).
    FetchingSource {
        /// The requirement or URL.
        what: &'a str,
        /// `pip download --no-binary :all:` or `the job's network`.
        how: &'a str,
    },
    /// The plan's preflight refused the build; with `forced` it runs anyway.
    Refused {
        /// The error findings (their fixes say what to do).
        findings: &'a [Finding],
        /// The spec's `force` is set: the build goes on.
        forced: bool,
    },
    /// Another build on this host holds the work dir: the job waits for it
    /// (until cancelled).
    WaitingForWorkDir {
        /// The work dir.
        work_dir: &'a Path,
        /// Its lock file.
        lock: &'a Path,
    },
    /// The build starts with these settings.
    Building {
        /// The spec's source, as given.
        source: &'a str,
        /// The recipe (`flash-attn`, `torch-ext`).
        recipe: &'a str,
        /// MAX_JOBS of the first attempt.
        max_jobs: u32,
        /// NVCC_THREADS of every attempt.
        nvcc_threads: u32,
        /// Where the wheel, `build.log` and `report.json` land.
        out_dir: &'a Path,
    },
    /// An event of the build runner (log lines, progress, attempts).
    Build(BuildEvent<'a>),
    /// The build succeeded and its wheel is being published to the spec's targets.
    Publishing {
        /// The wheel.
        wheel: &'a Path,
    },
    /// What publishing did, file by file (also in the report).
    Published(&'a PublishReport),
}
