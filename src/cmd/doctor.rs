//! `wheelwright doctor`: detect this host, plan the recipe on it and report
//! everything in one place: the host, the plan it would make (with the
//! recipe's default archs when there is no GPU), the baselines, and every
//! finding with its fix.
//!
//! A report, not a gate: exit 0 whenever it could report, error findings
//! included (use `wheelwright plan` to fail on them). Only bad arguments exit 2.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::facts::Facts;
use wheelwright_core::plan::Plan;
use wheelwright_core::Severity;

use super::detect::render_table;
use super::host::detect_and_plan;
use super::plan::{render_plan, RecipeArgs};
use crate::exit;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Print `{ "facts": ..., "plan": ... }` as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    facts: &'a Facts,
    plan: &'a Plan,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let recipe = args.recipe.recipe()?;
    let (facts, plan) = detect_and_plan(
        &recipe,
        &args.recipe.request(),
        &DetectOptions::from_process_env(),
    );
    let plan = plan.map_err(|e| {
        let hint = e.hint();
        exit::usage(e.to_string(), hint)
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&Report {
            facts: &facts,
            plan: &plan,
        })
        .context("could not write the report as JSON")?;
        println!("{json}");
    } else {
        print!("{}", render(&facts, &plan));
    }
    Ok(ExitCode::from(exit::OK))
}

fn render(facts: &Facts, plan: &Plan) -> String {
    let mut out = String::from("== this host\n");
    out.push_str(&render_table(facts));
    for p in &facts.problems {
        let _ = writeln!(out, "{:<10} {}: {}", "problem", p.probe, p.message);
    }
    let _ = writeln!(out, "\n== the plan wheelwright would use");
    out.push_str(&render_plan(plan));
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
