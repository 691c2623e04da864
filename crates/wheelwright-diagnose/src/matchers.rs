//! Line matchers: turn one (prefiltered, ANSI-free) log line into at most one
//! [`Hit`] and the context the rules read (which object ninja says failed, how
//! many jobs ran, whether pip's build isolation was on).
//!
//! Matchers read meaning, not one exact line: paths, versions, job counts and
//! compiler names (`g++`, `c++`, `x86_64-linux-gnu-g++-13`, `cc1plus`, `cc1`)
//! vary, and lines carry prefixes (pip's indentation, docker's `#15 69.61`,
//! timestamps). Each matcher says which real output it reads.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::lit::{lit, Lit};
use super::needles::{self, Mask};

/// A source position the log names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub file: String,
    pub line: u32,
}

/// What one line says, for one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hit {
    /// A compile killed for memory. `primary` lines are the kill itself;
    /// secondary ones are later summaries of it (pip's `exit status 137`).
    Oom {
        tool: Option<String>,
        object: Option<String>,
        primary: bool,
    },
    /// A line that is only `Killed`: a shell reporting a SIGKILLed job. Counted
    /// only when a compile is next to it.
    BareKilled,
    GccTooNew {
        max_major: Option<u32>,
        compiler: Option<String>,
    },
    /// The first line of torch's two-line mismatch message; the torch version
    /// follows on the next line.
    CudaMismatchStart {
        nvcc: Option<String>,
    },
    CudaMismatch {
        nvcc: Option<String>,
        torch: Option<String>,
    },
    CudaHomeMissing {
        /// `false` for flash-attn's warning, `true` for torch's error.
        hard: bool,
    },
    CudaTooOld {
        min: Option<String>,
    },
    ArchUnsupported {
        arch: String,
    },
    MissingSubmodule {
        header: Option<String>,
        loc: Option<Location>,
    },
    TorchMissing,
    DiskFull {
        path: Option<String>,
    },
    CompileError {
        loc: Location,
        message: String,
    },
    AbiMismatch {
        symbol: String,
        library: Option<String>,
    },
    NoKernelImage,
    WheelUnsupported {
        wheel: Option<String>,
    },
    Timeout {
        /// `true` for a job or command limit, `false` for a network read.
        hard: bool,
    },
    NinjaMissing {
        reason: Option<String>,
    },
    /// urllib could not reach a URL (`<urlopen error [Errno -3] Temporary
    /// failure in name resolution>`): with `url`, the prebuilt wheel the
    /// package's setup.py guessed before.
    DownloadFailed {
        error: Option<String>,
        url: Option<String>,
    },
}

/// Context lines: not findings themselves, but read by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Context {
    /// ninja's `FAILED: <object>` (or `ninja: job failed: <command>`).
    Failed { object: String },
    /// The number of parallel jobs the build ran with.
    Jobs(u32),
    /// pip is running the build in an isolated environment.
    Isolation,
}

/// The context a line carries, if any.
pub(crate) fn context(line: &str) -> Option<Context> {
    if let Some(rest) = after(line, lit!("FAILED: ")) {
        let rest = rest.trim_start();
        let rest = if rest.starts_with("[code=") {
            rest.split_once(']')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("")
        } else {
            rest
        };
        let object = first_word(rest)?;
        return Some(Context::Failed {
            object: basename(object).to_string(),
        });
    }
    if let Some(cmd) = after(line, lit!("job failed: ")) {
        // ninja 1.13: `ninja: job failed: <command>`: the object is `-o`'s
        // argument, else the last word (the source).
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let object = words
            .iter()
            .position(|w| *w == "-o")
            .and_then(|i| words.get(i + 1))
            .or(words.last())?;
        return Some(Context::Failed {
            object: basename(object).to_string(),
        });
    }
    if let Some(rest) = after(line, lit!("'-j', '")) {
        return leading_number(rest).map(Context::Jobs);
    }
    if let Some(rest) = after(line, lit!("MAX_JOBS=")) {
        return leading_number(rest.trim_start_matches(['"', '\''])).map(Context::Jobs);
    }
    if has(line, lit!("Getting requirements to build"))
        || has(line, lit!("Installing build dependencies"))
    {
        return Some(Context::Isolation);
    }
    None
}

