//! GPUs and the NVIDIA driver.
//!
//! Fallback chain:
//! 1. NVML (`libnvidia-ml.so.1`, loaded at run time by `nvml-wrapper`) unless
//!    `DetectOptions::nvml` is off (`--no-nvml`, `WHEELWRIGHT_NVML=off`):
//!    devices, `sys_driver_version()`, `sys_cuda_driver_version()` (12040 →
//!    `"12.4"`). It runs on its own thread under the probe timeout, since a
//!    wedged driver can hang NVML calls.
//! 2. `nvidia-smi --query-gpu=index,name,uuid,compute_cap,memory.total,driver_version
//!    --format=csv,noheader,nounits` on the options' PATH, plus plain
//!    `nvidia-smi` for the `CUDA Version: 13.0` of its header. Drivers too old
//!    for the `compute_cap` field get a second query without it and the
//!    capability from the GPU's name ([`compute_capability_from_name`]).
//! 3. Neither: `gpus` is empty. A host without the NVIDIA driver (no NVML
//!    library, no `nvidia-smi`) is a fact, not a problem; a driver that is
//!    there but fails is a problem.

use std::sync::mpsc;

use wheelwright_base::facts::{Driver, Gpu, Problem};
use wheelwright_process::Output;

use super::{cuda_version_from_int, describe, failure, problem, which, DetectOptions};

/// The `--query-gpu` fields, in the order [`parse_query_csv`] reads them.
pub(crate) const QUERY_FIELDS: &str = "index,name,uuid,compute_cap,memory.total,driver_version";
/// The same without `compute_cap`, for drivers that do not know that field.
pub(crate) const QUERY_FIELDS_OLD: &str = "index,name,uuid,memory.total,driver_version";

/// What the GPU probe found.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GpuReport {
    pub gpus: Vec<Gpu>,
    pub driver: Option<Driver>,
    pub problems: Vec<Problem>,
}

/// One row of the `nvidia-smi` query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SmiRow {
    pub gpu: Gpu,
    pub driver_version: Option<String>,
}

/// Parse `nvidia-smi --query-gpu=…` CSV (`noheader,nounits`): with
/// `with_compute_cap`, the fields of [`QUERY_FIELDS`], else those of
/// [`QUERY_FIELDS_OLD`]. Memory is in MiB; `[N/A]` reads as unknown.
pub(crate) fn parse_query_csv(text: &str, with_compute_cap: bool) -> Result<Vec<SmiRow>, String> {
    let want = if with_compute_cap { 6 } else { 5 };
    let mut rows = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != want {
            return Err(format!(
                "expected {want} comma-separated fields, got {}: `{line}`",
                f.len()
            ));
        }
        let known = |s: &str| (!s.is_empty() && !s.starts_with('[')).then(|| s.to_string());
        let index: u32 = f[0]
            .parse()
            .map_err(|_| format!("GPU index `{}` is not a number: `{line}`", f[0]))?;
        let name = f[1].to_string();
        let (cc, mem, drv) = if with_compute_cap {
            (known(f[3]), f[4], f[5])
        } else {
            (
                compute_capability_from_name(&name).map(str::to_string),
                f[3],
                f[4],
            )
        };
        let memory_total_bytes = mem
            .parse::<u64>()
            .ok()
            .and_then(|mib| mib.checked_mul(1024 * 1024));
        rows.push(SmiRow {
            gpu: Gpu {
                index,
                name,
                uuid: known(f[2]),
                compute_capability: cc.unwrap_or_default(),
                memory_total_bytes,
            },
            driver_version: known(drv),
        });
    }
    Ok(rows)
}

/// `Driver Version` and `CUDA Version` from the header of plain `nvidia-smi`.
pub(crate) fn parse_smi_header(text: &str) -> (Option<String>, Option<String>) {
    let after = |key: &str| {
        text.lines().find_map(|l| {
            let rest = &l[l.find(key)? + key.len()..];
            rest.split_whitespace()
                .next()
                .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .map(str::to_string)
        })
    };
    (after("Driver Version:"), after("CUDA Version:"))
}

/// The compute capability of a GPU by its marketing name, for drivers whose
/// `nvidia-smi` cannot report it. `None` for names not listed.
pub(crate) fn compute_capability_from_name(name: &str) -> Option<&'static str> {
    // Longer names first: "A100" must not match as "A10".
    const TABLE: &[(&str, &str)] = &[
        ("GH200", "9.0"),
        ("H100", "9.0"),
        ("H800", "9.0"),
        ("H200", "9.0"),
        ("H20", "9.0"),
        ("A100", "8.0"),
        ("A800", "8.0"),
        ("A30", "8.0"),
        ("L40", "8.9"),
        ("L4", "8.9"),
        ("A6000", "8.6"),
        ("A40", "8.6"),
        ("A10", "8.6"),
        ("RTX 30", "8.6"),
        ("T4", "7.5"),
        ("V100", "7.0"),
    ];
    TABLE
        .iter()
        .find(|(key, _)| name.contains(key))
        .map(|(_, cc)| *cc)
}

