//! The manylinux policy a wheel's binaries satisfy, computed from the ELF
//! the way `auditwheel show` does (its `wheel_abi.analyze_wheel_abi`), with
//! torch's and CUDA's libraries treated as external, as
//! `auditwheel repair --exclude libc10* --exclude libtorch* --exclude libcu*
//! --exclude libnv*` treats them.
//!
//! The policy data is auditwheel's own `manylinux-policy.json` (auditwheel
//! 6.8.2, MIT license: `manylinux-policy.LICENSE` beside it), vendored
//! unchanged. For each policy, from the most compatible down:
//! - symbol versions: every `GLIBC_*`, `GLIBCXX_*`, `CXXABI_*`, `GCC_*`, ...
//!   version the binaries need (`.gnu.version_r`, the dynamic loader's own
//!   left out) is one the policy allows;
//! - libraries: every `DT_NEEDED` library is on the policy's whitelist, in the
//!   wheel, or excluded (a library a repair would have to graft fails it);
//! - blacklist: no binary uses a symbol the policy forbids from a whitelisted
//!   library (e.g. libz's);
//! - no `PyUnicodeUCS2_*` or `PyFPE_jbuf` reference (those mean `linux`).
//!
//! auditwheel's check of x86-64 ISA levels (`x86-64-v2`…`v4` GNU property
//! notes) is not done; compilers do not set those notes by default.
//! The policy is reported, not required: a wheel built with a new GCC meets
//! none and stays `linux_<arch>`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::elf::ElfInfo;

/// The vendored policy data.
const POLICY_JSON: &str = include_str!("manylinux-policy.json");

/// The libraries left outside the wheel on purpose: torch's and CUDA's.
pub(crate) const DEFAULT_EXCLUDES: [&str; 4] = ["libc10*", "libtorch*", "libcu*", "libnv*"];

#[derive(Debug, Deserialize)]
struct PolicyData {
    name: String,
    aliases: Vec<String>,
    priority: u32,
    symbol_versions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    lib_whitelist: BTreeSet<String>,
    blacklist: BTreeMap<String, BTreeSet<String>>,
}

/// Which policy the binaries satisfy, and what kept them from a better one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// The platform tag to use: `manylinux_2_28_x86_64`, or `linux_x86_64`.
    pub platform_tag: String,
    /// Older names of the same policy (`manylinux2014_x86_64`).
    pub aliases: Vec<String>,
    /// The best policy the symbol versions alone allow.
    pub symbol_policy: String,
    /// Needed libraries that no policy whitelists and no exclude covers: a
    /// repair would have to graft them, so only `linux` remains.
    pub external_libraries: Vec<String>,
    /// Needed libraries treated as external by an exclude pattern.
    pub excluded_libraries: Vec<String>,
    /// Why a better policy is not met, one line each.
    pub reasons: Vec<String>,
}

/// Why a policy could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PolicyError {
    /// The ELF machine has no manylinux policy.
    #[error("no manylinux policy for ELF machine {0}")]
    UnknownMachine(u16),
}

/// The architecture name policies use for an ELF machine.
pub(crate) fn arch_name(machine: u16, is_64: bool) -> Option<&'static str> {
    use object::elf;
    let m = elf::Machine(machine);
    Some(match (m, is_64) {
        (elf::EM_X86_64, true) => "x86_64",
        (elf::EM_386, false) => "i686",
        (elf::EM_AARCH64, true) => "aarch64",
        (elf::EM_ARM, false) => "armv7l",
        (elf::EM_PPC64, true) => "ppc64le",
        (elf::EM_S390, true) => "s390x",
        (elf::EM_RISCV, true) => "riscv64",
        (elf::EM_LOONGARCH, true) => "loongarch64",
        _ => return None,
    })
}

/// Whether `soname` matches one of `patterns` (shell globs, as auditwheel's
/// `--exclude` takes them).
pub(crate) fn excluded(soname: &str, patterns: &[String]) -> bool {
    patterns
        .iter()
        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(soname)))
}

fn is_loader(lib: &str) -> bool {
    lib.contains("ld-linux") || lib == "ld64.so.2" || lib == "ld64.so.1"
}

