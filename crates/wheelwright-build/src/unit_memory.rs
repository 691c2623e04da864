//! Memory per compile unit: at each memory sample, the build tree's
//! processes are grouped under the compile they belong to (nvcc, or a host
//! compiler run with `-c` on a source file) and each group's summed RSS is
//! that unit's memory at that moment; the highest is its peak.
//!
//! A group is a compile process and every descendant up to the next one: nvcc's
//! `cicc`, `ptxas`, `cudafe++`, `fatbinary` and the host `gcc` it runs on
//! its temporary files count towards the `.cu` nvcc was given, not as units
//! of their own. The unit is named by the source argument as the build wrote
//! it (torch passes absolute paths); a plan matches it to its units by path
//! suffix. What runs beside the compiles (pip, setup.py, ninja, a linker)
//! belongs to no unit.
//!
//! These peaks feed the next plan of the same source on this host
//! (`plan --calibrate`, wheelwright-plan's `HostCosts`).

use std::collections::BTreeMap;
use std::path::Path;

use wheelwright_detect::host::proc_field_bytes;

/// Source file suffixes of a compile.
const SOURCE_SUFFIXES: &[&str] = &[".cu", ".cpp", ".cc", ".cxx", ".c", ".C"];

/// Compilers whose `-c` run on a source is a unit (nvcc always is).
const HOST_COMPILERS: &[&str] = &[
    "c++",
    "g++",
    "gcc",
    "cc",
    "clang",
    "clang++",
    "x86_64-linux-gnu-g++",
    "x86_64-linux-gnu-gcc",
];

/// One process of the build tree at one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeProcess {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its command line.
    pub argv: Vec<String>,
    /// Its resident memory.
    pub rss_bytes: u64,
}

/// The source a compile process compiles, or `None` when it is not a unit's
/// compile: nvcc with a source argument, or a host compiler run with `-c`
/// on one (a `g++ -shared` link or `gcc -E` is not).
pub(crate) fn compiled_source(argv: &[String]) -> Option<String> {
    let program = Path::new(argv.first()?).file_name()?.to_string_lossy();
    let is_nvcc = program == "nvcc";
    let is_host = HOST_COMPILERS.iter().any(|c| {
        program == *c
            || program.strip_prefix(c).is_some_and(|rest| {
                rest.starts_with('-') && rest[1..].bytes().all(|b| b.is_ascii_digit())
            })
    });
    if !(is_nvcc || (is_host && argv.iter().any(|a| a == "-c"))) {
        return None;
    }
    let mut skip_next = false;
    for a in &argv[1..] {
        if skip_next {
            skip_next = false;
            continue;
        }
        if a == "-o" {
            skip_next = true;
            continue;
        }
        if !a.starts_with('-') && SOURCE_SUFFIXES.iter().any(|s| a.ends_with(s)) {
            return Some(a.clone());
        }
    }
    None
}

/// Each unit's summed RSS in one sample of the tree, by its source.
pub(crate) fn unit_rss(procs: &[TreeProcess]) -> BTreeMap<String, u64> {
    let by_pid: BTreeMap<u32, &TreeProcess> = procs.iter().map(|p| (p.pid, p)).collect();
    // The outermost compile above (or at) a process: nvcc over its gcc.
    let owner = |p: &TreeProcess| -> Option<String> {
        let mut found = None;
        let mut cur = Some(p);
        let mut steps = 0;
        while let Some(c) = cur {
            if let Some(src) = compiled_source(&c.argv) {
                found = Some(src);
            }
            steps += 1;
            if steps > 64 || c.ppid == c.pid {
                break;
            }
            cur = by_pid.get(&c.ppid).copied();
        }
        found
    };
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for p in procs {
        if let Some(src) = owner(p) {
            *out.entry(src).or_default() += p.rss_bytes;
        }
    }
    out
}

/// Raise each unit's peak in `peaks` to its RSS in `sample`.
pub(crate) fn raise_peaks(peaks: &mut BTreeMap<String, u64>, sample: &BTreeMap<String, u64>) {
    for (src, rss) in sample {
        let slot = peaks.entry(src.clone()).or_default();
        *slot = (*slot).max(*rss);
    }
}

/// The build tree's processes now: pid, parent, command line and RSS of
/// each of `pids` (those that vanished while read are left out).
pub(crate) fn read_tree(pids: impl IntoIterator<Item = u32>) -> Vec<TreeProcess> {
    pids.into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let stat = wheelwright_process::tree::parse_stat(&stat)?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let argv = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some(TreeProcess {
                pid,
                ppid: stat.ppid,
                argv,
                rss_bytes: rss_bytes(pid),
            })
        })
        .collect()
}