/// Probe GPUs and driver; see the module docs for the chain.
pub(crate) fn probe(opts: &DetectOptions) -> GpuReport {
    let mut nvml_error = None;
    if opts.nvml {
        match nvml_with_timeout(opts) {
            Ok(report) => return report,
            Err(NvmlFailure::NoLibrary) => {}
            Err(NvmlFailure::Other(e)) => nvml_error = Some(e),
        }
    }
    let Some(smi) = which("nvidia-smi", &opts.path) else {
        let mut report = GpuReport::default();
        if let Some(e) = nvml_error {
            report.problems.push(problem(
                "gpu",
                format!("NVML failed ({e}) and there is no nvidia-smi on PATH; reported no GPUs. Check the NVIDIA driver (`nvidia-smi` should list the GPUs)"),
            ));
        }
        return report;
    };
    let mut report = smi_probe(opts, &smi);
    if let (Some(e), false) = (nvml_error, report.problems.is_empty()) {
        report
            .problems
            .push(problem("gpu", format!("NVML failed too: {e}")));
    }
    report
}

enum NvmlFailure {
    /// No `libnvidia-ml.so.1`: no driver, which is fine.
    NoLibrary,
    Other(String),
}

fn nvml_with_timeout(opts: &DetectOptions) -> Result<GpuReport, NvmlFailure> {
    let (tx, rx) = mpsc::channel();
    // Detached: if NVML hangs, the thread is abandoned and dies with the process.
    std::thread::spawn(move || {
        let _ = tx.send(nvml_probe());
    });
    match rx.recv_timeout(opts.timeout) {
        Ok(result) => result,
        Err(_) => Err(NvmlFailure::Other(format!(
            "NVML did not answer within {:?}",
            opts.timeout
        ))),
    }
}

fn nvml_probe() -> Result<GpuReport, NvmlFailure> {
    use nvml_wrapper::error::NvmlError;
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(NvmlError::LibloadingError(_)) | Err(NvmlError::LibraryNotFound) => {
            return Err(NvmlFailure::NoLibrary)
        }
        Err(e) => return Err(NvmlFailure::Other(e.to_string())),
    };
    let count = nvml
        .device_count()
        .map_err(|e| NvmlFailure::Other(format!("device count: {e}")))?;
    let mut report = GpuReport::default();
    for i in 0..count {
        let device = match nvml.device_by_index(i) {
            Ok(d) => d,
            Err(e) => {
                report
                    .problems
                    .push(problem("gpu", format!("NVML could not open GPU {i}: {e}")));
                continue;
            }
        };
        let compute_capability = match device.cuda_compute_capability() {
            Ok(cc) => format!("{}.{}", cc.major, cc.minor),
            Err(e) => {
                report.problems.push(problem(
                    "gpu",
                    format!("NVML: compute capability of GPU {i}: {e}"),
                ));
                String::new()
            }
        };
        report.gpus.push(Gpu {
            index: device.index().unwrap_or(i),
            name: device.name().unwrap_or_else(|_| "unknown".to_string()),
            uuid: device.uuid().ok(),
            compute_capability,
            memory_total_bytes: device.memory_info().ok().map(|m| m.total),
        });
    }
    report.driver = nvml.sys_driver_version().ok().map(|version| Driver {
        version,
        cuda_driver_version: nvml
            .sys_cuda_driver_version()
            .ok()
            .map(cuda_version_from_int),
    });
    Ok(report)
}

/// Run the `--query-gpu` query, again without `compute_cap` for a driver that
/// does not know that field; the output, and whether it has `compute_cap`.
fn query_gpus(opts: &DetectOptions, smi: &std::path::Path) -> Result<(Output, bool), String> {
    let query = |fields: &str| {
        opts.run_tool(
            smi,
            &[
                format!("--query-gpu={fields}"),
                "--format=csv,noheader,nounits".to_string(),
            ],
        )
        .map_err(|e| describe(&e))
    };
    let out = query(QUERY_FIELDS)?;
    let text = format!("{}{}", out.stdout, out.stderr);
    if !out.success() && text.contains("compute_cap") {
        return Ok((query(QUERY_FIELDS_OLD)?, false));
    }
    Ok((out, true))
}

