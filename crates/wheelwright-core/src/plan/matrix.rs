//! `plan --matrix`: the GitHub Actions build matrix of a fleet, python × torch
//! × CUDA × C++ ABI, from the committed support table ([`crate::support`]).
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

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::archs::{parse_arch_list, Arch, CudaVersion};
use crate::support::{abis_to_build, pytorch_index_url, TorchRelease, FLASH_ATTN_PUBLISH_MATRIX};

/// What matrix to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRequest {
    /// CPython versions (`3.12`); `None` = the default matrix's.
    pub python: Option<Vec<String>>,
    /// torch minors (`2.8`); `None` = the default matrix's.
    pub torch: Option<Vec<String>>,
    /// CUDA toolkits (`12.8`); `None` = the default matrix's.
    pub cuda: Option<Vec<String>>,
    /// C++ ABIs; `None` = per torch release ([`abis_to_build`]).
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
    /// Every combination was left out.
    #[error("no combination of the requested python, torch and CUDA is published by PyTorch ({0} left out)")]
    Empty(usize),
}

/// GitHub's label of a machine: `x64`, `arm64`.
pub fn runner_machine_label(machine: &str) -> &str {
    match machine {
        "x86_64" | "amd64" => "x64",
        "aarch64" | "arm64" => "arm64",
        other => other,
    }
}

/// flash-attn's release asset name: `flash_attn-{ver}+cu{MAJOR}torch{X.Y}cxx11abi{TRUE|FALSE}-cp{XY}-cp{XY}-linux_{machine}.whl`.
pub fn flash_attn_wheel_name(version: &str, variant: &str, python: &str, machine: &str) -> String {
    let cp = format!("cp{}", python.replace('.', ""));
    format!("flash_attn-{version}+{variant}-{cp}-{cp}-linux_{machine}.whl")
}

/// flash-attn's variant label: `cu12torch2.8cxx11abiTRUE`.
pub fn flash_attn_variant(cuda_major: u32, torch_minor: &str, cxx11_abi: bool) -> String {
    let abi = if cxx11_abi { "TRUE" } else { "FALSE" };
    format!("cu{cuda_major}torch{torch_minor}cxx11abi{abi}")
}

fn python_version(text: &str) -> Result<String, MatrixError> {
    let t = text.trim();
    let mut it = t.split('.');
    match (
        it.next().map(str::parse::<u32>),
        it.next().map(str::parse::<u32>),
        it.next(),
    ) {
        (Some(Ok(3)), Some(Ok(m)), None) => Ok(format!("3.{m}")),
        _ => Err(MatrixError::BadValue {
            what: "python",
            value: t.to_string(),
            expected: "write a CPython version like `3.12`".into(),
        }),
    }
}

