//! `BuildReport`: what one `wheelwright build` did, as one serializable value.
//!
//! Written as `report.json` next to the wheel and `build.log`, after every
//! attempt and at the end, so a failed or cancelled build still leaves one. The
//! field names are a contract (sinks, `repro`, other CI systems read them): add
//! fields freely, never rename.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use wheelwright_base::env_vars;
use wheelwright_base::facts::Facts;
use wheelwright_base::finding::Finding;
use wheelwright_build::compile_cache::CacheUsage;
use wheelwright_build::{BuildRecord, MemoryPeak, VerifyResult};
use wheelwright_plan::calibrate::{calibrate, CalibrateError, PastBuild, SpeedCalibration};
use wheelwright_plan::measurements::parse_ninja_log;
use wheelwright_plan::recipe::{
    resolve_units, Recipe, TranslationUnit, DEFAULT_FLASH_ATTN_VERSION,
};
use wheelwright_plan::CostModel;
use wheelwright_wheel::file::WheelInfo;
use wheelwright_wheel::variant::VariantWheel;

pub use wheelwright_build::record::{now_rfc3339, Attempt, BuildEnvironment, Outcome};

use crate::prebuilt::PrebuiltRecord;
use crate::spec::JobSpec;

/// Version of the `BuildReport` JSON contract.
///
/// 2 added `job` (the [`JobSpec`]), `environment`, `source_sha256`, and
/// `cxx11_abi`/`gcc` in the facts; every field of 1 is kept.
pub const BUILD_REPORT_SCHEMA_VERSION: u32 = 2;

/// The `schema_version`s [`BuildReport`] reads.
pub const READABLE_SCHEMA_VERSIONS: [u32; 2] = [1, BUILD_REPORT_SCHEMA_VERSION];

/// The host, in the few numbers a reader of a report wants first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FactsSummary {
    /// `linux`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// Logical CPUs.
    pub logical_cpus: u32,
    /// The cgroup CPU quota in cores, if one is set.
    pub cpu_quota: Option<f64>,
    /// Total memory.
    pub memory_total_bytes: u64,
    /// The cgroup memory limit, if one is set.
    pub memory_limit_bytes: Option<u64>,
    /// `"NVIDIA H100 80GB HBM3 (9.0)"`, one per GPU.
    pub gpus: Vec<String>,
    /// The NVIDIA driver's version.
    pub driver: Option<String>,
    /// nvcc's CUDA version.
    pub cuda: Option<String>,
    /// The build interpreter's Python version.
    pub python: Option<String>,
    /// torch's version.
    pub torch: Option<String>,
    /// `torch.version.cuda`.
    pub torch_cuda: Option<String>,
    /// ninja's version (`unknown` when it would not say).
    pub ninja: Option<String>,
    /// `"gcc 13.3.0"`, one per compiler found.
    pub compilers: Vec<String>,
    /// torch's C++11 ABI (`torch._C._GLIBCXX_USE_CXX11_ABI`); schema 2.
    #[serde(default)]
    pub cxx11_abi: Option<bool>,
    /// The version of the `gcc` first on PATH (the host compiler the build
    /// uses unless the plan sets CC); schema 2.
    #[serde(default)]
    pub gcc: Option<String>,
}

impl FactsSummary {
    /// The summary of `f`.
    pub fn from_facts(f: &Facts) -> FactsSummary {
        FactsSummary {
            os: f.host.os.clone(),
            arch: f.host.arch.clone(),
            logical_cpus: f.host.logical_cpus,
            cpu_quota: f.host.cpu_quota,
            memory_total_bytes: f.host.memory_total_bytes,
            memory_limit_bytes: f.host.memory_limit_bytes,
            gpus: f
                .gpus
                .iter()
                .map(|g| format!("{} ({})", g.name, g.compute_capability))
                .collect(),
            driver: f.driver.as_ref().map(|d| d.version.clone()),
            cuda: f.cuda.as_ref().map(|c| c.version.clone()),
            python: f.python.as_ref().map(|p| p.version.clone()),
            torch: f.torch.as_ref().map(|t| t.version.clone()),
            torch_cuda: f.torch.as_ref().and_then(|t| t.cuda.clone()),
            ninja: f
                .ninja
                .as_ref()
                .map(|n| n.version.clone().unwrap_or_else(|| "unknown".into())),
            compilers: f
                .compilers
                .iter()
                .map(|c| format!("{} {}", c.name, c.version))
                .collect(),
            cxx11_abi: f.torch.as_ref().and_then(|t| t.cxx11_abi),
            gcc: f
                .compilers
                .iter()
                .find(|c| c.name == "gcc")
                .map(|c| c.version.clone()),
        }
    }
}

