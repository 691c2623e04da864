//! `wheelwright plan --matrix`: the GitHub Actions build matrix of a fleet,
//! printed as `{"include": [...]}` (and written to `GITHUB_OUTPUT` as
//! `matrix=...` with `--github-output`). The work is
//! `wheelwright_core::plan::matrix` and `plan::published`.

use std::path::PathBuf;
use std::process::ExitCode;

use wheelwright_core::env_vars;
use wheelwright_core::plan::matrix::{build_matrix, MatrixRequest};
use wheelwright_core::plan::published::{published_wheels, PublishedError};
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
        let scratch = tempfile_dir()?;
        let names = published_wheels(source, &wheelwright_publish::HttpNetwork::from_env(), &scratch).map_err(|e| {
            let hint = match &e {
                PublishedError::Fetch(_) => "check the URL (a release's JSON: https://api.github.com/repos/OWNER/REPO/releases/tags/TAG, or an index page) and the network (HTTPS_PROXY, SSL_CERT_FILE); or save the listing to a file and pass that",
                PublishedError::Read { .. } => "pass a release JSON or index page saved to a file, a wheelhouse directory, or a URL",
            };
            exit::usage(e.to_string(), hint)
        })?;
        let _ = std::fs::remove_dir_all(&scratch);
        let dropped = matrix.skip_published(&names);
        super::eprint_text(&format!(
            "wheelwright: {} of {} cells already published at {source}; {} left\n",
            dropped.len(),
            dropped.len() + matrix.include.len(),
            matrix.include.len()
        ))?;
    }
    if !matrix.excluded.is_empty() {
        let mut note = format!(
            "wheelwright: {} combinations left out (PyTorch publishes no such torch):\n",
            matrix.excluded.len()
        );
        for e in &matrix.excluded {
            note.push_str(&format!(
                "  python {} torch {} cuda {}: {}\n",
                e.python, e.torch, e.cuda, e.reason
            ));
        }
        super::eprint_text(&note)?;
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

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("wheelwright-published-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| exit::hinted(e, "set TMPDIR to a writable directory", exit::INTERNAL))?;
    Ok(dir)
}
