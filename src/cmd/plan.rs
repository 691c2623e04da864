//! `wheelwright plan`: choose CUDA archs, MAX_JOBS and NVCC_THREADS for a
//! build from the measured cost model, and print the plan (table or JSON).
//!
//! The host is this one (detected), a saved one (`--facts`, from `wheelwright
//! detect --json`), or a hypothetical one described by flags (`--cpus 64
//! --memory 512GiB --gpu sm_80 --cuda 12.2 ...`): see
//! `wheelwright_core::plan::hypothetical` for what is assumed. Flags override
//! the detected or saved facts part by part. Exit 2 when an error finding
//! refuses the plan (the plan is still printed).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use wheelwright_core::detect::{detect, DetectOptions};
use wheelwright_core::facts::Facts;
use wheelwright_core::job::RecipeKind;
use wheelwright_core::plan::{self, HostSpec, Plan, PlanRequest, Recipe};
use wheelwright_core::sinks::tables::plan_table;
use wheelwright_core::units::parse_size;

use crate::cmd::host::calibration_from;
use crate::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecipeName {
    /// flash-attn 2's CUDA extension.
    FlashAttn,
    /// flash-attn 3 (`hopper/`, package flash_attn_3); its
    /// FLASH_ATTENTION_DISABLE_* switches are read from the environment.
    #[value(name = "flash-attn-3")]
    FlashAttn3,
    /// Any torch CUDAExtension (to plan it: --source).
    TorchExt,
}

impl RecipeName {
    pub fn kind(self) -> RecipeKind {
        match self {
            RecipeName::FlashAttn => RecipeKind::FlashAttn,
            RecipeName::FlashAttn3 => RecipeKind::FlashAttn3,
            RecipeName::TorchExt => RecipeKind::TorchExt,
        }
    }
}

/// What to build: the recipe, its version or source. Shared by `plan`,
/// `doctor` (through [`RecipeArgs`]) and `diagnose`.
#[derive(Debug, Args)]
pub struct RecipeChoice {
    /// What to build.
    #[arg(long, value_enum, default_value = "flash-attn")]
    pub recipe: RecipeName,
    /// flash-attn version (its built-in file list; use --source for others).
    #[arg(long, value_name = "VERSION", default_value = plan::recipe::DEFAULT_FLASH_ATTN_VERSION)]
    pub recipe_version: String,
    /// Source tree or sdist (.tar.gz) to count the translation units from.
    #[arg(long, value_name = "PATH")]
    pub source: Option<PathBuf>,
}

impl RecipeChoice {
    pub fn recipe(&self) -> anyhow::Result<Recipe> {
        let kind = self.recipe.kind();
        kind.recipe(&self.recipe_version, self.source.as_deref())
            .ok_or_else(|| {
                exit::usage(
                    "--recipe torch-ext needs --source",
                    "pass the extension's source folder or sdist: --source DIR",
                )
            })
    }

    /// A request that fixes nothing: the planner chooses everything.
    pub fn request(&self) -> PlanRequest {
        PlanRequest {
            source: self.source.clone(),
            // The build inherits this environment (flash-attn 3's switches).
            env: plan::recipe_env(std::env::vars()),
            ..PlanRequest::default()
        }
    }
}

/// What to build and the settings to fix; shared by `plan` and `doctor`.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    #[command(flatten)]
    pub choice: RecipeChoice,
    #[command(flatten)]
    pub schedule: super::ScheduleArgs,
    /// Scale predicted times to this host's compile speed, measured from an
    /// earlier build here: its `report.json` (the work dir's .ninja_log is read).
    #[arg(long, value_name = "REPORT")]
    pub calibrate: Option<PathBuf>,
}

impl RecipeArgs {
    pub fn recipe(&self) -> anyhow::Result<Recipe> {
        self.choice.recipe()
    }

