//! `wheelwright build <spec>`: flags → [`JobSpec`] → [`job::run`] (with the
//! cancel flag Ctrl-C and SIGTERM set, and this binary as the supervisor of
//! the build's commands) → the job's events and report ([`console`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use wheelwright_core::builder::compile_cache::CompileCache;
use wheelwright_core::builder::DEFAULT_MAX_RETRIES;
use wheelwright_core::job::{self, JobSpec, PrebuiltPolicy};
use wheelwright_core::supervisor::Supervisor;

use super::plan::RecipeName;
use crate::exit;

pub mod console;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What to build: a PyPI requirement (`flash-attn==2.8.3`), an sdist (`.tar.gz`) or a source tree.
    pub spec: String,
    /// The recipe [default: flash-attn if the spec names flash-attn, else torch-ext].
    #[arg(long, value_enum)]
    pub recipe: Option<RecipeName>,
    /// The interpreter that builds (it must have torch) [default: the active venv, else `python3`].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Persistent work dir: the extracted sdist and its build/ dir live here across attempts and runs.
    #[arg(long, value_name = "DIR", default_value = ".wheelwright/build")]
    pub work_dir: PathBuf,
    /// Where the wheel, build.log and report.json land.
    #[arg(long, value_name = "DIR", default_value = "wheelhouse")]
    pub out: PathBuf,
    #[command(flatten)]
    pub schedule: super::ScheduleArgs,
    /// Retries with fewer jobs after an out-of-memory kill.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RETRIES, value_parser = clap::value_parser!(u32).range(0..=super::MAX_RETRIES_LIMIT))]
    pub max_retries: u32,
    /// Let flash-attn download a prebuilt wheel instead of compiling (no FLASH_ATTENTION_FORCE_BUILD).
    #[arg(long, conflicts_with = "prefer_prebuilt")]
    pub allow_prebuilt: bool,
    /// Look for flash-attn's prebuilt wheel for this host first (its release
    /// download: 5 s to connect, 10 s to the answer's headers, then 16 KiB
    /// every 30 s, at most 2 GiB and 600 s); use it when it passes
    /// `wheel check` (and verify), else compile.
    #[arg(long)]
    pub prefer_prebuilt: bool,
    /// Where --prefer-prebuilt downloads from (`/v{version}/{wheel}` follows): a mirror [default: flash-attn's GitHub releases].
    #[arg(long, value_name = "URL", env = wheelwright_core::env_vars::WHEELWRIGHT_PREBUILT_URL)]
    pub prebuilt_url: Option<String>,
    /// A folder of wheels --prefer-prebuilt looks in before downloading (repeatable).
    #[arg(long, value_name = "DIR", requires = "prefer_prebuilt")]
    pub prebuilt_wheelhouse: Vec<PathBuf>,
    /// Skip installing and importing the built wheel.
    #[arg(long)]
    pub no_verify: bool,
    /// Use this plan (from `wheelwright plan --json`) instead of planning here.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Scale the plan's times (and the ETA) to this host's compile speed,
    /// measured from an earlier build here: its `report.json`.
    #[arg(long, value_name = "REPORT", conflicts_with = "plan")]
    pub calibrate: Option<PathBuf>,
    /// The C++ ABI the wheel must have (`true`/`false`, `TRUE`/`FALSE`: a
    /// matrix cell's `cxx11-abi`): a torch of the other ABI is refused
    /// (exit 2) [default: torch's, whatever it is].
    #[arg(long, value_name = "BOOL", value_parser = super::cxx11_abi)]
    pub cxx11_abi: Option<bool>,
    /// Leave torch unpinned: without it the wheel's METADATA gets
    /// `Requires-Dist: torch==X.Y.*` for the torch it was compiled against,
    /// before it is verified and recorded (what the per-variant indexes need:
    /// pip and uv then never pair it with another torch minor).
    #[arg(long)]
    pub no_torch_pin: bool,
    /// Retag the wheel to the manylinux policy it meets before it is
    /// verified and recorded (a wheel that meets none fails the build);
    /// `publish` never changes a wheel.
    #[arg(long)]
    pub manylinux: bool,
    /// Experimental (PEP 817/825 are Drafts): also write the PEP 825 variant
    /// wheel beside the wheel (label: the local label lower-cased;
    /// `variant.json`: its `nvidia :: sm_arch` device code and CUDA lower
    /// bound); `publish` then writes `{name}-{version}-variants.json`.
    #[arg(long)]
    pub variants: bool,
    /// Run the build even when the plan's preflight checks refuse it (their findings stay in the report).
    #[arg(long)]
    pub force: bool,
    /// Print report.json to stdout at the end (the build log then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Compile through sccache (nvcc through PYTORCH_NVCC, the host C++ compiler
    /// through CXX): `--sccache` finds it on PATH, or give its path.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "sccache")]
    pub sccache: Option<PathBuf>,
    /// sccache's local cache directory (SCCACHE_DIR) [default: the user's sccache config].
    #[arg(long, value_name = "DIR", requires = "sccache")]
    pub sccache_dir: Option<PathBuf>,
    /// Seconds between SIGTERM and SIGKILL when the build is cancelled.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=super::KILL_GRACE_LIMIT as u64))]
    pub kill_grace: u64,
    #[command(flatten)]
    pub mask: super::MaskArgs,
}

