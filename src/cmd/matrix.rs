//! `wheelwright plan --matrix`: the GitHub Actions build matrix of a fleet,
//! printed as `{"include": [...]}` (and written to `GITHUB_OUTPUT` as
//! `matrix=...` with `--github-output`). The work is
//! `wheelwright_core::plan::matrix` and `plan::published`.

use std::path::PathBuf;
use std::process::ExitCode;

use wheelwright_core::env_vars;
use wheelwright_core::plan::matrix::{build_matrix, MatrixRequest};
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
        return super::fleet::run(args, &matrix, runners);
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
