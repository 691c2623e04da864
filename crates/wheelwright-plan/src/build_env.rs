//! What a plan hands the build: how the recipe's build takes the settings
//! ([`BuildKind`]: which variables it reads, whether NVCC_THREADS reaches
//! nvcc) and the environment that carries them ([`build_env`]): MAX_JOBS,
//! the archs, NVCC_THREADS, flash-attn 3's switches and flash-attn's own
//! build variables, on top of the toolchain's.

use std::collections::BTreeMap;

use super::archs::{torch_arch_list, Arch};
use super::recipe::{Recipe, SourceUnits};
use super::search::Candidate;
use super::{baselines, fa3, PlanRequest, FLASH_ATTN_DEFAULT_NVCC_THREADS};
use wheelwright_base::env_vars;
use wheelwright_base::facts::Facts;

/// How the recipe's build takes a plan's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BuildKind {
    /// flash-attn 2: reads `FLASH_ATTN_CUDA_ARCHS` and its build switches.
    pub fa: bool,
    /// flash-attn 3: fixed archs and gencodes, `FLASH_ATTENTION_DISABLE_*`.
    pub fa3: bool,
    /// The tree's `setup.py` reads NVCC_THREADS (flash-attn's convention).
    pub reads_threads: bool,
    /// NVCC_THREADS reaches nvcc as `--threads`, so more than one is worth
    /// trying (and setting).
    pub threads_honoured: bool,
    /// flash-attn main's own MAX_JOBS counts 5 GB per nvcc thread.
    pub auto_jobs_per_thread: bool,
    /// A torch extension whose `setup.py` was run: its units carry their own
    /// gencodes, and its switches go into the environment.
    pub probed: bool,
    /// torch compiles one file at a time (the package turned ninja off).
    pub serial: bool,
}

impl BuildKind {
    /// The kind of `recipe`'s build from what its `setup.py` reads; a user's
    /// NVCC_THREADS is honoured whatever the recipe.
    pub fn of(recipe: &Recipe, su: &SourceUnits, req: &PlanRequest) -> Self {
        let fa = recipe.is_flash_attn();
        let fa3 = recipe.is_flash_attn_3();
        // flash-attn passes NVCC_THREADS to nvcc as --threads; so do extensions
        // whose setup.py reads it (flash-attn's convention, default 4).
        let setup_py = su.setup_py.as_deref();
        let probed = su
            .setup_py_facts
            .as_ref()
            .filter(|f| f.method == "setup.py");
        // What the package's code reads, when it was run; else its text.
        let reads_threads = match probed {
            Some(f) => f.reads_env.iter().any(|n| n == env_vars::NVCC_THREADS),
            None => setup_py.is_some_and(|s| s.contains(env_vars::NVCC_THREADS)),
        };
        BuildKind {
            fa,
            fa3,
            reads_threads,
            // A probed extension gets its threads through NVCC_APPEND_FLAGS
            // when it does not read NVCC_THREADS.
            threads_honoured: fa
                || fa3
                || reads_threads
                || probed.is_some()
                || req.nvcc_threads.is_some(),
            // flash-attn main: MAX_JOBS from 5 GB per nvcc thread.
            auto_jobs_per_thread: setup_py.is_some_and(|s| s.contains("5 * nvcc_threads")),
            probed: probed.is_some(),
            serial: probed.is_some_and(|f| f.backend != "ninja"),
        }
    }

    /// The highest NVCC_THREADS worth trying: one per gencode when nvcc gets
    /// it, else 1.
    pub fn max_threads(&self, gencodes: u32) -> u32 {
        if self.threads_honoured {
            gencodes
        } else {
            1
        }
    }

    /// The NVCC_THREADS the package uses when it is unset.
    pub fn default_threads(&self) -> u32 {
        if self.fa3 {
            fa3::FA3_DEFAULT_NVCC_THREADS
        } else if self.fa || self.reads_threads {
            FLASH_ATTN_DEFAULT_NVCC_THREADS
        } else {
            1
        }
    }

    /// What the baselines are priced with on this host.
    pub fn baseline_setting(&self, gencodes: u32, cpus: u32, ceiling: u64) -> baselines::Setting {
        baselines::Setting {
            gencodes,
            cpus,
            ceiling,
            default_threads: self.default_threads(),
            fa_auto_per_thread: self.auto_jobs_per_thread,
            serial: self.serial,
        }
    }
}

/// The build's environment: the toolchain's (`base`) plus MAX_JOBS and the
/// variables `kind` reads for archs, threads, switches and the wheel's label.
pub(super) fn build_env(
    base: BTreeMap<String, String>,
    kind: BuildKind,
    su: &SourceUnits,
    archs: &[Arch],
    best: &Candidate,
    local_version: Option<&str>,
    facts: &Facts,
) -> BTreeMap<String, String> {
    let mut env = base;
    env.insert(env_vars::MAX_JOBS.into(), best.jobs.to_string());
    // flash-attn 3 passes its own -gencode flags, so torch ignores the list.
    if !archs.is_empty() && !kind.fa3 {
        env.insert(
            env_vars::TORCH_CUDA_ARCH_LIST.into(),
            torch_arch_list(archs),
        );
    }
    if kind.threads_honoured && (kind.fa || kind.fa3 || kind.reads_threads || !kind.probed) {
        env.insert(env_vars::NVCC_THREADS.into(), best.threads.to_string());
    } else if kind.probed {
        // NVCC_THREADS reaches no nvcc here: nvcc reads NVCC_APPEND_FLAGS
        // itself, after the command's own flags, and the last --threads wins
        // (over a `--threads 4` of the package's own).
        let own_differs = su
            .units
            .iter()
            .any(|u| u.is_cuda() && u.own_threads.unwrap_or(1) != best.threads);
        if own_differs {
            let flag = format!("--threads {}", best.threads);
            let value = match env.get(env_vars::NVCC_APPEND_FLAGS) {
                Some(user) if !user.trim().is_empty() => format!("{} {flag}", user.trim()),
                _ => flag,
            };
            env.insert(env_vars::NVCC_APPEND_FLAGS.into(), value);
        }
    }
    if let Some(facts) = su.setup_py_facts.as_ref() {
        for sw in &facts.switches {
            env.entry(sw.name.clone())
                .or_insert_with(|| sw.value.clone());
        }
    }
    if kind.fa3 {
        if let Some(sw) = &su.switches {
            for name in sw.disabled() {
                env.insert(fa3::disable_var(name), "TRUE".into());
            }
        }
    }
    if kind.fa {
        let arch_list: Vec<String> = archs.iter().map(Arch::compact).collect();
        env.insert(env_vars::FLASH_ATTN_CUDA_ARCHS.into(), arch_list.join(";"));
    }
    if kind.fa || kind.fa3 {
        env.insert(env_vars::FLASH_ATTENTION_FORCE_BUILD.into(), "TRUE".into());
        if let Some(lv) = local_version {
            env.insert(env_vars::FLASH_ATTN_LOCAL_VERSION.into(), lv.into());
        }
        if let Some(abi) = facts.torch.as_ref().and_then(|t| t.cxx11_abi) {
            let v = if abi { "TRUE" } else { "FALSE" };
            env.insert(env_vars::FLASH_ATTENTION_FORCE_CXX11_ABI.into(), v.into());
        }
    }
    env
}
