//! `wheelwright diagnose`: read a build log (a file, `.gz`, or stdin), print
//! the findings in the chosen format, and in GitHub Actions also write the
//! step summary and step outputs.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use wheelwright_core::diagnose::{decompress_if_gzip, open_log, DiagnoseContext, Diagnoser};
use wheelwright_core::env_vars;
use wheelwright_core::sinks::{github, gitlab, json, junit, text, Format};
use wheelwright_core::{Facts, Finding};

use crate::exit;

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0  no error finding (warnings and notices do not fail)
  1  at least one error finding
  2  the log (or --facts) could not be read
  3  an output file could not be written

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

    /// The MAX_JOBS the planner picks for this host; the `oom-killed` fix names it.
    #[arg(long, value_name = "N")]
    pub max_jobs_hint: Option<u32>,

    /// The host's facts (`wheelwright detect --json`), for concrete fixes
    /// (which installed gcc-N to use, which CUDA toolkit, which GPU archs).
    #[arg(long, value_name = "PATH")]
    pub facts: Option<PathBuf>,
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
    let in_actions = std::env::var(env_vars::GITHUB_ACTIONS).ok();
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::auto(in_actions.as_deref()));
    let facts = args.facts.as_deref().map(read_facts).transpose()?;
    let ctx = DiagnoseContext {
        suggested_max_jobs: args.max_jobs_hint,
        facts,
    };
    let findings = diagnose(&args.log, ctx)?;

    let log_name = if args.log == "-" {
        "build.log"
    } else {
        args.log.as_str()
    };
    let workspace = std::env::var("GITHUB_WORKSPACE").ok();
    let gh_opts = github::GithubOptions {
        workspace,
        ..Default::default()
    };
    let annotations = github::render_annotations(&findings, &gh_opts);
    let output = match format {
        Format::Github => annotations.text.clone(),
        Format::Json => json::render(&findings),
        Format::Junit => junit::render(&findings, log_name),
        Format::Gitlab => gitlab::render(&findings, log_name),
        Format::Text => {
            let color = text::use_color(
                std::io::stdout().is_terminal(),
                std::env::var("NO_COLOR").ok().as_deref(),
            );
            text::render(&findings, color)
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
        .context("could not write to standard output")?;

    let omitted = if format == Format::Github {
        annotations.omitted
    } else {
        0
    };
    let summary = github::render_step_summary(&findings, omitted);
    if let Some(path) = &args.summary_file {
        std::fs::write(path, &summary)
            .with_context(|| format!("could not write the summary to {}", path.display()))?;
    }
    if in_actions.as_deref() == Some("true") {
        if let (None, Ok(path)) = (
            &args.summary_file,
            std::env::var(env_vars::GITHUB_STEP_SUMMARY),
        ) {
            append(Path::new(&path), &summary)?;
        }
        if let Ok(path) = std::env::var(env_vars::GITHUB_OUTPUT) {
            append(Path::new(&path), &github::render_outputs(&findings))?;
        }
    }

    let code = if findings.iter().any(Finding::is_error) {
        exit::JOB_FAILED
    } else {
        exit::OK
    };
    Ok(ExitCode::from(code))
}

/// Run the diagnoser over the log; unreadable input is a usage error (exit 2).
fn diagnose(log: &str, ctx: DiagnoseContext) -> anyhow::Result<Vec<Finding>> {
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
    let mut d = Diagnoser::new(ctx);
    d.feed(reader).map_err(|e| {
        exit::usage(
            format!("could not read the log `{log}` to its end: {e}"),
            "if it is gzip-compressed, check that it is complete (`gzip -t`); otherwise pass a plain text log",
        )
    })?;
    Ok(d.findings())
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

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("could not open {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("could not write to {}", path.display()))
}
