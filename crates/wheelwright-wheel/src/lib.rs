//! wheelwright-wheel: `wheel check`, everything that can be verified about a
//! wheel before it leaves the build machine, offline; [`retag`]; and wheel
//! [`file`](mod@file) names.
//!
//! - identity (`metadata`): PEP 427 file name, `WHEEL` tags and `METADATA`
//!   name/version agree (PEP 440, local labels case-insensitive);
//! - integrity (`record`): every `RECORD` hash and size matches;
//! - device code (`fatbin`, `archs`, [`extension_archs`]): the SASS and PTX
//!   archs of each binary's `.nv_fatbin`, against the required list, or,
//!   where a plan names each extension's units, each binary's fatbin
//!   containers against its own extension's units;
//! - symbols (`symbols`, `torch`): undefined symbols resolved against
//!   the declared libraries, torch's where it is installed;
//! - C++ ABI ([`abi`]): `__cxx11` (new) or `Ss` (old) mangling in each
//!   binary's dynamic symbols, against the ABI the wheel's label
//!   (`cxx11abiTRUE`) or the caller ([`CheckOptions::cxx11_abi`]) names;
//! - glibc and manylinux (`policy`): the highest `GLIBC_`/`GLIBCXX_`
//!   versions needed and the policy met with torch's and CUDA's libraries
//!   external (reported, not required).
//!
//! [`retag`] writes a compliant wheel under a manylinux tag, for publishing;
//! [`variant`] the PEP 825 variant wheel of a checked one (experimental).
//!
//! A wheel is untrusted input (it may come from a server through
//! `--prefer-prebuilt`), so the check is bounded by what the wheel's headers
//! say, not by what its entries inflate to (`archive`, `fatbin`):
//! - only a regular file is opened (a FIFO named `x.whl` would wait for a
//!   writer);
//! - `WHEEL` is read up to 1 MiB, `METADATA` up to 16 MiB
//!   ([`metadata::MAX_METADATA_BYTES`], publishing's cap too), `RECORD` up to
//!   16 MiB; a larger one is a `wheel-file-too-large` error finding;
//! - the ELF binaries are extracted to a temporary directory up to 64 MiB
//!   plus 16 times the wheel's size in all; past that, a `binary-too-large`
//!   error finding;
//! - every other entry is streamed through its hash 64 KiB at a time;
//! - a binary's `.nv_fatbin` is read through one 64 KiB window, its zero
//!   padding skipped a window at a time; its headers and dynamic tables
//!   through [`object::ReadCache`].
//!
//! So memory is a few MiB, plus the text files read (at most their caps)
//! and the binaries' headers and dynamic symbol tables (those of a real
//! extension fill a few MiB): a 68 KB wheel whose `.so` holds 64 MiB of
//! zero-padded `.nv_fatbin` is checked in under 64 MiB of RSS
//! (`tests/hostile_wheel.rs`). Time goes with the bytes the entries inflate
//! to, which hashing must read.
//!
//! Library API for publishers: build a [`CheckOptions`], call
//! [`check_wheel`], read [`WheelCheck::passed`] and its findings; before
//! using flash-attn's own asset name, read [`WheelCheck::official_archs`].
//!
//! The modules named in parentheses are crate-private (but [`archs`], whose
//! required list a caller builds, and [`torch`], whose probe it runs): what
//! they find reaches callers through [`WheelCheck`]. The required archs come
//! as data ([`RequiredArchs::parse`], [`RequiredArchs::from_gencodes`]); a
//! build report's or a plan's are read above this crate (wheelwright-job's
//! `check`), so checking a wheel needs no planner and no builder.

#![warn(missing_docs)]