/// Everything one `wheelwright build` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BuildReport {
    /// The version of this contract: [`BUILD_REPORT_SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// The wheelwright that wrote it.
    pub wheelwright_version: String,
    /// What the user asked to build (`flash-attn==2.8.3`, a path).
    pub spec: String,
    /// `flash-attn` or `torch-ext`.
    pub recipe: String,
    /// The tree that was built (the extracted sdist, or the user's tree).
    pub source_dir: Option<PathBuf>,
    /// The persistent work dir of the build.
    pub work_dir: PathBuf,
    /// The host, in brief.
    pub facts: Option<FactsSummary>,
    /// The plan the build ran with.
    pub plan: Option<wheelwright_plan::Plan>,
    /// The build command of the first attempt, for reproducing it by hand.
    pub command: Vec<String>,
    /// RFC 3339, UTC.
    pub start: String,
    /// RFC 3339, UTC; `None` while the build runs.
    pub end: Option<String>,
    /// Seconds from start to end.
    pub duration_seconds: f64,
    /// The highest memory use over all attempts.
    pub peak_memory: MemoryPeak,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Seconds spent in attempts that did not produce the wheel.
    pub time_lost_seconds: f64,
    /// How the build ended; `None` while it runs.
    pub outcome: Option<Outcome>,
    /// Preflight findings of the plan, then the diagnoser's on the last attempt.
    pub findings: Vec<Finding>,
    /// The wheel, when one was built.
    pub wheel: Option<WheelInfo>,
    /// With `--variants` (experimental): the PEP 825 variant wheel written
    /// beside `wheel` from it, its label and properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantWheel>,
    /// What the verification found, when it ran.
    pub verify: Option<VerifyResult>,
    /// `build.log`.
    pub log: Option<PathBuf>,
    /// The exit code `wheelwright build` returns: 0 ok, 1 failed, 130 cancelled.
    pub exit_code: Option<i32>,
    /// What publishing the wheel did, when the job's spec has publish targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<crate::publish::PublishReport>,
    /// The compile cache's hits and the time they saved, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_cache: Option<CacheUsage>,
    /// The job's spec, as it ran (schema 2; `wheelwright repro` replays it).
    #[serde(default)]
    pub job: Option<JobSpec>,
    /// The environment of the build command (schema 2).
    #[serde(default)]
    pub environment: Option<BuildEnvironment>,
    /// sha256 of the sdist that was built, or of the source tree's files
    /// ([`super::tree_hash::tree_sha256`]) when the source was a directory
    /// (schema 2).
    #[serde(default)]
    pub source_sha256: Option<String>,
    /// With `--prefer-prebuilt`: the prebuilt wheel used instead of
    /// compiling (its URL and sha256; `wheel` is then that file, `attempts`
    /// empty), or why none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prebuilt: Option<PrebuiltRecord>,
}

/// What the Job knows of a build besides the builder's record: the parts of
/// the [`BuildReport`] it fills.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportHead {
    /// What the user asked to build.
    pub spec: String,
    /// `flash-attn` or `torch-ext`.
    pub recipe: String,
    /// The host, in brief.
    pub facts: Option<FactsSummary>,
    /// The plan the build runs with.
    pub plan: Option<wheelwright_plan::Plan>,
    /// The job's spec.
    pub job: Option<JobSpec>,
    /// The prebuilt-wheel lookup.
    pub prebuilt: Option<PrebuiltRecord>,
}

impl ReportHead {
    /// Write `record`'s report to `path` ([`BuildReport::write`]): what the
    /// Job hands the builder as its [`wheelwright_build::KeepRecord`].
    pub fn write(&self, record: &BuildRecord, path: &Path) -> std::io::Result<()> {
        BuildReport::assemble(self, record).write(path)
    }
}

