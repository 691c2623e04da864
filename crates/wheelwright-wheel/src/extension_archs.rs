//! Each extension's device code against what its plan says its units compile.
//!
//! A package's extensions need not share one arch list: causal-conv1d
//! hard-codes nine `-gencode`s per unit whatever `TORCH_CUDA_ARCH_LIST` says,
//! torch-scatter builds eight extensions of which three hold CUDA. A plan
//! made from the package's own `setup.py` knows each unit's targets and the
//! extension it goes into ([`ExtensionArchs`]); this module sets them
//! against the binary that extension became.
//!
//! A binary is an extension's when its path in the wheel is the extension's
//! dotted name (`torch_scatter/_scatter_cuda.cpython-312-x86_64-linux-gnu.so`
//! is `torch_scatter._scatter_cuda`; a `*.data/platlib/` prefix is dropped).
//! nvcc writes one fatbin container per translation unit and the linker
//! keeps them side by side (checked with nvcc 13.0: two objects of two and
//! one gencodes linked by g++ give containers of 2 and 1 entries), so each
//! nvcc unit is looked for as a container holding exactly its targets: a
//! unit compiled without one of its targets is found even where another
//! unit of the same binary carries that arch.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::fatbin::DeviceCode;
use wheelwright_base::archs::Arch;

/// The device code a plan says one extension's nvcc units compile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExtensionArchs {
    /// The extension's module name (`torch_scatter._scatter_cuda`).
    pub extension: String,
    /// Its nvcc units.
    pub units: Vec<UnitArchs>,
}

/// One nvcc unit and the targets the plan says it compiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitArchs {
    /// The unit's source, relative to the package root.
    pub path: String,
    /// SASS (`sm_90`) and PTX (`compute_90`) targets.
    pub targets: Vec<String>,
}

/// One binary's device code against its extension's planned units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExtensionComparison {
    /// The extension this binary is.
    pub extension: String,
    /// Every target its units were planned with, sorted.
    pub planned: Vec<String>,
    /// Planned for some unit and in no container of the binary.
    pub missing: Vec<String>,
    /// In the binary and planned for none of its units.
    pub extra: Vec<String>,
    /// Each planned unit, and the container it was found as.
    pub units: Vec<UnitMatch>,
    /// Containers no planned unit accounts for, their targets each.
    pub unplanned_containers: Vec<Vec<String>>,
}

impl ExtensionComparison {
    /// Every planned unit's targets are in the binary as planned, and no
    /// other device code is.
    pub fn agrees(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.unplanned_containers.is_empty()
            && self
                .units
                .iter()
                .all(|u| u.missing.is_empty() && u.extra.is_empty())
    }
}

/// A planned unit against the fatbin container taken for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitMatch {
    /// The unit's source.
    pub path: String,
    /// Its planned targets, sorted.
    pub targets: Vec<String>,
    /// The container's targets (`None`: no container was left for it).
    pub found: Option<Vec<String>>,
    /// Planned, not in that container.
    pub missing: Vec<String>,
    /// In that container, not planned.
    pub extra: Vec<String>,
}

/// The extension a binary's path in the wheel is (`pkg/_ext.cpython-312-
/// x86_64-linux-gnu.so` → `pkg._ext`), `*.data/platlib/` or `purelib/`
/// dropped.
pub fn extension_of(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() > 2 && parts[0].ends_with(".data") && matches!(parts[1], "platlib" | "purelib") {
        parts.drain(..2);
    }
    let file = parts.pop().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or(file);
    parts.push(stem);
    parts.join(".")
}

/// A target in nvcc's spelling (`sm_90a`, `compute_90`), `None` when it is
/// not an arch.
fn normalize(target: &str) -> Option<String> {
    let t = target.trim().to_ascii_lowercase();
    let arch = Arch::parse(&t).ok()?;
    Some(if t.starts_with("compute_") {
        format!("compute_{}", arch.compact())
    } else {
        arch.sm()
    })
}

fn sorted(set: BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort_by_key(|t| {
        let ptx = t.starts_with("compute_");
        (ptx, Arch::parse(t).ok())
    });
    v
}