pub mod abi;
mod archive;
pub mod archs;
pub(crate) mod elf;
pub mod extension_archs;
pub(crate) mod fatbin;
pub mod file;
pub mod metadata;
pub mod modules;
pub(crate) mod policy;
pub mod record;
pub mod retag;
pub mod runs_on;
pub(crate) mod symbols;
pub mod torch;
pub mod variant;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use abi::{abi_word, label_cxx11_abi, CxxAbiEvidence};
use archive::{Text, EXTRACT_BASE, EXTRACT_PER_WHEEL_BYTE, MAX_RECORD_BYTES, MAX_WHEEL_BYTES};
use archs::{compare_archs, official_arch_gap};
pub use archs::{ArchComparison, OfficialArchVerdict, RequiredArchs, RequiredArchsError};
use elf::{read_elf, Detail};
use extension_archs::compare_extension;
pub use extension_archs::{ExtensionArchs, ExtensionComparison, UnitArchs, UnitMatch};
use fatbin::{CodeKind, DeviceCode};
pub use file::{dist_info_name, project_name, valid_tag, WheelInfo, WheelName, WheelNameError};
pub use metadata::Purpose;
use metadata::MAX_METADATA_BYTES;
use policy::{wheel_policy, PolicyReport};
use record::{compare_record, parse_record};
use symbols::{interpreter_symbols, resolve_symbols, LibrarySearch, SymbolResolution};
use torch::TorchEnv;
use wheelwright_base::finding::{Finding, Severity};

/// What to check a wheel against.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Local use, or publishing to an index (stricter on versions).
    pub purpose: Purpose,
    /// The device code every binary with device code must carry.
    pub required_archs: Option<RequiredArchs>,
    /// Per extension, the targets of each nvcc unit (from a plan that ran
    /// the package's setup.py): a binary that is one of these extensions is
    /// compared with its own units instead of `required_archs`, and a
    /// planned extension missing from the wheel is an error.
    pub extensions: Vec<ExtensionArchs>,
    /// The torch the wheel was built for, where it is installed.
    pub torch: Option<TorchEnv>,
    /// Library patterns treated as external for the manylinux policy;
    /// torch's and CUDA's (`libc10*`, `libtorch*`, `libcu*`, `libnv*`) when
    /// empty.
    pub exclude: Vec<String>,
    /// The C++ ABI the binaries must have, and who says so (a build
    /// report's torch); without it, the ABI the wheel's local label names
    /// (`cxx11abiTRUE`), if any.
    pub cxx11_abi: Option<ExpectedAbi>,
}

/// The C++ ABI a wheel's binaries must have, and who says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAbi {
    /// `_GLIBCXX_USE_CXX11_ABI`.
    pub cxx11_abi: bool,
    /// Who says so (`report.json: torch's ABI`).
    pub source: String,
}

/// Why a file could not be checked at all (bad input: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum WheelCheckError {
    /// The file does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Its name is not a wheel name.
    #[error(transparent)]
    Name(#[from] WheelNameError),
    /// It is not a zip archive.
    #[error("{path} is not a wheel: not a zip archive ({why})")]
    NotAZip {
        /// The file.
        path: PathBuf,
        /// What the zip reader said.
        why: String,
    },
    /// A zip without a `.dist-info` directory holding `WHEEL` and `METADATA`.
    #[error("{path} is not a wheel: {why}")]
    NotAWheel {
        /// The file.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// Extracting a binary to read it failed.
    #[error("could not extract {entry} to a temporary directory: {source}")]
    Extract {
        /// The archive entry.
        entry: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl WheelCheckError {
    /// What to do about a wheel that could not be checked.
    pub fn hint(&self) -> &'static str {
        match self {
            WheelCheckError::Unreadable { .. } => "check the path: give the .whl file itself",
            WheelCheckError::Name(_) => {
                "a wheel's file name is `name-version-pytag-abitag-platform.whl`; do not rename \
                 wheels by hand"
            }
            WheelCheckError::NotAZip { .. } | WheelCheckError::NotAWheel { .. } => {
                "give a wheel built by pip/`wheelwright build` (a zip with a .dist-info directory)"
            }
            WheelCheckError::Extract { .. } => "free space in the temporary directory (TMPDIR)",
        }
    }
}

/// One ELF binary of the wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryCheck {
    /// Its path in the wheel.
    pub path: String,
    /// SASS archs in its `.nv_fatbin` (`sm_90a`), sorted, once each.
    pub sass: Vec<String>,
    /// PTX archs (`compute_90`), sorted, once each.
    pub ptx: Vec<String>,
    /// Fatbin entries in all (an arch may repeat across containers).
    pub fatbin_entries: usize,
    /// Against the required archs (its extension's planned ones where the
    /// plan names them), when there are any and it has device code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archs: Option<ArchComparison>,
    /// Against its extension's planned units, when the plan names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<ExtensionComparison>,
    /// `DT_NEEDED`.
    pub needed: Vec<String>,
    /// Its undefined symbols, resolved.
    pub symbols: SymbolResolution,
    /// The highest `GLIBC`, `GLIBCXX`, `CXXABI`, `GCC` versions it needs.
    pub versions: BTreeMap<String, String>,
    /// What its dynamic symbols say about its C++ ABI.
    #[serde(default)]
    pub cxx_abi: CxxAbiEvidence,
}

/// The torch symbols were resolved against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorchUsed {
    /// The interpreter.
    pub python: PathBuf,
    /// torch's version, `None` when not installed there.
    pub version: Option<String>,
    /// `torch/lib`.
    pub lib_dir: Option<PathBuf>,
}

