//! Runner labels from the detected facts, in the vocabulary `plan --matrix`
//! uses for `runs-on`, ready for the runner's `config.sh --labels`.
//!
//! - `gpu` when any GPU is present, and `gpu-<model>` per model (`gpu-a800`,
//!   `gpu-h100`, `gpu-rtx-4090`): the NVIDIA name without `NVIDIA`,
//!   `GeForce`, `Tesla`, cut at the first `-` or space;
//! - `sm_<NN>` per compute capability (`sm_80`, `sm_90`);
//! - `cuda-<X.Y>` per installed toolkit (every `/usr/local/cuda-*` and the
//!   detected one), the label a matrix cell asks for;
//! - `cpu-<N>`: usable CPUs (logical, capped by the cgroup quota);
//! - `mem-<N>g`: memory (the cgroup limit if lower), rounded up to a
//!   plausible installed size: to a multiple of 1/16 of the power of two below
//!   it, at least 1 GiB (a 512 GiB box whose kernel reports 503.7 GiB is
//!   `mem-512g`; 755 GiB is `mem-768g`).
//!
//! GitHub adds `self-hosted`, `linux` and `x64`/`arm64` itself.

use wheelwright_base::archs::Arch;
use wheelwright_base::facts::Facts;
use wheelwright_base::units::GIB;
use wheelwright_plan::effective_cpus;

use super::toolkits::Toolkit;

/// The labels of this runner, in a stable order (GPU, sm, CUDA, CPU, memory).
pub fn runner_labels(facts: &Facts, toolkits: &[Toolkit]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut push = |l: String| {
        if !labels.contains(&l) {
            labels.push(l);
        }
    };
    if !facts.gpus.is_empty() {
        push("gpu".into());
    }
    for g in &facts.gpus {
        if let Some(model) = gpu_model(&g.name) {
            push(format!("gpu-{model}"));
        }
    }
    let mut archs: Vec<Arch> = facts
        .gpus
        .iter()
        .filter_map(|g| Arch::from_compute_capability(&g.compute_capability))
        .collect();
    archs.sort();
    for a in archs {
        push(a.sm());
    }
    let mut versions: Vec<_> = toolkits.iter().filter_map(Toolkit::cuda).collect();
    if let Some(c) = facts
        .cuda
        .as_ref()
        .and_then(|c| wheelwright_base::archs::CudaVersion::parse(&c.version))
    {
        versions.push(c);
    }
    versions.sort();
    for v in versions {
        push(cuda_label(&v.to_string()));
    }
    push(format!("cpu-{}", effective_cpus(facts)));
    let memory = match facts.host.memory_limit_bytes {
        Some(l) if l < facts.host.memory_total_bytes => l,
        _ => facts.host.memory_total_bytes,
    };
    push(format!("mem-{}g", memory_label_gib(memory)));
    labels
}

pub use wheelwright_plan::matrix::cuda_label;

/// The short model of an NVIDIA GPU name: `NVIDIA A800-SXM4-80GB` → `a800`,
/// `NVIDIA H100 80GB HBM3` → `h100`, `NVIDIA GeForce RTX 4090` → `rtx-4090`,
/// `Tesla V100-SXM2-16GB` → `v100`.
pub fn gpu_model(name: &str) -> Option<String> {
    let words: Vec<String> = name
        .split([' ', '-'])
        .filter(|w| !w.is_empty())
        .filter(|w| {
            !matches!(
                w.to_ascii_lowercase().as_str(),
                "nvidia" | "geforce" | "tesla"
            )
        })
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let first = words.first()?;
    let model = match first.as_str() {
        "rtx" | "quadro" | "gtx" => format!("{first}-{}", words.get(1)?),
        _ => first.clone(),
    };
    let clean: String = model
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!clean.is_empty()).then_some(clean)
}

/// Memory in GiB rounded up to a plausible installed size (see the module docs).
pub fn memory_label_gib(bytes: u64) -> u64 {
    let gib = bytes as f64 / GIB as f64;
    if gib <= 1.0 {
        return 1;
    }
    let below = 2f64.powi(gib.log2().floor() as i32);
    let step = (below / 16.0).max(1.0);
    ((gib / step).ceil() * step) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wheelwright_base::facts::Gpu;

    #[test]
    fn gpu_models_from_real_names() {
        assert_eq!(gpu_model("NVIDIA A800-SXM4-80GB").as_deref(), Some("a800"));
        assert_eq!(gpu_model("NVIDIA H100 80GB HBM3").as_deref(), Some("h100"));
        assert_eq!(gpu_model("NVIDIA H200").as_deref(), Some("h200"));
        assert_eq!(
            gpu_model("NVIDIA GeForce RTX 4090").as_deref(),
            Some("rtx-4090")
        );
        assert_eq!(gpu_model("Tesla V100-SXM2-16GB").as_deref(), Some("v100"));
        assert_eq!(gpu_model("NVIDIA RTX A6000").as_deref(), Some("rtx-a6000"));
        assert_eq!(gpu_model("NVIDIA"), None);
    }

    #[test]
    fn memory_rounds_to_installed_sizes() {
        let g = |x: f64| (x * GIB as f64) as u64;
        assert_eq!(memory_label_gib(g(503.7)), 512);
        assert_eq!(memory_label_gib(g(755.0)), 768);
        assert_eq!(memory_label_gib(g(251.5)), 256);
        assert_eq!(memory_label_gib(g(62.8)), 64);
        assert_eq!(memory_label_gib(g(15.6)), 16);
        assert_eq!(memory_label_gib(g(7.7)), 8);
        assert_eq!(memory_label_gib(g(0.5)), 1);
    }

    #[test]
    fn labels_of_an_a800_box() {
        let mut f = crate::test_support::empty_facts();
        f.host.logical_cpus = 128;
        f.host.cpu_quota = Some(64.0);
        f.host.memory_total_bytes = (503.7 * GIB as f64) as u64;
        f.gpus = (0..8)
            .map(|i| Gpu {
                index: i,
                name: "NVIDIA A800-SXM4-80GB".into(),
                uuid: None,
                compute_capability: "8.0".into(),
                memory_total_bytes: None,
            })
            .collect();
        let tk = |v: &str| Toolkit {
            home: PathBuf::from(format!("/usr/local/cuda-{v}")),
            version: v.into(),
            max_gcc_major: Some(12),
        };
        let labels = runner_labels(&f, &[tk("12.4"), tk("12.8")]);
        assert_eq!(
            labels,
            [
                "gpu",
                "gpu-a800",
                "sm_80",
                "cuda-12.4",
                "cuda-12.8",
                "cpu-64",
                "mem-512g"
            ]
        );
        // A CPU-only box still gets its CPU and memory labels.
        let labels = runner_labels(&crate::test_support::empty_facts(), &[]);
        assert_eq!(labels, ["cpu-8", "mem-32g"]);
    }
}
