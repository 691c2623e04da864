//! `wheelwright doctor`: detect this host, plan the recipe on it and report
//! everything in one place: the host, the plan it would make (with the
//! recipe's default archs when there is no GPU), the baselines, and every
//! finding with its fix.
//!
//! A report, not a gate: exit 0 whenever it could report, error findings
//! included (use `wheelwright plan` to fail on them). Only bad arguments exit 2.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::facts::Facts;
use wheelwright_core::plan::Plan;
use wheelwright_core::prebuilt;
use wheelwright_core::Severity;

use super::detect::render_table;
use super::plan::{render_plan, RecipeArgs};
use crate::exit;
use wheelwright_core::job::detect_and_plan;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Print `{ "facts": ..., "plan": ... }` as JSON.
    #[arg(long)]
    pub json: bool,
    /// Python interpreter to probe and plan for (default: WHEELWRIGHT_PYTHON,
    /// then $VIRTUAL_ENV/bin/python, then python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub python: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
struct Report<'a> {
    facts: &'a Facts,
    plan: &'a Plan,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let recipe = args.recipe.recipe()?;
    let mut dopts = DetectOptions::from_process_env();
    dopts.python = args.python.clone().or(dopts.python);
    let (facts, plan) = detect_and_plan(&recipe, &args.recipe.request()?, &dopts);
    let plan = plan.map_err(|e| {
        let hint = e.hint();
        exit::usage(e.to_string(), hint)
    })?;
    if args.json {
        super::print_json(&Report {
            facts: &facts,
            plan: &plan,
        })?;
    } else {
        super::print_text(&render(&facts, &plan))?;
    }
    Ok(ExitCode::from(exit::OK))
}

/// The prebuilt flash-attn wheel that would match this host: its name and
/// release URL (looked up by `build --prefer-prebuilt`), or why none can be named.
fn prebuilt_line(facts: &Facts, plan: &Plan) -> Option<String> {
    if plan.recipe != "flash-attn" {
        return None;
    }
    let version = plan
        .recipe_version
        .as_deref()
        .unwrap_or(wheelwright_core::plan::recipe::DEFAULT_FLASH_ATTN_VERSION);
    let base = std::env::var(wheelwright_core::env_vars::WHEELWRIGHT_PREBUILT_URL)
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| prebuilt::FLASH_ATTN_RELEASES.to_string());
    Some(match prebuilt::PrebuiltKey::for_host(facts, version) {
        Ok(key) => format!(
            "prebuilt   {} would match this host: {}",
            key.wheel_name(),
            key.url(&base)
        ),
        Err(why) => format!("prebuilt   none can match this host: {why}"),
    })
}

fn render(facts: &Facts, plan: &Plan) -> String {
    // The table ends with the probes' problems.
    let mut out = String::from("== this host\n");
    out.push_str(&render_table(facts));
    let _ = writeln!(out, "\n== the plan wheelwright would use");
    out.push_str(&render_plan(plan));
    if let Some(line) = prebuilt_line(facts, plan) {
        let _ = writeln!(out, "{line}");
    }
    let errors = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let _ = writeln!(out, "\n== verdict");
    if errors == 0 {
        let _ = writeln!(
            out,
            "ready to build ({warnings} warning{}): `wheelwright build` uses this plan",
            if warnings == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(
            out,
            "not ready: {errors} error{} above; apply the fixes, then run `wheelwright doctor` again",
            if errors == 1 { "" } else { "s" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_core::facts::Problem;
    use wheelwright_core::plan::{self, PlanRequest, Recipe};

    /// Each problem of the probes is listed once, in the host's table.
    #[test]
    fn problems_are_listed_once() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hosts/h100-cuda13.0/wheelwright-detect.json"
        );
        let mut facts: Facts =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        facts.problems.push(Problem {
            probe: "gpu".into(),
            message: "nvidia-smi hung".into(),
        });
        let plan = plan::plan(
            &Recipe::flash_attn("2.8.3"),
            &facts,
            &PlanRequest::default(),
        )
        .unwrap();
        let text = render(&facts, &plan);
        assert_eq!(text.matches("nvidia-smi hung").count(), 1, "{text}");
        assert!(text.contains("problem    [gpu] nvidia-smi hung"), "{text}");
        // doctor names the prebuilt wheel that would match (the H100 box: torch 2.9 cu130, Python 3.12).
        let torch = facts.torch.as_ref().unwrap();
        let key = wheelwright_core::prebuilt::PrebuiltKey::for_host(&facts, "2.8.3").unwrap();
        assert!(key.variant.starts_with(&format!(
            "cu{}",
            torch.cuda.as_deref().unwrap().split('.').next().unwrap()
        )));
        assert!(
            text.contains(&format!("prebuilt   {} would match this host: https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/", key.wheel_name())),
            "{text}"
        );
    }
}
