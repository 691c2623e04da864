//! `wheelwright plan --matrix --fleet N`: the matrix priced on N runners of
//! one kind, rendered as a table or JSON. The work is
//! `wheelwright_core::plan::fleet`.

use std::process::ExitCode;

use wheelwright_core::plan::fleet::{Fleet, FleetRequest};
use wheelwright_core::plan::matrix::Matrix;
use wheelwright_core::units::{format_bytes, format_duration};

use super::plan::PlanArgs;
use crate::exit;

/// `--fleet N`: the matrix on N runners of the kind `--cpus`/`--memory` say.
pub fn run(args: &PlanArgs, matrix: &Matrix, runners: u32) -> anyhow::Result<ExitCode> {
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
        max_jobs: args.recipe.schedule.max_jobs,
        nvcc_threads: args.recipe.schedule.nvcc_threads,
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
    if let Some(c) = f
        .cells
        .iter()
        .max_by(|a, b| a.compile_all_seconds.total_cmp(&b.compile_all_seconds))
    {
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
            if c.from_cache {
                " (kernels from the cache)"
            } else {
                ""
            }
        );
    }
    out
}
