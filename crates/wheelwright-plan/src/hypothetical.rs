//! Hosts you are not on: `Facts` synthesized from a few numbers
//! (`--cpus 64 --memory 512GiB --gpu sm_80 --cuda 12.2 ...`), or detected
//! facts with some parts overridden.
//!
//! A hypothetical host (CPUs or memory given) is not detected at all; what is
//! not given is assumed and listed in the returned assumptions: no cgroup
//! limits, available memory = total, no GPUs (so the recipe's default archs),
//! CUDA 12.8, the newest GCC that CUDA accepts (at most 13), torch 2.8 built
//! for that CUDA with the C++11 ABI (torch ≥ 2.7 wheels use it), Python 3.12,
//! a working ninja, and unknown free disk (no disk check). 16 CPUs and
//! 64 GiB when only the other one is given.

use super::archs::{parse_arch_list, CudaVersion};
use super::PlanError;
use wheelwright_base::facts::{
    Compiler, Cuda, Facts, Gpu, Host, Ninja, Python, Torch, FACTS_SCHEMA_VERSION,
};
use wheelwright_base::support::{torch_build, TorchBuild};
use wheelwright_base::units::GIB;

/// What is known about a host; every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSpec {
    /// Logical CPUs.
    pub cpus: Option<u32>,
    /// cgroup CPU quota in cores.
    pub cpu_quota: Option<f64>,
    /// Total memory.
    pub memory_bytes: Option<u64>,
    /// cgroup memory limit.
    pub memory_limit_bytes: Option<u64>,
    /// GPU archs, one entry per GPU (`sm_80`, `9.0`, a list `80,90`).
    pub gpus: Option<Vec<String>>,
    /// nvcc's version, `12.2`.
    pub cuda: Option<String>,
    /// torch's version, `2.7`.
    pub torch: Option<String>,
    /// `torch.version.cuda`, `12.6`.
    pub torch_cuda: Option<String>,
    /// torch's C++11 ABI.
    pub cxx11_abi: Option<bool>,
    /// The default GCC's major.
    pub gcc: Option<u32>,
    /// Free disk where the build runs.
    pub disk_free_bytes: Option<u64>,
}

/// The newest GCC major a CUDA version's `crt/host_config.h` accepts (from
/// the headers of CUDA 10.1 … 13.0; detection reads the real header).
pub fn max_gcc_for_cuda(v: CudaVersion) -> Option<u32> {
    Some(match (v.major, v.minor) {
        (10, _) => 8,
        (11, 0) => 9,
        (11, 1..=3) => 10,
        (11, _) => 11,
        (12, 0..=3) => 12,
        (12, 4..=7) => 13,
        (12, _) => 14,
        (13, _) => 15,
        _ => return None,
    })
}

const DEFAULT_CUDA: &str = "12.8";
const DEFAULT_TORCH: &str = "2.8";
const DEFAULT_CPUS: u32 = 16;
const DEFAULT_MEMORY: u64 = 64 * GIB;

