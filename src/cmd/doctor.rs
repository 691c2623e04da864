//! `wheelwright doctor`: detect this host, plan the recipe on it and report
//! everything in one place: the host, the plan it would make (with the
//! recipe's default archs when there is no GPU), the baselines, and every
//! finding with its fix.
//!
//! A report, not a gate: exit 0 whenever it could report, error findings
//! included (use `wheelwright plan` to fail on them). Only bad arguments exit 2.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::facts::Facts;
use wheelwright_core::job::detect_and_plan;
use wheelwright_core::plan::Plan;
use wheelwright_core::prebuilt;
use wheelwright_core::sinks::tables::doctor_text;

use super::plan::RecipeArgs;
use crate::exit;

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
        let base = prebuilt::release_base_from_env();
        super::print_text(&doctor_text(&facts, &plan, &base))?;
    }
    Ok(ExitCode::from(exit::OK))
}
