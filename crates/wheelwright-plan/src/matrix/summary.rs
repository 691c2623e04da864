//! The matrix as a whole, after its cells ran: one summary across the cells
//! (built, reused, failed, published) and the matrix of the failed cells, to
//! run again as is (`plan --matrix --only-failed`, or the reusable workflow's
//! `matrix` input).
//!
//! Each cell's job leaves a [`CellRecord`] at its end (the reusable workflow
//! writes it with `action/cell-record.sh`, whatever the build did); the
//! summary joins the records to the planned [`Matrix`] by the cell's name. A
//! planned cell with no record failed too: its job ended before it could
//! write one (cancelled, a runner lost, a step before the build failed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Matrix, MatrixCell};

/// What one cell's job reports at its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CellRecord {
    /// The cell's `name` in the matrix.
    pub name: String,
    /// `built` (compiled here), `reused` (a prebuilt wheel passed its
    /// checks instead), or `failed`.
    pub outcome: CellOutcome,
    /// The file name of the wheel the cell made; empty when it made none.
    #[serde(default)]
    pub wheel: String,
    /// Whether the wheel was published (a release, a wheelhouse, an index).
    #[serde(default)]
    pub published: bool,
    /// The install command of the published wheel, when one is known.
    #[serde(default)]
    pub install_command: String,
    /// The build's own outcome word when it failed (`oom-killed`, `failed`),
    /// or the step that failed before it.
    #[serde(default)]
    pub detail: String,
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellOutcome {
    /// Compiled by this run.
    Built,
    /// A prebuilt wheel (the project's own release asset) used instead.
    Reused,
    /// No wheel.
    Failed,
}

/// One cell of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CellSummary {
    /// The cell's name.
    pub name: String,
    /// How it ended.
    pub outcome: CellOutcome,
    /// The wheel it made, else the one it was to make.
    pub wheel: String,
    /// Whether the wheel was published.
    pub published: bool,
    /// Why it failed, or the install command.
    pub detail: String,
}

/// The matrix run as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MatrixSummary {
    /// Cells compiled.
    pub built: usize,
    /// Cells that reused a prebuilt wheel.
    pub reused: usize,
    /// Cells without a wheel.
    pub failed: usize,
    /// Cells whose wheel was published.
    pub published: usize,
    /// Every planned cell, in the matrix's order.
    pub cells: Vec<CellSummary>,
    /// The failed cells as a matrix (`{"include": [...]}`), to run again.
    pub failed_matrix: Matrix,
    /// Records that name no planned cell (ignored in the counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unplanned: Vec<String>,
}

/// What the reason of a cell without a record says.
pub const NO_RECORD: &str =
    "no record: the job ended before its last step (cancelled, runner lost, or an earlier step failed)";

/// Join the records to the planned cells (see the module docs). A cell with
/// two records (a re-run of the job) counts by its last one.
pub fn summarize(matrix: &Matrix, records: &[CellRecord]) -> MatrixSummary {
    let mut by_name: BTreeMap<&str, &CellRecord> = BTreeMap::new();
    for r in records {
        by_name.insert(r.name.as_str(), r);
    }
    let mut cells = Vec::new();
    let mut failed_cells: Vec<MatrixCell> = Vec::new();
    for cell in &matrix.include {
        let summary = match by_name.get(cell.name.as_str()) {
            Some(r) => CellSummary {
                name: cell.name.clone(),
                outcome: r.outcome,
                wheel: if r.wheel.is_empty() {
                    cell.wheel.clone()
                } else {
                    r.wheel.clone()
                },
                published: r.published && r.outcome != CellOutcome::Failed,
                detail: if r.outcome == CellOutcome::Failed {
                    r.detail.clone()
                } else {
                    r.install_command.clone()
                },
            },
            None => CellSummary {
                name: cell.name.clone(),
                outcome: CellOutcome::Failed,
                wheel: cell.wheel.clone(),
                published: false,
                detail: NO_RECORD.to_string(),
            },
        };
        if summary.outcome == CellOutcome::Failed {
            failed_cells.push(cell.clone());
        }
        cells.push(summary);
    }
    let count = |o: CellOutcome| cells.iter().filter(|c| c.outcome == o).count();
    let unplanned = records
        .iter()
        .filter(|r| !matrix.include.iter().any(|c| c.name == r.name))
        .map(|r| r.name.clone())
        .collect();
    MatrixSummary {
        built: count(CellOutcome::Built),
        reused: count(CellOutcome::Reused),
        failed: count(CellOutcome::Failed),
        published: cells.iter().filter(|c| c.published).count(),
        cells,
        failed_matrix: Matrix {
            include: failed_cells,
            excluded: Vec::new(),
        },
        unplanned,
    }
}

impl CellOutcome {
    fn word(self) -> &'static str {
        match self {
            CellOutcome::Built => "built",
            CellOutcome::Reused => "reused",
            CellOutcome::Failed => "failed",
        }
    }
}

impl MatrixSummary {
    /// `4 cells: 2 built, 1 reused, 1 failed; 3 published`.
    pub fn headline(&self) -> String {
        format!(
            "{} cells: {} built, {} reused, {} failed; {} published",
            self.cells.len(),
            self.built,
            self.reused,
            self.failed,
            self.published
        )
    }

    /// The counts as one JSON object (`{"built":2,...}`), a job output.
    pub fn counts_json(&self) -> String {
        serde_json::json!({
            "cells": self.cells.len(),
            "built": self.built,
            "reused": self.reused,
            "failed": self.failed,
            "published": self.published,
        })
        .to_string()
    }

    /// The step summary: the headline, one row per cell, and how to run the
    /// failed cells again.
    pub fn markdown(&self) -> String {
        let cell = |s: &str| s.replace(['|', '\n', '\r', '`'], " ");
        let mut out = format!(
            "### wheelwright matrix: {}\n\n| cell | outcome | wheel | published | detail |\n|---|---|---|---|---|\n",
            self.headline()
        );
        for c in &self.cells {
            out.push_str(&format!(
                "| {} | {} | `{}` | {} | {} |\n",
                cell(&c.name),
                c.outcome.word(),
                cell(&c.wheel),
                if c.published { "yes" } else { "no" },
                cell(&c.detail)
            ));
        }
        if self.failed > 0 {
            out.push_str(&format!(
                "\nRun the {} failed cells again: start the workflow with its `matrix` input set to\n\n```json\n{}\n```\n\n(the `failed-matrix` output; or `wheelwright plan --matrix --only-failed summary.json`).\n",
                self.failed,
                self.failed_matrix.github_json()
            ));
        }
        if !self.unplanned.is_empty() {
            out.push_str(&format!(
                "\nRecords of cells not in this matrix (ignored): {}\n",
                cell(&self.unplanned.join(", "))
            ));
        }
        out
    }
}
