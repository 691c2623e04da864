//! What one nvcc command line compiles: its device targets and its
//! `--threads`, read from the flags as nvcc reads them.
//!
//! Targets, each a (virtual arch, code) pair written the way the plan and
//! `wheel check` write gencodes, `arch=compute_90,code=sm_90`:
//! - `-gencode X`, `-gencode=X`, `--generate-code X|=X` with
//!   `X = arch=compute_A,code=C` where C is one code, or a list in `[...]` or
//!   quotes (`code=[sm_90,compute_90]`): one target per code;
//! - `-arch sm_A` (`--gpu-architecture`, `-arch=`) with no `-code`: nvcc's
//!   shorthand for `arch=compute_A,code=[sm_A,compute_A]`; `-arch compute_A`
//!   alone: `code=compute_A`; `-arch` with `-code C,...`: one target per code;
//! - `-arch native|all|all-major` and codes it cannot read: kept as unknown,
//!   never guessed.
//!
//! Threads: `--threads N`, `-t N`, `--threads=N`, `-t=N`; nvcc takes the last
//! one ("incompatible redefinition for option 'threads', the last value of
//! this option was used"), so does this reader. `NVCC_PREPEND_FLAGS` and
//! `NVCC_APPEND_FLAGS` are read by nvcc itself around the command's own
//! flags: [`NvccTargets::with_env`] puts them there.

/// The device targets and threads of one nvcc command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NvccTargets {
    /// `arch=compute_90,code=sm_90`, in order of first appearance, once each.
    pub gencodes: Vec<String>,
    /// `--threads`, the last given.
    pub threads: Option<u32>,
    /// Arch flags that name no fixed target (`-arch=native`), verbatim.
    pub unknown: Vec<String>,
}

impl NvccTargets {
    /// Read `flags` (the arguments after `nvcc`).
    pub fn parse<S: AsRef<str>>(flags: &[S]) -> Self {
        let flags: Vec<&str> = flags.iter().map(AsRef::as_ref).collect();
        let mut out = NvccTargets::default();
        let mut arch: Option<String> = None;
        let mut codes: Option<String> = None;
        let mut i = 0;
        while i < flags.len() {
            let (name, inline) = match flags[i].split_once('=') {
                Some((n, v)) if n.starts_with('-') => (n, Some(v)),
                _ => (flags[i], None),
            };
            let takes_value = matches!(
                name,
                "-gencode"
                    | "--generate-code"
                    | "-arch"
                    | "--gpu-architecture"
                    | "-code"
                    | "--gpu-code"
                    | "--threads"
                    | "-t"
            );
            if !takes_value {
                i += 1;
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    match flags.get(i) {
                        Some(v) => v,
                        None => break,
                    }
                }
            };
            match name {
                "-gencode" | "--generate-code" => out.add_gencode(value),
                "-arch" | "--gpu-architecture" => arch = Some(value.to_string()),
                "-code" | "--gpu-code" => codes = Some(value.to_string()),
                _ => {
                    if let Ok(n) = value.trim().parse::<u32>() {
                        out.threads = Some(n);
                    }
                }
            }
            i += 1;
        }
        if let Some(a) = arch {
            out.add_arch(&a, codes.as_deref());
        }
        out
    }

    /// The flags nvcc runs with when the environment has `prepend` and
    /// `append` (`NVCC_PREPEND_FLAGS`, `NVCC_APPEND_FLAGS`, split on
    /// whitespace) around `flags`.
    pub fn with_env<S: AsRef<str>>(
        flags: &[S],
        prepend: Option<&str>,
        append: Option<&str>,
    ) -> Self {
        let mut all: Vec<&str> = prepend
            .map(|p| p.split_whitespace().collect())
            .unwrap_or_default();
        all.extend(flags.iter().map(AsRef::as_ref));
        all.extend(
            append
                .map(|a| a.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        Self::parse(&all)
    }

    /// Targets compiled: one per (virtual arch, code) pair.
    pub fn count(&self) -> u32 {
        self.gencodes.len() as u32
    }

    /// The SASS archs (`sm_90`) and PTX archs (`compute_90`) compiled.
    pub fn codes(&self) -> (Vec<String>, Vec<String>) {
        let mut sass = Vec::new();
        let mut ptx = Vec::new();
        for g in &self.gencodes {
            if let Some((_, code)) = g.split_once("code=") {
                if code.starts_with("compute_") {
                    ptx.push(code.to_string());
                } else {
                    sass.push(code.to_string());
                }
            }
        }
        (sass, ptx)
    }

    fn push(&mut self, virt: &str, code: &str) {
        let g = format!("arch={virt},code={code}");
        if !self.gencodes.contains(&g) {
            self.gencodes.push(g);
        }
    }

    /// `arch=compute_90,code=[sm_90,compute_90]` and its spellings.
    fn add_gencode(&mut self, value: &str) {
        let value = value.trim().trim_matches(['"', '\'']);
        let Some((arch_part, code_part)) = value.split_once(",code=") else {
            self.unknown.push(format!("-gencode {value}"));
            return;
        };
        let Some(virt) = arch_part.strip_prefix("arch=").filter(|v| is_target(v)) else {
            self.unknown.push(format!("-gencode {value}"));
            return;
        };
        let codes: Vec<&str> = code_part
            .trim_matches(['[', ']', '"', '\''])
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if codes.is_empty() {
            self.unknown.push(format!("-gencode {value}"));
        }
        for code in codes {
            if is_target(code) {
                self.push(virt, code);
            } else {
                self.unknown.push(format!("-gencode {value}"));
            }
        }
    }

    /// `-arch A` with `-code C,...` or alone.
    fn add_arch(&mut self, arch: &str, codes: Option<&str>) {
        let arch = arch.trim();
        if !is_target(arch) {
            self.unknown.push(format!("-arch={arch}"));
            return;
        }
        let number = arch.split_once('_').map_or(arch, |(_, n)| n);
        let virt = format!("compute_{number}");
        match codes {
            Some(list) => {
                for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if is_target(code) {
                        self.push(&virt, code);
                    } else {
                        self.unknown.push(format!("-code={code}"));
                    }
                }
            }
            None if arch.starts_with("sm_") => {
                self.push(&virt, arch);
                self.push(&virt, &virt);
            }
            None => self.push(&virt, &virt),
        }
    }
}