/// The policy `binaries` (the ELF objects of one wheel) satisfy.
/// `in_wheel` holds the file names of every file in the wheel; `exclude`
/// the patterns of libraries treated as external.
pub(crate) fn wheel_policy(
    binaries: &[&ElfInfo],
    in_wheel: &BTreeSet<String>,
    exclude: &[String],
) -> Result<PolicyReport, PolicyError> {
    let first = binaries.first();
    let machine = first.map_or(object::elf::EM_X86_64.0, |b| b.machine);
    let is_64 = first.is_none_or(|b| b.is_64);
    let arch = arch_name(machine, is_64).ok_or(PolicyError::UnknownMachine(machine))?;
    let mut policies: Vec<PolicyData> =
        serde_json::from_str(POLICY_JSON).expect("the vendored policy JSON parses");
    policies.retain(|p| p.name == "linux" || p.symbol_versions.contains_key(arch));
    // Most compatible (highest priority) first.
    policies.sort_by_key(|p| std::cmp::Reverse(p.priority));

    // Versions needed, grouped by prefix: GLIBC -> {GLIBC_2.14, ...}.
    let mut required: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in binaries {
        for (lib, version) in &b.version_needs {
            if is_loader(lib) {
                continue;
            }
            let prefix = version.split('_').next().unwrap_or(version);
            required
                .entry(prefix.to_string())
                .or_default()
                .insert(version.clone());
        }
    }
    let needed: BTreeSet<&str> = binaries
        .iter()
        .flat_map(|b| b.needed.iter().map(String::as_str))
        .filter(|l| !is_loader(l))
        .collect();
    let excluded_libraries: Vec<String> = needed
        .iter()
        .filter(|l| excluded(l, exclude))
        .map(|l| l.to_string())
        .collect();
    let tag = |name: &str| format!("{name}_{arch}");
    let ucs2_or_fpe = binaries.iter().any(|b| {
        b.undefined
            .iter()
            .any(|s| s.name.contains("PyUnicodeUCS2_") || s.name == "PyFPE_jbuf")
    });

    let mut symbol_policy = None;
    let mut chosen = None;
    // Why each policy tried before the chosen one failed.
    let mut failures: Vec<Vec<String>> = Vec::new();
    let mut external_libraries = BTreeSet::new();
    for p in &policies {
        if p.name == "linux" {
            symbol_policy.get_or_insert(p);
            chosen.get_or_insert(p);
            continue;
        }
        let allowed = &p.symbol_versions[arch];
        let too_new: Vec<&String> = required
            .iter()
            .filter_map(|(prefix, versions)| Some((allowed.get(prefix)?, versions)))
            .flat_map(|(ok, versions)| {
                // The data lists `2.17` under `GLIBC`; we hold `GLIBC_2.17`.
                versions
                    .iter()
                    .filter(|v| !ok.contains(v.split_once('_').map_or(v.as_str(), |(_, n)| n)))
            })
            .collect();
        let symbols_ok = too_new.is_empty();
        if symbols_ok {
            symbol_policy.get_or_insert(p);
        }
        let external: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|l| !p.lib_whitelist.contains(*l) && !in_wheel.contains(*l))
            .filter(|l| !excluded(l, exclude))
            .collect();
        let blacklisted: Vec<String> = binaries
            .iter()
            .flat_map(|b| {
                b.needed
                    .iter()
                    .filter_map(|lib| Some((lib, p.blacklist.get(lib)?)))
                    .flat_map(|(lib, names)| {
                        b.undefined
                            .iter()
                            .filter(|s| names.contains(&s.name))
                            .map(move |s| format!("{} from {lib}", s.name))
                    })
            })
            .collect();
        external_libraries.extend(external.iter().map(|l| l.to_string()));
        if chosen.is_some() {
            continue;
        }
        if symbols_ok && external.is_empty() && blacklisted.is_empty() && !ucs2_or_fpe {
            chosen = Some(p);
            continue;
        }
        let mut why = Vec::new();
        if let Some(v) = too_new.iter().max_by(|a, b| version_cmp(a, b)) {
            why.push(format!("{v} is newer than {} allows", tag(&p.name)));
        }
        if !external.is_empty() {
            why.push(format!(
                "{} is not on {}'s whitelist nor excluded",
                external.join(", "),
                tag(&p.name)
            ));
        }
        if !blacklisted.is_empty() {
            why.push(format!("uses {}", blacklisted.join(", ")));
        }
        if ucs2_or_fpe {
            why.push("uses PyUnicodeUCS2_* or PyFPE_jbuf".into());
        }
        failures.push(why);
    }
    // A library no policy whitelists is external for every one of them.
    let last = policies.iter().rev().find(|p| p.name != "linux");
    external_libraries.retain(|l| last.is_none_or(|p| !p.lib_whitelist.contains(l)));
    // The reasons of the policy just better than the chosen one.
    let reasons = failures.pop().unwrap_or_default();
    let chosen = chosen.expect("the linux policy always matches");
    Ok(PolicyReport {
        platform_tag: tag(&chosen.name),
        aliases: chosen.aliases.iter().map(|a| tag(a)).collect(),
        symbol_policy: tag(&symbol_policy.expect("linux matches").name),
        external_libraries: external_libraries.into_iter().collect(),
        excluded_libraries,
        reasons,
    })
}

