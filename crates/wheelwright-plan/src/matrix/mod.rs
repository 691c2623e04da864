//! `plan --matrix`: the GitHub Actions build matrix of a fleet, python × torch
//! × CUDA × C++ ABI, from the committed support table ([`wheelwright_base::support`]).
//!
//! The default is flash-attn's own publish matrix; `--python`, `--torch` and
//! `--cuda` replace an axis. A combination PyTorch does not publish (torch 2.8
//! has no Python 3.14 wheels, no CUDA 13 build) is left out and listed in
//! [`Matrix::excluded`] with the reason. Each cell names:
//! - `runs-on`: `self-hosted`, `linux`, the machine (`x64`) and the toolkit's
//!   `cuda-X.Y` label, in the vocabulary of `runner labels`;
//! - `archs`: what the published wheel must carry (the fleet's, not the
//!   runner's GPU), those the toolkit cannot build dropped;
//! - `torch-cuda` and `torch-index-url`: the torch to build against (the
//!   newest variant of the toolkit's major not newer than it);
//! - `variant` (`cu12torch2.8cxx11abiTRUE`) and `wheel`, flash-attn's release
//!   asset name.
//!
//! Cells that would make the same wheel file are merged: flash-attn names only
//! the CUDA major (`cu12`), so `--cuda 12.8,12.9` asks twice for each wheel.
//! As flash-attn's own publish builds one toolkit per major, the newest
//! toolkit's cell is kept and the others are left out, saying so; the cell's
//! identity is its wheel file name, compared case-insensitively, which is also
//! what [`Matrix::skip_published`] compares.
//!
//! [`build_matrix`] reads the axes (`axes`) and turns each combination into
//! cells or an exclusion (`cell`); after the cells ran, [`summarize`] joins
//! what each cell's job recorded into one summary and the matrix of the
//! failed cells (`summary`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wheelwright_base::archs::CudaVersion;

mod axes;
mod cell;
mod summary;
#[cfg(test)]
mod tests;

use axes::Axes;
pub use cell::{cuda_label, flash_attn_variant, flash_attn_wheel_name, runner_machine_label};
pub use summary::{summarize, CellOutcome, CellRecord, CellSummary, MatrixSummary, NO_RECORD};

/// What matrix to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRequest {
    /// CPython versions (`3.12`); `None` = the default matrix's.
    pub python: Option<Vec<String>>,
    /// torch minors (`2.8`); `None` = the default matrix's.
    pub torch: Option<Vec<String>>,
    /// CUDA toolkits (`12.8`); `None` = the default matrix's.
    pub cuda: Option<Vec<String>>,
    /// C++ ABIs; `None` = per torch release
    /// ([`abis_to_build`](wheelwright_base::support::abis_to_build)).
    pub cxx11_abi: Option<Vec<bool>>,
    /// The archs every wheel must carry (flash-attn's list by default).
    pub archs: String,
    /// flash-attn version the wheels are named for.
    pub flash_attn_version: String,
    /// `x86_64` or `aarch64`.
    pub machine: String,
    /// More labels every cell's `runs-on` asks for (`gpu`, `gpu-a800`).
    pub extra_labels: Vec<String>,
}

impl Default for MatrixRequest {
    fn default() -> Self {
        MatrixRequest {
            python: None,
            torch: None,
            cuda: None,
            cxx11_abi: None,
            archs: super::recipe::FLASH_ATTN_DEFAULT_ARCHS.to_string(),
            flash_attn_version: super::recipe::DEFAULT_FLASH_ATTN_VERSION.to_string(),
            machine: "x86_64".to_string(),
            extra_labels: Vec::new(),
        }
    }
}

/// One job of the matrix; the field names are the keys workflows read
/// (`matrix.torch-version`, `matrix.runs-on`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MatrixCell {
    /// A display name for the job.
    pub name: String,
    /// CPython `3.12`.
    pub python: String,
    /// torch minor `2.8`.
    pub torch: String,
    /// The torch release to install (`2.8.0`).
    pub torch_version: String,
    /// PyTorch's CUDA variant (`12.8`).
    pub torch_cuda: String,
    /// PyTorch's index for it.
    pub torch_index_url: String,
    /// The CUDA toolkit the wheel is compiled with (`12.9`).
    pub cuda: String,
    /// `TRUE` or `FALSE`, flash-attn's spelling.
    pub cxx11_abi: String,
    /// The archs the wheel carries (`80;90;100;120`).
    pub archs: String,
    /// flash-attn's local version label (`cu12torch2.8cxx11abiTRUE`).
    pub variant: String,
    /// The wheel's file name.
    pub wheel: String,
    /// The runner labels the job needs.
    pub runs_on: Vec<String>,
}

/// A combination left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    /// CPython.
    pub python: String,
    /// torch minor.
    pub torch: String,
    /// CUDA toolkit.
    pub cuda: String,
    /// Why.
    pub reason: String,
}

/// The matrix: `include` is what GitHub reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// The jobs.
    pub include: Vec<MatrixCell>,
    /// Combinations left out (not part of GitHub's matrix syntax; the CLI
    /// prints only `include`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
}