/// `VmRSS` of one process in bytes (0 for kernel threads and vanished processes).
fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| proc_field_bytes(&status, "VmRSS"))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, argv: &str, mib: u64) -> TreeProcess {
        TreeProcess {
            pid,
            ppid,
            argv: argv.split(' ').map(str::to_string).collect(),
            rss_bytes: mib << 20,
        }
    }

    /// A ninja build of two units as torch runs it: ninja → sh → nvcc →
    /// cicc/ptxas/gcc, and a g++ -c; pip, python and ninja belong to none,
    /// nor does the link.
    #[test]
    fn groups_nvccs_children_under_its_source() {
        let tree = [
            p(10, 1, "python -m pip wheel .", 80),
            p(11, 10, "python setup.py bdist_wheel", 300),
            p(12, 11, "ninja -v -j 2", 5),
            p(13, 12, "/bin/sh -c nvcc ...", 1),
            p(14, 13, "/usr/local/cuda/bin/nvcc -I/x --generate-dependencies-with-compile -c -o /w/build/temp/csrc/a.o /w/csrc/a.cu -gencode arch=compute_90,code=sm_90", 10),
            p(15, 14, "gcc -E -x c++ /w/csrc/a.cu -o /tmp/tmpxft_a.cpp4.ii", 60),
            p(16, 14, "/usr/local/cuda/nvvm/bin/cicc --c++17 /tmp/tmpxft_a.cpp1.ii -o /tmp/tmpxft_a.ptx", 900),
            p(17, 12, "/bin/sh -c c++ ...", 1),
            p(18, 17, "c++ -MMD -MF /w/build/temp/csrc/b.o.d -c /w/csrc/b.cpp -o /w/build/temp/csrc/b.o -O3", 20),
            p(19, 18, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus -quiet /w/csrc/b.cpp -o /tmp/cc.s", 700),
            p(20, 11, "g++ -shared /w/build/temp/csrc/a.o -o x.so", 50),
        ];
        let got = unit_rss(&tree);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["/w/csrc/a.cu"], (10 + 60 + 900) << 20);
        assert_eq!(got["/w/csrc/b.cpp"], (20 + 700) << 20);
        let mut peaks = BTreeMap::new();
        raise_peaks(&mut peaks, &got);
        raise_peaks(
            &mut peaks,
            &BTreeMap::from([("/w/csrc/a.cu".to_string(), 5)]),
        );
        assert_eq!(peaks["/w/csrc/a.cu"], (10 + 60 + 900) << 20);
    }

    #[test]
    fn compiles_are_told_from_other_commands() {
        let argv = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            compiled_source(&argv("g++-12 -c x.cpp -o x.o")).as_deref(),
            Some("x.cpp")
        );
        assert_eq!(compiled_source(&argv("g++ -shared a.o -o x.so")), None);
        assert_eq!(compiled_source(&argv("gcc -E a.cu -o a.ii")), None);
        assert_eq!(compiled_source(&argv("python setup.py build_ext")), None);
        assert_eq!(
            compiled_source(&argv("nvcc -o a.o -c a.cu")).as_deref(),
            Some("a.cu")
        );
    }

    /// A real compile: g++ compiling a file for long enough to be sampled
    /// is found in this process's real tree, with its cc1plus's memory.
    #[test]
    fn a_real_compile_is_sampled_under_its_source() {
        let Some(gxx) = crate::test_support::real_tool("g++") else {
            crate::test_support::prerequisite_missing("g++");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("heavy.cpp");
        // Deep template instantiation: a second or more of cc1plus.
        std::fs::write(
            &src,
            "template <int N> struct F { static constexpr long v = F<N - 1>::v + F<N - 2>::v % 7; };\n\
             template <> struct F<0> { static constexpr long v = 1; };\n\
             template <> struct F<1> { static constexpr long v = 1; };\n\
             #include <map>\n#include <string>\n#include <vector>\n#include <regex>\n\
             int main() { std::regex r(\"a+\"); std::map<std::string, std::vector<int>> m; return (int)F<900>::v + (int)m.size(); }\n",
        )
        .unwrap();
        let mut child = std::process::Command::new(&gxx)
            .args(["-O2", "-ftemplate-depth=2000", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(dir.path().join("heavy.o"))
            .spawn()
            .unwrap();
        let me = std::process::id();
        let mut peaks = BTreeMap::new();
        while child.try_wait().unwrap().is_none() {
            let procs = wheelwright_process::tree::list_processes();
            let mut pids = wheelwright_process::tree::descendants(me, &procs);
            pids.insert(me);
            raise_peaks(&mut peaks, &unit_rss(&read_tree(pids)));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(child.wait().unwrap().success());
        let key = src.to_string_lossy().into_owned();
        let peak = peaks.get(&key).copied().unwrap_or(0);
        eprintln!("g++ -c heavy.cpp: peak {} MiB over its tree", peak >> 20);
        assert!(peak > 20 << 20, "{peaks:?}");
        assert_eq!(peaks.len(), 1, "{peaks:?}");
    }
}