/// The NVCC_THREADS a line shows: an environment listing's `NVCC_THREADS=N`,
/// or nvcc's `--threads N` on a command line that runs nvcc (flash-attn's
/// setup.py passes NVCC_THREADS to nvcc that way, default 4). The rules read
/// it from the failed command ninja prints after `FAILED:` (and from
/// `job failed: <command>`), not from every compile command: those lines
/// would then all pass the prefilter.
#[cfg(test)]
pub(crate) fn nvcc_threads(line: &str) -> Option<u32> {
    nvcc_threads_masked(line, Mask::MAX)
}

/// `nvcc_threads` (test builds only) looking only for the forms whose needle bits `mask` has
/// ([`needles::mask`] of the line): a failed nvcc command runs to kilobytes.
pub(crate) fn nvcc_threads_masked(line: &str, mask: Mask) -> Option<u32> {
    if let Some(rest) = after_if(
        mask & needles::NVCC_THREADS != 0,
        line,
        lit!("NVCC_THREADS="),
    ) {
        return leading_number(rest.trim_start_matches(['"', '\'']));
    }
    if mask & needles::THREADS_FLAG == 0 {
        return None;
    }
    let at = find(line, lit!("--threads"))?;
    if !has(&line[..at], lit!("nvcc")) {
        return None;
    }
    // ` 2`, `=2`, or `', '2'` in a Python list.
    let rest = &line[at + "--threads".len()..];
    leading_number(rest.trim_start_matches([' ', '=', '\'', '"', ',']))
}

/// The finding a line is evidence of, if any. Specific rules are tried before
/// the generic compile-error rule, so `fatal error: cute/tensor.hpp: No such
/// file or directory` is a missing submodule, not a compile error.
#[cfg(test)]
pub(crate) fn classify(line: &str) -> Option<Hit> {
    classify_masked(line, needles::mask(line))
}

/// `classify` (test builds only) trying only the matchers whose bits `mask` has
/// ([`needles::mask`] of the line; all bits: every matcher).
pub(crate) fn classify_masked(line: &str, mask: Mask) -> Option<Hit> {
    type Matcher = fn(&str, Mask) -> Option<Hit>;
    const MATCHERS: [(Mask, Matcher); 16] = [
        (needles::GCC_TOO_NEW, |t, _| gcc_too_new(t)),
        (needles::CUDA_MISMATCH, |t, _| cuda_mismatch(t)),
        (needles::CUDA_HOME_MISSING, |t, _| cuda_home_missing(t)),
        (needles::CUDA_TOO_OLD, |t, _| cuda_too_old(t)),
        (needles::ARCH_UNSUPPORTED, |t, _| arch_unsupported(t)),
        (needles::MISSING_SUBMODULE, |t, _| missing_submodule(t)),
        (needles::TORCH_MISSING, |t, _| torch_missing(t)),
        (needles::DISK_FULL, |t, _| disk_full(t)),
        (needles::OOM, oom),
        (needles::ABI_MISMATCH, |t, _| abi_mismatch(t)),
        (needles::NO_KERNEL_IMAGE, |t, _| no_kernel_image(t)),
        (needles::WHEEL_UNSUPPORTED, |t, _| wheel_unsupported(t)),
        (needles::PREBUILT, |t, _| download_failed(t)),
        (needles::TIMEOUT, |t, _| timeout(t)),
        (needles::NINJA_MISSING, |t, _| ninja_missing(t)),
        (needles::COMPILE_ERROR, |t, _| compile_error(t)),
    ];
    if mask & MATCHERS.iter().fold(0, |all, (bit, _)| all | bit) == 0 {
        return None;
    }
    let t = line.trim();
    if t.is_empty() || is_source_echo(t) {
        return None;
    }
    MATCHERS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .find_map(|(_, matcher)| matcher(t, mask))
}

/// The second line of torch's two-line mismatch message: `PyTorch (12.1).
/// Please make sure to use the same CUDA versions.`
pub(crate) fn cuda_mismatch_continuation(line: &str) -> Option<String> {
    let rest = after(line, lit!("PyTorch ("))?;
    Some(rest.split(')').next()?.trim().to_string()).filter(|v| !v.is_empty())
}

/// Is this line only `Killed` (what a shell prints for a SIGKILLed job)?
pub(crate) fn is_bare_killed(line: &str) -> bool {
    line.trim() == "Killed"
}