/// Why a matrix cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// A value that is not a version, or a torch the table does not know.
    #[error("{what} `{value}`: {expected}")]
    BadValue {
        /// The axis.
        what: &'static str,
        /// The value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// Every combination was left out; each with why.
    #[error(
        "no combination of the requested python, torch and CUDA can be built ({} left out):\n{}",
        .0.len(),
        excluded_lines(.0).trim_end()
    )]
    Empty(Vec<Excluded>),
}

/// `  python P torch T cuda C: why`, one line each.
fn excluded_lines(excluded: &[Excluded]) -> String {
    excluded
        .iter()
        .map(|e| {
            format!(
                "  python {} torch {} cuda {}: {}\n",
                e.python, e.torch, e.cuda, e.reason
            )
        })
        .collect()
}

/// Build the matrix; see the module docs. Every combination of the axes
/// PyTorch publishes and whose toolkit builds some of the archs gives a cell
/// per C++ ABI; the others are [`Matrix::excluded`]. A value repeated on an
/// axis counts once, so each cell and each exclusion appears once. Cells of
/// one wheel file are merged (the module docs). None left is
/// [`MatrixError::Empty`], with every reason.
pub fn build_matrix(req: &MatrixRequest) -> Result<Matrix, MatrixError> {
    let axes = Axes::read(req)?;
    let mut include = Vec::new();
    let mut excluded = Vec::new();
    for combination in axes.combinations() {
        let build = match combination.buildable(&axes.archs, &req.archs) {
            Ok(build) => build,
            Err(reason) => {
                excluded.push(combination.excluded(reason));
                continue;
            }
        };
        for abi in combination.abis(req) {
            include.push(combination.cell(req, &build, abi));
        }
    }
    let include = merge_same_wheel(include, &mut excluded);
    if include.is_empty() {
        return Err(MatrixError::Empty(excluded));
    }
    Ok(Matrix { include, excluded })
}

/// One cell per wheel file name (case-insensitive): the newest toolkit's; the
/// others go to `excluded` naming the cell that builds their wheel.
fn merge_same_wheel(cells: Vec<MatrixCell>, excluded: &mut Vec<Excluded>) -> Vec<MatrixCell> {
    let toolkit = |c: &MatrixCell| CudaVersion::parse(&c.cuda);
    let mut kept: Vec<MatrixCell> = Vec::new();
    let mut merged = Vec::new();
    for cell in cells {
        match kept
            .iter_mut()
            .find(|k| k.wheel.eq_ignore_ascii_case(&cell.wheel))
        {
            None => kept.push(cell),
            Some(k) if toolkit(&cell) > toolkit(k) => merged.push(std::mem::replace(k, cell)),
            Some(_) => merged.push(cell),
        }
    }
    for m in merged {
        let keeper = kept
            .iter()
            .find(|k| k.wheel.eq_ignore_ascii_case(&m.wheel))
            .expect("a merged cell's wheel is kept");
        excluded.push(Excluded {
            python: m.python,
            torch: m.torch,
            cuda: m.cuda,
            reason: format!(
                "makes the same wheel file as the CUDA {} cell ({}): the file name carries only the CUDA major, so one toolkit per major builds it, the newest",
                keeper.cuda, keeper.wheel
            ),
        });
    }
    kept
}

impl Matrix {
    /// Drop the cells whose wheel is among `published` (file names; compared
    /// case-insensitively, as local labels are: pip lower-cases them). Returns
    /// the dropped cells' wheel names.
    pub fn skip_published(&mut self, published: &BTreeSet<String>) -> Vec<String> {
        let lower: BTreeSet<String> = published.iter().map(|n| n.to_ascii_lowercase()).collect();
        let mut dropped = Vec::new();
        self.include.retain(|c| {
            let keep = !lower.contains(&c.wheel.to_ascii_lowercase());
            if !keep {
                dropped.push(c.wheel.clone());
            }
            keep
        });
        dropped
    }

    /// Drop the cells whose wheel is published at `source`
    /// ([`super::published::published_wheels`], fetched through `net`), and
    /// say so: `wheelwright: 3 of 8 cells already published at SOURCE; 5 left`.
    pub fn skip_published_at(
        &mut self,
        source: &str,
        net: &dyn wheelwright_base::net::Fetch,
    ) -> Result<String, super::published::PublishedError> {
        let names = super::published::published_wheels(source, net)?;
        let dropped = self.skip_published(&names).len();
        let left = self.include.len();
        Ok(format!(
            "wheelwright: {dropped} of {} cells already published at {source}; {left} left\n",
            dropped + left
        ))
    }

    /// The combinations left out, one line each, for the log (empty when
    /// none was).
    pub fn excluded_note(&self) -> String {
        if self.excluded.is_empty() {
            return String::new();
        }
        format!(
            "wheelwright: {} combinations left out:\n{}",
            self.excluded.len(),
            excluded_lines(&self.excluded)
        )
    }

    /// `{"include": [...]}`, the JSON GitHub's `fromJSON` reads.
    pub fn github_json(&self) -> String {
        serde_json::json!({ "include": self.include }).to_string()
    }
}