impl BuildReport {
    /// The documented exit code of the build: its outcome's
    /// ([`Outcome::exit_code`]: 0, 1 or 130), 1 for a report without one.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            Some(o) => o.exit_code() as u8,
            None => 1,
        }
    }

    /// A report for a build that is about to start.
    pub fn started(spec: impl Into<String>, recipe: impl Into<String>, work_dir: &Path) -> Self {
        let head = ReportHead {
            spec: spec.into(),
            recipe: recipe.into(),
            ..ReportHead::default()
        };
        BuildReport::assemble(&head, &BuildRecord::started(work_dir))
    }

    /// The report of a build: the builder's `record` inside what the Job
    /// knows around it (`head`); no publishing yet.
    pub fn assemble(head: &ReportHead, record: &BuildRecord) -> Self {
        let BuildRecord {
            work_dir,
            source_dir,
            source_sha256,
            command,
            environment,
            start,
            end,
            duration_seconds,
            peak_memory,
            attempts,
            time_lost_seconds,
            outcome,
            exit_code,
            findings,
            wheel,
            variant,
            verify,
            log,
            compile_cache,
        } = record.clone();
        BuildReport {
            schema_version: BUILD_REPORT_SCHEMA_VERSION,
            wheelwright_version: env!("CARGO_PKG_VERSION").to_string(),
            spec: head.spec.clone(),
            recipe: head.recipe.clone(),
            source_dir,
            work_dir,
            facts: head.facts.clone(),
            plan: head.plan.clone(),
            command,
            start,
            end,
            duration_seconds,
            peak_memory,
            attempts,
            time_lost_seconds,
            outcome,
            findings,
            wheel,
            variant,
            verify,
            log,
            exit_code,
            publish: None,
            compile_cache,
            job: head.job.clone(),
            environment,
            source_sha256,
            prebuilt: head.prebuilt.clone(),
        }
    }

    /// Write as pretty JSON with secrets masked, atomically (a uniquely named temp file created
    /// exclusively, synced, renamed over `path`), so a reader never sees half
    /// a report and a symlink planted at `path` is replaced, not followed.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        // Every string in it (the spec, the command, the environment, the
        // findings) masked by the process's secrets.
        let json = wheelwright_base::secrets::installed().mask_json_text(&json);
        wheelwright_base::safe_write::write_atomically(path, (json + "\n").as_bytes())
    }

    /// Read a report written by [`BuildReport::write`].
    pub fn read(path: &Path) -> std::io::Result<BuildReport> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }

    /// This host's compile speed from the build this report describes: its
    /// plan's gencodes, threads and CPUs, and the `.ninja_log` its source tree
    /// kept in the work dir (`build/*/.ninja_log`). See [`SpeedCalibration`].
    pub fn speed_calibration(&self) -> Result<SpeedCalibration, CalibrateError> {
        let past = self.past_build()?;
        calibrate(&past.model(), &past.as_past())
    }

    /// The compile costs this build measured for each of its units (times
    /// from its `.ninja_log`, peaks from its memory samples where it kept
    /// them per unit), for the next plan of the same source on this host (see
    /// [`wheelwright_plan::HostCosts`]); an error when the report names no source
    /// sha256 or its log is gone.
    pub fn host_costs(&self) -> Result<wheelwright_plan::HostCosts, CalibrateError> {
        let sha = self
            .source_sha256
            .clone()
            .ok_or_else(|| CalibrateError::Input {
                path: self.work_dir.display().to_string(),
                message: "the report names no source sha256".into(),
            })?;
        let past = self.past_build()?;
        let model = past.model();
        let mut costs = wheelwright_plan::calibrate::host_costs(&model, &past.as_past(), &sha);
        // Each compile's peak as the memory samples saw its process tree.
        costs.peaks = wheelwright_plan::calibrate::unit_peaks(
            &model,
            &past.units,
            past.gencodes,
            past.threads,
            &self.peak_memory.units,
        );
        Ok(costs)
    }

    /// The units, log and settings of this build, as the calibrations read
    /// them.
    fn past_build(&self) -> Result<LoggedBuild, CalibrateError> {
        let input = |message: String| CalibrateError::Input {
            path: self.work_dir.display().to_string(),
            message,
        };
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| input("the report has no plan".into()))?;
        let source = self
            .source_dir
            .as_ref()
            .ok_or_else(|| input("the report names no source dir".into()))?;
        let pattern = source.join("build").join("*").join(".ninja_log");
        let log_path = glob::glob(&pattern.to_string_lossy())
            .ok()
            .and_then(|mut paths| paths.find_map(Result::ok))
            .ok_or_else(|| {
                input(format!(
                    "no {} (was the work dir removed?)",
                    pattern.display()
                ))
            })?;
        let text = std::fs::read_to_string(&log_path)
            .map_err(|e| input(format!("cannot read {}: {e}", log_path.display())))?;
        let log = parse_ninja_log(&text);
        let units = if plan.unit_plan.is_empty() {
            self.recipe_units(plan, source).map_err(input)?
        } else {
            // A torch extension whose setup.py was run: its units as planned.
            plan.unit_plan.iter().filter_map(planned_unit).collect()
        };
        let set = |k: &str| plan.env.contains_key(k);
        let threads = if set(env_vars::NVCC_THREADS) || set(env_vars::NVCC_APPEND_FLAGS) {
            self.attempts
                .last()
                .map_or(plan.nvcc_threads, |a| a.nvcc_threads)
        } else {
            1
        };
        Ok(LoggedBuild {
            units,
            log,
            gencode_flags: plan.gencode_flags.clone(),
            gencodes: plan.gencodes.max(1),
            threads,
            cpus: plan.cpus,
            basis: log_path.display().to_string(),
        })
    }

    /// The recipe's units of the tree the build compiled; flash-attn's
    /// built-in file list where the tree is gone but its log was kept.
    fn recipe_units(
        &self,
        plan: &wheelwright_plan::Plan,
        source: &Path,
    ) -> Result<Vec<TranslationUnit>, String> {
        let recipe = match self.recipe.as_str() {
            "flash-attn" => Recipe::flash_attn(
                plan.recipe_version
                    .as_deref()
                    .unwrap_or(DEFAULT_FLASH_ATTN_VERSION),
            ),
            "flash-attn-3" => Recipe::flash_attn_3(),
            _ => Recipe::torch_ext(source),
        };
        wheelwright_plan::recipe::resolve_units_with(
            &recipe,
            Some(source),
            wheelwright_plan::recipe::UnitContext {
                env: Some(&plan.env),
                torch_version: None,
                probe: None,
            },
        )
        .or_else(|e| match recipe {
            Recipe::FlashAttn { .. } => resolve_units(&recipe, None),
            Recipe::FlashAttn3 { .. } | Recipe::TorchExt { .. } => Err(e),
        })
        .map(|su| su.units)
        .map_err(|e| e.to_string())
    }
}