/// Does this line look like part of a compile (for confirming a bare
/// `Killed`)?
pub(crate) fn is_compile_context(line: &str) -> bool {
    has_compile_word(line.as_bytes()) || line.trim_end().ends_with(".o")
}

/// [`is_compile_context`] of raw bytes (read as [`String::from_utf8_lossy`]
/// reads them), converted only when no compile word is in them: the words
/// are ASCII, which the conversion keeps as it is.
pub(crate) fn is_compile_context_bytes(line: &[u8]) -> bool {
    has_compile_word(line) || String::from_utf8_lossy(line).trim_end().ends_with(".o")
}

/// Whether `line` holds a word of a compile; one scan for all the words,
/// not one per word.
fn has_compile_word(line: &[u8]) -> bool {
    const WORDS: &[&str] = &[
        "nvcc", "g++", "c++", "gcc", "cc1", "cicc", "ptxas", "ninja", "FAILED", ".o ", ".cu",
        ".cpp", "compil", "setup.py", "pip", "wheel", "MAX_JOBS",
    ];
    static FINDER: OnceLock<AhoCorasick> = OnceLock::new();
    FINDER
        .get_or_init(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(WORDS)
                .expect("literal words build an automaton")
        })
        .is_match(line)
}

/// gcc and nvcc echo the offending source line as `  137 | #error ...`; the
/// message itself is on the line before, so echoes are never counted.
fn is_source_echo(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        return t[digits..].trim_start().starts_with('|');
    }
    // The caret line under an echo: `|  ^~~~~`.
    t.starts_with('|')
}

/// `host_config.h:137:2: error: #error -- unsupported GNU version! gcc versions
/// later than 15 are not supported!` (nvcc's host check), clang's `unsupported
/// clang version! clang version must be less than 15`, and torch's own check:
/// `The current installed version of g++ (13.2.0) is greater than the maximum
/// required version by CUDA 11.7. Please make sure to use an adequate version
/// of g++ (>=6.0.0, <12.0).`
fn gcc_too_new(t: &str) -> Option<Hit> {
    if t.contains("unsupported GNU version") {
        let max_major = after(t, lit!("later than ")).and_then(leading_number);
        return Some(Hit::GccTooNew {
            max_major,
            compiler: None,
        });
    }
    if t.contains("unsupported clang version") {
        let max_major = after(t, lit!("less than "))
            .and_then(leading_number)
            .map(|n| n.saturating_sub(1));
        return Some(Hit::GccTooNew {
            max_major,
            compiler: Some("clang".to_string()),
        });
    }
    if t.contains("is greater than the maximum required version by CUDA") {
        let compiler = after(t, lit!("installed version of ")).map(|rest| {
            let name = first_word(rest).unwrap_or("");
            let version = after(rest, lit!("("))
                .and_then(|v| v.split(')').next())
                .unwrap_or("");
            format!("{name} {version}").trim().to_string()
        });
        // `(>=6.0.0, <12.0)`: the exclusive upper bound.
        let max_major = t
            .rfind(", <")
            .and_then(|i| leading_number(&t[i + 3..]))
            .map(|n| n.saturating_sub(1));
        return Some(Hit::GccTooNew {
            max_major,
            compiler,
        });
    }
    None
}

