//! `wheelwright diagnose`: read a build log (a file, `.gz`, or stdin), print
//! the findings in the chosen format, and in GitHub Actions also write the
//! step summary and step outputs.
//!
//! Fixes name values for this host: when the log has a finding, the host is
//! detected (or read from `--facts`) and the recipe planned on it, through
//! the same path as `doctor` and `build` ([`super::host`]), so the
//! `oom-killed` fix names the planner's MAX_JOBS and NVCC_THREADS and
//! `gcc-too-new` an installed older compiler. None of that can fail the
//! command: without a plan, the fixes go by what the log shows.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use wheelwright_core::detect::DetectOptions;
use wheelwright_core::diagnose::{decompress_if_gzip, open_log, DiagnoseContext, Diagnoser};
use wheelwright_core::env_vars;
use wheelwright_core::job::fix_context;
use wheelwright_core::sinks::github::{self, ActionsEnv};
use wheelwright_core::sinks::{self, text, Format, RenderOptions, Rendered};
use wheelwright_core::{Facts, Finding};

use super::plan::RecipeChoice;
use crate::exit;

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0  no error finding (warnings and notices do not fail)
  1  at least one error finding
  2  the log (or --facts) could not be read
  3  an output file could not be written

When the log has a finding, this host is detected (without the Python probe;
or read from --facts) and the recipe planned on it, so that the `oom-killed`
fix names the planner's MAX_JOBS and NVCC_THREADS and `gcc-too-new` names an
installed older compiler. --max-jobs-hint skips the plan, --no-detect the
detection. If detecting or planning fails, the fixes go by what the log shows.

In GitHub Actions (GITHUB_ACTIONS=true) the default format is `github`
(annotations), and the Markdown summary goes to $GITHUB_STEP_SUMMARY and the
counts to $GITHUB_OUTPUT (findings, errors, warnings, notices, first-error,
findings-json).")]
pub struct DiagnoseArgs {
    /// The build log to read, plain or gzip-compressed; `-` reads standard input.
    #[arg(value_name = "LOG|-")]
    pub log: String,

    /// Output format [default: github when GITHUB_ACTIONS=true, else text].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Also write the Markdown summary (a table of findings and fixes) to PATH.
    #[arg(long, value_name = "PATH")]
    pub summary_file: Option<PathBuf>,

    /// The MAX_JOBS for the `oom-killed` fix to name, instead of planning one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=super::MAX_JOBS_LIMIT))]
    pub max_jobs_hint: Option<u32>,

    /// The build host's facts (`wheelwright detect --json`), used instead of
    /// detecting this host: for CI that detects in one step and diagnoses in
    /// another. They make fixes concrete (the planned MAX_JOBS, which
    /// installed gcc-N to use, which CUDA toolkit, which GPU archs).
    #[arg(long, value_name = "PATH")]
    pub facts: Option<PathBuf>,

    /// Do not detect this host: without --facts, fixes go by the log alone
    /// (and --max-jobs-hint).
    #[arg(long)]
    pub no_detect: bool,

    #[command(flatten, next_help_heading = "The plan for the fixes")]
    pub recipe: RecipeChoice,
    #[command(flatten)]
    pub mask: super::MaskArgs,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// GitHub Actions annotations, with evidence in log groups.
    Github,
    /// The findings and counts as JSON.
    Json,
    /// JUnit XML: one test case per finding, a failure per error.
    Junit,
    /// GitLab Code Quality JSON.
    Gitlab,
    /// Plain text (coloured on a terminal unless NO_COLOR is set).
    Text,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Github => Format::Github,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Gitlab => Format::Gitlab,
            FormatArg::Text => Format::Text,
        }
    }
}

pub fn run(args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let github_actions = std::env::var(env_vars::GITHUB_ACTIONS).ok();
    let in_actions = github_actions.as_deref() == Some("true");
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::auto(github_actions.as_deref()));
    let saved = args.facts.as_deref().map(read_facts).transpose()?;
    let recipe = match args.max_jobs_hint {
        None => Some(args.recipe.recipe()?),
        Some(_) => None,
    };
    let mut diagnoser = diagnose(&args.log)?;
    // The host is learnt only for a log with something to fix.
    if diagnoser.has_findings() {
        let detect = (!args.no_detect).then(DetectOptions::from_process_env);
        let request = args.recipe.request();
        let (context, error) =
            fix_context(saved, detect, recipe.as_ref(), &request, args.max_jobs_hint);
        if let Some(e) = error {
            eprintln!("wheelwright: cannot plan for this host ({e}); the fixes go by the log");
        }
        diagnoser.set_context(context);
    }
    let findings = diagnoser.findings();

    let opts = RenderOptions {
        workspace: std::env::var(env_vars::GITHUB_WORKSPACE).ok(),
        log_name: match args.log.as_str() {
            "-" => "build.log".to_string(),
            log => log.to_string(),
        },
        color: text::use_color(
            std::io::stdout().is_terminal(),
            std::env::var(env_vars::NO_COLOR).ok().as_deref(),
        ),
    };
    let Rendered {
        text: output,
        omitted,
    } = sinks::render(format, &findings, &opts);
    // Text quotes the log as it is: on a runner it goes out with workflow
    // commands stopped. (The other formats escape what could act as one.)
    let fenced = in_actions && format == Format::Text;
    match format {
        // Masked string by string, so the document stays JSON.
        Format::Json | Format::Gitlab => super::write_json_stdout(&output)?,
        _ => super::write_stdout(&output, fenced)?,
    }

    let env = ActionsEnv::from_process_env();
    github::write_findings_files(&findings, omitted, args.summary_file.as_deref(), &env)?;

    Ok(exit::job(findings.iter().any(Finding::is_error)))
}

/// Run the diagnoser over the log; unreadable input is a usage error (exit 2).
fn diagnose(log: &str) -> anyhow::Result<Diagnoser> {
    let reader = if log == "-" {
        decompress_if_gzip(std::io::stdin())
    } else {
        open_log(Path::new(log))
    }
    .map_err(|e| {
        exit::usage(
            format!("could not read the log `{log}`: {e}"),
            "pass the path of a build log (plain or .gz), or `-` to read standard input",
        )
    })?;
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.feed_saved_log(reader).map_err(|e| {
        exit::usage(
            format!("could not read the log `{log}` to its end: {e}"),
            "pass a build log (plain text or gzip); a gzip of which not one line decodes is not one",
        )
    })?;
    Ok(d)
}

fn read_facts(path: &Path) -> anyhow::Result<Facts> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit::usage(
            format!("could not read the facts file {}: {e}", path.display()),
            "write one with `wheelwright detect --json > facts.json`",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        exit::usage(
            format!("{} is not a Facts JSON document: {e}", path.display()),
            "write one with `wheelwright detect --json > facts.json`",
        )
    })
}