fn smi_probe(opts: &DetectOptions, smi: &std::path::Path) -> GpuReport {
    let mut report = GpuReport::default();
    let (out, with_cc) = match query_gpus(opts, smi) {
        Ok(answer) => answer,
        Err(e) => {
            report.problems.push(problem("gpu", e));
            return report;
        }
    };
    if !out.success() {
        if format!("{}{}", out.stdout, out.stderr).contains("No devices were found") {
            return report;
        }
        let msg = failure(out);
        report.problems.push(problem(
            "gpu",
            format!("{msg}\nCheck the NVIDIA driver: `nvidia-smi` must list the GPUs"),
        ));
        return report;
    }
    let rows = match parse_query_csv(&out.stdout, with_cc) {
        Ok(rows) => rows,
        Err(e) => {
            report.problems.push(problem(
                "gpu",
                format!("could not read `{}`: {e}", out.command),
            ));
            return report;
        }
    };
    for row in &rows {
        if row.gpu.compute_capability.is_empty() {
            report.problems.push(problem(
                "gpu",
                format!(
                    "unknown compute capability of GPU {} ({}); give the architectures explicitly",
                    row.gpu.index, row.gpu.name
                ),
            ));
        }
    }
    let driver_version = rows.iter().find_map(|r| r.driver_version.clone());
    report.gpus = rows.into_iter().map(|r| r.gpu).collect();

    let (header_driver, cuda_driver_version) = match opts.run_tool_ok(smi, &[] as &[&str]) {
        Ok(out) => parse_smi_header(&out.stdout),
        Err(e) => {
            report.problems.push(problem("gpu", e));
            (None, None)
        }
    };
    report.driver = driver_version.or(header_driver).map(|version| Driver {
        version,
        cuda_driver_version,
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::host_fixture;

    #[test]
    fn parses_a800_query() {
        let rows =
            parse_query_csv(&host_fixture("a800-cuda12.2/nvidia-smi-query.csv"), true).unwrap();
        assert_eq!(rows.len(), 8);
        let g = &rows[0].gpu;
        assert_eq!(g.index, 0);
        assert_eq!(g.name, "NVIDIA A800-SXM4-80GB");
        assert_eq!(g.compute_capability, "8.0");
        assert_eq!(g.memory_total_bytes, Some(81920 * 1024 * 1024));
        assert!(g.uuid.as_deref().unwrap().starts_with("GPU-"));
        assert_eq!(rows[7].gpu.index, 7);
        assert_eq!(rows[0].driver_version.as_deref(), Some("535.104.05"));
    }

    #[test]
    fn parses_smi_headers() {
        let (d, c) = parse_smi_header(&host_fixture("a800-cuda12.2/nvidia-smi.txt"));
        assert_eq!(d.as_deref(), Some("535.104.05"));
        assert_eq!(c.as_deref(), Some("12.2"));
        let (d, c) = parse_smi_header(&host_fixture("h100-cuda13.0/nvidia-smi.txt"));
        assert_eq!(d.as_deref(), Some("580.159.04"));
        assert_eq!(c.as_deref(), Some("13.0"));
        assert_eq!(parse_smi_header("garbage"), (None, None));
    }

    #[test]
    fn parses_h100_query() {
        let rows =
            parse_query_csv(&host_fixture("h100-cuda13.0/nvidia-smi-query.csv"), true).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].gpu.name, "NVIDIA H100 80GB HBM3");
        assert_eq!(rows[0].gpu.compute_capability, "9.0");
        assert_eq!(rows[0].gpu.memory_total_bytes, Some(81559 << 20));
        assert_eq!(rows[0].driver_version.as_deref(), Some("580.159.04"));
    }

    #[test]
    fn old_drivers_and_unknown_fields() {
        let rows =
            parse_query_csv("0, Tesla V100-SXM2-32GB, [N/A], 32768, 470.82.01\n", false).unwrap();
        assert_eq!(rows[0].gpu.compute_capability, "7.0");
        assert_eq!(rows[0].gpu.uuid, None);
        assert!(parse_query_csv("0, only, three", true).is_err());
        assert!(parse_query_csv("x, a, b, 8.0, 1, 2", true).is_err());
        assert_eq!(parse_query_csv("\n", true), Ok(vec![]));
        let huge = parse_query_csv("0, X, [N/A], 8.0, 18446744073709551615, 1", true).unwrap();
        assert_eq!(huge[0].gpu.memory_total_bytes, None);
    }

    #[test]
    fn names_map_to_capabilities() {
        assert_eq!(
            compute_capability_from_name("NVIDIA A100-SXM4-80GB"),
            Some("8.0")
        );
        assert_eq!(compute_capability_from_name("NVIDIA A10"), Some("8.6"));
        assert_eq!(
            compute_capability_from_name("NVIDIA H100 80GB HBM3"),
            Some("9.0")
        );
        assert_eq!(compute_capability_from_name("NVIDIA L4"), Some("8.9"));
        assert_eq!(compute_capability_from_name("Quadro P1000"), None);
    }
}