/// torch's `_check_cuda_version` in every form seen:
/// - one line: `RuntimeError: The detected CUDA version (12.2) mismatches the
///   version that was used to compile PyTorch (13.0). Please make sure ...`;
/// - two lines (older torch put a newline in the message): `The detected CUDA
///   version (11.6) mismatches the version that was used to compile` then
///   `PyTorch (12.1). Please make sure ...`;
/// - the tuple newer torch prints, because it passes the arguments to
///   `RuntimeError` instead of formatting them (and its message lacks a space):
///   `RuntimeError: ('The detected CUDA version (%s) mismatches the version
///   that was used to compilePyTorch (%s). Please make sure to use the same
///   CUDA versions.', '12.2', '13.0')`.
fn cuda_mismatch(t: &str) -> Option<Hit> {
    if !t.contains("mismatches the version") {
        return None;
    }
    let nvcc = after(t, lit!("CUDA version ("))
        .and_then(|r| r.split(')').next())
        .map(str::trim);
    let torch = after(t, lit!("PyTorch ("))
        .and_then(|r| r.split(')').next())
        .map(str::trim);
    let is_version = |v: &&str| v.starts_with(|c: char| c.is_ascii_digit()) || *v == "None";
    let placeholder =
        nvcc.is_some_and(|v| !is_version(&v)) || torch.is_some_and(|v| !is_version(&v));
    if placeholder {
        // The tuple form: the versions are the last two quoted items (the
        // message, the first item, starts with a letter).
        let versions: Vec<&str> = quoted_items(t).into_iter().filter(is_version).collect();
        let (nvcc, torch) = match versions.as_slice() {
            [.., nvcc, torch] => (Some(nvcc.to_string()), Some(torch.to_string())),
            [nvcc] => (Some(nvcc.to_string()), None),
            [] => (None, None),
        };
        return Some(Hit::CudaMismatch { nvcc, torch });
    }
    match torch {
        Some(torch) => Some(Hit::CudaMismatch {
            nvcc: nvcc.map(str::to_string),
            torch: Some(torch.to_string()),
        }),
        None => Some(Hit::CudaMismatchStart {
            nvcc: nvcc.map(str::to_string),
        }),
    }
}

/// torch: `OSError: CUDA_HOME environment variable is not set. Please set it to
/// your CUDA install root.`; newer torch: `CUDA was not found on the system,
/// please set the CUDA_HOME or the CUDA_PATH environment variable ...` and
/// `nvcc not found at '/x/bin/nvcc'. Ensure CUDA path '/x' is correct.`;
/// flash-attn's warning (the build may still download a prebuilt wheel):
/// `UserWarning: flash_attn was requested, but nvcc was not found.`
fn cuda_home_missing(t: &str) -> Option<Hit> {
    if t.contains("CUDA_HOME environment variable is not set")
        || t.contains("CUDA was not found on the system")
        || (t.contains("nvcc not found at") && t.contains("CUDA path"))
    {
        return Some(Hit::CudaHomeMissing { hard: true });
    }
    if t.contains("was requested, but nvcc was not found") {
        return Some(Hit::CudaHomeMissing { hard: false });
    }
    None
}

/// flash-attn's setup.py: `RuntimeError: FlashAttention is only supported on
/// CUDA 11.7 and above.  Note: make sure nvcc has a supported version by
/// running nvcc -V.` (older releases said `CUDA 11` or `CUDA 11.6`).
fn cuda_too_old(t: &str) -> Option<Hit> {
    let rest = after(t, lit!("FlashAttention is only supported on CUDA "))?;
    let min = rest
        .split_whitespace()
        .next()
        .map(|v| v.trim_end_matches('.').to_string())
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    Some(Hit::CudaTooOld { min })
}

/// nvcc: `nvcc fatal   : Unsupported gpu architecture 'compute_70'`; torch:
/// `ValueError: Unknown CUDA arch (7.0) or GPU not supported`.
fn arch_unsupported(t: &str) -> Option<Hit> {
    if let Some(rest) = after(t, lit!("Unsupported gpu architecture")) {
        let arch = quoted_items(rest)
            .into_iter()
            .next()
            .unwrap_or_else(|| rest.trim())
            .to_string();
        return Some(Hit::ArchUnsupported { arch });
    }
    if let Some(rest) = after(t, lit!("Unknown CUDA arch (")) {
        let arch = rest.split(')').next().unwrap_or("").trim().to_string();
        return Some(Hit::ArchUnsupported { arch });
    }
    None
}

/// The cutlass submodule is missing: `csrc/flash_attn/src/flash_fwd_kernel.h:13:10:
/// fatal error: cute/tensor.hpp: No such file or directory`, nvcc's
/// `flash_fwd_kernel.h(13): catastrophic error: cannot open source file
/// "cute/tensor.hpp"`, or flash-attn's own `AssertionError: csrc/cutlass is
/// missing, please use source distribution or git clone`.
fn missing_submodule(t: &str) -> Option<Hit> {
    if t.contains("csrc/cutlass is missing") {
        return Some(Hit::MissingSubmodule {
            header: None,
            loc: None,
        });
    }
    let header = if t.contains("No such file or directory") {
        // `...: fatal error: cute/tensor.hpp: No such file or directory`
        let before = &t[..t.find("No such file or directory")?];
        let before = before.trim_end().trim_end_matches(':');
        before
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .trim_matches(['\'', '"', '`'])
    } else if let Some(rest) = after(t, lit!("cannot open source file")) {
        quoted_items(rest).into_iter().next().unwrap_or("")
    } else {
        return None;
    };
    if !(header.starts_with("cute/") || header.contains("cutlass")) {
        return None;
    }
    let loc = find_error_marker(t).and_then(|(head, _)| parse_location(head));
    Some(Hit::MissingSubmodule {
        header: Some(header.to_string()),
        loc,
    })
}