    pub fn request(&self) -> anyhow::Result<PlanRequest> {
        let (speed, host_costs) = match self.calibrate.as_deref() {
            Some(report) => calibration_from(report, self.choice.source.as_deref())?,
            None => (None, None),
        };
        Ok(PlanRequest {
            archs: self.schedule.archs.clone().map(|a| vec![a]),
            max_jobs: self.schedule.max_jobs,
            nvcc_threads: self.schedule.nvcc_threads,
            speed,
            host_costs,
            ..self.choice.request()
        })
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Print the plan as JSON (the contract the build step reads).
    #[arg(long)]
    pub json: bool,
    /// Include the simulated schedule (start and end of every unit).
    #[arg(long)]
    pub schedule: bool,
    /// Plan for the host in this Facts JSON (`wheelwright detect --json`).
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Logical CPUs of the host to plan for (makes it hypothetical: nothing is detected).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=super::CPUS_LIMIT))]
    pub cpus: Option<u32>,
    /// cgroup CPU quota in cores.
    #[arg(long, value_name = "CORES", value_parser = super::cpu_quota)]
    pub cpu_quota: Option<f64>,
    /// Total memory (`512GiB`; makes the host hypothetical).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// cgroup memory limit (`4GiB`).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// A GPU's arch (`sm_80`, `9.0`); repeat or list for several.
    #[arg(long, value_name = "ARCH")]
    pub gpu: Vec<String>,
    /// nvcc's CUDA version (`12.2`).
    #[arg(long, value_name = "VERSION")]
    pub cuda: Option<String>,
    /// torch's version (`2.7`).
    #[arg(long, value_name = "VERSION")]
    pub torch: Option<String>,
    /// torch's CUDA (`12.6`; default: the toolkit's).
    #[arg(long, value_name = "VERSION")]
    pub torch_cuda: Option<String>,
    /// torch's C++11 ABI (default: true for torch ≥ 2.7).
    #[arg(long, value_name = "BOOL")]
    pub cxx11_abi: Option<bool>,
    /// The default GCC's major (`11`).
    #[arg(long, value_name = "MAJOR", value_parser = clap::value_parser!(u32).range(1..=99))]
    pub gcc: Option<u32>,
    /// Free disk where the build runs (`100GiB`).
    #[arg(long, value_name = "SIZE")]
    pub disk: Option<String>,
    /// Print a GitHub Actions build matrix (`{"include": [...]}`) over python × torch × CUDA × C++ ABI
    /// instead of a plan; --torch and --cuda then take lists (`2.8,2.9`), --archs the fleet's archs.
    #[arg(long)]
    pub matrix: bool,
    /// With --matrix: the CPython versions (`3.11,3.12`) [default: flash-attn's publish matrix].
    #[arg(long, value_name = "LIST", requires = "matrix")]
    pub python: Option<String>,
    /// With --matrix: price the matrix on N runners of the kind --cpus and --memory describe
    /// (each cell planned for it; --max-jobs/--nvcc-threads fix every cell's setting): each
    /// cell's time, the order to start them and the matrix's makespan, cells that differ only
    /// in Python sharing their kernels through the compile cache (`build --sccache`).
    #[arg(long, value_name = "N", requires = "matrix", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub fleet: Option<u32>,
    /// With --fleet: no compile cache between cells (every cell compiles every unit).
    #[arg(long, requires = "fleet")]
    pub no_shared_cache: bool,
    /// With --matrix: leave out cells whose wheel is already published: a URL of a release's
    /// JSON or an index page, a saved listing file, or a wheelhouse directory.
    #[arg(long, value_name = "URL|PATH", requires = "matrix")]
    pub skip_published: Option<String>,
    /// With --matrix: also write `matrix=<json>` to $GITHUB_OUTPUT.
    #[arg(long, requires = "matrix")]
    pub github_output: bool,
    /// With --matrix: another label every cell's runs-on needs (`gpu`); repeatable.
    #[arg(long, value_name = "LABEL", requires = "matrix")]
    pub runs_on: Vec<String>,
    /// With --matrix: print the failed cells of an earlier run instead of planning: the
    /// `failed_matrix` of a `wheelwright matrix-summary` JSON (its file).
    #[arg(long, value_name = "SUMMARY_JSON", requires = "matrix")]
    pub only_failed: Option<PathBuf>,
}