/// `sm_90`, `sm_90a`, `compute_100f`: a target with a number.
fn is_target(text: &str) -> bool {
    let Some((kind, number)) = text.split_once('_') else {
        return false;
    };
    let digits = number.trim_end_matches(['a', 'f']);
    matches!(kind, "sm" | "compute")
        && (2..=3).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(flags: &str) -> NvccTargets {
        NvccTargets::parse(&flags.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn reads_every_gencode_spelling() {
        let t = p(
            "-O3 -gencode arch=compute_75,code=sm_75 -gencode=arch=compute_90,code=compute_90 \
                   --generate-code=arch=compute_90a,code=[sm_90a,compute_90a] \
                   --generate-code arch=compute_80,code=\"sm_80,sm_86\"",
        );
        assert_eq!(
            t.gencodes,
            [
                "arch=compute_75,code=sm_75",
                "arch=compute_90,code=compute_90",
                "arch=compute_90a,code=sm_90a",
                "arch=compute_90a,code=compute_90a",
                "arch=compute_80,code=sm_80",
                "arch=compute_80,code=sm_86",
            ]
        );
        assert_eq!(t.count(), 6);
        let (sass, ptx) = t.codes();
        assert_eq!(sass, ["sm_75", "sm_90a", "sm_80", "sm_86"]);
        assert_eq!(ptx, ["compute_90", "compute_90a"]);
        assert!(t.unknown.is_empty());
    }

    #[test]
    fn arch_shorthands_follow_nvcc() {
        assert_eq!(
            p("-arch=sm_90").gencodes,
            [
                "arch=compute_90,code=sm_90",
                "arch=compute_90,code=compute_90"
            ]
        );
        assert_eq!(
            p("-arch compute_80").gencodes,
            ["arch=compute_80,code=compute_80"]
        );
        assert_eq!(
            p("--gpu-architecture=compute_80 -code=sm_80,sm_86").gencodes,
            ["arch=compute_80,code=sm_80", "arch=compute_80,code=sm_86"]
        );
        let native = p("-arch=native");
        assert!(native.gencodes.is_empty());
        assert_eq!(native.unknown, ["-arch=native"]);
    }

    #[test]
    fn the_last_threads_wins_as_in_nvcc() {
        assert_eq!(p("--threads 4").threads, Some(4));
        assert_eq!(p("--threads 4 -t 2").threads, Some(2));
        assert_eq!(p("--threads=8").threads, Some(8));
        assert_eq!(p("-O3").threads, None);
        // NVCC_APPEND_FLAGS comes after the command's own flags.
        let t = NvccTargets::with_env(&["--threads", "4"], None, Some("--threads 9"));
        assert_eq!(t.threads, Some(9));
        let t = NvccTargets::with_env(&["--threads", "4"], Some("--threads 9"), None);
        assert_eq!(t.threads, Some(4));
    }

    #[test]
    fn torch_flags_with_their_quoted_compiler_options() {
        // A real torch 2.11 nvcc line (causal-conv1d's fwd unit, from the probe).
        let flags = [
            "-DTORCH_EXTENSION_NAME=causal_conv1d_cuda",
            "--compiler-options",
            "'-fPIC'",
            "-gencode",
            "arch=compute_75,code=sm_75",
            "--threads",
            "4",
            "-std=c++17",
        ];
        let t = NvccTargets::parse(&flags);
        assert_eq!(t.gencodes, ["arch=compute_75,code=sm_75"]);
        assert_eq!(t.threads, Some(4));
    }

    #[test]
    fn a_malformed_gencode_is_unknown_not_guessed() {
        let t = p("-gencode arch=compute_90 -gencode arch=compute_xx,code=sm_90 -gencode");
        assert!(t.gencodes.is_empty());
        assert_eq!(t.unknown.len(), 2);
    }
}