/// `ModuleNotFoundError: No module named 'torch'` (pip's build isolation hid
/// the installed torch, or none is installed); not `'torch._C'` or others.
fn torch_missing(t: &str) -> Option<Hit> {
    let rest = after(t, lit!("No module named "))?;
    let name = rest.trim().trim_matches(['\'', '"']);
    (name == "torch").then_some(Hit::TorchMissing)
}

/// `No space left on device` in any form (`OSError: [Errno 28] No space left on
/// device: '/tmp/x'`, `cc1plus: fatal error: error writing to /tmp/ccX.s: No
/// space left on device`).
fn disk_full(t: &str) -> Option<Hit> {
    if !(t.contains("No space left on device") || t.contains("[Errno 28]")) {
        return None;
    }
    let path = after(t, lit!("writing to "))
        .and_then(|r| r.split(':').next())
        .map(|p| p.trim().to_string())
        .or_else(|| {
            after(t, lit!("on device: "))
                .and_then(|r| quoted_items(r).into_iter().next().map(str::to_string))
        })
        .filter(|p| p.starts_with('/'));
    Some(Hit::DiskFull { path })
}

/// A compiler killed for memory, in each form it takes:
/// - `g++: fatal error: Killed signal terminated program cc1plus` (any driver
///   name; `cc1` for C);
/// - nvcc: `nvcc error   : 'cicc' died due to signal 9 (Kill signal)`, the same
///   for `ptxas`;
/// - ninja: `FAILED: [code=137] <object>`;
/// - the linker: `collect2: fatal error: ld terminated with signal 9 [Killed]`;
/// - samurai: `ninja: job terminated due to signal 9: <command>`;
/// - older gcc: `g++: internal compiler error: Killed (program cc1plus)`;
/// - ptxas: `ptxas fatal   : Memory allocation failure`;
/// - a shell: `/bin/sh: line 1: 4321 Killed   /usr/bin/c++ ...`;
/// - the kernel: `Out of memory: Killed process 4321 (cc1plus)`;
/// - an allocation failure: `cc1plus: out of memory allocating 65536 bytes`,
///   `virtual memory exhausted`, `[Errno 12] Cannot allocate memory`,
///   `std::bad_alloc`;
/// - secondary summaries: `exit status 137`, `exit code: -9`, make's `Error
///   137`, Python's `died with <Signals.SIGKILL: 9>`.
///
/// Each form is looked for only when `mask` has the bit of its needle.
fn oom(t: &str, mask: Mask) -> Option<Hit> {
    let on = |bit: Mask| mask & bit != 0;
    let (killed, signal_9) = (on(needles::OOM_KILLED), on(needles::OOM_SIGNAL_9));
    let hit = |tool: Option<&str>, object: Option<&str>, primary: bool| {
        Some(Hit::Oom {
            tool: tool
                .map(|s| basename(s).to_string())
                .filter(|s| !s.is_empty()),
            object: object.map(|s| basename(s).to_string()),
            primary,
        })
    };
    if let Some(rest) = after_if(killed, t, lit!("Killed signal terminated program")) {
        return hit(first_word(rest), None, true);
    }
    if let Some(rest) = after_if(killed, t, lit!("internal compiler error: Killed (program ")) {
        // Older gcc: `g++: internal compiler error: Killed (program cc1plus)`.
        return hit(rest.split(')').next(), None, true);
    }
    if on(needles::OOM_ALLOCATION) && has(t, lit!("Memory allocation failure")) {
        // `ptxas fatal   : Memory allocation failure`
        return hit(first_word(t), None, true);
    }
    if let Some(i) = signal_9
        .then(|| find_signal_9(t, lit!("died due to signal 9")))
        .flatten()
    {
        return hit(quoted_items(&t[..i]).into_iter().last(), None, true);
    }
    if let Some(rest) = after_if(on(needles::OOM_CODE_137), t, lit!("[code=137]")) {
        return hit(None, first_word(rest), true);
    }
    if let Some(i) = signal_9
        .then(|| find_signal_9(t, lit!(" terminated with signal 9")))
        .flatten()
    {
        return hit(t[..i].rsplit(char::is_whitespace).next(), None, true);
    }
    if signal_9 && find_signal_9(t, lit!("terminated due to signal 9")).is_some() {
        return hit(None, None, true);
    }
    if killed && is_bare_killed(t) {
        return Some(Hit::BareKilled);
    }
    if let Some(i) = killed.then(|| find(t, lit!(" Killed "))).flatten() {
        // A shell: `line 1: 4321 Killed   <command>`; the word before is a pid.
        let pid = t[..i].rsplit(char::is_whitespace).next().unwrap_or("");
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
            return hit(first_word(&t[i + 8..]), None, true);
        }
    }
    if let Some(rest) = after_if(killed, t, lit!("Killed process ")) {
        // The kernel's OOM killer: `Killed process 4321 (cc1plus)`.
        let tool = after(rest, lit!("(")).and_then(|r| r.split(')').next());
        return hit(tool, None, true);
    }
    let no_memory = on(needles::OOM_NO_MEMORY);
    if let Some(i) = no_memory
        .then(|| find(t, lit!(": out of memory allocating")))
        .flatten()
    {
        return hit(t[..i].rsplit(char::is_whitespace).next(), None, true);
    }
    if no_memory
        && (has(t, lit!("virtual memory exhausted"))
            || has(t, lit!("Cannot allocate memory"))
            || has(t, lit!("std::bad_alloc")))
    {
        return hit(None, None, true);
    }
    let secondary = on(needles::OOM_SUMMARY)
        && [
            lit!("exit status 137"),
            lit!("exit code 137"),
            lit!("exit code: 137"),
            lit!("Error 137"),
            lit!("exit code: -9"),
        ]
        .iter()
        .any(|p| find(t, p).is_some_and(|i| !next_is_digit(t, i + p.len())))
        || on(needles::OOM_SUMMARY) && has(t, lit!("<Signals.SIGKILL: 9>"));
    if secondary {
        return hit(None, None, false);
    }
    None
}