fn bad(what: &str, value: &str, expected: &str) -> PlanError {
    PlanError::BadInput {
        what: what.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

fn cuda_version(what: &str, text: &str) -> Result<CudaVersion, PlanError> {
    CudaVersion::parse(text).ok_or_else(|| bad(what, text, "a version like `12.2`"))
}

impl HostSpec {
    /// What `--torch`'s own local label says it was built for (`2.7.1+cu118`).
    fn torch_build(&self) -> TorchBuild {
        self.torch
            .as_deref()
            .map_or(TorchBuild::Unlabelled, torch_build)
    }

    /// Whether this describes another machine rather than tweaking this one.
    pub fn is_hypothetical(&self) -> bool {
        self.cpus.is_some() || self.memory_bytes.is_some()
    }

    /// Whether any field is set.
    pub fn is_empty(&self) -> bool {
        *self == HostSpec::default()
    }

    /// A host from this spec alone, and what had to be assumed.
    pub fn hypothetical_facts(&self) -> Result<(Facts, Vec<String>), PlanError> {
        let mut assumed = Vec::new();
        let mut note = |s: String| assumed.push(s);
        if self.cpus.is_none() {
            note(format!("{DEFAULT_CPUS} CPUs (give --cpus)"));
        }
        if self.memory_bytes.is_none() {
            note("64 GiB of memory (give --memory)".into());
        }
        if self.gpus.is_none() {
            note("no GPUs: the recipe's default archs (give --gpu or --archs)".into());
        }
        if self.cuda.is_none() {
            note(format!("CUDA {DEFAULT_CUDA} (give --cuda)"));
        }
        if self.gcc.is_none() {
            note("the newest GCC that CUDA accepts, at most 13 (give --gcc)".into());
        }
        if self.torch.is_none() {
            note(format!("torch {DEFAULT_TORCH} (give --torch)"));
        }
        if self.torch_cuda.is_none() && self.torch_build() == TorchBuild::Unlabelled {
            note("torch built for the toolkit's CUDA (give --torch-cuda)".into());
        }
        if self.disk_free_bytes.is_none() {
            note("enough free disk (give --disk to check)".into());
        }
        note("Python 3.12 with a working ninja".into());
        let memory = self.memory_bytes.unwrap_or(DEFAULT_MEMORY);
        let mut facts = Facts {
            schema_version: FACTS_SCHEMA_VERSION,
            host: Host {
                os: "linux".into(),
                arch: "x86_64".into(),
                kernel: None,
                logical_cpus: DEFAULT_CPUS,
                physical_cpus: None,
                cpu_quota: None,
                memory_total_bytes: memory,
                memory_available_bytes: memory,
                memory_limit_bytes: None,
                disk_free_bytes: None,
                disk_path: "(hypothetical)".into(),
            },
            gpus: Vec::new(),
            driver: None,
            cuda: None,
            compilers: Vec::new(),
            python: Some(Python {
                path: "python3".into(),
                version: "3.12".into(),
                pip: Some("25.0".into()),
                setuptools: Some("80.0".into()),
                wheel: Some("0.45".into()),
                packaging: Some("25.0".into()),
                psutil: Some("7.0".into()),
            }),
            torch: None,
            ninja: Some(Ninja {
                path: "ninja".into(),
                version: Some("1.13.0".into()),
                healthy: true,
            }),
            problems: Vec::new(),
        };
        let cuda = self.cuda.clone().unwrap_or_else(|| DEFAULT_CUDA.into());
        let torch = self.torch.clone().unwrap_or_else(|| DEFAULT_TORCH.into());
        let spec = HostSpec {
            cuda: Some(cuda.clone()),
            torch: Some(torch),
            torch_cuda: match (&self.torch_cuda, self.torch_build()) {
                (Some(given), _) => Some(given.clone()),
                (None, TorchBuild::Cuda(c)) => Some(c.to_string()),
                (None, TorchBuild::Cpu) => None,
                (None, TorchBuild::Unlabelled) => Some(cuda),
            },
            ..self.clone()
        };
        spec.apply_to(&mut facts)?;
        if self.gcc.is_none() {
            let max = facts
                .cuda
                .as_ref()
                .and_then(|c| c.max_gcc_major)
                .unwrap_or(13);
            facts.compilers = gcc_pair(max.min(13));
        }
        Ok((facts, assumed))
    }

    /// The facts to plan for, and what was assumed about them: `saved` ones
    /// (from `wheelwright detect --json`) with this spec's overrides; else
    /// the hypothetical host this spec describes, if it describes one; else
    /// this host (`detect`) with the overrides.
    pub fn resolve(
        &self,
        saved: Option<Facts>,
        detect: impl FnOnce() -> Facts,
    ) -> Result<(Facts, Vec<String>), PlanError> {
        if saved.is_none() && self.is_hypothetical() {
            return self.hypothetical_facts();
        }
        let mut facts = saved.unwrap_or_else(detect);
        self.apply_to(&mut facts)?;
        Ok((facts, Vec::new()))
    }

    /// Override the parts of `facts` this spec gives.
    pub fn apply_to(&self, facts: &mut Facts) -> Result<(), PlanError> {
        if let Some(cpus) = self.cpus {
            if cpus == 0 {
                return Err(bad("--cpus", "0", "at least 1"));
            }
            facts.host.logical_cpus = cpus;
            facts.host.physical_cpus = None;
            facts.host.cpu_quota = None;
        }
        if let Some(q) = self.cpu_quota {
            if !(q.is_finite() && q > 0.0) {
                return Err(bad(
                    "--cpu-quota",
                    &q.to_string(),
                    "a number of cores above 0",
                ));
            }
            facts.host.cpu_quota = Some(q);
        }
        if let Some(m) = self.memory_bytes {
            if m == 0 {
                return Err(bad("--memory", "0", "a size like `64GiB`"));
            }
            facts.host.memory_total_bytes = m;
            facts.host.memory_available_bytes = m;
            facts.host.memory_limit_bytes = None;
        }
        if let Some(l) = self.memory_limit_bytes {
            facts.host.memory_limit_bytes = Some(l);
        }
        if let Some(gpus) = &self.gpus {
            let mut list = Vec::new();
            for g in gpus {
                let archs = parse_arch_list(g).map_err(PlanError::Arch)?;
                list.extend(archs);
            }
            facts.gpus = list
                .iter()
                .enumerate()
                .map(|(i, a)| Gpu {
                    index: i as u32,
                    name: format!("{} GPU", a.sm()),
                    uuid: None,
                    compute_capability: format!("{}.{}", a.major, a.minor),
                    memory_total_bytes: None,
                })
                .collect();
        }
        if let Some(c) = &self.cuda {
            let v = cuda_version("--cuda", c)?;
            let (home, nvcc) = match &facts.cuda {
                Some(old) => (old.home.clone(), old.nvcc.clone()),
                None => ("/usr/local/cuda".into(), "/usr/local/cuda/bin/nvcc".into()),
            };
            facts.cuda = Some(Cuda {
                home,
                nvcc,
                version: v.to_string(),
                max_gcc_major: max_gcc_for_cuda(v),
            });
        }
        if self.torch.is_some() || self.torch_cuda.is_some() || self.cxx11_abi.is_some() {
            let base = facts.torch.clone().unwrap_or(Torch {
                version: DEFAULT_TORCH.into(),
                cuda: facts.cuda.as_ref().map(|c| c.version.clone()),
                cxx11_abi: None,
                cuda_available: false,
            });
            let version = self.torch.clone().unwrap_or(base.version);
            let (major, minor) = wheelwright_base::support::major_minor(&version)
                .ok_or_else(|| bad("--torch", &version, "a version like `2.7`"))?;
            // torch's own version string (`2.7.1+cu118`) names its CUDA; a
            // --torch-cuda that says otherwise is refused, not overridden.
            let labelled = self.torch_build();
            let cuda = match (&self.torch_cuda, labelled) {
                (Some(c), TorchBuild::Cuda(l)) => {
                    let given = cuda_version("--torch-cuda", c)?;
                    if given != l {
                        return Err(bad(
                            "--torch-cuda",
                            c,
                            &format!(
                                "the CUDA of --torch {version} ({l}), or leave --torch-cuda out"
                            ),
                        ));
                    }
                    Some(given.to_string())
                }
                (Some(c), _) => Some(cuda_version("--torch-cuda", c)?.to_string()),
                (None, TorchBuild::Cuda(l)) => Some(l.to_string()),
                (None, TorchBuild::Cpu) => None,
                (None, TorchBuild::Unlabelled) => base.cuda,
            };
            let abi = self
                .cxx11_abi
                .or(base.cxx11_abi.filter(|_| self.torch.is_none()))
                .unwrap_or((major, minor) >= (2, 7));
            facts.torch = Some(Torch {
                version,
                cuda,
                cxx11_abi: Some(abi),
                cuda_available: !facts.gpus.is_empty(),
            });
        }
        if let Some(g) = self.gcc {
            facts.compilers = gcc_pair(g);
        }
        if let Some(d) = self.disk_free_bytes {
            facts.host.disk_free_bytes = Some(d);
        }
        Ok(())
    }
}

fn gcc_pair(major: u32) -> Vec<Compiler> {
    ["gcc", "g++"]
        .into_iter()
        .map(|name| Compiler {
            path: format!("/usr/bin/{name}"),
            name: name.into(),
            version: format!("{major}.0.0"),
            major,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a800_from_flags() {
        let spec = HostSpec {
            cpus: Some(64),
            memory_bytes: Some(512 * GIB),
            gpus: Some(vec!["sm_80".into()]),
            cuda: Some("12.2".into()),
            torch: Some("2.7".into()),
            torch_cuda: Some("12.6".into()),
            gcc: Some(11),
            ..HostSpec::default()
        };
        assert!(spec.is_hypothetical());
        let (f, assumed) = spec.hypothetical_facts().unwrap();
        assert_eq!(f.host.logical_cpus, 64);
        assert_eq!(f.gpus[0].compute_capability, "8.0");
        let cuda = f.cuda.unwrap();
        assert_eq!(
            (cuda.version.as_str(), cuda.max_gcc_major),
            ("12.2", Some(12))
        );
        let torch = f.torch.unwrap();
        assert_eq!(torch.cuda.as_deref(), Some("12.6"));
        assert_eq!(torch.cxx11_abi, Some(true));
        assert_eq!(f.compilers[0].major, 11);
        assert!(assumed.iter().any(|a| a.contains("disk")));
        assert!(!assumed.iter().any(|a| a.contains("--cuda")));
    }

    /// Issue 27 item 5: `--torch 2.7.1+cu118` is torch built for CUDA 11.8,
    /// not "assumed built for the toolkit's CUDA"; a --torch-cuda that
    /// contradicts it is refused.
    #[test]
    fn torchs_own_version_string_gives_its_cuda() {
        let spec = HostSpec {
            cuda: Some("12.2".into()),
            torch: Some("2.7.1+cu118".into()),
            ..HostSpec::default()
        };
        let (f, assumed) = spec.hypothetical_facts().unwrap();
        assert_eq!(f.torch.as_ref().unwrap().cuda.as_deref(), Some("11.8"));
        assert_eq!(f.torch.as_ref().unwrap().version, "2.7.1+cu118");
        assert!(
            !assumed.iter().any(|a| a.contains("toolkit's CUDA")),
            "{assumed:?}"
        );
        let agrees = HostSpec {
            torch_cuda: Some("11.8".into()),
            ..spec.clone()
        };
        assert!(agrees.hypothetical_facts().is_ok());
        let contradicts = HostSpec {
            torch_cuda: Some("12.6".into()),
            ..spec.clone()
        };
        let err = contradicts.hypothetical_facts().unwrap_err().to_string();
        assert!(
            err.contains("--torch-cuda") && err.contains("(11.8)"),
            "{err}"
        );
        let cpu = HostSpec {
            torch: Some("2.8.0+cpu".into()),
            ..HostSpec::default()
        };
        let (f, _) = cpu.hypothetical_facts().unwrap();
        assert_eq!(f.torch.unwrap().cuda, None);
    }

    #[test]
    fn defaults_are_a_sound_host() {
        let (f, _) = HostSpec::default().hypothetical_facts().unwrap();
        assert_eq!(f.cuda.as_ref().unwrap().version, "12.8");
        assert_eq!(f.torch.as_ref().unwrap().cuda.as_deref(), Some("12.8"));
        assert_eq!(f.compilers[0].major, 13);
        let old = HostSpec {
            cuda: Some("11.8".into()),
            torch: Some("2.1".into()),
            ..HostSpec::default()
        };
        let (f, _) = old.hypothetical_facts().unwrap();
        assert_eq!(f.compilers[0].major, 11);
        assert_eq!(f.torch.unwrap().cxx11_abi, Some(false));
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let spec = HostSpec {
            cuda: Some("twelve".into()),
            ..HostSpec::default()
        };
        let err = spec.hypothetical_facts().unwrap_err().to_string();
        assert!(err.contains("--cuda") && err.contains("12.2"), "{err}");
        let spec = HostSpec {
            cpus: Some(0),
            ..HostSpec::default()
        };
        assert!(spec.hypothetical_facts().is_err());
    }

    #[test]
    fn saved_facts_win_then_a_described_host_then_this_one() {
        let (saved, _) = HostSpec::default().hypothetical_facts().unwrap();
        let spec = HostSpec {
            cpus: Some(64),
            ..HostSpec::default()
        };
        let never = || panic!("nothing to detect");
        let (f, assumed) = spec.resolve(Some(saved.clone()), never).unwrap();
        assert_eq!(f.host.logical_cpus, 64, "the override applies");
        assert!(assumed.is_empty());
        let (f, assumed) = spec.resolve(None, never).unwrap();
        assert_eq!(f.host.logical_cpus, 64);
        assert!(!assumed.is_empty(), "a described host says what it assumed");
        let tweak = HostSpec {
            gcc: Some(11),
            ..HostSpec::default()
        };
        let (f, _) = tweak.resolve(None, || saved.clone()).unwrap();
        assert_eq!(f.compilers[0].major, 11, "this host, tweaked");
    }
}