impl BuildArgs {
    fn job_spec(&self) -> JobSpec {
        JobSpec {
            recipe: self.recipe.map(RecipeName::kind),
            python: self.python.clone(),
            archs: self.schedule.archs.clone(),
            max_jobs: self.schedule.max_jobs,
            nvcc_threads: self.schedule.nvcc_threads,
            work_dir: self.work_dir.clone(),
            out_dir: self.out.clone(),
            verify: !self.no_verify,
            max_retries: self.max_retries,
            kill_grace_seconds: self.kill_grace,
            force: self.force,
            calibrate_report: self.calibrate.clone(),
            prebuilt: PrebuiltPolicy::from_flags(self.prefer_prebuilt, self.allow_prebuilt),
            prebuilt_url: self.prebuilt_url.clone().filter(|u| !u.is_empty()),
            prebuilt_wheelhouses: self.prebuilt_wheelhouse.clone(),
            plan_file: self.plan.clone(),
            cxx11_abi: self.cxx11_abi,
            torch_pin: !self.no_torch_pin,
            manylinux: self.manylinux,
            variants: self.variants,
            compile_cache: self.sccache.as_ref().map(|s| CompileCache {
                sccache: s.clone(),
                dir: self.sccache_dir.clone(),
            }),
            ..JobSpec::new(&self.spec)
        }
    }
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    run_job(&args.job_spec(), args.json)
}

/// Run `spec` as `wheelwright build` does (also `wheelwright repro`'s rebuild):
/// the live console, the summary, the Action's outputs, the exit code.
pub fn run_job(spec: &JobSpec, json: bool) -> anyhow::Result<ExitCode> {
    let (cancel, mut console) = (super::cancel_on_signals()?, console::Console::new(json));
    let ctx = job::JobContext {
        detect: wheelwright_core::detect::DetectOptions::from_process_env(),
        network: &wheelwright_publish::HttpNetwork::from_env(),
        cancel: &cancel,
        // The build's commands die with this binary, even after `kill -9`.
        supervisor: Supervisor::this_program(console.fence_file()),
    };
    let result = job::run(spec, &ctx, &mut |e| console.event(e));
    console.finish();
    if let Some(report) = result.as_ref().map_or_else(|e| e.report(), Some) {
        console::show_report(report, json)?;
    }
    let report = result.map_err(|e| {
        let (hint, code) = (e.hint(), e.exit_code());
        exit::hinted(e, hint, code)
    })?;
    if json {
        super::print_json(&report)?;
    }
    Ok(ExitCode::from(report.exit_code()))
}