/// `ImportError: /x/flash_attn_2_cuda.cpython-312-x86_64-linux-gnu.so:
/// undefined symbol: _ZN3c104cuda9SetDeviceEi` when an extension is imported.
fn abi_mismatch(t: &str) -> Option<Hit> {
    let i = t.find("undefined symbol: ")?;
    if !t[..i].contains(".so") {
        return None;
    }
    let symbol = t[i + "undefined symbol: ".len()..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    if symbol.is_empty() {
        return None;
    }
    let library = t[..i]
        .trim_end()
        .trim_end_matches(':')
        .rsplit(char::is_whitespace)
        .next()
        .filter(|l| l.contains(".so"))
        .map(|l| basename(l).to_string());
    Some(Hit::AbiMismatch { symbol, library })
}

/// `RuntimeError: CUDA error: no kernel image is available for execution on the
/// device` (and flash-attn's `CUDA error (flash_fwd_launch_template.h:184): no
/// kernel image is available ...`).
fn no_kernel_image(t: &str) -> Option<Hit> {
    t.contains("no kernel image is available")
        .then_some(Hit::NoKernelImage)
}

/// pip: `ERROR: flash_attn-2.8.3-cp310-cp310-linux_x86_64.whl is not a
/// supported wheel on this platform.`
fn wheel_unsupported(t: &str) -> Option<Hit> {
    let i = t.find("is not a supported wheel")?;
    let wheel = t[..i]
        .split_whitespace()
        .last()
        .filter(|w| w.ends_with(".whl"))
        .map(|w| basename(w).to_string());
    Some(Hit::WheelUnsupported { wheel })
}

/// GitHub Actions: `The job running on runner X has exceeded the maximum
/// execution time of 360 minutes.`; GitLab: `execution took longer than
/// 1h0m0s seconds`; Python: `subprocess.TimeoutExpired: Command '...' timed out
/// after 600 seconds`. Network reads that time out (`Read timed out`,
/// `Connection timed out`) are warnings: flash-attn's prebuilt-wheel download
/// is the usual one.
fn timeout(t: &str) -> Option<Hit> {
    if t.contains("exceeded the maximum execution time")
        || t.contains("execution took longer than")
        || t.contains("TimeoutExpired")
        || (t.contains("timed out after") && t.contains("Command"))
    {
        return Some(Hit::Timeout { hard: true });
    }
    if t.contains("Read timed out")
        || t.contains("Connection timed out")
        || t.contains("connect timed out")
    {
        return Some(Hit::Timeout { hard: false });
    }
    None
}

/// urllib failing to reach a host, as a setup.py that downloads prints it:
/// `error: <urlopen error [Errno -3] Temporary failure in name resolution>`
/// (setuptools' one-line form), `urllib.error.URLError: <urlopen error
/// Tunnel connection failed: 403 Forbidden>` (a traceback's last line), and
/// a bare `socket.gaierror: [Errno -2] Name or service not known`. The
/// error is the text inside `<urlopen error ...>`, else from `[Errno`.
/// Whether it was a prebuilt wheel is the diagnoser's to say
/// ([`wheel_url`] seen before).
pub(crate) fn download_failed(t: &str) -> Option<Hit> {
    let error = if let Some(rest) = after(t, lit!("<urlopen error ")) {
        rest.rsplit_once('>').map_or(rest, |(inner, _)| inner)
    } else if has(t, lit!("Temporary failure in name resolution"))
        || has(t, lit!("Name or service not known"))
        || has(t, lit!("Tunnel connection failed"))
    {
        t.find("[Errno").map_or(t, |at| &t[at..])
    } else {
        return None;
    };
    let error = error.trim();
    (!error.is_empty()).then(|| Hit::DownloadFailed {
        error: Some(error.chars().take(300).collect()),
        url: None,
    })
}

/// A setup.py going on to compile after its download failed: flash-attn's
/// `Precompiled wheel not found. Building from source...`.
pub(crate) fn builds_from_source(t: &str) -> bool {
    has(t, lit!("Building from source"))
}

/// The prebuilt wheel a Dao-AILab style setup.py (flash-attn, causal-conv1d,
/// mamba-ssm) tries first: `Guessing wheel URL:  https://.../x.whl`.
pub(crate) fn wheel_url(t: &str) -> Option<String> {
    let rest = after(t, lit!("wheel URL"))?;
    let url = rest
        .trim_start_matches([':', ' '])
        .split_whitespace()
        .next()?;
    (url.starts_with("http://") || url.starts_with("https://"))
        .then(|| url.chars().take(500).collect())
}

/// torch's `BuildExtension`: `UserWarning: Attempted to use ninja as the
/// BuildExtension backend but we could not find ninja.. Falling back to using
/// the slow distutils backend.`
fn ninja_missing(t: &str) -> Option<Hit> {
    let rest = after(
        t,
        lit!("Attempted to use ninja as the BuildExtension backend but "),
    )?;
    let reason = rest
        .split(". Falling back")
        .next()
        .map(|r| r.trim().trim_end_matches('.').to_string())
        .filter(|r| !r.is_empty());
    Some(Hit::NinjaMissing { reason })
}

/// A compiler error at a source location: gcc's `file:line:col: error: msg`
/// (also `fatal error:`) and nvcc's `file(line): error: msg` (also
/// `catastrophic error:` and `error #123-D:`). Warnings, `-Werror=` flags and
/// file names such as `error.h` never match.
fn compile_error(t: &str) -> Option<Hit> {
    let (head, message) = find_error_marker(t)?;
    let loc = parse_location(head)?;
    Some(Hit::CompileError {
        loc,
        message: message.trim().to_string(),
    })
}

/// Finds `<location>: [fatal |catastrophic ]error[ #N-D]:` and returns the
/// location part and the message after it.
fn find_error_marker(t: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(p) = t[from..].find("error") {
        let p = from + p;
        from = p + 5;
        let after_word = &t[p + 5..];
        let msg_start = if after_word.starts_with(':') {
            p + 6
        } else if let Some(num) = after_word.strip_prefix(" #") {
            // nvcc's numbered diagnostics: `error #20012-D: ...`
            match num.find(':') {
                Some(c)
                    if c <= 12
                        && num[..c]
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    p + 7 + c + 1
                }
                _ => continue,
            }
        } else {
            continue;
        };
        let before = t[..p].trim_end_matches(' ');
        let before = before
            .strip_suffix("fatal")
            .or_else(|| before.strip_suffix("catastrophic"))
            .map(|b| b.trim_end_matches(' '))
            .unwrap_or(before);
        if let Some(head) = before.strip_suffix(':') {
            return Some((head, &t[msg_start..]));
        }
    }
    None
}

