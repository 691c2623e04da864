//! The axes of a matrix read from a [`MatrixRequest`]: each value checked (a
//! CPython version, a torch the support table knows, a CUDA version, an arch
//! list), the default matrix's ([`FLASH_ATTN_PUBLISH_MATRIX`]) where the
//! request gives none; and the combinations of python × torch × CUDA they
//! span, in the matrix's order.

use super::super::archs::{parse_arch_list, Arch, CudaVersion};
use super::{MatrixError, MatrixRequest};
use wheelwright_base::support::{TorchRelease, FLASH_ATTN_PUBLISH_MATRIX, TORCH_RELEASES};

/// The checked axes of a request.
#[derive(Debug)]
pub(super) struct Axes {
    /// CPython versions, normalized (`3.12`).
    pub pythons: Vec<String>,
    /// torch releases from the support table.
    pub releases: Vec<&'static TorchRelease>,
    /// CUDA toolkits.
    pub cudas: Vec<CudaVersion>,
    /// The archs every wheel must carry.
    pub archs: Vec<Arch>,
}

/// One python × torch × CUDA combination of the axes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Combination<'a> {
    /// CPython (`3.12`).
    pub python: &'a str,
    /// The torch release.
    pub release: &'static TorchRelease,
    /// The CUDA toolkit.
    pub cuda: CudaVersion,
}

impl Axes {
    /// Check the request's axes; the first bad value is the error, looked for
    /// in the order python, torch, CUDA, archs.
    pub(super) fn read(req: &MatrixRequest) -> Result<Axes, MatrixError> {
        let d = FLASH_ATTN_PUBLISH_MATRIX;
        Ok(Axes {
            pythons: each(&req.python, d.python, python_version)?,
            releases: each(&req.torch, d.torch, torch_release)?,
            cudas: each(&req.cuda, d.cuda, cuda_version)?,
            archs: parse_arch_list(&req.archs).map_err(|e| MatrixError::BadValue {
                what: "archs",
                value: req.archs.clone(),
                expected: e.to_string(),
            })?,
        })
    }

    /// Every combination, each once (the axes hold no repeats): torch
    /// outermost, then CUDA, then Python, each axis in the order given.
    pub(super) fn combinations(&self) -> impl Iterator<Item = Combination<'_>> + '_ {
        self.releases.iter().flat_map(move |&release| {
            self.cudas.iter().flat_map(move |&cuda| {
                self.pythons.iter().map(move |python| Combination {
                    python,
                    release,
                    cuda,
                })
            })
        })
    }
}

/// `parse` applied to each of the request's values of an axis, or of
/// `default` when the request gives none; the first error stops it. Each
/// value once ([`first_of_each`]): `2.8` and `2.8.0` are one torch.
fn each<T: PartialEq>(
    values: &Option<Vec<String>>,
    default: &[&str],
    parse: fn(&str) -> Result<T, MatrixError>,
) -> Result<Vec<T>, MatrixError> {
    let parsed = match values {
        Some(values) => values.iter().map(|v| parse(v)).collect(),
        None => default.iter().map(|v| parse(v)).collect::<Result<_, _>>(),
    };
    Ok(first_of_each(parsed?))
}

/// `values` without repeats, each where it first appears.
pub(super) fn first_of_each<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// A CPython version `3.X` (surrounding blanks ignored).
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

/// The support table's release of torch `text` (`2.8`, `2.8.0+cu128`).
fn torch_release(text: &str) -> Result<&'static TorchRelease, MatrixError> {
    TorchRelease::find(text).ok_or_else(|| MatrixError::BadValue {
        what: "torch",
        value: text.to_string(),
        expected: format!(
            "the support table knows {}",
            TORCH_RELEASES
                .iter()
                .map(|r| r.minor)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// A CUDA version (`12.8`).
fn cuda_version(text: &str) -> Result<CudaVersion, MatrixError> {
    CudaVersion::parse(text).ok_or_else(|| MatrixError::BadValue {
        what: "cuda",
        value: text.to_string(),
        expected: "write a CUDA version like `12.8`".into(),
    })
}