/// Build the matrix; see the module docs.
pub fn build_matrix(req: &MatrixRequest) -> Result<Matrix, MatrixError> {
    let d = FLASH_ATTN_PUBLISH_MATRIX;
    let or_default = |v: &Option<Vec<String>>, def: &[&str]| -> Vec<String> {
        v.clone()
            .unwrap_or_else(|| def.iter().map(|s| s.to_string()).collect())
    };
    let pythons = or_default(&req.python, d.python)
        .iter()
        .map(|p| python_version(p))
        .collect::<Result<Vec<_>, _>>()?;
    let releases = or_default(&req.torch, d.torch)
        .iter()
        .map(|t| {
            TorchRelease::find(t).ok_or_else(|| MatrixError::BadValue {
                what: "torch",
                value: t.clone(),
                expected: format!(
                    "the support table knows {}",
                    crate::support::TORCH_RELEASES
                        .iter()
                        .map(|r| r.minor)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cudas = or_default(&req.cuda, d.cuda)
        .iter()
        .map(|c| {
            CudaVersion::parse(c).ok_or_else(|| MatrixError::BadValue {
                what: "cuda",
                value: c.clone(),
                expected: "write a CUDA version like `12.8`".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let archs = parse_arch_list(&req.archs).map_err(|e| MatrixError::BadValue {
        what: "archs",
        value: req.archs.clone(),
        expected: e.to_string(),
    })?;

    let mut include = Vec::new();
    let mut excluded = Vec::new();
    let mut seen = BTreeSet::new();
    for release in &releases {
        for cuda in &cudas {
            for python in &pythons {
                let mut skip = |reason: String| {
                    excluded.push(Excluded {
                        python: python.clone(),
                        torch: release.minor.to_string(),
                        cuda: cuda.to_string(),
                        reason,
                    })
                };
                if !release.supports_python(python) {
                    skip(format!(
                        "torch {} has wheels for Python {} to {} only",
                        release.minor, release.python.0, release.python.1
                    ));
                    continue;
                }
                let Some(torch_cuda) = release.variant_for_toolkit(*cuda) else {
                    skip(format!(
                        "PyTorch publishes torch {} for CUDA {} only: none of CUDA {}.x at or below {cuda}",
                        release.minor,
                        release.cuda.join(", "),
                        cuda.major
                    ));
                    continue;
                };
                let carried: Vec<Arch> = archs
                    .iter()
                    .copied()
                    .filter(|a| a.unsupported_by(*cuda).is_none())
                    .collect();
                if carried.is_empty() {
                    skip(format!(
                        "CUDA {cuda} builds none of the archs {}",
                        req.archs
                    ));
                    continue;
                }
                let arch_list = carried
                    .iter()
                    .map(Arch::compact)
                    .collect::<Vec<_>>()
                    .join(";");
                let abis: Vec<bool> = req
                    .cxx11_abi
                    .clone()
                    .unwrap_or_else(|| abis_to_build(release).to_vec());
                for abi in abis {
                    if !seen.insert((python.clone(), release.minor, *cuda, abi)) {
                        continue;
                    }
                    let variant = flash_attn_variant(cuda.major, release.minor, abi);
                    let wheel = flash_attn_wheel_name(
                        &req.flash_attn_version,
                        &variant,
                        python,
                        &req.machine,
                    );
                    let mut runs_on: Vec<String> = vec![
                        "self-hosted".into(),
                        "linux".into(),
                        runner_machine_label(&req.machine).into(),
                        crate::runner_setup::labels::cuda_label(&cuda.to_string()),
                    ];
                    for l in &req.extra_labels {
                        if !runs_on.contains(l) {
                            runs_on.push(l.clone());
                        }
                    }
                    include.push(MatrixCell {
                        name: format!(
                            "py{python} torch{} cu{cuda} abi{}",
                            release.minor,
                            if abi { "TRUE" } else { "FALSE" }
                        ),
                        python: python.clone(),
                        torch: release.minor.to_string(),
                        torch_version: release.version.to_string(),
                        torch_cuda: torch_cuda.to_string(),
                        torch_index_url: pytorch_index_url(torch_cuda),
                        cuda: cuda.to_string(),
                        cxx11_abi: if abi { "TRUE" } else { "FALSE" }.to_string(),
                        archs: arch_list.clone(),
                        variant,
                        wheel,
                        runs_on,
                    });
                }
            }
        }
    }
    if include.is_empty() {
        return Err(MatrixError::Empty(excluded.len()));
    }
    Ok(Matrix { include, excluded })
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
        net: &dyn crate::net::Network,
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
        let mut note = format!(
            "wheelwright: {} combinations left out (PyTorch publishes no such torch):\n",
            self.excluded.len()
        );
        for e in &self.excluded {
            note.push_str(&format!(
                "  python {} torch {} cuda {}: {}\n",
                e.python, e.torch, e.cuda, e.reason
            ));
        }
        note
    }

    /// `{"include": [...]}`, the JSON GitHub's `fromJSON` reads.
    pub fn github_json(&self) -> String {
        serde_json::json!({ "include": self.include }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_flash_attns_publish_matrix() {
        let m = build_matrix(&MatrixRequest::default()).unwrap();
        // 4 Pythons × (2.6: 12.9 × 2 ABIs; 2.7, 2.8: 12.9; 2.9, 2.10: 12.9 and 13.0).
        assert_eq!(m.include.len(), 4 * (2 + 1 + 1 + 2 + 2));
        let c = m
            .include
            .iter()
            .find(|c| c.python == "3.12" && c.torch == "2.8")
            .unwrap();
        assert_eq!(c.cuda, "12.9");
        assert_eq!(c.torch_cuda, "12.9");
        assert_eq!(c.torch_index_url, "https://download.pytorch.org/whl/cu129");
        assert_eq!(c.variant, "cu12torch2.8cxx11abiTRUE");
        assert_eq!(
            c.wheel,
            "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        );
        assert_eq!(c.archs, "80;90;100;120");
        assert_eq!(c.runs_on, ["self-hosted", "linux", "x64", "cuda-12.9"]);
        // torch 2.8 has no CUDA 13 build: excluded, with the reason.
        assert!(m.excluded.iter().any(|e| e.torch == "2.8"
            && e.cuda == "13.0"
            && e.reason.contains("12.6, 12.8, 12.9")));
        // Only torch 2.6 gets the old ABI.
        assert!(m
            .include
            .iter()
            .filter(|c| c.cxx11_abi == "FALSE")
            .all(|c| c.torch == "2.6"));
    }

    #[test]
    fn filters_replace_axes_and_leave_out_what_pytorch_lacks() {
        let req = MatrixRequest {
            python: Some(vec!["3.11".into(), "3.12".into()]),
            torch: Some(vec!["2.8".into(), "2.9".into()]),
            cuda: Some(vec!["12.8".into(), "13.0".into()]),
            ..MatrixRequest::default()
        };
        let m = build_matrix(&req).unwrap();
        let cells: Vec<(String, String, String)> = m
            .include
            .iter()
            .map(|c| (c.python.clone(), c.torch.clone(), c.cuda.clone()))
            .collect();
        assert_eq!(cells.len(), 6, "{cells:?}");
        assert!(!cells.iter().any(|(_, t, c)| t == "2.8" && c == "13.0"));
        let c = m
            .include
            .iter()
            .find(|c| c.torch == "2.9" && c.cuda == "13.0")
            .unwrap();
        assert_eq!(c.variant, "cu13torch2.9cxx11abiTRUE");
        assert_eq!(c.torch_index_url, "https://download.pytorch.org/whl/cu130");
        // CUDA 12.4 cannot build sm_100/sm_120: those archs are dropped.
        let old = build_matrix(&MatrixRequest {
            torch: Some(vec!["2.6".into()]),
            cuda: Some(vec!["12.4".into()]),
            python: Some(vec!["3.10".into()]),
            ..MatrixRequest::default()
        })
        .unwrap();
        assert_eq!(old.include[0].archs, "80;90");
        assert_eq!(old.include.len(), 2, "both ABIs for torch 2.6");
    }

    #[test]
    fn bad_values_and_empty_matrices_are_errors() {
        let bad = |r: MatrixRequest| build_matrix(&r).unwrap_err();
        assert!(matches!(
            bad(MatrixRequest {
                torch: Some(vec!["1.13".into()]),
                ..Default::default()
            }),
            MatrixError::BadValue { what: "torch", .. }
        ));
        assert!(matches!(
            bad(MatrixRequest {
                python: Some(vec!["2.7".into()]),
                ..Default::default()
            }),
            MatrixError::BadValue { what: "python", .. }
        ));
        assert!(matches!(
            bad(MatrixRequest {
                cuda: Some(vec!["x".into()]),
                ..Default::default()
            }),
            MatrixError::BadValue { what: "cuda", .. }
        ));
        assert!(matches!(
            bad(MatrixRequest {
                torch: Some(vec!["2.8".into()]),
                cuda: Some(vec!["13.0".into()]),
                ..Default::default()
            }),
            MatrixError::Empty(4)
        ));
    }

    #[test]
    fn published_wheels_are_skipped_case_insensitively() {
        let mut m = build_matrix(&MatrixRequest::default()).unwrap();
        let before = m.include.len();
        let published: BTreeSet<String> = [
            "flash_attn-2.8.3+cu12torch2.8cxx11abitrue-cp312-cp312-linux_x86_64.whl".to_string(),
        ]
        .into();
        let dropped = m.skip_published(&published);
        assert_eq!(
            dropped,
            ["flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"]
        );
        assert_eq!(m.include.len(), before - 1);
        let json: serde_json::Value = serde_json::from_str(&m.github_json()).unwrap();
        assert_eq!(json["include"].as_array().unwrap().len(), before - 1);
        assert!(json.get("excluded").is_none());
        assert!(json["include"][0]["runs-on"].is_array());
    }

    #[test]
    fn a_wheelhouse_of_published_wheels_is_skipped_with_a_note() {
        let mut m = build_matrix(&MatrixRequest::default()).unwrap();
        let before = m.include.len();
        let house = tempfile::tempdir().unwrap();
        std::fs::write(house.path().join(&m.include[0].wheel), b"").unwrap();
        let source = house.path().display().to_string();
        let note = m.skip_published_at(&source, &crate::net::Offline).unwrap();
        assert_eq!(
            note,
            format!(
                "wheelwright: 1 of {before} cells already published at {source}; {} left\n",
                before - 1
            )
        );
        let note = m.excluded_note();
        assert_eq!(note.lines().count(), m.excluded.len() + 1, "{note}");
    }
}