/// `path:line:col`, `path:line` or `path(line)` at the end of `head`; the path
/// is the last whitespace-separated word.
fn parse_location(head: &str) -> Option<Location> {
    let head = head.trim_end();
    let (path_part, line) = if let Some(inner) = head.strip_suffix(')') {
        let open = inner.rfind('(')?;
        (
            &inner[..open],
            inner[open + 1..].trim().parse::<u32>().ok()?,
        )
    } else {
        let (rest, last) = head.rsplit_once(':')?;
        let last_n = last.parse::<u32>().ok()?;
        match rest.rsplit_once(':') {
            Some((rest2, l2)) if !l2.is_empty() && l2.bytes().all(|b| b.is_ascii_digit()) => {
                (rest2, l2.parse::<u32>().ok()?)
            }
            _ => (rest, last_n),
        }
    };
    let file = path_part
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_matches(['\'', '"', '`']);
    let plausible = !file.is_empty()
        && !file.starts_with('-')
        && (file.contains('.') || file.contains('/'))
        && line > 0;
    plausible.then(|| Location {
        file: file.to_string(),
        line,
    })
}

/// The text after the first occurrence of `pat`.
fn after<'a>(s: &'a str, pat: &Lit) -> Option<&'a str> {
    find(s, pat).map(|i| &s[i + pat.len()..])
}

