//! `wheelwright plan --matrix`: the GitHub Actions build matrix of a fleet,
//! printed as `{"include": [...]}` (and written to `GITHUB_OUTPUT` as
//! `matrix=...` with `--github-output`); `--only-failed SUMMARY` prints the
//! failed cells of an earlier run instead. `wheelwright matrix-summary`: one
//! summary across a run's cells from what each cell's job recorded. The work
//! is `wheelwright_core::plan::matrix` and `plan::published`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use wheelwright_core::env_vars;
use wheelwright_core::plan::matrix::{
    build_matrix, summarize, CellRecord, Matrix, MatrixRequest, MatrixSummary,
};
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
    if let Some(path) = &args.only_failed {
        let text = read_capped(path, MAX_SUMMARY)?;
        let summary: MatrixSummary = serde_json::from_str(&text).map_err(|e| {
            exit::usage(
                format!("--only-failed {}: not a matrix summary: {e}", path.display()),
                "pass the JSON `wheelwright matrix-summary` printed (the reusable workflow's summary job uploads it as matrix-summary)",
            )
        })?;
        let json = summary.failed_matrix.github_json();
        if args.github_output {
            write_output(&[("matrix", &json)])?;
        }
        super::write_stdout(&format!("{json}\n"), false)?;
        return Ok(ExitCode::from(exit::OK));
    }
    let mut req = MatrixRequest {
        python: list(&args.python),
        torch: list(&args.torch),
        cuda: list(&args.cuda),
        flash_attn_version: args.recipe.choice.recipe_version.clone(),
        extra_labels: args.runs_on.clone(),
        ..MatrixRequest::default()
    };
    if let Some(a) = &args.recipe.schedule.archs {
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
        return super::fleet::run(args, &matrix, runners);
    }
    let json = matrix.github_json();
    if args.github_output {
        write_output(&[("matrix", &json)])?;
    }
    super::write_stdout(&format!("{json}\n"), false)?;
    Ok(ExitCode::from(exit::OK))
}

/// The runner file `var` names (`GITHUB_OUTPUT`), or why there is none.
fn runner_file(var: &str, flag: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            exit::usage(
                format!("{flag}: {var} is not set"),
                format!("run it in a GitHub Actions step, or drop {flag}"),
            )
        })
}

/// Append outputs to `GITHUB_OUTPUT`: `name=value` where the name is a plain
/// one and the value one line (`matrix=...`, as workflows have read it), else
/// a `name<<DELIM` block.
fn write_output(pairs: &[(&str, &str)]) -> anyhow::Result<()> {
    let path = runner_file(env_vars::GITHUB_OUTPUT, "--github-output")?;
    let mut lines = String::new();
    for (name, value) in pairs {
        match env_files::env_line(name, value) {
            Ok(line) => lines.push_str(&line),
            Err(_) => lines.push_str(&env_files::multiline_output(name, value)),
        }
    }
    append(&path, &lines)
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    env_files::append(path, text).map_err(|e| {
        exit::hinted(
            e,
            format!("check that {} is a writable file", path.display()),
            exit::INTERNAL,
        )
    })
}

/// The most a summary or a matrix file may hold (a full matrix is ~100 KiB).
const MAX_SUMMARY: u64 = 8 << 20;
/// The most one cell record may hold.
const MAX_RECORD: u64 = 64 << 10;
/// The most cell records read.
const MAX_RECORDS: usize = 4096;

/// A file's text, at most `max` bytes; a link is refused (records come from
/// the cells' jobs: data, never followed).
fn read_capped(path: &Path, max: u64) -> anyhow::Result<String> {
    let bad = |why: String| {
        exit::usage(
            format!("{}: {why}", path.display()),
            "pass a regular file written by wheelwright",
        )
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(|e| bad(e.to_string()))?
        .take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > max {
        return Err(bad(format!("larger than {max} bytes")));
    }
    Ok(text)
}

/// `wheelwright matrix-summary`.
#[derive(Debug, Args)]
pub struct MatrixSummaryArgs {
    /// The matrix the run built (`{"include": [...]}`, as `plan --matrix` prints it): its file.
    #[arg(long, value_name = "FILE")]
    pub matrix: PathBuf,
    /// The folder of the cells' records (`*.json`, in it or one folder down), as the cells'
    /// jobs wrote them (action/cell-record.sh).
    #[arg(long, value_name = "DIR")]
    pub records: PathBuf,
    /// Also write `summary` (the counts), `failed` (how many) and `failed-matrix` to
    /// $GITHUB_OUTPUT, and the table to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub github_output: bool,
}

/// The record files under `dir`: `*.json` in it and one folder down (one
/// artifact per cell), links skipped, in name order.
fn record_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let list = |d: &Path| -> anyhow::Result<Vec<std::fs::DirEntry>> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .map_err(|e| {
                exit::usage(
                    format!("--records {}: {e}", d.display()),
                    "pass the folder the cells' records were downloaded to",
                )
            })?
            .filter_map(Result::ok)
            .collect();
        v.sort_by_key(|e| e.file_name());
        Ok(v)
    };
    let mut out = Vec::new();
    for e in list(dir)? {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            for f in list(&e.path())? {
                if f.file_type().is_ok_and(|t| t.is_file()) {
                    out.push(f.path());
                }
            }
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out.retain(|p| p.extension().is_some_and(|x| x == "json"));
    if out.len() > MAX_RECORDS {
        return Err(exit::usage(
            format!(
                "--records {}: more than {MAX_RECORDS} records",
                dir.display()
            ),
            "pass the folder of one run's records",
        ));
    }
    Ok(out)
}

/// Summarize a run: print the summary JSON; with `--github-output` write the
/// outputs and the step summary. Exit 0 whatever the cells did (their own
/// jobs fail); 2 on a bad matrix or record.
pub fn summary(args: MatrixSummaryArgs) -> anyhow::Result<ExitCode> {
    let text = read_capped(&args.matrix, MAX_SUMMARY)?;
    let matrix: Matrix = serde_json::from_str(&text).map_err(|e| {
        exit::usage(
            format!("--matrix {}: not a matrix: {e}", args.matrix.display()),
            "pass the JSON `wheelwright plan --matrix` printed (the plan job's matrix output)",
        )
    })?;
    let mut records = Vec::new();
    for path in record_files(&args.records)? {
        let text = read_capped(&path, MAX_RECORD)?;
        let record: CellRecord = serde_json::from_str(&text).map_err(|e| {
            exit::usage(
                format!("{}: not a cell record: {e}", path.display()),
                "records are written by action/cell-record.sh; remove the stray file",
            )
        })?;
        records.push(record);
    }
    let summary = summarize(&matrix, &records);
    if args.github_output {
        let failed = summary.failed.to_string();
        let failed_matrix = summary.failed_matrix.github_json();
        write_output(&[
            ("summary", &summary.counts_json()),
            ("failed", &failed),
            ("failed-matrix", &failed_matrix),
        ])?;
        let path = runner_file(env_vars::GITHUB_STEP_SUMMARY, "--github-output")?;
        append(&path, &summary.markdown())?;
    }
    super::eprint_text(&format!("wheelwright: {}\n", summary.headline()))?;
    let json = serde_json::to_string_pretty(&summary).context("could not render the summary")?;
    super::write_stdout(&format!("{json}\n"), false)?;
    Ok(ExitCode::from(exit::OK))
}