/// A size flag: a valid size that is not zero (a host with no memory or no
/// disk is not one to plan for).
fn size(flag: &str, text: &Option<String>) -> anyhow::Result<Option<u64>> {
    text.as_deref()
        .map(|t| {
            let n = parse_size(t)
                .map_err(|e| exit::usage(format!("{flag}: {e}"), "write e.g. 512GiB"))?;
            if n == 0 {
                return Err(exit::usage(
                    format!("{flag}: `{t}` is zero bytes"),
                    "write the size of the host, e.g. 512GiB",
                ));
            }
            Ok(n)
        })
        .transpose()
}

impl PlanArgs {
    pub(crate) fn host_spec(&self) -> anyhow::Result<HostSpec> {
        Ok(HostSpec {
            cpus: self.cpus,
            cpu_quota: self.cpu_quota,
            memory_bytes: size("--memory", &self.memory)?,
            memory_limit_bytes: size("--memory-limit", &self.memory_limit)?,
            gpus: (!self.gpu.is_empty()).then(|| self.gpu.clone()),
            cuda: self.cuda.clone(),
            torch: self.torch.clone(),
            torch_cuda: self.torch_cuda.clone(),
            cxx11_abi: self.cxx11_abi,
            gcc: self.gcc,
            disk_free_bytes: size("--disk", &self.disk)?,
        })
    }
}

fn plan_error(e: plan::PlanError) -> anyhow::Error {
    let hint = e.hint();
    exit::usage(e.to_string(), hint)
}

/// The facts to plan for, and what was assumed about them.
fn facts_for(args: &PlanArgs, spec: &HostSpec) -> anyhow::Result<(Facts, Vec<String>)> {
    let saved = args.facts.as_deref().map(read_facts).transpose()?;
    let detect = || detect(&DetectOptions::from_process_env());
    spec.resolve(saved, detect).map_err(plan_error)
}

/// A `--facts` file.
fn read_facts(path: &Path) -> anyhow::Result<Facts> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit::usage(
            format!("cannot read {}: {e}", path.display()),
            "give the file `wheelwright detect --json > facts.json` wrote",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        exit::usage(
            format!("{} is not a Facts JSON: {e}", path.display()),
            "write it with `wheelwright detect --json > facts.json`",
        )
    })
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if args.matrix {
        return super::matrix::run(&args);
    }
    let spec = args.host_spec()?;
    let recipe = args.recipe.recipe()?;
    let (facts, assumptions) = facts_for(&args, &spec)?;
    let mut request = args.recipe.request()?;
    // The package's setup.py runs only on the host that builds: detected,
    // not described by flags or a facts file.
    if args.facts.is_none() && assumptions.is_empty() {
        request.setup_probe = wheelwright_core::job::probe_setup_py(&recipe, &facts, &request);
    }
    let mut plan = plan::plan(&recipe, &facts, &request).map_err(plan_error)?;
    plan.assumptions = assumptions;
    if args.schedule {
        plan.schedule = Some(plan::schedule(&recipe, &request, &plan).map_err(plan_error)?);
    }
    if args.json {
        let json =
            serde_json::to_string_pretty(&plan).context("could not write the plan as JSON")?;
        println!("{json}");
    } else {
        print!("{}", plan_table(&plan));
    }
    // The plan first, then (on refusal) the error after it.
    let _ = std::io::stdout().flush();
    refusal(&plan)
}

/// Exit 0, or exit 2 naming the first error finding when the plan is refused.
pub fn refusal(plan: &Plan) -> anyhow::Result<ExitCode> {
    match plan.findings.iter().find(|f| f.is_error()) {
        None => Ok(ExitCode::from(exit::OK)),
        Some(f) => Err(exit::usage(
            format!("the plan is refused: {} ({})", f.title, f.id),
            f.fix.clone(),
        )),
    }
}