/// Where `pat` first occurs in `s` (`str::find` through memchr's SIMD
/// substring search, with the searcher built once: these run on every line
/// read).
fn find(s: &str, pat: &Lit) -> Option<usize> {
    pat.find(s)
}

/// Whether `s` holds `pat` ([`find`]).
fn has(s: &str, pat: &Lit) -> bool {
    find(s, pat).is_some()
}

/// [`after`], looked for only when `needed` (the line holds a needle of it).
fn after_if<'a>(needed: bool, s: &'a str, pat: &Lit) -> Option<&'a str> {
    needed.then(|| after(s, pat)).flatten()
}

/// The position of `pat` (which ends in `signal 9`) when not followed by
/// another digit (`signal 90` is not `signal 9`).
fn find_signal_9(t: &str, pat: &Lit) -> Option<usize> {
    let i = find(t, pat)?;
    (!next_is_digit(t, i + pat.len())).then_some(i)
}

fn next_is_digit(t: &str, at: usize) -> bool {
    t.as_bytes().get(at).is_some_and(u8::is_ascii_digit)
}

/// The number at the start of `s`, if any.
fn leading_number(s: &str) -> Option<u32> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..digits].parse().ok()
}

/// The items in single quotes in `s`, in order (`'cicc'`, `'12.2'`).
fn quoted_items(s: &str) -> Vec<&str> {
    s.split('\'').skip(1).step_by(2).collect()
}

/// The last path component of `p`.
fn basename(p: &str) -> &str {
    match memchr::memrchr2(b'/', b'\\', p.as_bytes()) {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// `s.split_whitespace().next()`, by bytes while the text is ASCII
/// (decoding characters was a tenth of the time on lines such as ninja's
/// `FAILED: <object>`).
fn first_word(s: &str) -> Option<&str> {
    // What `char::is_whitespace` says of ASCII.
    let space = |b: u8| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ');
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|&b| !space(b))?;
    // Past 16 graphic ASCII bytes at a time (no branch per byte), then to
    // the first byte that is whitespace or starts a multibyte character.
    let mut end = start;
    while let Some(chunk) = bytes.get(end..end + 16) {
        if !chunk.iter().fold(true, |all, b| all & b.is_ascii_graphic()) {
            break;
        }
        end += 16;
    }
    end += bytes[end..]
        .iter()
        .position(|&b| space(b) || !b.is_ascii())
        .unwrap_or(bytes.len() - end);
    match bytes.get(end) {
        // Unicode whitespace is possible from here: split by characters.
        Some(b) if !b.is_ascii() => s.split_whitespace().next(),
        _ => Some(&s[start..end]),
    }
}

#[cfg(test)]
mod tests;
