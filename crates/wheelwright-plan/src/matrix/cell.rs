//! One combination of the matrix: whether PyTorch publishes it and the
//! toolkit builds any of the fleet's archs (else why it is left out), and its
//! cells, one per C++ ABI, with flash-attn's names (variant label, wheel file
//! name) and the runner labels the job asks for.

use super::super::archs::{Arch, CudaVersion};
use super::axes::{first_of_each, Combination};
use super::{Excluded, MatrixCell, MatrixRequest};
use wheelwright_base::support::{abis_to_build, pytorch_index_url};

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
    format!(
        "cu{cuda_major}torch{torch_minor}cxx11abi{}",
        abi_label(cxx11_abi)
    )
}

/// flash-attn's spelling of a C++ ABI: `TRUE` or `FALSE`.
fn abi_label(cxx11_abi: bool) -> &'static str {
    if cxx11_abi {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// What the wheels of a published combination build against.
#[derive(Debug)]
pub(super) struct Buildable {
    /// PyTorch's CUDA variant of the release (`12.8`).
    torch_cuda: CudaVersion,
    /// The fleet's archs the toolkit builds (`80;90;100;120`).
    archs: String,
}

impl Combination<'_> {
    /// What the combination builds against, or why it is left out: PyTorch
    /// has no wheels of the release for the Python, no CUDA variant of the
    /// toolkit's major not newer than it, or the toolkit builds none of
    /// `archs` (`archs_text`: as the request wrote them).
    pub(super) fn buildable(&self, archs: &[Arch], archs_text: &str) -> Result<Buildable, String> {
        let Combination {
            python,
            release,
            cuda,
        } = *self;
        if !release.supports_python(python) {
            return Err(format!(
                "torch {} has wheels for Python {} to {} only",
                release.minor, release.python.0, release.python.1
            ));
        }
        let Some(torch_cuda) = release.variant_for_toolkit(cuda) else {
            return Err(format!(
                "PyTorch publishes torch {} for CUDA {} only: none of CUDA {}.x at or below {cuda}",
                release.minor,
                release.cuda.join(", "),
                cuda.major
            ));
        };
        let carried: Vec<String> = archs
            .iter()
            .filter(|a| a.unsupported_by(cuda).is_none())
            .map(Arch::compact)
            .collect();
        if carried.is_empty() {
            return Err(format!("CUDA {cuda} builds none of the archs {archs_text}"));
        }
        Ok(Buildable {
            torch_cuda,
            archs: carried.join(";"),
        })
    }

    /// The combination left out, for `reason`.
    pub(super) fn excluded(&self, reason: String) -> Excluded {
        Excluded {
            python: self.python.to_string(),
            torch: self.release.minor.to_string(),
            cuda: self.cuda.to_string(),
            reason,
        }
    }

    /// The C++ ABIs to build, each once: the request's, else those
    /// flash-attn builds for the release ([`abis_to_build`]).
    pub(super) fn abis(&self, req: &MatrixRequest) -> Vec<bool> {
        match &req.cxx11_abi {
            Some(abis) => first_of_each(abis.clone()),
            None => abis_to_build(self.release).to_vec(),
        }
    }

    /// The job that builds the combination's wheel for C++ ABI `abi`.
    pub(super) fn cell(&self, req: &MatrixRequest, build: &Buildable, abi: bool) -> MatrixCell {
        let Combination {
            python,
            release,
            cuda,
        } = *self;
        let variant = flash_attn_variant(cuda.major, release.minor, abi);
        let wheel = flash_attn_wheel_name(&req.flash_attn_version, &variant, python, &req.machine);
        MatrixCell {
            name: format!(
                "py{python} torch{} cu{cuda} abi{}",
                release.minor,
                abi_label(abi)
            ),
            python: python.to_string(),
            torch: release.minor.to_string(),
            torch_version: release.version.to_string(),
            torch_cuda: build.torch_cuda.to_string(),
            torch_index_url: pytorch_index_url(build.torch_cuda),
            cuda: cuda.to_string(),
            cxx11_abi: abi_label(abi).to_string(),
            archs: build.archs.clone(),
            variant,
            wheel,
            runs_on: runs_on(req, cuda),
        }
    }
}

/// The labels a job for toolkit `cuda` runs on: `self-hosted`, `linux`, the
/// machine, `cuda-X.Y` (the vocabulary of `runner labels`), then the
/// request's extra labels not already there.
fn runs_on(req: &MatrixRequest, cuda: CudaVersion) -> Vec<String> {
    let mut labels: Vec<String> = vec![
        "self-hosted".into(),
        "linux".into(),
        runner_machine_label(&req.machine).into(),
        cuda_label(&cuda.to_string()),
    ];
    for l in &req.extra_labels {
        if !labels.contains(l) {
            labels.push(l.clone());
        }
    }
    labels
}

/// `cuda-12.8`: the label a runner with that toolkit carries, and a cell
/// asks for (`runs-on`).
pub fn cuda_label(version: &str) -> String {
    format!("cuda-{version}")
}