/// Compare one binary's fatbin `containers` with `planned`.
pub(crate) fn compare_extension(
    containers: &[Vec<DeviceCode>],
    planned: &ExtensionArchs,
) -> ExtensionComparison {
    let sets: Vec<BTreeSet<String>> = containers
        .iter()
        .map(|c| c.iter().map(DeviceCode::name).collect::<BTreeSet<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let wanted: Vec<BTreeSet<String>> = planned
        .units
        .iter()
        .map(|u| u.targets.iter().filter_map(|t| normalize(t)).collect())
        .collect();
    // Exact matches first, then each remaining unit takes the remaining
    // container it shares most targets with.
    let mut taken = vec![false; sets.len()];
    let mut pick: Vec<Option<usize>> = vec![None; wanted.len()];
    for (u, w) in wanted.iter().enumerate() {
        if let Some(i) = (0..sets.len()).find(|&i| !taken[i] && sets[i] == *w) {
            taken[i] = true;
            pick[u] = Some(i);
        }
    }
    for (u, w) in wanted.iter().enumerate() {
        if pick[u].is_some() {
            continue;
        }
        let best = (0..sets.len())
            .filter(|&i| !taken[i])
            .max_by_key(|&i| (sets[i].intersection(w).count(), std::cmp::Reverse(i)));
        if let Some(i) = best {
            taken[i] = true;
            pick[u] = Some(i);
        }
    }
    let units = planned
        .units
        .iter()
        .zip(&wanted)
        .zip(&pick)
        .map(|((unit, w), p)| {
            let found = p.map(|i| &sets[i]);
            let empty = BTreeSet::new();
            let have = found.unwrap_or(&empty);
            UnitMatch {
                path: unit.path.clone(),
                targets: sorted(w.clone()),
                found: found.map(|s| sorted(s.clone())),
                missing: sorted(w.difference(have).cloned().collect()),
                extra: sorted(have.difference(w).cloned().collect()),
            }
        })
        .collect();
    let all_planned: BTreeSet<String> = wanted.iter().flatten().cloned().collect();
    let all_found: BTreeSet<String> = sets.iter().flatten().cloned().collect();
    ExtensionComparison {
        extension: planned.extension.clone(),
        planned: sorted(all_planned.clone()),
        missing: sorted(all_planned.difference(&all_found).cloned().collect()),
        extra: sorted(all_found.difference(&all_planned).cloned().collect()),
        units,
        unplanned_containers: sets
            .iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(s, _)| sorted(s.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fatbin::CodeKind;

    fn container(names: &[&str]) -> Vec<DeviceCode> {
        names
            .iter()
            .map(|n| DeviceCode {
                kind: if n.starts_with("compute_") {
                    CodeKind::Ptx
                } else {
                    CodeKind::Sass
                },
                arch: Arch::parse(n).unwrap(),
            })
            .collect()
    }

    fn ext(units: &[(&str, &[&str])]) -> ExtensionArchs {
        ExtensionArchs {
            extension: "pkg._ext".into(),
            units: units
                .iter()
                .map(|(p, t)| UnitArchs {
                    path: p.to_string(),
                    targets: t.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn extension_names_from_wheel_paths() {
        assert_eq!(
            extension_of("torch_scatter/_scatter_cuda.cpython-312-x86_64-linux-gnu.so"),
            "torch_scatter._scatter_cuda"
        );
        assert_eq!(
            extension_of("causal_conv1d_cuda.cpython-311-x86_64-linux-gnu.so"),
            "causal_conv1d_cuda"
        );
        assert_eq!(
            extension_of("pkg-1.0.data/platlib/pkg/_c.abi3.so"),
            "pkg._c"
        );
        assert_eq!(extension_of("pkg/lib/_k.so"), "pkg.lib._k");
    }

    /// One unit short of an arch that another unit carries: the union
    /// agrees, the unit does not.
    #[test]
    fn a_unit_short_of_an_arch_is_found_though_another_carries_it() {
        let plan = ext(&[("a.cu", &["sm_80", "sm_90"]), ("b.cu", &["sm_80", "sm_90"])]);
        let good = compare_extension(
            &[
                container(&["sm_90", "sm_80"]),
                container(&["sm_80", "sm_90"]),
            ],
            &plan,
        );
        assert!(good.agrees(), "{good:?}");
        let bad = compare_extension(
            &[container(&["sm_80", "sm_90"]), container(&["sm_80"])],
            &plan,
        );
        assert!(bad.missing.is_empty() && bad.extra.is_empty());
        assert!(!bad.agrees());
        let short: Vec<&UnitMatch> = bad.units.iter().filter(|u| !u.missing.is_empty()).collect();
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].missing, ["sm_90"]);
    }

    #[test]
    fn missing_extra_and_unplanned_containers() {
        let plan = ext(&[("a.cu", &["sm_90", "compute_90"])]);
        let c = compare_extension(
            &[container(&["sm_80"]), container(&["sm_90", "compute_90"])],
            &plan,
        );
        assert!(c.units[0].missing.is_empty(), "{c:?}");
        assert_eq!(c.extra, ["sm_80"]);
        assert_eq!(c.unplanned_containers, [vec!["sm_80".to_string()]]);
        let none = compare_extension(&[], &plan);
        assert_eq!(none.missing, ["sm_90", "compute_90"]);
        assert_eq!(none.units[0].found, None);
    }
}