/// A finished build as the calibrations read it.
struct LoggedBuild {
    units: Vec<TranslationUnit>,
    log: Vec<wheelwright_plan::measurements::NinjaLogEntry>,
    /// The plan's `-gencode` values: each priced by its target's factor.
    gencode_flags: Vec<String>,
    gencodes: u32,
    threads: u32,
    cpus: u32,
    basis: String,
}

impl LoggedBuild {
    /// The cost model with this build's gencodes.
    fn model(&self) -> CostModel {
        CostModel::measured().with_gencodes(&self.gencode_flags)
    }

    fn as_past(&self) -> PastBuild<'_> {
        PastBuild {
            units: &self.units,
            log: &self.log,
            gencodes: self.gencodes,
            threads: self.threads,
            cpus: self.cpus,
            basis: self.basis.clone(),
        }
    }
}

/// A unit of a plan's unit table, as the cost model takes it.
fn planned_unit(u: &wheelwright_plan::torch_ext::PlannedUnit) -> Option<TranslationUnit> {
    let mut t = TranslationUnit::from_path(&u.path)?;
    t.extension = u.extension.clone();
    if u.compiler == "nvcc" {
        t.compiler = wheelwright_plan::recipe::UnitCompiler::Nvcc;
        t.gencodes = Some(u.gencodes.max(1));
        t.gencode_flags = u
            .targets
            .iter()
            .map(|c| {
                let number = c.split_once('_').map_or(c.as_str(), |(_, n)| n);
                format!("arch=compute_{number},code={c}")
            })
            .collect();
    } else {
        t.compiler = wheelwright_plan::recipe::UnitCompiler::Cxx;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = BuildReport::started("flash-attn==2.8.3", "flash-attn", dir.path());
        r.attempts.push(Attempt {
            max_jobs: 8,
            nvcc_threads: 2,
            seconds: 12.5,
            outcome: Outcome::OomKilled,
            exit_code: Some(1),
            signal: None,
            peak_memory: MemoryPeak::default(),
            findings: Vec::new(),
            verdict: Some("the cgroup's memory.events oom_kill counter rose by 3".into()),
            memory_pressure_peak: Some(87.32),
            notes: vec!["thrash watchdog on memory.pressure".into()],
        });
        let p = dir.path().join("report.json");
        r.write(&p).unwrap();
        assert_eq!(BuildReport::read(&p).unwrap(), r);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["attempts"][0]["outcome"], "oom-killed");
        assert_eq!(v["attempts"][0]["max_jobs"], 8);
        assert!(
            r.start.ends_with('Z') && r.start.contains('T'),
            "{}",
            r.start
        );
    }

    /// Issue 28 item 4: a finished build's per-unit peaks feed the next plan of
    /// the same source. The build recorded in
    /// `bench/results/cpu-torch-ext-unit-peaks/` (spatial-correlation-sampler
    /// 0.5.0 by `wheelwright build` on the 2-core CPU box under the real torch
    /// 2.11.0+cu130 and nvcc 13.0: its `report.json`, with each compile's peak
    /// from the memory samples of its process tree, and its `.ninja_log`) is
    /// read as `--calibrate` reads it; its work dir is gone, so its log is laid
    /// out where the calibration looks.
    #[test]
    fn a_recorded_builds_unit_peaks_price_the_next_plan() {
        use wheelwright_plan::recipe::setup_probe::SetupProbe;
        use wheelwright_plan::{plan, HostSpec, PlanRequest, Recipe};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let recorded = root.join("bench/results/cpu-torch-ext-unit-peaks");
        let mut report = BuildReport::read(&recorded.join("report.json")).unwrap();
        let measured = report.peak_memory.units.clone();
        assert_eq!(measured.len(), 3, "{measured:?}");
        let scratch = tempfile::tempdir().unwrap();
        let build = scratch
            .path()
            .join("src/build/temp.linux-x86_64-cpython-311");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::copy(recorded.join("ninja_log"), build.join(".ninja_log")).unwrap();
        report.source_dir = Some(scratch.path().join("src"));
        let costs = report.host_costs().unwrap();
        assert_eq!(costs.peaks.len(), 3, "{costs:?}");
        assert_eq!(costs.units.len(), 3, "{costs:?}");

        let probe = SetupProbe::parse(
        &std::fs::read_to_string(root.join(
            "crates/wheelwright-plan/src/fixtures/torch-ext/spatial_correlation_sampler-0.5.0.json",
        ))
        .unwrap(),
    )
    .unwrap();
        let facts = HostSpec {
            cpus: Some(2),
            memory_bytes: Some(23 << 30),
            cuda: Some("13.0".into()),
            torch: Some("2.11".into()),
            ..HostSpec::default()
        }
        .hypothetical_facts()
        .unwrap()
        .0;
        let recipe = Recipe::torch_ext("spatial_correlation_sampler-0.5.0.tar.gz");
        let req = |host_costs| PlanRequest {
            archs: Some(vec!["90".into()]),
            setup_probe: Some(Ok(probe.clone())),
            host_costs,
            ..PlanRequest::default()
        };
        let before = plan(&recipe, &facts, &req(None)).unwrap();
        let after = plan(&recipe, &facts, &req(Some(costs.clone()))).unwrap();
        // The plan says which units rest on this host's measurements.
        let mut here = after.costs.memory_measured_here.clone();
        here.sort();
        let mut paths: Vec<String> = after.unit_plan.iter().map(|u| u.path.clone()).collect();
        paths.sort();
        assert_eq!(here, paths);
        assert!(before.costs.memory_measured_here.is_empty());
        for u in &after.unit_plan {
            assert_eq!(u.memory, "measured_here", "{}", u.path);
        }
        assert!(after
            .costs
            .methods
            .iter()
            .any(|m| m.starts_with("memory measured_here: 3 of the units' peaks")));
        // At the build's own setting the plan's peak is the measured compiles'
        // (the largest one alone, or the two largest together at MAX_JOBS=2),
        // plus the build's overhead: never below the largest measured unit.
        let largest = measured.values().copied().max().unwrap();
        eprintln!(
        "measured per-unit peaks {measured:?}; plan peak before {} MiB, after {} MiB (MAX_JOBS={} threads={})",
        before.predicted.peak_memory_bytes >> 20,
        after.predicted.peak_memory_bytes >> 20,
        after.max_jobs,
        after.nvcc_threads
    );
        assert!(after.predicted.peak_memory_bytes >= largest);
        assert_ne!(
            before.predicted.peak_memory_bytes,
            after.predicted.peak_memory_bytes
        );
    }
}