/// Everything `wheel check` found about one wheel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WheelCheck {
    /// The file checked.
    pub path: PathBuf,
    /// The parsed file name.
    pub name: WheelName,
    /// The purpose checked for.
    pub purpose: Purpose,
    /// No error finding.
    pub passed: bool,
    /// Errors fail the check; warnings and notices do not.
    pub findings: Vec<Finding>,
    /// `METADATA`'s version.
    pub metadata_version: Option<String>,
    /// `WHEEL`'s tags.
    pub wheel_tags: Vec<String>,
    /// Files whose `RECORD` hash and size matched.
    pub record_verified: usize,
    /// The required device code, if any.
    pub required_archs: Option<RequiredArchs>,
    /// The ELF binaries, in archive order.
    pub binaries: Vec<BinaryCheck>,
    /// The torch symbols were resolved against, if any.
    pub torch: Option<TorchUsed>,
    /// The highest versions over all binaries.
    pub versions: BTreeMap<String, String>,
    /// The C++ ABI of its binaries (`_GLIBCXX_USE_CXX11_ABI`), where their
    /// symbols tell it and agree; `None` when none tells or they disagree.
    #[serde(default)]
    pub cxx11_abi: Option<bool>,
    /// The manylinux policy met with torch/CUDA libraries external; `None`
    /// for a wheel without binaries.
    pub policy: Option<PolicyReport>,
    /// For flash-attn: its release wheels' arch set against this wheel's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub official_archs: Option<OfficialArchVerdict>,
}

impl WheelCheck {
    /// Error findings.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }
}

