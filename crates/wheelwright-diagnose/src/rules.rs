//! The rule catalogue: stable ids, default severities and the order in which
//! findings are shown (root causes first).
//!
//! Rule ids are a contract read by CI configurations and other tools: add
//! rules freely, never rename one.

use wheelwright_base::finding::Severity;

/// One diagnosis rule. The discriminant order is the priority: a lower value is
/// shown first among findings of the same severity, so root causes (no torch,
/// no CUDA, wrong compiler) come before their consequences (compile errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    /// torch is not importable by the build (build isolation, wrong venv).
    TorchMissing,
    /// setup.py tried to download a prebuilt wheel instead of building, and
    /// the download failed (offline, DNS, a proxy that refuses the host).
    PrebuiltDownloadFailed,
    /// No CUDA toolkit found (CUDA_HOME unset, no nvcc).
    CudaHomeMissing,
    /// The CUDA toolkit is older than the package needs.
    CudaTooOld,
    /// nvcc's CUDA major differs from torch's.
    CudaMismatch,
    /// The host GCC is newer than nvcc accepts.
    GccTooNew,
    /// nvcc does not know a requested GPU architecture.
    ArchUnsupported,
    /// A git submodule (cutlass) is missing from the source.
    MissingSubmodule,
    /// The disk filled up.
    DiskFull,
    /// A compiler was killed for memory.
    OomKilled,
    /// A compile error in the sources.
    CompileError,
    /// An undefined symbol from a C++ ABI mismatch with torch.
    AbiMismatch,
    /// No kernel image for the GPU at run time.
    NoKernelImage,
    /// pip refused the wheel as not supported on this platform.
    WheelUnsupported,
    /// The build or a step of it timed out.
    Timeout,
    /// ninja is missing or broken (torch falls back to the slow backend).
    NinjaMissing,
    /// The saved log could not be read to its end (a truncated gzip, data
    /// appended after it): the other findings cover only what was read.
    LogTruncated,
}

/// What a sink or a document needs to know about a rule without a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule id findings carry (`oom-killed`).
    pub id: &'static str,
    /// The finding's title.
    pub title: &'static str,
    /// Severity when the rule fires in its strong form; some rules also have a
    /// weaker form (a warning) described in their finding's message.
    pub severity: Severity,
}

impl RuleId {
    /// Every rule, in priority order.
    pub const ALL: [RuleId; 17] = [
        RuleId::TorchMissing,
        RuleId::PrebuiltDownloadFailed,
        RuleId::CudaHomeMissing,
        RuleId::CudaTooOld,
        RuleId::CudaMismatch,
        RuleId::GccTooNew,
        RuleId::ArchUnsupported,
        RuleId::MissingSubmodule,
        RuleId::DiskFull,
        RuleId::OomKilled,
        RuleId::CompileError,
        RuleId::AbiMismatch,
        RuleId::NoKernelImage,
        RuleId::WheelUnsupported,
        RuleId::Timeout,
        RuleId::NinjaMissing,
        RuleId::LogTruncated,
    ];

    /// The rule's id, title and severity.
    pub fn info(self) -> RuleInfo {
        let (id, title, severity) = match self {
            RuleId::TorchMissing => (
                "torch-missing",
                "torch is not importable by the build",
                Severity::Error,
            ),
            RuleId::PrebuiltDownloadFailed => (
                "prebuilt-download-failed",
                "setup.py tried to download a prebuilt wheel and could not",
                Severity::Error,
            ),
            RuleId::CudaHomeMissing => (
                "cuda-home-missing",
                "No CUDA toolkit found (CUDA_HOME)",
                Severity::Error,
            ),
            RuleId::CudaTooOld => (
                "cuda-too-old",
                "CUDA toolkit too old for flash-attn",
                Severity::Error,
            ),
            RuleId::CudaMismatch => (
                "cuda-mismatch",
                "nvcc's CUDA differs from torch's CUDA",
                Severity::Error,
            ),
            RuleId::GccTooNew => (
                "gcc-too-new",
                "Host compiler too new for nvcc",
                Severity::Error,
            ),
            RuleId::ArchUnsupported => (
                "arch-unsupported",
                "GPU architecture not supported by this nvcc",
                Severity::Error,
            ),
            RuleId::MissingSubmodule => (
                "missing-submodule",
                "cutlass headers missing (git submodule)",
                Severity::Error,
            ),
            RuleId::DiskFull => ("disk-full", "Disk full during the build", Severity::Error),
            RuleId::OomKilled => (
                "oom-killed",
                "Compiler killed for lack of memory",
                Severity::Error,
            ),
            RuleId::CompileError => ("compile-error", "Compile error", Severity::Error),
            RuleId::AbiMismatch => (
                "abi-mismatch",
                "Extension built against another torch or C++ ABI",
                Severity::Error,
            ),
            RuleId::NoKernelImage => (
                "no-kernel-image",
                "No kernel for this GPU's architecture",
                Severity::Error,
            ),
            RuleId::WheelUnsupported => (
                "wheel-unsupported",
                "Wheel does not match this Python or platform",
                Severity::Error,
            ),
            RuleId::Timeout => ("timeout", "Timed out", Severity::Error),
            RuleId::NinjaMissing => (
                "ninja-missing",
                "ninja not found: slow serial build",
                Severity::Warning,
            ),
            RuleId::LogTruncated => (
                "log-truncated",
                "The log could not be read to its end",
                Severity::Warning,
            ),
        };
        RuleInfo {
            id,
            title,
            severity,
        }
    }

    /// The rule's id (`oom-killed`).
    pub fn as_str(self) -> &'static str {
        self.info().id
    }

    /// The rule with this id, if any.
    pub fn from_id(id: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == id)
    }

    /// Position in the display order (0 first).
    pub fn priority(self) -> usize {
        self as usize
    }
}

/// Every rule's id, title and severity, in priority order.
pub fn catalogue() -> Vec<RuleInfo> {
    RuleId::ALL.iter().map(|r| r.info()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in RuleId::ALL {
            assert!(seen.insert(r.as_str()), "duplicate id {}", r.as_str());
            assert_eq!(RuleId::from_id(r.as_str()), Some(r));
        }
        assert_eq!(RuleId::from_id("nope"), None);
        assert_eq!(catalogue().len(), RuleId::ALL.len());
    }

    #[test]
    fn priority_follows_declaration_order() {
        for (i, r) in RuleId::ALL.iter().enumerate() {
            assert_eq!(r.priority(), i);
        }
        assert!(RuleId::GccTooNew.priority() < RuleId::CompileError.priority());
        assert!(RuleId::OomKilled.priority() < RuleId::CompileError.priority());
    }
}