/// Compare `GLIBC_2.17` with `GLIBC_2.9`, `GLIBCXX_3.4.30` with
/// `GLIBCXX_3.4.9`: the prefix, then the numbers numerically.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(v: &str) -> (&str, Vec<u64>) {
        let (prefix, nums) = v.split_once('_').unwrap_or((v, ""));
        (
            prefix,
            nums.split('.').map(|n| n.parse().unwrap_or(0)).collect(),
        )
    }
    split(a).cmp(&split(b))
}

/// The highest version of each family the binaries need: `GLIBC` →
/// `GLIBC_2.34`, `GLIBCXX` → `GLIBCXX_3.4.30`, also `CXXABI`, `GCC`.
pub(crate) fn highest_versions(binaries: &[&ElfInfo]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for b in binaries {
        for (lib, version) in &b.version_needs {
            let Some((prefix, _)) = version.split_once('_') else {
                continue;
            };
            if is_loader(lib) || !matches!(prefix, "GLIBC" | "GLIBCXX" | "CXXABI" | "GCC") {
                continue;
            }
            let slot = out
                .entry(prefix.to_string())
                .or_insert_with(|| version.clone());
            if version_cmp(version, slot).is_gt() {
                *slot = version.clone();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(needed: &[&str], versions: &[(&str, &str)]) -> ElfInfo {
        ElfInfo {
            machine: object::elf::EM_X86_64.0,
            is_64: true,
            needed: needed.iter().map(|s| s.to_string()).collect(),
            version_needs: versions
                .iter()
                .map(|(l, v)| (l.to_string(), v.to_string()))
                .collect(),
            ..ElfInfo::default()
        }
    }

    fn excludes() -> Vec<String> {
        DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn glibc_versions_pick_the_policy() {
        let old = elf(&["libc.so.6"], &[("libc.so.6", "GLIBC_2.2.5")]);
        let r = wheel_policy(&[&old], &BTreeSet::new(), &excludes()).unwrap();
        assert_eq!(r.platform_tag, "manylinux_2_5_x86_64");
        assert_eq!(r.aliases, ["manylinux1_x86_64"]);
        let new = elf(
            &["libc.so.6", "libstdc++.so.6"],
            &[
                ("libc.so.6", "GLIBC_2.34"),
                ("libstdc++.so.6", "GLIBCXX_3.4.29"),
            ],
        );
        let r = wheel_policy(&[&new], &BTreeSet::new(), &excludes()).unwrap();
        assert_eq!(r.platform_tag, "manylinux_2_34_x86_64");
        assert_eq!(
            highest_versions(&[&new, &old])["GLIBC"],
            "GLIBC_2.34".to_string()
        );
    }

    #[test]
    fn excluded_libraries_are_external_and_others_make_it_linux() {
        let ext = elf(
            &[
                "libc10.so",
                "libtorch_cpu.so",
                "libcudart.so.13",
                "libc.so.6",
            ],
            &[("libc.so.6", "GLIBC_2.17")],
        );
        let r = wheel_policy(&[&ext], &BTreeSet::new(), &excludes()).unwrap();
        assert_eq!(r.platform_tag, "manylinux_2_17_x86_64", "{r:?}");
        assert_eq!(r.excluded_libraries.len(), 3);
        let r = wheel_policy(&[&ext], &BTreeSet::new(), &[]).unwrap();
        assert_eq!(r.platform_tag, "linux_x86_64");
        assert!(r.external_libraries.contains(&"libc10.so".to_string()));
        // A library shipped inside the wheel is not external.
        let inside = elf(&["libfoo.so.1", "libc.so.6"], &[]);
        let in_wheel = BTreeSet::from(["libfoo.so.1".to_string()]);
        let r = wheel_policy(&[&inside], &in_wheel, &[]).unwrap();
        assert_eq!(r.platform_tag, "manylinux_2_5_x86_64");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_cmp("GLIBCXX_3.4.30", "GLIBCXX_3.4.9").is_gt());
        assert!(version_cmp("GLIBC_2.17", "GLIBC_2.9").is_gt());
    }
}
