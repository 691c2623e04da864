//! `wheelwright plan --matrix`: the GitHub Actions build matrix of a fleet,
//! printed as `{"include": [...]}` (and written to `GITHUB_OUTPUT` as
//! `matrix=...` with `--github-output`); with `--fleet N`, the matrix priced
//! on N runners instead. The work is `wheelwright_core::plan::matrix`,
//! `plan::published` and `plan::fleet`.

use std::path::PathBuf;
use std::process::ExitCode;

use wheelwright_core::env_vars;
use wheelwright_core::plan::fleet::{Fleet, FleetRequest};
use wheelwright_core::plan::matrix::{build_matrix, Matrix, MatrixRequest};
use wheelwright_core::units::{format_bytes, format_duration};
use wheelwright_core::plan::published::PublishedError;
use wheelwright_core::sinks::github::env_files;

use super::plan::PlanArgs;
use crate::exit;

fn list(text: &Option<String>) -> Option<Vec<String>> {
    text.as_ref().map(|t| {
        t.split([',', ' ', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

/// Make, filter and print the matrix.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let mut req = MatrixRequest {
        python: list(&args.python),
        torch: list(&args.torch),
        cuda: list(&args.cuda),
        flash_attn_version: args.recipe.choice.recipe_version.clone(),
        extra_labels: args.runs_on.clone(),
        ..MatrixRequest::default()
    };
    if let Some(a) = &args.recipe.archs {
        req.archs = a.clone();
    }
    if let Some(abi) = args.cxx11_abi {
        req.cxx11_abi = Some(vec![abi]);
    }
    let mut matrix = build_matrix(&req).map_err(|e| {
        exit::usage(
            e.to_string(),
            "pick values from the support table: e.g. --python 3.11,3.12 --torch 2.8,2.9 --cuda 12.8,13.0",
        )
    })?;
    if let Some(source) = &args.skip_published {
        let net = wheelwright_publish::HttpNetwork::from_env();
        let note = matrix.skip_published_at(source, &net).map_err(|e| {
            let hint = e.hint();
            match e {
                PublishedError::Scratch(_) => exit::hinted(e, hint, exit::INTERNAL),
                _ => exit::usage(e.to_string(), hint),
            }
        })?;
        super::eprint_text(&note)?;
    }
    if !matrix.excluded.is_empty() {
        super::eprint_text(&matrix.excluded_note())?;
    }
    if let Some(runners) = args.fleet {
        return fleet(args, &matrix, runners);
    }
    let json = matrix.github_json();
    if args.github_output {
        let path = std::env::var_os(env_vars::GITHUB_OUTPUT)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                exit::usage(
                    "--github-output: GITHUB_OUTPUT is not set",
                    "run it in a GitHub Actions step, or drop --github-output",
                )
            })?;
        let line = env_files::env_line("matrix", &json)
            .map_err(|e| exit::usage(e.to_string(), "report this as a bug"))?;
        env_files::append(&path, &line).map_err(|e| {
            exit::hinted(
                e,
                "check that GITHUB_OUTPUT names a writable file",
                exit::INTERNAL,
            )
        })?;
    }
    super::write_stdout(&format!("{json}\n"), false)?;
    Ok(ExitCode::from(exit::OK))
}

/// `--fleet N`: the matrix on N runners of the kind `--cpus`/`--memory` say.
fn fleet(args: &PlanArgs, matrix: &Matrix, runners: u32) -> anyhow::Result<ExitCode> {
    let host = args.host_spec()?;
    if host.cpus.is_none() || host.memory_bytes.is_none() {
        return Err(exit::usage(
            "--fleet needs the runner kind: --cpus and --memory",
            "describe one runner, e.g. --fleet 8 --cpus 16 --memory 125GiB",
        ));
    }
    let recipe = args.recipe.recipe()?;
    let req = FleetRequest {
        runners,
        host,
        max_jobs: args.recipe.max_jobs,
        nvcc_threads: args.recipe.nvcc_threads,
        share: !args.no_shared_cache,
    };
    let fleet = wheelwright_core::plan::fleet::fleet(matrix, &recipe, &req).map_err(|e| {
        let hint = e.hint();
        exit::usage(e.to_string(), hint)
    })?;
    let text = if args.json {
        serde_json::to_string_pretty(&fleet)? + "\n"
    } else {
        fleet_text(&fleet, req.share)
    };
    super::write_stdout(&text, false)?;
    Ok(ExitCode::from(exit::OK))
}

/// The fleet as a table and a summary.
fn fleet_text(f: &Fleet, share: bool) -> String {
    let mut out = format!(
        "fleet      {} runners of {} CPUs, {}; {} cells in {} groups (same torch, CUDA, C++ ABI, archs)\n",
        f.runners,
        f.runner_cpus,
        format_bytes(f.runner_memory_bytes),
        f.cells.len(),
        f.groups
    );
    if let Some(c) = f.cells.iter().max_by(|a, b| a.compile_all_seconds.total_cmp(&b.compile_all_seconds)) {
        out += &format!(
            "per cell   {} compiling every unit (MAX_JOBS={} NVCC_THREADS={}, peak {})\n",
            format_duration(c.compile_all_seconds),
            c.max_jobs,
            c.nvcc_threads,
            format_bytes(c.peak_memory_bytes)
        );
    }
    if let Some(c) = f.cells.iter().find(|c| c.from_cache) {
        out += &format!(
            "           {} with its group's kernels from the cache ({:.1} s a read)\n",
            format_duration(c.seconds),
            f.hit_seconds
        );
    }
    out += &format!(
        "makespan   {}{}; {} with no compile shared\n",
        format_duration(f.makespan_seconds),
        if share { " with kernels shared" } else { "" },
        format_duration(f.makespan_without_sharing_seconds)
    );
    out += "order      the first cell of each group first (the matrix's include order below)\n";
    out += "runner  start     end       time      cell\n";
    for c in &f.cells {
        out += &format!(
            "{:>6}  {:<8}  {:<8}  {:<8}  {}{}\n",
            c.runner + 1,
            format_duration(c.start_seconds),
            format_duration(c.end_seconds),
            format_duration(c.seconds),
            c.name,
            if c.from_cache { " (kernels from the cache)" } else { "" }
        );
    }
    out
}
