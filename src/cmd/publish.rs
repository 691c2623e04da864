//! `wheelwright publish`: send checked wheels to a wheelhouse, a static
//! per-variant PEP 503 index, a GitHub release or a PyPI-compatible index,
//! each exactly once, and say what became of every file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wheelwright_core::publish::{
    GithubReleaseTarget, PublishTargets, StaticIndexTarget, UploadTarget,
};
use wheelwright_core::sinks::build_report::publish_on_github;
use wheelwright_core::sinks::github::ActionsEnv;
use wheelwright_core::sinks::reports::publish_text;
use wheelwright_publish::PublishError;

use crate::exit;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The wheels to publish (never modified or deleted).
    #[arg(value_name = "WHEEL", required_unless_present_any = ["report", "from_release"], conflicts_with = "report")]
    pub wheels: Vec<PathBuf>,
    /// Publish exactly the wheel this build report names (refused when the build failed).
    #[arg(long, value_name = "report.json")]
    pub report: Option<PathBuf>,
    /// Upload to the GitHub release with this tag (created when missing).
    #[arg(long, value_name = "TAG")]
    pub github_release: Option<String>,
    /// The repository, owner/name [default: $GITHUB_REPOSITORY].
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// The GitHub REST API base [default: $GITHUB_API_URL, else <https://api.github.com>].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// The environment variable holding the GitHub token [default: GITHUB_TOKEN].
    #[arg(long, value_name = "NAME")]
    pub token_env: Option<String>,
    /// Replace a file of the same name but other bytes instead of failing.
    #[arg(long)]
    pub clobber: bool,
    /// Copy the wheels into DIR and write the static index beside them.
    #[arg(long, value_name = "DIR")]
    pub wheelhouse: Option<PathBuf>,
    /// Write static index pages into DIR that link to files under --base-url.
    #[arg(long, value_name = "DIR", requires = "index_source")]
    pub index_dir: Option<PathBuf>,
    /// Where the wheels of --index-dir are served (a wheel's link is URL/FILENAME).
    #[arg(
        long,
        value_name = "URL",
        group = "index_source",
        requires = "index_dir"
    )]
    pub base_url: Option<String>,
    /// Build the --index-dir pages from this GitHub release's assets.
    #[arg(
        long,
        value_name = "TAG",
        group = "index_source",
        requires = "index_dir"
    )]
    pub from_release: Option<String>,
    /// Upload to a PyPI-compatible index (legacy upload API; TWINE_USERNAME/TWINE_PASSWORD).
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Give up one upload to --index-url after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    /// Refused: publish never changes a wheel; retag at build time with
    /// `wheelwright build --manylinux` (before the wheel is recorded and attested).
    #[arg(long, hide = true)]
    pub manylinux: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mask: super::MaskArgs,
}

pub fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let wheels = match &args.report {
        Some(report) => wheelwright_publish::report_wheels(report).map_err(to_cli)?,
        None => args.wheels.clone(),
    };
    let targets = targets(&args);
    let report = wheelwright_publish::publish(&wheels, &targets).map_err(to_cli)?;
    // The action's `asset-urls` output.
    let env = ActionsEnv::from_process_env();
    publish_on_github(&report, &env).map_err(|e| {
        let hint = "check that the runner's GITHUB_OUTPUT file can be written";
        exit::hinted(e, hint, exit::INTERNAL)
    })?;
    if args.json {
        super::print_json(&report)?;
    } else {
        super::print_text(&publish_text(&report))?;
        if report.any_failed() {
            super::eprint_text(
                "hint: fix what each failed file says, then run the same command again (published files are skipped)\n",
            )?;
        }
    }
    Ok(exit::job(report.any_failed()))
}

fn targets(args: &PublishArgs) -> PublishTargets {
    PublishTargets {
        github_release: args.github_release.as_ref().map(|tag| GithubReleaseTarget {
            tag: tag.clone(),
            repo: args.repo.clone(),
            api_url: args.api_url.clone(),
            token_env: args.token_env.clone(),
        }),
        wheelhouse: args.wheelhouse.clone(),
        index: args.index_dir.as_ref().map(|dir| StaticIndexTarget {
            dir: dir.clone(),
            base_url: args.base_url.clone(),
            from_release: args.from_release.clone(),
        }),
        upload: args.index_url.as_ref().map(|url| UploadTarget {
            url: url.clone(),
            username_env: None,
            password_env: None,
            timeout_seconds: Some(args.timeout),
        }),
        manylinux: args.manylinux,
        clobber: args.clobber,
    }
}

fn to_cli(e: PublishError) -> anyhow::Error {
    let hint = e.hint();
    let code = if e.is_usage() {
        exit::USAGE
    } else {
        exit::INTERNAL
    };
    exit::hinted(e, hint, code)
}