/// Check the wheel at `path`.
///
/// Bad input (no such file, not a wheel name, not a zip, no `.dist-info`)
/// is an `Err`; everything else is a finding in the returned [`WheelCheck`].
pub fn check_wheel(path: &Path, opts: &CheckOptions) -> Result<WheelCheck, WheelCheckError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unreadable = |source: io::Error| WheelCheckError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // The type first: opening a FIFO waits for a writer.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "a pipe, socket or device"
        };
        return Err(unreadable(io::Error::other(format!(
            "not a regular file ({what})"
        ))));
    }
    let name = WheelName::parse(&file_name)?;
    let file = File::open(path).map_err(unreadable)?;
    let wheel_size = file.metadata().map_err(unreadable)?.len();
    let names_file = file.try_clone().map_err(unreadable)?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| WheelCheckError::NotAZip {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let not_a_wheel = |why: String| WheelCheckError::NotAWheel {
        path: path.to_path_buf(),
        why,
    };

    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let dist_infos: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("/WHEEL"))
        .filter(|d| d.ends_with(".dist-info") && !d.contains('/'))
        .collect();
    let dist_info = match dist_infos.len() {
        1 => dist_infos
            .into_iter()
            .next()
            .unwrap_or_default()
            .to_string(),
        0 => {
            return Err(not_a_wheel(
                "no `*.dist-info/WHEEL` at its top level".into(),
            ))
        }
        _ => {
            return Err(not_a_wheel(format!(
                "several .dist-info directories ({})",
                dist_infos.into_iter().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let (mut findings, clashes) = archive::name_findings(&names_file, &zip).map_err(unreadable)?;
    drop(names_file);

    // WHEEL and METADATA: a missing or unreadable one is not a wheel; one
    // over its cap is a finding, and the identity checks are left out.
    let mut read_capped = |file: &str, cap: u64| -> Result<Option<String>, WheelCheckError> {
        let entry = format!("{dist_info}/{file}");
        match archive::read_text(&mut zip, &entry, cap) {
            Text::Read(text) => Ok(Some(text)),
            Text::TooLarge => {
                findings.push(archive::too_large(&entry, cap));
                Ok(None)
            }
            Text::Missing => Err(not_a_wheel(format!("no {entry}"))),
            Text::Unreadable(why) => Err(not_a_wheel(format!("{entry} is unreadable: {why}"))),
        }
    };
    let wheel_text = read_capped("WHEEL", MAX_WHEEL_BYTES)?;
    let metadata_text = read_capped("METADATA", MAX_METADATA_BYTES)?;
    let identity = match (&wheel_text, &metadata_text) {
        (Some(wheel), Some(metadata)) => {
            metadata::check_identity(&name, wheel, metadata, opts.purpose)
        }
        _ => metadata::Identity::default(),
    };
    findings.extend(identity.findings);

    let record = format!("{dist_info}/RECORD");
    let rows = match archive::read_text(&mut zip, &record, MAX_RECORD_BYTES) {
        Text::Missing => {
            findings.push(record_finding(format!("{record} is missing")));
            None
        }
        Text::TooLarge => {
            findings.push(archive::too_large(&record, MAX_RECORD_BYTES));
            None
        }
        Text::Unreadable(why) => {
            findings.push(record_finding(format!("{record} is unreadable: {why}")));
            None
        }
        Text::Read(text) => match parse_record(&text) {
            Ok(rows) => Some(rows),
            Err(e) => {
                findings.push(record_finding(e.to_string()));
                None
            }
        },
    };
    let algo: BTreeMap<&str, &str> = rows
        .iter()
        .flatten()
        .map(|r| (r.path.as_str(), r.hash.as_str()))
        .collect();

    // One pass over the archive: hash every file, extract the ELF ones.
    let scratch = tempfile::Builder::new()
        .prefix("wheelwright-check-")
        .tempdir()
        .map_err(|source| WheelCheckError::Extract {
            entry: "(temporary directory)".into(),
            source,
        })?;
    let cap = EXTRACT_BASE.saturating_add(EXTRACT_PER_WHEEL_BYTE.saturating_mul(wheel_size));
    let scan = archive::scan(
        &mut zip,
        &algo,
        scratch.path(),
        cap,
        &clashes,
        record_finding,
    )?;
    findings.extend(scan.findings);
    let (actual, elf_files, in_wheel) = (scan.actual, scan.binaries, scan.base_names);
    let mut record_verified = 0;
    if let Some(rows) = &rows {
        let verdict = compare_record(rows, &actual);
        record_verified = verdict.verified;
        if !verdict.problems.is_empty() {
            let mut f = record_finding(format!(
                "{} of {} files do not match RECORD: {}",
                verdict.problems.len(),
                rows.len(),
                verdict
                    .problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            f.evidence = verdict.problems;
            findings.push(f);
        }
    }

    // The binaries.
    let search = library_search(opts.torch.as_ref());
    let mut binaries = Vec::new();
    let mut infos = Vec::new();
    for (entry, dest) in &elf_files {
        let info = match read_elf(dest, Detail::Full) {
            Ok(i) => i,
            Err(e) => {
                findings.push(Finding::new(
                    "binary-unreadable",
                    Severity::Error,
                    "A binary in the wheel cannot be read",
                    format!("{entry}: {e}"),
                    "rebuild the wheel",
                ));
                continue;
            }
        };
        let symbols = resolve_symbols(dest, &info, &search);
        let kinds = |kind: CodeKind| -> Vec<String> {
            let mut v: Vec<&DeviceCode> =
                info.device_code.iter().filter(|c| c.kind == kind).collect();
            v.sort();
            v.dedup();
            v.iter().map(|c| c.name()).collect()
        };
        let module = extension_archs::extension_of(entry);
        let extension = opts
            .extensions
            .iter()
            .find(|e| e.extension == module)
            .map(|e| compare_extension(&info.fatbin_containers, e));
        let archs = match &extension {
            Some(e) => Some(ArchComparison {
                missing: e.missing.clone(),
                extra: e.extra.clone(),
            }),
            None => opts
                .required_archs
                .as_ref()
                .filter(|_| !info.device_code.is_empty())
                .map(|r| compare_archs(&info.device_code, r)),
        };
        binaries.push(BinaryCheck {
            path: entry.clone(),
            sass: kinds(CodeKind::Sass),
            ptx: kinds(CodeKind::Ptx),
            fatbin_entries: info.fatbin_entries,
            archs,
            extension,
            needed: info.needed.clone(),
            symbols,
            versions: policy::highest_versions(&[&info]),
            cxx_abi: CxxAbiEvidence::from_symbols(
                info.defined
                    .iter()
                    .map(String::as_str)
                    .chain(info.undefined.iter().map(|u| u.name.as_str())),
            ),
        });
        infos.push(info);
    }
    findings.extend(binary_findings(&binaries, opts));
    let expected_abi = opts.cxx11_abi.clone().or_else(|| {
        name.local_version()
            .and_then(label_cxx11_abi)
            .map(|abi| ExpectedAbi {
                cxx11_abi: abi,
                source: format!("the wheel's label `{}`", name.local_version().unwrap_or("")),
            })
    });
    let (cxx11_abi, abi_findings) = abi_findings(&binaries, expected_abi.as_ref());
    findings.extend(abi_findings);

    let info_refs: Vec<&elf::ElfInfo> = infos.iter().collect();
    let exclude: Vec<String> = if opts.exclude.is_empty() {
        policy::DEFAULT_EXCLUDES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        opts.exclude.clone()
    };
    let policy = if infos.is_empty() {
        None
    } else {
        match wheel_policy(&info_refs, &in_wheel, &exclude) {
            Ok(p) => Some(p),
            Err(e) => {
                findings.push(Finding::new(
                    "policy-unknown",
                    Severity::Notice,
                    "No manylinux policy for this machine",
                    e.to_string(),
                    "nothing to do: the wheel keeps its linux tag",
                ));
                None
            }
        }
    };
    let official_archs = (name.project().as_ref() == "flash-attn").then(|| {
        let code: Vec<Vec<DeviceCode>> = infos.iter().map(|i| i.device_code.clone()).collect();
        official_arch_gap(&code, &name.version)
    });
    findings.sort_by_key(|f| f.severity);
    Ok(WheelCheck {
        path: path.to_path_buf(),
        purpose: opts.purpose,
        passed: !findings.iter().any(Finding::is_error),
        findings,
        metadata_version: identity.metadata_version,
        wheel_tags: identity.wheel_tags,
        record_verified,
        required_archs: opts.required_archs.clone(),
        versions: policy::highest_versions(&info_refs),
        cxx11_abi,
        binaries,
        torch: opts.torch.as_ref().map(|t| TorchUsed {
            python: t.python.clone(),
            version: t.version.clone(),
            lib_dir: t.lib_dir.clone(),
        }),
        policy,
        official_archs,
        name,
    })
}

fn record_finding(message: String) -> Finding {
    Finding::new(
        "record-mismatch",
        Severity::Error,
        "The wheel's RECORD does not match its files",
        message,
        "the wheel is corrupt or was modified after it was built: rebuild it, never publish this file",
    )
}

fn library_search(torch: Option<&TorchEnv>) -> LibrarySearch {
    LibrarySearch {
        extra_dirs: torch.map(TorchEnv::library_dirs).unwrap_or_default(),
        system_dirs: LibrarySearch::system(),
        interpreter_symbols: torch
            .and_then(|t| interpreter_symbols(&t.executable, t.libdir.as_deref())),
    }
}

/// The binaries' C++ ABI (where they tell it and agree), and the findings:
/// a binary of both ABIs, binaries of different ABIs, binaries of another
/// ABI than `expected`.
fn abi_findings(
    binaries: &[BinaryCheck],
    expected: Option<&ExpectedAbi>,
) -> (Option<bool>, Vec<Finding>) {
    let mut out = Vec::new();
    for b in binaries.iter().filter(|b| b.cxx_abi.mixed()) {
        let mut f = Finding::new(
            "abi-mixed",
            Severity::Warning,
            "A binary mixes both C++ ABIs",
            format!(
                "{} has {} symbol(s) of the new C++ ABI (`__cxx11`) and {} of the old one \
                 (`std::string` as `Ss`): objects compiled with different \
                 _GLIBCXX_USE_CXX11_ABI settings were linked together",
                b.path, b.cxx_abi.new_abi_symbols, b.cxx_abi.old_abi_symbols
            ),
            "rebuild from a clean work dir with one torch (its ABI decides the flag)",
        );
        f.evidence = b.cxx_abi.examples.clone();
        out.push(f);
    }
    let told: Vec<(&BinaryCheck, bool)> = binaries
        .iter()
        .filter_map(|b| b.cxx_abi.cxx11_abi().map(|abi| (b, abi)))
        .collect();
    let abis: BTreeSet<bool> = told.iter().map(|(_, abi)| *abi).collect();
    let verdict = match abis.len() {
        1 => abis.into_iter().next(),
        _ => None,
    };
    if let Some(want) = expected {
        let wrong: Vec<&(&BinaryCheck, bool)> = told
            .iter()
            .filter(|(_, abi)| *abi != want.cxx11_abi)
            .collect();
        if !wrong.is_empty() {
            let mut f = Finding::new(
                "abi-mismatch",
                Severity::Error,
                "The binaries have another C++ ABI than the wheel says",
                format!(
                    "{} say(s) cxx11abi{} by their symbols, but {} says cxx11abi{}: \
                     installed with that torch, importing it fails with `undefined symbol`",
                    wrong
                        .iter()
                        .map(|(b, _)| b.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    abi_word(!want.cxx11_abi),
                    want.source,
                    abi_word(want.cxx11_abi)
                ),
                "build against a torch of the ABI the wheel names (`wheelwright build \
                 --cxx11-abi`, which refuses a torch of the other one), or give the wheel the \
                 label of the ABI it has",
            );
            f.evidence = wrong
                .iter()
                .flat_map(|(b, _)| b.cxx_abi.examples.iter().cloned())
                .collect();
            out.push(f);
        }
    } else if verdict.is_none() && told.len() > 1 {
        out.push(Finding::new(
            "abi-mixed",
            Severity::Warning,
            "The binaries disagree on the C++ ABI",
            told.iter()
                .map(|(b, abi)| format!("{}: cxx11abi{}", b.path, abi_word(*abi)))
                .collect::<Vec<_>>()
                .join(", "),
            "rebuild every extension against one torch",
        ));
    }
    (verdict, out)
}

/// Findings about device code and symbols, per binary.
fn binary_findings(binaries: &[BinaryCheck], opts: &CheckOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(req) = &opts.required_archs {
        if !binaries.iter().any(|b| b.fatbin_entries > 0) {
            out.push(Finding::new(
                "archs-no-device-code",
                Severity::Error,
                "No device code in the wheel",
                format!(
                    "archs {} are required ({}), but no binary carries a .nv_fatbin",
                    req.sass
                        .iter()
                        .chain(&req.ptx)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    req.source
                ),
                "build the CUDA extension (is FLASH_ATTENTION_SKIP_CUDA_BUILD set?)",
            ));
        }
    }
    out.extend(extension_findings(binaries, opts));
    for b in binaries {
        if let Some(c) = b
            .archs
            .as_ref()
            .filter(|c| !c.missing.is_empty() && b.extension.is_none())
        {
            let source = opts
                .required_archs
                .as_ref()
                .map(|r| r.source.as_str())
                .unwrap_or("");
            out.push(Finding::new(
                "archs-missing",
                Severity::Error,
                "Required GPU architectures are missing",
                format!(
                    "{} lacks {} (required by {source}); it has {}: GPUs of the missing archs \
                     would fail with `no kernel image is available`",
                    b.path,
                    c.missing.join(", "),
                    b.sass
                        .iter()
                        .chain(&b.ptx)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "build with the missing archs (`--archs`, FLASH_ATTN_CUDA_ARCHS), or publish \
                 under a local label that names the archs it has",
            ));
        }
        let s = &b.symbols;
        if s.missing_count > 0 {
            let mut f = Finding::new(
                "symbols-undefined",
                Severity::Error,
                "Undefined symbols no needed library provides",
                format!(
                    "{}: {} undefined symbol(s) are defined by none of its libraries ({}), \
                     e.g. {}: importing it fails with `undefined symbol`",
                    b.path,
                    s.missing_count,
                    b.needed.join(", "),
                    s.missing
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "build against the torch (and C++ ABI) it will be installed with",
            );
            f.evidence = s.missing.clone();
            out.push(f);
        }
        if s.unresolved_count > 0 {
            let libs: Vec<&str> = s
                .libraries_not_found
                .iter()
                .map(|l| l.name.as_str())
                .collect();
            let mut f = Finding::new(
                "symbols-unresolved",
                Severity::Warning,
                "Symbols not checked: libraries not found here",
                format!(
                    "{}: {} undefined symbol(s) could not be checked because {} were not found",
                    b.path,
                    s.unresolved_count,
                    libs.join(", ")
                ),
                "check on the build machine with `--python` pointing at the torch it was built \
                 for (or `--report report.json`)",
            );
            f.evidence = s.unresolved.clone();
            out.push(f);
        }
    }
    out
}

/// Findings of the binaries compared with their extensions' planned units,
/// and of planned extensions with device code that no binary is.
fn extension_findings(binaries: &[BinaryCheck], opts: &CheckOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    for planned in &opts.extensions {
        if planned.units.is_empty()
            || binaries
                .iter()
                .any(|b| extension_archs::extension_of(&b.path) == planned.extension)
        {
            continue;
        }
        out.push(Finding::new(
            "extension-missing",
            Severity::Error,
            "A planned CUDA extension is not in the wheel",
            format!(
                "the plan compiles {} nvcc unit(s) into {} ({}), but no binary in the wheel is \
                 that extension: importing it fails",
                planned.units.len(),
                planned.extension,
                planned
                    .units
                    .iter()
                    .map(|u| u.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "see why setup.py left it out (a switch such as FORCE_CUDA that the build did not \
                 set, torch seeing no GPU); rebuild with the plan's environment",
        ));
    }
    for b in binaries {
        let Some(e) = &b.extension else { continue };
        let short: Vec<&UnitMatch> = e.units.iter().filter(|u| !u.missing.is_empty()).collect();
        if !e.missing.is_empty() || !short.is_empty() {
            let mut f = Finding::new(
                "archs-missing",
                Severity::Error,
                "Required GPU architectures are missing",
                format!(
                    "{} ({}) lacks {} of its planned {}{}: GPUs of the missing archs would fail \
                 with `no kernel image is available`",
                    b.path,
                    e.extension,
                    if e.missing.is_empty() {
                        "none overall but some".to_string()
                    } else {
                        list(&e.missing)
                    },
                    list(&e.planned),
                    if short.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; units compiled short of their targets: {}",
                            short
                                .iter()
                                .map(|u| format!("{} lacks {}", u.path, list(&u.missing)))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    }
                ),
                "rebuild with the plan's environment: its per-unit -gencode lists are what \
                 setup.py compiles under it; a different TORCH_CUDA_ARCH_LIST or arch switch \
                 changes them",
            );
            f.evidence = short
                .iter()
                .map(|u| {
                    format!(
                        "{}: planned {}; found {}",
                        u.path,
                        list(&u.targets),
                        u.found.as_deref().map_or("no container".to_string(), list)
                    )
                })
                .collect();
            out.push(f);
        }
        let over: Vec<&UnitMatch> = e.units.iter().filter(|u| !u.extra.is_empty()).collect();
        if !e.extra.is_empty() || !over.is_empty() || !e.unplanned_containers.is_empty() {
            out.push(Finding::new(
                "archs-unplanned",
                Severity::Warning,
                "The wheel carries device code its plan did not plan",
                format!(
                    "{} ({}) has {} beyond its planned {}{}{}: the plan's per-unit gencodes do \
                 not describe this build, so its times and peaks were priced for other work",
                    b.path,
                    e.extension,
                    list(&e.extra),
                    list(&e.planned),
                    if over.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; units with more targets than planned: {}",
                            over.iter()
                                .map(|u| format!("{} has {}", u.path, list(&u.extra)))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    },
                    if e.unplanned_containers.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} fatbin container(s) of no planned unit",
                            e.unplanned_containers.len()
                        )
                    }
                ),
                "plan on the build host with the build's interpreter, so the plan reads the \
                 package's setup.py under the build's environment",
            ));
        }
    }
    out
}
